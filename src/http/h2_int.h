/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the HTTP/2 engines (h2_server.c, h2_client.c): what both sides of an nghttp2 session
 * share. nghttp2 runs in memory mode: bytes read from the ig_sock go to nghttp2_session_mem_recv,
 * and nghttp2_session_mem_send output is queued with ig_sock_write while the socket's pending
 * output is below a threshold (the rest waits for on_drain). Body output of each stream
 * sits in a per-stream buffer read by a data provider; body input is either delivered to the
 * application at once (and its flow-control window consumed) or, while the application paused
 * reading, held in a per-stream buffer without consuming the stream window, so the peer stops
 * at the window.
 */
#ifndef IG_H2_INT_H
#define IG_H2_INT_H

#include <nghttp2/nghttp2.h>

#include "http_int.h"

/* Stream-level receive window we advertise (SETTINGS_INITIAL_WINDOW_SIZE). */
#define IG_H2_STREAM_WINDOW (1u << 20)
/* Connection-level receive window: large, since the stream windows do the back-pressure. */
#define IG_H2_CONN_WINDOW (64u << 20)
/*
 * Paused-stream input a connection holds before it stops consuming the connection window too:
 * past this, every stream of the connection waits until the application reads some.
 */
#define IG_H2_CONN_BUFFERED_MAX (16u << 20)
/*
 * nghttp2 output is produced only while the socket has less than this queued (well below the
 * socket's max_pending). Large enough that one loop iteration moves a useful amount: at 128 KiB
 * a loopback echo of 300 KB bodies ran at a third of the throughput it reaches with 1 MiB.
 */
#define IG_H2_SEND_THRESHOLD (1024u << 10)
/* Hard cap of one stream's unsent body output (writes past it fail with IG_ETOOBIG). */
#define IG_H2_OUT_MAX (64u << 20)
/* Hard cap of one stream's held input: the window plus slack for a peer's in-flight frames. */
#define IG_H2_IN_MAX (2u * IG_H2_STREAM_WINDOW)
/* Stream buffers larger than this are freed rather than kept on a free list. */
#define IG_H2_KEEP_BUF (64u << 10)

struct ig_h2_conn;
struct ig_h2_io;

/* What the common code calls back into the engine that owns the connection. */
struct ig_h2_conn_ops {
    /* Body bytes for the application (end set on the last call, which may be (NULL, 0)). */
    void (*deliver)(struct ig_h2_io *io, const char *data, size_t len, int end);
    /* The stream's output fell to the low-water mark after a write returned IG_EAGAIN. */
    void (*writable)(struct ig_h2_io *io);
    /* The session has nothing left to read or write, or failed: close the socket. Called once. */
    void (*done)(struct ig_h2_conn *c);
    /* The deadline set with ig_h2__conn_set_deadline passed. */
    void (*timeout)(struct ig_h2_conn *c);
    /* Held input of a resumed stream was delivered (the stream may be released here). May be NULL. */
    void (*resumed)(struct ig_h2_io *io);
    /* ig_h2__io_notify was called for the stream (it may be released here). May be NULL. */
    void (*notified)(struct ig_h2_io *io);
    /* A flush finished outside nghttp2 (a safe point for connection-level work). May be NULL. */
    void (*flushed)(struct ig_h2_conn *c);
    /* ig_h2__conn_dispose finished: free the connection. */
    void (*freed)(struct ig_h2_conn *c);
    /*
     * The socket closed: end every stream (the session is deleted right after). Runs outside
     * nghttp2 and outside the engine's calls into the application, with c->busy held.
     */
    void (*teardown)(struct ig_h2_conn *c);
};

/* The part of a connection both engines share (embedded in theirs). */
struct ig_h2_conn {
    nghttp2_session *ngh;
    ig_sock_t *sock; /* NULL once the socket is gone */
    const struct ig_h2_conn_ops *ops;
    size_t high_water;     /* per-stream output that makes writes return IG_EAGAIN */
    size_t send_threshold; /* produce output while the socket has less than this pending */
    size_t buffered;       /* input held for paused streams */
    size_t conn_debt;      /* connection-window bytes not yet consumed (above the buffered cap) */
    ig_list_t notify;      /* struct ig_h2_io.notify_link: pending on_writable / resumed input */
    uv_timer_t timer;      /* deferred flush (kick) and the engine's deadline */
    uint64_t deadline_ms;  /* loop time of the engine's timeout, 0: none */
    int busy;              /* depth of calls into nghttp2 or the application from the engine */
    int failed;            /* a fatal error: stop producing output */
    int kicked;            /* a deferred flush is scheduled */
    int done_called;
};

/* Per-stream I/O state both engines share (embedded in their stream objects). */
struct ig_h2_io {
    struct ig_h2_conn *conn;
    int32_t id;   /* 0 until the stream has an id */
    ig_buf_t out; /* body output not yet taken by the data provider */
    ig_buf_t in;  /* body input held while paused */
    ig_list_t notify_link;
    unsigned out_end : 1;      /* the application wrote its last byte */
    unsigned out_deferred : 1; /* the data provider returned NGHTTP2_ERR_DEFERRED */
    unsigned out_blocked : 1;  /* a write returned IG_EAGAIN: call writable on drain */
    unsigned out_discard : 1;  /* body output is dropped (HEAD response, stream gone) */
    unsigned in_paused : 1;
    unsigned in_end : 1;      /* END_STREAM received (and not yet delivered if paused) */
    unsigned in_end_done : 1; /* the final deliver(end) call has been made */
    unsigned in_resume : 1;   /* held input must be delivered at the next safe point */
    unsigned want_writable : 1;
    unsigned want_notify : 1; /* ops->notified at the next safe point */
    unsigned closed : 1;      /* nghttp2 closed the stream: no more frames for it */
};

/* nghttp2 allocations through ig_malloc (core's abort-on-OOM policy, fault injection). */
extern nghttp2_mem ig_h2__mem;

/* The nghttp2 callbacks an engine implements (NULL: not set). */
struct ig_h2_engine_cbs {
    nghttp2_on_begin_headers_callback begin_headers;
    nghttp2_on_header_callback header;
    nghttp2_on_frame_recv_callback frame_recv;
    nghttp2_on_data_chunk_recv_callback data_chunk_recv;
    nghttp2_on_stream_close_callback stream_close;
    nghttp2_on_frame_not_send_callback frame_not_send;
};
/*
 * Builds an engine's session callbacks and options, shared by every session of the engine (they
 * are read-only once built, so every worker thread uses the same ones; call under pthread_once).
 * Window updates are manual: the application's reading gives the window back.
 */
void ig_h2__engine_setup(const struct ig_h2_engine_cbs *fns, nghttp2_session_callbacks **cbs, nghttp2_option **opt);
/* Logs a frame nghttp2 could not send (the default frame_not_send callback). */
int ig_h2__on_frame_not_send(nghttp2_session *ngh, const nghttp2_frame *frame, int lib_error_code, void *ud);

/*
 * Sets up |c| on |sock| (borrowed; the engine owns it), whose output cap is |max_pending| (the
 * send threshold stays well below it, since every byte nghttp2 produces must be queued), and
 * makes |c| the socket's data with |sock_ops| as its callbacks (built from ig_h2__sock_*). The
 * engine creates c->ngh afterwards, then calls ig_h2__conn_settings.
 */
void ig_h2__conn_init(struct ig_h2_conn *c, ig_sock_t *sock, const struct ig_h2_conn_ops *ops,
                      const struct ig_sock_ops *sock_ops, size_t high_water, size_t max_pending);
/* Queues our SETTINGS (|n| entries) and opens the connection-level receive window (IG_H2_CONN_WINDOW). */
void ig_h2__conn_settings(struct ig_h2_conn *c, const nghttp2_settings_entry *iv, size_t n);
/*
 * Socket callbacks for a connection set up by ig_h2__conn_init: received bytes go to nghttp2,
 * a drained socket resumes output, and a closed one tears the connection down (ops->teardown,
 * deferred to the loop while the engine is busy), then deletes the session.
 */
void ig_h2__sock_on_read(ig_sock_t *s, const char *data, size_t len);
void ig_h2__sock_on_drain(ig_sock_t *s);
void ig_h2__sock_on_close(ig_sock_t *s, int err);
/* Deletes the session and closes the timer; ops->freed runs from the loop once it is closed. */
void ig_h2__conn_dispose(struct ig_h2_conn *c);
/* Calls ops->timeout |after_ms| from now (0 cancels). */
void ig_h2__conn_set_deadline(struct ig_h2_conn *c, uint64_t after_ms);
/*
 * Output became available outside the engine's own I/O callbacks (an application call):
 * flushes at the next loop iteration, or not at all when the engine is busy (it flushes on the
 * way out).
 */
void ig_h2__conn_kick(struct ig_h2_conn *c);
/*
 * Feeds |len| received bytes to nghttp2, then produces output. Returns 0, or IG_EPROTO when the
 * session failed (the caller closes the socket).
 */
int ig_h2__conn_recv(struct ig_h2_conn *c, const char *data, size_t len);
/*
 * Produces nghttp2 output into the socket while it has room, and runs the notifications the
 * streams queued (on_writable, resumed input). A no-op while the connection is busy (inside
 * nghttp2 or an application callback the engine is running): the outermost caller flushes.
 * Calls ops->done when the session wants neither to read nor to write.
 */
void ig_h2__conn_flush(struct ig_h2_conn *c);

void ig_h2__io_init(struct ig_h2_io *io, struct ig_h2_conn *c);
void ig_h2__io_dispose(struct ig_h2_io *io);
/* Frees buffers that grew large, before a stream object goes to a free list. */
void ig_h2__io_trim(struct ig_h2_io *io);
/*
 * Queues body output (copied). Returns 0, IG_EAGAIN (queued, above high water), IG_ETOOBIG
 * (nothing queued: IG_H2_OUT_MAX), or IG_EINVAL after the end was written.
 */
int ig_h2__io_write(struct ig_h2_io *io, const char *data, size_t len, int end);
/* nghttp2 data source read callback; source->ptr is the struct ig_h2_io. */
ssize_t ig_h2__io_read_cb(nghttp2_session *ngh, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                          nghttp2_data_source *source, void *user_data);
/* DATA payload received for the stream: delivered or held (paused). Returns 0 or IG_ETOOBIG. */
int ig_h2__io_data(struct ig_h2_io *io, const char *data, size_t len);
/*
 * A DATA payload nghttp2 received for stream |id|: handed to |io| (a stream that overflows its
 * held input is reset), or, when |io| is NULL (the stream is gone for the application),
 * consumed at once so that the windows stay open.
 */
void ig_h2__data_chunk(nghttp2_session *ngh, int32_t id, struct ig_h2_io *io, const uint8_t *data, size_t len);
/* END_STREAM received for the stream. */
void ig_h2__io_end(struct ig_h2_io *io);
void ig_h2__io_pause(struct ig_h2_io *io, int paused);
/* Runs ops->notified for the stream at the next safe point (outside nghttp2 and the application). */
void ig_h2__io_notify(struct ig_h2_io *io);
/* True while held input or its end still waits for the application. */
static inline int ig_h2__io_holding(const struct ig_h2_io *io)
{
    return io->in.len != 0 || (io->in_end && !io->in_end_done);
}
/*
 * The stream is closed in nghttp2 or being detached: releases held input (giving its
 * connection-window share back) and unlinks the stream from the notify list.
 */
void ig_h2__io_detach(struct ig_h2_io *io);

/* Connection-specific headers HTTP/2 forbids (RFC 9113 8.2.2); |name| compared without case. */
int ig_h2__is_conn_header(ig_iov_t name);
/*
 * Appends the nv entries for |h| to |nva| (room for h->len entries), names lower-cased (copied into
 * |pool| only when needed), connection-specific headers dropped; "te" is kept only as "trailers";
 * |skip| (may be IG_IOV_NULL) names one more header to leave out. Returns the number added.
 */
size_t ig_h2__nv_headers(ig_pool_t *pool, const ig_http_headers_t *h, nghttp2_nv *nva, ig_iov_t skip);
static inline nghttp2_nv ig_h2__nv(ig_iov_t name, ig_iov_t value)
{
    return (nghttp2_nv){(uint8_t *)name.base, (uint8_t *)value.base, name.len, value.len, NGHTTP2_NV_FLAG_NONE};
}
/* Formats |v| in decimal into |pool| (a status code or content-length, without printf). */
ig_iov_t ig_h2__format_u64(ig_pool_t *pool, uint64_t v);
/* Parses a content-length value; returns the length or -1 when absent or invalid. */
int64_t ig_h2__parse_length(ig_iov_t value);

/*
 * Trailers of an HTTP/2 response received on |cs| (strings in cs->pool), or NULL when none
 * arrived or |cs| is not an HTTP/2 stream. Valid until on_close.
 */
const ig_http_headers_t *ig_h2__cstream_trailers(const ig_http_cstream_t *cs);

#endif
