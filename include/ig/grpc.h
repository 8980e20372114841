/* SPDX-License-Identifier: Apache-2.0 */
/*
 * grpc: the gRPC wire layer that does not depend on a transport. Message framing (the 5-byte
 * length prefix) with an incremental deframer, status codes and their names, the grpc-message
 * percent-encoding, the grpc-timeout header, and a protobuf-c allocator backed by a request's
 * arena. Everything here is a pure function over bytes: unit-tested and fuzzed.
 *
 * The client and server streams over HTTP/2 (ig_grpc_call_*, ig_grpc_server_*) and the health
 * service build on the http module's HTTP/2 trailers (last section of this header).
 */
#ifndef IG_GRPC_H
#define IG_GRPC_H

#include <protobuf-c/protobuf-c.h>

#include "ig/core.h"
#include "ig/http.h"

/* ---- status codes ---------------------------------------------------------------------------- */

/* The canonical gRPC status codes (the value of the grpc-status trailer). */
enum ig_grpc_status {
    IG_GRPC_OK = 0,
    IG_GRPC_CANCELLED = 1,
    IG_GRPC_UNKNOWN = 2,
    IG_GRPC_INVALID_ARGUMENT = 3,
    IG_GRPC_DEADLINE_EXCEEDED = 4,
    IG_GRPC_NOT_FOUND = 5,
    IG_GRPC_ALREADY_EXISTS = 6,
    IG_GRPC_PERMISSION_DENIED = 7,
    IG_GRPC_RESOURCE_EXHAUSTED = 8,
    IG_GRPC_FAILED_PRECONDITION = 9,
    IG_GRPC_ABORTED = 10,
    IG_GRPC_OUT_OF_RANGE = 11,
    IG_GRPC_UNIMPLEMENTED = 12,
    IG_GRPC_INTERNAL = 13,
    IG_GRPC_UNAVAILABLE = 14,
    IG_GRPC_DATA_LOSS = 15,
    IG_GRPC_UNAUTHENTICATED = 16,
    IG_GRPC_STATUS_COUNT
};

/** Returns the upper-case name of |code| ("OK", "RESOURCE_EXHAUSTED", ...), "UNKNOWN" when out of range. */
const char *ig_grpc_status_name(int code);
/**
 * Parses a grpc-status value (decimal, no sign or spaces). Returns 0, or IG_EINVAL for anything
 * else. Values above 16 are accepted as they are (a peer may use newer codes); the caller treats
 * them as UNKNOWN.
 */
int ig_grpc_status_parse(ig_iov_t value, int *code);
/**
 * The status to report when a response carries no grpc-status, from its HTTP status (gRPC's
 * "HTTP to gRPC status code mapping"): 400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED,
 * 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE, anything else UNKNOWN.
 */
int ig_grpc_status_from_http(int http_status);
/**
 * Maps an IG_E* error of this module (or of the transport) to the status to send or report:
 * IG_ETOOBIG RESOURCE_EXHAUSTED, IG_EUNSUPPORTED UNIMPLEMENTED, IG_ETIMEDOUT DEADLINE_EXCEEDED,
 * IG_ECANCELED CANCELLED, IG_ECONNECT/IG_ECLOSED/IG_ERESET UNAVAILABLE, IG_EINVAL INVALID_ARGUMENT,
 * 0 OK, anything else INTERNAL.
 */
int ig_grpc_status_from_err(int err);

/** True for application/grpc and its application/grpc+<subtype> / ;parameters forms. */
int ig_grpc_is_content_type(ig_iov_t value);

/* ---- message framing ------------------------------------------------------------------------- */

#define IG_GRPC_PREFIX_LEN 5
/* gRPC's conventional default receive limit. */
#define IG_GRPC_DEFAULT_MAX_MESSAGE (4u * 1024 * 1024)

/** Writes the uncompressed prefix of a |len|-byte message (flag 0, big-endian length) to |out|. */
void ig_grpc_prefix_write(uint8_t out[IG_GRPC_PREFIX_LEN], uint32_t len);
/** Appends prefix + |msg| to |out|. Returns 0, or IG_ETOOBIG (|out|'s cap, or |len| > UINT32_MAX). */
int ig_grpc_frame_append(ig_buf_t *out, const void *msg, size_t len);

/*
 * Incremental deframer for one direction of one stream. Feed it the DATA payload as it arrives,
 * in chunks of any size; every complete message is handed to the callback. Caller-owned storage:
 * ig_grpc_deframer_init / ig_grpc_deframer_dispose.
 */
typedef struct ig_grpc_deframer {
    size_t max_message; /* larger messages fail with IG_ETOOBIG */
    /* private */
    uint8_t _hdr[IG_GRPC_PREFIX_LEN];
    size_t _hdr_len; /* prefix bytes held in _hdr */
    size_t _need;    /* payload bytes still missing of the current message */
    int _in_msg;     /* the prefix is complete, the payload is being collected */
    int _err;        /* sticky failure */
    ig_buf_t _msg;   /* payload of a message split across feeds */
} ig_grpc_deframer_t;

/**
 * Called once per complete message. |msg| points into the fed input when the message arrived in
 * one piece, else into the deframer's buffer: valid only during the call. Return 0 to go on, or
 * a negative code to stop; ig_grpc_deframer_feed returns that code and the deframer stays failed.
 * The callback must not feed or dispose the deframer it is called from.
 */
typedef int (*ig_grpc_message_cb)(void *arg, ig_iov_t msg);

/** |max_message| 0 means IG_GRPC_DEFAULT_MAX_MESSAGE. */
void ig_grpc_deframer_init(ig_grpc_deframer_t *d, size_t max_message);
void ig_grpc_deframer_dispose(ig_grpc_deframer_t *d);
/**
 * Consumes |len| bytes (borrowed). Returns 0 when all were consumed (a partial message stays
 * buffered), IG_ETOOBIG when a declared length exceeds max_message (report RESOURCE_EXHAUSTED),
 * IG_EUNSUPPORTED for a compressed message (flag 1: no compression is ever negotiated, report
 * UNIMPLEMENTED), IG_EPROTO for a flag byte other than 0 or 1 (INTERNAL), or the callback's
 * error. After a failure every later call returns the same code.
 */
int ig_grpc_deframer_feed(ig_grpc_deframer_t *d, const void *data, size_t len, ig_grpc_message_cb cb, void *arg);
/**
 * Call when the stream's data ended: returns 0 if it ended on a message boundary, IG_EPROTO when a
 * message was cut short (report INTERNAL), or the sticky failure.
 */
int ig_grpc_deframer_finish(const ig_grpc_deframer_t *d);

/* ---- grpc-message and grpc-timeout headers --------------------------------------------------- */

/**
 * Percent-encodes |msg| for the grpc-message trailer: bytes outside 0x20-0x7e and '%' become %XX
 * (UTF-8 text is encoded byte by byte). Returns the encoded copy, NUL-terminated, in |pool|.
 */
ig_iov_t ig_grpc_message_encode(ig_pool_t *pool, ig_iov_t msg);
/**
 * Decodes a grpc-message value into |pool| (NUL-terminated). A '%' not followed by two hex digits
 * is kept literally, as the gRPC spec asks of decoders; never fails.
 */
ig_iov_t ig_grpc_message_decode(ig_pool_t *pool, ig_iov_t value);

/* Longest grpc-timeout value: 8 digits and a unit, plus a NUL. */
#define IG_GRPC_TIMEOUT_MAX 10
/**
 * Parses a grpc-timeout value ("1-8 digits" + one of H M S m u n) into nanoseconds, saturating at
 * UINT64_MAX. Returns 0, or IG_EINVAL for anything else.
 */
int ig_grpc_timeout_parse(ig_iov_t value, uint64_t *ns);
/**
 * Formats |ns| as a grpc-timeout value in the finest unit that fits in 8 digits, rounding up so
 * the peer's deadline is never earlier than ours. Writes a NUL-terminated string to |out| and
 * returns its length.
 */
size_t ig_grpc_timeout_format(char out[IG_GRPC_TIMEOUT_MAX], uint64_t ns);

/* ---- protobuf-c allocation from an arena ----------------------------------------------------- */

/*
 * A ProtobufCAllocator that takes memory from an ig_pool_t: a decoded message lives until the
 * pool is cleared, and protobuf_c_message_free_unpacked is never needed (its frees are no-ops).
 * |limit| caps what one allocator may take, counted in the pool's 16-byte granules (0: no cap);
 * past it allocations fail and unpacking returns NULL, so a hostile message cannot make the
 * arena grow without bound.
 * Caller-owned; pass &a->base to protobuf-c. The pool is borrowed and must outlive the messages.
 */
struct ig_grpc_pballoc {
    ProtobufCAllocator base;
    ig_pool_t *pool;
    size_t limit;
    size_t used;
    int refused; /* an allocation failed on the limit: the decode failed for size, not syntax */
};

void ig_grpc_pballoc_init(struct ig_grpc_pballoc *a, ig_pool_t *pool, size_t limit);

/* ---- streams over HTTP/2 --------------------------------------------------------------------- */

/*
 * The transport half (client.c, server.c, health.c): gRPC calls carried by the http module's
 * HTTP/2 streams. Everything runs on the loop of the stream or channel; none of these objects may
 * be used from another thread (a server's method table is read-only once serving starts, so one
 * ig_grpc_server_t may sit behind the ig_http_server_t of every worker).
 */
typedef struct ig_grpc_server ig_grpc_server_t;
typedef struct ig_grpc_sctx ig_grpc_sctx_t;

/* One RPC method served. Borrowed by ig_grpc_server_add: keep it alive (usually static). */
struct ig_grpc_method {
    const char *path; /* "/package.Service/Method" */
    int unary;        /* exactly one request message (else any number: client or bidi streaming) */
    /**
     * A call arrived with valid gRPC headers. Set ctx->data; may send and finish at once. May be
     * NULL.
     */
    void (*on_start)(ig_grpc_sctx_t *ctx);
    /** One complete request message (|msg| valid only during the call). */
    void (*on_message)(ig_grpc_sctx_t *ctx, ig_iov_t msg);
    /** The client sent its last message. May be NULL. */
    void (*on_half_close)(ig_grpc_sctx_t *ctx);
    /** Output fell below the low-water mark after a send returned IG_EAGAIN. May be NULL. */
    void (*on_writable)(ig_grpc_sctx_t *ctx);
    /**
     * The call is over, exactly once: |status| is what the method finished with, or CANCELLED
     * when the client reset the stream or went away before the status was sent, or
     * DEADLINE_EXCEEDED when the call's grpc-timeout passed (the server sent that status). This is
     * the method's cancel callback: stop producing, release ctx->data. |ctx| is invalid after it.
     */
    void (*on_close)(ig_grpc_sctx_t *ctx, int status);
    void *data; /* the method's */
};

/* The server side of one call: valid from on_start to on_close. */
struct ig_grpc_sctx {
    const struct ig_grpc_method *method;
    ig_grpc_server_t *server;
    ig_http_stream_t *stream; /* its request (metadata in stream->req.headers) and pool */
    ig_pool_t *pool;          /* the stream's arena, cleared after on_close */
    uint64_t deadline_ns;     /* ig_time_ns() clock, 0: none */
    void *data;               /* the method's */
    /* private */
    ig_grpc_deframer_t _df;
    void *_timer;
    size_t _nmsg;
    unsigned _headers_sent : 1, _finished : 1, _deadline_hit : 1, _in_end : 1, _closed : 1;
    int _status;
};

struct ig_grpc_server_config {
    size_t max_message; /* request messages larger fail with RESOURCE_EXHAUSTED; 0: 4 MiB */
};

/** Creates a server (a method table). Free with ig_grpc_server_destroy after its calls ended. */
ig_grpc_server_t *ig_grpc_server_create(const struct ig_grpc_server_config *cfg);
void ig_grpc_server_destroy(ig_grpc_server_t *g);
/** Registers |m| (borrowed). Returns 0, IG_EEXIST for a path already registered, IG_EINVAL. */
int ig_grpc_server_add(ig_grpc_server_t *g, const struct ig_grpc_method *m);
/** Makes |g| the request handler of |hs| (sets hs->on_request and hs->data). */
void ig_grpc_server_attach(ig_grpc_server_t *g, ig_http_server_t *hs);
/**
 * Serves the request |s| (for applications that route some paths themselves): validates the
 * method (POST, else 405), content-type (application/grpc, else 415), te: trailers and
 * grpc-timeout, then dispatches on :path; an unknown path is answered UNIMPLEMENTED.
 */
void ig_grpc_server_handle(ig_grpc_server_t *g, ig_http_stream_t *s);

/**
 * Sends one message (framed; copied). The response headers go out with the first message.
 * Returns 0, IG_EAGAIN (queued, but stop until on_writable), IG_EINVAL after finish, IG_ECLOSED.
 */
int ig_grpc_sctx_send(ig_grpc_sctx_t *ctx, const void *msg, size_t len);
/** Packs |m| into ctx->pool and sends it. */
int ig_grpc_sctx_send_pb(ig_grpc_sctx_t *ctx, const ProtobufCMessage *m);
/**
 * Ends the call with |status| and an optional |message| (percent-encoded here): trailers after
 * the messages, or a trailers-only response when nothing was sent. Returns 0, IG_EINVAL when
 * already finished, IG_ECLOSED. on_close(status) follows once the client has it.
 */
int ig_grpc_sctx_finish(ig_grpc_sctx_t *ctx, int status, const char *message);

/* ---- reconnect backoff and connectivity state ------------------------------------------------ */

/*
 * Reconnect schedule of a channel: gRPC's connection-backoff algorithm (delay = base * (1 +- jitter),
 * base growing by the multiplier up to the cap, the delay counted from the start of the failed
 * attempt) with defaults scaled down for an endpoint picker next to the gateway: a sidecar EPP
 * restarts in a second or two, a refused local dial costs microseconds, and every request waits on
 * the picker, so gRPC's 1 s / 120 s would keep traffic failing long after the picker is back.
 */
#define IG_GRPC_BACKOFF_INITIAL_MS 250u
#define IG_GRPC_BACKOFF_MAX_MS     5000u
#define IG_GRPC_BACKOFF_MULTIPLIER 1.6
#define IG_GRPC_BACKOFF_JITTER     0.2

struct ig_grpc_backoff_config {
    uint64_t initial_ms; /* first delay; 0: IG_GRPC_BACKOFF_INITIAL_MS */
    uint64_t max_ms;     /* cap of the base delay (jitter may exceed it by its fraction); 0: the default */
    double multiplier;   /* 0: the default; below 1 counts as 1 */
    double jitter;       /* fraction in [0, 1); 0: the default; negative: none */
};

/* Caller-owned; pure arithmetic (the caller supplies the random numbers). */
struct ig_grpc_backoff {
    struct ig_grpc_backoff_config cfg; /* with the defaults filled in */
    double _cur_ms;                    /* base of the next delay */
};

void ig_grpc_backoff_init(struct ig_grpc_backoff *b, const struct ig_grpc_backoff_config *cfg);
/** Back to the initial delay (after a successful connection). */
void ig_grpc_backoff_reset(struct ig_grpc_backoff *b);
/** The next delay in ms (at least 1), jittered by |rnd| in [0, 1) (0.5: none); then grows the base. */
uint64_t ig_grpc_backoff_next(struct ig_grpc_backoff *b, double rnd);

/* A channel's connectivity, as gRPC names it (CONNECTING is not tracked: calls queue meanwhile). */
enum ig_grpc_conn_state {
    IG_GRPC_CONN_IDLE = 0,          /* no connection attempt has finished yet */
    IG_GRPC_CONN_READY,             /* the last attempt connected: calls go out */
    IG_GRPC_CONN_TRANSIENT_FAILURE, /* the last attempt failed: calls fail fast until a retry connects */
    IG_GRPC_CONN_STATE_COUNT
};

/** "IDLE", "READY", "TRANSIENT_FAILURE" ("UNKNOWN" when out of range). */
const char *ig_grpc_conn_state_name(int state);

/*
 * The connectivity state machine of a channel, free of I/O and clocks (times are passed in), so
 * it is unit-tested on its own. Any failed connection attempt enters TRANSIENT_FAILURE and
 * schedules one retry after the backoff delay; the state stays TRANSIENT_FAILURE while the retry
 * runs ("sticky", as gRPC's pick_first), so calls keep failing fast instead of queueing behind a
 * dial that may time out. A successful attempt (or a retry probe answered by the server over a
 * connection that was still up) makes it READY and resets the backoff. Caller-owned.
 */
struct ig_grpc_connsm {
    int state;                   /* enum ig_grpc_conn_state */
    int probing;                 /* TRANSIENT_FAILURE: the scheduled retry is under way */
    uint64_t streak;             /* failed attempts in a row */
    uint64_t attempts, failures; /* finished connection attempts, and the failed ones, since init */
    uint64_t retry_at_ns;        /* TRANSIENT_FAILURE: when the retry starts */
    struct ig_grpc_backoff backoff;
};

void ig_grpc_connsm_init(struct ig_grpc_connsm *sm, const struct ig_grpc_backoff_config *cfg);
/** Returns 1 when a call may go out now, 0 when it must fail fast (TRANSIENT_FAILURE). */
int ig_grpc_connsm_admit(const struct ig_grpc_connsm *sm);
/**
 * A connection attempt that started at |started_ns| finished at |now_ns| with |status| (0:
 * connected, else an IG_E* code). Returns 1 with *|delay_ms| (0: at once) when the caller must
 * schedule the retry, 0 when nothing is to be scheduled (connected, or a retry is already pending
 * and this was an older attempt failing late). |rnd| in [0, 1) jitters the delay.
 */
int ig_grpc_connsm_on_result(struct ig_grpc_connsm *sm, int status, uint64_t started_ns, uint64_t now_ns, double rnd,
                             uint64_t *delay_ms);
/** The retry timer fired: returns 1 when the caller must start a reconnect attempt now. */
int ig_grpc_connsm_on_retry(struct ig_grpc_connsm *sm);
/**
 * The retry's probe call ended before any connection result settled the state: |reached| says
 * whether the server answered it (READY) or not (another failed attempt, started at |started_ns|).
 * Returns as ig_grpc_connsm_on_result.
 */
int ig_grpc_connsm_on_probe_done(struct ig_grpc_connsm *sm, int reached, uint64_t started_ns, uint64_t now_ns,
                                 double rnd, uint64_t *delay_ms);

/* ---- client ---------------------------------------------------------------------------------- */

typedef struct ig_grpc_channel ig_grpc_channel_t;
typedef struct ig_grpc_call ig_grpc_call_t;

struct ig_grpc_channel_config {
    struct sockaddr_storage addr;
    int tls;                     /* 0: h2c with prior knowledge; 1: TLS with ALPN h2 */
    int tls_verify;              /* verify the server certificate (and name, with |sni|) */
    const char *ca_file;         /* verification roots; NULL: the system store. Borrowed */
    const char *sni;             /* TLS server name; also the default :authority. Borrowed */
    const char *authority;       /* :authority; NULL: sni or the address. Copied */
    uint64_t connect_timeout_ms; /* default 10000 */
    size_t max_message;          /* response messages larger fail with RESOURCE_EXHAUSTED; 0: 4 MiB */
    /* While calls are open, PING a connection silent this long; unanswered as long again, it is dead. 0: off */
    uint64_t keepalive_ms;
    struct ig_grpc_backoff_config backoff; /* reconnect schedule; zero: the defaults */
    const char *name;                      /* names the peer in log lines; NULL: the authority. Copied */
    /* Further TLS settings (client certificate, name checks, ALPN, groups); NULL: none. With it,
     * tls_verify and ca_file are ignored (|tls_opts| says them) and its ALPN list must offer h2.
     * Borrowed during ig_grpc_channel_create and ig_grpc_channel_matches. */
    const struct ig_tls_client_opts *tls_opts;
};

/**
 * Creates a channel on |loop|: an ig_http_client_t speaking HTTP/2 to one address, many calls
 * multiplexed on its connections. A lost connection is replaced on the next call. A failed
 * connection attempt puts the channel in TRANSIENT_FAILURE: calls fail at once with UNAVAILABLE
 * while a retry is scheduled with backoff (a health-check call dials it), and the first attempt
 * that connects makes the channel READY again. A GOAWAY lets the streams the server kept finish
 * while new calls go to a new connection. Returns NULL (with a reason in |err|) when the TLS
 * context cannot be built.
 */
ig_grpc_channel_t *ig_grpc_channel_create(uv_loop_t *loop, const struct ig_grpc_channel_config *cfg, char *err,
                                          size_t errlen);
/** Cancels the calls still open (on_status(CANCELLED)) and frees the channel once they are gone. */
void ig_grpc_channel_destroy(ig_grpc_channel_t *ch);

struct ig_grpc_channel_stats {
    int state;                 /* enum ig_grpc_conn_state */
    uint64_t connect_attempts; /* connection attempts finished (connected or failed) */
    uint64_t connect_failures; /* of which failed (refused, timed out, TLS handshake, ALPN) */
    uint64_t fail_fast;        /* calls failed at once in TRANSIENT_FAILURE */
};

void ig_grpc_channel_get_stats(const ig_grpc_channel_t *ch, struct ig_grpc_channel_stats *out);
/** True when |ch| was created from a configuration with the same address and TLS settings as |cfg|. */
int ig_grpc_channel_matches(const ig_grpc_channel_t *ch, const struct ig_grpc_channel_config *cfg);

struct ig_grpc_call_handler {
    /** One response message (|msg| valid only during the call). */
    void (*on_message)(ig_grpc_call_t *call, ig_iov_t msg);
    /** Output fell below the low-water mark after a send returned IG_EAGAIN. May be NULL. */
    void (*on_writable)(ig_grpc_call_t *call);
    /**
     * The call is over, exactly once, never inside an ig_grpc_call_* function: the status from the
     * trailers (or a trailers-only response), DEADLINE_EXCEEDED, CANCELLED after
     * ig_grpc_call_cancel, UNAVAILABLE when the connection failed or was lost, INTERNAL on a
     * protocol error. |message| is decoded, valid during the call. |call| is freed after it.
     */
    void (*on_status)(ig_grpc_call_t *call, int status, ig_iov_t message);
};

struct ig_grpc_call_opts {
    uint64_t timeout_ms;              /* 0: no deadline */
    const ig_http_header_t *metadata; /* extra request headers (lower-case names); copied */
    size_t nmetadata;
};

/**
 * Starts a call of |path| ("/package.Service/Method"): the request headers leave at once, and
 * messages may be sent right away (full duplex: sends never wait for replies). Never NULL.
 */
ig_grpc_call_t *ig_grpc_call_start(ig_grpc_channel_t *ch, const char *path, const struct ig_grpc_call_opts *opts,
                                   const struct ig_grpc_call_handler *h, void *data);
/**
 * Sends one message (framed; copied); |end| half-closes the request after it. Returns 0,
 * IG_EAGAIN (queued, stop until on_writable), IG_EINVAL after the end, IG_ECLOSED when the call
 * is over.
 */
int ig_grpc_call_send(ig_grpc_call_t *call, const void *msg, size_t len, int end);
/** Packs |m| and sends it (see ig_grpc_call_send). */
int ig_grpc_call_send_pb(ig_grpc_call_t *call, const ProtobufCMessage *m, int end);
/** Half-closes the request (no more messages). */
int ig_grpc_call_close_send(ig_grpc_call_t *call);
/** Cancels the call (RST_STREAM CANCEL); on_status(CANCELLED) follows unless a status already arrived. */
void ig_grpc_call_cancel(ig_grpc_call_t *call);
/** The |data| given to ig_grpc_call_start. */
void *ig_grpc_call_data(const ig_grpc_call_t *call);

/* ---- health service (grpc.health.v1.Health) -------------------------------------------------- */

/* HealthCheckResponse.ServingStatus values. */
enum ig_grpc_health_status {
    IG_GRPC_HEALTH_UNKNOWN = 0,
    IG_GRPC_HEALTH_SERVING = 1,
    IG_GRPC_HEALTH_NOT_SERVING = 2,
    IG_GRPC_HEALTH_SERVICE_UNKNOWN = 3,
};

typedef struct ig_grpc_health ig_grpc_health_t;

/**
 * A service name -> status table serving grpc.health.v1.Health/Check: a name not in the table
 * answers the NOT_FOUND status. "" starts SERVING. List is served too; Watch is not (UNIMPLEMENTED).
 * The table may be updated from any thread.
 */
ig_grpc_health_t *ig_grpc_health_create(void);
void ig_grpc_health_destroy(ig_grpc_health_t *h);
/** Sets the status of |service| (copied); IG_GRPC_HEALTH_SERVICE_UNKNOWN removes it. */
void ig_grpc_health_set(ig_grpc_health_t *h, const char *service, int status);
/** The status of |service|, IG_GRPC_HEALTH_SERVICE_UNKNOWN when absent. */
int ig_grpc_health_get(ig_grpc_health_t *h, ig_iov_t service);
/** Registers /grpc.health.v1.Health/Check and /List on |g|; |h| must outlive it. */
int ig_grpc_health_register(ig_grpc_health_t *h, ig_grpc_server_t *g);

#endif
