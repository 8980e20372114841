/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 client connections: one request at a time on a keep-alive connection. The request
 * head is written at once (held in a small buffer until the connection is up), bodies go out with
 * Content-Length or chunked, and the response is parsed with ig_h1_parse_response, its body
 * delivered by length, chunked or until the connection closes, with read_pause stopping the
 * socket. A connection returns to the pool only when the response was complete, the request body
 * fully sent, and both sides agreed to keep it alive.
 *
 * A reused connection can turn out to have been closed by the server just before the request
 * went out (a stale keep-alive). If no response byte arrived and the request had no body, it is
 * handed back to the client to run once more on a new connection.
 *
 * Calls from the application into a connection (write, read_pause, cancel) may happen inside its
 * callbacks; a socket that closes meanwhile is only torn down when the outermost call returns.
 */
#include "http_int.h"

#include <stdio.h>

/* Request output queued (socket plus pre-connect buffer) above which writes return IG_EAGAIN. */
#define OUT_HIGH_WATER (256u << 10)
/* Request bytes held until the connection is up. */
#define EARLY_MAX (4u << 20)
/* Slack above the head limits for bytes read after reading was paused. */
#define IN_SLACK (1u << 20)

enum req_mode {
    RQ_NONE = 0,
    RQ_LENGTH,
    RQ_CHUNKED,
};

struct h1c_conn {
    struct ig_http_cconn super;
    ig_http_client_t *client;
    ig_buf_t in;
    ig_buf_t early; /* request bytes written before the connection was up */
    ig_http_header_t *hdrs;
    ig_http_cstream_t *cs; /* the active stream, or NULL when idle */
    uint32_t served;       /* responses completed on this connection */
    int busy;
    int processing;
    int dead; /* the socket closed while busy */
    int sock_err;
    int connect_err;
    int closing;

    /* request */
    int req_mode;
    uint64_t req_remaining;
    int req_done;
    int retry_ok;
    int reclaim_ok; /* the request may be moved to another connection before any answer */
    int no_reuse;
    int want_writable;

    /* response */
    int is_head;
    int got_byte;
    int head_done;
    int framing;
    uint64_t remaining;
    ig_h1_chunked_t chunked;
    int keep_alive;
    int paused;
    int sock_paused;
};

static void finalize(struct h1c_conn *c);
static void process(struct h1c_conn *c);

static void leave(struct h1c_conn *c)
{
    if (--c->busy == 0 && c->dead)
        finalize(c);
}

static void update_read(struct h1c_conn *c)
{
    if (c->super.sock == NULL || c->dead)
        return;
    const struct ig_h1_limits *lim = &c->client->config.h1_limits;
    int pause =
        (c->cs != NULL && c->paused && c->head_done) || c->in.len >= lim->max_request_line + lim->max_header_bytes;
    if (pause != c->sock_paused) {
        c->sock_paused = pause;
        ig_sock_read_pause(c->super.sock, pause);
    }
}

/* Closes the socket; streams and the pool learn about it in finalize(). */
static void conn_abort(struct h1c_conn *c)
{
    c->closing = 1;
    c->super.idle_since_ns = 0;
    if (c->super.sock != NULL)
        ig_sock_abort(c->super.sock, 0);
}

/* Detaches and ends the active stream. */
static void stream_end(struct h1c_conn *c, int err)
{
    ig_http_cstream_t *cs = c->cs;
    if (cs == NULL)
        return;
    c->cs = NULL;
    c->want_writable = 0;
    ig_http__cstream_close(cs, err);
}

/*
 * Ends the active stream with |err| and aborts the connection. The connection is marked closing
 * first: the stream's on_close may start a new request on this client, and that request must not
 * be handed this dying connection.
 */
static void stream_fail(struct h1c_conn *c, int err)
{
    c->closing = 1;
    stream_end(c, err);
    conn_abort(c);
}

/* ---- request side ---------------------------------------------------------------------------- */

static int send_bytes(struct h1c_conn *c, const ig_iov_t *iov, size_t n)
{
    if (c->super.sock == NULL || c->closing)
        return IG_ECLOSED;
    if (c->super.connected)
        return ig_sock_writev(c->super.sock, iov, n);
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += iov[i].len;
    if (c->early.len + total > c->early.max)
        return IG_ETOOBIG;
    for (size_t i = 0; i < n; i++)
        (void)ig_buf_append(&c->early, iov[i].base, iov[i].len);
    return 0;
}

static size_t queued(const struct h1c_conn *c)
{
    return c->early.len + (c->super.sock != NULL ? ig_sock_pending(c->super.sock) : 0);
}

static int is_framing_header(ig_iov_t name)
{
    return ig_iov_eq_nocase(name, IG_STRLIT("host")) || ig_iov_eq_nocase(name, IG_STRLIT("content-length")) ||
           ig_iov_eq_nocase(name, IG_STRLIT("transfer-encoding"));
}

static int has_crlf(ig_iov_t v)
{
    return memchr(v.base, '\r', v.len) != NULL || memchr(v.base, '\n', v.len) != NULL;
}

/* Serialises the request head into the stream's arena. Returns its slice. */
static ig_iov_t build_head(struct h1c_conn *c, ig_http_cstream_t *cs, const ig_http_request_t *req, int end)
{
    ig_buf_t b;
    ig_buf_init(&b, 0);
    ig_iov_t method = req->method.len != 0 ? req->method : IG_STRLIT("GET");
    ig_iov_t path = req->path.len != 0 ? req->path : IG_STRLIT("/");
    char addr[64];
    ig_iov_t host = req->authority;
    if (host.len == 0)
        host = ig_iov_cstr(ig_addr_format((const struct sockaddr *)&c->client->config.addr, addr, sizeof(addr)));
    (void)ig_buf_appendf(&b, "%.*s %.*s HTTP/1.1\r\nhost: %.*s\r\n", (int)method.len, method.base, (int)path.len,
                         path.base, (int)host.len, host.base);
    for (size_t i = 0; i < req->headers.len; i++) {
        const ig_http_header_t *h = &req->headers.v[i];
        if (is_framing_header(h->name) || h->name.len == 0 || has_crlf(h->name) || has_crlf(h->value))
            continue;
        if (ig_iov_eq_nocase(h->name, IG_STRLIT("connection")) &&
            ig_iov_eq_nocase(ig_iov_trim(h->value), IG_STRLIT("close")))
            c->no_reuse = 1;
        (void)ig_buf_append(&b, h->name.base, h->name.len);
        (void)ig_buf_append(&b, ": ", 2);
        (void)ig_buf_append(&b, h->value.base, h->value.len);
        (void)ig_buf_append(&b, "\r\n", 2);
    }
    if (end) {
        c->req_mode = RQ_NONE;
        /* A body-carrying method without a body still says so, or some servers wait for one. */
        if (ig_iov_eq(method, IG_STRLIT("POST")) || ig_iov_eq(method, IG_STRLIT("PUT")) ||
            ig_iov_eq(method, IG_STRLIT("PATCH")))
            (void)ig_buf_append(&b, "content-length: 0\r\n", 19);
    } else if (req->content_length >= 0) {
        c->req_mode = RQ_LENGTH;
        c->req_remaining = (uint64_t)req->content_length;
        (void)ig_buf_appendf(&b, "content-length: %lld\r\n", (long long)req->content_length);
    } else {
        c->req_mode = RQ_CHUNKED;
        (void)ig_buf_append(&b, "transfer-encoding: chunked\r\n", 28);
    }
    (void)ig_buf_append(&b, "\r\n", 2);
    ig_iov_t out = ig_pool_dup(&cs->pool, ig_iov(ig_buf_data(&b), b.len));
    ig_buf_dispose(&b);
    return out;
}

static int h1c_write(ig_http_cstream_t *cs, const char *data, size_t len, int end)
{
    struct h1c_conn *c = cs->_conn;
    if (c == NULL || c->cs != cs || c->super.sock == NULL || c->closing)
        return IG_ECLOSED;
    if (c->req_done)
        return IG_EINVAL;
    ig_iov_t iov[4];
    size_t n = 0;
    char hdr[24];
    if (c->req_mode == RQ_LENGTH) {
        if (len > c->req_remaining)
            return IG_EINVAL;
        if (len > 0)
            iov[n++] = ig_iov(data, len);
    } else if (c->req_mode == RQ_CHUNKED) {
        if (len > 0) {
            iov[n++] = ig_iov(hdr, ig_h1_chunk_header(hdr, len));
            iov[n++] = ig_iov(data, len);
            iov[n++] = IG_STRLIT("\r\n");
        }
        if (end)
            iov[n++] = IG_STRLIT("0\r\n\r\n");
    }
    int rc = n > 0 ? send_bytes(c, iov, n) : 0;
    if (rc != 0) {
        c->busy++;
        stream_fail(c, rc == IG_ETOOBIG ? IG_ETOOBIG : IG_ECLOSED);
        leave(c);
        return IG_ECLOSED;
    }
    if (c->req_mode == RQ_LENGTH)
        c->req_remaining -= len;
    if (end) {
        c->req_done = 1;
        if (c->req_mode == RQ_LENGTH && c->req_remaining != 0)
            c->no_reuse = 1; /* short body: the server will wait for the rest */
        return 0;
    }
    if (queued(c) > OUT_HIGH_WATER) {
        c->want_writable = 1;
        return IG_EAGAIN;
    }
    return 0;
}

static void h1c_read_pause(ig_http_cstream_t *cs, int paused)
{
    struct h1c_conn *c = cs->_conn;
    if (c == NULL || c->cs != cs)
        return;
    c->paused = !!paused;
    if (paused) {
        update_read(c);
        return;
    }
    c->busy++;
    process(c);
    leave(c);
}

static void h1c_cancel(ig_http_cstream_t *cs)
{
    struct h1c_conn *c = cs->_conn;
    if (c == NULL || c->cs != cs)
        return;
    c->busy++;
    stream_fail(c, IG_ECANCELED);
    leave(c);
}

static const struct ig_http_cstream_ops h1c_cs_ops = {
    .write = h1c_write,
    .read_pause = h1c_read_pause,
    .cancel = h1c_cancel,
};

/* ---- response side --------------------------------------------------------------------------- */

static ig_iov_t rebase(ig_iov_t v, const char *from, char *to)
{
    if (v.base == NULL)
        return v;
    return ig_iov(to + (v.base - from), v.len);
}

/* Returns 1 on progress, 0 when more bytes are needed, -1 when the connection failed. */
static int parse_head(struct h1c_conn *c)
{
    const struct ig_h1_limits *lim = &c->client->config.h1_limits;
    ig_http_cstream_t *cs = c->cs;
    ig_h1_message_t msg;
    memset(&msg, 0, sizeof(msg));
    msg.headers = c->hdrs;
    msg.num_headers = lim->max_headers;
    const char *data = ig_buf_data(&c->in);
    int rc = ig_h1_parse_response(data, c->in.len, lim, c->is_head, &msg, NULL);
    if (rc == IG_EINCOMPLETE)
        return 0;
    if (rc < 0 || msg.status == 101) {
        stream_fail(c, IG_EPROTO);
        return -1;
    }
    size_t n = (size_t)rc;
    if (msg.status < 200) {
        ig_buf_consume(&c->in, n); /* interim responses (100 Continue, 103) are not reported */
        return 1;
    }
    char *copy = ig_pool_alloc(&cs->pool, n);
    memcpy(copy, data, n);
    ig_http_header_t *hv = ig_pool_alloc(&cs->pool, (msg.num_headers > 0 ? msg.num_headers : 1) * sizeof(*hv));
    for (size_t i = 0; i < msg.num_headers; i++) {
        hv[i].name = rebase(c->hdrs[i].name, data, copy);
        hv[i].value = rebase(c->hdrs[i].value, data, copy);
    }
    ig_buf_consume(&c->in, n);
    cs->resp.status = msg.status;
    cs->resp.headers.v = hv;
    cs->resp.headers.len = cs->resp.headers.cap = msg.num_headers;
    c->framing = msg.framing;
    c->remaining = msg.framing == IG_H1_BODY_LENGTH ? msg.content_length : 0;
    if (msg.framing == IG_H1_BODY_LENGTH && msg.content_length == 0)
        c->framing = IG_H1_BODY_NONE;
    cs->resp.content_length = c->framing == IG_H1_BODY_NONE     ? 0
                              : c->framing == IG_H1_BODY_LENGTH ? (int64_t)msg.content_length
                                                                : -1;
    ig_h1_chunked_init(&c->chunked);
    c->keep_alive = msg.keep_alive && c->framing != IG_H1_BODY_UNTIL_CLOSE;
    c->head_done = 1;
    if (cs->handler->on_response != NULL)
        cs->handler->on_response(cs, &cs->resp);
    return 1;
}

static void deliver(struct h1c_conn *c, const char *data, size_t len, int end)
{
    ig_http_cstream_t *cs = c->cs;
    if (cs != NULL && cs->handler->on_body != NULL)
        cs->handler->on_body(cs, data, len, end);
}

static void chunk_data(void *arg, const char *data, size_t len)
{
    deliver(arg, data, len, 0);
}

/* The response is complete: end the stream, then pool or close the connection. */
static void response_done(struct h1c_conn *c)
{
    int reuse = c->keep_alive && c->req_done && !c->no_reuse && c->in.len == 0 && !c->closing;
    c->served++;
    if (reuse && c->super.sock != NULL) {
        /* Offered for reuse before the stream's on_close runs, so that a request made from there
         * takes this warm connection from the client's idle list. */
        ig_http_cstream_t *cs = c->cs;
        c->cs = NULL;
        c->want_writable = 0;
        c->head_done = 0;
        c->paused = 0;
        c->super.idle_since_ns = ig_time_ns();
        update_read(c);
        ig_http__client_conn_ready(c->client, &c->super);
        if (cs != NULL)
            ig_http__cstream_close(cs, 0);
        return;
    }
    stream_end(c, 0);
    if (c->super.sock == NULL || c->closing)
        return;
    c->closing = 1;
    ig_sock_close(c->super.sock);
}

/* Returns 1 on progress. */
static int body_step(struct h1c_conn *c)
{
    if (c->framing == IG_H1_BODY_NONE) {
        deliver(c, NULL, 0, 1);
        if (c->cs != NULL)
            response_done(c);
        return 1;
    }
    if (c->in.len == 0)
        return 0;
    const char *data = ig_buf_data(&c->in);
    if (c->framing == IG_H1_BODY_UNTIL_CLOSE) {
        size_t n = c->in.len;
        ig_buf_consume(&c->in, n);
        deliver(c, data, n, 0);
        return 1;
    }
    if (c->framing == IG_H1_BODY_LENGTH) {
        size_t n = (size_t)IG_MIN((uint64_t)c->in.len, c->remaining);
        c->remaining -= n;
        ig_buf_consume(&c->in, n);
        int end = c->remaining == 0;
        deliver(c, data, n, end);
        if (end && c->cs != NULL)
            response_done(c);
        return 1;
    }
    size_t used = c->in.len;
    int rc = ig_h1_chunked_decode(&c->chunked, data, &used, chunk_data, c);
    ig_buf_consume(&c->in, used);
    if (rc < 0) {
        stream_fail(c, IG_EPROTO);
        return 0;
    }
    if (rc == 1) {
        deliver(c, NULL, 0, 1);
        if (c->cs != NULL)
            response_done(c);
        return 1;
    }
    return used > 0;
}

static void process(struct h1c_conn *c)
{
    if (c->processing)
        return;
    c->processing = 1;
    c->busy++;
    while (c->cs != NULL && c->super.sock != NULL && !c->closing) {
        if (!c->head_done) {
            if (c->in.len == 0 || parse_head(c) <= 0)
                break;
            continue;
        }
        if (c->paused || !body_step(c))
            break;
    }
    c->processing = 0;
    update_read(c);
    leave(c);
}

/* ---- socket events --------------------------------------------------------------------------- */

static void on_connect(ig_sock_t *sock, int status)
{
    struct h1c_conn *c = sock->data;
    ig_http__client_conn_connected(c->client, &c->super, status);
    if (status != 0) {
        c->connect_err = status;
        return; /* on_close follows */
    }
    c->super.connected = 1;
    if (c->early.len > 0) {
        if (ig_sock_write(sock, ig_buf_data(&c->early), c->early.len) != 0) {
            c->busy++;
            stream_fail(c, IG_ETOOBIG);
            leave(c);
            return;
        }
    }
    ig_buf_dispose(&c->early);
    if (c->cs == NULL) {
        c->super.idle_since_ns = ig_time_ns();
        ig_http__client_conn_ready(c->client, &c->super);
    }
}

static void on_read(ig_sock_t *sock, const char *data, size_t len)
{
    struct h1c_conn *c = sock->data;
    if (c->closing || len == 0)
        return;
    if (c->cs == NULL) {
        /* Bytes on an idle connection: nothing can be framed with them. */
        conn_abort(c);
        return;
    }
    c->got_byte = 1;
    if (c->super.fresh)
        ig_http__client_conn_answered(c->client, &c->super);
    if (ig_buf_append(&c->in, data, len) != 0) {
        c->busy++;
        stream_fail(c, IG_ETOOBIG);
        leave(c);
        return;
    }
    process(c);
}

static void on_drain(ig_sock_t *sock)
{
    struct h1c_conn *c = sock->data;
    ig_http_cstream_t *cs = c->cs;
    if (cs == NULL || !c->want_writable)
        return;
    c->want_writable = 0;
    if (cs->handler->on_writable != NULL) {
        c->busy++;
        cs->handler->on_writable(cs);
        leave(c);
    }
}

static void on_close(ig_sock_t *sock, int err)
{
    struct h1c_conn *c = sock->data;
    c->super.sock = NULL;
    c->sock_err = err;
    c->dead = 1;
    if (c->busy == 0)
        finalize(c);
}

static void finalize(struct h1c_conn *c)
{
    ig_http_cstream_t *cs = c->cs;
    c->busy++; /* no re-entry while the stream learns its fate */
    if (cs != NULL && c->head_done && c->framing == IG_H1_BODY_UNTIL_CLOSE && c->sock_err == IG_ECLOSED) {
        /* The close is the body's end: deliver what is left, paused or not. */
        if (c->in.len > 0)
            deliver(c, ig_buf_data(&c->in), c->in.len, 0);
        deliver(c, NULL, 0, 1);
        c->served++;
        stream_end(c, 0);
    } else if (cs != NULL && !c->got_byte && c->retry_ok) {
        c->cs = NULL;
        ig_http__client_retry(c->client, cs);
    } else if (cs != NULL) {
        int err = c->super.connected ? (c->sock_err == IG_ERESET ? IG_ERESET : IG_ECLOSED)
                                     : (c->connect_err != 0 ? c->connect_err : IG_ECONNECT);
        stream_end(c, err);
    }
    ig_buf_dispose(&c->in);
    ig_buf_dispose(&c->early);
    ig_free(c->hdrs);
    c->super.connect_err = c->connect_err;
    ig_http__client_conn_gone(c->client, &c->super); /* frees c */
}

static const struct ig_sock_ops h1c_sock_ops = {
    .on_connect = on_connect,
    .on_read = on_read,
    .on_drain = on_drain,
    .on_close = on_close,
};

/* ---- connection ops -------------------------------------------------------------------------- */

static int h1c_can_take(struct ig_http_cconn *cc)
{
    struct h1c_conn *c = IG_CONTAINER_OF(cc, struct h1c_conn, super);
    return c->cs == NULL && !c->closing && !c->dead && cc->sock != NULL;
}

static void h1c_start(struct ig_http_cconn *cc, ig_http_cstream_t *cs, const ig_http_request_t *req, int end)
{
    struct h1c_conn *c = IG_CONTAINER_OF(cc, struct h1c_conn, super);
    IG_ASSERT(c->cs == NULL);
    c->cs = cs;
    cs->_conn = c;
    cs->_ops = &h1c_cs_ops;
    cs->reused = c->served > 0;
    cc->idle_since_ns = 0;
    c->no_reuse = 0;
    c->req_remaining = 0;
    c->want_writable = 0;
    c->got_byte = 0;
    c->head_done = 0;
    c->paused = 0;
    c->is_head = ig_iov_eq(req->method, IG_STRLIT("HEAD"));
    ig_iov_t head = build_head(c, cs, req, end);
    c->req_done = end || (c->req_mode == RQ_LENGTH && c->req_remaining == 0);
    /* Only a request with nothing more to send can be replayed safely on another connection. */
    c->retry_ok = end && c->served > 0;
    c->reclaim_ok = end && (req->method.len == 0 || ig_iov_eq(req->method, IG_STRLIT("GET")) || c->is_head);
    c->busy++;
    if (send_bytes(c, &head, 1) != 0) {
        c->retry_ok = 0;
        stream_fail(c, IG_ECLOSED);
    }
    update_read(c);
    leave(c);
}

static void h1c_close(struct ig_http_cconn *cc, int err)
{
    struct h1c_conn *c = IG_CONTAINER_OF(cc, struct h1c_conn, super);
    c->busy++;
    if (c->cs != NULL)
        stream_fail(c, err != 0 ? err : IG_ECANCELED);
    else
        conn_abort(c);
    leave(c);
}

/*
 * The origin has not answered the connection (it may not even have accepted it): a request with
 * no body and a safe method leaves for another connection, and this one closes, so that the
 * origin drops the copy it may read later.
 */
static ig_http_cstream_t *h1c_reclaim(struct ig_http_cconn *cc)
{
    struct h1c_conn *c = IG_CONTAINER_OF(cc, struct h1c_conn, super);
    ig_http_cstream_t *cs = c->cs;
    if (cs == NULL || c->got_byte || !c->reclaim_ok || !c->req_done || c->closing || c->dead || c->busy)
        return NULL;
    c->cs = NULL;
    c->want_writable = 0;
    cs->_conn = NULL;
    c->busy++;
    conn_abort(c);
    leave(c);
    return cs;
}

static const struct ig_http_cconn_ops h1c_conn_ops = {
    .can_take = h1c_can_take,
    .start = h1c_start,
    .close = h1c_close,
    .reclaim = h1c_reclaim,
};

struct ig_http_cconn *ig_h1__client_conn_create(ig_http_client_t *cl, ig_sock_t *sock)
{
    const struct ig_h1_limits *lim = &cl->config.h1_limits;
    struct h1c_conn *c = ig_calloc(1, sizeof(*c));
    c->client = cl;
    c->super.client = cl;
    c->super.sock = sock;
    c->super.ops = &h1c_conn_ops;
    ig_buf_init(&c->in, lim->max_request_line + lim->max_header_bytes + IN_SLACK);
    ig_buf_init(&c->early, EARLY_MAX);
    c->hdrs = ig_calloc(lim->max_headers, sizeof(*c->hdrs));
    sock->ops = &h1c_sock_ops;
    sock->data = c;
    return &c->super;
}
