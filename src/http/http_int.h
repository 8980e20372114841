/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Module-private declarations of http/: the protocol vtables behind ig_http_stream_t and
 * ig_http_cstream_t, and the hand-over points between the accept path (server.c), the client
 * pool (client.c) and the two protocol engines (h1_*.c, h2_*.c).
 */
#ifndef IG_HTTP_INT_H
#define IG_HTTP_INT_H

#include "ig/http.h"

/* Writes |v| in decimal into |out| (room for IG_HTTP_U64_DEC bytes); returns the length. No NUL. */
#define IG_HTTP_U64_DEC 20
size_t ig_http__u64_dec(char *out, uint64_t v);

/* ---- server side ----------------------------------------------------------------------------- */

/* What ig_http_stream_* dispatch to: one table for HTTP/1.1, one for HTTP/2. */
struct ig_http_stream_ops {
    int (*respond)(ig_http_stream_t *s, const ig_http_response_t *resp, int end);
    int (*write)(ig_http_stream_t *s, const char *data, size_t len, int end);
    void (*read_pause)(ig_http_stream_t *s, int paused);
    void (*reset)(ig_http_stream_t *s);
    /* Ends the response with trailers; NULL where the protocol has none (HTTP/1.1). */
    int (*write_trailers)(ig_http_stream_t *s, const ig_http_header_t *trailers, size_t n);
};

/*
 * Every live server connection, whatever its protocol, is linked into its server for drain. It is
 * the first member of each engine's connection, and the _conn of a server stream points to that
 * connection, so stream.c reaches it from any stream (ig_http_stream_sni).
 */
struct ig_http_sconn {
    ig_list_t link;
    ig_http_server_t *server;
    /* The TLS server name the client sent (ig_malloc'd copy, owned; IG_IOV_NULL when none or on
     * plaintext). Freed by ig_http__sconn_remove, after the connection's streams are closed. */
    ig_iov_t sni;
    /* Start a graceful close: h1 closes when idle or after the current response, h2 sends GOAWAY. */
    void (*drain)(struct ig_http_sconn *c);
};

void ig_http__sconn_add(ig_http_server_t *srv, struct ig_http_sconn *c);
/*
 * Unlinks |c| and frees its sni; when the server is draining and this was the last connection,
 * runs on_drained.
 */
void ig_http__sconn_remove(ig_http_server_t *srv, struct ig_http_sconn *c);

/*
 * Take over |sock| (sock->ops and sock->data are replaced) whose first |len| bytes were already
 * read by the accept path (they are fed to the protocol first; for h2 they start with the client
 * preface). Both engines copy what they keep from |pre|. |sni| (the TLS server name, an
 * ig_malloc'd copy or IG_IOV_NULL) becomes the connection's: see struct ig_http_sconn.
 */
void ig_h1__server_start(ig_http_server_t *srv, ig_sock_t *sock, ig_iov_t sni, const char *pre, size_t len);
void ig_h2__server_start(ig_http_server_t *srv, ig_sock_t *sock, ig_iov_t sni, const char *pre, size_t len);

/*
 * Initialise the fields of a new stream common to both protocols (pool, server, loop, peer).
 * |sock| NULL leaves loop, peer and is_tls zero for the caller to fill (HTTP/1.1 copies them from
 * its connection instead of asking the kernel for the peer on every request).
 */
void ig_http__stream_init(ig_http_stream_t *s, ig_http_server_t *srv, ig_sock_t *sock,
                          const struct ig_http_stream_ops *ops, void *conn, uint32_t id);
/* Release the fields ig_http__stream_init set up (after on_close has run). */
void ig_http__stream_dispose(ig_http_stream_t *s);

/* ---- client side ----------------------------------------------------------------------------- */

struct ig_http_cstream_ops {
    int (*write)(ig_http_cstream_t *cs, const char *data, size_t len, int end);
    void (*read_pause)(ig_http_cstream_t *cs, int paused);
    void (*cancel)(ig_http_cstream_t *cs);
};

struct ig_http_cconn;

struct ig_http_cconn_ops {
    /* Can this connection take one more request now? (h1: idle; h2: open and below the peer's limit) */
    int (*can_take)(struct ig_http_cconn *cc);
    /* Start |cs| on the connection (|req| is borrowed for the call). */
    void (*start)(struct ig_http_cconn *cc, ig_http_cstream_t *cs, const ig_http_request_t *req, int end);
    /* Close now, failing active streams with |err|; the connection unlinks itself from the client. */
    void (*close)(struct ig_http_cconn *cc, int err);
    /*
     * HTTP/1.1: detaches and returns the active stream when it can run again on another
     * connection (no response byte yet, no body, GET or HEAD), closing this connection; NULL
     * otherwise. NULL where the engine has none (HTTP/2).
     */
    ig_http_cstream_t *(*reclaim)(struct ig_http_cconn *cc);
};

/* A client connection (base of h1_client's and h2_client's). */
struct ig_http_cconn {
    ig_list_t link; /* in client->_conns */
    ig_http_client_t *client;
    ig_sock_t *sock;
    const struct ig_http_cconn_ops *ops;
    int connected;
    uint64_t idle_since_ns; /* 0 while busy */
    uint64_t opened_ns;     /* connect start, for config.on_connect */
    ig_list_t idle_link;    /* HTTP/1.1: in client->idle while offered for reuse (client.c's) */
    int connect_err;        /* why the connect failed, set by the engine before conn_gone (0: IG_ECONNECT) */
    int fresh;              /* HTTP/1.1: opened for the queue, no response byte yet (client.c's) */
    int probing;            /* HTTP/1.1: fresh, and carrying a request (client.c's) */
    int parked;             /* HTTP/1.1: fresh and idle, in client->parked by idle_link (client.c's) */
    uint64_t probe_ns;      /* HTTP/1.1: when the probing request started (client.c's) */
    ig_list_t probe_link;   /* HTTP/1.1: in client->probing while probing (client.c's) */
};

struct ig_http_client {
    struct ig_http_client_config config;
    uv_loop_t *loop;
    ig_list_t conns;   /* struct ig_http_cconn */
    ig_list_t waiting; /* cstreams waiting for a connection (ig_http_cstream._link) */
    size_t nwaiting;   /* length of |waiting| */
    ig_list_t idle;    /* HTTP/1.1: idle connections, most recently idled first (cconn.idle_link) */
    size_t nconns;
    size_t nidle;
    size_t nfresh;     /* HTTP/1.1: connections opened and not answered yet (cconn.fresh) */
    size_t nprobe;     /* HTTP/1.1: requests on fresh connections (cconn.probing) */
    ig_list_t parked;  /* HTTP/1.1: fresh idle connections, oldest first (cconn.idle_link) */
    ig_list_t probing; /* HTTP/1.1: probing connections, oldest probe first (cconn.probe_link) */
    uv_timer_t idle_timer;
    int destroying;
};

/*
 * Protocol engines: create a connection on |sock| (being connected) for |c|. The engine sets
 * sock->ops and sock->data; client.c links the returned connection into c->conns and counts it.
 * Engines keep cc->idle_since_ns (0 while a stream is active, the time it went idle otherwise).
 */
struct ig_http_cconn *ig_h1__client_conn_create(ig_http_client_t *c, ig_sock_t *sock);
struct ig_http_cconn *ig_h2__client_conn_create(ig_http_client_t *c, ig_sock_t *sock);

/* Called by an engine when |cc| can take more work (connected, response done, stream closed). */
void ig_http__client_conn_ready(ig_http_client_t *c, struct ig_http_cconn *cc);
/* Called by an engine from its socket's on_connect (|status| as given there): reports config.on_connect. */
void ig_http__client_conn_connected(ig_http_client_t *c, struct ig_http_cconn *cc, int status);
/* Called by the HTTP/1.1 engine at the first response byte on a cc->fresh connection: the origin
 * accepted it, so the client may open more. */
void ig_http__client_conn_answered(ig_http_client_t *c, struct ig_http_cconn *cc);
/* Called by an engine when |cc| is gone (unlinks and frees the base; waiting streams get a new one). */
void ig_http__client_conn_gone(ig_http_client_t *c, struct ig_http_cconn *cc);

/*
 * client.c owns the memory of every ig_http_cstream_t. An engine ends a stream with this call
 * (never by calling on_close itself): it runs the handler's on_close(|err|) once, then frees |cs|.
 */
void ig_http__cstream_close(ig_http_cstream_t *cs, int err);
/*
 * An engine gives back |cs| (detached from its connection, no response byte seen) so the client
 * runs it once more on a new connection: the stale keep-alive retry of a request that had no
 * body to send. A stream already retried once is closed with IG_ECLOSED instead.
 */
void ig_http__client_retry(ig_http_client_t *c, ig_http_cstream_t *cs);

#endif
