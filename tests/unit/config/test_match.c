/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Route matching with Gateway API precedence: hostname specificity, exact path, longest prefix,
 * regex, method, header count, query count, declaration order; OR between matches[] entries and
 * AND inside one; prefix element boundaries; full-value regexes; query decoding; listener
 * selection by hostname.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ig/config.h"

static struct ig_config *load(const char *text)
{
    char err[2048];
    struct ig_config *cfg = NULL;
    if (ig_config_load_string("match.yaml", text, strlen(text), &cfg, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    return cfg;
}

/* Returns the name of the route chosen for the request, or "-" when none matches. */
static const char *pick(const struct ig_config *cfg, const char *method, const char *host, const char *path,
                        const char *h1, const char *v1)
{
    struct ig_cfg_header hdrs[1];
    struct ig_cfg_request req = {
        .method = ig_iov_cstr(method),
        .scheme = IG_STRLIT("http"),
        .host = ig_iov_cstr(host),
        .path = ig_iov_cstr(path),
        .headers = hdrs,
        .n_headers = 0,
    };
    if (h1 != NULL) {
        hdrs[0].name = ig_iov_cstr(h1);
        hdrs[0].value = ig_iov_cstr(v1);
        req.n_headers = 1;
    }
    const struct ig_cfg_listener *l = &cfg->binds[0].listeners[0];
    const struct ig_cfg_route_match *m = NULL;
    const struct ig_cfg_route *r = ig_config_match_route(l, &req, &m);
    if (r == NULL) {
        assert_null(m);
        return "-";
    }
    assert_non_null(m);
    assert_true(m >= r->matches && m < r->matches + r->n_matches);
    return r->name.base;
}

#define HEAD "binds:\n- port: 80\n  listeners:\n  - routes:\n"

static void test_path_precedence(void **state)
{
    (void)state;
    struct ig_config *cfg = load(HEAD "    - name: regex\n      matches: [{path: {regex: \"/v1/.*\"}}]\n"
                                      "    - name: root\n"
                                      "    - name: v1\n      matches: [{path: {pathPrefix: /v1}}]\n"
                                      "    - name: chat\n      matches: [{path: {pathPrefix: /v1/chat/}}]\n"
                                      "    - name: exact\n      matches: [{path: {exact: /v1/chat/completions}}]\n");
    assert_string_equal(pick(cfg, "GET", "x", "/v1/chat/completions", NULL, NULL), "exact");
    assert_string_equal(pick(cfg, "GET", "x", "/v1/chat/completions?stream=1", NULL, NULL), "exact");
    assert_string_equal(pick(cfg, "GET", "x", "/v1/chat/completions/", NULL, NULL), "chat");
    assert_string_equal(pick(cfg, "GET", "x", "/v1/chat", NULL, NULL), "chat"); /* trailing '/' of a prefix ignored */
    assert_string_equal(pick(cfg, "GET", "x", "/v1/chatty", NULL, NULL), "v1"); /* element boundary */
    assert_string_equal(pick(cfg, "GET", "x", "/v1/models", NULL, NULL), "v1"); /* prefix beats regex */
    assert_string_equal(pick(cfg, "GET", "x", "/v1", NULL, NULL), "v1");
    assert_string_equal(pick(cfg, "GET", "x", "/v10", NULL, NULL), "root");
    assert_string_equal(pick(cfg, "GET", "x", "/", NULL, NULL), "root");
    ig_config_unref(cfg);

    /* Without a catch-all, a regex route serves what no prefix matches; regexes match the whole path. */
    cfg = load(HEAD "    - name: regex\n      matches: [{path: {regex: \"/v[0-9]+/.*\"}}]\n"
                    "    - name: short\n      matches: [{path: {regex: \"/a\"}}]\n"
                    "    - name: v1\n      matches: [{path: {pathPrefix: /v1}}]\n");
    assert_string_equal(pick(cfg, "GET", "x", "/v2/models", NULL, NULL), "regex");
    assert_string_equal(pick(cfg, "GET", "x", "/v1/models", NULL, NULL), "v1");
    assert_string_equal(pick(cfg, "GET", "x", "/a", NULL, NULL), "short");
    assert_string_equal(pick(cfg, "GET", "x", "/ab", NULL, NULL), "-");
    assert_string_equal(pick(cfg, "GET", "x", "/x/a", NULL, NULL), "-");
    assert_string_equal(pick(cfg, "GET", "x", "/v2", NULL, NULL), "-");
    ig_config_unref(cfg);

    /* Longer regexes first among regexes. */
    cfg = load(HEAD "    - name: loose\n      matches: [{path: {regex: \"/.*\"}}]\n"
                    "    - name: tight\n      matches: [{path: {regex: \"/v1/[a-z]+\"}}]\n");
    assert_string_equal(pick(cfg, "GET", "x", "/v1/models", NULL, NULL), "tight");
    assert_string_equal(pick(cfg, "GET", "x", "/v1/m0dels", NULL, NULL), "loose");
    ig_config_unref(cfg);
}

static void test_method_headers_query(void **state)
{
    (void)state;
    struct ig_config *cfg = load(HEAD "    - name: plain\n      matches: [{path: {pathPrefix: /v1}}]\n"
                                      "    - name: post\n      matches: [{path: {pathPrefix: /v1}, method: POST}]\n"
                                      "    - name: hdr\n      matches: [{path: {pathPrefix: /v1}, headers: [{name: "
                                      "X-Model, value: {exact: llama}}]}]\n"
                                      "    - name: hdr2\n      matches: [{path: {pathPrefix: /v1}, headers: [{name: "
                                      "x-model, value: {regex: \"llama-[0-9]+\"}}, {name: \":authority\", value: "
                                      "{exact: \"api:8080\"}}]}]\n"
                                      "    - name: qry\n      matches: [{path: {pathPrefix: /v1}, query: [{name: "
                                      "\"a b\", value: {exact: \"1 2\"}}]}]\n");
    /* Same path: a method condition outranks header conditions. */
    assert_string_equal(pick(cfg, "POST", "api:8080", "/v1/x", "x-model", "llama-3"), "post");
    /* Then the number of header conditions. */
    assert_string_equal(pick(cfg, "GET", "api:8080", "/v1/x", "X-MODEL", "llama-3"), "hdr2");
    assert_string_equal(pick(cfg, "GET", "other", "/v1/x", "X-MODEL", "llama-3"), "plain");
    assert_string_equal(pick(cfg, "GET", "api", "/v1/x", "x-model", "llama"), "hdr");
    assert_string_equal(pick(cfg, "GET", "api", "/v1/x", "x-model", "llama-3b"), "plain"); /* regex is full-value */
    assert_string_equal(pick(cfg, "GET", "api", "/v1/x", "x-model", "Llama"), "plain");    /* values are exact */
    /* Header conditions outrank query conditions; query names and values are form-decoded. */
    assert_string_equal(pick(cfg, "GET", "api", "/v1/x?a+b=1%202", NULL, NULL), "qry");
    assert_string_equal(pick(cfg, "GET", "api", "/v1/x?z=0&a%20b=1+2", NULL, NULL), "qry");
    assert_string_equal(pick(cfg, "GET", "api", "/v1/x?a+b=1%202", "x-model", "llama"), "hdr");
    assert_string_equal(pick(cfg, "GET", "api", "/v1/x?a+b=3&a+b=1+2", NULL, NULL), "plain"); /* first one counts */
    assert_string_equal(pick(cfg, "GET", "api", "/v1/x?a+b", NULL, NULL), "plain");
    assert_string_equal(pick(cfg, "GET", "api", "/v2", NULL, NULL), "-");
    ig_config_unref(cfg);

    /* More query conditions win; then declaration order. */
    cfg = load(HEAD "    - name: q1\n      matches: [{query: [{name: a, value: {exact: \"1\"}}]}]\n"
                    "    - name: q2\n      matches: [{query: [{name: a, value: {exact: \"1\"}}, {name: b, value: "
                    "{regex: \"[0-9]+\"}}]}]\n"
                    "    - name: first\n"
                    "    - name: second\n");
    assert_string_equal(pick(cfg, "GET", "h", "/?a=1&b=22", NULL, NULL), "q2");
    assert_string_equal(pick(cfg, "GET", "h", "/?a=1&b=x", NULL, NULL), "q1");
    assert_string_equal(pick(cfg, "GET", "h", "/?a=2", NULL, NULL), "first");
    ig_config_unref(cfg);
}

static void test_or_and(void **state)
{
    (void)state;
    /* Entries are OR'ed, conditions inside one entry AND'ed. */
    struct ig_config *cfg = load(HEAD "    - name: r\n      matches:\n      - {path: {exact: /a}, method: GET}\n"
                                      "      - {path: {exact: /b}, headers: [{name: x, value: {exact: \"1\"}}]}\n");
    assert_string_equal(pick(cfg, "GET", "h", "/a", NULL, NULL), "r");
    assert_string_equal(pick(cfg, "POST", "h", "/a", NULL, NULL), "-");
    assert_string_equal(pick(cfg, "POST", "h", "/b", "x", "1"), "r");
    assert_string_equal(pick(cfg, "POST", "h", "/b", "x", "2"), "-");
    assert_string_equal(pick(cfg, "GET", "h", "/b", NULL, NULL), "-");
    ig_config_unref(cfg);
}

static void test_hostnames(void **state)
{
    (void)state;
    struct ig_config *cfg =
        load(HEAD "    - name: any\n      matches: [{path: {exact: /v1/chat}}]\n"
                  "    - name: wild\n      hostnames: [\"*.example.com\"]\n      matches: [{path: {pathPrefix: /v1}}]\n"
                  "    - name: wild2\n      hostnames: [\"*.api.example.com\"]\n"
                  "    - name: exact\n      hostnames: [api.example.com, Other.Example.COM]\n      matches: [{path: "
                  "{pathPrefix: /v1/models}}]\n");
    /* Hostname specificity comes before path precedence. */
    assert_string_equal(pick(cfg, "GET", "foo.example.com", "/v1/chat", NULL, NULL), "wild");
    assert_string_equal(pick(cfg, "GET", "a.b.example.com:8080", "/v1/chat", NULL, NULL), "wild");
    assert_string_equal(pick(cfg, "GET", "x.api.example.com", "/v1/chat", NULL, NULL), "wild2");
    assert_string_equal(pick(cfg, "GET", "API.example.com", "/v1/models/x", NULL, NULL), "exact");
    assert_string_equal(pick(cfg, "GET", "other.example.com.", "/v1/models", NULL, NULL), "exact");
    /* ... but a less specific hostname still serves what the specific one does not match. */
    assert_string_equal(pick(cfg, "GET", "api.example.com", "/v1/chat", NULL, NULL), "wild");
    assert_string_equal(pick(cfg, "GET", "example.com", "/v1/chat", NULL, NULL), "any"); /* "*." needs a label */
    assert_string_equal(pick(cfg, "GET", "example.com", "/v1/models", NULL, NULL), "-");
    assert_string_equal(pick(cfg, "GET", "[::1]:80", "/v1/chat", NULL, NULL), "any");
    ig_config_unref(cfg);
}

static void test_listener_selection(void **state)
{
    (void)state;
    struct ig_config *cfg = load("binds:\n- port: 80\n  listeners:\n  - name: catchall\n  - name: wild\n    hostname: "
                                 "\"*.example.com\"\n  - name: exact\n    hostname: api.example.com\n");
    const struct ig_cfg_bind *b = ig_config_find_bind(cfg, 80);
    assert_non_null(b);
    assert_string_equal(ig_config_select_listener(b, IG_STRLIT("api.example.com:80"))->name.base, "exact");
    assert_string_equal(ig_config_select_listener(b, IG_STRLIT("www.example.com"))->name.base, "wild");
    assert_string_equal(ig_config_select_listener(b, IG_STRLIT("localhost"))->name.base, "catchall");
    assert_string_equal(ig_config_select_listener(b, IG_IOV_NULL)->name.base, "catchall");
    ig_config_unref(cfg);

    cfg = load("binds:\n- port: 80\n  listeners:\n  - hostname: a.com\n");
    assert_null(ig_config_select_listener(&cfg->binds[0], IG_STRLIT("b.com")));
    assert_non_null(ig_config_select_listener(&cfg->binds[0], IG_STRLIT("A.COM")));
    /* Empty requests are handled (no path, no host). */
    struct ig_config *c2 = load(HEAD "    - name: all\n");
    struct ig_cfg_request empty = {IG_IOV_NULL, IG_IOV_NULL, IG_IOV_NULL, IG_IOV_NULL, NULL, 0};
    assert_string_equal(ig_config_match_route(&c2->binds[0].listeners[0], &empty, NULL)->name.base, "all");
    ig_config_unref(c2);
    /* A listener without routes matches nothing. */
    struct ig_cfg_request req = {.method = IG_STRLIT("GET"), .path = IG_STRLIT("/"), .host = IG_STRLIT("a.com")};
    assert_null(ig_config_match_route(&cfg->binds[0].listeners[0], &req, NULL));
    ig_config_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_precedence),
        cmocka_unit_test(test_method_headers_query),
        cmocka_unit_test(test_or_and),
        cmocka_unit_test(test_hostnames),
        cmocka_unit_test(test_listener_selection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
