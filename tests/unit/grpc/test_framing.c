/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for gRPC message framing: the prefix writer, and the incremental deframer fed a
 * stream of messages split at every possible point, plus its limits (max message size), flag
 * handling (compressed, invalid), sticky errors, callback errors and end-of-stream checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ig/grpc.h"

#define MAX_SEEN 16

struct seen {
    size_t n;
    size_t len[MAX_SEEN];
    char data[MAX_SEEN][256];
    int fail_at; /* return an error from the callback for this message index; -1 never */
};

static int on_msg(void *arg, ig_iov_t msg)
{
    struct seen *s = arg;
    assert_true(s->n < MAX_SEEN);
    assert_true(msg.len <= sizeof(s->data[0]));
    if (msg.len != 0)
        memcpy(s->data[s->n], msg.base, msg.len);
    s->len[s->n] = msg.len;
    if ((int)s->n++ == s->fail_at)
        return IG_ECANCELED;
    return 0;
}

static void seen_init(struct seen *s)
{
    memset(s, 0, sizeof(*s));
    s->fail_at = -1;
}

static void test_prefix(void **state)
{
    (void)state;
    uint8_t p[IG_GRPC_PREFIX_LEN];
    ig_grpc_prefix_write(p, 0x01020304);
    assert_memory_equal(p, "\x00\x01\x02\x03\x04", 5);
    ig_grpc_prefix_write(p, 0);
    assert_memory_equal(p, "\x00\x00\x00\x00\x00", 5);

    ig_buf_t b;
    ig_buf_init(&b, 16);
    assert_int_equal(ig_grpc_frame_append(&b, "abc", 3), 0);
    assert_int_equal(b.len, 8);
    assert_memory_equal(ig_buf_data(&b),
                        "\x00\x00\x00\x00\x03"
                        "abc",
                        8);
    /* 5 + 4 more would exceed the cap of 16: refused and unchanged. */
    assert_int_equal(ig_grpc_frame_append(&b, "defg", 4), IG_ETOOBIG);
    assert_int_equal(b.len, 8);
    ig_buf_dispose(&b);
}

/* Three messages (one empty) back to back, fed in two pieces split at every offset. */
static void test_every_split(void **state)
{
    (void)state;
    static const char *msgs[] = {"hello", "", "a longer message body"};
    ig_buf_t wire;
    ig_buf_init(&wire, 0);
    for (size_t i = 0; i < IG_ARRAY_LEN(msgs); i++)
        assert_int_equal(ig_grpc_frame_append(&wire, msgs[i], strlen(msgs[i])), 0);
    const char *w = ig_buf_data(&wire);

    for (size_t split = 0; split <= wire.len; split++) {
        for (size_t split2 = split; split2 <= wire.len; split2++) {
            struct seen s;
            ig_grpc_deframer_t d;
            seen_init(&s);
            ig_grpc_deframer_init(&d, 0);
            assert_int_equal(ig_grpc_deframer_feed(&d, w, split, on_msg, &s), 0);
            assert_int_equal(ig_grpc_deframer_feed(&d, w + split, split2 - split, on_msg, &s), 0);
            assert_int_equal(ig_grpc_deframer_feed(&d, w + split2, wire.len - split2, on_msg, &s), 0);
            assert_int_equal(s.n, 3);
            for (size_t i = 0; i < 3; i++) {
                assert_int_equal(s.len[i], strlen(msgs[i]));
                assert_memory_equal(s.data[i], msgs[i], s.len[i]);
            }
            assert_int_equal(ig_grpc_deframer_finish(&d), 0);
            ig_grpc_deframer_dispose(&d);
        }
    }
    ig_buf_dispose(&wire);
}

/* One byte at a time, and a message larger than the buffer that is kept between messages. */
static void test_byte_at_a_time(void **state)
{
    (void)state;
    char big[200];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)i;
    ig_buf_t wire;
    ig_buf_init(&wire, 0);
    assert_int_equal(ig_grpc_frame_append(&wire, big, sizeof(big)), 0);
    assert_int_equal(ig_grpc_frame_append(&wire, "x", 1), 0);

    struct seen s;
    ig_grpc_deframer_t d;
    seen_init(&s);
    ig_grpc_deframer_init(&d, 1024);
    for (size_t i = 0; i < wire.len; i++) {
        assert_int_equal(ig_grpc_deframer_feed(&d, ig_buf_data(&wire) + i, 1, on_msg, &s), 0);
        /* Mid-stream the deframer reports a cut message. */
        if (i + 1 < wire.len && i + 1 != IG_GRPC_PREFIX_LEN + sizeof(big))
            assert_int_equal(ig_grpc_deframer_finish(&d), IG_EPROTO);
    }
    assert_int_equal(s.n, 2);
    assert_int_equal(s.len[0], sizeof(big));
    assert_memory_equal(s.data[0], big, sizeof(big));
    assert_int_equal(s.len[1], 1);
    assert_int_equal(ig_grpc_deframer_finish(&d), 0);
    ig_grpc_deframer_dispose(&d);
    ig_buf_dispose(&wire);
}

static void test_max_message(void **state)
{
    (void)state;
    struct seen s;
    ig_grpc_deframer_t d;

    /* Exactly the limit passes. */
    seen_init(&s);
    ig_grpc_deframer_init(&d, 4);
    assert_int_equal(ig_grpc_deframer_feed(&d,
                                           "\x00\x00\x00\x00\x04"
                                           "abcd",
                                           9, on_msg, &s),
                     0);
    assert_int_equal(s.n, 1);
    /* One over: refused as soon as the prefix is complete, before any payload arrives. */
    assert_int_equal(ig_grpc_deframer_feed(&d, "\x00\x00\x00\x00", 4, on_msg, &s), 0);
    assert_int_equal(ig_grpc_deframer_feed(&d, "\x05", 1, on_msg, &s), IG_ETOOBIG);
    assert_int_equal(ig_grpc_status_from_err(IG_ETOOBIG), IG_GRPC_RESOURCE_EXHAUSTED);
    /* Sticky. */
    assert_int_equal(ig_grpc_deframer_feed(&d, "", 0, on_msg, &s), IG_ETOOBIG);
    assert_int_equal(ig_grpc_deframer_finish(&d), IG_ETOOBIG);
    assert_int_equal(s.n, 1);
    ig_grpc_deframer_dispose(&d);

    /* A 4 GiB - 1 declaration against the default limit. */
    seen_init(&s);
    ig_grpc_deframer_init(&d, 0);
    assert_int_equal(d.max_message, IG_GRPC_DEFAULT_MAX_MESSAGE);
    assert_int_equal(ig_grpc_deframer_feed(&d, "\x00\xff\xff\xff\xff", 5, on_msg, &s), IG_ETOOBIG);
    ig_grpc_deframer_dispose(&d);
}

static void test_flags(void **state)
{
    (void)state;
    struct seen s;
    ig_grpc_deframer_t d;

    /* Compressed: we never negotiate an encoding, so UNIMPLEMENTED. */
    seen_init(&s);
    ig_grpc_deframer_init(&d, 0);
    assert_int_equal(ig_grpc_deframer_feed(&d,
                                           "\x01\x00\x00\x00\x01"
                                           "z",
                                           6, on_msg, &s),
                     IG_EUNSUPPORTED);
    assert_int_equal(ig_grpc_status_from_err(IG_EUNSUPPORTED), IG_GRPC_UNIMPLEMENTED);
    assert_int_equal(s.n, 0);
    ig_grpc_deframer_dispose(&d);

    /* Any other flag value is a protocol error. */
    for (unsigned flag = 2; flag < 256; flag += 37) {
        char frame[6] = {(char)flag, 0, 0, 0, 1, 'z'};
        seen_init(&s);
        ig_grpc_deframer_init(&d, 0);
        assert_int_equal(ig_grpc_deframer_feed(&d, frame, sizeof(frame), on_msg, &s), IG_EPROTO);
        assert_int_equal(s.n, 0);
        ig_grpc_deframer_dispose(&d);
    }

    /* A valid message before a bad prefix is still delivered. */
    seen_init(&s);
    ig_grpc_deframer_init(&d, 0);
    assert_int_equal(ig_grpc_deframer_feed(&d,
                                           "\x00\x00\x00\x00\x01"
                                           "a"
                                           "\x80",
                                           7, on_msg, &s),
                     IG_EPROTO);
    assert_int_equal(s.n, 1);
    ig_grpc_deframer_dispose(&d);
}

static void test_callback_error(void **state)
{
    (void)state;
    struct seen s;
    ig_grpc_deframer_t d;
    seen_init(&s);
    s.fail_at = 0;
    ig_grpc_deframer_init(&d, 0);
    /* The callback's error stops the feed: the second message is not delivered. */
    assert_int_equal(ig_grpc_deframer_feed(&d,
                                           "\x00\x00\x00\x00\x01"
                                           "a"
                                           "\x00\x00\x00\x00\x01"
                                           "b",
                                           12, on_msg, &s),
                     IG_ECANCELED);
    assert_int_equal(s.n, 1);
    assert_int_equal(ig_grpc_deframer_feed(&d, "\x00", 1, on_msg, &s), IG_ECANCELED);
    ig_grpc_deframer_dispose(&d);

    /* Same when the failing message was reassembled from pieces. */
    seen_init(&s);
    s.fail_at = 0;
    ig_grpc_deframer_init(&d, 0);
    assert_int_equal(ig_grpc_deframer_feed(&d,
                                           "\x00\x00\x00\x00\x02"
                                           "a",
                                           6, on_msg, &s),
                     0);
    assert_int_equal(ig_grpc_deframer_feed(&d, "b", 1, on_msg, &s), IG_ECANCELED);
    assert_int_equal(s.n, 1);
    assert_memory_equal(s.data[0], "ab", 2);
    ig_grpc_deframer_dispose(&d);
}

/* A cut prefix or payload at the end of the stream is an error; a clean boundary is not. */
static void test_finish(void **state)
{
    (void)state;
    struct seen s;
    ig_grpc_deframer_t d;
    seen_init(&s);
    ig_grpc_deframer_init(&d, 0);
    assert_int_equal(ig_grpc_deframer_finish(&d), 0);
    assert_int_equal(ig_grpc_deframer_feed(&d, "\x00\x00", 2, on_msg, &s), 0);
    assert_int_equal(ig_grpc_deframer_finish(&d), IG_EPROTO);
    assert_int_equal(ig_grpc_deframer_feed(&d,
                                           "\x00\x00\x03"
                                           "ab",
                                           5, on_msg, &s),
                     0);
    assert_int_equal(ig_grpc_deframer_finish(&d), IG_EPROTO);
    assert_int_equal(ig_grpc_deframer_feed(&d, "c", 1, on_msg, &s), 0);
    assert_int_equal(ig_grpc_deframer_finish(&d), 0);
    assert_int_equal(s.n, 1);
    ig_grpc_deframer_dispose(&d);
}

struct big_ctx {
    size_t count;
    const char *want;
    size_t len;
};

static int check(void *arg, ig_iov_t msg)
{
    struct big_ctx *ctx = arg;
    assert_int_equal(msg.len, ctx->len);
    assert_memory_equal(msg.base, ctx->want, ctx->len);
    ctx->count++;
    return 0;
}

/* A reassembled message larger than the kept-buffer threshold: the buffer is released after it. */
static void test_large_split_message(void **state)
{
    (void)state;
    const size_t n = 100000;
    char *payload = ig_malloc(n);
    for (size_t i = 0; i < n; i++)
        payload[i] = (char)(i * 7);
    ig_buf_t wire;
    ig_buf_init(&wire, 0);
    assert_int_equal(ig_grpc_frame_append(&wire, payload, n), 0);
    assert_int_equal(ig_grpc_frame_append(&wire, payload, n), 0);

    struct big_ctx ctx = {0, payload, n};
    ig_grpc_deframer_t d;
    ig_grpc_deframer_init(&d, 0);
    const char *w = ig_buf_data(&wire);
    /* Odd-sized chunks so both messages straddle chunk boundaries. */
    for (size_t off = 0; off < wire.len;) {
        size_t take = IG_MIN((size_t)4099, wire.len - off);
        assert_int_equal(ig_grpc_deframer_feed(&d, w + off, take, check, &ctx), 0);
        off += take;
    }
    assert_int_equal(ctx.count, 2);
    assert_int_equal(d._msg.cap, 0); /* released, not kept at 100 KB */
    assert_int_equal(ig_grpc_deframer_finish(&d), 0);
    ig_grpc_deframer_dispose(&d);
    ig_buf_dispose(&wire);
    ig_free(payload);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix),         cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_byte_at_a_time), cmocka_unit_test(test_max_message),
        cmocka_unit_test(test_flags),          cmocka_unit_test(test_callback_error),
        cmocka_unit_test(test_finish),         cmocka_unit_test(test_large_split_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
