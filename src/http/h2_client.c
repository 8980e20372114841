/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP/2 client engine: one nghttp2 client session per connection (h2c with prior knowledge
 * on plaintext, ALPN h2 on TLS), carrying as many streams as the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS allows. client.c owns the ig_http_cstream_t objects and the
 * queue of streams waiting for capacity; this file runs them: HEADERS from the request, the body
 * through a data provider over a per-stream buffer, the response head into cs->resp, the body to
 * on_body with flow control tied to read_pause, trailers kept in the stream's pool. A GOAWAY stops
 * the connection from taking streams; those above its last stream id end with IG_ERESET (the
 * server did not process them, so the caller may retry).
 *
 * A stream's state object lives until nghttp2 has closed the stream (its data provider points
 * into it), which may be after the application was told (cancel): "reported" and "released" are
 * separate steps.
 */
#include <pthread.h>
#include <stdio.h>

#include "h2_int.h"

#define H2C_FREE_MAX 32
/* Before the server's SETTINGS arrive, assume this many concurrent streams. */
#define H2C_INITIAL_MAX_STREAMS 100

struct h2c_conn {
    struct ig_http_cconn super; /* first: client.c frees it with ig_free in conn_gone */
    struct ig_h2_conn h2;
    ig_list_t streams; /* struct h2c_stream.link: not yet released */
    ig_list_t free;
    size_t nstreams, nfree;
    int goaway;  /* GOAWAY received: no new streams */
    int closing; /* ops->close ran */
    int close_err;
    int want_ready; /* capacity may have grown: tell client.c at the next safe point */
    int torn_down;
    int ping_outstanding;  /* keepalive PING sent, no ACK yet */
    uint64_t last_read_ns; /* keepalive: when the server last sent anything */
};

struct h2c_stream {
    struct ig_h2_io io;
    struct h2c_conn *conn;
    ig_http_cstream_t *cs; /* NULL once reported to client.c */
    ig_list_t link;
    ig_http_headers_t trailers; /* strings in cs->pool */
    size_t header_bytes, nheaders;
    int status;
    unsigned head_done : 1;
    unsigned canceled : 1;
    unsigned close_pending : 1; /* closed in nghttp2 with input still held for the application */
};

static const struct ig_http_cstream_ops h2c_cstream_ops;
static const struct ig_http_cconn_ops h2c_cconn_ops;
static const struct ig_sock_ops h2c_sock_ops;
static void h2c_teardown(struct ig_h2_conn *c);
static void report_all(struct h2c_conn *conn, int err);

/* ---- streams ----------------------------------------------------------------------------------- */

static struct h2c_stream *stream_new(struct h2c_conn *conn, ig_http_cstream_t *cs)
{
    struct h2c_stream *st;
    if (!ig_list_empty(&conn->free)) {
        st = IG_CONTAINER_OF(conn->free.next, struct h2c_stream, link);
        ig_list_remove(&st->link);
        conn->nfree--;
    } else {
        st = ig_calloc(1, sizeof(*st));
    }
    ig_h2__io_init(&st->io, &conn->h2);
    st->conn = conn;
    st->cs = cs;
    st->trailers = (ig_http_headers_t){NULL, 0, 0};
    st->header_bytes = st->nheaders = 0;
    st->status = 0;
    st->head_done = st->canceled = st->close_pending = 0;
    ig_list_push_back(&conn->streams, &st->link);
    conn->nstreams++;
    conn->super.idle_since_ns = 0;
    return st;
}

static void stream_free(struct h2c_stream *st)
{
    ig_h2__io_dispose(&st->io);
    ig_free(st);
}

/* Tells client.c (and through it the application) that the exchange is over. */
static void stream_report(struct h2c_stream *st, int err)
{
    ig_http_cstream_t *cs = st->cs;
    if (cs == NULL)
        return;
    st->cs = NULL;
    ig_http__cstream_close(cs, err);
}

/* nghttp2 is done with the stream: recycle its object. */
static void stream_release(struct h2c_stream *st)
{
    struct h2c_conn *conn = st->conn;

    IG_DASSERT(st->cs == NULL);
    ig_h2__io_detach(&st->io);
    if (conn->h2.ngh != NULL && st->io.id > 0)
        nghttp2_session_set_stream_user_data(conn->h2.ngh, st->io.id, NULL);
    ig_list_remove(&st->link);
    conn->nstreams--;
    if (conn->nfree < H2C_FREE_MAX && !conn->torn_down) {
        ig_h2__io_trim(&st->io);
        ig_list_push_front(&conn->free, &st->link);
        conn->nfree++;
    } else {
        stream_free(st);
    }
    conn->want_ready = 1;
}

static struct h2c_stream *stream_get(struct h2c_conn *conn, int32_t id)
{
    return nghttp2_session_get_stream_user_data(conn->h2.ngh, id);
}

static struct h2c_stream *stream_find(struct h2c_conn *conn, int32_t id)
{
    ig_list_t *p;
    ig_list_foreach(p, &conn->streams)
    {
        struct h2c_stream *st = IG_CONTAINER_OF(p, struct h2c_stream, link);
        if (st->io.id == id)
            return st;
    }
    return NULL;
}

const ig_http_headers_t *ig_h2__cstream_trailers(const ig_http_cstream_t *cs)
{
    if (cs->_ops != &h2c_cstream_ops || cs->_conn == NULL)
        return NULL;
    const struct h2c_stream *st = cs->_conn;
    return st->trailers.len != 0 ? &st->trailers : NULL;
}

/* ---- nghttp2 callbacks ------------------------------------------------------------------------- */

static int parse_status(ig_iov_t v)
{
    if (v.len != 3)
        return -1;
    int s = 0;
    for (size_t i = 0; i < 3; i++) {
        if (v.base[i] < '0' || v.base[i] > '9')
            return -1;
        s = s * 10 + (v.base[i] - '0');
    }
    return s;
}

static int on_header(nghttp2_session *ngh, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct h2c_conn *conn = ud;
    struct h2c_stream *st = stream_get(conn, frame->hd.stream_id);
    const struct ig_h1_limits *lim = &conn->super.client->config.h1_limits;
    ig_iov_t n = ig_iov(name, namelen), v = ig_iov(value, valuelen);

    (void)ngh;
    (void)flags;
    if (st == NULL || st->cs == NULL)
        return 0;
    ig_http_cstream_t *cs = st->cs;
    st->header_bytes += namelen + valuelen + 32;
    if (++st->nheaders > lim->max_headers || st->header_bytes > lim->max_header_bytes)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (st->head_done) {
        /* Trailers: kept for the protocols that need them (gRPC status). */
        if (namelen != 0 && name[0] != ':')
            ig_http_headers_add(&cs->pool, &st->trailers, ig_pool_dup(&cs->pool, n), ig_pool_dup(&cs->pool, v));
        return 0;
    }
    if (namelen != 0 && name[0] == ':') {
        if (ig_iov_eq(n, IG_STRLIT(":status")))
            st->status = parse_status(v);
        return 0;
    }
    n = ig_pool_dup(&cs->pool, n);
    v = ig_pool_dup(&cs->pool, v);
    ig_http_headers_add(&cs->pool, &cs->resp.headers, n, v);
    if (ig_iov_eq(n, IG_STRLIT("content-length")))
        cs->resp.content_length = ig_h2__parse_length(v);
    return 0;
}

static void response_head(struct h2c_stream *st)
{
    ig_http_cstream_t *cs = st->cs;
    if (st->status >= 100 && st->status < 200) {
        /* Interim responses are not reported: start over for the final one. */
        cs->resp.headers.len = 0;
        cs->resp.content_length = -1;
        st->status = 0;
        st->header_bytes = st->nheaders = 0;
        return;
    }
    st->head_done = 1;
    cs->resp.status = st->status;
    if (!st->canceled && cs->handler != NULL && cs->handler->on_response != NULL)
        cs->handler->on_response(cs, &cs->resp);
}

static int on_frame_recv(nghttp2_session *ngh, const nghttp2_frame *frame, void *ud)
{
    struct h2c_conn *conn = ud;
    struct h2c_stream *st;

    (void)ngh;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        st = stream_get(conn, frame->hd.stream_id);
        if (st == NULL || st->cs == NULL)
            return 0;
        if (!st->head_done)
            response_head(st);
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && st->head_done && st->cs != NULL)
            ig_h2__io_end(&st->io);
        break;
    case NGHTTP2_DATA:
        st = stream_get(conn, frame->hd.stream_id);
        if (st != NULL && st->cs != NULL && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
            ig_h2__io_end(&st->io);
        break;
    case NGHTTP2_GOAWAY:
        /* nghttp2 closes the streams above last_stream_id itself (REFUSED_STREAM). */
        conn->goaway = 1;
        break;
    case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK))
            conn->want_ready = 1;
        break;
    case NGHTTP2_PING:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK)
            conn->ping_outstanding = 0;
        break;
    default:
        break;
    }
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *ngh, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                              void *ud)
{
    struct h2c_conn *conn = ud;
    struct h2c_stream *st = stream_get(conn, id);

    (void)flags;
    ig_h2__data_chunk(ngh, id, st == NULL || st->cs == NULL || st->canceled ? NULL : &st->io, data, len);
    return 0;
}

static int on_stream_close(nghttp2_session *ngh, int32_t id, uint32_t error_code, void *ud)
{
    struct h2c_conn *conn = ud;
    struct h2c_stream *st = stream_get(conn, id);
    int err;

    if (st == NULL)
        return 0;
    if (st->canceled)
        err = IG_ECANCELED;
    else if (error_code == NGHTTP2_NO_ERROR && st->head_done && st->io.in_end)
        err = 0;
    else
        err = IG_ERESET; /* RST_STREAM, REFUSED_STREAM after GOAWAY, or an incomplete response */
    if (err == 0 && st->cs != NULL && ig_h2__io_holding(&st->io)) {
        /* The application paused with body bytes held: on_close waits until it has them. */
        nghttp2_session_set_stream_user_data(ngh, id, NULL);
        st->io.closed = 1;
        st->close_pending = 1;
        return 0;
    }
    stream_report(st, err);
    stream_release(st);
    return 0;
}

static int on_frame_not_send(nghttp2_session *ngh, const nghttp2_frame *frame, int lib_error_code, void *ud)
{
    struct h2c_conn *conn = ud;

    ig_h2__on_frame_not_send(ngh, frame, lib_error_code, ud);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    /* The request never left (a GOAWAY arrived first, or it was canceled): the server has not
     * seen it. The stream may never have been opened, so look it up by id. */
    struct h2c_stream *st = stream_find(conn, frame->hd.stream_id);
    if (st == NULL)
        return 0;
    stream_report(st, st->canceled ? IG_ECANCELED : IG_ERESET);
    stream_release(st);
    return 0;
}

static nghttp2_session_callbacks *client_callbacks;
static nghttp2_option *client_option;
static pthread_once_t client_once = PTHREAD_ONCE_INIT;

static void client_setup_once(void)
{
    static const struct ig_h2_engine_cbs fns = {
        .header = on_header,
        .frame_recv = on_frame_recv,
        .data_chunk_recv = on_data_chunk_recv,
        .stream_close = on_stream_close,
        .frame_not_send = on_frame_not_send,
    };
    ig_h2__engine_setup(&fns, &client_callbacks, &client_option);
    nghttp2_option_set_peer_max_concurrent_streams(client_option, H2C_INITIAL_MAX_STREAMS);
}

/* ---- cstream ops ------------------------------------------------------------------------------- */

static int h2c_write(ig_http_cstream_t *cs, const char *data, size_t len, int end)
{
    struct h2c_stream *st = cs->_conn;
    if (st == NULL || st->cs != cs || st->canceled || st->io.closed)
        return IG_ECLOSED;
    return ig_h2__io_write(&st->io, data, len, end);
}

static void h2c_read_pause(ig_http_cstream_t *cs, int paused)
{
    struct h2c_stream *st = cs->_conn;
    if (st != NULL && st->cs == cs)
        ig_h2__io_pause(&st->io, paused);
}

static void h2c_cancel(ig_http_cstream_t *cs)
{
    struct h2c_stream *st = cs->_conn;
    struct h2c_conn *conn;

    if (st == NULL || st->cs != cs || st->canceled)
        return;
    conn = st->conn;
    st->canceled = 1;
    if (conn->h2.ngh != NULL && !st->io.closed)
        nghttp2_submit_rst_stream(conn->h2.ngh, NGHTTP2_FLAG_NONE, st->io.id, NGHTTP2_CANCEL);
    /* on_close(IG_ECANCELED) runs at the next safe point, never inside the caller's call. */
    ig_h2__io_notify(&st->io);
}

static const struct ig_http_cstream_ops h2c_cstream_ops = {
    .write = h2c_write,
    .read_pause = h2c_read_pause,
    .cancel = h2c_cancel,
};

/* ---- common-code hooks ------------------------------------------------------------------------- */

static void h2c_deliver(struct ig_h2_io *io, const char *data, size_t len, int end)
{
    struct h2c_stream *st = IG_CONTAINER_OF(io, struct h2c_stream, io);
    ig_http_cstream_t *cs = st->cs;
    if (cs == NULL || st->canceled || cs->handler == NULL)
        return;
    if (end && len != 0 && st->trailers.len != 0 && cs->handler->on_trailers != NULL) {
        /* Trailers come after the last body byte: split the final delivery around them. */
        if (cs->handler->on_body != NULL)
            cs->handler->on_body(cs, data, len, 0);
        if (st->cs != cs || st->canceled)
            return;
        len = 0;
        data = NULL;
    }
    if (end && st->trailers.len != 0 && cs->handler->on_trailers != NULL) {
        cs->handler->on_trailers(cs, &st->trailers);
        if (st->cs != cs || st->canceled)
            return;
    }
    if (cs->handler->on_body != NULL)
        cs->handler->on_body(cs, data, len, end);
}

static void h2c_writable(struct ig_h2_io *io)
{
    struct h2c_stream *st = IG_CONTAINER_OF(io, struct h2c_stream, io);
    ig_http_cstream_t *cs = st->cs;
    if (cs != NULL && !st->canceled && cs->handler != NULL && cs->handler->on_writable != NULL)
        cs->handler->on_writable(cs);
}

static void h2c_resumed(struct ig_h2_io *io)
{
    struct h2c_stream *st = IG_CONTAINER_OF(io, struct h2c_stream, io);
    if (st->close_pending && !ig_h2__io_holding(io)) {
        stream_report(st, 0);
        stream_release(st);
    }
}

static void h2c_notified(struct ig_h2_io *io)
{
    struct h2c_stream *st = IG_CONTAINER_OF(io, struct h2c_stream, io);
    struct h2c_conn *conn = st->conn;

    if (!st->canceled)
        return;
    stream_report(st, IG_ECANCELED);
    /* A stream nghttp2 never opened (or already forgot) gets no close callback: release now. */
    if (st->io.closed || conn->h2.ngh == NULL || nghttp2_session_find_stream(conn->h2.ngh, st->io.id) == NULL)
        stream_release(st);
}

static void h2c_flushed(struct ig_h2_conn *c)
{
    struct h2c_conn *conn = IG_CONTAINER_OF(c, struct h2c_conn, h2);

    if (conn->nstreams == 0 && conn->super.idle_since_ns == 0 && conn->super.connected)
        conn->super.idle_since_ns = ig_time_ns();
    if (!conn->want_ready || !conn->super.connected || conn->closing || conn->torn_down)
        return;
    conn->want_ready = 0;
    ig_http__client_conn_ready(conn->super.client, &conn->super);
}

static void h2c_done(struct ig_h2_conn *c)
{
    if (c->sock != NULL)
        ig_sock_close(c->sock);
}

/*
 * The connection deadline drives the keepalive: a server silent for h2_keepalive_ms gets a PING,
 * and one that leaves it unanswered as long again is taken for dead. The connection is aborted
 * rather than closed gracefully, since nothing will drain its output.
 */
static void h2c_timeout(struct ig_h2_conn *c)
{
    struct h2c_conn *conn = IG_CONTAINER_OF(c, struct h2c_conn, h2);
    uint64_t ka = conn->super.client->config.h2_keepalive_ms;

    if (ka == 0 || conn->closing || conn->torn_down || c->ngh == NULL || c->sock == NULL)
        return;
    if (conn->ping_outstanding) {
        ig_log_info("h2", "keepalive PING unanswered for %llu ms: closing the connection", (unsigned long long)ka);
        conn->closing = 1;
        conn->close_err = IG_ETIMEDOUT;
        c->busy++;
        report_all(conn, IG_ETIMEDOUT);
        c->busy--;
        ig_sock_abort(c->sock, 1);
        return;
    }
    uint64_t quiet_ms = (ig_time_ns() - conn->last_read_ns) / 1000000u;
    if (quiet_ms < ka) {
        ig_h2__conn_set_deadline(c, ka - quiet_ms);
        return;
    }
    if (conn->nstreams == 0) {
        /* No PING without streams (gRPC's permit_without_calls off): servers such as grpc-go
         * count those as abuse and close the connection; an idle one is not waited on anyway. */
        ig_h2__conn_set_deadline(c, ka);
        return;
    }
    nghttp2_submit_ping(c->ngh, NGHTTP2_FLAG_NONE, NULL);
    conn->ping_outstanding = 1;
    ig_h2__conn_set_deadline(c, ka);
    ig_h2__conn_flush(c);
}

static void h2c_freed(struct ig_h2_conn *c)
{
    struct h2c_conn *conn = IG_CONTAINER_OF(c, struct h2c_conn, h2);
    /* client.c unlinks and frees the connection (conn->super is its first member). */
    ig_http__client_conn_gone(conn->super.client, &conn->super);
}

static const struct ig_h2_conn_ops h2c_conn_ops = {
    .deliver = h2c_deliver,
    .writable = h2c_writable,
    .done = h2c_done,
    .timeout = h2c_timeout,
    .resumed = h2c_resumed,
    .notified = h2c_notified,
    .flushed = h2c_flushed,
    .freed = h2c_freed,
    .teardown = h2c_teardown,
};

/* ---- cconn ops --------------------------------------------------------------------------------- */

static int h2c_can_take(struct ig_http_cconn *cc)
{
    struct h2c_conn *conn = IG_CONTAINER_OF(cc, struct h2c_conn, super);
    nghttp2_session *ngh = conn->h2.ngh;

    if (!cc->connected || conn->closing || conn->goaway || conn->torn_down || ngh == NULL)
        return 0;
    if (!nghttp2_session_check_request_allowed(ngh) || nghttp2_session_get_next_stream_id(ngh) > INT32_MAX - 2)
        return 0;
    return conn->nstreams < nghttp2_session_get_remote_settings(ngh, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

static void h2c_start(struct ig_http_cconn *cc, ig_http_cstream_t *cs, const ig_http_request_t *req, int end)
{
    struct h2c_conn *conn = IG_CONTAINER_OF(cc, struct h2c_conn, super);
    ig_pool_t *pool = &cs->pool;
    char addr[64];

    if (!h2c_can_take(cc)) {
        ig_http__cstream_close(cs, IG_ECLOSED);
        return;
    }
    struct h2c_stream *st = stream_new(conn, cs);
    cs->_ops = &h2c_cstream_ops;
    cs->_conn = st;
    cs->resp = (ig_http_response_t){0, {NULL, 0, 0}, -1};

    ig_iov_t authority = req->authority;
    if (authority.len == 0) {
        ssize_t h = ig_http_headers_find(&req->headers, IG_STRLIT("host"), 0);
        if (h >= 0)
            authority = req->headers.v[h].value;
        else if (cc->client->config.sni != NULL)
            authority = ig_iov_cstr(cc->client->config.sni);
        else
            authority = ig_pool_dup(pool, ig_iov_cstr(ig_addr_format((const struct sockaddr *)&cc->client->config.addr,
                                                                     addr, sizeof(addr))));
    }
    ig_iov_t scheme = req->scheme;
    if (scheme.len == 0)
        scheme = cc->client->config.ssl_ctx != NULL ? IG_STRLIT("https") : IG_STRLIT("http");

    nghttp2_nv *nva = ig_pool_alloc(pool, (req->headers.len + 5) * sizeof(*nva));
    size_t n = 0;
    nva[n++] = ig_h2__nv(IG_STRLIT(":method"), req->method.len != 0 ? req->method : IG_STRLIT("GET"));
    nva[n++] = ig_h2__nv(IG_STRLIT(":scheme"), scheme);
    nva[n++] = ig_h2__nv(IG_STRLIT(":authority"), authority);
    nva[n++] = ig_h2__nv(IG_STRLIT(":path"), req->path.len != 0 ? req->path : IG_STRLIT("/"));
    n += ig_h2__nv_headers(pool, &req->headers, nva + n, IG_STRLIT("host"));
    if (req->content_length >= 0 && ig_http_headers_find(&req->headers, IG_STRLIT("content-length"), 0) < 0)
        nva[n++] = ig_h2__nv(IG_STRLIT("content-length"),
                             ig_iov_cstr(ig_pool_printf(pool, "%lld", (long long)req->content_length)));

    nghttp2_data_provider prd = {.source.ptr = &st->io, .read_callback = ig_h2__io_read_cb};
    int32_t id = nghttp2_submit_request(conn->h2.ngh, NULL, nva, n, end ? NULL : &prd, st);
    if (id < 0) {
        ig_log_debug("h2", "submit_request: %s", nghttp2_strerror(id));
        stream_report(st, IG_EPROTO);
        stream_release(st);
        return;
    }
    st->io.id = id;
    if (end)
        st->io.out_end = 1;
    ig_h2__conn_kick(&conn->h2);
}

/* Ends every stream still known to the application with |err|. */
static void report_all(struct h2c_conn *conn, int err)
{
    ig_list_t *p, *tmp;
    ig_list_foreach_safe(p, tmp, &conn->streams)
    {
        struct h2c_stream *st = IG_CONTAINER_OF(p, struct h2c_stream, link);
        st->canceled = 1; /* nothing more reaches client.c for it */
        stream_report(st, err);
    }
}

static void h2c_close(struct ig_http_cconn *cc, int err)
{
    struct h2c_conn *conn = IG_CONTAINER_OF(cc, struct h2c_conn, super);

    if (conn->closing || conn->torn_down)
        return;
    conn->closing = 1;
    conn->close_err = err != 0 ? err : IG_ECLOSED;
    conn->h2.busy++; /* the application's reactions must not flush from in here */
    report_all(conn, conn->close_err);
    conn->h2.busy--;
    if (conn->h2.sock == NULL)
        return;
    if (cc->connected && conn->h2.ngh != NULL && !conn->h2.failed) {
        /* GOAWAY, then the session wants nothing more and ops->done closes the socket. */
        nghttp2_session_terminate_session(conn->h2.ngh, NGHTTP2_NO_ERROR);
        ig_h2__conn_kick(&conn->h2);
    } else {
        ig_sock_close(conn->h2.sock);
    }
}

static const struct ig_http_cconn_ops h2c_cconn_ops = {
    .can_take = h2c_can_take,
    .start = h2c_start,
    .close = h2c_close,
};

/* ---- socket ------------------------------------------------------------------------------------ */

/* The socket is gone: every stream still known to the application ends (h2_common.c frees the rest). */
static void h2c_teardown(struct ig_h2_conn *c)
{
    struct h2c_conn *conn = IG_CONTAINER_OF(c, struct h2c_conn, h2);

    conn->torn_down = 1;
    report_all(conn, conn->closing ? conn->close_err : IG_ECLOSED);
    while (!ig_list_empty(&conn->streams))
        stream_release(IG_CONTAINER_OF(conn->streams.next, struct h2c_stream, link));
    while (!ig_list_empty(&conn->free)) {
        struct h2c_stream *st = IG_CONTAINER_OF(conn->free.next, struct h2c_stream, link);
        ig_list_remove(&st->link);
        stream_free(st);
    }
    conn->super.idle_since_ns = 0;
}

static void h2c_on_connect(ig_sock_t *s, int status)
{
    struct h2c_conn *conn = IG_CONTAINER_OF(s->data, struct h2c_conn, h2);

    int alpn_ok = status != 0 || !ig_sock_is_tls(s) || ig_iov_eq(ig_sock_alpn(s), IG_STRLIT("h2"));
    ig_http__client_conn_connected(conn->super.client, &conn->super, alpn_ok ? status : IG_EPROTO);
    if (status != 0)
        return; /* on_close follows */
    if (!alpn_ok) {
        ig_log_warn("h2", "the server did not negotiate h2 (ALPN)");
        conn->closing = 1;
        conn->close_err = IG_EPROTO;
        ig_sock_close(s);
        return;
    }
    conn->super.connected = 1;
    conn->want_ready = 1;
    conn->last_read_ns = ig_time_ns();
    if (conn->super.client->config.h2_keepalive_ms != 0)
        ig_h2__conn_set_deadline(&conn->h2, conn->super.client->config.h2_keepalive_ms);
    ig_h2__conn_flush(&conn->h2); /* preface + SETTINGS, then client.c starts the waiting streams */
}

static void h2c_on_read(ig_sock_t *s, const char *data, size_t len)
{
    struct h2c_conn *conn = IG_CONTAINER_OF(s->data, struct h2c_conn, h2);
    conn->last_read_ns = ig_time_ns(); /* for the keepalive PING */
    ig_h2__sock_on_read(s, data, len);
}

static const struct ig_sock_ops h2c_sock_ops = {
    .on_connect = h2c_on_connect,
    .on_read = h2c_on_read,
    .on_drain = ig_h2__sock_on_drain,
    .on_close = ig_h2__sock_on_close,
};

struct ig_http_cconn *ig_h2__client_conn_create(ig_http_client_t *c, ig_sock_t *sock)
{
    struct h2c_conn *conn = ig_calloc(1, sizeof(*conn));
    const struct ig_h1_limits *lim = &c->config.h1_limits;

    pthread_once(&client_once, client_setup_once);
    conn->super.client = c;
    conn->super.sock = sock;
    conn->super.ops = &h2c_cconn_ops;
    ig_list_init(&conn->streams);
    ig_list_init(&conn->free);
    /* Request bodies use the server's default per-stream high-water mark; client.c opens its
     * sockets with the default output cap (4 MiB). */
    ig_h2__conn_init(&conn->h2, sock, &h2c_conn_ops, &h2c_sock_ops, 256u << 10, 4u << 20);
    int rc = nghttp2_session_client_new3(&conn->h2.ngh, client_callbacks, conn, client_option, &ig_h2__mem);
    IG_ASSERT(rc == 0); /* only NGHTTP2_ERR_NOMEM, and ig_malloc aborts first */
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, IG_H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)lim->max_header_bytes},
    };
    ig_h2__conn_settings(&conn->h2, iv, IG_ARRAY_LEN(iv));
    return &conn->super;
}
