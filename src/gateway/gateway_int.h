/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Module-private declarations of gateway/: the process-wide state (control thread), the
 * snapshots shared by all workers (config + rate-limit buckets + listener TLS contexts), the
 * per-worker plans (a snapshot resolved to upstream origins), per-worker statistics merged at
 * scrape time, and the proxy's per-request state.
 *
 * Threads: the control thread runs its own libuv loop (admin, stats and readiness ports, the
 * file watch, signals); each worker runs one loop with its listeners, downstream connections and
 * upstream pools. A snapshot is immutable and refcounted (atomic); a plan and everything in a
 * worker belong to that worker's thread only.
 */
#ifndef IG_GATEWAY_INT_H
#define IG_GATEWAY_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "ig/config.h"
#include "ig/extproc.h"
#include "ig/gateway.h"
#include "ig/grpc.h"
#include "ig/http.h"
#include "ig/loop.h"
#include "ig/metrics.h"

/* ---- snapshots (shared, immutable) ----------------------------------------------------------- */

/** A gateway-wide token bucket of one localRateLimit entry (shared by workers, under |lock|). */
struct gw_bucket {
    pthread_mutex_t lock;
    const struct ig_cfg_rate_limit *rl;
    double tokens;
    uint64_t last_ns;
};

struct gw_snap {
    atomic_int refs;
    struct ig_config *cfg; /* one reference, dropped with the snapshot */
    SSL_CTX **bind_tls;    /* per bind: front context choosing its HTTPS listener by SNI, or NULL */
    size_t *listener_base; /* per bind: index of its first listener in the global listener order */
    size_t *route_base;    /* per global listener: index of its first route in the global route order */
    size_t n_listeners;
    size_t n_routes;
    struct gw_bucket **route_buckets; /* per global route: n_rate_limits buckets, or NULL */
    struct gw_bucket *buckets;
    size_t n_buckets;
    uint64_t generation; /* 1 for the first load, +1 per reload */
};

/** Builds a snapshot around |cfg| (takes ownership). Returns NULL and writes |err| when a TLS file is unusable. */
struct gw_snap *gw_snap_create(struct ig_config *cfg, uint64_t generation, char *err, size_t errlen);
struct gw_snap *gw_snap_ref(struct gw_snap *s);
void gw_snap_unref(struct gw_snap *s);
/**
 * The HTTPS listener of |bind| a TLS client naming |name| (|len| bytes; NULL or 0: no SNI) is
 * served by: exact hostname, then the longest matching wildcard, then the listener without
 * hostname; NULL when none (the handshake is refused with unrecognized_name).
 */
const struct ig_cfg_listener *gw_sni_select(const struct ig_cfg_bind *bind, const char *name, size_t len);
/** Global index of |route| (a route of |snap|'s config). */
size_t gw_snap_route_index(const struct gw_snap *snap, const struct ig_cfg_route *route);
/** Takes |cost| tokens from every bucket of the route; returns 1 when allowed, 0 when limited. */
int gw_snap_rate_take(struct gw_snap *snap, const struct ig_cfg_route *route, size_t route_index, uint64_t cost);
/** Charges |tokens| (OpenAI usage of a finished response) to the route's `type: tokens` buckets. */
void gw_snap_rate_charge(struct gw_snap *snap, const struct ig_cfg_route *route, size_t route_index, uint64_t tokens);

/* ---- per-worker upstream origins and plans --------------------------------------------------- */

/** One upstream origin on one worker: an address, a protocol and a keep-alive pool. */
struct gw_origin {
    ig_list_t link;
    struct sockaddr_storage addr;
    int version;                 /* IG_HTTP_11 or IG_HTTP_2 */
    int tls;                     /* 1: https */
    int insecure;                /* backendTLS.insecure */
    uint64_t connect_timeout_ms; /* tcp.connectTimeout (0: the client's default) */
    char sni[256];               /* backendTLS.hostname, or the host as written */
    char root[512];              /* backendTLS.root path, or "" */
    char label[64];              /* "ip:port", the access log's endpoint */
    ig_http_client_t *client;
    SSL_CTX *ssl_ctx;
    uint32_t inflight; /* requests on this origin now (power-of-two-choices) */
};

/** A route backend resolved on one worker. */
struct gw_bplan {
    const struct ig_cfg_route_backend *rb;
    const struct ig_cfg_backend_policies *named; /* the named backend's policies, or NULL */
    struct gw_origin **eps;                      /* candidate origins (service endpoints, or one) */
    size_t n_eps;
    const char *name;                          /* metrics/access-log "backend" label */
    const char *authority;                     /* Host for urlRewrite authority "auto": the backend's host[:port] */
    uint64_t request_timeout_ns;               /* http.requestTimeout (backend or named backend) */
    int inference;                             /* inferenceRouting is configured */
    const char *unavailable;                   /* why this backend cannot serve (NULL: it can) */
    const struct ig_cfg_inference_routing *ir; /* inferenceRouting, or NULL */
    struct gw_epp *epp;                        /* the worker's channel to its endpoint picker */
    int up_version;                            /* IG_HTTP_11 / IG_HTTP_2 for picked endpoints */
    uint64_t connect_ms;                       /* tcp.connectTimeout for picked endpoints */
    int64_t swrr;                              /* smooth weighted round robin state (balance.c) */
};

struct gw_plan {
    int refs; /* worker-local */
    struct gw_snap *snap;
    ig_pool_t pool;
    struct gw_bplan **routes; /* per global route: its backends */
};

/* ---- statistics (per worker, merged at scrape) ----------------------------------------------- */

#define GW_STATS_MAX     2048 /* label sets per worker; past it requests count in an overflow set */
#define GW_STATS_BUCKETS 14
#define GW_LABEL_MAX     96

extern const double gw_duration_bounds[GW_STATS_BUCKETS];

/* The GenAI and upstream-connect histograms (stats.c): at most GW_HIST_MAX bounds each. */
#define GW_HIST_MAX 16

/* One histogram series; single-writer atomics like the rest of a worker's statistics. */
struct gw_hist {
    _Atomic uint64_t b[GW_HIST_MAX + 1]; /* non-cumulative; [nbounds] counts the values above the last bound */
    _Atomic uint64_t count;
    _Atomic uint64_t sum; /* nanoseconds for durations, tokens for token counts */
};

/* ---- GenAI labels (stats.c) ---- */

/* gen_ai_operation_name, from an OpenAI request path; GW_OP_NONE: not an OpenAI request. */
enum gw_genai_op { GW_OP_NONE = 0, GW_OP_CHAT, GW_OP_TEXT_COMPLETION, GW_OP_EMBEDDINGS, GW_OP_COUNT };

/*
 * Model label values are interned process-wide: at most GW_MODEL_MAX distinct names (request and
 * response models together, kept for the process's life), later ones count as "other", so a client
 * inventing model names cannot grow the metrics without bound.
 */
#define GW_MODEL_MAX      64
#define GW_MODEL_LEN      128          /* bytes of a model name kept (longer names are cut) */
#define GW_MODEL_UNKNOWN  0            /* model id: not seen */
#define GW_MODEL_OTHER    1            /* model id: past GW_MODEL_MAX */
#define GW_GENAI_REQ_SCAN (256u << 10) /* request body bytes searched for "model" */
#define GW_GENAI_RSP_SCAN (64u << 10)  /* response body bytes searched for "model" */

/*
 * A bounded streaming scanner for the top-level "model" string of a JSON object, fed the body in
 * chunks as it passes (nothing is buffered). Several top-level objects in a row (SSE "data:" lines)
 * are scanned in turn; the first top-level "model" string wins. Zero-initialise to start.
 */
struct gw_model_scan {
    uint32_t seen;  /* bytes scanned */
    uint16_t depth; /* nesting of {} and [] */
    uint8_t key_len;
    uint8_t val_len;
    unsigned in_str : 1, esc : 1, is_key : 1, key_ok : 1, model_key : 1, capture : 1, obj : 1, want_key : 1;
    unsigned done : 1, found : 1;
    char val[GW_MODEL_LEN]; /* the model name (|val_len| bytes, not NUL-terminated) */
};
/** Scans |len| more bytes; stops for good once the model is found or |limit| bytes were seen. */
void gw_model_scan(struct gw_model_scan *m, const char *data, size_t len, size_t limit);
/** The operation of a request (POST .../chat/completions, .../responses, .../completions, .../embeddings). */
uint8_t gw_genai_op(ig_iov_t method, ig_iov_t path);
/** The interned id of model |name| (|len| 0: GW_MODEL_UNKNOWN; past the cap: GW_MODEL_OTHER). Thread-safe. */
uint8_t gw_model_id(const char *name, size_t len);
/** The label value of a model id ("unknown", "other" or the name). */
const char *gw_model_name(uint8_t id);
const char *gw_genai_op_name(uint8_t op);

/* One label set. The key is written once before |n| publishes it; values are single-writer atomics. */
struct gw_stat {
    char gateway[GW_LABEL_MAX], listener[GW_LABEL_MAX], route[GW_LABEL_MAX], route_rule[GW_LABEL_MAX];
    char backend[GW_LABEL_MAX], method[16], reason[32];
    int status;
    uint8_t op, req_model, resp_model; /* GenAI label sets only: enum gw_genai_op, model ids */
    uint64_t hash;
    _Atomic uint64_t count;
    _Atomic uint64_t buckets[GW_STATS_BUCKETS + 1];
    _Atomic uint64_t sum_us;
    /* GenAI histograms of this label set's requests (exposed by route identity, without method/status). */
    struct gw_hist tokens[2]; /* gen_ai_token_type input, output */
    struct gw_hist ttft, tpot;
};

struct gw_stats {
    struct gw_stat *v; /* GW_STATS_MAX + 1 (the last: overflow) */
    _Atomic size_t n;
    uint32_t *index; /* open addressing: entry index + 1, 0 empty */
    size_t index_cap;
    _Atomic uint64_t downstream_connections;
    _Atomic uint64_t upstream_connects; /* requests that opened a new upstream connection */
    _Atomic uint64_t active_requests;   /* gauge: started - finished */
    _Atomic uint64_t ratelimited;
    struct gw_hist connect[2]; /* upstream connection set-up: succeeded, failed */
};

/** Label values of one finished request (borrowed strings). */
struct gw_stat_key {
    const char *gateway, *listener, *route, *route_rule, *backend, *method, *reason;
    int status;
};

void gw_stats_init(struct gw_stats *st);
void gw_stats_dispose(struct gw_stats *st);
void gw_stats_record(struct gw_stats *st, const struct gw_stat_key *k, uint64_t duration_ns);

/* A request's streamed-response timing and models for the GenAI metrics (zeroed with the request). */
struct gw_genai {
    uint64_t first_ns, last_ns; /* first and last response body chunk */
    unsigned stream : 1;        /* the response is text/event-stream */
    uint8_t op;                 /* enum gw_genai_op of the request; GW_OP_NONE: no model scan */
    struct gw_model_scan req;   /* the request body's "model" */
    struct gw_model_scan resp;  /* the response's (JSON or first SSE event) */
};
/** 1 when |h| types the response text/event-stream. */
int gw_genai_is_stream(const ig_http_headers_t *h);
/** A response body chunk of the request arrived (timestamps a streamed response). */
void gw_genai_chunk(struct gw_genai *g);
/**
 * Records the GenAI histograms of a finished request in the label set of |k| plus the GenAI labels
 * of |g| (operation, request and response models): token usage when the response carried it
 * (|in|/|out| -1: not seen), and for streamed responses the time to the first chunk since
 * |start_ns| and the time per output token. Request counters (gw_stats_record) are not split by
 * model: the GenAI label sets are entries of their own.
 */
void gw_stats_genai(struct gw_stats *st, const struct gw_stat_key *k, const struct gw_genai *g, uint64_t start_ns,
                    int64_t in, int64_t out);
/** ig_http_client_config.on_connect for a worker's origins; |arg| is the worker's struct gw_stats. */
void gw_stats_on_connect(void *arg, int status, uint64_t duration_ns);

/* ---- endpoint picker channels (inference.c publishes, stats.c merges) ------------------------- */

#define GW_EPP_STATS_MAX 16 /* picker channels exported per worker; later ones are not */

/* What one ext_proc call ended with, from the request's side (infergate_endpoint_picker_requests_total). */
enum gw_epp_outcome {
    GW_EPP_OK = 0,        /* the picker did its part (or the gateway ended the call: client gone) */
    GW_EPP_UNAVAILABLE,   /* UNAVAILABLE (unreachable, fail-fast, connection lost): request refused */
    GW_EPP_DEADLINE,      /* DEADLINE_EXCEEDED: request refused */
    GW_EPP_FAILED_OPEN,   /* the picker failed and the request went on without it (failOpen, bypass) */
    GW_EPP_FAILED_CLOSED, /* any other picker failure (error status, invalid answer): request refused */
    GW_EPP_OUTCOME_COUNT
};

/* Gauge states: enum ig_grpc_conn_state, plus shutdown once the worker destroyed the channel. */
#define GW_EPP_SHUTDOWN    IG_GRPC_CONN_STATE_COUNT
#define GW_EPP_STATE_COUNT (IG_GRPC_CONN_STATE_COUNT + 1)

/*
 * One picker channel's figures, in its worker (so they outlive the channel until the process
 * ends). |picker| is written once before the worker's epp_n publishes the slot; the values are
 * single-writer atomics stored by the worker's thread and read by the scrape.
 */
struct gw_epp_stat {
    char picker[64]; /* "ip:port" */
    _Atomic int state;
    _Atomic uint64_t attempts, failures, fail_fast;
    _Atomic uint64_t outcomes[GW_EPP_OUTCOME_COUNT];
};

/* Adds |by| to a single-writer counter: a relaxed load and store, cheaper than a locked add. */
static inline void gw_bump(_Atomic uint64_t *v, uint64_t by)
{
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + by, memory_order_relaxed);
}

/* ---- the process ----------------------------------------------------------------------------- */

struct gw_worker;

struct gw_proc {
    const char *path;        /* -f FILE, or NULL */
    const char *inline_text; /* -c TEXT */
    uv_loop_t loop;          /* control thread */
    struct ig_workers *workers;
    int nworkers;
    struct gw_worker **w; /* set by each worker's init */
    pthread_mutex_t lock; /* guards |snap| for readers on other threads */
    struct gw_snap *snap; /* the current snapshot (one reference) */
    uint64_t generation;
    atomic_int listening; /* workers whose listeners are open */
    atomic_int failed;    /* workers that could not open a listener */
    atomic_int draining;
    atomic_int workers_done;
    _Atomic uint64_t reloads_ok, reloads_failed;
    _Atomic double reload_time; /* wall clock of the last successful (re)load */
    uint64_t drain_timeout_ms;
    int access_log_json;
    int access_log_fd;
    /* control loop handles */
    ig_http_server_t admin, stats, ready;
    ig_listener_t *admin_l, *stats_l, *ready_l;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t drain_timer;
    uv_async_t done_async;
    int exit_status;
};

extern struct gw_proc gw;

/* ---- a worker -------------------------------------------------------------------------------- */

/* One bind (port) served on one worker. */
struct gw_server {
    ig_http_server_t http;
    struct gw_worker *w;
    uint16_t port;
    ig_listener_t *listener;
    int drained;
};

struct gw_worker {
    ig_worker_t *w;
    struct gw_plan *plan; /* current (one reference held by the worker) */
    struct gw_server **servers;
    size_t n_servers;
    size_t servers_drained;
    ig_list_t origins; /* struct gw_origin */
    ig_list_t free_reqs;
    ig_list_t active_reqs;
    size_t n_reqs; /* allocated request objects (free + active) */
    struct gw_stats stats;
    uint64_t rng;
    char logbuf[8192];
    ig_list_t epps; /* struct gw_epp: one gRPC channel per endpoint picker address */
    struct gw_epp_stat epp_stats[GW_EPP_STATS_MAX];
    _Atomic size_t epp_n;     /* epp_stats slots in use (release store after the slot's picker) */
    uv_prepare_t epp_publish; /* copies the channels' statistics to epp_stats before each poll */
    int epp_publishing;       /* epp_publish: 0 not initialised, 1 running, 2 closed (worker done) */
    int stopping;
    int closed_clients;
};

/* worker.c */
void gw_worker_init(ig_worker_t *w, void *arg);
/** Control thread: hands |snap| (one reference taken per worker) to every worker. */
void gw_workers_swap(struct gw_snap *snap);
/** Control thread: resets every in-flight request (drain deadline). */
void gw_workers_abort(void);
struct gw_plan *gw_plan_ref(struct gw_plan *p);
void gw_plan_unref(struct gw_worker *w, struct gw_plan *p);
uint64_t gw_rand(struct gw_worker *w);
/** Resolves a host:port target (a DNS name once, when a plan is built; never per request). 0 or IG_ENOTFOUND. */
int gw_resolve(const struct ig_cfg_hostport *hp, struct sockaddr_storage *out);
/**
 * The route's next backend by weight (smooth weighted round robin over |bps|, the worker's plan for
 * |route|, whose state it updates), or NULL when the route has no backend of non-zero weight.
 */
struct gw_bplan *gw_pick_backend(struct gw_bplan *bps, const struct ig_cfg_route *route);
/** The worker's origin for |sa| (created on first use, kept for the worker's life). */
struct gw_origin *gw_origin_get(struct gw_worker *w, const struct sockaddr_storage *sa, int version,
                                const struct ig_cfg_backend_tls *tls, const char *host, uint64_t connect_ms);
/** Called by the proxy when the worker's last request is over while stopping. */
void gw_worker_maybe_done(struct gw_worker *w);

/** backendTLS as client TLS settings: |o| borrows the snapshot's strings and the lists joined here. */
struct gw_tls_opts {
    struct ig_tls_client_opts o;
    char alpn[320];   /* comma-joined (the configuration caps the list at 256 wire bytes) */
    char groups[640]; /* colon-joined */
    const char **sans;
};
/**
 * Fills |t| from |tls|; |alpn| is the list when backendTLS has none (NULL: none). Returns 0, or
 * IG_ETOOBIG when a list does not fit. Release with gw_tls_opts_dispose.
 */
int gw_tls_opts_init(struct gw_tls_opts *t, const struct ig_cfg_backend_tls *tls, const char *alpn);
void gw_tls_opts_dispose(struct gw_tls_opts *t);

/* proxy.c */
void gw_proxy_on_request(ig_http_stream_t *s);
/** Resets every active request of |w| (drain deadline). */
void gw_proxy_abort_all(struct gw_worker *w);
/** Frees the free-listed request objects (their timers close asynchronously). */
void gw_proxy_release_pool(struct gw_worker *w);

/* ---- inferenceRouting (inference.c) ------------------------------------------------------------ */

#define GW_INF_LEARNED  16 /* endpoints remembered per picker for failOpen in passthrough mode */
#define GW_INF_DEST_MAX 8  /* entries of one destination list tried in order */

/* A worker's gRPC channel (h2c or TLS) to one endpoint picker address, shared by its requests. */
struct gw_epp {
    ig_list_t link;
    struct sockaddr_storage addr;
    int tls;
    char label[64];
    ig_grpc_channel_t *ch;
    struct gw_epp_stat *st;                    /* its slot in the worker's epp_stats, or NULL (past the cap) */
    struct ig_grpc_channel_stats pub;          /* what was last stored in |st| */
    struct gw_origin *learned[GW_INF_LEARNED]; /* endpoints the picker chose recently */
    uint64_t learned_ns[GW_INF_LEARNED];
};

/** The worker's channel for |ir|'s endpointPicker (created on first use), or NULL when it cannot resolve. */
struct gw_epp *gw_inf_epp_get(struct gw_worker *w, const struct ig_cfg_inference_routing *ir);
/** Destroys the worker's picker channels (worker shutdown, no request left). */
void gw_inf_epps_destroy(struct gw_worker *w);

/*
 * The proxy's side of one exchange, called by inference.c (never after |done|). Body callbacks
 * return 0 or IG_EAGAIN (the consumer is full: the producer should pause).
 */
struct gw_inf_ops {
    /** The pick: |ureq| is mutated; |eps| in order (n 0: the service's own endpoint selection). */
    void (*picked)(void *owner, struct gw_origin **eps, size_t n);
    /** Body bytes for the upstream request (the picker's stream, or the original on fallback). */
    int (*req_body)(void *owner, const char *data, size_t len, int end);
    /** The response head (|uresp|, mutated) may go to the client. */
    void (*resp_headers)(void *owner);
    int (*resp_body)(void *owner, const char *data, size_t len, int end);
    /** The picker answered with |resp| and |body| (valid during the call). */
    void (*immediate)(void *owner, const ig_http_response_t *resp, ig_iov_t body);
    /** The exchange failed: answer |status| with |text| (or reset if the response started). */
    void (*failed)(void *owner, int status, const char *reason, const char *text);
    /** The picker's output fell below the low-water mark: resume paused producers. */
    void (*writable)(void *owner);
    /** The gRPC call is over: release the hold taken for it. */
    void (*done)(void *owner);
    /** The response ends with |trailers| (valid during the call) instead of a body end. */
    void (*resp_trailers)(void *owner, const ig_http_headers_t *trailers);
};

/* A byte queue that remembers message boundaries (pass-through of unanswered body chunks). */
struct gw_chunkq {
    ig_buf_t data;
    ig_buf_t lens; /* size_t per queued chunk */
    int ok;        /* 0 once a chunk did not fit */
};

/* One request's Process call and everything the proxy needs from it. Embedded in the request. */
struct gw_inf {
    const struct gw_inf_ops *ops;
    void *owner;
    struct gw_worker *w;
    const struct gw_bplan *bp;
    ig_grpc_call_t *call; /* NULL once its status arrived */
    ig_pool_t *pool;      /* the downstream stream's arena: mutated header strings */
    ig_http_request_t *ureq;
    ig_http_response_t *uresp;
    ig_pool_t enc, dec; /* encoder and decoder scratch, cleared per message */
    ig_buf_t out;
    ig_buf_t orig;       /* failOpen: replay copy of the original body */
    ig_buf_t up;         /* every byte given to the upstream so far (replayed on fall-through) */
    struct gw_chunkq rq; /* request chunks sent and not answered */
    struct gw_chunkq sq; /* response chunks sent and not answered */
    int64_t mut_cl;      /* content-length set by the picker, -1 none */
    unsigned active : 1, cancelled : 1, header_only : 1, req_end_sent : 1, picked : 1, up_end : 1;
    unsigned req_streamed : 1, resp_streamed : 1, resp_hdr_sent : 1, resp_hdr_done : 1, resp_end_sent : 1;
    unsigned resp_done : 1, bypass : 1, fallback : 1;
    unsigned epp_failed : 1;    /* the picker's answer failed the request (fail()) */
    unsigned orig_ok : 1;       /* |orig| holds the whole body so far (failOpen only) */
    unsigned up_ok : 1;         /* |up| holds every upstream byte so far */
    unsigned resp_mode : 2;     /* enum ig_cfg_response_mode of the backend */
    unsigned resp_trailers : 1; /* the upstream's response ended with trailers (|trailers|) */
    ig_http_headers_t trailers; /* response trailers, copied to |pool| */
};

/**
 * Opens the Process call for a request routed to |bp| and sends request_headers (|ureq|, after the
 * client's x-gateway-destination-endpoint* headers were removed). |header_only|: no body follows.
 * Returns 0 (ops->done will follow), or IG_ENOTFOUND when the picker has no channel.
 */
int gw_inf_start(struct gw_inf *inf, struct gw_worker *w, const struct gw_bplan *bp, const struct gw_inf_ops *ops,
                 void *owner, ig_pool_t *pool, ig_http_request_t *ureq, int header_only);
/** A downstream body chunk. Returns 0 or IG_EAGAIN (pause the client). */
int gw_inf_request_body(struct gw_inf *inf, const char *data, size_t len, int end);
/** The upstream's response head (|d| is the client's copy, mutated later); |served| the origin dialled. */
void gw_inf_response_headers(struct gw_inf *inf, const ig_http_response_t *resp, ig_http_response_t *d,
                             struct gw_origin *served);
int gw_inf_response_body(struct gw_inf *inf, const char *data, size_t len, int end);
/** The upstream's response trailers (borrowed): they end the response in place of a body end. */
void gw_inf_response_trailers(struct gw_inf *inf, const ig_http_headers_t *trailers);
/** The downstream request's trailers (borrowed): they end the request body. Returns 0. */
int gw_inf_request_trailers(struct gw_inf *inf, const ig_http_headers_t *trailers);
/** Ends the call early (client gone, error answered). Safe to call in any state. */
void gw_inf_cancel(struct gw_inf *inf);
/** Releases the buffers (after ops->done, or when the call never started). */
void gw_inf_dispose(struct gw_inf *inf);
/** The bytes the upstream has been given so far, for a new attempt; returns 0 when they were not all kept. */
int gw_inf_replay(const struct gw_inf *inf, ig_iov_t *body, int *end);
static inline int gw_inf_replay_ok(const struct gw_inf *inf)
{
    return inf->up_ok;
}
/** Removes client-sent x-gateway-destination-endpoint* headers from |h|. */
void gw_inf_strip_client_headers(ig_http_headers_t *h);

/* control.c */
int gw_control_run(void);
/** Writes the merged metrics page. Returns 0 or IG_ETOOBIG. */
int gw_metrics_render(ig_buf_t *out);

/* access log (stats.c) */
struct gw_access {
    const char *gateway, *listener, *route, *endpoint, *backend;
    char src[64];
    ig_iov_t method, host, path;
    int version, status;
    const char *protocol;
    const char *reason; /* error / reason, or NULL */
    uint64_t duration_ns;
    uint64_t req_bytes, resp_bytes;
    int64_t input_tokens, output_tokens; /* OpenAI usage seen in the response, -1: none */
    int retries;
    const struct gw_genai *gen; /* operation and models (NULL: none) */
};
void gw_access_log(struct gw_worker *w, const struct ig_config *cfg, const struct gw_access *a);

#endif
