/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connections for ig_sock tests (plain TCP and TLS alike): a one-shot server and client pair,
 * and a paced reader: the server side of a connection
 * that pauses reading after every on_read and resumes from a 1 ms timer, so input must wait
 * while paused and still arrive whole and in order. The client writes the pattern of
 * ig_test_pattern_fill; the server checks it and closes once every byte arrived. Loop thread only.
 */
#ifndef IG_TEST_SOCK_H
#define IG_TEST_SOCK_H

#include <stddef.h>

#include "ig/loop.h"

/**
 * One connection on |loop| (a guarded loop, see ig_test_loop_begin): a one-shot listener on a
 * free 127.0.0.1 port wraps its first connection with ig_sock_accept(|srv_cfg|, |srv_ops|,
 * |data|) and closes; the client connects with |cli_cfg| (NULL: plain TCP), |cli_ops| and |data|.
 * Returns the client socket. The configs are copied; one pair at a time.
 */
ig_sock_t *ig_test_sock_pair(uv_loop_t *loop, const struct ig_sock_config *srv_cfg, const struct ig_sock_ops *srv_ops,
                             const struct ig_sock_config *cli_cfg, const struct ig_sock_ops *cli_ops, void *data);

/** Byte |i| of the pattern the paced reader expects. */
#define IG_TEST_PATTERN(i) ((char)((i) % 253))

/** Fills |buf| with the pattern's bytes |off| .. |off| + |len|. */
void ig_test_pattern_fill(char *buf, size_t off, size_t len);

struct ig_test_pacer {
    uv_loop_t *loop;
    size_t total;        /* bytes the client sends; the server closes after the last one */
    SSL_CTX *server_ctx; /* NULL: plain TCP; borrowed */
    uv_timer_t resume;   /* private */
    ig_sock_t *server;
    int paused;
    int read_while_paused; /* on_read while paused: must stay 0 */
    int pauses;
    int bad; /* bytes off the pattern: must stay 0 */
    size_t got;
    int server_closed;
    int client_closed, client_err;
};

/**
 * Zeroes |p|, then listens on a free 127.0.0.1 port of |loop| (address in |addr|) for one
 * connection served by the paced reader. The listener and the timer close by themselves: the
 * loop ends once the client closes too.
 */
void ig_test_pacer_start(struct ig_test_pacer *p, uv_loop_t *loop, size_t total, SSL_CTX *server_ctx,
                         struct sockaddr_storage *addr);
/** The client's on_read (ignores the server's silence) and on_close (counts into the pacer). */
void ig_test_pacer_client_read(ig_sock_t *s, const char *data, size_t len);
void ig_test_pacer_client_close(ig_sock_t *s, int err);

#endif
