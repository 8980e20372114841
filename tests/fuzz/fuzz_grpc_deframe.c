/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the gRPC deframer. The first byte picks the max message size and a chunk
 * step; the rest is deframed whole and in pieces of that step. The verdict and the sequence of
 * messages must agree, every message must respect the limit, and a clean end must fall on a
 * message boundary. The header-value helpers (grpc-message, grpc-timeout, grpc-status) also run
 * on the input: percent-encoding must round-trip and format/parse must agree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ig/grpc.h"

#define CHECK(x)                                                                                                       \
    do {                                                                                                               \
        if (!(x))                                                                                                      \
            __builtin_trap();                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
    size_t max;
    size_t count;
    uint64_t hash; /* FNV-1a over lengths and bytes of every message, in order */
};

static int on_msg(void *arg, ig_iov_t msg)
{
    struct sink *s = arg;
    CHECK(msg.len <= s->max);
    CHECK(msg.len == 0 || msg.base != NULL);
    s->count++;
    s->hash = (s->hash ^ msg.len) * 1099511628211ull;
    for (size_t i = 0; i < msg.len; i++)
        s->hash = (s->hash ^ (uint8_t)msg.base[i]) * 1099511628211ull;
    return 0;
}

static int deframe(const uint8_t *in, size_t len, size_t max, size_t step, struct sink *s, int *finish)
{
    ig_grpc_deframer_t d;
    int rc = 0;
    ig_grpc_deframer_init(&d, max);
    memset(s, 0, sizeof(*s));
    s->max = d.max_message;
    s->hash = 14695981039346656037ull;
    for (size_t off = 0; off < len && rc == 0;) {
        size_t n = step != 0 && step < len - off ? step : len - off;
        /* A private copy per piece, so ASan catches reads past it. */
        uint8_t *piece = malloc(n);
        memcpy(piece, in + off, n);
        rc = ig_grpc_deframer_feed(&d, piece, n, on_msg, s);
        free(piece);
        off += n;
    }
    *finish = ig_grpc_deframer_finish(&d);
    CHECK(rc == 0 || *finish == rc); /* errors are sticky */
    ig_grpc_deframer_dispose(&d);
    return rc;
}

static void header_values(const uint8_t *data, size_t size)
{
    ig_pool_t pool;
    ig_pool_init(&pool);
    ig_iov_t in = ig_iov(data, size);
    ig_iov_t e = ig_grpc_message_encode(&pool, in);
    for (size_t i = 0; i < e.len; i++)
        CHECK(e.base[i] >= 0x20 && e.base[i] <= 0x7e);
    ig_iov_t d = ig_grpc_message_decode(&pool, e);
    CHECK(d.len == size && (size == 0 || memcmp(d.base, data, size) == 0));
    (void)ig_grpc_message_decode(&pool, in);

    uint64_t ns;
    char buf[IG_GRPC_TIMEOUT_MAX];
    if (ig_grpc_timeout_parse(in, &ns) == 0) {
        size_t n = ig_grpc_timeout_format(buf, ns);
        uint64_t back;
        CHECK(ig_grpc_timeout_parse(ig_iov(buf, n), &back) == 0 && back >= ns);
    }
    int code;
    if (ig_grpc_status_parse(in, &code) == 0)
        CHECK(code >= 0 && ig_grpc_status_name(code) != NULL);
    (void)ig_grpc_is_content_type(in);
    ig_pool_dispose(&pool);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* Limits from 1 byte to 64 KiB, so both the limit and ordinary messages get exercised. */
    size_t max = (size_t)1 << (data[0] & 0x0f);
    size_t step = (size_t)(data[0] >> 4) + 1;
    const uint8_t *in = data + 1;
    size_t len = size - 1;

    struct sink whole, pieces, bytes;
    int fw, fp, fb;
    int rw = deframe(in, len, max, 0, &whole, &fw);
    int rp = deframe(in, len, max, step, &pieces, &fp);
    CHECK(rw == rp && fw == fp);
    CHECK(whole.count == pieces.count && whole.hash == pieces.hash);
    if (len <= 512) {
        int rb = deframe(in, len, max, 1, &bytes, &fb);
        CHECK(rw == rb && fw == fb && whole.count == bytes.count && whole.hash == bytes.hash);
    }
    CHECK(rw == 0 || rw == IG_ETOOBIG || rw == IG_EUNSUPPORTED || rw == IG_EPROTO);

    header_values(in, len);
    return 0;
}
