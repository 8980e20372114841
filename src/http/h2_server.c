/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP/2 server engine: one nghttp2 server session per connection, handed over by the accept
 * path (ALPN h2, or the h2c prior-knowledge preface). Each request stream becomes an
 * ig_http_stream_t: the pseudo-headers fill ig_http_request_t and the regular headers land in the
 * stream's pool; the application's on_request runs once the header block is complete. Request
 * bodies are delivered (or held while the application pauses reading) through h2_common.c, whose
 * flow control consumes the stream window only as the application takes the data. Responses go
 * out as HEADERS plus DATA from a per-stream buffer. A drain sends a shutdown notice and a PING,
 * and the final GOAWAY once the PING is answered (one round trip, or a second at most), then the
 * connection closes when its last stream ends. Stream objects are recycled per connection.
 */
#include <pthread.h>
#include <stdio.h>

#include "h2_int.h"

/* Recycled stream objects kept per connection. */
#define H2S_FREE_MAX 32
/* How long a drain waits for the PING that follows the shutdown notice. */
#define H2S_DRAIN_RTT_MS 1000

enum h2s_drain_state {
    H2S_RUNNING = 0,
    H2S_NOTICE_SENT, /* shutdown notice + PING queued, waiting for the ACK */
    H2S_GOAWAY_SENT, /* final GOAWAY queued: no new streams; close once the open ones end */
};

struct h2s_conn {
    struct ig_http_sconn super; /* first: a stream's _conn is read as one (see http_int.h) */
    struct ig_h2_conn h2;
    ig_http_server_t *srv;
    ig_list_t streams; /* struct h2s_stream.link, open */
    ig_list_t free;    /* struct h2s_stream.link, recycled */
    size_t nstreams, nfree;
    struct sockaddr_storage peer; /* asked once per connection, copied into every stream */
    int is_tls;
    enum h2s_drain_state drain_state;
    int torn_down;
};
_Static_assert(offsetof(struct h2s_conn, super) == 0, "a stream's _conn is read as a struct ig_http_sconn");

struct h2s_stream {
    ig_http_stream_t super; /* first: stream.c's ig_http__stream_init/dispose work on it */
    struct ig_h2_io io;
    struct h2s_conn *conn;
    ig_list_t link;
    size_t header_bytes; /* header block accounting against the server's limits */
    size_t nheaders;
    nghttp2_nv *trailers; /* in the stream's pool: sent once the body is out */
    size_t ntrailers;
    /* request trailers received, in the stream's pool: reported before the body's end */
    ig_http_headers_t req_trailers;
    unsigned head_done : 1;     /* on_request ran */
    unsigned responded : 1;     /* HEADERS submitted */
    unsigned app_reset : 1;     /* ig_http_stream_reset: on_close(IG_ECANCELED) */
    unsigned authority : 1;     /* :authority seen (else Host fills it) */
    unsigned close_pending : 1; /* closed in nghttp2, held input still undelivered */
};

static const struct ig_http_stream_ops h2s_stream_ops;
static void h2s_teardown(struct ig_h2_conn *c);

/* ---- streams ----------------------------------------------------------------------------------- */

static struct h2s_stream *stream_new(struct h2s_conn *conn, int32_t id)
{
    struct h2s_stream *st;
    if (!ig_list_empty(&conn->free)) {
        st = IG_CONTAINER_OF(conn->free.next, struct h2s_stream, link);
        ig_list_remove(&st->link);
        conn->nfree--;
    } else {
        st = ig_calloc(1, sizeof(*st));
    }
    ig_http__stream_init(&st->super, conn->srv, NULL, &h2s_stream_ops, conn, (uint32_t)id);
    st->super.loop = conn->h2.sock->loop;
    st->super.peer = conn->peer;
    st->super.is_tls = conn->is_tls;
    ig_h2__io_init(&st->io, &conn->h2);
    st->io.id = id;
    st->conn = conn;
    st->header_bytes = 0;
    st->nheaders = 0;
    st->trailers = NULL;
    st->ntrailers = 0;
    st->req_trailers = (ig_http_headers_t){NULL, 0, 0};
    st->head_done = st->responded = st->app_reset = st->authority = st->close_pending = 0;
    ig_list_push_back(&conn->streams, &st->link);
    if (conn->nstreams++ == 0 && conn->drain_state == H2S_RUNNING)
        ig_h2__conn_set_deadline(&conn->h2, 0);
    return st;
}

static void stream_free(struct h2s_stream *st)
{
    ig_h2__io_dispose(&st->io);
    ig_free(st);
}

/* The stream is over for nghttp2 (or the connection is gone): tell the application, recycle. */
static void stream_close(struct h2s_stream *st, int err)
{
    struct h2s_conn *conn = st->conn;

    ig_h2__io_detach(&st->io);
    if (conn->h2.ngh != NULL)
        nghttp2_session_set_stream_user_data(conn->h2.ngh, st->io.id, NULL);
    ig_list_remove(&st->link);
    conn->nstreams--;
    if (st->head_done && st->super.handler != NULL && st->super.handler->on_close != NULL)
        st->super.handler->on_close(&st->super, err);
    ig_http__stream_dispose(&st->super);
    if (conn->nfree < H2S_FREE_MAX && !conn->torn_down) {
        ig_h2__io_trim(&st->io);
        ig_list_push_front(&conn->free, &st->link);
        conn->nfree++;
    } else {
        stream_free(st);
    }
    if (conn->nstreams == 0 && conn->drain_state == H2S_RUNNING && !conn->torn_down)
        ig_h2__conn_set_deadline(&conn->h2, conn->srv->config.idle_timeout_ms);
}

static struct h2s_stream *stream_get(struct h2s_conn *conn, int32_t id)
{
    return nghttp2_session_get_stream_user_data(conn->h2.ngh, id);
}

/* ---- nghttp2 callbacks ------------------------------------------------------------------------- */

static int on_begin_headers(nghttp2_session *ngh, const nghttp2_frame *frame, void *ud)
{
    struct h2s_conn *conn = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct h2s_stream *st = stream_new(conn, frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(ngh, frame->hd.stream_id, st);
    return 0;
}

static int on_header(nghttp2_session *ngh, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct h2s_conn *conn = ud;
    struct h2s_stream *st = stream_get(conn, frame->hd.stream_id);
    const struct ig_h1_limits *lim = &conn->srv->config.h1_limits;
    ig_iov_t n = ig_iov(name, namelen), v = ig_iov(value, valuelen);
    ig_http_request_t *req;

    (void)ngh;
    (void)flags;
    if (st == NULL)
        return 0;
    /* RFC 9113 6.5.2 counts 32 bytes of overhead per field. */
    st->header_bytes += namelen + valuelen + 32;
    if (++st->nheaders > lim->max_headers || st->header_bytes > lim->max_header_bytes)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM for this stream only */
    if (st->head_done) {
        /* Request trailers (nghttp2 validated them: no pseudo-headers), reported with the end. */
        ig_http_headers_add(&st->super.pool, &st->req_trailers, ig_pool_dup(&st->super.pool, n),
                            ig_pool_dup(&st->super.pool, v));
        return 0;
    }
    req = &st->super.req;
    if (namelen != 0 && name[0] == ':') {
        if (ig_iov_eq(n, IG_STRLIT(":method")))
            req->method = ig_pool_dup(&st->super.pool, v);
        else if (ig_iov_eq(n, IG_STRLIT(":path")))
            req->path = ig_pool_dup(&st->super.pool, v);
        else if (ig_iov_eq(n, IG_STRLIT(":scheme")))
            req->scheme = ig_pool_dup(&st->super.pool, v);
        else if (ig_iov_eq(n, IG_STRLIT(":authority"))) {
            req->authority = ig_pool_dup(&st->super.pool, v);
            st->authority = 1;
        }
        return 0;
    }
    n = ig_pool_dup(&st->super.pool, n);
    v = ig_pool_dup(&st->super.pool, v);
    ig_http_headers_add(&st->super.pool, &req->headers, n, v);
    if (ig_iov_eq(n, IG_STRLIT("content-length")))
        req->content_length = ig_h2__parse_length(v);
    else if (!st->authority && ig_iov_eq(n, IG_STRLIT("host")))
        req->authority = v;
    return 0;
}

static void request_ready(struct h2s_conn *conn, struct h2s_stream *st)
{
    ig_http_stream_t *s = &st->super;
    st->head_done = 1;
    s->req.version = IG_HTTP_2;
    s->start_ns = ig_time_ns();
    conn->srv->on_request(s);
}

static void final_goaway(struct h2s_conn *conn)
{
    conn->drain_state = H2S_GOAWAY_SENT;
    ig_h2__conn_set_deadline(&conn->h2, 0);
    nghttp2_submit_goaway(conn->h2.ngh, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(conn->h2.ngh),
                          NGHTTP2_NO_ERROR, NULL, 0);
}

static int on_frame_recv(nghttp2_session *ngh, const nghttp2_frame *frame, void *ud)
{
    struct h2s_conn *conn = ud;
    struct h2s_stream *st;

    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        st = stream_get(conn, frame->hd.stream_id);
        if (st == NULL)
            return 0;
        if (!st->head_done)
            request_ready(conn, st);
        /* on_request may have reset the stream; nghttp2 still owns it until the close callback. */
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && !st->io.closed)
            ig_h2__io_end(&st->io);
        break;
    case NGHTTP2_DATA:
        st = stream_get(conn, frame->hd.stream_id);
        if (st != NULL && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && !st->io.closed)
            ig_h2__io_end(&st->io);
        break;
    case NGHTTP2_PING:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) && conn->drain_state == H2S_NOTICE_SENT)
            final_goaway(conn);
        break;
    default:
        break;
    }
    (void)ngh;
    return 0;
}

static int on_data_chunk_recv(nghttp2_session *ngh, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                              void *ud)
{
    struct h2s_conn *conn = ud;
    struct h2s_stream *st = stream_get(conn, id);

    (void)flags;
    ig_h2__data_chunk(ngh, id, st == NULL || st->app_reset || st->io.closed ? NULL : &st->io, data, len);
    return 0;
}

static int on_stream_close(nghttp2_session *ngh, int32_t id, uint32_t error_code, void *ud)
{
    struct h2s_conn *conn = ud;
    struct h2s_stream *st = stream_get(conn, id);
    int err;

    if (st == NULL)
        return 0;
    if (st->app_reset)
        err = IG_ECANCELED;
    else if (error_code == NGHTTP2_NO_ERROR && st->responded && st->io.out_end && st->io.out.len == 0)
        err = 0;
    else
        err = IG_ERESET;
    if (err == 0 && ig_h2__io_holding(&st->io)) {
        /* The application paused with body bytes still held: it gets them (and on_close) when it
         * resumes. nghttp2 forgets the stream now, so only the held buffer is read from here on. */
        nghttp2_session_set_stream_user_data(ngh, id, NULL);
        st->io.closed = 1;
        st->close_pending = 1;
        return 0;
    }
    stream_close(st, err);
    return 0;
}

static nghttp2_session_callbacks *server_callbacks;
static nghttp2_option *server_option;
static pthread_once_t server_once = PTHREAD_ONCE_INIT;

static void server_setup_once(void)
{
    static const struct ig_h2_engine_cbs fns = {
        .begin_headers = on_begin_headers,
        .header = on_header,
        .frame_recv = on_frame_recv,
        .data_chunk_recv = on_data_chunk_recv,
        .stream_close = on_stream_close,
    };
    ig_h2__engine_setup(&fns, &server_callbacks, &server_option);
}

/* ---- stream ops -------------------------------------------------------------------------------- */

/*
 * The common data provider, plus trailers: when the body's last byte goes out and the application
 * ended the response with trailers, the DATA frame leaves END_STREAM to the trailing HEADERS.
 */
static ssize_t h2s_read_cb(nghttp2_session *ngh, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                           nghttp2_data_source *source, void *user_data)
{
    struct h2s_stream *st = IG_CONTAINER_OF(source->ptr, struct h2s_stream, io);
    ssize_t n = ig_h2__io_read_cb(ngh, id, buf, length, flags, source, user_data);

    if (n >= 0 && (*flags & NGHTTP2_DATA_FLAG_EOF) && st->ntrailers != 0) {
        int rv = nghttp2_submit_trailer(ngh, id, st->trailers, st->ntrailers);
        if (rv == 0)
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        else
            ig_log_debug("h2", "submit_trailer: %s", nghttp2_strerror(rv));
        st->ntrailers = 0;
    }
    return n;
}

static int h2s_respond(ig_http_stream_t *s, const ig_http_response_t *resp, int end)
{
    struct h2s_stream *st = IG_CONTAINER_OF(s, struct h2s_stream, super);
    struct h2s_conn *conn = st->conn;

    if (st->responded)
        return IG_EINVAL;
    if (st->io.closed || st->app_reset || conn->h2.ngh == NULL)
        return IG_ECLOSED;
    if (resp->status < 200 || resp->status > 999)
        return IG_EINVAL;

    size_t cap = resp->headers.len + 2;
    nghttp2_nv *nva = ig_pool_alloc(&s->pool, cap * sizeof(*nva));
    size_t n = 0;
    nva[n++] = ig_h2__nv(IG_STRLIT(":status"), ig_h2__format_u64(&s->pool, (uint64_t)resp->status));
    n += ig_h2__nv_headers(&s->pool, &resp->headers, nva + n, IG_IOV_NULL);
    if (resp->content_length >= 0 && ig_http_headers_find(&resp->headers, IG_STRLIT("content-length"), 0) < 0)
        nva[n++] = ig_h2__nv(IG_STRLIT("content-length"), ig_h2__format_u64(&s->pool, (uint64_t)resp->content_length));

    /* A HEAD response carries no body, whatever the application writes. */
    if (ig_iov_eq(s->req.method, IG_STRLIT("HEAD")))
        st->io.out_discard = 1;
    nghttp2_data_provider prd = {.source.ptr = &st->io, .read_callback = h2s_read_cb};
    int rv = nghttp2_submit_response(conn->h2.ngh, st->io.id, nva, n, end ? NULL : &prd);
    if (rv != 0) {
        ig_log_debug("h2", "submit_response: %s", nghttp2_strerror(rv));
        return IG_ECLOSED;
    }
    st->responded = 1;
    if (end)
        st->io.out_end = 1;
    ig_h2__conn_kick(&conn->h2);
    return 0;
}

static int h2s_write(ig_http_stream_t *s, const char *data, size_t len, int end)
{
    struct h2s_stream *st = IG_CONTAINER_OF(s, struct h2s_stream, super);

    if (st->io.closed || st->app_reset)
        return IG_ECLOSED;
    if (!st->responded)
        return IG_EINVAL;
    return ig_h2__io_write(&st->io, data, len, end);
}

static int h2s_write_trailers(ig_http_stream_t *s, const ig_http_header_t *trailers, size_t n)
{
    struct h2s_stream *st = IG_CONTAINER_OF(s, struct h2s_stream, super);

    if (st->io.closed || st->app_reset || st->conn->h2.ngh == NULL)
        return IG_ECLOSED;
    if (!st->responded || st->io.out_end || n == 0)
        return IG_EINVAL;
    /* nghttp2 copies the fields only when the trailer is submitted (from the data provider, once
     * the body is out), so they are kept in the stream's pool until then. */
    ig_http_headers_t h = {(ig_http_header_t *)(uintptr_t)trailers, n, n};
    nghttp2_nv *nva = ig_pool_alloc(&s->pool, n * sizeof(*nva));
    size_t cnt = ig_h2__nv_headers(&s->pool, &h, nva, IG_IOV_NULL);
    for (size_t i = 0; i < cnt; i++) {
        ig_iov_t name = ig_pool_dup(&s->pool, ig_iov(nva[i].name, nva[i].namelen));
        ig_iov_t value = ig_pool_dup(&s->pool, ig_iov(nva[i].value, nva[i].valuelen));
        nva[i] = ig_h2__nv(name, value);
    }
    st->trailers = nva;
    st->ntrailers = cnt;
    int rc = ig_h2__io_write(&st->io, NULL, 0, 1);
    return rc == IG_EAGAIN ? 0 : rc;
}

static void h2s_read_pause(ig_http_stream_t *s, int paused)
{
    struct h2s_stream *st = IG_CONTAINER_OF(s, struct h2s_stream, super);
    ig_h2__io_pause(&st->io, paused);
}

static void h2s_reset(ig_http_stream_t *s)
{
    struct h2s_stream *st = IG_CONTAINER_OF(s, struct h2s_stream, super);
    struct h2s_conn *conn = st->conn;

    if (st->io.closed || st->app_reset || conn->h2.ngh == NULL)
        return;
    st->app_reset = 1;
    ig_h2__io_detach(&st->io);
    st->io.closed = 0; /* still open in nghttp2 until the RST_STREAM goes out */
    nghttp2_submit_rst_stream(conn->h2.ngh, NGHTTP2_FLAG_NONE, st->io.id, NGHTTP2_CANCEL);
    ig_h2__conn_kick(&conn->h2);
}

static const struct ig_http_stream_ops h2s_stream_ops = {
    .respond = h2s_respond,
    .write = h2s_write,
    .read_pause = h2s_read_pause,
    .reset = h2s_reset,
    .write_trailers = h2s_write_trailers,
};

/* ---- common-code hooks ------------------------------------------------------------------------- */

static void h2s_deliver(struct ig_h2_io *io, const char *data, size_t len, int end)
{
    struct h2s_stream *st = IG_CONTAINER_OF(io, struct h2s_stream, io);
    const struct ig_http_stream_handler *h = st->super.handler;
    if (end && st->req_trailers.len != 0 && !st->app_reset && h != NULL && h->on_trailers != NULL) {
        if (len != 0 && h->on_body != NULL) {
            h->on_body(&st->super, data, len, 0); /* the body's last bytes come before the trailers */
            if (st->app_reset || st->super.handler != h)
                return;
            len = 0;
        }
        ig_http_headers_t t = st->req_trailers;
        st->req_trailers.len = 0;
        h->on_trailers(&st->super, &t);
        if (st->app_reset || st->super.handler != h)
            return;
    }
    if (!st->app_reset && h != NULL && h->on_body != NULL)
        h->on_body(&st->super, data, len, end);
}

static void h2s_writable(struct ig_h2_io *io)
{
    struct h2s_stream *st = IG_CONTAINER_OF(io, struct h2s_stream, io);
    const struct ig_http_stream_handler *h = st->super.handler;
    if (!st->app_reset && h != NULL && h->on_writable != NULL)
        h->on_writable(&st->super);
}

static void h2s_resumed(struct ig_h2_io *io)
{
    struct h2s_stream *st = IG_CONTAINER_OF(io, struct h2s_stream, io);
    if (st->close_pending && !ig_h2__io_holding(io))
        stream_close(st, 0);
}

static void h2s_done(struct ig_h2_conn *c)
{
    if (c->sock != NULL)
        ig_sock_close(c->sock);
}

static void h2s_timeout(struct ig_h2_conn *c)
{
    struct h2s_conn *conn = IG_CONTAINER_OF(c, struct h2s_conn, h2);

    if (conn->drain_state == H2S_NOTICE_SENT) {
        final_goaway(conn); /* the PING went unanswered */
    } else if (conn->drain_state == H2S_RUNNING && conn->nstreams == 0) {
        final_goaway(conn); /* idle */
    } else {
        return;
    }
    ig_h2__conn_flush(c);
}

static void h2s_freed(struct ig_h2_conn *c)
{
    struct h2s_conn *conn = IG_CONTAINER_OF(c, struct h2s_conn, h2);
    ig_free(conn);
}

static const struct ig_h2_conn_ops h2s_conn_ops = {
    .deliver = h2s_deliver,
    .writable = h2s_writable,
    .done = h2s_done,
    .timeout = h2s_timeout,
    .resumed = h2s_resumed,
    .freed = h2s_freed,
    .teardown = h2s_teardown,
};

/* ---- connection -------------------------------------------------------------------------------- */

static void h2s_drain(struct ig_http_sconn *sc)
{
    struct h2s_conn *conn = IG_CONTAINER_OF(sc, struct h2s_conn, super);

    if (conn->drain_state != H2S_RUNNING || conn->h2.ngh == NULL || conn->h2.sock == NULL)
        return;
    conn->drain_state = H2S_NOTICE_SENT;
    nghttp2_submit_shutdown_notice(conn->h2.ngh);
    nghttp2_submit_ping(conn->h2.ngh, NGHTTP2_FLAG_NONE, NULL);
    ig_h2__conn_set_deadline(&conn->h2, H2S_DRAIN_RTT_MS);
    ig_h2__conn_kick(&conn->h2);
}

/* The socket is gone: every open stream ends with IG_ECLOSED (h2_common.c frees the rest). */
static void h2s_teardown(struct ig_h2_conn *c)
{
    struct h2s_conn *conn = IG_CONTAINER_OF(c, struct h2s_conn, h2);

    conn->torn_down = 1;
    while (!ig_list_empty(&conn->streams)) {
        struct h2s_stream *st = IG_CONTAINER_OF(conn->streams.next, struct h2s_stream, link);
        stream_close(st, st->app_reset ? IG_ECANCELED : st->close_pending ? 0 : IG_ECLOSED);
    }
    while (!ig_list_empty(&conn->free)) {
        struct h2s_stream *st = IG_CONTAINER_OF(conn->free.next, struct h2s_stream, link);
        ig_list_remove(&st->link);
        stream_free(st);
    }
    ig_http__sconn_remove(conn->srv, &conn->super);
}

static const struct ig_sock_ops h2s_sock_ops = {
    .on_read = ig_h2__sock_on_read,
    .on_drain = ig_h2__sock_on_drain,
    .on_close = ig_h2__sock_on_close,
};

void ig_h2__server_start(ig_http_server_t *srv, ig_sock_t *sock, ig_iov_t sni, const char *pre, size_t len)
{
    struct h2s_conn *conn = ig_calloc(1, sizeof(*conn));
    const struct ig_http_server_config *cfg = &srv->config;

    pthread_once(&server_once, server_setup_once);
    conn->srv = srv;
    conn->super.drain = h2s_drain;
    conn->super.sni = sni;
    ig_list_init(&conn->streams);
    ig_list_init(&conn->free);
    ig_http__sconn_add(srv, &conn->super);
    ig_h2__conn_init(&conn->h2, sock, &h2s_conn_ops, &h2s_sock_ops, cfg->high_water, cfg->max_pending);
    if (ig_sock_peer(sock, &conn->peer) != 0)
        memset(&conn->peer, 0, sizeof(conn->peer));
    conn->is_tls = ig_sock_is_tls(sock);
    int rc = nghttp2_session_server_new3(&conn->h2.ngh, server_callbacks, conn, server_option, &ig_h2__mem);
    IG_ASSERT(rc == 0); /* only NGHTTP2_ERR_NOMEM, and ig_malloc aborts first */

    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->h2_max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, IG_H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)cfg->h1_limits.max_header_bytes},
    };
    ig_h2__conn_settings(&conn->h2, iv, IG_ARRAY_LEN(iv));
    ig_h2__conn_set_deadline(&conn->h2, cfg->idle_timeout_ms);
    if (srv->_draining)
        h2s_drain(&conn->super);
    if (len != 0)
        ig_h2__conn_recv(&conn->h2, pre, len);
    else
        ig_h2__conn_flush(&conn->h2);
}
