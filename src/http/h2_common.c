/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The machinery the HTTP/2 server and client engines share: nghttp2's allocator, the output pump
 * (nghttp2_session_mem_send into the ig_sock while its pending output is below a threshold,
 * resumed from on_drain), per-stream body buffers on both directions with flow control tied to
 * the application's reading, deferred notifications so that application callbacks never run
 * inside an application call, and header-list conversion.
 */
#include "h2_int.h"

#include <ctype.h>

/* ---- allocator --------------------------------------------------------------------------------- */

static void *h2_malloc(size_t size, void *ud)
{
    (void)ud;
    return ig_malloc(size);
}

static void h2_free(void *ptr, void *ud)
{
    (void)ud;
    ig_free(ptr);
}

static void *h2_calloc(size_t n, size_t size, void *ud)
{
    (void)ud;
    return ig_calloc(n, size);
}

static void *h2_realloc(void *ptr, size_t size, void *ud)
{
    (void)ud;
    return ig_realloc(ptr, size);
}

nghttp2_mem ig_h2__mem = {NULL, h2_malloc, h2_free, h2_calloc, h2_realloc};

/* ---- engine setup ------------------------------------------------------------------------------ */

void ig_h2__engine_setup(const struct ig_h2_engine_cbs *fns, nghttp2_session_callbacks **cbs, nghttp2_option **opt)
{
    int rc = nghttp2_session_callbacks_new(cbs);
    IG_ASSERT(rc == 0);
    if (fns->begin_headers != NULL)
        nghttp2_session_callbacks_set_on_begin_headers_callback(*cbs, fns->begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(*cbs, fns->header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(*cbs, fns->frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(*cbs, fns->data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(*cbs, fns->stream_close);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(
        *cbs, fns->frame_not_send != NULL ? fns->frame_not_send : ig_h2__on_frame_not_send);
    rc = nghttp2_option_new(opt);
    IG_ASSERT(rc == 0);
    nghttp2_option_set_no_auto_window_update(*opt, 1);
}

int ig_h2__on_frame_not_send(nghttp2_session *ngh, const nghttp2_frame *frame, int lib_error_code, void *ud)
{
    (void)ngh;
    (void)ud;
    ig_log_debug("h2", "frame type %u on stream %d not sent: %s", frame->hd.type, frame->hd.stream_id,
                 nghttp2_strerror(lib_error_code));
    return 0;
}

/* ---- connection -------------------------------------------------------------------------------- */

static void conn_timer_cb(uv_timer_t *t);

void ig_h2__conn_init(struct ig_h2_conn *c, ig_sock_t *sock, const struct ig_h2_conn_ops *ops,
                      const struct ig_sock_ops *sock_ops, size_t high_water, size_t max_pending)
{
    memset(c, 0, sizeof(*c));
    c->sock = sock;
    sock->ops = sock_ops;
    sock->data = c;
    c->ops = ops;
    c->high_water = high_water;
    c->send_threshold = IG_MIN((size_t)IG_H2_SEND_THRESHOLD, max_pending / 2);
    ig_list_init(&c->notify);
    uv_timer_init(sock->loop, &c->timer);
    c->timer.data = c;
}

static void conn_timer_closed(uv_handle_t *h)
{
    struct ig_h2_conn *c = h->data;
    c->ops->freed(c);
}

void ig_h2__conn_dispose(struct ig_h2_conn *c)
{
    IG_ASSERT(c->busy == 0);
    if (c->ngh != NULL) {
        nghttp2_session_del(c->ngh);
        c->ngh = NULL;
    }
    c->failed = 1;
    uv_close((uv_handle_t *)&c->timer, conn_timer_closed);
}

static void arm_timer(struct ig_h2_conn *c)
{
    uint64_t timeout = 0;
    if (!c->kicked) {
        if (c->deadline_ms == 0) {
            uv_timer_stop(&c->timer);
            return;
        }
        uint64_t now = uv_now(c->sock->loop);
        timeout = c->deadline_ms > now ? c->deadline_ms - now : 0;
    }
    uv_timer_start(&c->timer, conn_timer_cb, timeout, 0);
}

void ig_h2__conn_set_deadline(struct ig_h2_conn *c, uint64_t after_ms)
{
    if (c->failed || c->sock == NULL)
        return;
    c->deadline_ms = after_ms != 0 ? uv_now(c->sock->loop) + after_ms : 0;
    arm_timer(c);
}

void ig_h2__conn_kick(struct ig_h2_conn *c)
{
    /* Inside the engine the outermost frame flushes; from outside, flush at the next iteration so
     * that no application callback (on_close, on_writable) runs inside the application's call. */
    if (c->busy || c->kicked || c->failed || c->sock == NULL)
        return;
    c->kicked = 1;
    arm_timer(c);
}

static void conn_timer_cb(uv_timer_t *t)
{
    struct ig_h2_conn *c = t->data;
    if (c->kicked) {
        c->kicked = 0;
        ig_h2__conn_flush(c);
        if (c->failed || c->sock == NULL)
            return;
    }
    if (c->deadline_ms != 0 && uv_now(c->sock->loop) >= c->deadline_ms) {
        c->deadline_ms = 0;
        c->ops->timeout(c);
        return;
    }
    arm_timer(c);
}

static void pay_conn_debt(struct ig_h2_conn *c)
{
    if (c->conn_debt == 0 || c->buffered > IG_H2_CONN_BUFFERED_MAX || c->ngh == NULL)
        return;
    nghttp2_session_consume_connection(c->ngh, c->conn_debt);
    c->conn_debt = 0;
}

/* Delivers what a resumed stream held, then its end if it was received. */
static void io_resume(struct ig_h2_io *io)
{
    struct ig_h2_conn *c = io->conn;
    size_t n = io->in.len;
    int end = io->in_end && !io->in_end_done;

    if (io->in_paused || (n == 0 && !end))
        return;
    if (end)
        io->in_end_done = 1;
    /* The held bytes stay put during the call (the application may pause again inside it); the
     * whole block counts as taken. */
    c->ops->deliver(io, n != 0 ? ig_buf_data(&io->in) : NULL, n, end);
    if (n != 0) {
        ig_buf_consume(&io->in, n);
        c->buffered -= n;
        if (!io->closed && c->ngh != NULL)
            nghttp2_session_consume_stream(c->ngh, io->id, n);
        pay_conn_debt(c);
    }
    if (c->ops->resumed != NULL)
        c->ops->resumed(io);
}

static void run_notify(struct ig_h2_conn *c)
{
    /* One at a time from the head: a callback may detach (and so unlink) any other stream. A
     * stream is released only from the last hook that may run for it here (ops->notified, or
     * ops->resumed at the very end of io_resume), so |io| is valid up to those calls. */
    while (!ig_list_empty(&c->notify) && !c->failed) {
        struct ig_h2_io *io = IG_CONTAINER_OF(c->notify.next, struct ig_h2_io, notify_link);
        ig_list_remove(&io->notify_link);
        if (io->want_notify) {
            io->want_notify = 0;
            c->ops->notified(io);
            continue;
        }
        if (io->want_writable && !io->closed) {
            io->want_writable = 0;
            c->ops->writable(io);
        }
        if (io->in_resume) {
            io->in_resume = 0;
            io_resume(io);
        }
    }
}

static void queue_notify(struct ig_h2_io *io)
{
    if (!ig_list_linked(&io->notify_link))
        ig_list_push_back(&io->conn->notify, &io->notify_link);
}

void ig_h2__io_notify(struct ig_h2_io *io)
{
    io->want_notify = 1;
    queue_notify(io);
    ig_h2__conn_kick(io->conn);
}

void ig_h2__conn_flush(struct ig_h2_conn *c)
{
    if (c->busy || c->ngh == NULL)
        return;
    c->busy++;
    while (!c->failed && c->sock != NULL) {
        while (ig_sock_pending(c->sock) < c->send_threshold) {
            const uint8_t *p;
            ssize_t n = nghttp2_session_mem_send(c->ngh, &p);
            if (n < 0) {
                ig_log_debug("h2", "mem_send: %s", nghttp2_strerror((int)n));
                c->failed = 1;
                break;
            }
            if (n == 0)
                break;
            if (ig_sock_write(c->sock, p, (size_t)n) != 0) {
                c->failed = 1;
                break;
            }
        }
        if (c->failed || ig_list_empty(&c->notify))
            break;
        run_notify(c);
    }
    c->busy--;
    if (c->ops->flushed != NULL && !c->failed && c->sock != NULL)
        c->ops->flushed(c);
    if (c->done_called || c->sock == NULL || c->ngh == NULL)
        return;
    if (c->failed || (!nghttp2_session_want_read(c->ngh) && !nghttp2_session_want_write(c->ngh))) {
        c->done_called = 1;
        c->ops->done(c);
    }
}

int ig_h2__conn_recv(struct ig_h2_conn *c, const char *data, size_t len)
{
    if (c->failed || c->ngh == NULL)
        return IG_EPROTO;
    c->busy++;
    ssize_t n = nghttp2_session_mem_recv(c->ngh, (const uint8_t *)data, len);
    c->busy--;
    if (n < 0) {
        ig_log_debug("h2", "mem_recv: %s", nghttp2_strerror((int)n));
        c->failed = 1;
    }
    ig_h2__conn_flush(c);
    return n < 0 ? IG_EPROTO : 0;
}

void ig_h2__conn_settings(struct ig_h2_conn *c, const nghttp2_settings_entry *iv, size_t n)
{
    nghttp2_submit_settings(c->ngh, NGHTTP2_FLAG_NONE, iv, n);
    nghttp2_session_set_local_window_size(c->ngh, NGHTTP2_FLAG_NONE, 0, IG_H2_CONN_WINDOW);
}

/* ---- socket glue ------------------------------------------------------------------------------- */

static void conn_teardown(struct ig_h2_conn *c)
{
    c->sock = NULL;
    c->busy++; /* application calls from the streams' on_close must not schedule output */
    c->ops->teardown(c);
    c->busy--;
    ig_h2__conn_dispose(c);
}

static void deferred_teardown(uv_timer_t *t)
{
    conn_teardown(t->data);
}

void ig_h2__sock_on_read(ig_sock_t *s, const char *data, size_t len)
{
    ig_h2__conn_recv(s->data, data, len);
}

void ig_h2__sock_on_drain(ig_sock_t *s)
{
    ig_h2__conn_flush(s->data);
}

void ig_h2__sock_on_close(ig_sock_t *s, int err)
{
    struct ig_h2_conn *c = s->data;
    (void)err;
    c->sock = NULL;
    if (c->busy) {
        /* Closed from inside the engine: finish once the stack has unwound. */
        uv_timer_start(&c->timer, deferred_teardown, 0, 0);
        return;
    }
    conn_teardown(c);
}

/* ---- per-stream I/O ---------------------------------------------------------------------------- */

void ig_h2__io_init(struct ig_h2_io *io, struct ig_h2_conn *c)
{
    ig_buf_t out = io->out, in = io->in;
    int recycled = io->conn != NULL;

    memset(io, 0, sizeof(*io));
    io->conn = c;
    if (recycled) {
        /* Keep the buffers of a recycled stream: the next response reuses their memory. */
        io->out = out;
        io->in = in;
        ig_buf_reset(&io->out);
        ig_buf_reset(&io->in);
    } else {
        ig_buf_init(&io->out, IG_H2_OUT_MAX);
        ig_buf_init(&io->in, IG_H2_IN_MAX);
    }
}

void ig_h2__io_dispose(struct ig_h2_io *io)
{
    ig_buf_dispose(&io->out);
    ig_buf_dispose(&io->in);
    io->conn = NULL;
}

void ig_h2__io_trim(struct ig_h2_io *io)
{
    /* Big buffers are not worth keeping on a free list. */
    if (io->out.cap > IG_H2_KEEP_BUF) {
        ig_buf_dispose(&io->out);
        ig_buf_init(&io->out, IG_H2_OUT_MAX);
    }
    if (io->in.cap > IG_H2_KEEP_BUF) {
        ig_buf_dispose(&io->in);
        ig_buf_init(&io->in, IG_H2_IN_MAX);
    }
}

int ig_h2__io_write(struct ig_h2_io *io, const char *data, size_t len, int end)
{
    struct ig_h2_conn *c = io->conn;
    int rc = 0;

    if (io->out_end)
        return IG_EINVAL;
    if (len != 0 && !io->out_discard && ig_buf_append(&io->out, data, len) != 0)
        return IG_ETOOBIG;
    if (end)
        io->out_end = 1;
    if (!end && io->out.len > c->high_water) {
        io->out_blocked = 1;
        rc = IG_EAGAIN;
    }
    if (io->out_deferred && io->id > 0 && !io->closed && (io->out.len != 0 || io->out_end)) {
        io->out_deferred = 0;
        nghttp2_session_resume_data(c->ngh, io->id);
    }
    ig_h2__conn_kick(c);
    return rc;
}

ssize_t ig_h2__io_read_cb(nghttp2_session *ngh, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                          nghttp2_data_source *source, void *user_data)
{
    struct ig_h2_io *io = source->ptr;
    size_t n = IG_MIN(length, io->out.len);

    (void)ngh;
    (void)id;
    (void)user_data;
    if (n != 0) {
        memcpy(buf, ig_buf_data(&io->out), n);
        ig_buf_consume(&io->out, n);
    }
    if (io->out.len == 0 && io->out_end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    } else if (n == 0) {
        io->out_deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (io->out_blocked && io->out.len <= io->conn->high_water / 2) {
        io->out_blocked = 0;
        io->want_writable = 1;
        queue_notify(io);
    }
    return (ssize_t)n;
}

int ig_h2__io_data(struct ig_h2_io *io, const char *data, size_t len)
{
    struct ig_h2_conn *c = io->conn;

    if (!io->in_paused && io->in.len == 0) {
        c->ops->deliver(io, data, len, 0);
        nghttp2_session_consume(c->ngh, io->id, len);
        return 0;
    }
    if (ig_buf_append(&io->in, data, len) != 0)
        return IG_ETOOBIG;
    /* Held: the stream window stays closed (that is the back-pressure), the connection window is
     * given back at once unless this connection already holds too much. */
    c->buffered += len;
    if (c->buffered <= IG_H2_CONN_BUFFERED_MAX && c->conn_debt == 0)
        nghttp2_session_consume_connection(c->ngh, len);
    else
        c->conn_debt += len;
    return 0;
}

void ig_h2__data_chunk(nghttp2_session *ngh, int32_t id, struct ig_h2_io *io, const uint8_t *data, size_t len)
{
    if (io == NULL) {
        nghttp2_session_consume(ngh, id, len);
        return;
    }
    if (ig_h2__io_data(io, (const char *)data, len) != 0)
        nghttp2_submit_rst_stream(ngh, NGHTTP2_FLAG_NONE, id, NGHTTP2_FLOW_CONTROL_ERROR);
}

void ig_h2__io_end(struct ig_h2_io *io)
{
    io->in_end = 1;
    if (io->in_paused || io->in.len != 0 || io->in_end_done)
        return;
    io->in_end_done = 1;
    io->conn->ops->deliver(io, NULL, 0, 1);
}

void ig_h2__io_pause(struct ig_h2_io *io, int paused)
{
    /* Also after nghttp2 closed the stream: what it held still waits for the application. */
    io->in_paused = paused != 0;
    if (io->in_paused || !ig_h2__io_holding(io))
        return;
    io->in_resume = 1;
    queue_notify(io);
    ig_h2__conn_kick(io->conn);
}

void ig_h2__io_detach(struct ig_h2_io *io)
{
    struct ig_h2_conn *c = io->conn;

    if (ig_list_linked(&io->notify_link))
        ig_list_remove(&io->notify_link);
    io->want_writable = 0;
    io->want_notify = 0;
    io->in_resume = 0;
    io->closed = 1;
    if (io->in.len != 0) {
        c->buffered -= io->in.len;
        ig_buf_consume(&io->in, io->in.len);
        pay_conn_debt(c);
    }
}

/* ---- headers ----------------------------------------------------------------------------------- */

int ig_h2__is_conn_header(ig_iov_t name)
{
    static const ig_iov_t names[] = {IG_STRLIT("connection"),       IG_STRLIT("keep-alive"),
                                     IG_STRLIT("proxy-connection"), IG_STRLIT("transfer-encoding"),
                                     IG_STRLIT("upgrade"),          IG_STRLIT("http2-settings")};
    for (size_t i = 0; i < IG_ARRAY_LEN(names); i++)
        if (ig_iov_eq_nocase(name, names[i]))
            return 1;
    return 0;
}

static ig_iov_t lower_name(ig_pool_t *pool, ig_iov_t name)
{
    size_t i = 0;
    while (i < name.len && !isupper((unsigned char)name.base[i]))
        i++;
    if (i == name.len)
        return name;
    ig_iov_t out = ig_pool_dup(pool, name);
    for (; i < out.len; i++)
        out.base[i] = (char)tolower((unsigned char)out.base[i]);
    return out;
}

size_t ig_h2__nv_headers(ig_pool_t *pool, const ig_http_headers_t *h, nghttp2_nv *nva, ig_iov_t skip)
{
    size_t n = 0;
    for (size_t i = 0; i < h->len; i++) {
        const ig_http_header_t *hd = &h->v[i];
        if (hd->name.len == 0 || hd->name.base[0] == ':' || ig_h2__is_conn_header(hd->name))
            continue;
        if (skip.len != 0 && ig_iov_eq_nocase(hd->name, skip))
            continue;
        if (ig_iov_eq_nocase(hd->name, IG_STRLIT("te")) &&
            !ig_iov_eq_nocase(ig_iov_trim(hd->value), IG_STRLIT("trailers")))
            continue;
        nva[n++] = ig_h2__nv(lower_name(pool, hd->name), hd->value);
    }
    return n;
}

int64_t ig_h2__parse_length(ig_iov_t value)
{
    uint64_t v;
    if (ig_iov_to_u64(ig_iov_trim(value), &v) != 0)
        return -1;
    return (int64_t)v;
}

ig_iov_t ig_h2__format_u64(ig_pool_t *pool, uint64_t v)
{
    char tmp[IG_HTTP_U64_DEC];
    return ig_pool_dup(pool, ig_iov(tmp, ig_http__u64_dec(tmp, v)));
}
