/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for worker threads: two workers each open a listener on the same SO_REUSEPORT
 * address, clients connect from the test thread and get echoes, posts run on the right thread,
 * and stop drains every worker so wait returns. alarm() bounds the whole run.
 */
#include <arpa/inet.h>
#include <poll.h>
#include <stdatomic.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ig/loop.h"

#define NWORKERS 2
#define NCLIENTS 32

struct per_worker {
    ig_listener_t *listener;
    int accepted;
    int closed;
    int posts;
    int self_ok;
};

static struct per_worker pw[NWORKERS];
static struct sockaddr_storage shared_addr;
static atomic_int inits_done;
static atomic_int stops_done;

static void echo_read(ig_sock_t *s, const char *data, size_t len)
{
    assert_int_equal(ig_sock_write(s, data, len), 0);
}

static void echo_close(ig_sock_t *s, int err)
{
    struct per_worker *p = s->data;
    (void)err;
    p->closed++;
}

static const struct ig_sock_ops echo_ops = {.on_read = echo_read, .on_close = echo_close};

static void on_accept(ig_listener_t *l, int fd, void *arg)
{
    ig_worker_t *w = arg;
    (void)l;
    assert_ptr_equal(ig_worker_self(), w);
    pw[w->id].accepted++;
    ig_sock_accept(&w->loop, fd, NULL, &echo_ops, &pw[w->id]);
}

static void on_stop(ig_worker_t *w, void *arg)
{
    (void)arg;
    assert_ptr_equal(ig_worker_self(), w);
    ig_listener_close(pw[w->id].listener);
    atomic_fetch_add(&stops_done, 1);
}

static void init(ig_worker_t *w, void *arg)
{
    assert_ptr_equal(arg, &shared_addr);
    assert_ptr_equal(ig_worker_self(), w);
    assert_int_equal(ig_listener_open(&w->loop, (struct sockaddr *)&shared_addr, on_accept, w, &pw[w->id].listener), 0);
    w->on_stop = on_stop;
    w->data = &pw[w->id];
    atomic_fetch_add(&inits_done, 1);
}

static void on_post(ig_worker_t *w, void *arg)
{
    struct per_worker *p = arg;
    p->posts++;
    p->self_ok = ig_worker_self() == w && w->data == p;
}

/* A bound (not listening) SO_REUSEPORT socket reserves a free port for the workers to share. */
static int reserve_port(void)
{
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    assert_int_equal(ig_addr_parse("127.0.0.1:0", &shared_addr), 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&shared_addr, sizeof(struct sockaddr_in)), 0);
    socklen_t len = sizeof(shared_addr);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&shared_addr, &len), 0);
    return fd;
}

static void client_roundtrip(int i)
{
    char msg[32], got[32];
    int n = snprintf(msg, sizeof(msg), "ping %d", i);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&shared_addr, sizeof(struct sockaddr_in)), 0);
    assert_int_equal(write(fd, msg, (size_t)n), n);
    size_t have = 0;
    while (have < (size_t)n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 3000), 1);
        ssize_t r = read(fd, got + have, sizeof(got) - have);
        assert_true(r > 0);
        have += (size_t)r;
    }
    assert_memory_equal(got, msg, (size_t)n);
    close(fd);
}

static void test_reuseport_workers(void **state)
{
    (void)state;
    alarm(20);
    int placeholder = reserve_port();
    struct ig_workers *g = ig_workers_start(NWORKERS, init, &shared_addr);
    assert_int_equal(ig_workers_count(g), NWORKERS);
    assert_null(ig_worker_self());
    for (int i = 0; i < 300 && atomic_load(&inits_done) < NWORKERS; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&inits_done), NWORKERS);
    close(placeholder);

    for (int i = 0; i < NCLIENTS; i++)
        client_roundtrip(i);
    for (int i = 0; i < NWORKERS; i++)
        ig_workers_post(g, i, on_post, &pw[i]);

    ig_workers_stop(g);
    ig_workers_stop(g); /* idempotent */
    ig_workers_wait(g);
    alarm(0);

    assert_int_equal(atomic_load(&stops_done), NWORKERS);
    int total = 0;
    for (int i = 0; i < NWORKERS; i++) {
        /* The kernel spreads connections: with 32 of them both workers get some. */
        assert_true(pw[i].accepted > 0);
        assert_int_equal(pw[i].closed, pw[i].accepted);
        assert_int_equal(pw[i].posts, 1);
        assert_true(pw[i].self_ok);
        total += pw[i].accepted;
    }
    assert_int_equal(total, NCLIENTS);
}

static void noop_init(ig_worker_t *w, void *arg)
{
    (void)w;
    (void)arg;
}

static void count_post(ig_worker_t *w, void *arg)
{
    (void)w;
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void test_default_count_and_posts(void **state)
{
    (void)state;
    static atomic_int runs;
    alarm(20);
    struct ig_workers *g = ig_workers_start(0, noop_init, NULL);
    int n = ig_workers_count(g);
    assert_true(n >= 1);
    assert_int_equal(n, (int)sysconf(_SC_NPROCESSORS_ONLN));
    for (int k = 0; k < 100; k++)
        ig_workers_post(g, k % n, count_post, &runs);
    for (int i = 0; i < n; i++)
        assert_int_equal(ig_workers_get(g, i)->id, i);
    ig_workers_stop(g);
    ig_workers_wait(g);
    alarm(0);
    /* Posts queued before the stop all ran before the loops ended. */
    assert_int_equal(atomic_load(&runs), 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reuseport_workers),
        cmocka_unit_test(test_default_count_and_posts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
