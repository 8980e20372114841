/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON scanner and the OpenAI request reader: API kind by path, the fields read per API
 * (model, stream, include_usage, cache_salt, prefix spans), escapes, the reference's BadRequest
 * texts, and agreement with jansson on which documents are valid JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ig/sched.h"

static struct ig_oai_request req;
static struct ig_sched_error err;
static ig_pool_t pool;

static int parse(enum ig_oai_api api, const char *body)
{
    memset(&err, 0, sizeof(err));
    return ig_oai_parse(api, body, strlen(body), &pool, &req, &err);
}

static int iov_is(ig_iov_t v, const char *s)
{
    return v.len == strlen(s) && memcmp(v.base, s, v.len) == 0;
}

static void test_api_from_path(void **state)
{
    (void)state;
    assert_int_equal(ig_oai_api_from_path(IG_STRLIT("/v1/chat/completions")), IG_OAI_CHAT_COMPLETIONS);
    assert_int_equal(ig_oai_api_from_path(IG_STRLIT("/v1/chat/completions?x=1")), IG_OAI_CHAT_COMPLETIONS);
    assert_int_equal(ig_oai_api_from_path(IG_STRLIT("/v1/completions")), IG_OAI_COMPLETIONS);
    assert_int_equal(ig_oai_api_from_path(IG_STRLIT("/v1/responses")), IG_OAI_RESPONSES);
    assert_int_equal(ig_oai_api_from_path(IG_STRLIT("/v1/conversations")), IG_OAI_CONVERSATIONS);
    assert_int_equal(ig_oai_api_from_path(IG_STRLIT("/v1/embeddings")), IG_OAI_EMBEDDINGS);
    assert_int_equal(ig_oai_api_from_path(IG_STRLIT("/v1/models")), IG_OAI_COMPLETIONS);
    assert_int_equal(ig_oai_api_from_path(IG_STRLIT("")), IG_OAI_COMPLETIONS);
    assert_string_equal(ig_oai_api_name(IG_OAI_CHAT_COMPLETIONS), "chat completions");
}

static void test_chat(void **state)
{
    (void)state;
    const char *body = "{\"model\":\"llama\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"cache_salt\":\"s1\"}";
    assert_int_equal(parse(IG_OAI_CHAT_COMPLETIONS, body), 0);
    assert_true(iov_is(req.model, "llama"));
    assert_true(iov_is(req.model_raw, "\"llama\""));
    assert_true(req.stream);
    assert_true(req.include_usage);
    assert_true(iov_is(req.cache_salt, "s1"));
    assert_int_equal(req.n_prefix, 1);
    assert_true(iov_is(req.prefix[0], "[{\"role\":\"user\",\"content\":\"hi\"}]"));
    assert_int_equal(req.prefix_len, req.prefix[0].len);
    /* Slices point into the body: nothing was copied. */
    assert_true(req.model.base > body && req.model.base < body + strlen(body));
}

static void test_completions_and_flags(void **state)
{
    (void)state;
    assert_int_equal(parse(IG_OAI_COMPLETIONS, " { \"prompt\" : \"Write as if\" , \"model\" : \"m\" } \n"), 0);
    assert_true(iov_is(req.prefix[0], "Write as if"));
    assert_false(req.stream);
    assert_false(req.include_usage);
    assert_int_equal(req.cache_salt.len, 0);
    /* stream false / non-bool, include_usage false */
    assert_int_equal(parse(IG_OAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[1,2],\"stream\":\"true\","
                                               "\"stream_options\":{\"include_usage\":false}}"),
                     0);
    assert_false(req.stream);
    assert_false(req.include_usage);
    assert_true(iov_is(req.prefix[0], "[1,2]"));
    /* duplicate keys: the last one wins */
    assert_int_equal(parse(IG_OAI_COMPLETIONS, "{\"model\":\"a\",\"prompt\":\"p\",\"model\":\"b\"}"), 0);
    assert_true(iov_is(req.model, "b"));
}

static void test_responses_embeddings_conversations(void **state)
{
    (void)state;
    assert_int_equal(parse(IG_OAI_RESPONSES, "{\"model\":\"m\",\"input\":\"hello\",\"instructions\":\"be brief\","
                                             "\"tools\":[{\"type\":\"x\"}]}"),
                     0);
    assert_int_equal(req.n_prefix, 3);
    assert_true(iov_is(req.prefix[0], "\"be brief\""));
    assert_true(iov_is(req.prefix[1], "[{\"type\":\"x\"}]"));
    assert_true(iov_is(req.prefix[2], "\"hello\""));
    assert_int_equal(parse(IG_OAI_RESPONSES, "{\"model\":\"m\",\"input\":[1]}"), 0);
    assert_int_equal(req.n_prefix, 1);
    assert_int_equal(parse(IG_OAI_EMBEDDINGS, "{\"model\":\"m\",\"input\":[\"a\",\"b\"]}"), 0);
    assert_true(iov_is(req.prefix[0], "[\"a\",\"b\"]"));
    assert_int_equal(parse(IG_OAI_CONVERSATIONS, "{\"model\":\"m\",\"items\":[]}"), 0);
    assert_int_equal(parse(IG_OAI_EMBEDDINGS, "{\"model\":\"m\"}"), IG_EINVAL);
    assert_string_equal(err.msg, "inference error: BadRequest - invalid embeddings request: input is required");
    assert_int_equal(parse(IG_OAI_RESPONSES, "{\"model\":\"m\",\"input\":null}"), IG_EINVAL);
    assert_int_equal(parse(IG_OAI_CONVERSATIONS, "{\"model\":\"m\"}"), IG_EINVAL);
}

static void test_escapes(void **state)
{
    (void)state;
    assert_int_equal(parse(IG_OAI_COMPLETIONS, "{\"mod\\u0065l\":\"a\\/b\\u00e9\\ud83d\\ude00\",\"prompt\":\"x\"}"), 0);
    assert_int_equal(req.model.len, 3 + 2 + 4);
    assert_memory_equal(req.model.base, "a/b\xc3\xa9\xf0\x9f\x98\x80", 9);
    /* lone surrogate -> U+FFFD */
    assert_int_equal(parse(IG_OAI_COMPLETIONS, "{\"model\":\"\\ud800x\",\"prompt\":\"x\"}"), 0);
    assert_memory_equal(req.model.base, "\xef\xbf\xbdx", 4);
    /* Without a pool an escaped model cannot be decoded: it reads as missing. */
    memset(&err, 0, sizeof(err));
    const char *b = "{\"model\":\"a\\nb\",\"prompt\":\"x\"}";
    assert_int_equal(ig_oai_parse(IG_OAI_COMPLETIONS, b, strlen(b), NULL, &req, &err), IG_EINVAL);
}

static void test_missing_model(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{\"prompt\":\"hello\"}",
        "{\"model\":null,\"prompt\":\"hello\"}",
        "{\"model\":3,\"prompt\":\"hello\"}",
        "{\"model\":\"\",\"prompt\":\"hello\"}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "{}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        assert_int_equal(parse(i == 4 ? IG_OAI_CHAT_COMPLETIONS : IG_OAI_COMPLETIONS, bodies[i]), IG_EINVAL);
        assert_int_equal(err.status, 400);
        assert_string_equal(err.msg, "inference error: BadRequest - model not found in request body");
    }
}

static void test_required_fields(void **state)
{
    (void)state;
    assert_int_equal(parse(IG_OAI_CHAT_COMPLETIONS, "{\"model\":\"m\",\"messages\":[ ]}"), IG_EINVAL);
    assert_string_equal(
        err.msg, "inference error: BadRequest - invalid chat completions request: messages must be a non-empty array");
    assert_int_equal(parse(IG_OAI_CHAT_COMPLETIONS, "{\"model\":\"m\",\"messages\":{}}"), IG_EINVAL);
    assert_int_equal(parse(IG_OAI_CHAT_COMPLETIONS, "{\"model\":\"m\"}"), IG_EINVAL);
    assert_int_equal(parse(IG_OAI_COMPLETIONS, "{\"model\":\"m\"}"), IG_EINVAL);
    assert_string_equal(err.msg, "inference error: BadRequest - invalid completions request: prompt is required");
}

static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *body, *msg;
    } cases[] = {
        {"", "error unmarshaling request body: unexpected end of input at offset 0"},
        {"{\"model\":\"m\",", "error unmarshaling request body: unexpected end of input at offset 13"},
        {"{\"model\":\"m\" \"prompt\":1}", "error unmarshaling request body: expected ',' or '}' at offset 13"},
        {"{\"model\":\"m\",\"prompt\":tru}", "error unmarshaling request body: invalid value at offset 22"},
        {"{\"model\":\"m\",\"prompt\":\"a\tb\"}",
         "error unmarshaling request body: control character in string at offset 24"},
        {"{\"model\":\"m\\x\"}", "error unmarshaling request body: invalid escape at offset 12"},
        {"{\"model\":\"m\"} x",
         "error unmarshaling request body: invalid character after top-level value at offset 14"},
        {"[1,2]", "error unmarshaling request body: expected a JSON object"},
        {"{\"a\":[1,2}", "error unmarshaling request body: expected ',' or ']' at offset 9"},
        {"{\"a\":01}", "error unmarshaling request body: expected ',' or '}' at offset 6"},
        {"{model:1}", "error unmarshaling request body: expected a string key at offset 1"},
    };
    char want[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(parse(IG_OAI_COMPLETIONS, cases[i].body), IG_EINVAL);
        snprintf(want, sizeof(want), "inference error: BadRequest - %s", cases[i].msg);
        assert_string_equal(err.msg, want);
        assert_int_equal(err.status, 400);
    }
}

static void test_deep_nesting(void **state)
{
    (void)state;
    size_t n = 3000;
    char *b = malloc(2 * n + 64);
    size_t k = (size_t)snprintf(b, 64, "{\"model\":\"m\",\"prompt\":");
    for (size_t i = 0; i < n; i++)
        b[k++] = '[';
    for (size_t i = 0; i < n; i++)
        b[k++] = ']';
    b[k++] = '}';
    b[k] = 0;
    assert_int_equal(parse(IG_OAI_COMPLETIONS, b), IG_EINVAL);
    assert_non_null(strstr(err.msg, "nesting too deep"));
    free(b);
}

/*
 * The scanner and jansson agree on validity (jansson with JSON_DECODE_ANY | JSON_ALLOW_NUL). Lone
 * surrogate escapes are left out on purpose: jansson rejects them, Go's decoder (the reference's)
 * and ours accept them as U+FFFD (test_escapes).
 */
static void test_agrees_with_jansson(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "{}",
        "[]",
        "1",
        "-0.5e+10",
        "\"x\"",
        "true",
        "null",
        "{\"a\":[1,{\"b\":null}],\"c\":\"\\u0041\"}",
        "{\"a\":1,}",
        "[1,]",
        "01",
        "1.",
        ".5",
        "-",
        "+1",
        "\"\\u12\"",
        "\"\\q\"",
        "[1 2]",
        "{\"a\" 1}",
        "{1:2}",
        "[\"a\nb\"]",
        "  [ 1 , 2 ]  ",
        "nul",
        "truex",
        "[[[[]]]]",
        "{\"a\":{\"b\":{\"c\":[]}}}",
        "[1e5, 2E-3, 0, -0]",
        "[1e]",
        "]",
        "{\"a\":1}}",
        "[\"\\u0000\"]",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        const char *p = docs[i], *end = docs[i] + strlen(docs[i]);
        enum ig_json_type t = ig_json_skip(&p, end, NULL);
        int ours = t != IG_JSON_INVALID;
        while (ours && p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
            p++;
        ours = ours && p == end;
        json_error_t je;
        json_t *j = json_loadb(docs[i], strlen(docs[i]), JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (ours != (j != NULL))
            fail_msg("disagreement on %s: ours %d jansson %d", docs[i], ours, j != NULL);
        json_decref(j);
    }
}

static void test_obj_iter(void **state)
{
    (void)state;
    struct ig_json_iter it;
    struct ig_json_member m;
    const char *o = "{\"a\":1,\"b\":[true],\"c\":{}}";
    assert_int_equal(ig_json_obj_begin(&it, ig_iov(o, strlen(o))), 0);
    assert_int_equal(ig_json_obj_next(&it, &m, NULL), 1);
    assert_int_equal(m.type, IG_JSON_NUMBER);
    assert_true(ig_json_key_eq(&m, "a"));
    assert_int_equal(ig_json_obj_next(&it, &m, NULL), 1);
    assert_int_equal(m.type, IG_JSON_ARRAY);
    assert_int_equal(ig_json_obj_next(&it, &m, NULL), 1);
    assert_int_equal(m.type, IG_JSON_OBJECT);
    assert_int_equal(ig_json_obj_next(&it, &m, NULL), 0);
    assert_int_equal(ig_json_obj_begin(&it, IG_STRLIT("[1]")), IG_EINVAL);
}

static int setup(void **state)
{
    (void)state;
    ig_pool_init(&pool);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ig_pool_dispose(&pool);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_from_path),
        cmocka_unit_test(test_chat),
        cmocka_unit_test(test_completions_and_flags),
        cmocka_unit_test(test_responses_embeddings_conversations),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_missing_model),
        cmocka_unit_test(test_required_fields),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_agrees_with_jansson),
        cmocka_unit_test(test_obj_iter),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
