/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The protocol-neutral face of a server stream. The application calls ig_http_stream_* on the
 * same object whether the exchange travels over HTTP/1.1 or HTTP/2; each call is forwarded to the
 * engine that created the stream through its ops table. The common fields (pool, server, loop,
 * peer) are set up and torn down here so both engines agree on them.
 */
#include "http_int.h"

int ig_http_stream_respond(ig_http_stream_t *s, const ig_http_response_t *resp, int end)
{
    if (s->_ops == NULL)
        return IG_ECLOSED;
    return s->_ops->respond(s, resp, end);
}

int ig_http_stream_write(ig_http_stream_t *s, const char *data, size_t len, int end)
{
    if (s->_ops == NULL)
        return IG_ECLOSED;
    return s->_ops->write(s, data, len, end);
}

int ig_http_stream_send(ig_http_stream_t *s, int status, const char *content_type, const char *body, size_t len)
{
    ig_http_header_t ct = {IG_STRLIT("content-type"), ig_iov_cstr(content_type)};
    ig_http_response_t resp = {
        .status = status,
        .headers = {content_type != NULL ? &ct : NULL, content_type != NULL ? 1 : 0, content_type != NULL ? 1 : 0},
        .content_length = (int64_t)len,
    };
    int rc = ig_http_stream_respond(s, &resp, len == 0);
    if (rc != 0 || len == 0)
        return rc;
    rc = ig_http_stream_write(s, body, len, 1);
    /* The whole response is queued; the caller has nothing left to produce, so IG_EAGAIN is moot. */
    return rc == IG_EAGAIN ? 0 : rc;
}

int ig_http_stream_write_trailers(ig_http_stream_t *s, const ig_http_header_t *trailers, size_t n)
{
    if (s->_ops == NULL)
        return IG_ECLOSED;
    if (s->_ops->write_trailers == NULL)
        return IG_EUNSUPPORTED;
    return s->_ops->write_trailers(s, trailers, n);
}

void ig_http_stream_read_pause(ig_http_stream_t *s, int paused)
{
    if (s->_ops != NULL)
        s->_ops->read_pause(s, paused);
}

void ig_http_stream_reset(ig_http_stream_t *s)
{
    if (s->_ops != NULL)
        s->_ops->reset(s);
}

int ig_http_stream_sni(const ig_http_stream_t *s, ig_iov_t *name)
{
    *name = IG_IOV_NULL;
    if (s->_conn == NULL || !s->is_tls)
        return IG_EINVAL;
    const struct ig_http_sconn *c = s->_conn; /* first member of either engine's connection */
    *name = c->sni;
    return c->sni.len > 0 ? 1 : 0;
}

void ig_http__stream_init(ig_http_stream_t *s, ig_http_server_t *srv, ig_sock_t *sock,
                          const struct ig_http_stream_ops *ops, void *conn, uint32_t id)
{
    memset(s, 0, sizeof(*s));
    ig_pool_init(&s->pool);
    s->server = srv;
    s->start_ns = ig_time_ns();
    if (sock != NULL) {
        s->loop = sock->loop;
        if (ig_sock_peer(sock, &s->peer) != 0)
            memset(&s->peer, 0, sizeof(s->peer));
        s->is_tls = ig_sock_is_tls(sock);
    }
    s->req.content_length = -1;
    s->_ops = ops;
    s->_conn = conn;
    s->_id = id;
}

void ig_http__stream_dispose(ig_http_stream_t *s)
{
    /* Chunks go back to the per-thread cache: a recycled stream allocates nothing next time. */
    ig_pool_dispose(&s->pool);
    s->handler = NULL;
    s->data = NULL;
    s->_ops = NULL;
    s->_conn = NULL;
}
