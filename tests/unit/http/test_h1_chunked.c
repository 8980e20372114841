/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the chunked decoder and chunk header writer (src/http/h1_chunked.c): valid bodies
 * decoded whole, split in two at every byte position and fed byte by byte (same payload, same
 * consumed count); invalid sizes and framing; extensions and trailers with their bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ig/http.h"

struct sink {
    char data[4096];
    size_t len;
    size_t calls;
};

static void on_data(void *arg, const char *data, size_t len)
{
    struct sink *s = arg;
    assert_true(len > 0);
    assert_true(s->len + len <= sizeof(s->data));
    memcpy(s->data + s->len, data, len);
    s->len += len;
    s->calls++;
}

/*
 * Feeds |in| in pieces: the first |split| bytes, then the rest |step| bytes at a time (0: all).
 * Returns the final verdict; *consumed totals the bytes consumed.
 */
static int feed(const char *in, size_t len, size_t split, size_t step, struct sink *s, size_t *consumed)
{
    ig_h1_chunked_t d;
    size_t off = 0;
    int rc = 0;

    ig_h1_chunked_init(&d);
    memset(s, 0, sizeof(*s));
    *consumed = 0;
    while (off < len) {
        size_t n = off == 0 && split != 0 ? split : (step != 0 ? step : len - off);
        if (n > len - off)
            n = len - off;
        /* exact-size heap copy: ASan reports any read past the piece */
        char *piece = malloc(n);
        memcpy(piece, in + off, n);
        size_t used = n;
        rc = ig_h1_chunked_decode(&d, piece, &used, on_data, s);
        free(piece);
        assert_true(used <= n);
        *consumed += used;
        off += used;
        if (rc != 0)
            return rc;
        assert_int_equal(used, n); /* "need more" consumes everything it was given */
    }
    return rc;
}

struct chunk_case {
    const char *name;
    const char *in;
    int rc;              /* 1 complete, 0 needs more, or IG_E* */
    const char *payload; /* expected for rc 1 */
    size_t tail;         /* bytes after the body left unconsumed */
    size_t len;          /* 0: strlen(in); set for inputs with a NUL byte */
};

static const struct chunk_case cases[] = {
    {"one-chunk", "5\r\nhello\r\n0\r\n\r\n", 1, "hello", 0, 0},
    {"two-chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 1, "hello world", 0, 0},
    {"empty-body", "0\r\n\r\n", 1, "", 0, 0},
    {"hex-upper-lower", "A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n", 1, "0123456789abcdefghijk", 0, 0},
    {"leading-zeros", "0005\r\nhello\r\n000\r\n\r\n", 1, "hello", 0, 0},
    {"sixteen-digits", "0000000000000005\r\nhello\r\n0\r\n\r\n", 1, "hello", 0, 0},
    {"extension", "5;name=value\r\nhello\r\n0;last\r\n\r\n", 1, "hello", 0, 0},
    {"extension-bws", "5 ;a=\"b c\"\r\nhello\r\n0\t;x\r\n\r\n", 1, "hello", 0, 0},
    {"pipelined-after", "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n", 1, "hello", 16, 0},
    {"trailers", "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Empty:\r\n\r\n", 1, "hello", 0, 0},
    {"trailer-then-next", "1\r\na\r\n0\r\nT: v\r\n\r\nPOST", 1, "a", 4, 0},
    {"crlf-in-data", "4\r\n\r\n\r\n\r\n0\r\n\r\n", 1, "\r\n\r\n", 0, 0},
    {"incomplete-size", "5", 0, NULL, 0, 0},
    {"incomplete-data", "5\r\nhel", 0, NULL, 0, 0},
    {"incomplete-last", "5\r\nhello\r\n0\r\n", 0, NULL, 0, 0},
    {"incomplete-final-cr", "0\r\n\r", 0, NULL, 0, 0},
    {"size-empty", "\r\nhello\r\n0\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"size-plus", "+5\r\nhello\r\n0\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"size-minus", "-5\r\nhello\r\n0\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"size-0x", "0x5\r\nhello\r\n0\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"size-non-hex", "g\r\n", IG_EPROTO, NULL, 0, 0},
    {"size-leading-space", " 5\r\nhello\r\n0\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"size-trailing-space", "5 \r\nhello\r\n0\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"size-17-digits", "00000000000000005\r\nhello\r\n0\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"size-overflow", "10000000000000000\r\n", IG_EPROTO, NULL, 0, 0},
    {"size-bare-lf", "5\nhello\r\n0\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"size-bare-cr", "5\rhello\r\n0\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"ext-nul", "5;a\0b\r\nhello\r\n0\r\n\r\n", IG_EPROTO, NULL, 0, 19},
    {"size-nul", "5\0\r\nhello\r\n0\r\n\r\n", IG_EPROTO, NULL, 0, 16},
    {"ext-ctl", "5;a\x01\r\nhello\r\n0\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"data-too-long", "5\r\nhello!\r\n0\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"data-missing-crlf", "5\r\nhello0\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"data-bare-lf", "5\r\nhello\n0\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"data-cr-only", "5\r\nhello\r0\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"last-bare-lf", "0\r\n\n", IG_EPROTO, NULL, 0, 0},
    {"final-cr-x", "0\r\n\rx", IG_EPROTO, NULL, 0, 0},
    {"trailer-obs-fold", "0\r\nA: b\r\n c\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"trailer-space-before-colon", "0\r\nA : b\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"trailer-empty-name", "0\r\n: b\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"trailer-no-colon", "0\r\nAb\r\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"trailer-bare-lf", "0\r\nA: b\n\r\n", IG_EPROTO, NULL, 0, 0},
    {"trailer-ctl", "0\r\nA: b\x01\r\n\r\n", IG_EPROTO, NULL, 0, 0},
};

static void test_table(void **state)
{
    (void)state;
    struct sink whole, part;

    for (size_t i = 0; i < IG_ARRAY_LEN(cases); i++) {
        const struct chunk_case *c = &cases[i];
        size_t len = c->len != 0 ? c->len : strlen(c->in), used, pused;

        int rc = feed(c->in, len, 0, 0, &whole, &used);
        if (rc != c->rc)
            fail_msg("%s: rc %d, want %d", c->name, rc, c->rc);
        if (rc == 1) {
            assert_int_equal(used, len - c->tail);
            assert_int_equal(whole.len, strlen(c->payload));
            assert_memory_equal(whole.data, c->payload, whole.len);
        } else if (rc == 0) {
            assert_int_equal(used, len);
        }

        /* two pieces split at every position, then byte by byte: the same verdict and payload */
        for (size_t split = 1; split <= len; split++) {
            for (int bytewise = 0; bytewise < 2; bytewise++) {
                int prc = feed(c->in, len, split, bytewise ? 1 : 0, &part, &pused);
                if (prc != rc)
                    fail_msg("%s: split %zu bytewise %d: rc %d, want %d", c->name, split, bytewise, prc, rc);
                assert_int_equal(pused, used);
                assert_int_equal(part.len, whole.len);
                assert_memory_equal(part.data, whole.data, whole.len);
            }
        }
    }
}

static void nop_data(void *arg, const char *data, size_t len)
{
    (void)data;
    *(uint64_t *)arg += len;
}

static void test_max_size_and_sticky_errors(void **state)
{
    (void)state;
    ig_h1_chunked_t d;
    uint64_t got = 0;
    char buf[64];

    /* 16 f's is the largest size; the decoder then wants that many bytes */
    ig_h1_chunked_init(&d);
    const char *big = "ffffffffffffffff\r\nabc";
    size_t n = strlen(big);
    assert_int_equal(ig_h1_chunked_decode(&d, big, &n, nop_data, &got), 0);
    assert_int_equal(n, strlen(big));
    assert_int_equal(got, 3);

    /* an error is sticky: later input does not resynchronise */
    ig_h1_chunked_init(&d);
    n = 3;
    assert_int_equal(ig_h1_chunked_decode(&d, "x\r\n", &n, NULL, NULL), IG_EPROTO);
    assert_int_equal(n, 0);
    n = 5;
    memcpy(buf, "0\r\n\r\n", 5);
    assert_int_equal(ig_h1_chunked_decode(&d, buf, &n, NULL, NULL), IG_EPROTO);

    /* after the end, nothing more is consumed */
    ig_h1_chunked_init(&d);
    n = 5;
    assert_int_equal(ig_h1_chunked_decode(&d, "0\r\n\r\n", &n, NULL, NULL), 1);
    n = 3;
    assert_int_equal(ig_h1_chunked_decode(&d, "abc", &n, NULL, NULL), 1);
    assert_int_equal(n, 0);
    n = 0;
    assert_int_equal(ig_h1_chunked_decode(&d, "", &n, NULL, NULL), 1);
}

static void test_size_line_limit(void **state)
{
    (void)state;
    static char in[8192];
    ig_h1_chunked_t d;
    size_t n;

    /* a 4096-byte size line passes */
    in[0] = '5';
    in[1] = ';';
    memset(in + 2, 'e', 4094);
    memcpy(in + 4096, "\r\nhello\r\n0\r\n\r\n", 14);
    ig_h1_chunked_init(&d);
    n = 4096 + 14;
    assert_int_equal(ig_h1_chunked_decode(&d, in, &n, NULL, NULL), 1);
    assert_int_equal(n, 4096 + 14);

    /* 4097 bytes do not */
    memset(in + 2, 'e', 4095);
    memcpy(in + 4097, "\r\nhello\r\n0\r\n\r\n", 14);
    ig_h1_chunked_init(&d);
    n = 4097 + 14;
    assert_int_equal(ig_h1_chunked_decode(&d, in, &n, NULL, NULL), IG_ETOOBIG);

    /* an extension that never ends fails once past the bound, while incomplete */
    memset(in + 2, 'e', sizeof(in) - 2);
    ig_h1_chunked_init(&d);
    n = 4000;
    assert_int_equal(ig_h1_chunked_decode(&d, in, &n, NULL, NULL), 0);
    n = sizeof(in) - 4000;
    assert_int_equal(ig_h1_chunked_decode(&d, in + 4000, &n, NULL, NULL), IG_ETOOBIG);
    n = 1;
    assert_int_equal(ig_h1_chunked_decode(&d, in, &n, NULL, NULL), IG_ETOOBIG);
}

static void test_trailer_limit(void **state)
{
    (void)state;
    static char in[80 * 1024];
    ig_h1_chunked_t d;
    size_t n = 0;

    n += (size_t)snprintf(in, sizeof(in), "0\r\n");
    while (n + 100 < 64 * 1024)
        n += (size_t)snprintf(in + n, sizeof(in) - n, "X-T: %090d\r\n", 0);
    memcpy(in + n, "\r\n", 2);
    ig_h1_chunked_init(&d);
    size_t used = n + 2;
    assert_int_equal(ig_h1_chunked_decode(&d, in, &used, NULL, NULL), 1);
    assert_int_equal(used, n + 2);

    /* more trailers than 64 KiB, never finished */
    while (n + 100 < sizeof(in))
        n += (size_t)snprintf(in + n, sizeof(in) - n, "X-T: %090d\r\n", 0);
    ig_h1_chunked_init(&d);
    used = n;
    assert_int_equal(ig_h1_chunked_decode(&d, in, &used, NULL, NULL), IG_ETOOBIG);
    assert_true(used <= 64 * 1024 + 3);
}

static void test_chunk_header(void **state)
{
    (void)state;
    char out[20];
    struct {
        size_t len;
        const char *want;
    } v[] = {
        {0, "0\r\n"},
        {1, "1\r\n"},
        {15, "f\r\n"},
        {16, "10\r\n"},
        {255, "ff\r\n"},
        {4096, "1000\r\n"},
        {SIZE_MAX, "ffffffffffffffff\r\n"},
    };
    for (size_t i = 0; i < IG_ARRAY_LEN(v); i++) {
        size_t n = ig_h1_chunk_header(out, v[i].len);
        assert_int_equal(n, strlen(v[i].want));
        assert_memory_equal(out, v[i].want, n);
    }

    /* round trip: encode a body in chunks of every size 1..40, decode it back */
    const char *body = "The quick brown fox jumps over the lazy dog";
    for (size_t cs = 1; cs <= 40; cs++) {
        char enc[1024];
        size_t e = 0;
        for (size_t off = 0; off < strlen(body); off += cs) {
            size_t k = IG_MIN(cs, strlen(body) - off);
            e += ig_h1_chunk_header(enc + e, k);
            memcpy(enc + e, body + off, k);
            e += k;
            memcpy(enc + e, "\r\n", 2);
            e += 2;
        }
        memcpy(enc + e, "0\r\n\r\n", 5);
        e += 5;
        struct sink s;
        size_t used;
        assert_int_equal(feed(enc, e, 0, 0, &s, &used), 1);
        assert_int_equal(used, e);
        assert_int_equal(s.len, strlen(body));
        assert_memory_equal(s.data, body, s.len);
    }
}

static void test_large_data_single_slice(void **state)
{
    (void)state;
    static char in[70000];
    ig_h1_chunked_t d;
    struct {
        uint64_t bytes;
    } acc = {0};

    size_t n = (size_t)snprintf(in, sizeof(in), "%x\r\n", 65536);
    memset(in + n, 'z', 65536);
    n += 65536;
    memcpy(in + n, "\r\n0\r\n\r\n", 7);
    n += 7;
    ig_h1_chunked_init(&d);
    size_t used = n;
    assert_int_equal(ig_h1_chunked_decode(&d, in, &used, nop_data, &acc.bytes), 1);
    assert_int_equal(used, n);
    assert_int_equal(acc.bytes, 65536);

    /* one slice per chunk when the input holds the whole chunk */
    struct sink s;
    const char *two = "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
    assert_int_equal(feed(two, strlen(two), 0, 0, &s, &used), 1);
    assert_int_equal(s.calls, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),           cmocka_unit_test(test_max_size_and_sticky_errors),
        cmocka_unit_test(test_size_line_limit), cmocka_unit_test(test_trailer_limit),
        cmocka_unit_test(test_chunk_header),    cmocka_unit_test(test_large_data_single_slice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
