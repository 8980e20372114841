/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's accept path and its registry of live connections. A new connection is wrapped in
 * an ig_sock (TLS when configured) and kept here only until its first bytes say which protocol
 * it speaks: ALPN "h2", or the HTTP/2 client preface on a plaintext connection (h2c prior
 * knowledge), hands it to the HTTP/2 engine; anything else goes to HTTP/1.1. A partial preface
 * ("PRI * HTT") waits for more bytes. Every connection, whatever its protocol, is linked into the
 * server so that a drain can reach it and report when the last one is gone.
 */
#include <unistd.h>

#include "http_int.h"

#define H2_PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN (sizeof(H2_PREFACE) - 1)

/* A connection whose protocol is not known yet. */
struct accept_conn {
    struct ig_http_sconn super;
    ig_sock_t *sock;
    uv_timer_t timer; /* no first bytes within the idle timeout: close */
    size_t npre;
    char pre[H2_PREFACE_LEN]; /* a partial preface, kept until it completes or diverges */
};

void ig_http_server_init(ig_http_server_t *srv, const struct ig_http_server_config *cfg)
{
    memset(srv, 0, sizeof(*srv));
    if (cfg != NULL)
        srv->config = *cfg;
    struct ig_http_server_config *c = &srv->config;
    struct ig_h1_limits def = IG_H1_LIMITS_DEFAULT;
    if (c->h1_limits.max_request_line == 0)
        c->h1_limits.max_request_line = def.max_request_line;
    if (c->h1_limits.max_headers == 0)
        c->h1_limits.max_headers = def.max_headers;
    if (c->h1_limits.max_header_bytes == 0)
        c->h1_limits.max_header_bytes = def.max_header_bytes;
    if (c->idle_timeout_ms == 0)
        c->idle_timeout_ms = 60000;
    if (c->header_timeout_ms == 0)
        c->header_timeout_ms = 10000;
    if (c->max_pending == 0)
        c->max_pending = 4u << 20;
    if (c->high_water == 0)
        c->high_water = 256u << 10;
    if (c->h2_max_concurrent_streams == 0)
        c->h2_max_concurrent_streams = 1000;
    ig_list_init(&srv->_conns);
}

void ig_http__sconn_add(ig_http_server_t *srv, struct ig_http_sconn *c)
{
    c->server = srv;
    ig_list_push_back(&srv->_conns, &c->link);
    srv->_nconns++;
}

void ig_http__sconn_remove(ig_http_server_t *srv, struct ig_http_sconn *c)
{
    ig_free(c->sni.base);
    c->sni = IG_IOV_NULL;
    if (!ig_list_linked(&c->link))
        return;
    ig_list_remove(&c->link);
    IG_ASSERT(srv->_nconns > 0);
    srv->_nconns--;
    if (srv->_nconns == 0 && srv->_draining && srv->_on_drained != NULL) {
        void (*cb)(ig_http_server_t *) = srv->_on_drained;
        srv->_on_drained = NULL; /* exactly once */
        cb(srv);
    }
}

size_t ig_http_server_connections(const ig_http_server_t *srv)
{
    return srv->_nconns;
}

void ig_http_server_drain(ig_http_server_t *srv, void (*on_drained)(ig_http_server_t *srv))
{
    srv->_draining = 1;
    srv->_on_drained = on_drained;
    /*
     * A connection's drain may close it (and unlink it) at once, so walk a detached copy of the
     * list, moving each connection back before asking it to drain.
     */
    ig_list_t todo;
    ig_list_init(&todo);
    if (!ig_list_empty(&srv->_conns)) {
        todo.next = srv->_conns.next;
        todo.prev = srv->_conns.prev;
        todo.next->prev = &todo;
        todo.prev->next = &todo;
        ig_list_init(&srv->_conns);
    }
    while (!ig_list_empty(&todo)) {
        ig_list_t *n = todo.next;
        ig_list_remove(n);
        ig_list_push_back(&srv->_conns, n);
        struct ig_http_sconn *c = IG_CONTAINER_OF(n, struct ig_http_sconn, link);
        c->drain(c);
    }
    if (srv->_nconns == 0 && srv->_on_drained != NULL) {
        void (*cb)(ig_http_server_t *) = srv->_on_drained;
        srv->_on_drained = NULL;
        cb(srv);
    }
}

/* ---- the accept path ------------------------------------------------------------------------- */

static void accept_timer_closed(uv_handle_t *h)
{
    ig_free(h->data);
}

/* Leaves the accept stage: the socket now belongs to an engine or is gone. */
static void accept_release(struct accept_conn *ac)
{
    ig_http__sconn_remove(ac->super.server, &ac->super);
    uv_timer_stop(&ac->timer);
    uv_close((uv_handle_t *)&ac->timer, accept_timer_closed);
}

static void accept_handover(struct accept_conn *ac, int h2, const char *data, size_t len)
{
    ig_http_server_t *srv = ac->super.server;
    ig_sock_t *sock = ac->sock;
    ac->sock = NULL;
    /*
     * Bytes arrived, so the handshake is over and the server name is final. It is copied because
     * the engine's streams may outlive the socket (and its TLS object) until their on_close.
     */
    ig_iov_t sni = IG_IOV_NULL;
    const char *name = ig_sock_server_name(sock);
    if (name != NULL && name[0] != '\0') {
        size_t n = strlen(name);
        char *copy = ig_malloc(n);
        memcpy(copy, name, n);
        sni = ig_iov(copy, n);
    }
    /* The engine links its own connection first, so a drain never sees the count touch zero here. */
    if (h2)
        ig_h2__server_start(srv, sock, sni, data, len);
    else
        ig_h1__server_start(srv, sock, sni, data, len);
    accept_release(ac);
}

static void accept_on_read(ig_sock_t *s, const char *data, size_t len)
{
    struct accept_conn *ac = s->data;
    ig_iov_t alpn = ig_sock_alpn(s);
    if (alpn.len != 0) {
        if (ig_iov_eq(alpn, IG_STRLIT("h2"))) {
            accept_handover(ac, 1, data, len);
            return;
        }
        if (ig_iov_eq(alpn, IG_STRLIT("http/1.1"))) {
            accept_handover(ac, 0, data, len);
            return;
        }
    }
    if (ac->npre == 0) {
        size_t n = IG_MIN(len, H2_PREFACE_LEN);
        if (memcmp(data, H2_PREFACE, n) != 0) {
            accept_handover(ac, 0, data, len); /* the common case: no copy */
            return;
        }
        if (n == H2_PREFACE_LEN) {
            accept_handover(ac, 1, data, len);
            return;
        }
        memcpy(ac->pre, data, n);
        ac->npre = n;
        return;
    }
    /* A preface split across reads (rare): compare the continuation, then join for the engine. */
    size_t n = IG_MIN(len, H2_PREFACE_LEN - ac->npre);
    int match = memcmp(data, &H2_PREFACE[ac->npre], n) == 0;
    if (match && ac->npre + n < H2_PREFACE_LEN) {
        memcpy(ac->pre + ac->npre, data, n);
        ac->npre += n;
        return;
    }
    size_t total = ac->npre + len;
    char *joined = ig_malloc(total);
    memcpy(joined, ac->pre, ac->npre);
    memcpy(joined + ac->npre, data, len);
    accept_handover(ac, match, joined, total);
    ig_free(joined);
}

static void accept_on_close(ig_sock_t *s, int err)
{
    (void)err;
    struct accept_conn *ac = s->data;
    ac->sock = NULL;
    accept_release(ac);
}

static void accept_on_timeout(uv_timer_t *t)
{
    struct accept_conn *ac = t->data;
    if (ac->sock != NULL)
        ig_sock_abort(ac->sock, 0);
}

static void accept_drain(struct ig_http_sconn *c)
{
    struct accept_conn *ac = IG_CONTAINER_OF(c, struct accept_conn, super);
    if (ac->sock != NULL)
        ig_sock_close(ac->sock);
}

static const struct ig_sock_ops accept_sock_ops = {
    .on_read = accept_on_read,
    .on_close = accept_on_close,
};

void ig_http_server_accept(ig_http_server_t *srv, uv_loop_t *loop, int fd)
{
    if (srv->_draining) {
        close(fd);
        return;
    }
    struct accept_conn *ac = ig_calloc(1, sizeof(*ac));
    ac->super.drain = accept_drain;
    ig_http__sconn_add(srv, &ac->super);
    uv_timer_init(loop, &ac->timer);
    ac->timer.data = ac;
    struct ig_sock_config sc = {
        .ssl_ctx = srv->config.ssl_ctx,
        .max_pending = srv->config.max_pending,
    };
    ac->sock = ig_sock_accept(loop, fd, &sc, &accept_sock_ops, ac);
    if (ac->sock == NULL) {
        accept_release(ac);
        return;
    }
    /* Until the first request byte the connection is idle (the TLS handshake included). */
    uv_timer_start(&ac->timer, accept_on_timeout, srv->config.idle_timeout_ms, 0);
}
