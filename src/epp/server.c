/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Endpoint Picker's ext_proc service: one Process stream per HTTP request, in Envoy's
 * FULL_DUPLEX_STREAMED mode. The request headers are remembered (control headers, the subset
 * hint); the body is buffered until its end, read with the OpenAI reader, admitted and scheduled;
 * then the headers answer carries the pick (header and envoy.lb metadata) and the body goes back in
 * streamed chunks of at most 62000 bytes. Response headers, SSE body chunks and trailers are
 * answered as they come, and the usage they report feeds the request metrics. Failures become an
 * ImmediateResponse with the reference's status codes and "inference error: <Code> - <msg>" text.
 *
 * A gateway may keep us out of the response's data path (infergate's responseMode): response
 * messages marked observability_mode are read for usage and completion but never answered, and a
 * protocol_config with response body mode NONE means no body is coming, so the end of the call
 * (the gateway's half-close) completes the request instead of a body end_of_stream.
 *
 * Everything runs on the EPP's loop thread. Per-stream state lives in the stream's arena; decoded
 * messages go to a scratch arena cleared after each message, so a long SSE response does not grow
 * memory. The stream holds its datastore snapshot until it ends, which keeps the picked endpoint
 * alive for ig_sched_request_done.
 */
#include <stdio.h>

#include "envoy/service/ext_proc/v3/external_processor.pb-c.h"
#include "epp_int.h"
#include "ig/extproc.h"
#include "ig/grpc.h"

typedef Envoy__Service__ExtProc__V3__ProcessingRequest preq_t;
typedef Envoy__Service__ExtProc__V3__ProcessingResponse presp_t;
typedef Envoy__Service__ExtProc__V3__CommonResponse common_t;
typedef Envoy__Service__ExtProc__V3__HeaderMutation mutation_t;
typedef Envoy__Config__Core__V3__HeaderValueOption hvo_t;
typedef Envoy__Config__Core__V3__HeaderValue hv_t;

/* Envoy's buffers are 64 KiB; the reference keeps each streamed chunk under it. */
#define BODY_CHUNK       62000u
#define DEFAULT_MAX_BODY (64u << 20)
#define MAX_HEADER_VALUE 4096u
#define USAGE_BUFFER_MAX (1u << 20) /* non-streamed response bodies kept for their usage */
#define MAX_SERIES       4096u      /* label sets per request-metric family (client-chosen model names) */
#define NELEM(a)         (sizeof(a) / sizeof((a)[0]))

/* inference_extension_info labels; a release build may define them from its tag and commit. */
#ifndef IG_EPP_BUILD_REF
#define IG_EPP_BUILD_REF "v0.1.0"
#endif
#ifndef IG_EPP_COMMIT
#define IG_EPP_COMMIT "unknown"
#endif

/* ---- request metrics --------------------------------------------------------------------------- */

enum { F_REQ, F_ERR, F_DUR, F_RUN, F_IN, F_OUT, F_REQ_SIZE, F_RESP_SIZE, F_REWRITE, F_ATTEMPT, F_COUNT };

struct series {
    char *key; /* family byte, then the label values separated by \x1f */
    void *s;
};

static const double duration_bounds[] = {0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8,  1.0,  1.25, 1.5, 2,
                                         3,     4,     5,    6,   8,   10,  15,  20,   30,   45,   60,  120,
                                         180,   240,   300,  360, 480, 600, 900, 1200, 1800, 2700, 3600};
static const double token_bounds[] = {1,    8,    16,    32,    64,    128,    256,    512,    1024,   2048,
                                      4096, 8192, 16384, 32778, 65536, 131072, 262144, 524288, 1048576};
static const double req_size_bounds[] = {64,        128,       256,       512,       1024,     2048,     4096,
                                         8192,      16384,     32768,     65536,     131072,   262144,   524288,
                                         1048576,   2097152,   4194304,   8388608,   16777216, 33554432, 67108864,
                                         134217728, 268435456, 536870912, 1073741824};
static const double resp_size_bounds[] = {1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32778, 65536};
/* The reference's 100 us .. 100 ms, plus microsecond steps: a cycle here takes a few microseconds. */
static const double e2e_bounds[] = {1e-6,   2e-6,  5e-6,  1e-5,  2e-5, 5e-5, 0.0001, 0.0002,
                                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,   0.1};

static const double hit_ratio_bounds[] = {0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1};
static const double hit_bytes_bounds[] = {0, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304};

struct plugin_hist {
    const char *name; /* the scheduler's string: compared by address */
    enum ig_sched_ext_point point;
    struct ig_histogram *h;
};

struct ig_epp_server {
    struct ig_epp_server_config cfg;
    struct ig_grpc_method method;
    uint64_t rng;
    size_t streams;
    ig_buf_t pack; /* one packed ProcessingResponse at a time (sends copy it) */
    ig_buf_t rw;   /* a response chunk with the model name written back */
    /* metrics */
    struct series *series;
    size_t nseries, capseries;
    int series_full_logged;
    struct ig_histogram *e2e;
    struct ig_histogram *hit_ratio, *hit_bytes; /* prefix-cache match of the primary pick */
    struct plugin_hist *phist; /* inference_extension_plugin_duration_seconds, one per plugin run point */
    size_t nphist;
};

static const char *cstr_or(const char *s, const char *dflt)
{
    return s != NULL ? s : dflt;
}

static uint64_t next_rand(ig_epp_server_t *es)
{
    /* xorshift64*: the header-only pick needs uniformity, not secrecy. */
    uint64_t x = es->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    es->rng = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

static void *series_get(ig_epp_server_t *es, int fam, const char *model, const char *target, const char *extra)
{
    char key[600];
    int n = snprintf(key, sizeof(key), "%c%s\x1f%s\x1f%s", 'a' + fam, model, target, extra != NULL ? extra : "");
    if (es->cfg.metrics == NULL || n < 0 || (size_t)n >= sizeof(key))
        return NULL;
    for (size_t i = 0; i < es->nseries; i++)
        if (strcmp(es->series[i].key, key) == 0)
            return es->series[i].s;
    if (es->nseries >= MAX_SERIES) {
        if (!es->series_full_logged)
            ig_log_warn("epp", "request metrics: more than %u label sets, new models are not recorded", MAX_SERIES);
        es->series_full_logged = 1;
        return NULL;
    }
    struct ig_metric_label l[5] = {{"model_name", model}, {"target_model_name", target}, {NULL, extra}};
    void *s = NULL;
    ig_metrics_t *m = es->cfg.metrics;
    switch (fam) {
    case F_REQ:
        l[2].name = "priority";
        s = ig_metrics_counter(m, "inference_objective_request_total",
                               "[ALPHA] Counter of inference objective requests broken out for each model and target "
                               "model.",
                               l, 3);
        break;
    case F_ERR:
        l[2].name = "error_code";
        s = ig_metrics_counter(m, "inference_objective_request_error_total",
                               "[ALPHA] Counter of inference objective requests errors broken out for each model and "
                               "target model.",
                               l, 3);
        break;
    case F_DUR:
        s = ig_metrics_histogram(m, "inference_objective_request_duration_seconds",
                                 "[ALPHA] Inference objective response latency distribution in seconds for each "
                                 "model and target model.",
                                 duration_bounds, NELEM(duration_bounds), l, 2);
        break;
    case F_RUN:
        s = ig_metrics_gauge(m, "inference_objective_running_requests",
                             "[ALPHA] Inference objective number of running requests in each model.", l, 1);
        break;
    case F_IN:
        s = ig_metrics_histogram(m, "inference_objective_input_tokens",
                                 "[ALPHA] Inference objective input token count distribution for requests in each "
                                 "model.",
                                 token_bounds, NELEM(token_bounds), l, 2);
        break;
    case F_OUT:
        s = ig_metrics_histogram(m, "inference_objective_output_tokens",
                                 "[ALPHA] Inference objective output token count distribution for requests in each "
                                 "model.",
                                 token_bounds, NELEM(token_bounds), l, 2);
        break;
    case F_REQ_SIZE:
        s = ig_metrics_histogram(m, "inference_objective_request_sizes",
                                 "[ALPHA] Inference objective requests size distribution in bytes for each model and "
                                 "target model.",
                                 req_size_bounds, NELEM(req_size_bounds), l, 2);
        break;
    case F_RESP_SIZE:
        s = ig_metrics_histogram(m, "inference_objective_response_sizes",
                                 "[ALPHA] Inference objective responses size distribution in bytes for each model and "
                                 "target model.",
                                 resp_size_bounds, NELEM(resp_size_bounds), l, 2);
        break;
    case F_REWRITE:
        /* model = the rewrite's name, target = "<model>\x1f<target>" split below */
        l[0] = (struct ig_metric_label){"model_rewrite_name", model};
        l[1] = (struct ig_metric_label){"model_name", target};
        l[2] = (struct ig_metric_label){"target_model", extra};
        s = ig_metrics_counter(m, "inference_extension_model_rewrite_decisions_total",
                               "[ALPHA] Total number of model rewrite decisions.", l, 3);
        break;
    case F_ATTEMPT: {
        /* model = status, target = target model, extra = the picked endpoint's address (or "") */
        const char *colon = strrchr(extra, ':');
        l[0] = (struct ig_metric_label){"status", model};
        l[1] = (struct ig_metric_label){"target_model_name", target};
        l[2] = (struct ig_metric_label){"pod_name", extra};
        l[3] = (struct ig_metric_label){"namespace", cstr_or(es->cfg.pool_namespace, "")};
        l[4] = (struct ig_metric_label){"port", colon != NULL ? colon + 1 : ""};
        s = ig_metrics_counter(m, "inference_extension_scheduler_attempts_total",
                               "[ALPHA] Total number of scheduling attempts.", l, 5);
        break;
    }
    default:
        break;
    }
    if (s == NULL)
        return NULL;
    if (es->nseries == es->capseries) {
        es->capseries = es->capseries != 0 ? es->capseries * 2 : 32;
        es->series = ig_realloc(es->series, es->capseries * sizeof(*es->series));
    }
    es->series[es->nseries++] = (struct series){ig_strdup(key), s};
    return s;
}

static int collect_prefix(ig_buf_t *out, void *data)
{
    ig_epp_server_t *es = data;
    if (ig_prom_write_family(out, "inference_extension_prefix_indexer_size", "[ALPHA] Size of the prefix indexer.",
                             IG_METRIC_GAUGE) != 0)
        return IG_ETOOBIG;
    return ig_prom_write_sample(out, "inference_extension_prefix_indexer_size", NULL, 0,
                                (double)ig_sched_prefix_index_size(es->cfg.sched));
}

/* The scheduler's timing hook: one histogram per (extension point, plugin), found by address. */
static void on_plugin_timing(void *arg, enum ig_sched_ext_point point, const char *type, const char *name, uint64_t ns)
{
    ig_epp_server_t *es = arg;
    struct ig_histogram *h = NULL;
    for (size_t i = 0; i < es->nphist && h == NULL; i++)
        if (es->phist[i].name == name && es->phist[i].point == point)
            h = es->phist[i].h;
    if (h == NULL) {
        struct ig_metric_label l[3] = {
            {"extension_point", ig_sched_ext_point_name(point)}, {"plugin_type", type}, {"plugin_name", name}};
        h = ig_metrics_histogram(es->cfg.metrics, "inference_extension_plugin_duration_seconds",
                                 "[ALPHA] Plugin processing latency distribution in seconds for each extension point, "
                                 "plugin type and plugin name.",
                                 e2e_bounds, NELEM(e2e_bounds), l, 3);
        if (h == NULL)
            return;
        es->phist = ig_realloc(es->phist, (es->nphist + 1) * sizeof(*es->phist));
        es->phist[es->nphist++] = (struct plugin_hist){name, point, h};
    }
    ig_histogram_observe(h, (double)ns / 1e9);
}

/* ---- per-stream state -------------------------------------------------------------------------- */

enum req_state {
    RS_HEADERS = 0, /* waiting for request_headers */
    RS_BODY,        /* buffering the request body */
    RS_ANSWERED,    /* the pick went out (the body may still be streaming back) */
    RS_FINISHED,    /* ImmediateResponse or error sent; the call is over for us */
};

struct estream {
    ig_epp_server_t *es;
    ig_grpc_sctx_t *ctx;
    ig_pool_t scratch; /* decoded messages; cleared after each */
    enum req_state state;
    uint64_t start_ns;
    /* request headers (copies in ctx->pool) */
    ig_iov_t path, request_id, objective, rewrite;
    ig_iov_t target_q, model_q;  /* quoted JSON strings when the model was rewritten, else empty */
    struct ig_sched_kv *headers; /* every request header, for header-reading filters */
    size_t nheaders;
    ig_iov_t *subset; /* the hint's entries (ip parts); NULL: no hint */
    size_t nsubset;
    int priority;
    /* body */
    ig_buf_t body;
    size_t out_off;  /* request body bytes streamed back */
    int out_pending; /* body chunks still to send */
    /* the pick */
    struct ig_epp_snapshot *snap;
    struct ig_sched_cycle *cycle;
    int counted; /* pre_request done: request_done owed */
    int running; /* the running-requests gauge was raised */
    char *model, *target;
    /* response */
    int resp_stream; /* SSE */
    int resp_seen;   /* response_headers arrived */
    int resp_done;
    ig_buf_t resp; /* SSE partial line, or a non-streamed body for its usage */
    int64_t in_tokens, out_tokens;
    uint64_t resp_bytes;
};

/* Packs |m| into the server's buffer and sends it on the stream. */
static int send_msg(struct estream *st, const presp_t *m)
{
    ig_buf_t *b = &st->es->pack;
    size_t len = protobuf_c_message_get_packed_size(&m->base);
    ig_buf_reset(b);
    char *p = ig_buf_reserve(b, len != 0 ? len : 1);
    if (p == NULL)
        return IG_ETOOBIG;
    protobuf_c_message_pack(&m->base, (uint8_t *)p);
    int rc = ig_grpc_sctx_send(st->ctx, p, len);
    if (rc != 0 && rc != IG_EAGAIN)
        ig_log_debug("epp", "send: %s", ig_strerror(rc));
    return rc;
}

static void set_header(hvo_t *o, hv_t *v, const char *key, ig_iov_t value)
{
    envoy__config__core__v3__header_value_option__init(o);
    envoy__config__core__v3__header_value__init(v);
    v->key = (char *)key;
    v->raw_value.data = (uint8_t *)value.base;
    v->raw_value.len = value.len;
    o->header = v;
}

static void end_call(struct estream *st, int status, const char *message)
{
    if (st->state == RS_FINISHED)
        return;
    st->state = RS_FINISHED;
    st->out_pending = 0;
    ig_grpc_sctx_finish(st->ctx, status, message);
}

/* The error code of an "inference error: <Code> - <msg>" text, for the error counter. */
static void error_code(const char *msg, char *out, size_t len)
{
    const char *p = strstr(msg, "inference error: ");
    snprintf(out, len, "Unknown");
    if (p == NULL)
        return;
    p += strlen("inference error: ");
    const char *e = strstr(p, " - ");
    if (e != NULL && (size_t)(e - p) < len) {
        memcpy(out, p, (size_t)(e - p));
        out[e - p] = '\0';
    }
}

/* Answers with an ImmediateResponse and ends the call (the reference returns OK after it). */
static void immediate(struct estream *st, int status, const char *msg)
{
    ig_epp_server_t *es = st->es;
    presp_t r = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__INIT;
    Envoy__Service__ExtProc__V3__ImmediateResponse ir = ENVOY__SERVICE__EXT_PROC__V3__IMMEDIATE_RESPONSE__INIT;
    Envoy__Type__V3__HttpStatus hs = ENVOY__TYPE__V3__HTTP_STATUS__INIT;
    char code[64];

    if (st->state == RS_FINISHED)
        return;
    ig_log_debug("epp", "request %.*s: %d %s", (int)st->request_id.len, st->request_id.base, status, msg);
    hs.code = (Envoy__Type__V3__StatusCode)status;
    ir.status = &hs;
    ir.body.data = (uint8_t *)msg;
    ir.body.len = strlen(msg);
    r.response_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_IMMEDIATE_RESPONSE;
    r.immediate_response = &ir;
    error_code(msg, code, sizeof(code));
    struct ig_counter *c = series_get(es, F_ERR, cstr_or(st->model, ""), cstr_or(st->target, ""), code);
    if (c != NULL)
        ig_counter_inc(c);
    send_msg(st, &r);
    end_call(st, IG_GRPC_OK, NULL);
}

/* ---- headers ----------------------------------------------------------------------------------- */

static ig_iov_t hv_value(const hv_t *h)
{
    if (h->raw_value.len != 0)
        return ig_iov(h->raw_value.data, h->raw_value.len);
    return ig_iov_cstr(h->value);
}

/* The IP part of a subset entry: "10.0.0.1:8000" -> "10.0.0.1", "[fd00::1]:80" -> "fd00::1". */
static ig_iov_t entry_ip(ig_iov_t e)
{
    e = ig_iov_trim(e);
    if (e.len != 0 && e.base[0] == '[') {
        const char *close = memchr(e.base, ']', e.len);
        return close != NULL ? ig_iov(e.base + 1, (size_t)(close - e.base - 1)) : IG_IOV_NULL;
    }
    const char *colon = memchr(e.base, ':', e.len);
    if (colon != NULL && memchr(colon + 1, ':', (size_t)(e.base + e.len - colon - 1)) == NULL)
        return ig_iov(e.base, (size_t)(colon - e.base));
    return e; /* no port, or a bare IPv6 address */
}

static void add_subset_text(struct estream *st, ig_iov_t text, size_t *cap)
{
    /* lwepp accepts one comma-separated string as well as a list. */
    const char *p = text.base, *end = text.base + text.len;
    while (p <= end && text.len != 0) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma != NULL ? comma : end;
        ig_iov_t ip = entry_ip(ig_iov(p, (size_t)(stop - p)));
        if (ip.len != 0) {
            if (st->nsubset == *cap) {
                size_t ncap = *cap != 0 ? *cap * 2 : 8;
                ig_iov_t *v = ig_pool_alloc(st->ctx->pool, ncap * sizeof(*v));
                if (st->nsubset != 0)
                    memcpy(v, st->subset, st->nsubset * sizeof(*v));
                st->subset = v;
                *cap = ncap;
            }
            st->subset[st->nsubset++] = ig_pool_dup(st->ctx->pool, ip);
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
}

/* Reads the subset hint of a request-direction message (the gateway repeats it on each). */
static void read_subset(struct estream *st, const preq_t *m)
{
    if (m->metadata_context == NULL)
        return;
    const Google__Protobuf__Struct *ns = ig_extproc_metadata_ns(m->metadata_context, IG_STRLIT(IG_EXTPROC_NS_SUBSET));
    const Google__Protobuf__Value *v = ig_extproc_struct_get(ns, IG_STRLIT(IG_EXTPROC_KEY_SUBSET));
    if (v == NULL)
        return;
    size_t cap = 0;
    st->nsubset = 0;
    st->subset = ig_pool_alloc(st->ctx->pool, sizeof(ig_iov_t)); /* present, possibly empty */
    cap = 1;
    if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE) {
        add_subset_text(st, ig_iov_cstr(v->string_value), &cap);
    } else if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE && v->list_value != NULL) {
        for (size_t i = 0; i < v->list_value->n_values; i++) {
            const Google__Protobuf__Value *e = v->list_value->values[i];
            if (e != NULL && e->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE)
                add_subset_text(st, ig_iov_cstr(e->string_value), &cap);
        }
    }
}

static int in_subset(const struct estream *st, const struct ig_sched_endpoint *ep)
{
    for (size_t i = 0; i < st->nsubset; i++)
        if (ig_iov_eq(st->subset[i], ep->ip))
            return 1;
    return 0;
}

/* The snapshot's endpoints narrowed by the subset hint, in |*out| (borrowed or arena). */
static size_t candidates(struct estream *st, struct ig_sched_endpoint *const **out)
{
    struct ig_epp_snapshot *snap = st->snap;
    if (st->subset == NULL) {
        *out = snap->eps;
        return snap->n;
    }
    struct ig_sched_endpoint **v = ig_pool_alloc(st->ctx->pool, (snap->n + 1) * sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < snap->n; i++)
        if (in_subset(st, snap->eps[i]))
            v[n++] = snap->eps[i];
    *out = v;
    return n;
}

/* Sends the request-headers answer: the destination header and metadata, and Content-Length. */
static void send_pick(struct estream *st, ig_iov_t dest, size_t body_len, int with_length)
{
    presp_t r = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__INIT;
    Envoy__Service__ExtProc__V3__HeadersResponse hr = ENVOY__SERVICE__EXT_PROC__V3__HEADERS_RESPONSE__INIT;
    common_t cr = ENVOY__SERVICE__EXT_PROC__V3__COMMON_RESPONSE__INIT;
    mutation_t mu = ENVOY__SERVICE__EXT_PROC__V3__HEADER_MUTATION__INIT;
    hvo_t o[3];
    hv_t v[3];
    hvo_t *op[3] = {&o[0], &o[1], &o[2]};
    char len_text[24];

    set_header(&o[0], &v[0], IG_EXTPROC_KEY_DEST, dest);
    mu.n_set_headers = 1;
    if (st->request_id.len != 0) { /* the client's or the one generated for it, so logs line up */
        set_header(&o[mu.n_set_headers], &v[mu.n_set_headers], "x-request-id", st->request_id);
        mu.n_set_headers++;
    }
    if (with_length && body_len > 0) {
        int n = snprintf(len_text, sizeof(len_text), "%zu", body_len);
        set_header(&o[mu.n_set_headers], &v[mu.n_set_headers], "Content-Length", ig_iov(len_text, (size_t)n));
        mu.n_set_headers++;
    }
    mu.set_headers = op;
    cr.header_mutation = &mu;
    cr.clear_route_cache = 1;
    hr.response = &cr;
    r.response_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_REQUEST_HEADERS;
    r.request_headers = &hr;

    /* dynamic_metadata = {"envoy.lb": {"x-gateway-destination-endpoint": dest}} */
    Google__Protobuf__Struct outer = GOOGLE__PROTOBUF__STRUCT__INIT, inner = GOOGLE__PROTOBUF__STRUCT__INIT;
    Google__Protobuf__Struct__FieldsEntry oe = GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT,
                                          ie = GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT;
    Google__Protobuf__Value ov = GOOGLE__PROTOBUF__VALUE__INIT, iv = GOOGLE__PROTOBUF__VALUE__INIT;
    Google__Protobuf__Struct__FieldsEntry *oep = &oe, *iep = &ie;
    char *dest_c = ig_pool_dup(st->ctx->pool, dest).base;
    iv.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    iv.string_value = dest_c;
    ie.key = IG_EXTPROC_KEY_DEST;
    ie.value = &iv;
    inner.n_fields = 1;
    inner.fields = &iep;
    ov.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
    ov.struct_value = &inner;
    oe.key = IG_EXTPROC_NS_LB;
    oe.value = &ov;
    outer.n_fields = 1;
    outer.fields = &oep;
    r.dynamic_metadata = &outer;
    send_msg(st, &r);
}

/* A streamed body chunk in either direction. */
static int send_body(struct estream *st, int response_dir, const void *data, size_t len, int eos)
{
    presp_t r = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__INIT;
    Envoy__Service__ExtProc__V3__BodyResponse br = ENVOY__SERVICE__EXT_PROC__V3__BODY_RESPONSE__INIT;
    common_t cr = ENVOY__SERVICE__EXT_PROC__V3__COMMON_RESPONSE__INIT;
    Envoy__Service__ExtProc__V3__BodyMutation bm;
    Envoy__Service__ExtProc__V3__StreamedBodyResponse sb = ENVOY__SERVICE__EXT_PROC__V3__STREAMED_BODY_RESPONSE__INIT;

    envoy__service__ext_proc__v3__body_mutation__init(&bm); /* the macro trips -Wmissing-braces (union) */
    sb.body.data = (uint8_t *)data;
    sb.body.len = len;
    sb.end_of_stream = eos != 0;
    bm.mutation_case = ENVOY__SERVICE__EXT_PROC__V3__BODY_MUTATION__MUTATION_STREAMED_RESPONSE;
    bm.streamed_response = &sb;
    cr.body_mutation = &bm;
    br.response = &cr;
    if (response_dir) {
        r.response_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_RESPONSE_BODY;
        r.response_body = &br;
    } else {
        r.response_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_REQUEST_BODY;
        r.request_body = &br;
    }
    return send_msg(st, &r);
}

/*
 * Streams the request body back in <= 62000-byte chunks, the last with end_of_stream (an empty
 * body is one empty chunk). Stops at back-pressure unless |all|; on_writable resumes it.
 */
static void pump_body(struct estream *st, int all)
{
    while (st->out_pending && st->state != RS_FINISHED) {
        size_t left = st->body.len - st->out_off;
        size_t n = IG_MIN(left, (size_t)BODY_CHUNK);
        int eos = n == left;
        int rc = send_body(st, 0, ig_buf_data(&st->body) + st->out_off, n, eos);
        if (rc != 0 && rc != IG_EAGAIN) {
            st->out_pending = 0;
            return;
        }
        st->out_off += n;
        if (eos) {
            st->out_pending = 0;
            ig_buf_dispose(&st->body); /* the upstream has it now */
            ig_buf_init(&st->body, 0);
        }
        if (rc == IG_EAGAIN && !all)
            return;
    }
}

/* ---- the pick ---------------------------------------------------------------------------------- */

static void take_snapshot(struct estream *st)
{
    if (st->snap == NULL)
        st->snap = ig_epp_datastore_snapshot(st->es->cfg.ds);
}

static void mark_running(struct estream *st)
{
    struct ig_counter *c = series_get(st->es, F_REQ, cstr_or(st->model, ""), cstr_or(st->target, ""),
                                      ig_pool_printf(st->ctx->pool, "%d", st->priority));
    if (c != NULL)
        ig_counter_inc(c);
    struct ig_gauge *g = series_get(st->es, F_RUN, cstr_or(st->model, ""), "", NULL);
    if (g != NULL) {
        ig_gauge_add(g, 1);
        st->running = 1;
    }
}

/* A request without a body: a random endpoint at once, as the reference does. */
static void pick_header_only(struct estream *st)
{
    struct ig_sched_endpoint *const *eps;

    take_snapshot(st);
    if (st->snap->n == 0) {
        immediate(st, 500, "inference error: Internal - no pods available in datastore");
        return;
    }
    size_t n = candidates(st, &eps);
    if (n == 0) {
        immediate(st, 503, "inference error: ServiceUnavailable - failed to find endpoint candidates");
        return;
    }
    const struct ig_sched_endpoint *ep = eps[next_rand(st->es) % n];
    st->state = RS_ANSWERED;
    mark_running(st);
    send_pick(st, ep->address, 0, 0);
}

/* Writes |s| as a JSON string (quotes included) to |b|. */
static int json_quote(ig_buf_t *b, ig_iov_t s)
{
    static const char hex[] = "0123456789abcdef";
    if (ig_buf_append(b, "\"", 1) != 0)
        return IG_ETOOBIG;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.base[i];
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        int rc;
        if (c == '"' || c == '\\')
            rc = ig_buf_append(b, (const char[]){'\\', (char)c}, 2);
        else if (c < 0x20)
            rc = ig_buf_append(b, esc, sizeof(esc));
        else
            rc = ig_buf_append(b, &s.base[i], 1);
        if (rc != 0)
            return rc;
    }
    return ig_buf_append(b, "\"", 1);
}

/* Replaces the body's model value with |target| (in place of its raw span). */
static int rewrite_model(struct estream *st, ig_iov_t model_raw, ig_iov_t target)
{
    ig_buf_t nb;
    const char *base = ig_buf_data(&st->body);
    size_t pre = (size_t)(model_raw.base - base);
    size_t post = st->body.len - pre - model_raw.len;
    ig_buf_init(&nb, st->es->cfg.max_body + target.len + 16);
    if (ig_buf_append(&nb, base, pre) != 0 || json_quote(&nb, target) != 0 ||
        ig_buf_append(&nb, model_raw.base + model_raw.len, post) != 0) {
        ig_buf_dispose(&nb);
        return IG_ETOOBIG;
    }
    ig_buf_dispose(&st->body);
    st->body = nb;
    return 0;
}

static ig_iov_t quoted(struct estream *st, ig_iov_t s)
{
    ig_buf_t b;
    ig_buf_init(&b, 0);
    json_quote(&b, s);
    ig_iov_t out = ig_pool_dup(st->ctx->pool, ig_iov(ig_buf_data(&b), b.len));
    ig_buf_dispose(&b);
    return out;
}

/*
 * Writes the client's model name back into a response chunk ("model":"<target>" and
 * "model": "<target>" become the incoming name), as the reference does. Returns |in| untouched
 * when there is nothing to replace, else a slice of the server's scratch buffer.
 */
static ig_iov_t model_back(struct estream *st, ig_iov_t in)
{
    static const char key[] = "\"model\":";
    ig_buf_t *b = &st->es->rw;
    const char *p = in.base, *end = in.base + in.len, *copied = in.base;
    int changed = 0;

    if (st->target_q.len == 0 || in.len == 0)
        return in;
    ig_buf_reset(b);
    while ((p = memmem(p, (size_t)(end - p), key, sizeof(key) - 1)) != NULL) {
        const char *v = p + sizeof(key) - 1;
        if (v < end && *v == ' ')
            v++;
        if ((size_t)(end - v) >= st->target_q.len && memcmp(v, st->target_q.base, st->target_q.len) == 0) {
            if (ig_buf_append(b, copied, (size_t)(v - copied)) != 0 ||
                ig_buf_append(b, st->model_q.base, st->model_q.len) != 0)
                return in;
            copied = v + st->target_q.len;
            changed = 1;
        }
        p = v;
    }
    if (!changed || ig_buf_append(b, copied, (size_t)(end - copied)) != 0)
        return in;
    return ig_iov(ig_buf_data(b), b->len);
}

static void count_attempt(ig_epp_server_t *es, const char *status, const char *target, ig_iov_t ep)
{
    char addr[80];
    snprintf(addr, sizeof(addr), "%.*s", (int)IG_MIN(ep.len, sizeof(addr) - 1), ep.base != NULL ? ep.base : "");
    struct ig_counter *c = series_get(es, F_ATTEMPT, status, target, addr);
    if (c != NULL)
        ig_counter_inc(c);
}

/* The whole body arrived: parse, admit, schedule, answer. */
static void pick_body(struct estream *st)
{
    ig_epp_server_t *es = st->es;
    struct ig_oai_request req;
    struct ig_sched_error err = {0};
    struct ig_sched_endpoint *const *eps;

    enum ig_oai_api api = ig_oai_api_from_path(st->path);
    if (ig_oai_parse(api, ig_buf_data(&st->body), st->body.len, st->ctx->pool, &req, &err) != 0) {
        immediate(st, err.status != 0 ? err.status : 400, err.msg);
        return;
    }
    st->model = ig_pool_dup(st->ctx->pool, req.model).base;
    ig_iov_t target = req.model, rw_target, rw_name;
    if (st->rewrite.len != 0) {
        target = st->rewrite; /* the header wins over InferenceModelRewrites */
    } else if (es->cfg.rewrite != NULL && es->cfg.rewrite(es->cfg.rewrite_arg, req.model, &rw_target, &rw_name) == 0) {
        target = rw_target;
        char *name = ig_pool_dup(st->ctx->pool, rw_name).base;
        struct ig_counter *c = series_get(es, F_REWRITE, name, st->model, ig_pool_dup(st->ctx->pool, target).base);
        if (c != NULL)
            ig_counter_inc(c);
    }
    st->target = ig_pool_dup(st->ctx->pool, target).base;

    take_snapshot(st);
    size_t n = candidates(st, &eps);
    struct ig_sched_request sreq = {
        .body = &req,
        .target_model = ig_iov_cstr(st->target),
        .headers = st->headers,
        .n_headers = st->nheaders,
        .priority = st->priority,
        .now_ns = ig_time_ns(),
    };
    st->cycle = ig_pool_alloc(st->ctx->pool, sizeof(*st->cycle));
    ig_sched_cycle_init(st->cycle, &sreq, NULL);
    uint64_t t0 = ig_time_ns();
    int scheduled = 0;
    int rc = ig_sched_admit(es->cfg.sched, &sreq, eps, n, &err);
    if (rc == 0) {
        rc = ig_sched_schedule(es->cfg.sched, st->cycle, eps, n, &err);
        scheduled = 1;
    }
    if (es->e2e != NULL && rc == 0)
        ig_histogram_observe(es->e2e, (double)(ig_time_ns() - t0) / 1e9);
    size_t matched, total, block;
    if (rc == 0 && es->hit_ratio != NULL &&
        ig_sched_prefix_match(es->cfg.sched, st->cycle, st->cycle->picks[0].ep, &matched, &total, &block) == 0) {
        ig_histogram_observe(es->hit_ratio, (double)matched / (double)total);
        ig_histogram_observe(es->hit_bytes, (double)(matched * block));
    }
    if (rc == 0) {
        for (size_t i = 0; i < st->cycle->n_picks; i++)
            count_attempt(es, "success", st->target, st->cycle->picks[i].ep->address);
    } else if (scheduled) {
        count_attempt(es, "failure", st->target, IG_IOV_NULL); /* admission's shedding is no attempt */
    }
    if (rc != 0) {
        immediate(st, err.status != 0 ? err.status : 500, err.msg[0] != '\0' ? err.msg : "inference error: Internal");
        return;
    }
    ig_sched_pre_request(es->cfg.sched, st->cycle);
    st->counted = 1;

    /* The destination: the picks in order, comma-separated (maxNumOfEndpoints > 1). */
    ig_buf_t dest;
    ig_buf_init(&dest, 0);
    for (size_t i = 0; i < st->cycle->n_picks; i++) {
        ig_iov_t a = st->cycle->picks[i].ep->address;
        if (i != 0)
            ig_buf_append(&dest, ",", 1);
        ig_buf_append(&dest, a.base, a.len);
    }
    ig_iov_t d = ig_pool_dup(st->ctx->pool, ig_iov(ig_buf_data(&dest), dest.len));
    ig_buf_dispose(&dest);

    if (!ig_iov_eq(target, req.model)) {
        /* req.model may point into the body, which the rewrite replaces: quote it first. */
        st->target_q = quoted(st, target);
        st->model_q = quoted(st, req.model);
        if (rewrite_model(st, req.model_raw, target) != 0) {
            immediate(st, 500, "inference error: Internal - rewritten body too large");
            return;
        }
    }
    struct ig_histogram *size = series_get(es, F_REQ_SIZE, st->model, st->target, NULL);
    if (size != NULL)
        ig_histogram_observe(size, (double)st->body.len);
    st->state = RS_ANSWERED;
    mark_running(st);
    send_pick(st, d, st->body.len, 1);
    st->out_off = 0;
    st->out_pending = 1;
    pump_body(st, 0);
}

/* ---- response usage ---------------------------------------------------------------------------- */

static int64_t json_int(ig_iov_t v)
{
    uint64_t x;
    return ig_iov_to_u64(v, &x) == 0 ? (int64_t)x : -1;
}

/* Reads usage.prompt_tokens / completion_tokens of one JSON object, when present. */
static void read_usage(struct estream *st, ig_iov_t obj)
{
    struct ig_json_iter it, uit;
    struct ig_json_member m, um;
    if (ig_json_obj_begin(&it, obj) != 0)
        return;
    while (ig_json_obj_next(&it, &m, NULL) == 1) {
        if (m.type != IG_JSON_OBJECT || !ig_json_key_eq(&m, "usage") || ig_json_obj_begin(&uit, m.value) != 0)
            continue;
        while (ig_json_obj_next(&uit, &um, NULL) == 1) {
            if (um.type != IG_JSON_NUMBER)
                continue;
            if (ig_json_key_eq(&um, "prompt_tokens") || ig_json_key_eq(&um, "input_tokens"))
                st->in_tokens = json_int(um.value);
            else if (ig_json_key_eq(&um, "completion_tokens") || ig_json_key_eq(&um, "output_tokens"))
                st->out_tokens = json_int(um.value);
        }
    }
}

static void sse_line(struct estream *st, ig_iov_t line)
{
    if (line.len < 5 || memcmp(line.base, "data:", 5) != 0)
        return;
    ig_iov_t v = ig_iov_trim(ig_iov(line.base + 5, line.len - 5));
    if (v.len != 0 && v.base[0] == '{' && memmem(v.base, v.len, "\"usage\"", 7) != NULL)
        read_usage(st, v);
}

/* Feeds response body bytes to the usage reader (SSE lines, or a bounded copy of a JSON body). */
static void usage_feed(struct estream *st, const char *data, size_t len, int eos)
{
    if (!st->resp_stream) {
        if (ig_buf_append(&st->resp, data, len) != 0)
            ig_buf_reset(&st->resp); /* too large to be worth parsing; usage is not recorded */
        if (eos && st->resp.len != 0)
            read_usage(st, ig_iov(ig_buf_data(&st->resp), st->resp.len));
        return;
    }
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            if (ig_buf_append(&st->resp, p, (size_t)(end - p)) != 0)
                ig_buf_reset(&st->resp);
            break;
        }
        ig_iov_t line;
        if (st->resp.len != 0) {
            if (ig_buf_append(&st->resp, p, (size_t)(nl - p)) != 0)
                ig_buf_reset(&st->resp);
            line = ig_iov(ig_buf_data(&st->resp), st->resp.len);
        } else {
            line = ig_iov(p, (size_t)(nl - p));
        }
        if (line.len != 0 && line.base[line.len - 1] == '\r')
            line.len--;
        sse_line(st, line);
        ig_buf_reset(&st->resp);
        p = nl + 1;
    }
}

static void response_complete(struct estream *st)
{
    ig_epp_server_t *es = st->es;
    if (st->resp_done)
        return;
    st->resp_done = 1;
    const char *model = cstr_or(st->model, ""), *target = cstr_or(st->target, "");
    struct ig_histogram *h = series_get(es, F_DUR, model, target, NULL);
    if (h != NULL)
        ig_histogram_observe(h, (double)(ig_time_ns() - st->start_ns) / 1e9);
    if ((h = series_get(es, F_RESP_SIZE, model, target, NULL)) != NULL)
        ig_histogram_observe(h, (double)st->resp_bytes);
    if (st->in_tokens > 0 && (h = series_get(es, F_IN, model, target, NULL)) != NULL)
        ig_histogram_observe(h, (double)st->in_tokens);
    if (st->out_tokens > 0 && (h = series_get(es, F_OUT, model, target, NULL)) != NULL)
        ig_histogram_observe(h, (double)st->out_tokens);
}

/* ---- message dispatch -------------------------------------------------------------------------- */

/* A random (version 4) UUID, as the reference gives a request that came without an x-request-id. */
static ig_iov_t new_request_id(struct estream *st)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    uint64_t r0 = next_rand(st->es), r1 = next_rand(st->es);
    memcpy(b, &r0, 8);
    memcpy(b + 8, &r1, 8);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    char *out = ig_pool_alloc(st->ctx->pool, 37);
    size_t k = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[b[i] >> 4];
        out[k++] = hex[b[i] & 15];
    }
    out[k] = '\0';
    return ig_iov(out, k);
}

static ig_iov_t copy_header(struct estream *st, ig_iov_t v)
{
    return ig_pool_dup(st->ctx->pool, ig_iov(v.base, IG_MIN(v.len, (size_t)MAX_HEADER_VALUE)));
}

static void on_request_headers(struct estream *st, const preq_t *m)
{
    const Envoy__Service__ExtProc__V3__HttpHeaders *h = m->request_headers;
    ig_iov_t xpath = IG_IOV_NULL;

    if (st->state != RS_HEADERS) {
        end_call(st, IG_GRPC_INVALID_ARGUMENT, "request_headers received twice");
        return;
    }
    st->start_ns = ig_time_ns();
    if (h->headers != NULL) {
        st->headers = ig_pool_alloc(st->ctx->pool, (h->headers->n_headers + 1) * sizeof(*st->headers));
        for (size_t i = 0; i < h->headers->n_headers; i++) {
            const hv_t *hv = h->headers->headers[i];
            ig_iov_t k = ig_iov_cstr(hv->key), v = hv_value(hv);
            if (k.len == 0 || k.base[0] != ':')
                st->headers[st->nheaders++] = (struct ig_sched_kv){ig_pool_dup(st->ctx->pool, k), copy_header(st, v)};
            if (ig_iov_eq_nocase(k, IG_STRLIT(":path")))
                st->path = copy_header(st, v);
            else if (ig_iov_eq_nocase(k, IG_STRLIT("x-original-path")) ||
                     ig_iov_eq_nocase(k, IG_STRLIT("x-forwarded-path")))
                xpath = v;
            else if (ig_iov_eq_nocase(k, IG_STRLIT("x-request-id")))
                st->request_id = copy_header(st, v);
            else if (ig_iov_eq_nocase(k, IG_STRLIT("x-gateway-inference-objective")))
                st->objective = copy_header(st, ig_iov_trim(v));
            else if (ig_iov_eq_nocase(k, IG_STRLIT("x-gateway-model-name-rewrite")))
                st->rewrite = copy_header(st, ig_iov_trim(v));
        }
    }
    if (st->path.len == 0 && xpath.len != 0)
        st->path = copy_header(st, xpath);
    if (st->request_id.len == 0)
        st->request_id = new_request_id(st);
    if (st->objective.len != 0 && st->es->cfg.objective != NULL &&
        st->es->cfg.objective(st->es->cfg.objective_arg, st->objective, &st->priority) != 0)
        st->priority = 0;
    read_subset(st, m);
    if (h->end_of_stream) {
        pick_header_only(st);
        return;
    }
    st->state = RS_BODY;
}

static void on_request_body(struct estream *st, const preq_t *m)
{
    const Envoy__Service__ExtProc__V3__HttpBody *b = m->request_body;
    if (st->state != RS_BODY)
        return; /* after the answer (or a header-only request) there is nothing to do with it */
    if (st->subset == NULL)
        read_subset(st, m); /* a hint repeated on every chunk is read once: the arena stays small */
    if (b->body.len != 0 && ig_buf_append(&st->body, b->body.data, b->body.len) != 0) {
        char *msg = ig_pool_printf(st->ctx->pool, "request body larger than %zu bytes", st->es->cfg.max_body);
        end_call(st, IG_GRPC_RESOURCE_EXHAUSTED, msg);
        return;
    }
    if (b->end_of_stream)
        pick_body(st);
}

static void on_response_headers(struct estream *st, const preq_t *m, int observe)
{
    const Envoy__Service__ExtProc__V3__HttpHeaders *h = m->response_headers;
    presp_t r = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__INIT;
    Envoy__Service__ExtProc__V3__HeadersResponse hr = ENVOY__SERVICE__EXT_PROC__V3__HEADERS_RESPONSE__INIT;
    common_t cr = ENVOY__SERVICE__EXT_PROC__V3__COMMON_RESPONSE__INIT;
    mutation_t mu = ENVOY__SERVICE__EXT_PROC__V3__HEADER_MUTATION__INIT;
    hvo_t o;
    hv_t v;
    hvo_t *op = &o;

    st->resp_seen = 1;
    if (h->headers != NULL) {
        for (size_t i = 0; i < h->headers->n_headers; i++) {
            const hv_t *hv = h->headers->headers[i];
            ig_iov_t val = hv_value(hv);
            if (ig_iov_eq_nocase(ig_iov_cstr(hv->key), IG_STRLIT("content-type")) &&
                memmem(val.base, val.len, "text/event-stream", 17) != NULL)
                st->resp_stream = 1;
        }
    }
    /* As the reference: a marker header that shows the response went through the EPP. */
    set_header(&o, &v, "x-went-into-resp-headers", IG_STRLIT("true"));
    mu.n_set_headers = 1;
    mu.set_headers = &op;
    cr.header_mutation = &mu;
    hr.response = &cr;
    r.response_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_RESPONSE_HEADERS;
    r.response_headers = &hr;
    if (!observe)
        send_msg(st, &r);
    if (h->end_of_stream)
        response_complete(st);
}

static void on_response_body(struct estream *st, const preq_t *m, int observe)
{
    const Envoy__Service__ExtProc__V3__HttpBody *b = m->response_body;
    st->resp_bytes += b->body.len;
    usage_feed(st, (const char *)b->body.data, b->body.len, b->end_of_stream);
    if (observe) {
        /* The client already has these bytes: count them, answer nothing. */
        if (b->end_of_stream)
            response_complete(st);
        return;
    }
    ig_iov_t out = model_back(st, ig_iov(b->body.data, b->body.len));
    const char *data = out.base;
    size_t len = out.len;

    /* Each chunk goes back at once (one round trip per SSE event), split only past Envoy's limit. */
    do {
        size_t n = IG_MIN(len, (size_t)BODY_CHUNK);
        int eos = b->end_of_stream && n == len;
        int rc = send_body(st, 1, data, n, eos);
        if (rc != 0 && rc != IG_EAGAIN)
            return;
        data += n;
        len -= n;
    } while (len != 0);
    if (b->end_of_stream)
        response_complete(st);
}

static void on_response_trailers(struct estream *st, int observe)
{
    if (observe) {
        response_complete(st);
        return;
    }
    presp_t r = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__INIT;
    Envoy__Service__ExtProc__V3__TrailersResponse tr = ENVOY__SERVICE__EXT_PROC__V3__TRAILERS_RESPONSE__INIT;
    r.response_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_RESPONSE_TRAILERS;
    r.response_trailers = &tr;
    send_msg(st, &r);
    response_complete(st);
}

static void ep_on_message(ig_grpc_sctx_t *ctx, ig_iov_t msg)
{
    struct estream *st = ctx->data;
    preq_t *m = NULL;

    if (st->state == RS_FINISHED)
        return;
    int rc = ig_extproc_decode_request(&st->scratch, msg, &m);
    if (rc != 0) {
        end_call(st, rc == IG_ETOOBIG ? IG_GRPC_RESOURCE_EXHAUSTED : IG_GRPC_INVALID_ARGUMENT,
                 "cannot decode ProcessingRequest");
        goto out;
    }
    /*
     * Observed messages must get no answer. Response-side ones still feed usage and completion;
     * a request side that is only observed cannot be routed, so it is ignored.
     */
    int observe = m->observability_mode;
    if (observe && m->request_case != ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_HEADERS &&
        m->request_case != ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_BODY &&
        m->request_case != ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_TRAILERS)
        goto out;
    /* Answers go out in order: finish streaming the request body before anything newer. */
    if (st->out_pending && m->request_case != ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_REQUEST_BODY)
        pump_body(st, 1);
    switch (m->request_case) {
    case ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_REQUEST_HEADERS:
        on_request_headers(st, m);
        break;
    case ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_REQUEST_BODY:
        on_request_body(st, m);
        break;
    case ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_REQUEST_TRAILERS:
        /* Trailers end the body; the reference sends no answer to them. */
        if (st->state == RS_BODY)
            pick_body(st);
        break;
    case ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_HEADERS:
        on_response_headers(st, m, observe);
        break;
    case ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_BODY:
        on_response_body(st, m, observe);
        break;
    case ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_TRAILERS:
        on_response_trailers(st, observe);
        break;
    default:
        end_call(st, IG_GRPC_INVALID_ARGUMENT, "ProcessingRequest without a request");
        break;
    }
out:
    /* What outlives the message was copied to the stream's arena: the scratch one never grows. */
    ig_pool_clear(&st->scratch);
}

static void ep_on_start(ig_grpc_sctx_t *ctx)
{
    ig_epp_server_t *es = ctx->method->data;
    struct estream *st = ig_pool_calloc(ctx->pool, sizeof(*st));
    st->es = es;
    st->ctx = ctx;
    st->start_ns = ig_time_ns();
    ig_pool_init(&st->scratch);
    ig_buf_init(&st->body, es->cfg.max_body);
    ig_buf_init(&st->resp, USAGE_BUFFER_MAX);
    ctx->data = st;
    es->streams++;
}

static void ep_on_half_close(ig_grpc_sctx_t *ctx)
{
    struct estream *st = ctx->data;
    /* The gateway is done sending: whatever is owed goes out, then the call ends OK. */
    pump_body(st, 1);
    /* With the response body not sent to us (mode NONE) or not ended by a message, the end of
     * the call is the end of the response. */
    if (st->resp_seen)
        response_complete(st);
    end_call(st, IG_GRPC_OK, NULL);
}

static void ep_on_writable(ig_grpc_sctx_t *ctx)
{
    pump_body(ctx->data, 0);
}

static void ep_on_close(ig_grpc_sctx_t *ctx, int status)
{
    struct estream *st = ctx->data;
    ig_epp_server_t *es = st->es;
    (void)status;
    if (st->counted)
        ig_sched_request_done(es->cfg.sched, st->cycle);
    if (st->running) {
        struct ig_gauge *g = series_get(es, F_RUN, cstr_or(st->model, ""), "", NULL);
        if (g != NULL)
            ig_gauge_add(g, -1);
    }
    if (st->snap != NULL)
        ig_epp_snapshot_release(st->snap);
    ig_buf_dispose(&st->body);
    ig_buf_dispose(&st->resp);
    ig_pool_dispose(&st->scratch);
    es->streams--;
}

/* ---- service ----------------------------------------------------------------------------------- */

ig_epp_server_t *ig_epp_server_create(const struct ig_epp_server_config *cfg)
{
    ig_epp_server_t *es = ig_calloc(1, sizeof(*es));
    es->cfg = *cfg;
    if (es->cfg.max_body == 0)
        es->cfg.max_body = DEFAULT_MAX_BODY;
    es->rng = cfg->seed != 0 ? cfg->seed : ig_time_ns() | 1;
    ig_buf_init(&es->pack, 0);
    ig_buf_init(&es->rw, 0);
    es->method = (struct ig_grpc_method){
        .path = IG_EXTPROC_PATH,
        .on_start = ep_on_start,
        .on_message = ep_on_message,
        .on_half_close = ep_on_half_close,
        .on_writable = ep_on_writable,
        .on_close = ep_on_close,
        .data = es,
    };
    if (cfg->metrics != NULL) {
        es->e2e = ig_metrics_histogram(cfg->metrics, "inference_extension_scheduler_e2e_duration_seconds",
                                       "[ALPHA] End-to-end scheduling latency distribution in seconds.", e2e_bounds,
                                       NELEM(e2e_bounds), NULL, 0);
        ig_metrics_add_collector(cfg->metrics, collect_prefix, es);
        ig_sched_set_timing(cfg->sched, on_plugin_timing, es);
        es->hit_ratio = ig_metrics_histogram(cfg->metrics, "inference_extension_prefix_indexer_hit_ratio",
                                             "[ALPHA] Ratio of prefix length matched to total prefix length in the "
                                             "cache lookup.",
                                             hit_ratio_bounds, NELEM(hit_ratio_bounds), NULL, 0);
        es->hit_bytes = ig_metrics_histogram(cfg->metrics, "inference_extension_prefix_indexer_hit_bytes",
                                             "[ALPHA] Length of the prefix match in number of bytes in the cache "
                                             "lookup.",
                                             hit_bytes_bounds, NELEM(hit_bytes_bounds), NULL, 0);
        struct ig_metric_label info[2] = {{"commit", IG_EPP_COMMIT}, {"build_ref", IG_EPP_BUILD_REF}};
        struct ig_gauge *g = ig_metrics_gauge(cfg->metrics, "inference_extension_info",
                                              "[ALPHA] General information of the current build of Inference "
                                              "Extension.",
                                              info, 2);
        if (g != NULL)
            ig_gauge_set(g, 1);
    }
    return es;
}

int ig_epp_server_register(ig_epp_server_t *es, struct ig_grpc_server *g)
{
    return ig_grpc_server_add(g, &es->method);
}

size_t ig_epp_server_streams(const ig_epp_server_t *es)
{
    return es->streams;
}

void ig_epp_server_destroy(ig_epp_server_t *es)
{
    if (es == NULL)
        return;
    for (size_t i = 0; i < es->nseries; i++)
        ig_free(es->series[i].key);
    ig_free(es->series);
    if (es->cfg.metrics != NULL)
        ig_sched_set_timing(es->cfg.sched, NULL, NULL);
    ig_free(es->phist);
    ig_buf_dispose(&es->pack);
    ig_buf_dispose(&es->rw);
    ig_free(es);
}
