/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ig_sock: the byte stream every protocol runs on. Reads land in the loop's shared read buffer
 * (plain TCP) or are decrypted into it (TLS through memory BIOs), so a read costs no allocation.
 * Writes are copied into a per-socket output buffer capped at max_pending and flushed once per
 * loop iteration (uv_check after I/O, uv_prepare before polling) with one uv_try_write and, for
 * what the kernel does not take at once, one uv_write of the rest. Output buffers borrow their
 * storage from the thread's block cache and give it back once flushed, so an idle socket holds
 * only its handles. TLS plaintext is buffered the
 * same way and encrypted at flush time, so many small writes become full-size records.
 *
 * Lifetime: the socket is freed right after on_close, which runs from libuv's close callback.
 * Because libuv never runs close callbacks synchronously, a socket closed or aborted from inside
 * one of its own callbacks stays valid until that callback chain has unwound; every path that
 * calls back into the application re-checks the state afterwards.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "loop_int.h"

#define SOCK_DEFAULT_MAX_PENDING (4u << 20)
#define SOCK_DEFAULT_LOW_WATER   (16u << 10)
/* Plaintext per SSL_write: one full TLS record. */
#define TLS_RECORD_MAX 16384
/* A graceful close waits this long for the peer to take the pending output. */
#define CLOSE_FLUSH_TIMEOUT_MS 30000
/* A buffer grown past one cache block (a streaming socket) is kept while output keeps coming and
 * freed once the socket has had none for this long: an idle socket holds no buffer, and a busy
 * one does not free and reallocate its buffer on every flush. */
#define SOCK_BUF_LINGER_MS 1000
/* After our FIN, unread input is drained for this long so the close does not turn into an RST
 * that would destroy the response at the peer before it is read. */
#define CLOSE_LINGER_MS 2000

enum sock_state {
    ST_CONNECTING = 0, /* client: TCP connect in progress */
    ST_HANDSHAKE,      /* TLS handshake in progress */
    ST_OPEN,
    ST_CLOSING, /* graceful close: flushing pending output */
    ST_LINGER,  /* output flushed and FIN sent: draining input until EOF */
    ST_CLOSED,  /* uv_close called; on_close follows from the close callback */
};

struct ig_sock_impl {
    ig_sock_t pub;
    struct ig_loop_ctx *ctx;
    uv_tcp_t tcp;
    uv_timer_t timer; /* connect/handshake timeout, close flush timeout, linger */
    union {           /* a connect ends before the socket opens, a shutdown starts after */
        uv_connect_t connect_req;
        uv_shutdown_t shutdown_req;
    };
    uv_write_t *write_req; /* while a uv_write is in flight, from the thread's free list */
    ig_list_t dirty_link;
    ig_buf_t out;      /* bytes for the wire (ciphertext with TLS) */
    ig_buf_t inflight; /* bytes owned by the uv_write in flight */
    ig_buf_t plain;    /* TLS: plaintext waiting for the handshake or the next flush */
    size_t max_pending;
    size_t low_water;
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    enum sock_state state;
    int close_err;
    int handles; /* uv handles still open (tcp + timer) */
    unsigned client : 1;
    unsigned connect_reported : 1;
    unsigned writing : 1;
    unsigned need_drain : 1;
    unsigned paused : 1;
    unsigned reading : 1;
    unsigned rx_pending : 1;
    unsigned peer_eof : 1;
    uint64_t flushed_ms; /* loop time of the last flush that kept a grown buffer */
};

#define IMPL(s) ((s)->_impl)

static void hard_close(struct ig_sock_impl *s, int err, int rst);
static void flush(struct ig_sock_impl *s);
static void tls_process(struct ig_sock_impl *s);
static void release_all(struct ig_sock_impl *s);

static size_t pending(const struct ig_sock_impl *s)
{
    return s->plain.len + s->out.len + s->inflight.len;
}

static void mark_dirty(struct ig_sock_impl *s)
{
    if (ig_list_linked(&s->dirty_link))
        return;
    if (ig_list_empty(&s->ctx->dirty))
        ig_loop__ctx_wake(s->ctx);
    ig_list_push_back(&s->ctx->dirty, &s->dirty_link);
}

static void unmark_dirty(struct ig_sock_impl *s)
{
    if (ig_list_linked(&s->dirty_link))
        ig_list_remove(&s->dirty_link);
}

/* ---- reading --------------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct ig_sock_impl *s = h->data;
    (void)suggested;
    buf->base = s->ctx->rbuf;
    buf->len = sizeof(s->ctx->rbuf);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void read_start(struct ig_sock_impl *s)
{
    if (s->reading || s->paused)
        return;
    if (uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read) == 0)
        s->reading = 1;
}

static void read_stop(struct ig_sock_impl *s)
{
    if (!s->reading)
        return;
    uv_read_stop((uv_stream_t *)&s->tcp);
    s->reading = 0;
}

static void begin_close(struct ig_sock_impl *s, int err);

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct ig_sock_impl *s = stream->data;
    if (nread == 0)
        return;
    if (s->state == ST_LINGER) {
        /* Discarding input after our FIN; EOF or an error ends the linger. */
        if (nread < 0)
            hard_close(s, s->close_err, 0);
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF) {
            s->peer_eof = 1;
            read_stop(s);
            if (s->state == ST_HANDSHAKE)
                hard_close(s, IG_ETLS, 0);
            else
                begin_close(s, IG_ECLOSED); /* still flushes what is pending */
        } else {
            hard_close(s, ig_loop__uv_err((int)nread), 0);
        }
        return;
    }
    if (s->ssl != NULL) {
        /* A memory BIO grows as needed, so the whole chunk is taken. */
        BIO_write(s->rbio, buf->base, (int)nread);
        tls_process(s);
        return;
    }
    if (s->state == ST_OPEN)
        s->pub.ops->on_read(&s->pub, buf->base, (size_t)nread);
}

/* ---- TLS ------------------------------------------------------------------------------------- */

/* Moves the TLS engine's output (handshake messages, records, alerts) to the wire buffer. */
static int tls_drain_wbio(struct ig_sock_impl *s)
{
    size_t n;
    while ((n = BIO_ctrl_pending(s->wbio)) > 0) {
        /* Ciphertext is not held to max_pending: that limit was applied to the plaintext. */
        ig_buf_borrow(&s->out);
        char *p = ig_buf_reserve(&s->out, n);
        if (p == NULL)
            return IG_ETOOBIG;
        int r = BIO_read(s->wbio, p, (int)n);
        if (r <= 0)
            break;
        ig_buf_commit(&s->out, (size_t)r);
    }
    if (s->out.len > 0)
        mark_dirty(s);
    return 0;
}

static void tls_log_error(const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char msg[256];
    if (e == 0)
        return;
    ERR_error_string_n(e, msg, sizeof(msg));
    ig_log_debug("loop", "tls %s: %s", what, msg);
}

static void handshake_done(struct ig_sock_impl *s)
{
    s->state = ST_OPEN;
    if (s->client) {
        uv_timer_stop(&s->timer);
        s->connect_reported = 1;
        s->pub.ops->on_connect(&s->pub, 0);
    }
    if (s->plain.len > 0)
        mark_dirty(s);
}

static void tls_process(struct ig_sock_impl *s)
{
    ERR_clear_error();
    if (s->state == ST_HANDSHAKE) {
        int r = SSL_do_handshake(s->ssl);
        int drained = tls_drain_wbio(s);
        if (r != 1) {
            int e = SSL_get_error(s->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return;
            if (s->client && SSL_get_verify_result(s->ssl) != X509_V_OK)
                ig_log_debug("loop", "tls verify: %s", X509_verify_cert_error_string(SSL_get_verify_result(s->ssl)));
            tls_log_error("handshake");
            /* The alert (if any) is in the output buffer: send it, then close. */
            begin_close(s, IG_ETLS);
            return;
        }
        if (drained != 0) {
            hard_close(s, IG_ETLS, 0);
            return;
        }
        handshake_done(s);
    }
    while (s->state == ST_OPEN && !s->paused) {
        int n = SSL_read(s->ssl, s->ctx->rbuf, (int)sizeof(s->ctx->rbuf));
        if (n > 0) {
            s->pub.ops->on_read(&s->pub, s->ctx->rbuf, (size_t)n);
            continue;
        }
        int e = SSL_get_error(s->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            s->peer_eof = 1;
            read_stop(s);
            begin_close(s, IG_ECLOSED);
        } else {
            tls_log_error("read");
            hard_close(s, IG_ETLS, 0);
        }
        break;
    }
    if (s->state < ST_CLOSED && tls_drain_wbio(s) != 0)
        hard_close(s, IG_ETLS, 0);
}

/* Encrypts buffered plaintext into the wire buffer. Returns 0 or IG_ETLS. */
static int tls_encrypt(struct ig_sock_impl *s)
{
    ERR_clear_error();
    while (s->plain.len > 0) {
        int n = (int)IG_MIN(s->plain.len, (size_t)TLS_RECORD_MAX);
        int r = SSL_write(s->ssl, ig_buf_data(&s->plain), n);
        if (r <= 0) {
            tls_log_error("write");
            return IG_ETLS;
        }
        ig_buf_consume(&s->plain, (size_t)r);
    }
    return tls_drain_wbio(s) == 0 ? 0 : IG_ETLS;
}

/* ---- writing --------------------------------------------------------------------------------- */

/*
 * Write requests are needed only while the kernel's buffer is full, so sockets borrow them from a
 * per-thread free list instead of each carrying one. The list is bounded and freed at thread exit.
 */
#define WREQ_CACHE_MAX 64

union wreq_slot {
    uv_write_t req;
    union wreq_slot *next;
};

static _Thread_local union wreq_slot *wreq_free;
static _Thread_local size_t wreq_nfree;
static pthread_key_t wreq_key;
static pthread_once_t wreq_once = PTHREAD_ONCE_INIT;

static void wreq_thread_exit(void *unused)
{
    (void)unused;
    while (wreq_free != NULL) {
        union wreq_slot *w = wreq_free;
        wreq_free = w->next;
        ig_free(w);
    }
    wreq_nfree = 0;
}

static void wreq_key_create(void)
{
    IG_ASSERT(pthread_key_create(&wreq_key, wreq_thread_exit) == 0);
}

static uv_write_t *wreq_get(void)
{
    union wreq_slot *w = wreq_free;
    if (w == NULL)
        return ig_malloc(sizeof(*w));
    wreq_free = w->next;
    wreq_nfree--;
    return &w->req;
}

static void wreq_put(uv_write_t *req)
{
    union wreq_slot *w = (union wreq_slot *)(void *)req;
    if (wreq_nfree >= WREQ_CACHE_MAX) {
        ig_free(w);
        return;
    }
    if (IG_UNLIKELY(wreq_free == NULL)) {
        /* A non-NULL key value makes the destructor run when this thread exits. */
        pthread_once(&wreq_once, wreq_key_create);
        if (pthread_getspecific(wreq_key) == NULL)
            pthread_setspecific(wreq_key, (void *)1);
    }
    w->next = wreq_free;
    wreq_free = w;
    wreq_nfree++;
}

static void on_write(uv_write_t *req, int status);
static void finish_close(struct ig_sock_impl *s);

static void check_drain(struct ig_sock_impl *s)
{
    if (s->need_drain && s->state == ST_OPEN && pending(s) <= s->low_water) {
        s->need_drain = 0;
        if (s->pub.ops->on_drain != NULL)
            s->pub.ops->on_drain(&s->pub);
    }
}

static void on_buf_linger(uv_timer_t *t)
{
    struct ig_sock_impl *s = t->data;
    if (s->state != ST_OPEN)
        return;
    uint64_t quiet = uv_now(s->pub.loop) - s->flushed_ms;
    if (quiet < SOCK_BUF_LINGER_MS) {
        uv_timer_start(&s->timer, on_buf_linger, SOCK_BUF_LINGER_MS - quiet, 0);
        return;
    }
    ig_buf_release(&s->out);
    ig_buf_release(&s->plain);
    if (!s->writing)
        ig_buf_release(&s->inflight);
}

/* Gives an empty buffer's storage back: a cache block at once, a grown buffer once the socket is quiet. */
static void release_idle(struct ig_sock_impl *s, ig_buf_t *b)
{
    if (b->len != 0 || b->base == NULL)
        return;
    if (b->cap == IG_BUF_BLOCK || s->state != ST_OPEN) {
        ig_buf_release(b);
        return;
    }
    /* The timer is free while the socket is open (it times connects and closes only). */
    s->flushed_ms = uv_now(s->pub.loop);
    if (!uv_is_active((uv_handle_t *)&s->timer))
        uv_timer_start(&s->timer, on_buf_linger, SOCK_BUF_LINGER_MS, 0);
}

static void flush(struct ig_sock_impl *s)
{
    if (s->state == ST_CONNECTING || s->state >= ST_LINGER)
        return;
    if (s->ssl != NULL && s->plain.len > 0 && s->state != ST_HANDSHAKE) {
        if (tls_encrypt(s) != 0) {
            hard_close(s, IG_ETLS, 0);
            return;
        }
    }
    if (!s->writing && s->out.len > 0) {
        uv_buf_t b = uv_buf_init(ig_buf_data(&s->out), (unsigned)IG_MIN(s->out.len, (size_t)UINT32_MAX));
        int r = uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
        if (r >= 0) {
            ig_buf_consume(&s->out, (size_t)r);
        } else if (r != UV_EAGAIN) {
            hard_close(s, ig_loop__uv_err(r), 0);
            return;
        }
        if (s->out.len > 0) {
            /* The kernel is full: hand the rest to libuv and keep appending to the other buffer. */
            ig_buf_t tmp = s->inflight;
            s->inflight = s->out;
            s->out = tmp;
            b = uv_buf_init(ig_buf_data(&s->inflight), (unsigned)s->inflight.len);
            s->write_req = wreq_get();
            s->write_req->data = s;
            r = uv_write(s->write_req, (uv_stream_t *)&s->tcp, &b, 1, on_write);
            if (r != 0) {
                wreq_put(s->write_req);
                s->write_req = NULL;
                hard_close(s, ig_loop__uv_err(r), 0);
                return;
            }
            s->writing = 1;
        }
    }
    /* Flushed buffers go back to the thread's cache: the next write borrows one again. */
    release_idle(s, &s->out);
    release_idle(s, &s->plain);
    check_drain(s);
    if (s->state == ST_CLOSING && pending(s) == 0)
        finish_close(s);
}

static void on_write(uv_write_t *req, int status)
{
    struct ig_sock_impl *s = req->data;
    wreq_put(req);
    s->write_req = NULL;
    s->writing = 0;
    ig_buf_reset(&s->inflight);
    release_idle(s, &s->inflight);
    if (s->state == ST_CLOSED)
        return;
    if (status < 0) {
        hard_close(s, ig_loop__uv_err(status), 0);
        return;
    }
    flush(s);
}

void ig_sock__flush_dirty(struct ig_loop_ctx *ctx)
{
    ig_list_t work;
    if (ig_list_empty(&ctx->dirty)) {
        uv_idle_stop(&ctx->idle);
        return;
    }
    /* Work on a snapshot: callbacks may dirty sockets again, which waits for the next pass. */
    work = ctx->dirty;
    work.next->prev = &work;
    work.prev->next = &work;
    ig_list_init(&ctx->dirty);
    while (!ig_list_empty(&work)) {
        ig_list_t *node = work.next;
        ig_list_remove(node);
        struct ig_sock_impl *s = IG_CONTAINER_OF(node, struct ig_sock_impl, dirty_link);
        if (s->rx_pending) {
            s->rx_pending = 0;
            tls_process(s);
        }
        flush(s);
    }
    if (ig_list_empty(&ctx->dirty))
        uv_idle_stop(&ctx->idle);
}

static int write_check(struct ig_sock_impl *s, size_t len)
{
    if (s->state >= ST_CLOSING)
        return IG_ECLOSED;
    size_t p = pending(s);
    if (len > s->max_pending || p > s->max_pending - len) {
        s->need_drain = 1;
        return IG_ETOOBIG;
    }
    return 0;
}

static void write_queued(struct ig_sock_impl *s)
{
    if (pending(s) > s->low_water)
        s->need_drain = 1;
    mark_dirty(s);
}

int ig_sock_write(ig_sock_t *sock, const void *data, size_t len)
{
    struct ig_sock_impl *s = IMPL(sock);
    int err = write_check(s, len);
    if (err != 0 || len == 0)
        return err;
    ig_buf_t *b = s->ssl != NULL ? &s->plain : &s->out;
    ig_buf_borrow(b);
    if (ig_buf_append(b, data, len) != 0)
        return IG_ETOOBIG;
    write_queued(s);
    return 0;
}

int ig_sock_writev(ig_sock_t *sock, const ig_iov_t *iov, size_t n)
{
    struct ig_sock_impl *s = IMPL(sock);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (iov[i].len > SIZE_MAX - total)
            return IG_ETOOBIG;
        total += iov[i].len;
    }
    int err = write_check(s, total);
    if (err != 0 || total == 0)
        return err;
    ig_buf_t *b = s->ssl != NULL ? &s->plain : &s->out;
    ig_buf_borrow(b);
    char *p = ig_buf_reserve(b, total);
    if (p == NULL)
        return IG_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        if (iov[i].len != 0)
            memcpy(p, iov[i].base, iov[i].len);
        p += iov[i].len;
    }
    ig_buf_commit(b, total);
    write_queued(s);
    return 0;
}

size_t ig_sock_pending(const ig_sock_t *sock)
{
    return pending(IMPL(sock));
}

/* ---- closing --------------------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    struct ig_sock_impl *s = h->data;
    if (--s->handles > 0)
        return;
    unmark_dirty(s);
    if (s->client && !s->connect_reported) {
        s->connect_reported = 1;
        s->pub.ops->on_connect(&s->pub, s->close_err != 0 ? s->close_err : IG_ECONNECT);
    }
    s->pub.ops->on_close(&s->pub, s->close_err);
    if (s->ssl != NULL)
        SSL_free(s->ssl); /* also frees both BIOs */
    release_all(s);
    ig_loop__ctx_put(s->ctx);
    ig_free(s);
}

/* Hands every buffer back to the thread's cache, whatever it held. */
static void release_all(struct ig_sock_impl *s)
{
    ig_buf_t *bufs[] = {&s->out, &s->inflight, &s->plain};
    for (size_t i = 0; i < IG_ARRAY_LEN(bufs); i++) {
        ig_buf_reset(bufs[i]);
        ig_buf_release(bufs[i]);
    }
}

/* Closes the handles now; on_close(err) follows from the close callback. */
static void hard_close(struct ig_sock_impl *s, int err, int rst)
{
    if (s->state == ST_CLOSED)
        return;
    if (s->state < ST_CLOSING)
        s->close_err = err; /* a graceful close keeps the reason it started with */
    s->state = ST_CLOSED;
    unmark_dirty(s);
    read_stop(s);
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
    if (rst && uv_tcp_close_reset(&s->tcp, on_handle_closed) == 0)
        return;
    uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
}

static void on_close_timeout(uv_timer_t *t)
{
    struct ig_sock_impl *s = t->data;
    hard_close(s, s->close_err, s->state == ST_CLOSING);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct ig_sock_impl *s = req->data;
    if (s->state != ST_LINGER)
        return;
    if (status < 0 || s->peer_eof) {
        hard_close(s, s->close_err, 0);
        return;
    }
    s->paused = 0;
    read_start(s);
    uv_timer_start(&s->timer, on_close_timeout, CLOSE_LINGER_MS, 0);
}

/* Everything pending has been handed to the kernel: send FIN, then linger or close. */
static void finish_close(struct ig_sock_impl *s)
{
    s->state = ST_LINGER;
    uv_timer_stop(&s->timer);
    s->shutdown_req.data = s;
    if (s->peer_eof || uv_shutdown(&s->shutdown_req, (uv_stream_t *)&s->tcp, on_shutdown) != 0)
        hard_close(s, s->close_err, 0);
}

/* Graceful close: stop reading, queue TLS close_notify, flush, then finish_close. */
static void begin_close(struct ig_sock_impl *s, int err)
{
    if (s->state >= ST_CLOSING)
        return;
    if (s->state == ST_CONNECTING) {
        /* Nothing was sent yet; the application asked to stop, it needs no on_connect. */
        s->connect_reported = s->connect_reported || err == 0;
        hard_close(s, err, 0);
        return;
    }
    read_stop(s);
    if (s->ssl != NULL && s->state == ST_OPEN) {
        if (tls_encrypt(s) == 0 && err != IG_ETLS) {
            ERR_clear_error();
            SSL_shutdown(s->ssl);
            tls_drain_wbio(s);
        }
    }
    if (s->state == ST_HANDSHAKE)
        ig_buf_reset(&s->plain); /* never encrypted: cannot be sent */
    s->close_err = err;
    s->state = ST_CLOSING;
    uv_timer_stop(&s->timer);
    uv_timer_start(&s->timer, on_close_timeout, CLOSE_FLUSH_TIMEOUT_MS, 0);
    mark_dirty(s);
}

void ig_sock_close(ig_sock_t *sock)
{
    begin_close(IMPL(sock), 0);
}

void ig_sock_abort(ig_sock_t *sock, int rst)
{
    struct ig_sock_impl *s = IMPL(sock);
    if (s->state == ST_CLOSED)
        return;
    s->connect_reported = 1;
    ig_buf_reset(&s->out);
    ig_buf_reset(&s->plain);
    s->state = ST_OPEN; /* so hard_close records the reason */
    hard_close(s, IG_ECANCELED, rst);
}

/* ---- creation -------------------------------------------------------------------------------- */

static struct ig_sock_impl *sock_new(uv_loop_t *loop, const struct ig_sock_config *cfg, const struct ig_sock_ops *ops,
                                     void *data)
{
    struct ig_sock_impl *s = ig_calloc(1, sizeof(*s));
    s->pub.data = data;
    s->pub.ops = ops;
    s->pub.loop = loop;
    s->pub._impl = s;
    s->ctx = ig_loop__ctx_get(loop);
    s->max_pending = cfg != NULL && cfg->max_pending != 0 ? cfg->max_pending : SOCK_DEFAULT_MAX_PENDING;
    s->low_water = cfg != NULL && cfg->low_water != 0 ? cfg->low_water : SOCK_DEFAULT_LOW_WATER;
    if (s->low_water > s->max_pending)
        s->low_water = s->max_pending;
    ig_buf_init(&s->out, 0);
    ig_buf_init(&s->inflight, 0);
    ig_buf_init(&s->plain, 0);
    IG_ASSERT(uv_tcp_init(loop, &s->tcp) == 0);
    IG_ASSERT(uv_timer_init(loop, &s->timer) == 0);
    s->handles = 2;
    s->tcp.data = s;
    s->timer.data = s;
    s->connect_req.data = s; /* shares the data field with shutdown_req */
    return s;
}

/* Sets up the TLS engine; returns 0 or IG_ETLS. */
static int tls_setup(struct ig_sock_impl *s, const struct ig_sock_config *cfg, int client)
{
    s->ssl = SSL_new(cfg->ssl_ctx);
    if (s->ssl == NULL)
        return IG_ETLS;
    s->rbio = BIO_new(BIO_s_mem());
    s->wbio = BIO_new(BIO_s_mem());
    if (s->rbio == NULL || s->wbio == NULL) {
        BIO_free(s->rbio);
        BIO_free(s->wbio);
        s->rbio = s->wbio = NULL;
        return IG_ETLS;
    }
    /* An empty memory BIO reports "retry", not EOF. */
    BIO_set_mem_eof_return(s->rbio, -1);
    SSL_set_bio(s->ssl, s->rbio, s->wbio);
    if (!client) {
        SSL_set_accept_state(s->ssl);
        return 0;
    }
    SSL_set_connect_state(s->ssl);
    if (cfg->sni != NULL && cfg->sni[0] != '\0') {
        struct in6_addr a6;
        int is_ip = inet_pton(AF_INET, cfg->sni, &a6) == 1 || inet_pton(AF_INET6, cfg->sni, &a6) == 1;
        /* SNI carries host names only; an IP literal is still verified against the certificate. */
        if (!is_ip && SSL_set_tlsext_host_name(s->ssl, cfg->sni) != 1)
            return IG_ETLS;
        if (SSL_get_verify_mode(s->ssl) & SSL_VERIFY_PEER) {
            X509_VERIFY_PARAM *param = SSL_get0_param(s->ssl);
            int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, cfg->sni) : SSL_set1_host(s->ssl, cfg->sni);
            if (ok != 1)
                return IG_ETLS;
        }
    }
    return 0;
}

ig_sock_t *ig_sock_accept(uv_loop_t *loop, int fd, const struct ig_sock_config *cfg, const struct ig_sock_ops *ops,
                          void *data)
{
    struct ig_sock_impl *s = sock_new(loop, cfg, ops, data);
    int err = uv_tcp_open(&s->tcp, fd);
    if (err != 0) {
        close(fd);
        s->state = ST_OPEN;
        hard_close(s, err, 0);
        return &s->pub;
    }
    s->state = ST_OPEN;
    if (cfg != NULL && cfg->ssl_ctx != NULL) {
        s->state = ST_HANDSHAKE;
        if (tls_setup(s, cfg, 0) != 0) {
            hard_close(s, IG_ETLS, 0);
            return &s->pub;
        }
    }
    read_start(s);
    return &s->pub;
}

static void on_connect_timeout(uv_timer_t *t)
{
    struct ig_sock_impl *s = t->data;
    if (s->state == ST_CONNECTING || s->state == ST_HANDSHAKE)
        hard_close(s, IG_ETIMEDOUT, 0);
}

static void on_connected(uv_connect_t *req, int status)
{
    struct ig_sock_impl *s = req->data;
    if (s->state != ST_CONNECTING)
        return; /* closed meanwhile: the close callback reports */
    if (status < 0) {
        hard_close(s, IG_ECONNECT, 0);
        return;
    }
    uv_tcp_nodelay(&s->tcp, 1);
    read_start(s);
    if (s->ssl != NULL) {
        s->state = ST_HANDSHAKE; /* the connect timer keeps running until the handshake ends */
        tls_process(s);
        return;
    }
    uv_timer_stop(&s->timer);
    s->state = ST_OPEN;
    s->connect_reported = 1;
    s->pub.ops->on_connect(&s->pub, 0);
    if (s->state == ST_OPEN && s->out.len > 0)
        mark_dirty(s);
}

ig_sock_t *ig_sock_connect(uv_loop_t *loop, const struct sockaddr *addr, const struct ig_sock_config *cfg,
                           const struct ig_sock_ops *ops, void *data)
{
    struct ig_sock_impl *s = sock_new(loop, cfg, ops, data);
    s->client = 1;
    s->state = ST_CONNECTING;
    if (cfg != NULL && cfg->ssl_ctx != NULL && tls_setup(s, cfg, 1) != 0) {
        hard_close(s, IG_ETLS, 0);
        return &s->pub;
    }
    int err = uv_tcp_connect(&s->connect_req, &s->tcp, addr, on_connected);
    if (err != 0) {
        hard_close(s, IG_ECONNECT, 0);
        return &s->pub;
    }
    if (cfg != NULL && cfg->connect_timeout_ms != 0)
        uv_timer_start(&s->timer, on_connect_timeout, cfg->connect_timeout_ms, 0);
    return &s->pub;
}

/* ---- accessors ------------------------------------------------------------------------------- */

void ig_sock_read_pause(ig_sock_t *sock, int paused)
{
    struct ig_sock_impl *s = IMPL(sock);
    if (s->state >= ST_CLOSING)
        return;
    s->paused = paused != 0;
    if (s->paused) {
        read_stop(s);
        return;
    }
    if (s->state != ST_CONNECTING)
        read_start(s);
    /* Records already decrypted or buffered are delivered from the loop, not from inside the
     * caller, which may be in the middle of another socket's on_read. */
    if (s->ssl != NULL && s->state == ST_OPEN && (SSL_pending(s->ssl) > 0 || BIO_ctrl_pending(s->rbio) > 0)) {
        s->rx_pending = 1;
        mark_dirty(s);
    }
}

ig_iov_t ig_sock_alpn(const ig_sock_t *sock)
{
    const struct ig_sock_impl *s = IMPL(sock);
    const unsigned char *p = NULL;
    unsigned int len = 0;
    if (s->ssl == NULL)
        return IG_IOV_NULL;
    SSL_get0_alpn_selected(s->ssl, &p, &len);
    if (p == NULL || len == 0)
        return IG_IOV_NULL;
    return ig_iov(p, len);
}

int ig_sock_is_tls(const ig_sock_t *sock)
{
    return IMPL(sock)->ssl != NULL;
}

const char *ig_sock_server_name(const ig_sock_t *sock)
{
    const struct ig_sock_impl *s = IMPL(sock);
    if (s->ssl == NULL)
        return NULL;
    return SSL_get_servername(s->ssl, TLSEXT_NAMETYPE_host_name);
}

int ig_sock_peer(const ig_sock_t *sock, struct sockaddr_storage *out)
{
    int len = (int)sizeof(*out);
    return uv_tcp_getpeername(&IMPL(sock)->tcp, (struct sockaddr *)out, &len);
}

int ig_sock_local(const ig_sock_t *sock, struct sockaddr_storage *out)
{
    int len = (int)sizeof(*out);
    return uv_tcp_getsockname(&IMPL(sock)->tcp, (struct sockaddr *)out, &len);
}
