/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loop: module-private declarations. The per-loop context holds what every ig_sock on a loop
 * shares: the read buffer (read data is only valid during on_read, so one buffer serves all
 * sockets of a loop) and the list of sockets with output to flush at the end of the iteration.
 */
#ifndef IG_LOOP_INT_H
#define IG_LOOP_INT_H

#include "ig/loop.h"

#define IG_LOOP_RBUF_SIZE (64 * 1024)

struct ig_loop_ctx {
    uv_loop_t *loop;
    struct ig_loop_ctx *next; /* registry link, under the registry mutex */
    size_t refs;              /* live sockets on this loop */
    int closing;              /* handles still to close before the context is freed */
    uv_prepare_t prepare;     /* flushes writes made by timers and other pre-poll callbacks */
    uv_check_t check;         /* flushes writes made while handling I/O in this iteration */
    uv_idle_t idle;           /* active while sockets are dirty: the poll must not block then */
    ig_list_t dirty;          /* sockets with output or buffered input to process */
    char rbuf[IG_LOOP_RBUF_SIZE];
};

/** Returns the context of |loop|, creating it on first use; takes a reference. Loop thread only. */
struct ig_loop_ctx *ig_loop__ctx_get(uv_loop_t *loop);
/** Drops a reference; the last one closes the context's handles and frees it. */
void ig_loop__ctx_put(struct ig_loop_ctx *ctx);
/** Runs every dirty socket's pending work (defined in sock.c). */
void ig_sock__flush_dirty(struct ig_loop_ctx *ctx);
/** Called when the first socket becomes dirty: keeps the next poll from blocking. */
void ig_loop__ctx_wake(struct ig_loop_ctx *ctx);

/** Maps a libuv status to an infergate error code (-errno stays as is). */
int ig_loop__uv_err(int status);

#endif
