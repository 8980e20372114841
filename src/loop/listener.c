/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Listening sockets. Each worker opens its own socket on the same address with SO_REUSEPORT and
 * the kernel spreads connections across them, so no accept lock or fd passing exists between
 * workers. The socket is polled with uv_poll (not uv_tcp) because accepted connections are
 * handed out as raw fds: the application decides what wraps them (ig_sock_accept, or another
 * worker). Accepts are drained in batches per readiness event.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "loop_int.h"

#define LISTEN_BACKLOG 1024
/* Accepts per readiness event, so one busy listener cannot starve the rest of the loop. */
#define ACCEPT_BATCH 64
/* Back-off when out of file descriptors: retrying at once would spin on a readable socket. */
#define ACCEPT_BACKOFF_MS 100

struct ig_listener {
    uv_poll_t poll;
    uv_timer_t backoff;
    int fd;
    int closing; /* handles left to close */
    ig_accept_cb cb;
    void *arg;
};

static void on_readable(uv_poll_t *h, int status, int events);

static void on_backoff(uv_timer_t *t)
{
    ig_listener_t *l = t->data;
    uv_poll_start(&l->poll, UV_READABLE, on_readable);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    ig_listener_t *l = h->data;
    (void)events;
    if (status < 0) {
        ig_log_warn("loop", "listener poll error: %s", uv_strerror(status));
        return;
    }
    for (int i = 0; i < ACCEPT_BATCH && !l->closing; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                ig_log_warn("loop", "accept: %s; pausing %d ms", ig_strerror(IG_ERR_ERRNO()), ACCEPT_BACKOFF_MS);
                uv_poll_stop(&l->poll);
                uv_timer_start(&l->backoff, on_backoff, ACCEPT_BACKOFF_MS, 0);
                return;
            }
            ig_log_warn("loop", "accept: %s", ig_strerror(IG_ERR_ERRNO()));
            return;
        }
        int one = 1;
        /* Latency first: responses and tokens are written in whole batches already. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (l->cb == NULL) {
            close(fd); /* nobody to take it */
            continue;
        }
        l->cb(l, fd, l->arg);
    }
}

int ig_listener_open(uv_loop_t *loop, const struct sockaddr *addr, ig_accept_cb cb, void *arg, ig_listener_t **out)
{
    int err;
    int one = 1;
    socklen_t alen = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return IG_ERR_ERRNO();
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 || bind(fd, addr, alen) == -1 ||
        listen(fd, LISTEN_BACKLOG) == -1) {
        err = IG_ERR_ERRNO();
        close(fd);
        return err;
    }
    ig_listener_t *l = ig_calloc(1, sizeof(*l));
    l->fd = fd;
    l->cb = cb;
    l->arg = arg;
    err = uv_poll_init(loop, &l->poll, fd);
    if (err != 0) {
        close(fd);
        ig_free(l);
        return err;
    }
    uv_timer_init(loop, &l->backoff);
    l->poll.data = l;
    l->backoff.data = l;
    uv_poll_start(&l->poll, UV_READABLE, on_readable);
    *out = l;
    return 0;
}

int ig_listener_addr(ig_listener_t *l, struct sockaddr_storage *out)
{
    socklen_t len = sizeof(*out);
    if (getsockname(l->fd, (struct sockaddr *)out, &len) == -1)
        return IG_ERR_ERRNO();
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    ig_listener_t *l = h->data;
    if (--l->closing > 0)
        return;
    /* Closed only now: the poll handle must be gone before its fd is. */
    close(l->fd);
    ig_free(l);
}

void ig_listener_close(ig_listener_t *l)
{
    if (l == NULL || l->closing)
        return;
    l->closing = 2;
    uv_close((uv_handle_t *)&l->poll, on_closed);
    uv_close((uv_handle_t *)&l->backoff, on_closed);
}
