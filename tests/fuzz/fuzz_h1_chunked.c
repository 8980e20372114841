/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the chunked decoder: the input is decoded whole, in two pieces split at a
 * position taken from the first two bytes, and byte by byte (small inputs); the verdict, the
 * consumed count, the payload and the trailer bytes must agree, and every slice handed out must
 * lie inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ig/http.h"

#define CHECK(x)                                                                                                       \
    do {                                                                                                               \
        if (!(x))                                                                                                      \
            __builtin_trap();                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
    char *out;
    size_t len, cap;
    char *tr; /* trailer field lines, joined */
    size_t tlen;
    const char *lo, *hi; /* the piece being decoded */
};

static void on_data(void *arg, const char *d, size_t n)
{
    struct sink *s = arg;
    CHECK(n > 0 && d >= s->lo && d + n <= s->hi);
    CHECK(s->len + n <= s->cap);
    memcpy(s->out + s->len, d, n);
    s->len += n;
}

static void on_trailer(void *arg, const char *d, size_t n)
{
    struct sink *s = arg;
    CHECK(n > 0 && d >= s->lo && d + n <= s->hi);
    CHECK(s->tlen + n <= s->cap);
    memcpy(s->tr + s->tlen, d, n);
    s->tlen += n;
}

/* Decodes |in| in pieces of |first| bytes then |step| bytes (0: the rest). */
static int decode(const char *in, size_t len, size_t first, size_t step, struct sink *s, size_t *consumed)
{
    ig_h1_chunked_t d;
    size_t off = 0;
    int rc = 0;

    ig_h1_chunked_init(&d);
    s->len = 0;
    s->tlen = 0;
    while (off < len) {
        size_t n = off == 0 && first != 0 ? first : (step != 0 ? step : len - off);
        if (n > len - off)
            n = len - off;
        char *piece = malloc(n);
        memcpy(piece, in + off, n);
        size_t used = n;
        s->lo = piece;
        s->hi = piece + n;
        rc = ig_h1_chunked_decode_trailers(&d, piece, &used, on_data, on_trailer, s);
        free(piece);
        CHECK(used <= n);
        off += used;
        if (rc != 0)
            break;
        CHECK(used == n);
    }
    CHECK(rc == 0 || rc == 1 || rc == IG_EPROTO || rc == IG_ETOOBIG);
    *consumed = off;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t split = ((size_t)data[0] << 8 | data[1]);
    const char *in = (const char *)data + 2;
    size_t len = size - 2;
    struct sink a = {malloc(len + 1), 0, len, malloc(len + 1), 0, NULL, NULL};
    struct sink b = {malloc(len + 1), 0, len, malloc(len + 1), 0, NULL, NULL};
    size_t ca, cb;

    int ra = decode(in, len, 0, 0, &a, &ca);
    if (len > 0) {
        int rb = decode(in, len, 1 + split % len, 0, &b, &cb);
        CHECK(ra == rb && ca == cb && a.len == b.len && memcmp(a.out, b.out, a.len) == 0);
        /* Trailer bytes count only once the body completed: before an error they depend on the split. */
        CHECK(ra != 1 || (a.tlen == b.tlen && memcmp(a.tr, b.tr, a.tlen) == 0));
    }
    if (len <= 4096) {
        int rb = decode(in, len, 0, 1, &b, &cb);
        CHECK(ra == rb && ca == cb && a.len == b.len && memcmp(a.out, b.out, a.len) == 0);
        /* Trailer bytes count only once the body completed: before an error they depend on the split. */
        CHECK(ra != 1 || (a.tlen == b.tlen && memcmp(a.tr, b.tr, a.tlen) == 0));
    }
    free(a.out);
    free(b.out);
    free(a.tr);
    free(b.tr);
    return 0;
}
