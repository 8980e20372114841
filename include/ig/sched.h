/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched: the Endpoint Picker's scheduler, pure and I/O-free, so the EPP serves it over ext_proc and
 * the gateway can link it in directly. Four parts:
 *
 *  - the OpenAI request reader: a JSON scanner that validates the body and returns slices of the
 *    top-level keys without building a tree (model, stream, stream_options.include_usage,
 *    cache_salt, and the prompt / messages text hashed for prefix affinity);
 *  - the endpoint view (struct ig_sched_endpoint): address, labels, scraped metrics and in-flight
 *    counters, owned by the caller (the EPP's datastore);
 *  - the plugins of the reference EPP (filters, scorers, pickers, producers, saturation detectors,
 *    the single-profile handler) as const ops tables in one static registry;
 *  - the EndpointPickerConfig loader (YAML, libyaml) and the scheduler built from it.
 *
 * Threading: an ig_sched is used by one thread at a time (the EPP's loop thread). The prefix index
 * and the in-flight counters are its mutable state; everything else is read-only after creation.
 */
#ifndef IG_SCHED_H
#define IG_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "ig/core.h"

/* ---- JSON scanner ------------------------------------------------------------------------------ */

enum ig_json_type {
    IG_JSON_INVALID = 0,
    IG_JSON_OBJECT,
    IG_JSON_ARRAY,
    IG_JSON_STRING,
    IG_JSON_NUMBER,
    IG_JSON_TRUE,
    IG_JSON_FALSE,
    IG_JSON_NULL,
    IG_JSON_TYPE_COUNT
};

/** Deepest nesting of arrays and objects accepted (deeper input is rejected, not recursed into). */
#define IG_JSON_MAX_DEPTH 1024

/** A JSON syntax error: byte offset into the input and a static reason. */
struct ig_json_error {
    size_t offset;
    const char *why;
};

/**
 * Validates the JSON value starting at |*pp| (leading whitespace skipped) and advances |*pp| past
 * it. Strings are checked for escapes and control characters (not for UTF-8, as Go's decoder).
 * Returns the value's type, or IG_JSON_INVALID with |err| filled (|err| may be NULL).
 */
enum ig_json_type ig_json_skip(const char **pp, const char *end, struct ig_json_error *err);

/** Iterates the members of an object whose raw span (from '{' to '}') is given. */
struct ig_json_iter {
    const char *p, *end, *start;
    int first;
};
struct ig_json_member {
    ig_iov_t key;    /* raw key text between the quotes (escapes not decoded) */
    int key_escaped; /* the key contains a backslash: compare with ig_json_key_eq */
    ig_iov_t value;  /* raw span of the value */
    enum ig_json_type type;
};
/** Returns 0, or IG_EINVAL when |obj| does not start with '{'. */
int ig_json_obj_begin(struct ig_json_iter *it, ig_iov_t obj);
/** Returns 1 with |m| filled, 0 at the end, or IG_EINVAL (with |err|) for malformed input. */
int ig_json_obj_next(struct ig_json_iter *it, struct ig_json_member *m, struct ig_json_error *err);
/** True when the member's key, decoded, equals the NUL-terminated |key|. */
int ig_json_key_eq(const struct ig_json_member *m, const char *key);
/**
 * Decodes a raw string value (with its quotes). Without escapes the result points into |raw|;
 * otherwise it is decoded into |pool| (UTF-8, surrogate pairs joined, lone ones as U+FFFD).
 * Returns 0, or IG_EINVAL when |raw| is not a valid JSON string.
 */
int ig_json_string(ig_iov_t raw, ig_pool_t *pool, ig_iov_t *out);

/* ---- OpenAI request reader (openai-parser) ------------------------------------------------------ */

enum ig_oai_api {
    IG_OAI_COMPLETIONS = 0, /* also the fallback for unknown paths */
    IG_OAI_CHAT_COMPLETIONS,
    IG_OAI_RESPONSES,
    IG_OAI_CONVERSATIONS,
    IG_OAI_EMBEDDINGS,
    IG_OAI_API_COUNT
};

/** The API kind from the suffix of a request path (query string ignored); see docs/internals/sched.md. */
enum ig_oai_api ig_oai_api_from_path(ig_iov_t path);
const char *ig_oai_api_name(enum ig_oai_api api);

/** Slices of the text hashed for prefix affinity, in order (responses: instructions, tools, input). */
#define IG_OAI_MAX_SPANS 3

/** What the scheduler and the EPP need from a request body. Slices borrow the body (or the pool). */
struct ig_oai_request {
    enum ig_oai_api api;
    ig_iov_t model;      /* decoded `model` */
    ig_iov_t model_raw;  /* raw span of the model value, quotes included (for rewriting in place) */
    ig_iov_t cache_salt; /* decoded `cache_salt`; len 0 when absent */
    int stream;          /* `stream: true` */
    int include_usage;   /* `stream_options: {include_usage: true}` */
    ig_iov_t prefix[IG_OAI_MAX_SPANS];
    size_t n_prefix;
    size_t prefix_len; /* total bytes of the prefix spans */
};

/** A request-path error as the reference EPP reports it: HTTP status and "inference error: ..." text. */
struct ig_sched_error {
    int status;
    char msg[192];
};

/**
 * Reads |body| as an OpenAI request of kind |api|, in place. |pool| receives decoded strings only
 * when they contain escapes (may be NULL: such strings then fail as BadRequest). Borrows |body|.
 * Returns 0, or IG_EINVAL with |err| = 400 "inference error: BadRequest - <why>" for malformed JSON,
 * a non-object body, a missing model ("model not found in request body") or a missing required field.
 */
int ig_oai_parse(enum ig_oai_api api, const char *body, size_t len, ig_pool_t *pool, struct ig_oai_request *req,
                 struct ig_sched_error *err);

/* ---- endpoint view ------------------------------------------------------------------------------ */

struct ig_sched_kv {
    ig_iov_t key, value;
};

/** Scraped model-server metrics (names of the reference data layer). */
struct ig_sched_metrics {
    int64_t waiting_queue_size;
    int64_t running_requests_size;
    double kv_cache_usage_percent; /* 0..1 */
    const ig_iov_t *active_models; /* LoRA adapters resident (running_lora_adapters) */
    size_t n_active_models;
    const ig_iov_t *waiting_models; /* waiting_lora_adapters */
    size_t n_waiting_models;
    int64_t max_active_models; /* max_lora */
    int64_t cache_block_size;  /* tokens per KV block, 0 = unknown */
    int64_t cache_num_blocks;  /* 0 = unknown */
    uint64_t update_time_ns;   /* ig_time_ns() of the last successful scrape; 0 = never */
};

/**
 * One endpoint (a model-server rank). Owned by the caller; the scheduler borrows it for a call and
 * writes only the in-flight counters (ig_sched_pre_request / ig_sched_request_done). |id| keys the
 * prefix index: stable for the endpoint's life, unique, and small (ids index an array; ids at or
 * above IG_SCHED_MAX_ENDPOINT_ID get no prefix affinity).
 */
#define IG_SCHED_MAX_ENDPOINT_ID (1u << 20)
struct ig_sched_endpoint {
    uint32_t id;
    ig_iov_t name;    /* "<pod>-rank-<n>" */
    ig_iov_t address; /* "ip:port", the destination header value */
    ig_iov_t ip;      /* the ip part of |address| */
    const struct ig_sched_kv *labels;
    size_t n_labels;
    struct ig_sched_metrics metrics;
    int64_t inflight_requests;
    int64_t inflight_tokens;
};

/** Returns the label's value, or a NULL slice. */
ig_iov_t ig_sched_endpoint_label(const struct ig_sched_endpoint *ep, const char *key);

/* ---- EndpointPickerConfig ------------------------------------------------------------------------ */

struct ig_sched_plugin_type; /* registry entry (src/sched/sched_int.h) */

/** Parsed parameters of every plugin type (one member used per type; defaults filled). */
struct ig_sched_params {
    /* pickers */
    int64_t max_num_of_endpoints;
    /* approx-prefix-cache-producer (or prefix-cache-scorer) */
    int auto_tune;
    int64_t block_size_tokens;
    int64_t max_prefix_blocks_to_match;
    int64_t max_prefix_tokens_to_match;
    int64_t lru_capacity_per_server;
    /* token-load-scorer */
    int64_t queue_threshold_tokens;
    /* utilization-detector */
    int64_t queue_depth_threshold;
    double kv_cache_util_threshold;
    uint64_t metrics_staleness_ns;
    double headroom; /* also concurrency-detector */
    /* prefix-affinity-filter (also queue_depth_threshold, kv_cache_util_threshold) */
    double affinity_threshold;
    /* concurrency-detector */
    int concurrency_tokens; /* concurrencyMode: tokens */
    int64_t max_concurrency;
    int64_t max_token_concurrency;
    /* metrics-data-source */
    ig_iov_t scheme, path;
    int insecure_skip_verify;
};

struct ig_epc_plugin {
    ig_iov_t name;
    ig_iov_t type;
    const struct ig_sched_plugin_type *t;
    struct ig_sched_params params;
    int implicit; /* added by the loader's defaults */
    uint32_t line, col;
};

struct ig_epc_ref {
    size_t plugin; /* index into ig_epc.plugins */
    double weight; /* scorers; 1.0 when not given */
};

struct ig_epc_profile {
    ig_iov_t name;
    struct ig_epc_ref *refs;
    size_t n_refs;
};

/** A loaded config: everything lives in |pool|. Indices are SIZE_MAX when unset. */
struct ig_epc {
    ig_pool_t pool;
    ig_iov_t api_version;
    ig_iov_t kind;
    ig_iov_t *feature_gates;
    size_t n_feature_gates;
    struct ig_epc_plugin *plugins;
    size_t n_plugins;
    struct ig_epc_profile *profiles;
    size_t n_profiles;
    size_t profile_handler;
    size_t saturation_detector;
    size_t parser;
    int flow_control; /* featureGates has flowControl */
};

/** The reference's default configuration text (queue 2, kv-cache 2, prefix 3). */
extern const char ig_epc_default_text[];

/**
 * Loads an EndpointPickerConfig. Errors go to |err| as "<name>:<line>:<col>: <message>", one per
 * line (at most a few). Returns 0 with |*out| owned by the caller (ig_epc_free), or IG_EINVAL.
 * ig_epc_load_file also returns -errno when the file cannot be read, IG_ETOOBIG above 4 MiB.
 */
int ig_epc_load_string(const char *name, const char *text, size_t len, struct ig_epc **out, char *err, size_t errlen);
int ig_epc_load_file(const char *path, struct ig_epc **out, char *err, size_t errlen);
void ig_epc_free(struct ig_epc *cfg);
/** Finds a plugin by name; returns its index or SIZE_MAX. */
size_t ig_epc_find(const struct ig_epc *cfg, ig_iov_t name);

/* ---- scheduler ------------------------------------------------------------------------------------ */

/** Most endpoints a picker returns (maxNumOfEndpoints is capped to this). */
#define IG_SCHED_MAX_PICKS 16
/** Most prefix hashes per request (maxPrefixBlocksToMatch is capped to this). */
#define IG_SCHED_MAX_HASHES 1024

struct ig_sched; /* opaque */

/** Request-scoped inputs. Borrowed for the cycle. */
struct ig_sched_request {
    const struct ig_oai_request *body; /* NULL: no prefix scoring */
    ig_iov_t target_model;             /* after rewrite; LoRA affinity and the prefix seed */
    const struct ig_sched_kv *headers; /* request headers (header-based-testing-filter) */
    size_t n_headers;
    int priority;
    uint64_t now_ns; /* ig_time_ns() at scheduling, for staleness */
};

struct ig_sched_pick {
    struct ig_sched_endpoint *ep;
    double score;
};

/** One scheduling cycle, caller storage. Initialise with ig_sched_cycle_init. */
struct ig_sched_cycle {
    const struct ig_sched_request *req;
    ig_pool_t *pool; /* request arena for plugins needing scratch; in-tree ones need none (may be NULL) */
    /* result of the primary profile, best first */
    const char *profile;
    struct ig_sched_pick picks[IG_SCHED_MAX_PICKS];
    size_t n_picks;
    /* private: prefix state produced by PrepareData and consumed by PreRequest */
    uint64_t _hashes[IG_SCHED_MAX_HASHES];
    size_t _n_hashes;
    size_t _block_chars;
    uint64_t _seq;   /* prefix match stamp */
    int64_t _tokens; /* estimated prompt tokens (inflight-load-producer) */
    int _counted;    /* pre_request accounted this request */
};

void ig_sched_cycle_init(struct ig_sched_cycle *cy, const struct ig_sched_request *req, ig_pool_t *pool);

/**
 * Builds a scheduler from |cfg| (borrowed; must outlive the scheduler). |seed| seeds the pickers'
 * random source (0: from the clock). Returns 0, or IG_EINVAL with |err| filled.
 */
int ig_sched_create(const struct ig_epc *cfg, uint64_t seed, struct ig_sched **out, char *err, size_t errlen);
void ig_sched_destroy(struct ig_sched *s);

/**
 * Legacy admission: a request with priority < 0 is shed when the saturation detector reports
 * saturation >= 1.0 over |eps|. Returns 0, or IG_EAGAIN with |err| = 429 "inference error:
 * ResourceExhausted - system saturated, sheddable request dropped".
 */
int ig_sched_admit(const struct ig_sched *s, const struct ig_sched_request *req, struct ig_sched_endpoint *const *eps,
                   size_t n, struct ig_sched_error *err);
/** The pool's saturation per the configured detector (>= 1.0 saturated; no endpoints -> 1.0). */
double ig_sched_saturation(const struct ig_sched *s, struct ig_sched_endpoint *const *eps, size_t n, uint64_t now_ns);

/**
 * Runs PrepareData, then the profile: filters, weighted scorers, picker. |eps| is borrowed and not
 * modified. The picks land in |cy|. Returns 0; IG_ENOTFOUND with 503 "failed to find endpoint
 * candidates" when n == 0; IG_EAGAIN with 429 when the filters leave no endpoint.
 */
int ig_sched_schedule(struct ig_sched *s, struct ig_sched_cycle *cy, struct ig_sched_endpoint *const *eps, size_t n,
                      struct ig_sched_error *err);
/**
 * PreRequest: records the request's prefix hashes for the first pick and adds the request to its
 * in-flight counters. Call once after a successful ig_sched_schedule, when the request is sent.
 */
void ig_sched_pre_request(struct ig_sched *s, struct ig_sched_cycle *cy);
/**
 * The request finished (any outcome): undoes the in-flight accounting of ig_sched_pre_request.
 * The picked endpoint must still be alive: forget endpoints only after their requests are done.
 */
void ig_sched_request_done(struct ig_sched *s, struct ig_sched_cycle *cy);
/** Forgets an endpoint's prefix entries (endpoint removed from the pool). */
void ig_sched_forget_endpoint(struct ig_sched *s, uint32_t id);
/** Prefix index entries over all endpoints (inference_extension_prefix_indexer_size). */
size_t ig_sched_prefix_index_size(const struct ig_sched *s);

/**
 * The prefix-cache match of |ep| in the cycle just scheduled (call before the next cycle):
 * |*matched| of |*total| prompt blocks of |*block_bytes| each (inference_extension_prefix_indexer_
 * hit_ratio / hit_bytes). Returns 0, or IG_ENOTFOUND without a prefix producer or prompt blocks.
 */
int ig_sched_prefix_match(const struct ig_sched *s, const struct ig_sched_cycle *cy, const struct ig_sched_endpoint *ep,
                          size_t *matched, size_t *total, size_t *block_bytes);

/** The extension points ig_sched_set_timing reports (inference_extension_plugin_duration_seconds). */
enum ig_sched_ext_point { IG_SCHED_EXT_FILTER, IG_SCHED_EXT_SCORER, IG_SCHED_EXT_PICKER, IG_SCHED_EXT_COUNT };
/** The reference's name of |p|: "Filter", "Scorer", "Picker". */
const char *ig_sched_ext_point_name(enum ig_sched_ext_point p);

/**
 * Called by ig_sched_schedule after each filter, scorer and picker with its wall time. |type| and
 * |name| are the plugin's (NUL-terminated, stable for the scheduler's life: usable as cache keys).
 */
typedef void (*ig_sched_timing_cb)(void *arg, enum ig_sched_ext_point point, const char *type, const char *name,
                                   uint64_t ns);
/** Installs (or with NULL removes) the timing hook; without one the cycle reads no clock. */
void ig_sched_set_timing(struct ig_sched *s, ig_sched_timing_cb cb, void *arg);

#endif
