/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared scaffolding for unit tests that run a libuv loop: run until a flag or a deadline, a
 * guard timer that turns a hang into a failure, a listener on a free 127.0.0.1 port, closing
 * whatever a test left open, and an HTTP server fixture (loop + ig_http_server + listener, and a
 * gRPC channel to it and a gRPC echo method) for the tests that speak HTTP/1.1, HTTP/2 or gRPC to
 * themselves. Linked into every unit test. Everything runs on the test's thread (except the loop
 * of ig_test_http_thread_start); failures are cmocka assertions in the caller's test.
 */
#ifndef IG_TEST_LOOP_H
#define IG_TEST_LOOP_H

#include <pthread.h>
#include <stdint.h>

#include "ig/grpc.h"
#include "ig/http.h"
#include "ig/loop.h"

/* ---- running a loop ------------------------------------------------------------------------- */

/**
 * Runs |loop| until *|flag| is nonzero or |ms| milliseconds pass; returns *|flag|. A 10 ms tick
 * keeps each iteration short, so the flag and the deadline are checked even when nothing else
 * is pending.
 */
int ig_test_run_until(uv_loop_t *loop, const int *flag, uint64_t ms);
/**
 * Runs |loop| until |done|(|arg|) returns nonzero or |ms| milliseconds pass; returns the last
 * answer of |done|, which is asked before each loop iteration and once after the deadline.
 */
int ig_test_run_until_true(uv_loop_t *loop, int (*done)(void *arg), void *arg, uint64_t ms);
/** Runs |loop| for |ms| milliseconds. */
void ig_test_run_for(uv_loop_t *loop, uint64_t ms);
/**
 * Closes every handle still open on |loop|, runs it until they are gone, and asserts that
 * uv_loop_close succeeds.
 */
void ig_test_loop_close(uv_loop_t *loop);

/* ---- a guarded loop ------------------------------------------------------------------------- */

/**
 * Initialises |loop| with an unreferenced guard timer that fails the test after |guard_ms|: a
 * test waiting for a callback that never comes fails instead of blocking. One guarded loop at a
 * time (the guard timer is shared).
 */
void ig_test_loop_begin(uv_loop_t *loop, uint64_t guard_ms);
/**
 * Runs |loop| until every socket and listener is closed, removes the guard, and asserts the loop
 * closes with nothing left open.
 */
void ig_test_loop_end(uv_loop_t *loop);

/* ---- sockets -------------------------------------------------------------------------------- */

/** Opens a listener on 127.0.0.1 with a free port; the bound address goes to |addr|. */
void ig_test_listen(uv_loop_t *loop, ig_accept_cb cb, void *arg, ig_listener_t **l, struct sockaddr_storage *addr);

/* ---- an HTTP server on its own loop --------------------------------------------------------- */

struct ig_test_http {
    uv_loop_t loop;
    ig_http_server_t srv;
    ig_listener_t *listener;
    struct sockaddr_storage addr; /* 127.0.0.1:port of the listener */
    size_t accepts;               /* connections handed to |srv| */
    int drained;                  /* set when a drain started by ig_test_http_drain completes */
};

/**
 * Initialises |t|'s loop and server (|cfg| NULL: defaults) and a listener on a free 127.0.0.1
 * port whose connections go to t->srv. Set t->srv.on_request (or attach a gRPC server) after.
 */
void ig_test_http_start(struct ig_test_http *t, const struct ig_http_server_config *cfg);
/** Starts a graceful drain of t->srv; t->drained becomes 1 when no connection remains. */
void ig_test_http_drain(struct ig_test_http *t);
/**
 * Drains the server (unless a drain already finished) and asserts it ends within 3 s, closes the
 * listener and every handle left, and asserts the loop closes. Clients must be destroyed first.
 */
void ig_test_http_stop(struct ig_test_http *t);
/**
 * Serves |grpc| (borrowed) on t->srv and returns a channel to it on t->loop, owned by the caller
 * (ig_grpc_channel_destroy before ig_test_http_stop). Methods may be added before or after.
 */
ig_grpc_channel_t *ig_test_grpc_attach(struct ig_test_http *t, ig_grpc_server_t *grpc);
/** Unary method "/test.Echo/Unary": answers each request with its own message and status OK. */
extern const struct ig_grpc_method ig_test_grpc_echo_unary;

/* ---- an HTTP server on a thread ------------------------------------------------------------- */

/*
 * For tests that speak to the server with blocking sockets or a child process (curl): the
 * fixture's loop runs on its own thread until ig_test_http_thread_stop. The test thread must not
 * touch t's loop or server while the thread runs.
 */
struct ig_test_http_thread {
    struct ig_test_http t;
    int port;         /* the listener's port, host order */
    uv_async_t stop;  /* private: wakes the loop to stop it */
    pthread_t thread; /* private */
};

/**
 * ig_test_http_start(&sv->t, |cfg|) with |on_request| as the server's handler, then runs the
 * loop on a new thread.
 */
void ig_test_http_thread_start(struct ig_test_http_thread *sv, const struct ig_http_server_config *cfg,
                               void (*on_request)(ig_http_stream_t *s));
/** Stops the loop, joins the thread, then ig_test_http_stop on the test's thread. */
void ig_test_http_thread_stop(struct ig_test_http_thread *sv);

#endif
