/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the bench's SSE parser and OpenAI chunk scanner (sse.c): the same stream split
 * at every byte position (and fed byte by byte) yields the same events; CRLF, CR and LF line
 * ends, a CRLF split between reads, comments, multi-line data, other fields, limits; and the
 * chunk scanner on completions, chat, usage, [DONE], errors and text that looks like JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "bench_int.h"

struct events {
    char text[4096];
    size_t len;
    int n;
};

/* Records each event as "<data>|". */
static void collect(void *arg, const char *data, size_t len)
{
    struct events *e = arg;
    assert_true(e->len + len + 1 < sizeof(e->text));
    memcpy(e->text + e->len, data, len);
    e->len += len;
    e->text[e->len++] = '|';
    e->text[e->len] = 0;
    e->n++;
}

static void feed_split(const char *stream, size_t a, size_t b, struct events *out)
{
    struct ig_bench_sse p;
    size_t n = strlen(stream);
    memset(out, 0, sizeof(*out));
    ig_bench__sse_init(&p, 1024);
    assert_int_equal(ig_bench__sse_feed(&p, stream, a, collect, out), 0);
    assert_int_equal(ig_bench__sse_feed(&p, stream + a, b - a, collect, out), 0);
    assert_int_equal(ig_bench__sse_feed(&p, stream + b, n - b, collect, out), 0);
    ig_bench__sse_dispose(&p);
}

static const char stream[] = ": a comment\r\n"
                             "data: {\"a\":1}\r\n\r\n"
                             "event: message\n"
                             "data:{\"b\":2}\n\n"
                             "data: line one\r"
                             "data: line two\r\r"
                             "id: 7\n"
                             "retry: 10\n"
                             "data\n\n"
                             "data:  two spaces\n\n" /* one space is dropped, not two */
                             "\n\n"
                             "data: [DONE]\n\n"
                             "data: unterminated";
static const char expected[] = "{\"a\":1}|{\"b\":2}|line one\nline two|| two spaces|[DONE]|";

static void test_every_split(void **state)
{
    (void)state;
    size_t n = strlen(stream);
    struct events ev;
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b += 3) {
            feed_split(stream, a, b, &ev);
            if (strcmp(ev.text, expected) != 0)
                fail_msg("split at %zu,%zu: got '%s'", a, b, ev.text);
            assert_int_equal(ev.n, 6);
        }
    }
}

static void test_byte_by_byte(void **state)
{
    (void)state;
    struct ig_bench_sse p;
    struct events ev;
    memset(&ev, 0, sizeof(ev));
    ig_bench__sse_init(&p, 1024);
    for (size_t i = 0; stream[i] != 0; i++)
        assert_int_equal(ig_bench__sse_feed(&p, stream + i, 1, collect, &ev), 0);
    assert_string_equal(ev.text, expected);
    ig_bench__sse_dispose(&p);
}

static void test_limits(void **state)
{
    (void)state;
    struct ig_bench_sse p;
    struct events ev;
    char big[200];
    memset(&ev, 0, sizeof(ev));
    memset(big, 'x', sizeof(big));
    ig_bench__sse_init(&p, 64);
    /* a line longer than the limit, split across reads */
    assert_int_equal(ig_bench__sse_feed(&p, "data: ", 6, collect, &ev), 0);
    assert_int_equal(ig_bench__sse_feed(&p, big, sizeof(big), collect, &ev), IG_ETOOBIG);
    ig_bench__sse_dispose(&p);
    /* an event whose data lines together exceed the limit */
    ig_bench__sse_init(&p, 64);
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++)
        rc = ig_bench__sse_feed(&p, "data: 0123456789\n", 17, collect, &ev);
    assert_int_equal(rc, IG_ETOOBIG);
    assert_int_equal(ev.n, 0);
    ig_bench__sse_dispose(&p);
}

static void scan(const char *s, struct ig_bench_chunk *c)
{
    ig_bench__chunk_scan(s, strlen(s), c);
}

static void test_chunk_completions(void **state)
{
    (void)state;
    struct ig_bench_chunk c;
    scan("{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\" the\","
         "\"finish_reason\":null}],\"usage\":null}",
         &c);
    assert_true(c.has_text);
    assert_int_equal(c.text.len, 4);
    assert_memory_equal(c.text.base, " the", 4);
    assert_false(c.has_usage);
    assert_false(c.done);
    assert_false(c.error);

    scan("{\"id\":\"cmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":150,\"completion_tokens\":50,"
         "\"total_tokens\":200,\"prompt_tokens_details\":{\"cached_tokens\":96}}}",
         &c);
    assert_false(c.has_text);
    assert_true(c.has_usage);
    assert_int_equal(c.prompt_tokens, 150);
    assert_int_equal(c.completion_tokens, 50);
    assert_int_equal(c.cached_tokens, 96);

    scan(" [DONE] ", &c);
    assert_true(c.done);
}

static void test_chunk_chat(void **state)
{
    (void)state;
    struct ig_bench_chunk c;
    /* vLLM's first chat chunk: a role and empty content (not a token) */
    scan("{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}", &c);
    assert_true(c.has_text);
    assert_int_equal(c.text.len, 0);
    scan("{\"choices\":[{\"delta\":{\"content\":null},\"finish_reason\":\"length\"}]}", &c);
    assert_false(c.has_text);
    /* escaped quotes and JSON-looking text inside a token */
    scan("{\"choices\":[{\"delta\": {\"content\" : \"say \\\"usage\\\": {\\\"x\\\"\\\\\"}}]}", &c);
    assert_true(c.has_text);
    assert_false(c.has_usage);
    assert_int_equal(c.text.len, strlen("say \\\"usage\\\": {\\\"x\\\"\\\\"));
    /* a "text" string value is not the "text" member */
    scan("{\"choices\":[{\"delta\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}}]}", &c);
    assert_true(c.has_text);
    assert_memory_equal(c.text.base, "hi", 2);
    /* no choices: no text, even if a text member exists elsewhere */
    scan("{\"meta\":{\"text\":\"x\"}}", &c);
    assert_false(c.has_text);
}

static void test_chunk_error(void **state)
{
    (void)state;
    struct ig_bench_chunk c;
    scan("{\"error\":{\"message\":\"overloaded\",\"code\":503}}", &c);
    assert_true(c.error);
    scan("{\"error\":null,\"choices\":[{\"text\":\"a\"}]}", &c);
    assert_false(c.error);
    scan("{\"choices\":[{\"text\":\"\\\"error\\\": 1\"}]}", &c);
    assert_false(c.error);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split), cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_limits),      cmocka_unit_test(test_chunk_completions),
        cmocka_unit_test(test_chunk_chat),  cmocka_unit_test(test_chunk_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
