/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EPP's ext_proc server in process: a datastore and the default scheduler behind
 * ig_epp_server on a real HTTP/2 listener (127.0.0.1, ephemeral port), driven by infergate's own
 * gRPC client with the message sequence a gateway sends in FULL_DUPLEX_STREAMED mode. Checks the
 * reference's golden answers (pick header + metadata + Content-Length, 62000-byte body chunks,
 * header-only picks, 500 / 400 / 429 / 503 immediate responses), the response path, the subset
 * hint, the model rewrite (header and callback), the echoed x-request-id and the in-flight
 * accounting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ig/epp.h"
#include "ig/extproc.h"
#include "ig/grpc.h"
#include "ig/loop.h"
#include "ig/sched.h"
#include "ig_test_loop.h"

#define MAX_REPLIES 64

static struct env {
    struct ig_test_http fx; /* loop, HTTP/2 server, listener */
    ig_grpc_server_t *grpc;
    ig_grpc_channel_t *ch;
    ig_epp_datastore_t *ds;
    struct ig_epc *epc;
    struct ig_sched *sched;
    ig_metrics_t *reg;
    ig_epp_server_t *es;
} E;

/* One call's outcome: every reply decoded, then the status. */
struct result {
    ig_pool_t pool;
    struct ig_extproc_response r[MAX_REPLIES];
    size_t n;
    int done;
    int status;
    int body_end; /* the request body's last chunk came back */
};

/* ---- fixture --------------------------------------------------------------------------------- */

static int objective_priority(void *arg, ig_iov_t objective, int *priority)
{
    (void)arg;
    if (ig_iov_eq(objective, IG_STRLIT("sheddable"))) {
        *priority = -1;
        return 0;
    }
    return IG_ENOTFOUND;
}

/* An InferenceModelRewrite stand-in: "alias" -> "m1". */
static int model_rewrite(void *arg, ig_iov_t model, ig_iov_t *target, ig_iov_t *name)
{
    (void)arg;
    if (!ig_iov_eq(model, IG_STRLIT("alias")))
        return IG_ENOTFOUND;
    *target = IG_STRLIT("m1");
    *name = IG_STRLIT("alias-rule");
    return 0;
}

static void set_endpoints(const char *list)
{
    struct ig_epp_endpoint_list l;
    char err[256];
    ig_epp_endpoint_list_init(&l);
    if (list != NULL)
        assert_int_equal(ig_epp_endpoints_parse(list, &l, err, sizeof(err)), 0);
    assert_int_equal(ig_epp_datastore_set(E.ds, l.v, l.n, err, sizeof(err)), 0);
    ig_epp_endpoint_list_dispose(&l);
}

static int setup(void **state)
{
    char err[512];
    (void)state;
    memset(&E, 0, sizeof(E));
    ig_test_http_start(&E.fx, NULL);
    E.ds = ig_epp_datastore_create(IG_EPP_ENGINE_VLLM);
    assert_int_equal(
        ig_epc_load_string("default", ig_epc_default_text, strlen(ig_epc_default_text), &E.epc, err, sizeof(err)), 0);
    assert_int_equal(ig_sched_create(E.epc, 42, &E.sched, err, sizeof(err)), 0);
    E.reg = ig_metrics_create();
    struct ig_epp_server_config sc = {.ds = E.ds,
                                      .sched = E.sched,
                                      .metrics = E.reg,
                                      .objective = objective_priority,
                                      .rewrite = model_rewrite,
                                      .seed = 7};
    E.es = ig_epp_server_create(&sc);

    E.grpc = ig_grpc_server_create(NULL);
    assert_int_equal(ig_epp_server_register(E.es, E.grpc), 0);
    E.ch = ig_test_grpc_attach(&E.fx, E.grpc);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ig_grpc_channel_destroy(E.ch);
    ig_test_http_stop(&E.fx);
    assert_int_equal(ig_epp_server_streams(E.es), 0);
    ig_epp_server_destroy(E.es);
    ig_grpc_server_destroy(E.grpc);
    ig_epp_datastore_destroy(E.ds);
    ig_sched_destroy(E.sched);
    ig_epc_free(E.epc);
    ig_metrics_destroy(E.reg);
    return 0;
}

/* ---- a gateway's side of one stream ----------------------------------------------------------- */

static void on_reply(ig_grpc_call_t *call, ig_iov_t msg)
{
    struct result *r = ig_grpc_call_data(call);
    assert_true(r->n < MAX_REPLIES);
    /* |msg| is valid during the call only: keep a copy for the decoded slices. */
    ig_iov_t copy = ig_pool_dup(&r->pool, msg);
    assert_int_equal(ig_extproc_decode_response(&r->pool, copy, &r->r[r->n]), 0);
    if (r->r[r->n].kind == IG_EXTPROC_REQUEST_BODY && r->r[r->n].body_eos)
        r->body_end = 1;
    r->n++;
}

static void on_status(ig_grpc_call_t *call, int status, ig_iov_t message)
{
    struct result *r = ig_grpc_call_data(call);
    (void)message;
    r->status = status;
    r->done = 1;
}

static const struct ig_grpc_call_handler handler = {.on_message = on_reply, .on_status = on_status};

/* Queues of framed ProcessingRequests, sent in order (prefix stripped) and then half-closed. */
struct script {
    ig_pool_t pool;
    ig_buf_t msgs[MAX_REPLIES];
    size_t n;
    const struct ig_extproc_subset *subset;
};

static void script_init(struct script *s)
{
    memset(s, 0, sizeof(*s));
    ig_pool_init(&s->pool);
}

static ig_buf_t *next_msg(struct script *s)
{
    assert_true(s->n < MAX_REPLIES);
    ig_buf_t *b = &s->msgs[s->n++];
    ig_buf_init(b, 0);
    return b;
}

static void add_headers(struct script *s, const char *path, const ig_http_header_t *extra, size_t nextra, int eos)
{
    ig_http_request_t req = {0};
    req.method = eos ? IG_STRLIT("GET") : IG_STRLIT("POST");
    req.scheme = IG_STRLIT("http");
    req.authority = IG_STRLIT("gw.example");
    req.path = ig_iov_cstr(path);
    req.version = IG_HTTP_11;
    req.content_length = -1;
    ig_http_headers_add(&s->pool, &req.headers, IG_STRLIT("content-type"), IG_STRLIT("application/json"));
    ig_http_headers_add(&s->pool, &req.headers, IG_STRLIT("x-request-id"), IG_STRLIT("req-1"));
    for (size_t i = 0; i < nextra; i++)
        ig_http_headers_add(&s->pool, &req.headers, extra[i].name, extra[i].value);
    assert_int_equal(ig_extproc_encode_request_headers(next_msg(s), &s->pool, &req, eos, 1, s->subset), 0);
}

/* The body in |nchunks| request_body messages, the last with end_of_stream. */
static void add_body(struct script *s, const char *body, size_t len, size_t nchunks)
{
    size_t per = (len + nchunks - 1) / nchunks, off = 0;
    for (size_t i = 0; i < nchunks; i++) {
        size_t n = IG_MIN(per, len - off);
        assert_int_equal(
            ig_extproc_encode_request_body(next_msg(s), &s->pool, body + off, n, i + 1 == nchunks, s->subset), 0);
        off += n;
    }
}

/*
 * Sends the script. With |hold_open| the request side stays open until the request body has come
 * back whole (as a gateway keeps the stream open for the response), so the server must pace its
 * output by itself rather than flush it at half-close.
 */
static void run_script_ex(struct script *s, struct result *r, int hold_open)
{
    memset(r, 0, sizeof(*r));
    ig_pool_init(&r->pool);
    ig_grpc_call_t *c = ig_grpc_call_start(E.ch, IG_EXTPROC_PATH, NULL, &handler, r);
    for (size_t i = 0; i < s->n; i++) {
        ig_buf_t *b = &s->msgs[i];
        int rc = ig_grpc_call_send(c, ig_buf_data(b) + IG_GRPC_PREFIX_LEN, b->len - IG_GRPC_PREFIX_LEN,
                                   !hold_open && i + 1 == s->n);
        assert_true(rc == 0 || rc == IG_EAGAIN);
    }
    if (hold_open) {
        assert_true(ig_test_run_until(&E.fx.loop, &r->body_end, 5000));
        assert_false(r->done);
        assert_int_equal(ig_grpc_call_close_send(c), 0);
    }
    assert_true(ig_test_run_until(&E.fx.loop, &r->done, 5000));
    for (size_t i = 0; i < s->n; i++)
        ig_buf_dispose(&s->msgs[i]);
    ig_pool_dispose(&s->pool);
}

static void run_script(struct script *s, struct result *r)
{
    run_script_ex(s, r, 0);
}

static void result_dispose(struct result *r)
{
    ig_pool_dispose(&r->pool);
}

static ig_iov_t set_header_value(const struct ig_extproc_mutation *m, const char *name)
{
    for (size_t i = 0; i < m->n_set; i++)
        if (ig_iov_eq_nocase(m->set[i].name, ig_iov_cstr(name)))
            return m->set[i].value;
    return IG_IOV_NULL;
}

static void assert_iov_str(ig_iov_t v, const char *s)
{
    if (!ig_iov_eq(v, ig_iov_cstr(s)))
        fail_msg("got \"%.*s\", want \"%s\"", (int)v.len, v.base ? v.base : "", s);
}

/* Concatenates the request-direction streamed chunks after reply |from|; checks sizes and EOS. */
static size_t collect_body(const struct result *r, size_t from, ig_buf_t *out, size_t *nchunks)
{
    size_t i = from;
    *nchunks = 0;
    for (; i < r->n && r->r[i].kind == IG_EXTPROC_REQUEST_BODY; i++) {
        assert_int_equal(r->r[i].body_kind, IG_EXTPROC_BODY_STREAMED);
        assert_true(r->r[i].body.len <= 62000);
        assert_int_equal(ig_buf_append(out, r->r[i].body.base, r->r[i].body.len), 0);
        (*nchunks)++;
        if (r->r[i].body_eos)
            return i + 1;
    }
    fail_msg("the request body never ended (reply %zu of %zu)", i, r->n);
    return i;
}

static const char CHAT[] = "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}]}";

/* ---- tests ----------------------------------------------------------------------------------- */

/* The golden exchange: pick in header and metadata, Content-Length, the body back, response path. */
static void test_pick_and_response_path(void **state)
{
    (void)state;
    set_endpoints("10.0.0.1:8000,10.0.0.2:8000");
    struct script s;
    struct result r;
    script_init(&s);
    add_headers(&s, "/v1/chat/completions", NULL, 0, 0);
    add_body(&s, CHAT, strlen(CHAT), 3);
    /* The upstream's answer: SSE headers, two event chunks, trailers. */
    ig_http_header_t rh[] = {{IG_STRLIT("content-type"), IG_STRLIT("text/event-stream")}};
    ig_http_response_t resp = {200, {rh, 1, 1}, -1};
    assert_int_equal(ig_extproc_encode_response_headers(next_msg(&s), &s.pool, &resp, 0, IG_STRLIT("10.0.0.1:8000")),
                     0);
    const char ev1[] = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
    const char ev2[] = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\ndata: "
                       "[DONE]\n\n";
    assert_int_equal(ig_extproc_encode_response_body(next_msg(&s), &s.pool, ev1, strlen(ev1), 0), 0);
    assert_int_equal(ig_extproc_encode_response_body(next_msg(&s), &s.pool, ev2, strlen(ev2), 0), 0);
    ig_http_headers_t none = {0};
    assert_int_equal(ig_extproc_encode_response_trailers(next_msg(&s), &s.pool, &none), 0);
    run_script(&s, &r);
    assert_int_equal(r.status, IG_GRPC_OK);

    /* 1: request headers answer */
    assert_true(r.n >= 1);
    assert_int_equal(r.r[0].kind, IG_EXTPROC_REQUEST_HEADERS);
    ig_iov_t dest = r.r[0].dest_header;
    assert_true(ig_iov_eq(dest, IG_STRLIT("10.0.0.1:8000")) || ig_iov_eq(dest, IG_STRLIT("10.0.0.2:8000")));
    assert_true(ig_iov_eq(dest, r.r[0].dest_metadata));
    assert_true(r.r[0].clear_route_cache);
    char len_text[16];
    snprintf(len_text, sizeof(len_text), "%zu", strlen(CHAT));
    assert_iov_str(set_header_value(&r.r[0].headers, "content-length"), len_text);

    /* 2: the body, unchanged (no rewrite), one chunk */
    ig_buf_t body;
    size_t nchunks;
    ig_buf_init(&body, 0);
    size_t next = collect_body(&r, 1, &body, &nchunks);
    assert_int_equal(nchunks, 1);
    assert_int_equal(body.len, strlen(CHAT));
    assert_memory_equal(ig_buf_data(&body), CHAT, body.len);
    ig_buf_dispose(&body);

    /* 3: response headers, two body chunks echoed as received, trailers */
    assert_int_equal(r.n, next + 4);
    assert_int_equal(r.r[next].kind, IG_EXTPROC_RESPONSE_HEADERS);
    assert_iov_str(set_header_value(&r.r[next].headers, "x-went-into-resp-headers"), "true");
    assert_int_equal(r.r[next + 1].kind, IG_EXTPROC_RESPONSE_BODY);
    assert_int_equal(r.r[next + 1].body_kind, IG_EXTPROC_BODY_STREAMED);
    assert_iov_str(r.r[next + 1].body, ev1);
    assert_false(r.r[next + 1].body_eos);
    assert_iov_str(r.r[next + 2].body, ev2);
    assert_int_equal(r.r[next + 3].kind, IG_EXTPROC_RESPONSE_TRAILERS);
    result_dispose(&r);

    /* The stream ended: the pick's in-flight count is back to zero. */
    struct ig_epp_snapshot *snap = ig_epp_datastore_snapshot(E.ds);
    for (size_t i = 0; i < snap->n; i++)
        assert_int_equal(snap->eps[i]->inflight_requests, 0);
    ig_epp_snapshot_release(snap);

    /* The request metrics counted it, with the usage of the SSE stream. */
    ig_buf_t page;
    ig_buf_init(&page, 0);
    assert_int_equal(ig_metrics_write(E.reg, &page), 0);
    assert_int_equal(ig_buf_append(&page, "", 1), 0);
    assert_non_null(strstr(ig_buf_data(&page),
                           "inference_objective_request_total{model_name=\"m1\",target_model_name=\"m1\","
                           "priority=\"0\"} 1"));
    assert_non_null(strstr(ig_buf_data(&page),
                           "inference_objective_output_tokens_sum{model_name=\"m1\",target_model_name=\"m1\"} 3"));
    assert_non_null(strstr(ig_buf_data(&page), "inference_extension_scheduler_e2e_duration_seconds_count 1"));
    char want[160];
    snprintf(want, sizeof(want),
             "inference_objective_request_sizes_sum{model_name=\"m1\",target_model_name=\"m1\"} %zu", strlen(CHAT));
    assert_non_null(strstr(ig_buf_data(&page), want));
    snprintf(want, sizeof(want),
             "inference_objective_response_sizes_sum{model_name=\"m1\",target_model_name=\"m1\"} %zu",
             strlen(ev1) + strlen(ev2));
    assert_non_null(strstr(ig_buf_data(&page), want));
    assert_non_null(strstr(ig_buf_data(&page), "inference_objective_running_requests{model_name=\"m1\"} 0"));
    ig_buf_dispose(&page);
}

/* A 1 MB body comes back in chunks of at most 62000 bytes, in order, the last with EOS. */
static void large_body(int hold_open)
{
    set_endpoints("10.0.0.1:8000");
    const size_t total = 1u << 20;
    char *big = ig_malloc(total);
    const char head[] = "{\"model\":\"m1\",\"prompt\":\"";
    memcpy(big, head, sizeof(head) - 1);
    for (size_t i = sizeof(head) - 1; i < total - 2; i++)
        big[i] = (char)('a' + i % 26);
    memcpy(big + total - 2, "\"}", 2);

    struct script s;
    struct result r;
    script_init(&s);
    add_headers(&s, "/v1/completions", NULL, 0, 0);
    add_body(&s, big, total, 20);
    run_script_ex(&s, &r, hold_open);
    assert_int_equal(r.status, IG_GRPC_OK);
    assert_int_equal(r.r[0].kind, IG_EXTPROC_REQUEST_HEADERS);
    assert_iov_str(r.r[0].dest_header, "10.0.0.1:8000");
    assert_iov_str(set_header_value(&r.r[0].headers, "content-length"), "1048576");
    ig_buf_t body;
    size_t nchunks;
    ig_buf_init(&body, 0);
    size_t next = collect_body(&r, 1, &body, &nchunks);
    assert_int_equal(next, r.n);
    assert_int_equal(nchunks, (total + 61999) / 62000);
    for (size_t i = 1; i + 1 < r.n; i++)
        assert_int_equal(r.r[i].body.len, 62000);
    assert_int_equal(body.len, total);
    assert_memory_equal(ig_buf_data(&body), big, total);
    ig_buf_dispose(&body);
    result_dispose(&r);
    ig_free(big);
}

static void test_large_body_chunking(void **state)
{
    (void)state;
    large_body(0);
    large_body(1); /* paced by the transport's back-pressure (on_writable), not by half-close */
}

/* Header-only requests are answered at once with a random endpoint. */
static void test_header_only(void **state)
{
    (void)state;
    set_endpoints("10.0.0.1:8000,10.0.0.2:8000,10.0.0.3:8000");
    int seen[3] = {0};
    for (int k = 0; k < 30; k++) {
        struct script s;
        struct result r;
        script_init(&s);
        add_headers(&s, "/v1/models", NULL, 0, 1);
        run_script(&s, &r);
        assert_int_equal(r.status, IG_GRPC_OK);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.r[0].kind, IG_EXTPROC_REQUEST_HEADERS);
        ig_iov_t d = r.r[0].dest_header;
        assert_true(ig_iov_eq(d, r.r[0].dest_metadata));
        assert_true(d.len == 13 && memcmp(d.base, "10.0.0.", 7) == 0);
        seen[d.base[7] - '1']++;
        /* no body: no Content-Length */
        assert_int_equal(set_header_value(&r.r[0].headers, "content-length").len, 0);
        result_dispose(&r);
    }
    assert_true(seen[0] > 0 && seen[1] > 0 && seen[2] > 0);
}

static void expect_immediate(struct result *r, int status, const char *body)
{
    assert_int_equal(r->status, IG_GRPC_OK);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->r[0].kind, IG_EXTPROC_IMMEDIATE);
    assert_int_equal(r->r[0].immediate.status, status);
    assert_iov_str(r->r[0].immediate.body, body);
}

/* Golden: header-only request with no pods -> 500. */
static void test_no_pods_header_only(void **state)
{
    (void)state;
    set_endpoints(NULL);
    struct script s;
    struct result r;
    script_init(&s);
    add_headers(&s, "/v1/models", NULL, 0, 1);
    run_script(&s, &r);
    expect_immediate(&r, 500, "inference error: Internal - no pods available in datastore");
    result_dispose(&r);

    /* With a body and no endpoints: 503 from the scheduler. */
    script_init(&s);
    add_headers(&s, "/v1/chat/completions", NULL, 0, 0);
    add_body(&s, CHAT, strlen(CHAT), 1);
    run_script(&s, &r);
    expect_immediate(&r, 503, "inference error: ServiceUnavailable - failed to find endpoint candidates");
    result_dispose(&r);
}

/* Golden: missing model -> 400; also counted as an error. */
static void test_missing_model(void **state)
{
    (void)state;
    set_endpoints("10.0.0.1:8000");
    const char body[] = "{\"prompt\":\"hi\"}";
    struct script s;
    struct result r;
    script_init(&s);
    add_headers(&s, "/v1/completions", NULL, 0, 0);
    add_body(&s, body, strlen(body), 2);
    run_script(&s, &r);
    expect_immediate(&r, 400, "inference error: BadRequest - model not found in request body");
    result_dispose(&r);

    ig_buf_t page;
    ig_buf_init(&page, 0);
    assert_int_equal(ig_metrics_write(E.reg, &page), 0);
    assert_int_equal(ig_buf_append(&page, "", 1), 0);
    assert_non_null(strstr(ig_buf_data(&page), "inference_objective_request_error_total{model_name=\"\","
                                               "target_model_name=\"\",error_code=\"BadRequest\"} 1"));
    ig_buf_dispose(&page);
}

/* A sheddable request (priority < 0) while the pool is saturated (no fresh metrics) -> 429. */
static void test_shed_sheddable(void **state)
{
    (void)state;
    set_endpoints("10.0.0.1:8000");
    ig_http_header_t h[] = {{IG_STRLIT("x-gateway-inference-objective"), IG_STRLIT("sheddable")}};
    struct script s;
    struct result r;
    script_init(&s);
    add_headers(&s, "/v1/chat/completions", h, 1, 0);
    add_body(&s, CHAT, strlen(CHAT), 1);
    run_script(&s, &r);
    expect_immediate(&r, 429, "inference error: ResourceExhausted - system saturated, sheddable request dropped");
    result_dispose(&r);
}

/* The subset hint narrows the candidates (IP match); an empty list leaves none -> 503. */
static void test_subset_hint(void **state)
{
    (void)state;
    set_endpoints("10.0.0.1:8000,10.0.0.2:8000,10.0.0.3:8000");
    ig_iov_t only[] = {IG_STRLIT("10.0.0.2:8000")};
    struct ig_extproc_subset sub = {only, 1};
    for (int k = 0; k < 5; k++) {
        struct script s;
        struct result r;
        script_init(&s);
        s.subset = &sub;
        add_headers(&s, "/v1/chat/completions", NULL, 0, 0);
        add_body(&s, CHAT, strlen(CHAT), 2);
        run_script(&s, &r);
        assert_int_equal(r.r[0].kind, IG_EXTPROC_REQUEST_HEADERS);
        assert_iov_str(r.r[0].dest_header, "10.0.0.2:8000");
        result_dispose(&r);
    }
    struct ig_extproc_subset empty = {only, 0};
    struct script s;
    struct result r;
    script_init(&s);
    s.subset = &empty;
    add_headers(&s, "/v1/chat/completions", NULL, 0, 0);
    add_body(&s, CHAT, strlen(CHAT), 1);
    run_script(&s, &r);
    expect_immediate(&r, 503, "inference error: ServiceUnavailable - failed to find endpoint candidates");
    result_dispose(&r);
}

/* x-gateway-model-name-rewrite replaces the body's model; Content-Length follows the new body. */
static void test_model_rewrite(void **state)
{
    (void)state;
    set_endpoints("10.0.0.1:8000");
    ig_http_header_t h[] = {{IG_STRLIT("x-gateway-model-name-rewrite"), IG_STRLIT("m1-lora\"x")}};
    struct script s;
    struct result r;
    script_init(&s);
    add_headers(&s, "/v1/chat/completions", h, 1, 0);
    add_body(&s, CHAT, strlen(CHAT), 2);
    /* The upstream answers with the target name; the client gets its own name back. */
    ig_http_response_t resp = {200, {NULL, 0, 0}, -1};
    assert_int_equal(ig_extproc_encode_response_headers(next_msg(&s), &s.pool, &resp, 0, IG_IOV_NULL), 0);
    const char up[] =
        "{\"id\":\"x\",\"model\": \"m1-lora\\\"x\",\"object\":\"chat.completion\",\"model\":\"m1-lora\\\"x\"}";
    const char down[] = "{\"id\":\"x\",\"model\": \"m1\",\"object\":\"chat.completion\",\"model\":\"m1\"}";
    assert_int_equal(ig_extproc_encode_response_body(next_msg(&s), &s.pool, up, strlen(up), 1), 0);
    run_script(&s, &r);
    assert_int_equal(r.r[0].kind, IG_EXTPROC_REQUEST_HEADERS);
    assert_int_equal(r.r[r.n - 1].kind, IG_EXTPROC_RESPONSE_BODY);
    assert_iov_str(r.r[r.n - 1].body, down);
    assert_true(r.r[r.n - 1].body_eos);
    const char want[] = "{\"model\":\"m1-lora\\\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}]}";
    char len_text[16];
    snprintf(len_text, sizeof(len_text), "%zu", strlen(want));
    assert_iov_str(set_header_value(&r.r[0].headers, "content-length"), len_text);
    ig_buf_t body;
    size_t nchunks;
    ig_buf_init(&body, 0);
    collect_body(&r, 1, &body, &nchunks);
    assert_int_equal(body.len, strlen(want));
    assert_memory_equal(ig_buf_data(&body), want, body.len);
    ig_buf_dispose(&body);
    result_dispose(&r);
}

/* The rewrite callback maps the model when no rewrite header is given; x-request-id is echoed. */
static void test_rewrite_callback(void **state)
{
    (void)state;
    static const char alias[] = "{\"model\":\"alias\",\"prompt\":\"hi\"}";
    static const char want[] = "{\"model\":\"m1\",\"prompt\":\"hi\"}";
    set_endpoints("10.0.0.1:8000");
    for (int with_header = 0; with_header < 2; with_header++) {
        ig_http_header_t h[] = {{IG_STRLIT("x-gateway-model-name-rewrite"), IG_STRLIT("m9")}};
        struct script s;
        struct result r;
        ig_buf_t body;
        size_t nchunks;
        script_init(&s);
        add_headers(&s, "/v1/completions", h, (size_t)with_header, 0);
        add_body(&s, alias, strlen(alias), 1);
        run_script(&s, &r);
        assert_int_equal(r.r[0].kind, IG_EXTPROC_REQUEST_HEADERS);
        assert_iov_str(set_header_value(&r.r[0].headers, "x-request-id"), "req-1");
        ig_buf_init(&body, 0);
        collect_body(&r, 1, &body, &nchunks);
        ig_iov_t got = ig_iov(ig_buf_data(&body), body.len);
        assert_iov_str(got, with_header ? "{\"model\":\"m9\",\"prompt\":\"hi\"}" : want);
        ig_buf_dispose(&body);
        result_dispose(&r);
    }
    ig_buf_t page;
    ig_buf_init(&page, 0);
    assert_int_equal(ig_metrics_write(E.reg, &page), 0);
    assert_non_null(strstr(ig_buf_data(&page), "inference_extension_model_rewrite_decisions_total{model_rewrite_name="
                                               "\"alias-rule\",model_name=\"alias\",target_model=\"m1\"} 1\n"));
    assert_non_null(strstr(ig_buf_data(&page), "inference_extension_scheduler_attempts_total{status=\"success\","
                                               "target_model_name=\"m9\",pod_name=\"10.0.0.1:8000\","
                                               "namespace=\"\",port=\"8000\"} 1\n"));
    ig_buf_dispose(&page);
}

/* The request side of a script whose protocol_config announces |response_body_mode|. */
static void add_headers_mode(struct script *s, int response_body_mode)
{
    ig_http_request_t req = {0};
    req.method = IG_STRLIT("POST");
    req.scheme = IG_STRLIT("http");
    req.authority = IG_STRLIT("gw.example");
    req.path = IG_STRLIT("/v1/chat/completions");
    req.version = IG_HTTP_11;
    req.content_length = -1;
    ig_http_headers_add(&s->pool, &req.headers, IG_STRLIT("content-type"), IG_STRLIT("application/json"));
    assert_int_equal(ig_extproc_encode_request_headers_mode(next_msg(s), &s->pool, &req, 0,
                                                            IG_EXTPROC_MODE_FULL_DUPLEX_STREAMED, response_body_mode,
                                                            NULL),
                     0);
    add_body(s, CHAT, strlen(CHAT), 1);
}

static int has_metric(const char *line)
{
    ig_buf_t page;
    ig_buf_init(&page, 0);
    assert_int_equal(ig_metrics_write(E.reg, &page), 0);
    assert_int_equal(ig_buf_append(&page, "", 1), 0);
    int found = strstr(ig_buf_data(&page), line) != NULL;
    ig_buf_dispose(&page);
    return found;
}

#define DUR_COUNT "inference_objective_request_duration_seconds_count{model_name=\"m1\",target_model_name=\"m1\"} 1"
#define RUNNING_0 "inference_objective_running_requests{model_name=\"m1\"} 0"

/* observe: response messages marked observability_mode get no answer but feed usage and completion. */
static void test_observed_response(void **state)
{
    (void)state;
    set_endpoints("10.0.0.1:8000");
    struct script s;
    struct result r;
    script_init(&s);
    add_headers_mode(&s, IG_EXTPROC_MODE_STREAMED);
    ig_http_header_t rh[] = {{IG_STRLIT("content-type"), IG_STRLIT("text/event-stream")}};
    ig_http_response_t resp = {200, {rh, 1, 1}, -1};
    assert_int_equal(ig_extproc_encode_response_headers_ex(next_msg(&s), &s.pool, &resp, 0, IG_STRLIT("10.0.0.1:8000"),
                                                           IG_EXTPROC_F_OBSERVE),
                     0);
    const char ev1[] = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
    const char ev2[] = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\n";
    assert_int_equal(
        ig_extproc_encode_response_body_ex(next_msg(&s), &s.pool, ev1, strlen(ev1), 0, IG_EXTPROC_F_OBSERVE), 0);
    assert_int_equal(
        ig_extproc_encode_response_body_ex(next_msg(&s), &s.pool, ev2, strlen(ev2), 1, IG_EXTPROC_F_OBSERVE), 0);
    run_script(&s, &r);
    assert_int_equal(r.status, IG_GRPC_OK);
    for (size_t i = 0; i < r.n; i++)
        assert_true(r.r[i].kind == IG_EXTPROC_REQUEST_HEADERS || r.r[i].kind == IG_EXTPROC_REQUEST_BODY);
    assert_int_equal(r.r[r.n - 1].kind, IG_EXTPROC_REQUEST_BODY);
    result_dispose(&r);
    assert_true(has_metric(DUR_COUNT));
    assert_true(has_metric("inference_objective_output_tokens_sum{model_name=\"m1\",target_model_name=\"m1\"} 3"));
    char want[160];
    snprintf(want, sizeof(want),
             "inference_objective_response_sizes_sum{model_name=\"m1\",target_model_name=\"m1\"} %zu",
             strlen(ev1) + strlen(ev2));
    assert_true(has_metric(want));
    assert_true(has_metric(RUNNING_0));
}

/* headers: response body mode NONE; the head is answered and the half-close completes the request. */
static void test_response_body_none(void **state)
{
    (void)state;
    set_endpoints("10.0.0.1:8000");
    struct script s;
    struct result r;
    script_init(&s);
    add_headers_mode(&s, IG_EXTPROC_MODE_NONE);
    ig_http_header_t rh[] = {{IG_STRLIT("content-type"), IG_STRLIT("text/event-stream")}};
    ig_http_response_t resp = {200, {rh, 1, 1}, -1};
    assert_int_equal(ig_extproc_encode_response_headers(next_msg(&s), &s.pool, &resp, 0, IG_STRLIT("10.0.0.1:8000")),
                     0);
    run_script(&s, &r);
    assert_int_equal(r.status, IG_GRPC_OK);
    assert_int_equal(r.r[r.n - 1].kind, IG_EXTPROC_RESPONSE_HEADERS);
    result_dispose(&r);
    assert_true(has_metric(DUR_COUNT));
    assert_true(has_metric(RUNNING_0));
    struct ig_epp_snapshot *snap = ig_epp_datastore_snapshot(E.ds);
    for (size_t i = 0; i < snap->n; i++)
        assert_int_equal(snap->eps[i]->inflight_requests, 0);
    ig_epp_snapshot_release(snap);
}

/* Garbage instead of a ProcessingRequest ends the call with INVALID_ARGUMENT. */
static void test_bad_message(void **state)
{
    (void)state;
    struct result r;
    memset(&r, 0, sizeof(r));
    ig_pool_init(&r.pool);
    ig_grpc_call_t *c = ig_grpc_call_start(E.ch, IG_EXTPROC_PATH, NULL, &handler, &r);
    const char junk[] = "\xff\xff\xff\xff";
    ig_grpc_call_send(c, junk, 4, 1);
    assert_true(ig_test_run_until(&E.fx.loop, &r.done, 5000));
    assert_int_equal(r.status, IG_GRPC_INVALID_ARGUMENT);
    assert_int_equal(r.n, 0);
    result_dispose(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pick_and_response_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_body_chunking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_pods_header_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shed_sheddable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subset_hint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_rewrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_observed_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_body_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_message, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
