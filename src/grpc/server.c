/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server side of gRPC over the http module's HTTP/2 streams. An ig_grpc_server_t is a method
 * table keyed by :path; as an ig_http_server_t's on_request it validates each request (POST,
 * content-type application/grpc, te: trailers, grpc-timeout, no grpc-encoding), deframes the
 * request body into messages for the method, frames what the method sends and ends the call
 * with grpc-status / grpc-message trailers, or a trailers-only response when nothing was sent
 * (immediate errors). The call state (ig_grpc_sctx_t) lives in the stream's pool; only a call
 * with a deadline takes a heap timer, because a libuv handle outlives the stream until its close
 * callback runs.
 */
#include <stdio.h>

#include "ig/grpc.h"

/* Methods registered on one server: a few per service, so a linear scan beats a hash. */
#define METHODS_MAX 64

struct ig_grpc_server {
    size_t max_message;
    const struct ig_grpc_method *methods[METHODS_MAX];
    size_t nmethods;
};

/* A heap timer for a call's deadline: freed from its close callback, after the call is gone. */
struct sctx_timer {
    uv_timer_t t;
    ig_grpc_sctx_t *ctx; /* NULL once the call is over */
};

static const struct ig_http_stream_handler sctx_handler;

ig_grpc_server_t *ig_grpc_server_create(const struct ig_grpc_server_config *cfg)
{
    ig_grpc_server_t *g = ig_calloc(1, sizeof(*g));
    g->max_message = cfg != NULL && cfg->max_message != 0 ? cfg->max_message : IG_GRPC_DEFAULT_MAX_MESSAGE;
    return g;
}

void ig_grpc_server_destroy(ig_grpc_server_t *g)
{
    ig_free(g);
}

int ig_grpc_server_add(ig_grpc_server_t *g, const struct ig_grpc_method *m)
{
    if (m == NULL || m->path == NULL || m->path[0] != '/' || m->on_message == NULL || g->nmethods == METHODS_MAX)
        return IG_EINVAL;
    for (size_t i = 0; i < g->nmethods; i++)
        if (strcmp(g->methods[i]->path, m->path) == 0)
            return IG_EEXIST;
    g->methods[g->nmethods++] = m;
    return 0;
}

static void on_request(ig_http_stream_t *s)
{
    ig_grpc_server_handle(s->server->data, s);
}

void ig_grpc_server_attach(ig_grpc_server_t *g, ig_http_server_t *hs)
{
    hs->on_request = on_request;
    hs->data = g;
}

/* ---- responses --------------------------------------------------------------------------------- */

#define CT_GRPC IG_STRLIT("application/grpc")

/* A trailers-only response (HEADERS with END_STREAM): status before the stream has a call. */
static void respond_status(ig_http_stream_t *s, int status, const char *message)
{
    ig_http_header_t h[3];
    size_t n = 0;
    char *code = ig_pool_printf(&s->pool, "%d", status);
    h[n++] = (ig_http_header_t){IG_STRLIT("content-type"), CT_GRPC};
    h[n++] = (ig_http_header_t){IG_STRLIT("grpc-status"), ig_iov_cstr(code)};
    if (message != NULL && message[0] != '\0')
        h[n++] = (ig_http_header_t){IG_STRLIT("grpc-message"), ig_grpc_message_encode(&s->pool, ig_iov_cstr(message))};
    ig_http_response_t resp = {200, {h, n, n}, -1};
    ig_http_stream_respond(s, &resp, 1);
}

static int send_headers(ig_grpc_sctx_t *ctx)
{
    ig_http_header_t h[] = {{IG_STRLIT("content-type"), CT_GRPC}};
    ig_http_response_t resp = {200, {h, 1, 1}, -1};
    int rc = ig_http_stream_respond(ctx->stream, &resp, 0);
    if (rc == 0)
        ctx->_headers_sent = 1;
    return rc;
}

int ig_grpc_sctx_send(ig_grpc_sctx_t *ctx, const void *msg, size_t len)
{
    uint8_t prefix[IG_GRPC_PREFIX_LEN];
    int rc;

    if (ctx->_closed)
        return IG_ECLOSED;
    if (ctx->_finished)
        return IG_EINVAL;
    if (len > UINT32_MAX)
        return IG_ETOOBIG;
    if (!ctx->_headers_sent && (rc = send_headers(ctx)) != 0)
        return rc;
    ig_grpc_prefix_write(prefix, (uint32_t)len);
    rc = ig_http_stream_write(ctx->stream, (const char *)prefix, sizeof(prefix), 0);
    if (rc != 0 && rc != IG_EAGAIN)
        return rc;
    if (len != 0)
        rc = ig_http_stream_write(ctx->stream, msg, len, 0);
    return rc;
}

int ig_grpc_sctx_send_pb(ig_grpc_sctx_t *ctx, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = ig_pool_alloc(ctx->pool, len != 0 ? len : 1);
    protobuf_c_message_pack(m, buf);
    return ig_grpc_sctx_send(ctx, buf, len);
}

static void stop_timer(ig_grpc_sctx_t *ctx);

int ig_grpc_sctx_finish(ig_grpc_sctx_t *ctx, int status, const char *message)
{
    ig_http_stream_t *s = ctx->stream;

    if (ctx->_closed)
        return IG_ECLOSED;
    if (ctx->_finished)
        return IG_EINVAL;
    ctx->_finished = 1;
    ctx->_status = status;
    stop_timer(ctx);
    if (!ctx->_headers_sent) {
        respond_status(s, status, message);
        return 0;
    }
    ig_http_header_t h[2];
    size_t n = 0;
    h[n++] = (ig_http_header_t){IG_STRLIT("grpc-status"), ig_iov_cstr(ig_pool_printf(ctx->pool, "%d", status))};
    if (message != NULL && message[0] != '\0')
        h[n++] = (ig_http_header_t){IG_STRLIT("grpc-message"), ig_grpc_message_encode(ctx->pool, ig_iov_cstr(message))};
    return ig_http_stream_write_trailers(s, h, n);
}

/* ---- deadline ---------------------------------------------------------------------------------- */

static void timer_closed(uv_handle_t *h)
{
    ig_free(h->data);
}

static void stop_timer(ig_grpc_sctx_t *ctx)
{
    struct sctx_timer *t = ctx->_timer;
    if (t == NULL)
        return;
    ctx->_timer = NULL;
    t->ctx = NULL;
    uv_close((uv_handle_t *)&t->t, timer_closed);
}

static void deadline_fired(uv_timer_t *ut)
{
    struct sctx_timer *t = ut->data;
    ig_grpc_sctx_t *ctx = t->ctx;
    if (ctx == NULL || ctx->_finished)
        return;
    ctx->_deadline_hit = 1;
    ig_grpc_sctx_finish(ctx, IG_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
}

static void start_timer(ig_grpc_sctx_t *ctx, uint64_t ns)
{
    struct sctx_timer *t = ig_calloc(1, sizeof(*t));
    uint64_t ms = ns / 1000000u + (ns % 1000000u != 0);
    t->ctx = ctx;
    uv_timer_init(ctx->stream->loop, &t->t);
    t->t.data = t;
    uv_timer_start(&t->t, deadline_fired, ms, 0);
    ctx->_timer = t;
}

/* ---- request body ------------------------------------------------------------------------------ */

static int on_msg(void *arg, ig_iov_t msg)
{
    ig_grpc_sctx_t *ctx = arg;
    if (ctx->_finished || ctx->_closed)
        return IG_ECANCELED; /* nothing more for the method */
    if (ctx->method->unary && ctx->_nmsg != 0) {
        ig_grpc_sctx_finish(ctx, IG_GRPC_INTERNAL, "more than one request message for a unary method");
        return IG_ECANCELED;
    }
    ctx->_nmsg++;
    ctx->method->on_message(ctx, msg);
    return 0;
}

static void sctx_on_body(ig_http_stream_t *s, const char *data, size_t len, int end)
{
    ig_grpc_sctx_t *ctx = s->data;
    int rc = 0;

    if (ctx->_in_end)
        return;
    if (len != 0)
        rc = ig_grpc_deframer_feed(&ctx->_df, data, len, on_msg, ctx);
    if (rc == 0 && end) {
        ctx->_in_end = 1;
        rc = ig_grpc_deframer_finish(&ctx->_df);
    }
    if (rc != 0) {
        /* A framing error ends the call with its status; later input is dropped. */
        ctx->_in_end = 1;
        if (!ctx->_finished && !ctx->_closed)
            ig_grpc_sctx_finish(ctx, ig_grpc_status_from_err(rc),
                                rc == IG_ETOOBIG ? "request message larger than the limit" : "bad request framing");
        return;
    }
    if (!end || ctx->_finished || ctx->_closed)
        return;
    if (ctx->method->unary && ctx->_nmsg == 0) {
        ig_grpc_sctx_finish(ctx, IG_GRPC_INTERNAL, "no request message for a unary method");
        return;
    }
    if (ctx->method->on_half_close != NULL)
        ctx->method->on_half_close(ctx);
}

static void sctx_on_writable(ig_http_stream_t *s)
{
    ig_grpc_sctx_t *ctx = s->data;
    if (!ctx->_finished && ctx->method->on_writable != NULL)
        ctx->method->on_writable(ctx);
}

static void sctx_on_close(ig_http_stream_t *s, int err)
{
    ig_grpc_sctx_t *ctx = s->data;
    int status;

    ctx->_closed = 1;
    stop_timer(ctx);
    if (err != 0)
        ig_log_debug("grpc", "%s: stream ended: %s", ctx->method->path, ig_strerror(err));
    ig_grpc_deframer_dispose(&ctx->_df);
    if (ctx->_deadline_hit)
        status = IG_GRPC_DEADLINE_EXCEEDED;
    else if (ctx->_finished)
        status = ctx->_status; /* a client's RST_STREAM after the trailers is not a cancel */
    else
        status = IG_GRPC_CANCELLED; /* reset or disconnect before the status reached the client */
    if (ctx->method->on_close != NULL)
        ctx->method->on_close(ctx, status);
}

static const struct ig_http_stream_handler sctx_handler = {
    .on_body = sctx_on_body,
    .on_writable = sctx_on_writable,
    .on_close = sctx_on_close,
};

/* ---- dispatch ---------------------------------------------------------------------------------- */

static const struct ig_grpc_method *find_method(const ig_grpc_server_t *g, ig_iov_t path)
{
    for (size_t i = 0; i < g->nmethods; i++)
        if (ig_iov_eq(ig_iov_cstr(g->methods[i]->path), path))
            return g->methods[i];
    return NULL;
}

static ig_iov_t header(const ig_http_request_t *req, ig_iov_t name)
{
    ssize_t i = ig_http_headers_find(&req->headers, name, 0);
    return i >= 0 ? req->headers.v[i].value : IG_IOV_NULL;
}

void ig_grpc_server_handle(ig_grpc_server_t *g, ig_http_stream_t *s)
{
    const ig_http_request_t *req = &s->req;
    uint64_t timeout_ns = 0;

    /* Errors below the HTTP level come first: gRPC's spec answers them as plain HTTP. */
    if (!ig_iov_eq(req->method, IG_STRLIT("POST"))) {
        ig_http_header_t allow = {IG_STRLIT("allow"), IG_STRLIT("POST")};
        ig_http_response_t resp = {405, {&allow, 1, 1}, 0};
        ig_http_stream_respond(s, &resp, 1);
        return;
    }
    if (!ig_grpc_is_content_type(header(req, IG_STRLIT("content-type")))) {
        ig_http_stream_send(s, 415, "text/plain", "content-type must be application/grpc\n", 38);
        return;
    }
    if (req->version != IG_HTTP_2) {
        respond_status(s, IG_GRPC_INTERNAL, "gRPC requires HTTP/2");
        return;
    }
    if (!ig_iov_eq(ig_iov_trim(header(req, IG_STRLIT("te"))), IG_STRLIT("trailers"))) {
        respond_status(s, IG_GRPC_INTERNAL, "missing te: trailers");
        return;
    }
    ig_iov_t enc = header(req, IG_STRLIT("grpc-encoding"));
    if (enc.len != 0 && !ig_iov_eq(enc, IG_STRLIT("identity"))) {
        /* We accept no compression; grpc-accept-encoding tells the client so. */
        respond_status(s, IG_GRPC_UNIMPLEMENTED, "grpc-encoding not supported");
        return;
    }
    ig_iov_t to = header(req, IG_STRLIT("grpc-timeout"));
    if (to.len != 0 && ig_grpc_timeout_parse(to, &timeout_ns) != 0) {
        respond_status(s, IG_GRPC_INTERNAL, "malformed grpc-timeout");
        return;
    }
    const struct ig_grpc_method *m = find_method(g, req->path);
    if (m == NULL) {
        char *msg = ig_pool_printf(&s->pool, "unknown method %.*s", (int)IG_MIN(req->path.len, 200), req->path.base);
        respond_status(s, IG_GRPC_UNIMPLEMENTED, msg);
        return;
    }

    ig_grpc_sctx_t *ctx = ig_pool_calloc(&s->pool, sizeof(*ctx));
    ctx->method = m;
    ctx->server = g;
    ctx->stream = s;
    ctx->pool = &s->pool;
    ig_grpc_deframer_init(&ctx->_df, g->max_message);
    s->data = ctx;
    s->handler = &sctx_handler;
    if (timeout_ns != 0) {
        uint64_t now = ig_time_ns();
        ctx->deadline_ns = timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
        /* Longer than a libuv timer reasonably holds: no local deadline. */
        if (timeout_ns < (UINT64_C(1) << 62))
            start_timer(ctx, timeout_ns);
    }
    if (m->on_start != NULL)
        m->on_start(ctx);
}
