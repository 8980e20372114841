/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The paced reader shared by the plain TCP and TLS tests of ig_sock (see ig_test_sock.h). With
 * TLS, a pause after one record leaves the rest of the ciphertext already read buffered inside
 * the socket: the same checks then prove that buffered input waits for the resume too.
 */
#include "ig_test_sock.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ig_test_loop.h"

/* ---- one connection ------------------------------------------------------------------------- */

/* The server half of ig_test_sock_pair until its connection arrives (one pair at a time). */
static struct {
    uv_loop_t *loop;
    struct ig_sock_config cfg;
    const struct ig_sock_ops *ops;
} pair;

static void pair_accept(ig_listener_t *l, int fd, void *arg)
{
    assert_non_null(ig_sock_accept(pair.loop, fd, &pair.cfg, pair.ops, arg));
    ig_listener_close(l);
}

ig_sock_t *ig_test_sock_pair(uv_loop_t *loop, const struct ig_sock_config *srv_cfg, const struct ig_sock_ops *srv_ops,
                             const struct ig_sock_config *cli_cfg, const struct ig_sock_ops *cli_ops, void *data)
{
    struct sockaddr_storage addr;
    ig_listener_t *l;
    pair.loop = loop;
    memset(&pair.cfg, 0, sizeof(pair.cfg));
    if (srv_cfg != NULL)
        pair.cfg = *srv_cfg;
    pair.ops = srv_ops;
    ig_test_listen(loop, pair_accept, data, &l, &addr);
    ig_sock_t *c = ig_sock_connect(loop, (struct sockaddr *)&addr, cli_cfg, cli_ops, data);
    assert_non_null(c);
    return c;
}

/* ---- the paced reader ----------------------------------------------------------------------- */

void ig_test_pattern_fill(char *buf, size_t off, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = IG_TEST_PATTERN(off + i);
}

static void pacer_resume(uv_timer_t *t)
{
    struct ig_test_pacer *p = t->data;
    p->paused = 0;
    ig_sock_read_pause(p->server, 0);
}

static void pacer_read(ig_sock_t *s, const char *data, size_t len)
{
    struct ig_test_pacer *p = s->data;
    if (p->paused)
        p->read_while_paused++;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != IG_TEST_PATTERN(p->got + i))
            p->bad++;
    }
    p->got += len;
    if (p->got == p->total) {
        ig_sock_close(s);
        return;
    }
    /* Pause after every read and resume from a timer: input must wait, in order. */
    p->paused = 1;
    p->pauses++;
    ig_sock_read_pause(s, 1);
    uv_timer_start(&p->resume, pacer_resume, 1, 0);
}

static void pacer_close(ig_sock_t *s, int err)
{
    struct ig_test_pacer *p = s->data;
    (void)err;
    p->server_closed++;
    uv_close((uv_handle_t *)&p->resume, NULL);
}

static const struct ig_sock_ops pacer_ops = {.on_read = pacer_read, .on_close = pacer_close};

static void pacer_accept(ig_listener_t *l, int fd, void *arg)
{
    struct ig_test_pacer *p = arg;
    struct ig_sock_config cfg = {.ssl_ctx = p->server_ctx};
    p->server = ig_sock_accept(p->loop, fd, &cfg, &pacer_ops, p);
    assert_non_null(p->server);
    ig_listener_close(l);
}

void ig_test_pacer_start(struct ig_test_pacer *p, uv_loop_t *loop, size_t total, SSL_CTX *server_ctx,
                         struct sockaddr_storage *addr)
{
    ig_listener_t *l;
    memset(p, 0, sizeof(*p));
    p->loop = loop;
    p->total = total;
    p->server_ctx = server_ctx;
    uv_timer_init(loop, &p->resume);
    p->resume.data = p;
    ig_test_listen(loop, pacer_accept, p, &l, addr);
}

void ig_test_pacer_client_read(ig_sock_t *s, const char *data, size_t len)
{
    (void)s;
    (void)data;
    (void)len;
}

void ig_test_pacer_client_close(ig_sock_t *s, int err)
{
    struct ig_test_pacer *p = s->data;
    p->client_closed++;
    p->client_err = err;
}
