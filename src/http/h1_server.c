/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 server connections. One connection serves one request at a time: the next pipelined
 * request is parsed only after the current response is finished, and its bytes wait in the input
 * buffer (bounded: past the cap the socket stops being read). The request head is copied into a
 * stream's arena so its slices stay valid while body bytes arrive.
 *
 * Memory: an idle keep-alive connection holds only its socket, two timers and a few flags. Bytes
 * are parsed straight from the socket's read buffer; only a partial head or body (or a pipelined
 * request waiting its turn) is copied into an input buffer, borrowed from the thread's block cache
 * and given back once empty. The stream object comes from a per-thread free list when a request
 * starts and returns there when its response is done; the header array the parser fills and the
 * buffer a response head is serialised into are per thread too (both are used synchronously). The
 * stream's arena recycles its chunks through the per-thread cache, so a keep-alive request costs
 * no malloc.
 *
 * Re-entrancy: the application may call any ig_http_stream_* function from any callback. Work
 * that would call back into the application from inside such a call (finishing a stream, the
 * next pipelined request, resumed body input, teardown after the socket closed) is deferred to
 * the connection's processing loop or to a zero-delay timer ("kick").
 */
#include "http_int.h"

#include <pthread.h>
#include <stdio.h>

#define CONTINUE_100 "HTTP/1.1 100 Continue\r\n\r\n"
/* Slack above the head limits for bytes that arrive after reading is paused (socket reads). */
#define IN_SLACK (1u << 20)
/* Most a response head may take once the application's headers are serialised. */
#define OUT_HEAD_MAX (1u << 20)
/* A request body the application did not read is skipped if this small, else the connection closes. */
#define DISCARD_MAX (256u << 10)
/* Request trailer field bytes kept for the handler: the decoder's bound on the trailer section. */
#define TRAIL_MAX (64u << 10)
/* Stream objects kept on each thread's free list. */
#define STREAM_CACHE_MAX 256

enum conn_state {
    CS_HEAD = 0, /* waiting for (the rest of) a request head */
    CS_ACTIVE,   /* a request is in progress (its stream, then possibly a discarded body) */
    CS_CLOSING,  /* no further request: the socket is closing */
};

enum timer_mode {
    TM_NONE = 0,
    TM_IDLE,   /* keep-alive wait for the next request */
    TM_HEADER, /* first byte of a head to its end */
};

enum resp_mode {
    RM_NONE = 0, /* no body bytes go out (HEAD, 204, 304) */
    RM_LENGTH,
    RM_CHUNKED,
    RM_CLOSE, /* HTTP/1.0 without a length: the body ends with the connection */
};

struct h1s_conn {
    struct ig_http_sconn super; /* first: a stream's _conn is read as one (see http_int.h) */
    ig_http_server_t *srv;
    ig_sock_t *sock;          /* NULL once the socket is gone */
    ig_buf_t in;              /* received, not yet consumed (storage borrowed while non-empty) */
    const char *ext;          /* during on_read: the socket's bytes, consumed in place */
    size_t ext_len;           /* unconsumed bytes at |ext| (logically before nothing: |in| is empty) */
    ig_http_stream_t *stream; /* the current request's, from the thread's free list; NULL between requests */
    uv_timer_t timer;
    uv_timer_t kick;
    uint64_t req_remaining;
    uint64_t resp_remaining;
    ig_h1_chunked_t chunked;
    ig_buf_t trail; /* the chunked body's trailer field lines, while they arrive (storage borrowed) */
    int busy;       /* calls into this connection in progress */
    int handles;    /* open uv handles; the connection is freed when the last one closes */
    int sock_err;   /* what the socket's on_close reported */
    int stream_err; /* why the live stream ends, when known before the socket closes */
    uint32_t nreq;
    union { /* asked once per connection; a socket's peer is IPv4 or IPv6 */
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } peer;
    /* Flags, packed: an idle connection is mostly this struct. */
    unsigned timer_mode : 2; /* enum timer_mode */
    unsigned state : 2;      /* enum conn_state */
    unsigned processing : 1; /* inside process() */
    unsigned dead : 1;       /* the socket closed while busy: tear down at the next safe point */
    unsigned torn_down : 1;
    unsigned sock_paused : 1;
    unsigned drain_pending : 1; /* on_drain seen: on_writable is due from the kick timer */
    unsigned is_tls : 1;
    unsigned trail_over : 1; /* |trail| could not hold them all */

    /* The current request. */
    unsigned stream_live : 1; /* from on_request until on_close */
    unsigned framing : 2;     /* enum ig_h1_framing of the request body */
    unsigned req_done : 1;
    unsigned body_paused : 1;
    unsigned expect_continue : 1;
    unsigned continue_sent : 1;
    unsigned keep_alive : 1;
    unsigned is_head : 1;
    unsigned minor : 1;

    /* The current response. */
    unsigned head_sent : 1;
    unsigned resp_done : 1;
    unsigned resp_mode : 2; /* enum resp_mode */
    unsigned want_writable : 1;
    unsigned close_after : 1;
};
_Static_assert(offsetof(struct h1s_conn, super) == 0, "a stream's _conn is read as a struct ig_http_sconn");

static void process(struct h1s_conn *c);
static void teardown(struct h1s_conn *c);

/* ---- per-thread state ------------------------------------------------------------------------ */

/* A stream object on the free list reuses its own storage for the link. */
union stream_slot {
    ig_http_stream_t stream;
    union stream_slot *next;
};

struct h1s_thread {
    ig_http_header_t *hdrs; /* the parser's output, copied into the stream's arena */
    size_t nhdrs;
    ig_buf_t out; /* a response head being serialised */
    union stream_slot *free;
    size_t nfree;
    int registered; /* the exit destructor is armed */
};

static _Thread_local struct h1s_thread thr;
static pthread_key_t thr_key;
static pthread_once_t thr_once = PTHREAD_ONCE_INIT;

static void thr_exit(void *unused)
{
    (void)unused;
    ig_free(thr.hdrs);
    thr.hdrs = NULL;
    thr.nhdrs = 0;
    ig_buf_dispose(&thr.out);
    while (thr.free != NULL) {
        union stream_slot *slot = thr.free;
        thr.free = slot->next;
        ig_free(slot);
    }
    thr.nfree = 0;
    thr.registered = 0;
}

static void thr_key_create(void)
{
    IG_ASSERT(pthread_key_create(&thr_key, thr_exit) == 0);
}

/* Arms the destructor that frees this thread's state when it exits (once per thread). */
static void thr_register(void)
{
    if (IG_LIKELY(thr.registered))
        return;
    pthread_once(&thr_once, thr_key_create);
    pthread_setspecific(thr_key, (void *)1);
    thr.registered = 1;
    ig_buf_init(&thr.out, OUT_HEAD_MAX);
}

/* A header array of |n| entries for the parser (valid until the next call on this thread). */
static ig_http_header_t *thr_hdrs(size_t n)
{
    thr_register();
    if (thr.nhdrs < n) {
        ig_free(thr.hdrs);
        thr.hdrs = ig_malloc(n * sizeof(*thr.hdrs));
        thr.nhdrs = n;
    }
    return thr.hdrs;
}

static ig_http_stream_t *stream_get(void)
{
    union stream_slot *slot = thr.free;
    if (slot == NULL)
        return ig_malloc(sizeof(union stream_slot));
    thr.free = slot->next;
    thr.nfree--;
    return &slot->stream;
}

static void stream_put(ig_http_stream_t *s)
{
    union stream_slot *slot = (union stream_slot *)s;
    if (thr.nfree >= STREAM_CACHE_MAX) {
        ig_free(slot);
        return;
    }
    thr_register();
    slot->next = thr.free;
    thr.free = slot;
    thr.nfree++;
}

/* ---- input ----------------------------------------------------------------------------------- */

/* Unconsumed input: the socket's bytes in place during on_read, else the input buffer. */
static const char *in_data(const struct h1s_conn *c)
{
    return c->ext != NULL ? c->ext : ig_buf_data(&c->in);
}

static size_t in_len(const struct h1s_conn *c)
{
    return c->ext != NULL ? c->ext_len : c->in.len;
}

static void in_consume(struct h1s_conn *c, size_t n)
{
    if (c->ext != NULL) {
        c->ext += n;
        c->ext_len -= n;
    } else {
        ig_buf_consume(&c->in, n);
    }
}

/* ---- connection plumbing --------------------------------------------------------------------- */

static void handle_closed(uv_handle_t *h)
{
    struct h1s_conn *c = h->data;
    if (--c->handles == 0)
        ig_free(c);
}

static void on_kick(uv_timer_t *t)
{
    struct h1s_conn *c = t->data;
    if (c->dead) {
        if (c->busy == 0)
            teardown(c);
        return;
    }
    if (c->drain_pending) {
        c->drain_pending = 0;
        if (c->want_writable && c->stream_live && !c->resp_done) {
            c->want_writable = 0;
            if (c->stream->handler != NULL && c->stream->handler->on_writable != NULL) {
                c->busy++;
                c->stream->handler->on_writable(c->stream);
                c->busy--;
                if (c->dead) {
                    teardown(c);
                    return;
                }
            }
        }
    }
    process(c);
}

/* Runs process() (or a pending teardown) from the loop, outside any application call. */
static void schedule(struct h1s_conn *c)
{
    if (!c->torn_down)
        uv_timer_start(&c->kick, on_kick, 0, 0);
}

static void update_read(struct h1s_conn *c)
{
    if (c->sock == NULL)
        return;
    const struct ig_h1_limits *lim = &c->srv->config.h1_limits;
    int pause = c->state == CS_CLOSING || (c->stream_live && c->body_paused && !c->req_done) ||
                in_len(c) >= lim->max_request_line + lim->max_header_bytes;
    if (pause != c->sock_paused) {
        c->sock_paused = pause;
        ig_sock_read_pause(c->sock, pause);
    }
}

static void on_timeout(uv_timer_t *t);

static void timer_set(struct h1s_conn *c, int mode)
{
    if (c->timer_mode == mode)
        return;
    c->timer_mode = mode;
    uv_timer_stop(&c->timer);
    if (mode == TM_IDLE)
        uv_timer_start(&c->timer, on_timeout, c->srv->config.idle_timeout_ms, 0);
    else if (mode == TM_HEADER)
        uv_timer_start(&c->timer, on_timeout, c->srv->config.header_timeout_ms, 0);
}

/* Stops taking requests and lets the socket flush what is queued, then close. */
static void conn_close(struct h1s_conn *c)
{
    if (c->state == CS_CLOSING && c->sock == NULL)
        return;
    c->state = CS_CLOSING;
    timer_set(c, TM_NONE);
    if (c->sock != NULL) {
        update_read(c);
        ig_sock_close(c->sock);
    }
}

static int error_status(int rc, const char *what)
{
    if (rc == IG_ETOOBIG)
        return what != NULL && strstr(what, "request line") != NULL ? 414 : 431;
    if (rc == IG_EUNSUPPORTED || (what != NULL && strstr(what, "unsupported version") != NULL))
        return 505;
    return 400;
}

/* Answers |status| outside any stream (a bad or late request head) and closes. */
static void send_error(struct h1s_conn *c, int status)
{
    if (c->sock != NULL && !c->head_sent) {
        const char *reason = ig_http_reason(status);
        char msg[512];
        int n = snprintf(msg, sizeof(msg),
                         "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %zu\r\n"
                         "connection: close\r\n\r\n%s\n",
                         status, reason, strlen(reason) + 1, reason);
        if (n > 0 && (size_t)n < sizeof(msg))
            (void)ig_sock_write(c->sock, msg, (size_t)n);
        c->head_sent = 1;
    }
    conn_close(c);
}

/* The live stream cannot go on (bad body framing, overflow): it ends with |err|, the socket closes. */
static void stream_fail(struct h1s_conn *c, int status, int err)
{
    c->stream_err = err;
    if (!c->head_sent) {
        send_error(c, status);
        return;
    }
    c->state = CS_CLOSING;
    timer_set(c, TM_NONE);
    if (c->sock != NULL)
        ig_sock_abort(c->sock, 1);
}

/* Drops request trailer bytes kept so far and gives back their storage. */
static void trail_clear(struct h1s_conn *c)
{
    ig_buf_reset(&c->trail);
    ig_buf_release(&c->trail);
    c->trail_over = 0;
}

/* ---- request side ---------------------------------------------------------------------------- */

static ig_iov_t rebase(ig_iov_t v, const char *from, char *to)
{
    if (v.base == NULL)
        return v;
    return ig_iov(to + (v.base - from), v.len);
}

static const struct ig_http_stream_ops h1_stream_ops;

/* Returns 1 when a request started, 0 when more bytes are needed, -1 after an error answer. */
static int parse_head(struct h1s_conn *c)
{
    const struct ig_h1_limits *lim = &c->srv->config.h1_limits;
    ig_h1_message_t msg;
    memset(&msg, 0, sizeof(msg));
    msg.headers = thr_hdrs(lim->max_headers);
    msg.num_headers = lim->max_headers;
    const char *what = NULL;
    const char *data = in_data(c);
    int rc = ig_h1_parse_request(data, in_len(c), lim, &msg, &what);
    if (rc == IG_EINCOMPLETE) {
        timer_set(c, TM_HEADER);
        /* The parser enforces the limits; this only guards the buffer against a parser that does not. */
        if (in_len(c) > lim->max_request_line + lim->max_header_bytes) {
            send_error(c, 431);
            return -1;
        }
        return 0;
    }
    if (rc < 0) {
        send_error(c, error_status(rc, what));
        return -1;
    }
    size_t n = (size_t)rc;
    ig_http_stream_t *s = stream_get();
    c->stream = s;
    ig_http__stream_init(s, c->srv, NULL, &h1_stream_ops, c, ++c->nreq);
    /* The head and the header array move into the stream's arena (one chunk for a typical head),
     * so the request's slices outlive the input they were parsed from. */
    char *copy = ig_pool_alloc(&s->pool, n);
    memcpy(copy, data, n);
    ig_http_header_t *hdrs = ig_pool_alloc(&s->pool, IG_MAX(msg.num_headers, 1) * sizeof(*hdrs));
    for (size_t i = 0; i < msg.num_headers; i++) {
        hdrs[i].name = rebase(msg.headers[i].name, data, copy);
        hdrs[i].value = rebase(msg.headers[i].value, data, copy);
    }
    s->loop = c->sock->loop;
    memcpy(&s->peer, &c->peer, sizeof(c->peer));
    s->is_tls = c->is_tls;
    s->req.method = rebase(msg.method, data, copy);
    s->req.path = rebase(msg.target, data, copy);
    s->req.authority = rebase(msg.host, data, copy);
    s->req.scheme = s->is_tls ? IG_STRLIT("https") : IG_STRLIT("http");
    s->req.version = msg.minor_version == 1 ? IG_HTTP_11 : IG_HTTP_10;
    s->req.headers.v = hdrs;
    s->req.headers.len = msg.num_headers;
    s->req.headers.cap = msg.num_headers;
    in_consume(c, n);

    c->state = CS_ACTIVE;
    timer_set(c, TM_NONE);
    c->stream_live = 1;
    c->stream_err = 0;
    c->framing = msg.framing;
    c->req_remaining = msg.framing == IG_H1_BODY_LENGTH ? msg.content_length : 0;
    if (msg.framing == IG_H1_BODY_LENGTH && msg.content_length == 0)
        c->framing = IG_H1_BODY_NONE;
    s->req.content_length = c->framing == IG_H1_BODY_NONE     ? 0
                            : c->framing == IG_H1_BODY_LENGTH ? (int64_t)msg.content_length
                                                              : -1;
    ig_h1_chunked_init(&c->chunked);
    trail_clear(c);
    c->req_done = 0;
    c->body_paused = 0;
    c->minor = msg.minor_version;
    c->expect_continue = msg.expect_continue && msg.minor_version == 1 && c->framing != IG_H1_BODY_NONE;
    c->continue_sent = 0;
    c->keep_alive = msg.keep_alive;
    c->is_head = ig_iov_eq(s->req.method, IG_STRLIT("HEAD"));
    c->head_sent = 0;
    c->resp_done = 0;
    c->resp_mode = RM_NONE;
    c->resp_remaining = 0;
    c->want_writable = 0;
    c->close_after = 0;

    c->srv->on_request(s);
    return 1;
}

static int wants_body(struct h1s_conn *c)
{
    return c->stream_live && !c->resp_done && c->stream->handler != NULL && c->stream->handler->on_body != NULL;
}

static void deliver(struct h1s_conn *c, const char *data, size_t len, int end)
{
    if (wants_body(c) && c->sock != NULL)
        c->stream->handler->on_body(c->stream, data, len, end);
}

static void chunk_data(void *arg, const char *data, size_t len)
{
    deliver(arg, data, len, 0);
}

static int wants_trailers(const struct h1s_conn *c)
{
    return c->stream_live && !c->resp_done && c->sock != NULL && c->stream->handler != NULL &&
           c->stream->handler->on_trailers != NULL;
}

/* Trailer bytes are kept only for a handler that takes them (the decoder bounds their total). */
static void chunk_trailer(void *arg, const char *data, size_t len)
{
    struct h1s_conn *c = arg;
    if (!wants_trailers(c))
        return;
    if (c->trail.base == NULL)
        ig_buf_borrow(&c->trail);
    if (ig_buf_append(&c->trail, data, len) != 0)
        c->trail_over = 1;
}

/* The chunked body is complete: reports its trailers, if any. Returns 0, or -1 after failing the stream. */
static int trailers_report(struct h1s_conn *c)
{
    if (!wants_trailers(c) || (c->trail.len == 0 && !c->trail_over)) {
        trail_clear(c); /* the handler may have gone (response done) while they arrived */
        return 0;
    }
    ig_http_stream_t *s = c->stream;
    ig_http_headers_t h = {NULL, 0, 0};
    int n = c->trail_over ? IG_ETOOBIG
                          : ig_h1_trailers_parse(ig_buf_data(&c->trail), c->trail.len,
                                                 c->srv->config.h1_limits.max_headers, &s->pool, &h);
    trail_clear(c);
    if (n < 0) {
        stream_fail(c, n == IG_ETOOBIG ? 431 : 400, n);
        return -1;
    }
    s->handler->on_trailers(s, &h);
    return 0;
}

/* Moves request body bytes from the input buffer to the application. Returns 1 on progress. */
static int body_step(struct h1s_conn *c)
{
    if (c->framing == IG_H1_BODY_NONE) {
        c->req_done = 1;
        deliver(c, NULL, 0, 1);
        return 1;
    }
    if (in_len(c) == 0)
        return 0;
    const char *data = in_data(c);
    if (c->framing == IG_H1_BODY_LENGTH) {
        size_t n = (size_t)IG_MIN((uint64_t)in_len(c), c->req_remaining);
        c->req_remaining -= n;
        c->req_done = c->req_remaining == 0;
        /* Consume first: the application may pause or finish from inside on_body (the bytes stay
         * where they are: the input buffer is only compacted or released outside this call). */
        in_consume(c, n);
        deliver(c, data, n, c->req_done);
        return 1;
    }
    size_t used = in_len(c);
    int rc = ig_h1_chunked_decode_trailers(&c->chunked, data, &used, chunk_data, chunk_trailer, c);
    in_consume(c, used);
    if (rc < 0) {
        stream_fail(c, rc == IG_ETOOBIG ? 431 : 400, rc);
        return 0;
    }
    if (rc == 1) {
        c->req_done = 1;
        if (trailers_report(c) != 0)
            return 0;
        deliver(c, NULL, 0, 1);
    }
    return used > 0 || rc == 1;
}

/* The response is fully queued: the application's part of the exchange is over. */
static void stream_end(struct h1s_conn *c)
{
    ig_http_stream_t *s = c->stream;
    c->stream_live = 0;
    if (s->handler != NULL && s->handler->on_close != NULL)
        s->handler->on_close(s, 0);
    ig_http__stream_dispose(s);
    c->stream = NULL;
    stream_put(s);
    int reuse = !c->close_after && c->keep_alive && !c->srv->_draining;
    if (reuse && !c->req_done && c->framing != IG_H1_BODY_NONE) {
        /* The client may hold back a body nobody asked for; skip only a small, announced one. */
        if ((c->expect_continue && !c->continue_sent) || c->framing != IG_H1_BODY_LENGTH ||
            c->req_remaining > DISCARD_MAX)
            reuse = 0;
    }
    if (!reuse)
        conn_close(c);
}

/* Request and response both done: wait for the next request. */
static void request_end(struct h1s_conn *c)
{
    if (c->srv->_draining) {
        conn_close(c);
        return;
    }
    c->state = CS_HEAD;
    c->body_paused = 0;
    c->head_sent = 0;
    c->resp_done = 0;
    c->want_writable = 0;
    c->drain_pending = 0;
    timer_set(c, in_len(c) > 0 ? TM_HEADER : TM_IDLE);
}

static void process(struct h1s_conn *c)
{
    if (c->processing || c->torn_down)
        return;
    c->processing = 1;
    c->busy++;
    for (;;) {
        if (c->sock == NULL || c->state == CS_CLOSING)
            break;
        if (c->state == CS_HEAD) {
            if (in_len(c) == 0 || parse_head(c) <= 0)
                break;
            continue;
        }
        if (c->stream_live && c->resp_done) {
            stream_end(c);
            continue;
        }
        if (!c->req_done) {
            if (c->stream_live && c->body_paused)
                break;
            if (c->expect_continue && !c->continue_sent && !c->head_sent && wants_body(c)) {
                c->continue_sent = 1;
                (void)ig_sock_write(c->sock, CONTINUE_100, sizeof(CONTINUE_100) - 1);
            }
            if (!body_step(c))
                break;
            continue;
        }
        if (!c->stream_live) {
            request_end(c);
            continue;
        }
        break;
    }
    c->busy--;
    c->processing = 0;
    if (c->in.len == 0)
        ig_buf_release(&c->in); /* an idle connection holds no input buffer */
    if (c->dead) {
        if (c->busy == 0)
            teardown(c);
        return;
    }
    update_read(c);
}

/* ---- response side --------------------------------------------------------------------------- */

static int has_crlf(ig_iov_t v)
{
    return memchr(v.base, '\r', v.len) != NULL || memchr(v.base, '\n', v.len) != NULL;
}

static int stream_usable(struct h1s_conn *c, ig_http_stream_t *s)
{
    return c != NULL && s == c->stream && c->stream_live && c->sock != NULL && c->state != CS_CLOSING;
}

/* Marks the response complete; the stream ends from the processing loop, never inside the caller. */
static void resp_finish(struct h1s_conn *c)
{
    c->resp_done = 1;
    c->want_writable = 0;
    if (c->resp_mode == RM_CLOSE || (c->resp_mode == RM_LENGTH && c->resp_remaining > 0))
        c->close_after = 1; /* the body's end is the connection's end, or framing was not met */
    if (!c->processing)
        schedule(c);
}

/* Appends |v| in decimal. */
static int append_u64(ig_buf_t *o, uint64_t v)
{
    char tmp[IG_HTTP_U64_DEC];
    return ig_buf_append(o, tmp, ig_http__u64_dec(tmp, v));
}

static int append_header(ig_buf_t *o, ig_iov_t name, ig_iov_t value)
{
    size_t n = name.len + value.len + 4;
    char *p = ig_buf_reserve(o, n);
    if (p == NULL)
        return IG_ETOOBIG;
    memcpy(p, name.base, name.len);
    p += name.len;
    *p++ = ':';
    *p++ = ' ';
    if (value.len != 0)
        memcpy(p, value.base, value.len);
    p += value.len;
    *p++ = '\r';
    *p = '\n';
    ig_buf_commit(o, n);
    return 0;
}

static int h1_respond(ig_http_stream_t *s, const ig_http_response_t *resp, int end)
{
    struct h1s_conn *c = s->_conn;
    if (!stream_usable(c, s))
        return IG_ECLOSED;
    if (c->head_sent || c->resp_done)
        return IG_EINVAL;
    if (resp->status < 200 || resp->status > 999)
        return IG_EINVAL;
    int status = resp->status;
    /* Serialised into the thread's scratch buffer, then copied once into the socket's output. */
    thr_register();
    ig_buf_t *o = &thr.out;
    ig_buf_reset(o);
    char sl[16] = "HTTP/1.1 000 ";
    sl[9] = (char)('0' + status / 100);
    sl[10] = (char)('0' + status / 10 % 10);
    sl[11] = (char)('0' + status % 10);
    int rc = ig_buf_append(o, sl, 13);
    const char *reason = ig_http_reason(status);
    if (rc == 0)
        rc = ig_buf_append(o, reason, strlen(reason));
    if (rc == 0)
        rc = ig_buf_append(o, "\r\n", 2);
    int close = c->close_after || !c->keep_alive || c->srv->_draining;
    for (size_t i = 0; i < resp->headers.len && rc == 0; i++) {
        const ig_http_header_t *h = &resp->headers.v[i];
        /* Framing and connection management are this engine's: the application's copies would conflict. */
        if (ig_iov_eq_nocase(h->name, IG_STRLIT("content-length")) ||
            ig_iov_eq_nocase(h->name, IG_STRLIT("transfer-encoding")))
            continue;
        if (ig_iov_eq_nocase(h->name, IG_STRLIT("connection"))) {
            if (ig_iov_eq_nocase(ig_iov_trim(h->value), IG_STRLIT("close")))
                close = 1;
            continue;
        }
        if (h->name.len == 0 || has_crlf(h->name) || has_crlf(h->value))
            continue; /* never let a header split the response */
        rc = append_header(o, h->name, h->value);
    }
    int mode;
    if (status == 204 || status == 304) {
        mode = RM_NONE;
    } else if (resp->content_length >= 0) {
        if (rc == 0)
            rc = ig_buf_append(o, "content-length: ", 16);
        if (rc == 0)
            rc = append_u64(o, (uint64_t)resp->content_length);
        if (rc == 0)
            rc = ig_buf_append(o, "\r\n", 2);
        mode = c->is_head ? RM_NONE : RM_LENGTH;
    } else if (c->is_head) {
        mode = RM_NONE;
    } else if (c->minor == 1) {
        if (rc == 0)
            rc = ig_buf_append(o, "transfer-encoding: chunked\r\n", 28);
        mode = RM_CHUNKED;
    } else {
        mode = RM_CLOSE;
        close = 1;
    }
    /* A body the client was told to hold back (no 100 Continue) may or may not follow: do not reuse. */
    if (!c->req_done && c->expect_continue && !c->continue_sent)
        close = 1;
    if (rc == 0) {
        if (close)
            rc = ig_buf_append(o, "connection: close\r\n\r\n", 21);
        else if (c->minor == 0)
            rc = ig_buf_append(o, "connection: keep-alive\r\n\r\n", 26);
        else
            rc = ig_buf_append(o, "\r\n", 2);
    }
    if (rc != 0)
        return IG_EINVAL;
    rc = ig_sock_write(c->sock, ig_buf_data(o), o->len);
    if (o->cap > IG_BUF_BLOCK)
        ig_buf_dispose(o); /* a rare huge head: do not keep its memory per thread */
    if (rc != 0)
        return IG_ECLOSED;
    c->head_sent = 1;
    c->close_after = close;
    c->resp_mode = mode;
    c->resp_remaining = mode == RM_LENGTH ? (uint64_t)resp->content_length : 0;
    if (end)
        resp_finish(c);
    return 0;
}

static int h1_write(ig_http_stream_t *s, const char *data, size_t len, int end)
{
    struct h1s_conn *c = s->_conn;
    if (!stream_usable(c, s))
        return IG_ECLOSED;
    if (!c->head_sent || c->resp_done)
        return IG_EINVAL;
    int rc = 0;
    switch (c->resp_mode) {
    case RM_NONE:
        break;
    case RM_LENGTH:
        if (len > c->resp_remaining)
            return IG_EINVAL;
        rc = ig_sock_write(c->sock, data, len);
        if (rc == 0)
            c->resp_remaining -= len;
        break;
    case RM_CHUNKED: {
        char hdr[24];
        ig_iov_t iov[4];
        size_t n = 0;
        if (len > 0) {
            iov[n++] = ig_iov(hdr, ig_h1_chunk_header(hdr, len));
            iov[n++] = ig_iov(data, len);
            iov[n++] = IG_STRLIT("\r\n");
        }
        if (end)
            iov[n++] = IG_STRLIT("0\r\n\r\n");
        if (n > 0)
            rc = ig_sock_writev(c->sock, iov, n);
        break;
    }
    case RM_CLOSE:
        rc = ig_sock_write(c->sock, data, len);
        break;
    }
    if (rc != 0) {
        /* Past the connection's hard output cap: the application ignored IG_EAGAIN. */
        stream_fail(c, 500, rc == IG_ETOOBIG ? IG_ETOOBIG : IG_ECLOSED);
        return IG_ECLOSED;
    }
    if (end) {
        resp_finish(c);
        return 0;
    }
    if (ig_sock_pending(c->sock) > c->srv->config.high_water) {
        c->want_writable = 1;
        return IG_EAGAIN;
    }
    return 0;
}

static void h1_read_pause(ig_http_stream_t *s, int paused)
{
    struct h1s_conn *c = s->_conn;
    if (!stream_usable(c, s) || c->body_paused == !!paused)
        return;
    c->body_paused = !!paused;
    if (paused)
        update_read(c);
    else if (!c->processing)
        schedule(c); /* deliver buffered body from the loop, not inside the caller */
}

static void h1_reset(ig_http_stream_t *s)
{
    struct h1s_conn *c = s->_conn;
    if (!stream_usable(c, s))
        return;
    c->stream_err = IG_ECANCELED;
    c->state = CS_CLOSING;
    timer_set(c, TM_NONE);
    c->busy++;
    ig_sock_abort(c->sock, 1);
    c->busy--;
    if (c->dead && c->busy == 0)
        schedule(c);
}

static const struct ig_http_stream_ops h1_stream_ops = {
    .respond = h1_respond,
    .write = h1_write,
    .read_pause = h1_read_pause,
    .reset = h1_reset,
};

/* ---- socket events --------------------------------------------------------------------------- */

static void on_timeout(uv_timer_t *t)
{
    struct h1s_conn *c = t->data;
    int mode = c->timer_mode;
    c->timer_mode = TM_NONE;
    if (c->sock == NULL || c->state == CS_CLOSING)
        return;
    if (mode == TM_HEADER && c->state == CS_HEAD)
        send_error(c, 408);
    else if (mode == TM_IDLE && c->state == CS_HEAD)
        conn_close(c);
}

/* Appends input to the buffer; returns 0, or -1 after failing the connection. */
static int keep_input(struct h1s_conn *c, const char *data, size_t len)
{
    ig_buf_borrow(&c->in);
    if (ig_buf_append(&c->in, data, len) == 0)
        return 0;
    ig_buf_release(&c->in);
    /* Reading should have been paused well before this. */
    if (c->stream_live)
        stream_fail(c, 413, IG_ETOOBIG);
    else
        send_error(c, 431);
    return -1;
}

static void on_read(ig_sock_t *sock, const char *data, size_t len)
{
    struct h1s_conn *c = sock->data;
    if (c->state == CS_CLOSING || len == 0)
        return;
    if (c->state == CS_HEAD)
        timer_set(c, TM_HEADER);
    if (c->in.len != 0 || c->processing) {
        if (keep_input(c, data, len) == 0)
            process(c);
        return;
    }
    /* Nothing older is waiting: parse and deliver from the socket's buffer, keep only the rest. */
    c->ext = data;
    c->ext_len = len;
    process(c);
    const char *rest = c->ext;
    size_t left = c->ext_len;
    c->ext = NULL;
    c->ext_len = 0;
    if (left != 0 && !c->torn_down && c->state != CS_CLOSING && keep_input(c, rest, left) == 0)
        update_read(c);
}

static void on_drain(ig_sock_t *sock)
{
    struct h1s_conn *c = sock->data;
    if (!c->want_writable || !c->stream_live || c->resp_done)
        return;
    /*
     * on_writable runs from the kick timer, not from inside the socket's flush: what the
     * application writes there is flushed by the loop's next pass, and an armed zero timer keeps
     * that pass from waiting in poll.
     */
    c->drain_pending = 1;
    schedule(c);
}

static void on_sock_close(ig_sock_t *sock, int err)
{
    struct h1s_conn *c = sock->data;
    c->sock = NULL;
    c->sock_err = err;
    c->state = CS_CLOSING;
    c->dead = 1;
    if (c->busy > 0) {
        schedule(c);
        return;
    }
    teardown(c);
}

static void teardown(struct h1s_conn *c)
{
    if (c->torn_down)
        return;
    c->torn_down = 1;
    uv_timer_stop(&c->timer);
    uv_timer_stop(&c->kick);
    if (c->stream_live) {
        ig_http_stream_t *s = c->stream;
        int err = c->stream_err != 0 ? c->stream_err : c->sock_err != 0 ? c->sock_err : IG_ECLOSED;
        c->stream_live = 0;
        if (s->handler != NULL && s->handler->on_close != NULL)
            s->handler->on_close(s, err);
        ig_http__stream_dispose(s);
        c->stream = NULL;
        stream_put(s);
    }
    ig_http__sconn_remove(c->srv, &c->super);
    ig_buf_reset(&c->in);
    ig_buf_release(&c->in);
    trail_clear(c);
    uv_close((uv_handle_t *)&c->timer, handle_closed);
    uv_close((uv_handle_t *)&c->kick, handle_closed);
}

static void h1_drain(struct ig_http_sconn *sc)
{
    struct h1s_conn *c = IG_CONTAINER_OF(sc, struct h1s_conn, super);
    /* Busy connections see srv->_draining when their response starts or ends. */
    if (c->state == CS_HEAD && in_len(c) == 0)
        conn_close(c);
}

static const struct ig_sock_ops h1_sock_ops = {
    .on_read = on_read,
    .on_drain = on_drain,
    .on_close = on_sock_close,
};

void ig_h1__server_start(ig_http_server_t *srv, ig_sock_t *sock, ig_iov_t sni, const char *pre, size_t len)
{
    const struct ig_h1_limits *lim = &srv->config.h1_limits;
    struct h1s_conn *c = ig_calloc(1, sizeof(*c));
    c->srv = srv;
    c->sock = sock;
    c->super.drain = h1_drain;
    c->super.sni = sni;
    ig_http__sconn_add(srv, &c->super);
    ig_buf_init(&c->in, lim->max_request_line + lim->max_header_bytes + IN_SLACK);
    ig_buf_init(&c->trail, TRAIL_MAX);
    uv_timer_init(sock->loop, &c->timer);
    uv_timer_init(sock->loop, &c->kick);
    c->timer.data = c;
    c->kick.data = c;
    c->handles = 2;
    struct sockaddr_storage peer;
    if (ig_sock_peer(sock, &peer) == 0 && (peer.ss_family == AF_INET || peer.ss_family == AF_INET6))
        memcpy(&c->peer, &peer, sizeof(c->peer));
    c->is_tls = ig_sock_is_tls(sock);
    sock->ops = &h1_sock_ops;
    sock->data = c;
    c->state = CS_HEAD;
    timer_set(c, TM_IDLE);
    if (len > 0)
        on_read(sock, pre, len);
}
