/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http: one request/response model for HTTP/1.1 and HTTP/2, server and client.
 *
 *  - ig_h1_*: the HTTP/1.1 parser, incremental and zero-copy (slices into the caller's buffer),
 *    strict where request smuggling hides. Pure functions over bytes: unit-tested and fuzzed.
 *  - ig_http_stream_t: one request/response exchange on a server connection (HTTP/1.1 or h2).
 *    The application sees the same object and calls whichever protocol carries it.
 *  - ig_http_client_t: an origin (address, version, TLS) with a keep-alive connection pool;
 *    ig_http_cstream_t is one request on it.
 *
 * Header names are lower-case on HTTP/2 and kept as received on HTTP/1.1: compare with
 * ig_iov_eq_nocase. Pseudo-headers never appear in the header arrays; they are fields of the
 * request/response.
 */
#ifndef IG_HTTP_H
#define IG_HTTP_H

#include "ig/core.h"
#include "ig/loop.h"

/* ---- model ----------------------------------------------------------------------------------- */

typedef struct ig_http_header {
    ig_iov_t name;
    ig_iov_t value;
} ig_http_header_t;

/** A header list whose array and strings live in a pool (or are borrowed for its lifetime). */
typedef struct ig_http_headers {
    ig_http_header_t *v;
    size_t len, cap;
} ig_http_headers_t;

/** Appends a header; the strings are borrowed (dup them into |pool| first if they must outlive the source). */
void ig_http_headers_add(ig_pool_t *pool, ig_http_headers_t *h, ig_iov_t name, ig_iov_t value);
/** Returns the index of the first header named |name| at or after |from|, or -1. */
ssize_t ig_http_headers_find(const ig_http_headers_t *h, ig_iov_t name, size_t from);
/** Removes every header named |name|; returns how many. */
size_t ig_http_headers_remove(ig_http_headers_t *h, ig_iov_t name);

enum ig_http_version {
    IG_HTTP_10 = 10,
    IG_HTTP_11 = 11,
    IG_HTTP_2 = 20,
};

typedef struct ig_http_request {
    ig_iov_t method;
    ig_iov_t scheme;    /* "http" / "https" */
    ig_iov_t authority; /* :authority, or Host on HTTP/1.1 */
    ig_iov_t path;      /* request target (origin form), query included */
    int version;        /* enum ig_http_version */
    ig_http_headers_t headers;
    int64_t content_length; /* -1: unknown (chunked, or h2 without content-length) */
} ig_http_request_t;

typedef struct ig_http_response {
    int status;
    ig_http_headers_t headers;
    int64_t content_length; /* -1: unknown; the server picks chunked (h1.1) or DATA frames */
} ig_http_response_t;

/** Reason phrase for |status| ("OK", "Not Found", ...; "Unknown" otherwise). */
const char *ig_http_reason(int status);

/* ---- HTTP/1.1 parser ------------------------------------------------------------------------- */

struct ig_h1_limits {
    size_t max_request_line; /* bytes of the request or status line; default 8192 */
    size_t max_headers;      /* header count; default 100 */
    size_t max_header_bytes; /* the whole header block; default 65536 */
};
#define IG_H1_LIMITS_DEFAULT ((struct ig_h1_limits){8192, 100, 65536})

enum ig_h1_framing {
    IG_H1_BODY_NONE = 0,   /* no body (or 0 length) */
    IG_H1_BODY_LENGTH,     /* Content-Length bytes */
    IG_H1_BODY_CHUNKED,    /* Transfer-Encoding: chunked */
    IG_H1_BODY_UNTIL_CLOSE /* responses only: read until EOF */
};

typedef struct ig_h1_message {
    /* request */
    ig_iov_t method;
    ig_iov_t target;
    /* response */
    int status;
    ig_iov_t reason;
    /* both */
    int minor_version;         /* 0 or 1 */
    ig_http_header_t *headers; /* caller's array, slices into the input */
    size_t num_headers;        /* in: capacity of |headers|; out: count */
    /* derived from the headers, validated */
    enum ig_h1_framing framing;
    uint64_t content_length;
    int keep_alive; /* per version default and Connection */
    int expect_continue;
    int upgrade; /* Connection: upgrade with an Upgrade header */
    ig_iov_t host;
} ig_h1_message_t;

/**
 * Parses a request header block from |buf|. Returns the header block's length (> 0) when it is
 * complete, IG_EINCOMPLETE when more bytes are needed, IG_ETOOBIG when a limit is exceeded (431
 * for header limits, 414 for the request line: see *|what|), or IG_EPROTO for a malformed or
 * ambiguous message: obs-fold, bare CR or LF, NUL or control bytes, Content-Length together with
 * Transfer-Encoding, duplicate or invalid Content-Length, a Transfer-Encoding other than a final
 * "chunked". |what| (may be NULL) receives a static reason for the log.
 */
int ig_h1_parse_request(const char *buf, size_t len, const struct ig_h1_limits *limits, ig_h1_message_t *msg,
                        const char **what);
/** As ig_h1_parse_request for a response (|is_head|: a HEAD request's response has no body). */
int ig_h1_parse_response(const char *buf, size_t len, const struct ig_h1_limits *limits, int is_head,
                         ig_h1_message_t *msg, const char **what);

/** Incremental chunked-body decoder; zero-initialise (or ig_h1_chunked_init) before use. */
typedef struct ig_h1_chunked {
    int _state;
    uint64_t _remaining;
    size_t _line; /* bytes of the current size / trailer line, for limits */
    int _hex_digits;
} ig_h1_chunked_t;

static inline void ig_h1_chunked_init(ig_h1_chunked_t *d)
{
    memset(d, 0, sizeof(*d));
}
/**
 * Decodes chunked data from |in| (|*in_len| bytes). Payload bytes are delivered as slices into
 * |in| through |on_data|; trailers are skipped (validated and bounded). On return *in_len is the
 * number of bytes consumed. Returns 1 when the terminating chunk and trailers are complete, 0 when
 * more input is needed, IG_EPROTO on an invalid chunk size or framing, IG_ETOOBIG on an oversize
 * size line or trailer.
 */
int ig_h1_chunked_decode(ig_h1_chunked_t *d, const char *in, size_t *in_len,
                         void (*on_data)(void *arg, const char *data, size_t len), void *arg);
/**
 * As ig_h1_chunked_decode, and the bytes of the trailer field lines (each with its CRLF; the final
 * empty line excluded), validated and bounded as above, are delivered as they are consumed through
 * |on_trailer| (may be NULL), in slices of |in| cut wherever the input is: join them, then split
 * them with ig_h1_trailers_parse once the decoder returns 1.
 */
int ig_h1_chunked_decode_trailers(ig_h1_chunked_t *d, const char *in, size_t *in_len,
                                  void (*on_data)(void *arg, const char *data, size_t len),
                                  void (*on_trailer)(void *arg, const char *data, size_t len), void *arg);
/**
 * Splits the joined trailer field lines of ig_h1_chunked_decode_trailers (|buf|, |len|) into
 * |out|: names as received, values without surrounding whitespace, both copied into |pool|.
 * Returns the number of fields, IG_ETOOBIG when there are more than |max|, or IG_EPROTO when a
 * line is not "name:value" CRLF.
 */
int ig_h1_trailers_parse(const char *buf, size_t len, size_t max, ig_pool_t *pool, ig_http_headers_t *out);

/** Writes a chunk header ("%zx\r\n") for |len| bytes into |out| (>= 20 bytes); returns its length. */
size_t ig_h1_chunk_header(char *out, size_t len);

/* ---- server ---------------------------------------------------------------------------------- */

typedef struct ig_http_stream ig_http_stream_t;
typedef struct ig_http_server ig_http_server_t;

/** The application's callbacks for one stream, set in ig_http_server.on_request. */
struct ig_http_stream_handler {
    /**
     * Request body bytes (|data| valid only during the call); |end| is set on the last call, which
     * may have len 0. Not called for requests without a body... except a final (NULL, 0, 1) so the
     * handler always learns the end. May be NULL (the body is discarded).
     */
    void (*on_body)(ig_http_stream_t *s, const char *data, size_t len, int end);
    /** Output of this stream fell below the low-water mark after ig_http_stream_write returned IG_EAGAIN. */
    void (*on_writable)(ig_http_stream_t *s);
    /**
     * The stream is over: |err| 0 when the response was fully sent, else why it ended early
     * (IG_ECLOSED the client went away, IG_ERESET, IG_ETIMEDOUT, ...). Release per-stream state
     * here; |s| is invalid after return. Called exactly once.
     */
    void (*on_close)(ig_http_stream_t *s, int err);
    /**
     * Trailers of the request (HTTP/2, or the trailer section of an HTTP/1.1 chunked body; strings
     * in s->pool), reported once when there are any, after the last body bytes and before
     * on_body's end call. May be NULL (they are then dropped).
     */
    void (*on_trailers)(ig_http_stream_t *s, const ig_http_headers_t *trailers);
};

struct ig_http_stream {
    ig_http_request_t req; /* valid from on_request to on_close; slices live in |pool| */
    ig_pool_t pool;        /* per-stream arena, cleared after on_close */
    void *data;            /* the application's */
    const struct ig_http_stream_handler *handler;
    ig_http_server_t *server;
    uv_loop_t *loop;
    uint64_t start_ns; /* when the request head was complete */
    struct sockaddr_storage peer;
    int is_tls;
    /* private */
    const struct ig_http_stream_ops *_ops;
    void *_conn;
    uint32_t _id;
    int _state;
};

/**
 * Sends the response head. |end| set: no body follows. The strings of |resp| are copied.
 * Returns 0, or IG_EINVAL if a head was already sent, or IG_ECLOSED.
 */
int ig_http_stream_respond(ig_http_stream_t *s, const ig_http_response_t *resp, int end);
/**
 * Sends body bytes (copied). |end| finishes the response (|len| may be 0). Returns 0 when
 * queued; IG_EAGAIN when queued but the stream's pending output is above the high-water mark:
 * stop producing until on_writable; IG_ECLOSED when the stream is gone.
 */
int ig_http_stream_write(ig_http_stream_t *s, const char *data, size_t len, int end);
/** Convenience: a complete response with a body and content-length (and optional content-type). */
int ig_http_stream_send(ig_http_stream_t *s, int status, const char *content_type, const char *body, size_t len);
/**
 * Ends the response with trailers (HTTP/2: a trailing HEADERS frame with END_STREAM) after the
 * head and any body written so far; no body may be written after it. The strings are copied.
 * Returns 0, IG_EINVAL (no head yet, or the response already ended), IG_ECLOSED, or
 * IG_EUNSUPPORTED on HTTP/1.1 (infergate never sends chunked trailers).
 */
int ig_http_stream_write_trailers(ig_http_stream_t *s, const ig_http_header_t *trailers, size_t n);
/** Stops or resumes delivering request body (back-pressure to the client). */
void ig_http_stream_read_pause(ig_http_stream_t *s, int paused);
/** Aborts the stream (h2: RST_STREAM; h1: closes the connection). on_close(IG_ECANCELED) follows. */
void ig_http_stream_reset(ig_http_stream_t *s);
/**
 * The TLS server name (SNI) the client sent on the connection of |s| (HTTP/1.1 or h2), e.g. to
 * keep a connection to the listener its certificate was chosen for. Returns 1 and *|name| (not
 * NUL-terminated; valid until on_close), 0 with IG_IOV_NULL for a TLS connection without a name,
 * or IG_EINVAL with IG_IOV_NULL on plaintext (or after on_close).
 */
int ig_http_stream_sni(const ig_http_stream_t *s, ig_iov_t *name);

struct ig_http_server_config {
    struct ig_h1_limits h1_limits;
    uint64_t idle_timeout_ms;           /* keep-alive idle; default 60000 */
    uint64_t header_timeout_ms;         /* first byte to complete head; default 10000 */
    size_t max_pending;                 /* per-connection output cap; default 4 MiB */
    size_t high_water;                  /* per-stream pending output that returns IG_EAGAIN; default 256 KiB */
    uint32_t h2_max_concurrent_streams; /* default 1000 */
    SSL_CTX *ssl_ctx;                   /* NULL: plaintext; h2c prior knowledge is detected by the preface */
};

struct ig_http_server {
    struct ig_http_server_config config;
    /**
     * A request head arrived. Set s->handler (and s->data) here, then respond now or later.
     * A handler left NULL means the application will answer without reading the body.
     */
    void (*on_request)(ig_http_stream_t *s);
    void *data;
    /* private: live connections of this server on this loop, for drain */
    ig_list_t _conns;
    size_t _nconns;
    int _draining;
    void (*_on_drained)(struct ig_http_server *srv);
};

/** Initialises |srv| (config defaults filled where zero). One per loop. */
void ig_http_server_init(ig_http_server_t *srv, const struct ig_http_server_config *cfg);
/** Serves a new connection on |fd| (takes ownership): TLS/ALPN, h2c preface, or HTTP/1.1. */
void ig_http_server_accept(ig_http_server_t *srv, uv_loop_t *loop, int fd);
/**
 * Starts a graceful drain: idle connections close, busy HTTP/1.1 connections close after their
 * current response, HTTP/2 connections get GOAWAY. |on_drained| runs when none remain.
 */
void ig_http_server_drain(ig_http_server_t *srv, void (*on_drained)(ig_http_server_t *srv));
size_t ig_http_server_connections(const ig_http_server_t *srv);

/* ---- client ---------------------------------------------------------------------------------- */

typedef struct ig_http_client ig_http_client_t;
typedef struct ig_http_cstream ig_http_cstream_t;

struct ig_http_client_config {
    struct sockaddr_storage addr;
    int version;                 /* IG_HTTP_11 (default) or IG_HTTP_2 (h2c, or ALPN h2 on TLS) */
    SSL_CTX *ssl_ctx;            /* NULL: plaintext */
    const char *sni;             /* copied */
    uint64_t connect_timeout_ms; /* default 10000 */
    uint64_t idle_timeout_ms;    /* pooled connection idle; default 90000 */
    size_t max_idle;             /* idle HTTP/1.1 connections kept; default 64 */
    struct ig_h1_limits h1_limits;
    /* HTTP/2: after this long without a frame from the server while streams are open, send a PING;
     * a PING unanswered for as long again closes the connection (its streams end with IG_ETIMEDOUT).
     * Idle connections are not pinged. 0: off (default). */
    uint64_t h2_keepalive_ms;
    /*
     * Optional: called once per connection the client opened, when it is connected (|status| 0,
     * after the TLS handshake on https) or failed (an IG_E* code), with the time since the connect
     * started. Runs on the client's loop; must not call into the client. NULL: off.
     */
    void (*on_connect)(void *arg, int status, uint64_t duration_ns);
    void *on_connect_arg;
};

struct ig_http_cstream_handler {
    /** The response head (1xx are not reported). |resp| valid until on_close. */
    void (*on_response)(ig_http_cstream_t *cs, const ig_http_response_t *resp);
    /** Response body bytes; |end| on the last call. */
    void (*on_body)(ig_http_cstream_t *cs, const char *data, size_t len, int end);
    /** Request output fell below the low-water mark after ig_http_cstream_write returned IG_EAGAIN. */
    void (*on_writable)(ig_http_cstream_t *cs);
    /**
     * The exchange is over: 0 after the whole response, else IG_ECONNECT, IG_ETIMEDOUT, IG_ERESET,
     * IG_EPROTO, IG_ECLOSED (connection lost), IG_ECANCELED. Called exactly once; |cs| is
     * invalid after return.
     */
    void (*on_close)(ig_http_cstream_t *cs, int err);
    /**
     * Trailers of the response (HTTP/2 only; strings valid until on_close), reported once, after
     * the last body bytes and before on_body's end call. May be NULL.
     */
    void (*on_trailers)(ig_http_cstream_t *cs, const ig_http_headers_t *trailers);
};

struct ig_http_cstream {
    void *data;
    const struct ig_http_cstream_handler *handler;
    ig_http_client_t *client;
    ig_pool_t pool; /* response head strings live here */
    ig_http_response_t resp;
    int reused; /* sent on a connection that had served a request before */
    /* private */
    const struct ig_http_cstream_ops *_ops;
    void *_conn;
    ig_list_t _link;
    int _state;
};

/** Creates a client for one origin on |loop|. */
ig_http_client_t *ig_http_client_create(uv_loop_t *loop, const struct ig_http_client_config *cfg);
/** Closes idle connections, aborts active streams (on_close(IG_ECANCELED)), frees the client once they are gone. */
void ig_http_client_destroy(ig_http_client_t *c);
/**
 * Starts a request: picks an idle connection (HTTP/1.1), a connection with stream capacity (h2),
 * or opens one. |req| is copied. |end| set: no request body follows (else stream it with
 * ig_http_cstream_write). Returns the stream (never NULL); failures arrive in on_close.
 */
ig_http_cstream_t *ig_http_client_request(ig_http_client_t *c, const ig_http_request_t *req, int end,
                                          const struct ig_http_cstream_handler *h, void *data);
/** Request body bytes (copied); same return values as ig_http_stream_write. */
int ig_http_cstream_write(ig_http_cstream_t *cs, const char *data, size_t len, int end);
/** Stops or resumes delivering the response body. */
void ig_http_cstream_read_pause(ig_http_cstream_t *cs, int paused);
/** Cancels the request; on_close(IG_ECANCELED) follows (the h1 connection is not reused). */
void ig_http_cstream_cancel(ig_http_cstream_t *cs);

#endif
