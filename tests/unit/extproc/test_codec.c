/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the ext_proc codec. Wire compatibility is checked against bytes assembled here
 * by hand from Envoy's field numbers (a tiny independent protobuf writer), never against our own
 * generated code only: the encoder's output must equal those bytes, and hand-built responses
 * (including the 69-byte dynamic_metadata example of the protocol reference) must decode. Every
 * message kind also round-trips, and the endpoint list parser is covered.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ig/extproc.h"

/* ---- a minimal protobuf writer, independent of protobuf-c ------------------------------------ */

static void put_varint(ig_buf_t *b, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v != 0)
            c |= 0x80;
        assert_int_equal(ig_buf_append(b, &c, 1), 0);
    } while (v != 0);
}

/* Length-delimited field (wire type 2) with |len| bytes. */
static void put_bytes(ig_buf_t *b, unsigned field, const void *data, size_t len)
{
    put_varint(b, (uint64_t)field << 3 | 2);
    put_varint(b, len);
    assert_int_equal(ig_buf_append(b, data, len), 0);
}

static void put_str(ig_buf_t *b, unsigned field, const char *s)
{
    put_bytes(b, field, s, strlen(s));
}

/* Nested message: moves |inner| into |b| as field |field| and empties it. */
static void put_msg(ig_buf_t *b, unsigned field, ig_buf_t *inner)
{
    put_bytes(b, field, ig_buf_data(inner), inner->len);
    ig_buf_reset(inner);
}

static void put_uint(ig_buf_t *b, unsigned field, uint64_t v)
{
    put_varint(b, (uint64_t)field << 3 | 0);
    put_varint(b, v);
}

/* Strips and checks the gRPC prefix of the single message in |b|. */
static ig_iov_t unframe(const ig_buf_t *b)
{
    const uint8_t *p = (const uint8_t *)ig_buf_data(b);
    assert_true(b->len >= IG_GRPC_PREFIX_LEN);
    assert_int_equal(p[0], 0);
    uint32_t len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
    assert_int_equal(len, b->len - IG_GRPC_PREFIX_LEN);
    return ig_iov(ig_buf_data(b) + IG_GRPC_PREFIX_LEN, len);
}

static int contains(ig_iov_t hay, const void *needle, size_t n)
{
    for (size_t i = 0; i + n <= hay.len; i++)
        if (memcmp(hay.base + i, needle, n) == 0)
            return 1;
    return 0;
}

/* HeaderValue{key, raw_value} as bytes. */
static void put_header(ig_buf_t *b, unsigned field, const char *key, const char *raw)
{
    ig_buf_t hv;
    ig_buf_init(&hv, 0);
    put_str(&hv, 1, key);
    put_str(&hv, 3, raw);
    put_msg(b, field, &hv);
    ig_buf_dispose(&hv);
}

/* ---- fixtures -------------------------------------------------------------------------------- */

struct fx {
    ig_pool_t pool;
    ig_buf_t out;
};

static int setup(void **state)
{
    struct fx *f = ig_calloc(1, sizeof(*f));
    ig_pool_init(&f->pool);
    ig_buf_init(&f->out, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ig_buf_dispose(&f->out);
    ig_pool_dispose(&f->pool);
    ig_free(f);
    return 0;
}

static const Envoy__Config__Core__V3__HeaderValue *find_header(const Envoy__Config__Core__V3__HeaderMap *m,
                                                               const char *key)
{
    for (size_t i = 0; i < m->n_headers; i++)
        if (strcmp(m->headers[i]->key, key) == 0)
            return m->headers[i];
    return NULL;
}

static void assert_raw(const Envoy__Config__Core__V3__HeaderMap *m, const char *key, const char *want)
{
    const Envoy__Config__Core__V3__HeaderValue *hv = find_header(m, key);
    assert_non_null(hv);
    assert_int_equal(hv->raw_value.len, strlen(want));
    assert_memory_equal(hv->raw_value.data, want, strlen(want));
    assert_string_equal(hv->value, ""); /* raw_value only, as Envoy sends */
}

/* ---- request direction ----------------------------------------------------------------------- */

static void test_request_headers(void **state)
{
    struct fx *f = *state;
    ig_http_request_t req;
    memset(&req, 0, sizeof(req));
    req.method = IG_STRLIT("POST");
    req.authority = IG_STRLIT("gw.example:8080");
    req.path = IG_STRLIT("/v1/chat/completions?x=1");
    req.version = IG_HTTP_11;
    ig_http_headers_add(&f->pool, &req.headers, IG_STRLIT("Host"), IG_STRLIT("gw.example:8080"));
    ig_http_headers_add(&f->pool, &req.headers, IG_STRLIT("Content-Type"), IG_STRLIT("application/json"));
    ig_http_headers_add(&f->pool, &req.headers, IG_STRLIT("X-Gateway-Inference-Objective"), IG_STRLIT("chat"));
    ig_http_headers_add(&f->pool, &req.headers, IG_STRLIT("Connection"), IG_STRLIT("keep-alive"));
    ig_http_headers_add(&f->pool, &req.headers, IG_STRLIT("Transfer-Encoding"), IG_STRLIT("chunked"));
    ig_http_headers_add(&f->pool, &req.headers, IG_STRLIT("x-bin"), IG_STRLIT("a\xff\x01"));

    ig_iov_t subset_v[] = {IG_STRLIT("10.0.0.7:8000"), IG_STRLIT("[fd00::7]:8000")};
    struct ig_extproc_subset subset = {subset_v, 2};
    assert_int_equal(ig_extproc_encode_request_headers(&f->out, &f->pool, &req, 0, 1, &subset), 0);

    ig_iov_t msg = unframe(&f->out);
    /* protocol_config (11) = {request_body_mode (1): 4, response_body_mode (2): 4}, byte for byte. */
    assert_true(contains(msg, "\x5a\x04\x08\x04\x10\x04", 6));
    assert_true(msg.base[0] == 0x12); /* request_headers is field 2 */

    Envoy__Service__ExtProc__V3__ProcessingRequest *pr;
    assert_int_equal(ig_extproc_decode_request(&f->pool, msg, &pr), 0);
    assert_int_equal(pr->request_case, ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_REQUEST_HEADERS);
    const Envoy__Config__Core__V3__HeaderMap *m = pr->request_headers->headers;
    assert_false(pr->request_headers->end_of_stream);
    assert_int_equal(m->n_headers, 4 + 3);
    /* The pseudo-headers come first, in this order. */
    assert_string_equal(m->headers[0]->key, ":method");
    assert_string_equal(m->headers[1]->key, ":scheme");
    assert_string_equal(m->headers[2]->key, ":authority");
    assert_string_equal(m->headers[3]->key, ":path");
    assert_raw(m, ":method", "POST");
    assert_raw(m, ":scheme", "http"); /* defaulted */
    assert_raw(m, ":authority", "gw.example:8080");
    assert_raw(m, ":path", "/v1/chat/completions?x=1");
    assert_raw(m, "content-type", "application/json");
    assert_raw(m, "x-gateway-inference-objective", "chat");
    assert_raw(m, "x-bin", "a\xff\x01");
    assert_null(find_header(m, "host"));
    assert_null(find_header(m, "connection"));
    assert_null(find_header(m, "transfer-encoding"));
    assert_null(find_header(m, "Content-Type"));

    assert_non_null(pr->protocol_config);
    assert_int_equal(
        pr->protocol_config->request_body_mode,
        ENVOY__EXTENSIONS__FILTERS__HTTP__EXT_PROC__V3__PROCESSING_MODE__BODY_SEND_MODE__FULL_DUPLEX_STREAMED);
    assert_int_equal(pr->protocol_config->response_body_mode, 4);
    assert_false(pr->observability_mode);

    /* Subset hint: a ListValue of strings under envoy.lb.subset_hint. */
    const Google__Protobuf__Struct *ns = ig_extproc_metadata_ns(pr->metadata_context, IG_STRLIT(IG_EXTPROC_NS_SUBSET));
    assert_non_null(ns);
    const Google__Protobuf__Value *v = ig_extproc_struct_get(ns, IG_STRLIT(IG_EXTPROC_KEY_SUBSET));
    assert_non_null(v);
    assert_int_equal(v->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE);
    assert_int_equal(v->list_value->n_values, 2);
    assert_string_equal(v->list_value->values[0]->string_value, "10.0.0.7:8000");
    assert_string_equal(v->list_value->values[1]->string_value, "[fd00::7]:8000");

    /* Not the first message, no body, https, no hint: no protocol_config, eos set, no metadata. */
    ig_buf_reset(&f->out);
    req.scheme = IG_STRLIT("https");
    assert_int_equal(ig_extproc_encode_request_headers(&f->out, &f->pool, &req, 1, 0, NULL), 0);
    assert_int_equal(ig_extproc_decode_request(&f->pool, unframe(&f->out), &pr), 0);
    assert_null(pr->protocol_config);
    assert_null(pr->metadata_context);
    assert_true(pr->request_headers->end_of_stream);
    assert_raw(pr->request_headers->headers, ":scheme", "https");
}

/* Response modes: protocol_config announces the response body mode; observed messages say so. */
static void test_modes_and_observability(void **state)
{
    struct fx *f = *state;
    Envoy__Service__ExtProc__V3__ProcessingRequest *pr;
    ig_http_request_t req;
    memset(&req, 0, sizeof(req));
    req.method = IG_STRLIT("POST");
    req.authority = IG_STRLIT("gw");
    req.path = IG_STRLIT("/v1/completions");

    assert_int_equal(ig_extproc_encode_request_headers_mode(&f->out, &f->pool, &req, 0,
                                                            IG_EXTPROC_MODE_FULL_DUPLEX_STREAMED,
                                                            IG_EXTPROC_MODE_STREAMED, NULL),
                     0);
    /* protocol_config (11) = {request_body_mode (1): 4, response_body_mode (2): 1} */
    assert_true(contains(unframe(&f->out), "\x5a\x04\x08\x04\x10\x01", 6));
    assert_int_equal(ig_extproc_decode_request(&f->pool, unframe(&f->out), &pr), 0);
    assert_int_equal(pr->protocol_config->response_body_mode, IG_EXTPROC_MODE_STREAMED);
    assert_false(pr->observability_mode);

    /* NONE is proto3's default: the field is absent on the wire and decodes as 0. */
    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_encode_request_headers_mode(
                         &f->out, &f->pool, &req, 1, IG_EXTPROC_MODE_FULL_DUPLEX_STREAMED, IG_EXTPROC_MODE_NONE, NULL),
                     0);
    assert_true(contains(unframe(&f->out), "\x5a\x02\x08\x04", 4));
    assert_int_equal(ig_extproc_decode_request(&f->pool, unframe(&f->out), &pr), 0);
    assert_non_null(pr->protocol_config);
    assert_int_equal(pr->protocol_config->response_body_mode, IG_EXTPROC_MODE_NONE);

    ig_http_response_t resp = {.status = 200};
    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_encode_response_headers_ex(&f->out, &f->pool, &resp, 0, IG_STRLIT("10.0.0.1:80"),
                                                           IG_EXTPROC_F_OBSERVE),
                     0);
    /* observability_mode (10, varint) = true */
    assert_true(contains(unframe(&f->out), "\x50\x01", 2));
    assert_int_equal(ig_extproc_decode_request(&f->pool, unframe(&f->out), &pr), 0);
    assert_true(pr->observability_mode);
    assert_int_equal(pr->request_case, ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_HEADERS);

    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_encode_response_body_ex(&f->out, &f->pool, "data: x\n\n", 9, 1, IG_EXTPROC_F_OBSERVE),
                     0);
    assert_int_equal(ig_extproc_decode_request(&f->pool, unframe(&f->out), &pr), 0);
    assert_true(pr->observability_mode);
    assert_true(pr->response_body->end_of_stream);
    assert_int_equal(pr->response_body->body.len, 9);

    ig_http_headers_t tr = {0};
    ig_http_headers_add(&f->pool, &tr, IG_STRLIT("Grpc-Status"), IG_STRLIT("0"));
    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_encode_response_trailers_ex(&f->out, &f->pool, &tr, IG_EXTPROC_F_OBSERVE), 0);
    assert_int_equal(ig_extproc_decode_request(&f->pool, unframe(&f->out), &pr), 0);
    assert_true(pr->observability_mode);
    assert_string_equal(pr->response_trailers->trailers->headers[0]->key, "grpc-status");

    /* Without the flag nothing changes on the wire: the old encoders are the flag-less variants. */
    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_encode_response_body_ex(&f->out, &f->pool, "x", 1, 0, 0), 0);
    size_t n = f->out.len;
    char copy[64];
    memcpy(copy, ig_buf_data(&f->out), n);
    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_encode_response_body(&f->out, &f->pool, "x", 1, 0), 0);
    assert_int_equal(f->out.len, n);
    assert_memory_equal(ig_buf_data(&f->out), copy, n);
    assert_false(contains(unframe(&f->out), "\x50\x01", 2));
}

/* The encoder's bytes equal a ProcessingRequest assembled by hand from the field numbers. */
static void test_request_wire_bytes(void **state)
{
    struct fx *f = *state;
    ig_buf_t want, a, b;
    ig_buf_init(&want, 0);
    ig_buf_init(&a, 0);
    ig_buf_init(&b, 0);

    /* request_body (4) = HttpBody{body (1) = "hi", end_of_stream (2) = true} */
    assert_int_equal(ig_extproc_encode_request_body(&f->out, &f->pool, "hi", 2, 1, NULL), 0);
    ig_iov_t got = unframe(&f->out);
    assert_int_equal(got.len, 8);
    assert_memory_equal(got.base, "\x22\x06\x0a\x02hi\x10\x01", 8);

    /* An empty final chunk: HttpBody{end_of_stream = true} only. */
    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_encode_request_body(&f->out, &f->pool, NULL, 0, 1, NULL), 0);
    got = unframe(&f->out);
    assert_int_equal(got.len, 4);
    assert_memory_equal(got.base, "\x22\x02\x10\x01", 4);

    /* response_body (5) without eos. */
    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_encode_response_body(&f->out, &f->pool, "data: x\n\n", 9, 0), 0);
    got = unframe(&f->out);
    assert_memory_equal(got.base,
                        "\x2a\x0b\x0a\x09"
                        "data: x\n\n",
                        13);

    /*
     * response_headers (3) = HttpHeaders{headers (1) = HeaderMap{headers (1) = {":status", "503"},
     * {"x-a", "b"}}}, metadata_context (8) = Metadata{filter_metadata (1) = {"envoy.lb":
     * Struct{fields (1) = {"x-gateway-destination-endpoint-served": Value{string_value (3)}}}}}
     */
    ig_http_response_t resp;
    memset(&resp, 0, sizeof(resp));
    resp.status = 503;
    ig_http_headers_add(&f->pool, &resp.headers, IG_STRLIT("X-A"), IG_STRLIT("b"));
    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_encode_response_headers(&f->out, &f->pool, &resp, 0, IG_STRLIT("10.0.0.7:8000")), 0);
    got = unframe(&f->out);

    put_header(&a, 1, ":status", "503");
    put_header(&a, 1, "x-a", "b");
    put_msg(&b, 1, &a);    /* HttpHeaders.headers */
    put_msg(&want, 3, &b); /* ProcessingRequest.response_headers */
    put_str(&a, 3, "10.0.0.7:8000");
    put_str(&b, 1, "x-gateway-destination-endpoint-served");
    put_msg(&b, 2, &a); /* entry value: Value */
    put_msg(&a, 1, &b); /* Struct.fields entry */
    put_str(&b, 1, "envoy.lb");
    put_msg(&b, 2, &a);    /* filter_metadata entry value: Struct */
    put_msg(&a, 1, &b);    /* Metadata.filter_metadata entry */
    put_msg(&want, 8, &a); /* ProcessingRequest.metadata_context */
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.base, ig_buf_data(&want), want.len);

    /* request_trailers (6) = HttpTrailers{trailers (1) = HeaderMap{{"x-t", "1"}}} */
    ig_http_headers_t tr = {0};
    ig_http_headers_add(&f->pool, &tr, IG_STRLIT("X-T"), IG_STRLIT("1"));
    ig_buf_reset(&f->out);
    ig_buf_reset(&want);
    assert_int_equal(ig_extproc_encode_request_trailers(&f->out, &f->pool, &tr, NULL), 0);
    put_header(&a, 1, "x-t", "1");
    put_msg(&b, 1, &a);
    put_msg(&want, 6, &b);
    got = unframe(&f->out);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.base, ig_buf_data(&want), want.len);

    ig_buf_dispose(&want);
    ig_buf_dispose(&a);
    ig_buf_dispose(&b);
}

static void test_request_round_trip(void **state)
{
    struct fx *f = *state;
    Envoy__Service__ExtProc__V3__ProcessingRequest *pr;
    ig_iov_t subset_v[] = {IG_STRLIT("10.0.0.9:8000")};
    struct ig_extproc_subset subset = {subset_v, 1};

    /* Request body chunks repeat the subset hint. */
    assert_int_equal(ig_extproc_encode_request_body(&f->out, &f->pool, "{\"model\":", 9, 0, &subset), 0);
    assert_int_equal(ig_extproc_decode_request(&f->pool, unframe(&f->out), &pr), 0);
    assert_int_equal(pr->request_case, ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_REQUEST_BODY);
    assert_int_equal(pr->request_body->body.len, 9);
    assert_false(pr->request_body->end_of_stream);
    ig_iov_t v = ig_extproc_struct_string(ig_extproc_metadata_ns(pr->metadata_context, IG_STRLIT(IG_EXTPROC_NS_SUBSET)),
                                          IG_IOV_NULL, IG_STRLIT(IG_EXTPROC_KEY_SUBSET));
    assert_int_equal(v.len, 0); /* a list, not a string */
    assert_non_null(ig_extproc_metadata_ns(pr->metadata_context, IG_STRLIT(IG_EXTPROC_NS_SUBSET)));

    /* An empty subset list is still sent (it means "no eligible endpoint"). */
    struct ig_extproc_subset empty = {NULL, 0};
    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_encode_request_body(&f->out, &f->pool, NULL, 0, 1, &empty), 0);
    assert_int_equal(ig_extproc_decode_request(&f->pool, unframe(&f->out), &pr), 0);
    const Google__Protobuf__Value *lv =
        ig_extproc_struct_get(ig_extproc_metadata_ns(pr->metadata_context, IG_STRLIT(IG_EXTPROC_NS_SUBSET)),
                              IG_STRLIT(IG_EXTPROC_KEY_SUBSET));
    assert_non_null(lv);
    assert_int_equal(lv->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE);
    assert_int_equal(lv->list_value->n_values, 0);

    /* Response headers: :status and the served endpoint string. */
    ig_http_response_t resp;
    memset(&resp, 0, sizeof(resp));
    resp.status = 200;
    ig_http_headers_add(&f->pool, &resp.headers, IG_STRLIT("content-type"), IG_STRLIT("text/event-stream"));
    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_encode_response_headers(&f->out, &f->pool, &resp, 1, IG_STRLIT("[fd00::7]:8000")), 0);
    assert_int_equal(ig_extproc_decode_request(&f->pool, unframe(&f->out), &pr), 0);
    assert_int_equal(pr->request_case, ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_HEADERS);
    assert_true(pr->response_headers->end_of_stream);
    assert_raw(pr->response_headers->headers, ":status", "200");
    assert_raw(pr->response_headers->headers, "content-type", "text/event-stream");
    v = ig_extproc_struct_string(ig_extproc_metadata_ns(pr->metadata_context, IG_STRLIT(IG_EXTPROC_NS_LB)), IG_IOV_NULL,
                                 IG_STRLIT(IG_EXTPROC_KEY_SERVED));
    assert_int_equal(v.len, strlen("[fd00::7]:8000"));
    assert_memory_equal(v.base, "[fd00::7]:8000", v.len);

    /* No served endpoint: no metadata at all. */
    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_encode_response_headers(&f->out, &f->pool, &resp, 0, IG_IOV_NULL), 0);
    assert_int_equal(ig_extproc_decode_request(&f->pool, unframe(&f->out), &pr), 0);
    assert_null(pr->metadata_context);

    /* Response trailers (also with none) and body. */
    ig_http_headers_t tr = {0};
    ig_http_headers_add(&f->pool, &tr, IG_STRLIT("grpc-status"), IG_STRLIT("0"));
    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_encode_response_trailers(&f->out, &f->pool, &tr), 0);
    assert_int_equal(ig_extproc_decode_request(&f->pool, unframe(&f->out), &pr), 0);
    assert_int_equal(pr->request_case, ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_TRAILERS);
    assert_raw(pr->response_trailers->trailers, "grpc-status", "0");
    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_encode_response_trailers(&f->out, &f->pool, NULL), 0);
    assert_int_equal(ig_extproc_decode_request(&f->pool, unframe(&f->out), &pr), 0);
    assert_int_equal(pr->request_case, ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_TRAILERS);

    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_encode_response_body(&f->out, &f->pool, "", 0, 1), 0);
    assert_int_equal(ig_extproc_decode_request(&f->pool, unframe(&f->out), &pr), 0);
    assert_int_equal(pr->request_case, ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_BODY);
    assert_true(pr->response_body->end_of_stream);
}

static void test_encode_cap(void **state)
{
    struct fx *f = *state;
    ig_buf_t small;
    ig_buf_init(&small, 8);
    char body[64] = {0};
    assert_int_equal(ig_extproc_encode_request_body(&small, &f->pool, body, sizeof(body), 1, NULL), IG_ETOOBIG);
    assert_int_equal(small.len, 0);
    ig_buf_dispose(&small);
}

/* ---- response direction ---------------------------------------------------------------------- */

/* The pick exactly as the protocol reference shows it, assembled by hand. */
static void test_decode_pick_by_hand(void **state)
{
    struct fx *f = *state;
    /* The reference's worked example: ProcessingResponse.dynamic_metadata, 69 bytes. */
    static const char dyn[] = "\x42\x43"
                              "\x0a\x41"
                              "\x0a\x08"
                              "envoy.lb"
                              "\x12\x35"
                              "\x2a\x33"
                              "\x0a\x31"
                              "\x0a\x1e"
                              "x-gateway-destination-endpoint"
                              "\x12\x0f\x1a\x0d"
                              "10.0.0.7:8000";
    assert_int_equal(sizeof(dyn) - 1, 69);

    ig_buf_t msg, a, b, c;
    ig_buf_init(&msg, 0);
    ig_buf_init(&a, 0);
    ig_buf_init(&b, 0);
    ig_buf_init(&c, 0);
    /* HeaderMutation.set_headers (1): HeaderValueOption{header (1)} x2, one with value (2) not raw_value. */
    put_header(&b, 1, "x-gateway-destination-endpoint", "10.0.0.7:8000,[fd00::7]:8000");
    put_msg(&a, 1, &b);
    put_str(&c, 1, "content-length");
    put_str(&c, 2, "42");
    put_msg(&b, 1, &c);
    put_msg(&a, 1, &b);
    /* An entry with append (2) = BoolValue{true}, one with append_action (3) = ADD_IF_ABSENT. */
    put_header(&b, 1, "x-appended", "1");
    put_uint(&c, 1, 1);
    put_msg(&b, 2, &c);
    put_msg(&a, 1, &b);
    put_header(&b, 1, "x-if-absent", "2");
    put_uint(&b, 3, 1);
    put_uint(&b, 4, 1); /* keep_empty_value */
    put_msg(&a, 1, &b);
    put_str(&a, 2, "x-drop-me"); /* remove_headers */
    put_msg(&b, 2, &a);          /* CommonResponse.header_mutation */
    put_uint(&b, 5, 1);          /* CommonResponse.clear_route_cache */
    put_msg(&a, 1, &b);          /* HeadersResponse.response */
    put_msg(&msg, 1, &a);        /* ProcessingResponse.request_headers */
    assert_int_equal(ig_buf_append(&msg, dyn, sizeof(dyn) - 1), 0);

    struct ig_extproc_response r;
    assert_int_equal(ig_extproc_decode_response(&f->pool, ig_iov(ig_buf_data(&msg), msg.len), &r), 0);
    assert_int_equal(r.kind, IG_EXTPROC_REQUEST_HEADERS);
    assert_string_equal(ig_extproc_kind_name(r.kind), "request_headers");
    assert_true(r.clear_route_cache);
    assert_int_equal(r.common_status, 0);
    assert_int_equal(r.headers.n_set, 4);
    assert_true(ig_iov_eq(r.headers.set[0].name, IG_STRLIT("x-gateway-destination-endpoint")));
    assert_int_equal(r.headers.set[0].action, IG_EXTPROC_OVERWRITE_IF_EXISTS_OR_ADD);
    assert_true(ig_iov_eq(r.headers.set[1].value, IG_STRLIT("42"))); /* from value, not raw_value */
    assert_int_equal(r.headers.set[2].action, IG_EXTPROC_APPEND_IF_EXISTS_OR_ADD);
    assert_int_equal(r.headers.set[3].action, IG_EXTPROC_ADD_IF_ABSENT);
    assert_true(r.headers.set[3].keep_empty_value);
    assert_false(r.headers.set[0].keep_empty_value);
    assert_int_equal(r.headers.n_remove, 1);
    assert_true(ig_iov_eq(r.headers.remove[0], IG_STRLIT("x-drop-me")));
    assert_true(ig_iov_eq(r.dest_header, IG_STRLIT("10.0.0.7:8000,[fd00::7]:8000")));
    assert_true(ig_iov_eq(r.dest_metadata, IG_STRLIT("10.0.0.7:8000")));
    assert_true(ig_iov_eq(ig_extproc_destination(&r), r.dest_header));
    assert_int_equal(r.body_kind, IG_EXTPROC_BODY_NONE);

    /* Only the dynamic metadata: the destination falls back to it. */
    assert_int_equal(ig_extproc_decode_response(&f->pool, ig_iov(dyn, sizeof(dyn) - 1), &r), 0);
    assert_int_equal(r.kind, IG_EXTPROC_NONE);
    assert_int_equal(r.dest_header.len, 0);
    assert_true(ig_iov_eq(ig_extproc_destination(&r), IG_STRLIT("10.0.0.7:8000")));
    assert_non_null(r.dynamic_metadata);

    ig_buf_dispose(&msg);
    ig_buf_dispose(&a);
    ig_buf_dispose(&b);
    ig_buf_dispose(&c);
}

/* Streamed body chunks and an ImmediateResponse, by hand. */
static void test_decode_body_and_immediate_by_hand(void **state)
{
    struct fx *f = *state;
    struct ig_extproc_response r;

    /* request_body (3) = BodyResponse{response (1) = CommonResponse{body_mutation (3) =
     * BodyMutation{streamed_response (3) = {body (1) = "{}", end_of_stream (2) = true}}}} */
    static const char streamed[] = "\x1a\x0c\x0a\x0a\x1a\x08\x1a\x06\x0a\x02{}\x10\x01";
    assert_int_equal(ig_extproc_decode_response(&f->pool, ig_iov(streamed, sizeof(streamed) - 1), &r), 0);
    assert_int_equal(r.kind, IG_EXTPROC_REQUEST_BODY);
    assert_int_equal(r.body_kind, IG_EXTPROC_BODY_STREAMED);
    assert_true(ig_iov_eq(r.body, IG_STRLIT("{}")));
    assert_true(r.body_eos);

    /* An empty BodyResponse (lwepp): no mutation at all. */
    assert_int_equal(ig_extproc_decode_response(&f->pool, ig_iov("\x1a\x02\x0a\x00", 4), &r), 0);
    assert_int_equal(r.kind, IG_EXTPROC_REQUEST_BODY);
    assert_int_equal(r.body_kind, IG_EXTPROC_BODY_NONE);
    /* Same without even the CommonResponse, and for the response direction (4). */
    assert_int_equal(ig_extproc_decode_response(&f->pool, ig_iov("\x22\x00", 2), &r), 0);
    assert_int_equal(r.kind, IG_EXTPROC_RESPONSE_BODY);
    assert_int_equal(r.body_kind, IG_EXTPROC_BODY_NONE);

    /* response_trailers (6) = TrailersResponse{} */
    assert_int_equal(ig_extproc_decode_response(&f->pool, ig_iov("\x32\x00", 2), &r), 0);
    assert_int_equal(r.kind, IG_EXTPROC_RESPONSE_TRAILERS);

    /* immediate_response (7) = {status (1) = HttpStatus{code = 429}, headers (2) = {set x-r: 1},
     * body (3) = "inference error: ...", grpc_status (4) = {status = 8}, details (5) = "shed"} */
    ig_buf_t msg, a, b;
    ig_buf_init(&msg, 0);
    ig_buf_init(&a, 0);
    ig_buf_init(&b, 0);
    put_uint(&b, 1, 429);
    put_msg(&a, 1, &b);
    ig_buf_t c;
    ig_buf_init(&c, 0);
    put_header(&c, 1, "x-r", "1");
    put_msg(&b, 1, &c);
    put_msg(&a, 2, &b);
    put_str(&a, 3, "inference error: ResourceExhausted - system saturated");
    put_uint(&b, 1, 8);
    put_msg(&a, 4, &b);
    put_str(&a, 5, "shed");
    put_msg(&msg, 7, &a);
    assert_int_equal(ig_extproc_decode_response(&f->pool, ig_iov(ig_buf_data(&msg), msg.len), &r), 0);
    assert_int_equal(r.kind, IG_EXTPROC_IMMEDIATE);
    assert_int_equal(r.immediate.status, 429);
    assert_int_equal(r.immediate.headers.n_set, 1);
    assert_true(ig_iov_eq(r.immediate.headers.set[0].name, IG_STRLIT("x-r")));
    assert_true(ig_iov_eq(r.immediate.body, IG_STRLIT("inference error: ResourceExhausted - system saturated")));
    assert_true(r.immediate.has_grpc_status);
    assert_int_equal(r.immediate.grpc_status, IG_GRPC_RESOURCE_EXHAUSTED);
    assert_true(ig_iov_eq(r.immediate.details, IG_STRLIT("shed")));

    /* An ImmediateResponse without status: 0, for the caller to map. */
    assert_int_equal(ig_extproc_decode_response(&f->pool, ig_iov("\x3a\x00", 2), &r), 0);
    assert_int_equal(r.kind, IG_EXTPROC_IMMEDIATE);
    assert_int_equal(r.immediate.status, 0);
    assert_false(r.immediate.has_grpc_status);

    ig_buf_dispose(&msg);
    ig_buf_dispose(&a);
    ig_buf_dispose(&b);
    ig_buf_dispose(&c);
}

/* Responses built with protobuf-c, framed with ig_extproc_pack, decoded back. */
static void test_response_round_trip(void **state)
{
    struct fx *f = *state;
    struct ig_extproc_response r;
    Envoy__Service__ExtProc__V3__ProcessingResponse pr;
    Envoy__Service__ExtProc__V3__BodyResponse br;
    Envoy__Service__ExtProc__V3__CommonResponse cr;
    Envoy__Service__ExtProc__V3__BodyMutation bm;
    Envoy__Service__ExtProc__V3__StreamedBodyResponse sb;

    envoy__service__ext_proc__v3__processing_response__init(&pr);
    envoy__service__ext_proc__v3__body_response__init(&br);
    envoy__service__ext_proc__v3__common_response__init(&cr);
    envoy__service__ext_proc__v3__body_mutation__init(&bm);
    envoy__service__ext_proc__v3__streamed_body_response__init(&sb);
    sb.body.data = (uint8_t *)"data: {}\n\n";
    sb.body.len = 10;
    sb.end_of_stream = 0;
    bm.mutation_case = ENVOY__SERVICE__EXT_PROC__V3__BODY_MUTATION__MUTATION_STREAMED_RESPONSE;
    bm.streamed_response = &sb;
    cr.body_mutation = &bm;
    br.response = &cr;
    pr.response_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_RESPONSE_BODY;
    pr.response_body = &br;
    assert_int_equal(ig_extproc_pack(&f->out, &pr.base), 0);
    assert_int_equal(ig_extproc_decode_response(&f->pool, unframe(&f->out), &r), 0);
    assert_int_equal(r.kind, IG_EXTPROC_RESPONSE_BODY);
    assert_int_equal(r.body_kind, IG_EXTPROC_BODY_STREAMED);
    assert_true(ig_iov_eq(r.body, IG_STRLIT("data: {}\n\n")));
    assert_false(r.body_eos);
    assert_false(r.msg->response_body->response->body_mutation->streamed_response->end_of_stream);

    /* Whole-body replacement and clear_body. */
    bm.mutation_case = ENVOY__SERVICE__EXT_PROC__V3__BODY_MUTATION__MUTATION_BODY;
    bm.body.data = (uint8_t *)"new";
    bm.body.len = 3;
    pr.response_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_REQUEST_BODY;
    pr.request_body = &br;
    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_pack(&f->out, &pr.base), 0);
    assert_int_equal(ig_extproc_decode_response(&f->pool, unframe(&f->out), &r), 0);
    assert_int_equal(r.kind, IG_EXTPROC_REQUEST_BODY);
    assert_int_equal(r.body_kind, IG_EXTPROC_BODY_REPLACE);
    assert_true(ig_iov_eq(r.body, IG_STRLIT("new")));

    bm.mutation_case = ENVOY__SERVICE__EXT_PROC__V3__BODY_MUTATION__MUTATION_CLEAR_BODY;
    bm.clear_body = 1;
    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_pack(&f->out, &pr.base), 0);
    assert_int_equal(ig_extproc_decode_response(&f->pool, unframe(&f->out), &r), 0);
    assert_int_equal(r.body_kind, IG_EXTPROC_BODY_CLEAR);

    /* Response headers with a mutation using the deprecated append = false and OVERWRITE_IF_EXISTS. */
    Envoy__Service__ExtProc__V3__HeadersResponse hr;
    Envoy__Service__ExtProc__V3__HeaderMutation hm;
    Envoy__Config__Core__V3__HeaderValueOption o[2], *op[2] = {&o[0], &o[1]};
    Envoy__Config__Core__V3__HeaderValue hv[2];
    Google__Protobuf__BoolValue no;
    char *rm[] = {"server"};
    envoy__service__ext_proc__v3__headers_response__init(&hr);
    envoy__service__ext_proc__v3__common_response__init(&cr);
    envoy__service__ext_proc__v3__header_mutation__init(&hm);
    google__protobuf__bool_value__init(&no);
    for (int i = 0; i < 2; i++) {
        envoy__config__core__v3__header_value_option__init(&o[i]);
        envoy__config__core__v3__header_value__init(&hv[i]);
        o[i].header = &hv[i];
    }
    hv[0].key = "x-went-into-resp-headers";
    hv[0].value = "true";
    o[0].append = &no;
    hv[1].key = "x-only-if-there";
    hv[1].raw_value.data = (uint8_t *)"v";
    hv[1].raw_value.len = 1;
    o[1].append_action = ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS;
    hm.n_set_headers = 2;
    hm.set_headers = op;
    hm.n_remove_headers = 1;
    hm.remove_headers = rm;
    cr.header_mutation = &hm;
    cr.status = ENVOY__SERVICE__EXT_PROC__V3__COMMON_RESPONSE__RESPONSE_STATUS__CONTINUE_AND_REPLACE;
    hr.response = &cr;
    envoy__service__ext_proc__v3__processing_response__init(&pr);
    pr.response_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_RESPONSE_HEADERS;
    pr.response_headers = &hr;
    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_pack(&f->out, &pr.base), 0);
    assert_int_equal(ig_extproc_decode_response(&f->pool, unframe(&f->out), &r), 0);
    assert_int_equal(r.kind, IG_EXTPROC_RESPONSE_HEADERS);
    assert_int_equal(r.common_status, 1);
    assert_int_equal(r.headers.n_set, 2);
    assert_true(ig_iov_eq(r.headers.set[0].value, IG_STRLIT("true")));
    assert_int_equal(r.headers.set[0].action, IG_EXTPROC_OVERWRITE_IF_EXISTS_OR_ADD);
    assert_true(ig_iov_eq(r.headers.set[1].value, IG_STRLIT("v")));
    assert_int_equal(r.headers.set[1].action, IG_EXTPROC_OVERWRITE_IF_EXISTS);
    assert_int_equal(r.headers.n_remove, 1);
    assert_true(ig_iov_eq(r.headers.remove[0], IG_STRLIT("server")));
    assert_int_equal(r.dest_header.len, 0);
    assert_int_equal(r.dest_metadata.len, 0);
    assert_int_equal(ig_extproc_destination(&r).len, 0);

    /* Trailers response carrying a mutation. */
    Envoy__Service__ExtProc__V3__TrailersResponse trr;
    envoy__service__ext_proc__v3__trailers_response__init(&trr);
    trr.header_mutation = &hm;
    envoy__service__ext_proc__v3__processing_response__init(&pr);
    pr.response_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_REQUEST_TRAILERS;
    pr.request_trailers = &trr;
    ig_buf_reset(&f->out);
    assert_int_equal(ig_extproc_pack(&f->out, &pr.base), 0);
    assert_int_equal(ig_extproc_decode_response(&f->pool, unframe(&f->out), &r), 0);
    assert_int_equal(r.kind, IG_EXTPROC_REQUEST_TRAILERS);
    assert_int_equal(r.headers.n_set, 2);
    assert_int_equal(r.headers.n_remove, 1);
}

static void test_decode_invalid(void **state)
{
    struct fx *f = *state;
    struct ig_extproc_response r;
    Envoy__Service__ExtProc__V3__ProcessingRequest *pr;
    /* Truncated length-delimited field, bad wire type, varint running off the end. */
    assert_int_equal(ig_extproc_decode_response(&f->pool, ig_iov("\x0a\x05\x0a", 3), &r), IG_EPROTO);
    assert_int_equal(ig_extproc_decode_response(&f->pool, ig_iov("\x0f", 1), &r), IG_EPROTO);
    assert_int_equal(ig_extproc_decode_response(&f->pool, ig_iov("\x08\xff\xff", 3), &r), IG_EPROTO);
    assert_int_equal(ig_extproc_decode_request(&f->pool, ig_iov("\x12\x01", 2), &pr), IG_EPROTO);
    /* The empty message is valid: nothing set. */
    assert_int_equal(ig_extproc_decode_response(&f->pool, IG_IOV_NULL, &r), 0);
    assert_int_equal(r.kind, IG_EXTPROC_NONE);
    /* Unknown fields (a newer peer) are skipped. */
    assert_int_equal(ig_extproc_decode_response(&f->pool, ig_iov("\xa8\x06\x01\x22\x00", 5), &r), 0);
    assert_int_equal(r.kind, IG_EXTPROC_RESPONSE_BODY);
    /* The destination metadata as a list (not a string) is ignored; as a string it is read. */
    for (int as_list = 1; as_list >= 0; as_list--) {
        ig_buf_t msg, x, y;
        ig_buf_init(&msg, 0);
        ig_buf_init(&x, 0);
        ig_buf_init(&y, 0);
        put_str(&x, 3, "10.0.0.1:800"); /* Value.string_value */
        if (as_list) {
            put_msg(&y, 1, &x); /* ListValue.values */
            put_msg(&x, 6, &y); /* Value.list_value */
        }
        put_str(&y, 1, IG_EXTPROC_KEY_DEST);
        put_msg(&y, 2, &x);
        put_msg(&x, 1, &y); /* Struct.fields */
        put_msg(&y, 5, &x); /* Value.struct_value */
        put_str(&x, 1, IG_EXTPROC_NS_LB);
        put_msg(&x, 2, &y);
        put_msg(&y, 1, &x);   /* Struct.fields */
        put_msg(&msg, 8, &y); /* ProcessingResponse.dynamic_metadata */
        assert_int_equal(ig_extproc_decode_response(&f->pool, ig_iov(ig_buf_data(&msg), msg.len), &r), 0);
        assert_int_equal(r.dest_metadata.len, as_list ? 0 : strlen("10.0.0.1:800"));
        ig_buf_dispose(&msg);
        ig_buf_dispose(&x);
        ig_buf_dispose(&y);
    }
}

/* ---- endpoint lists -------------------------------------------------------------------------- */

static void test_endpoints(void **state)
{
    (void)state;
    struct ig_extproc_endpoint ep[8];
    size_t n = ig_extproc_parse_endpoints(IG_STRLIT("10.0.0.7:8000"), ep, 8);
    assert_int_equal(n, 1);
    assert_string_equal(ep[0].text, "10.0.0.7:8000");
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)&ep[0].addr;
    assert_int_equal(a4->sin_family, AF_INET);
    assert_int_equal(ntohs(a4->sin_port), 8000);
    assert_int_equal(ntohl(a4->sin_addr.s_addr), 0x0a000007);
    assert_int_equal(ep[0].addr_len, sizeof(struct sockaddr_in));

    n = ig_extproc_parse_endpoints(
        IG_STRLIT(" 10.0.0.7:8000 ,[fd00::7]:8001,bad,1.2.3.4:0,1.2.3.4:65536,::1:80,1.2.3.4,[::1]8,"
                  "[::1]:,:80,1.2.3.4:+8,1.2.3.256:1,,  ,10.0.0.8:65535"),
        ep, 8);
    assert_int_equal(n, 3);
    assert_string_equal(ep[0].text, "10.0.0.7:8000");
    assert_string_equal(ep[1].text, "[fd00::7]:8001");
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&ep[1].addr;
    assert_int_equal(a6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(a6->sin6_port), 8001);
    assert_int_equal(a6->sin6_addr.s6_addr[0], 0xfd);
    assert_int_equal(a6->sin6_addr.s6_addr[15], 7);
    assert_string_equal(ep[2].text, "10.0.0.8:65535");

    /* |max| bounds the output; nothing valid gives 0. */
    assert_int_equal(ig_extproc_parse_endpoints(IG_STRLIT("1.1.1.1:1,2.2.2.2:2,3.3.3.3:3"), ep, 2), 2);
    assert_string_equal(ep[1].text, "2.2.2.2:2");
    assert_int_equal(ig_extproc_parse_endpoints(IG_STRLIT(""), ep, 8), 0);
    assert_int_equal(ig_extproc_parse_endpoints(IG_STRLIT(",,,"), ep, 8), 0);
    assert_int_equal(ig_extproc_parse_endpoints(IG_STRLIT("1.1.1.1:1"), ep, 0), 0);
    /* Longer than any address text: skipped without overflow. */
    assert_int_equal(
        ig_extproc_parse_endpoints(IG_STRLIT("[0000:0000:0000:0000:0000:ffff:255.255.255.255]:65535123456789"), ep, 8),
        0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_wire_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_modes_and_observability, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encode_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_pick_by_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_body_and_immediate_by_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_invalid, setup, teardown),
        cmocka_unit_test(test_endpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
