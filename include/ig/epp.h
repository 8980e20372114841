/* SPDX-License-Identifier: Apache-2.0 */
/*
 * epp: the Endpoint Picker's data layer. Endpoints come from a source (a static `--endpoints`
 * list or a watched `--endpoints-file`), live in the datastore, and are polled for model-server
 * metrics by the scraper, which maps each engine's Prometheus names (vLLM, SGLang, trtllm-serve,
 * Triton TensorRT-LLM) onto the scheduler's endpoint view (struct ig_sched_endpoint). The EPP's
 * own pool gauges and scrape counters are written by ig_epp_metrics. See docs/internals/epp.md.
 *
 * Threading: everything here belongs to the EPP's loop thread, the datastore's one writer. Readers
 * on that thread take a snapshot (a refcounted array of endpoint pointers): its membership never
 * changes, and its endpoints stay allocated until it is released, even when a source removed them
 * meanwhile. An endpoint's metrics are rewritten in place by the scraper between loop callbacks,
 * so within one callback a reader sees each endpoint's last complete scrape.
 */
#ifndef IG_EPP_H
#define IG_EPP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "ig/core.h"
#include "ig/metrics.h"
#include "ig/sched.h"

/* ---- engines ----------------------------------------------------------------------------------- */

/** The endpoint label that selects the metric names (value: an ig_epp_engine name). */
#define IG_EPP_ENGINE_LABEL "inference.networking.k8s.io/engine-type"

enum ig_epp_engine {
    IG_EPP_ENGINE_VLLM = 0,     /* "vllm" (the default) */
    IG_EPP_ENGINE_SGLANG,       /* "sglang" */
    IG_EPP_ENGINE_TRTLLM_SERVE, /* "trtllm-serve" */
    IG_EPP_ENGINE_TRITON,       /* "triton-tensorrt-llm" */
    IG_EPP_ENGINE_COUNT
};

/** The label value naming |e|. */
const char *ig_epp_engine_name(enum ig_epp_engine e);
/** Returns 0 with |*out| set, or IG_ENOTFOUND for an unknown engine name. */
int ig_epp_engine_parse(ig_iov_t name, enum ig_epp_engine *out);

/* ---- endpoint declarations (what a source produces) -------------------------------------------- */

/** Most endpoints in the datastore, labels per endpoint, and LoRA adapters kept per list. */
#define IG_EPP_MAX_ENDPOINTS 4096
#define IG_EPP_MAX_LABELS    64
#define IG_EPP_MAX_LORA      64

struct ig_epp_endpoint_decl {
    ig_iov_t address;      /* "ip:port" or "[v6]:port" (numeric) */
    uint16_t metrics_port; /* 0: the address's port */
    const struct ig_sched_kv *labels;
    size_t n_labels;
    uint32_t line, col; /* where it was declared (file source), 0 otherwise */
};

/** A list of declarations; every string and array lives in |pool|. */
struct ig_epp_endpoint_list {
    ig_pool_t pool;
    struct ig_epp_endpoint_decl *v;
    size_t n;
};

void ig_epp_endpoint_list_init(struct ig_epp_endpoint_list *l);
void ig_epp_endpoint_list_dispose(struct ig_epp_endpoint_list *l);

/**
 * The static source: parses `--endpoints ip:port,ip:port,...` (spaces around items ignored, at
 * least one item, no duplicates) into |out| (initialised by the caller). Returns 0, or IG_EINVAL
 * with a message in |err|.
 */
int ig_epp_endpoints_parse(const char *text, struct ig_epp_endpoint_list *out, char *err, size_t errlen);

/**
 * The file source's loader: YAML or JSON, a list of {address: "ip:port", metricsPort?: N, labels?:
 * {k: v}} (also accepted: a map with the list under `endpoints`). |name| prefixes the messages,
 * "<name>:<line>:<col>: <message>" (1-based). Returns 0 with |out| filled (initialised by the
 * caller), IG_EINVAL on a syntax or schema error, or for ig_epp_endpoints_load_file -errno when
 * the file cannot be read and IG_ETOOBIG above IG_EPP_MAX_FILE.
 */
#define IG_EPP_MAX_FILE (4u << 20)
int ig_epp_endpoints_load_string(const char *name, const char *text, size_t len, struct ig_epp_endpoint_list *out,
                                 char *err, size_t errlen);
int ig_epp_endpoints_load_file(const char *path, struct ig_epp_endpoint_list *out, char *err, size_t errlen);

/* ---- datastore --------------------------------------------------------------------------------- */

typedef struct ig_epp_datastore ig_epp_datastore_t;
struct ig_epp__scrape; /* the scraper's per-endpoint state (src/epp/epp_int.h) */

/** Why the last poll of an endpoint failed (0: it did not). */
enum ig_epp_scrape_err {
    IG_EPP_SCRAPE_OK = 0,
    IG_EPP_SCRAPE_CONNECT, /* connection refused or failed */
    IG_EPP_SCRAPE_TIMEOUT, /* no complete page within the poll timeout */
    IG_EPP_SCRAPE_CLOSED,  /* connection closed or reset mid-response */
    IG_EPP_SCRAPE_STATUS,  /* HTTP status other than 200 */
    IG_EPP_SCRAPE_TOOBIG,  /* page larger than the scraper's limit */
    IG_EPP_SCRAPE_PARSE,   /* not Prometheus text */
    IG_EPP_SCRAPE_MISSING, /* a required metric (queue, running, kv-cache) is absent */
    IG_EPP_SCRAPE_ERR_COUNT
};
const char *ig_epp_scrape_err_name(enum ig_epp_scrape_err e);

/**
 * One endpoint. The datastore owns it; readers borrow it through a snapshot. |view| is what the
 * scheduler reads (its strings are NUL-terminated and live as long as the endpoint); the scheduler
 * may write view.inflight_*, which persist across snapshots because the object does.
 */
struct ig_epp_endpoint {
    struct ig_sched_endpoint view; /* first: (struct ig_sched_endpoint *) casts are valid */
    enum ig_epp_engine engine;     /* from the engine label, else the datastore's default */
    struct sockaddr_storage addr;  /* the serving address */
    struct sockaddr_storage metrics_addr;
    uint16_t port, metrics_port;
    ig_iov_t metrics_authority; /* "ip:metricsPort" */
    /* scrape bookkeeping (written by the scraper) */
    enum ig_epp_scrape_err last_error;
    uint64_t last_error_ns;
    uint64_t scrapes, scrape_errors;
    /* private */
    ig_pool_t _pool;     /* strings and labels */
    ig_pool_t _mpool[2]; /* LoRA lists, alternating per update */
    int _mcur;           /* which _mpool holds the current lists */
    uint32_t _refs;      /* the datastore's membership + snapshots */
    int _removed;        /* no longer a member */
    struct ig_epp__scrape *_scrape;
};

/** An immutable set of endpoints. Both arrays list the same endpoints in the same order. */
struct ig_epp_snapshot {
    struct ig_epp_endpoint *const *v;
    struct ig_sched_endpoint *const *eps; /* for ig_sched_schedule and friends */
    size_t n;
    uint64_t generation; /* increases with every membership change */
    /* private */
    uint32_t _refs;
    ig_epp_datastore_t *_ds;
};

/** Called when an endpoint leaves the datastore (it stays allocated while snapshots hold it). */
typedef void (*ig_epp_removed_cb)(struct ig_epp_endpoint *ep, void *arg);

/** Creates an empty datastore; unlabelled endpoints use |default_engine|. Returns owned. */
ig_epp_datastore_t *ig_epp_datastore_create(enum ig_epp_engine default_engine);
/** Frees the datastore; snapshots still held keep their endpoints alive until released. */
void ig_epp_datastore_destroy(ig_epp_datastore_t *ds);

/** Registers a removal listener (at most 4; e.g. the scraper and ig_sched_forget_endpoint). */
void ig_epp_datastore_on_removed(ig_epp_datastore_t *ds, ig_epp_removed_cb cb, void *arg);
/** Unregisters a listener added with the same |cb| and |arg|. */
void ig_epp_datastore_off_removed(ig_epp_datastore_t *ds, ig_epp_removed_cb cb, void *arg);

/**
 * Replaces the membership by |decls| (borrowed; copied). Endpoints are keyed by address: one whose
 * address stays keeps its object, id, metrics and in-flight counters (labels and metrics port are
 * updated); new ones start with no metrics (update_time_ns 0). All declarations are validated
 * first; on error nothing changes. Returns 0, or IG_EINVAL with |err| for a bad or duplicate
 * address, too many endpoints or labels.
 */
int ig_epp_datastore_set(ig_epp_datastore_t *ds, const struct ig_epp_endpoint_decl *decls, size_t n, char *err,
                         size_t errlen);

/** The current snapshot with a reference the caller releases. Never NULL. */
struct ig_epp_snapshot *ig_epp_datastore_snapshot(ig_epp_datastore_t *ds);
void ig_epp_snapshot_release(struct ig_epp_snapshot *snap);

/** The member with this address, or NULL. Borrowed until the next ig_epp_datastore_set. */
struct ig_epp_endpoint *ig_epp_datastore_find(ig_epp_datastore_t *ds, ig_iov_t address);
size_t ig_epp_datastore_count(const ig_epp_datastore_t *ds);

/**
 * Writer: stores a successful scrape. Copies |m|, including the LoRA lists it borrows, and sets
 * view.metrics.update_time_ns to |now_ns|.
 */
void ig_epp_endpoint_set_metrics(struct ig_epp_endpoint *ep, const struct ig_sched_metrics *m, uint64_t now_ns);

/** True when the endpoint was scraped successfully less than |threshold_ns| before |now_ns|. */
static inline int ig_epp_endpoint_fresh(const struct ig_epp_endpoint *ep, uint64_t now_ns, uint64_t threshold_ns)
{
    uint64_t t = ep->view.metrics.update_time_ns;
    return t != 0 && now_ns >= t && now_ns - t < threshold_ns;
}

/* ---- engine mappings --------------------------------------------------------------------------- */

/** The result of reading one page: the scheduler's metrics plus storage for the LoRA slices. */
struct ig_epp_extract {
    struct ig_sched_metrics m; /* update_time_ns left 0 */
    ig_iov_t active[IG_EPP_MAX_LORA];
    ig_iov_t waiting[IG_EPP_MAX_LORA];
    unsigned found; /* bit per field, IG_EPP_F_* */
    /* private: the queries (label values may point into them) */
    struct ig_prom_query _q[8];
};
#define IG_EPP_F_WAITING    (1u << 0)
#define IG_EPP_F_RUNNING    (1u << 1)
#define IG_EPP_F_KV         (1u << 2)
#define IG_EPP_F_LORA       (1u << 3)
#define IG_EPP_F_BLOCK_SIZE (1u << 4)
#define IG_EPP_F_NUM_BLOCKS (1u << 5)
#define IG_EPP_F_REQUIRED   (IG_EPP_F_WAITING | IG_EPP_F_RUNNING | IG_EPP_F_KV)

/**
 * Reads a scraped page with |engine|'s metric names and the series rules of the reference data
 * layer. Slices in |out| borrow |page| and |out| itself. Returns 0 when all of IG_EPP_F_REQUIRED
 * were found, IG_ENOTFOUND when some were not (the others are still filled), or IG_EPROTO /
 * IG_ETOOBIG when the page does not parse (|perr| filled, may be NULL).
 */
int ig_epp_extract_page(enum ig_epp_engine engine, const char *page, size_t len, struct ig_epp_extract *out,
                        struct ig_prom_error *perr);

/* ---- scraper ----------------------------------------------------------------------------------- */

typedef struct ig_epp_scraper ig_epp_scraper_t;
typedef struct ig_epp_metrics ig_epp_metrics_t;

struct ig_epp_scraper_config {
    uint64_t interval_ns;  /* between polls of one endpoint; default 50 ms */
    uint64_t timeout_ns;   /* per poll, connect included; default 1 s */
    uint64_t staleness_ns; /* a poll error is logged once the endpoint's metrics are this old; default 2 s */
    const char *path;      /* default "/metrics"; borrowed */
    size_t max_page;       /* default 8 MiB */
};

/**
 * Creates a scraper for the members of |ds| on |loop| (both borrowed, outliving it). |metrics|
 * (may be NULL) receives the scrape counters. Polling starts with ig_epp_scraper_start.
 */
ig_epp_scraper_t *ig_epp_scraper_create(uv_loop_t *loop, ig_epp_datastore_t *ds,
                                        const struct ig_epp_scraper_config *cfg, ig_epp_metrics_t *metrics);
/** Starts polling: every endpoint at once, then every interval; never two polls of one endpoint. */
void ig_epp_scraper_start(ig_epp_scraper_t *sc);
/**
 * Cancels polls in flight and closes the scraper's handles and connections; the memory goes once
 * libuv has closed them (run the loop). |sc| is invalid after the call. Call it before
 * ig_epp_datastore_destroy.
 */
void ig_epp_scraper_destroy(ig_epp_scraper_t *sc);

/* ---- file source ------------------------------------------------------------------------------- */

typedef struct ig_epp_file_source ig_epp_file_source_t;

/**
 * Loads |path| into |ds| and keeps watching it (uv_fs_event on its directory, so an editor's or
 * a ConfigMap's rename-and-replace is seen). A later bad file is logged with file:line:col and the
 * old list kept. Returns the source, or NULL with |err| when the first load fails.
 */
ig_epp_file_source_t *ig_epp_file_source_start(uv_loop_t *loop, const char *path, ig_epp_datastore_t *ds, char *err,
                                               size_t errlen);
/** Reloads now (also what a change event does). Returns 0, or the load error (logged). */
int ig_epp_file_source_reload(ig_epp_file_source_t *fs);
/** Number of successful loads, and of failed reloads, since start. */
uint64_t ig_epp_file_source_loads(const ig_epp_file_source_t *fs);
uint64_t ig_epp_file_source_failures(const ig_epp_file_source_t *fs);
/** Stops watching; memory goes once libuv has closed the handles. */
void ig_epp_file_source_stop(ig_epp_file_source_t *fs);

/* ---- EPP metrics ------------------------------------------------------------------------------- */

/**
 * Registers in |reg| the data layer's families: inference_pool_average_kv_cache_utilization,
 * inference_pool_average_queue_size, inference_pool_per_pod_queue_size, inference_pool_ready_pods
 * (label name=|pool_name|, computed at scrape over endpoints fresher than |staleness_ns|), and
 * infergate_epp_scrapes_total / infergate_epp_scrape_errors_total{reason}. Borrows |reg| and |ds|;
 * copies |pool_name|. Returns owned (ig_epp_metrics_destroy), which must outlive |reg|'s scrapes.
 */
ig_epp_metrics_t *ig_epp_metrics_create(ig_metrics_t *reg, ig_epp_datastore_t *ds, const char *pool_name,
                                        uint64_t staleness_ns);
void ig_epp_metrics_destroy(ig_epp_metrics_t *em);
/** Counts one poll and its outcome (IG_EPP_SCRAPE_OK for a success). */
void ig_epp_metrics_scrape_done(ig_epp_metrics_t *em, enum ig_epp_scrape_err outcome);

/* ---- flags ------------------------------------------------------------------------------------- */

/** The data layer's flags (upstream names and defaults, plus --endpoints and --endpoints-file). */
struct ig_epp_flags {
    uint16_t grpc_port;                   /* --grpc-port 9002 */
    uint16_t grpc_health_port;            /* --grpc-health-port 9003 */
    uint16_t metrics_port;                /* --metrics-port 9090 */
    const char *config_file;              /* --config-file (exclusive with --config-text) */
    const char *config_text;              /* --config-text */
    int secure_serving;                   /* --secure-serving true */
    const char *cert_path;                /* --cert-path "" */
    uint64_t refresh_metrics_interval_ns; /* --refresh-metrics-interval 50ms */
    uint64_t metrics_staleness_ns;        /* --metrics-staleness-threshold 2s */
    const char *pool_namespace;           /* --pool-namespace (-> env NAMESPACE -> "default") */
    char pool_name[128];         /* the `name` label of the pool gauges: as the reference's standalone mode, the
                                    Deployment name from env POD_NAME (`<deployment>-<rs>-<pod>`), else "infergate-epp" */
    const char *endpoints;       /* --endpoints ip:port,... */
    const char *endpoints_file;  /* --endpoints-file FILE */
    const char *objectives_file; /* --objectives-file FILE (InferenceObjectives, InferenceModelRewrites) */
    uint16_t target_ports[8];    /* --endpoint-target-ports (with a selector only) */
    size_t n_target_ports;
    int verbosity; /* -v 2 */
    /* strings point into argv or the environment (borrowed) */
};

/**
 * Parses |argv[0..argc)| (no program name) into |f| (defaults first). Accepts `--flag value`,
 * `--flag=value` and `-flag` as Go's flag package does; booleans take `--flag` or `--flag=false`.
 * Returns 0, or IG_EINVAL with a one-line message in |err| for an unknown flag, a bad value, both
 * --config-file and --config-text, both or neither of --endpoints and --endpoints-file, and the
 * Kubernetes-only flags (--pool-name, --endpoint-selector, ...), which need Kubernetes, not
 * available in this build.
 */
int ig_epp_flags_parse(struct ig_epp_flags *f, int argc, char **argv, char *err, size_t errlen);
/** The flags' usage text (static). */
const char *ig_epp_flags_usage(void);

/**
 * A diagnostic run of the data layer alone (not a registered subcommand): |argv[0]| is the
 * subcommand's name, then the flags above plus `--diag-seconds N`. Loads the endpoints, scrapes
 * them, prints each endpoint's view every --metrics-staleness-threshold and the EPP metrics page
 * at the end; runs until SIGINT/SIGTERM or for N seconds. Returns an exit status (0, or 2 for
 * bad flags or endpoints).
 */
int ig_epp_datalayer_main(int argc, char **argv);

/* ---- objectives and model rewrites (src/epp/objectives.c) ------------------------------------- */

/** An InferenceObjective: the value of header x-gateway-inference-objective -> priority (< 0: sheddable). */
struct ig_epp_objective {
    ig_iov_t name;
    int priority;  /* spec.priority; unset: 0 */
    uint32_t line; /* where it was declared */
};

struct ig_epp_rewrite_target {
    ig_iov_t model;  /* modelRewrite */
    uint32_t weight; /* 1..1000000; 0: not given (all unweighted: uniform) */
};

struct ig_epp_rewrite_rule {
    ig_iov_t *models; /* matches[].model.value (Exact); none: the rule matches every model */
    size_t n_models;
    struct ig_epp_rewrite_target *targets; /* at least one */
    size_t n_targets;
};

/** An InferenceModelRewrite; earlier in the file counts as older (the reference's tie-break). */
struct ig_epp_rewrite {
    ig_iov_t name;
    struct ig_epp_rewrite_rule *rules;
    size_t n_rules;
    uint32_t line;
};

/** A loaded objectives file; everything lives in |pool|. */
struct ig_epp_objectives {
    ig_pool_t pool;
    struct ig_epp_objective *objectives;
    size_t n_objectives;
    struct ig_epp_rewrite *rewrites;
    size_t n_rewrites;
};

void ig_epp_objectives_init(struct ig_epp_objectives *o);
void ig_epp_objectives_dispose(struct ig_epp_objectives *o);

/**
 * Loads InferenceObjective / InferenceModelRewrite resources (the CRDs' fields: metadata.name,
 * spec.priority, spec.poolRef, spec.rules[].matches[].model{type?, value}, spec.rules[].targets[]
 * {modelRewrite, weight?}) from YAML (one or more documents, each a resource, a list of them or a
 * `kind: List`) or JSON. Errors are "<name>:<line>:<col>: <message>". Returns 0 with |out| filled
 * (initialised by the caller), IG_EINVAL, or for the file variant -errno / IG_ETOOBIG.
 */
int ig_epp_objectives_load_string(const char *name, const char *text, size_t len, struct ig_epp_objectives *out,
                                  char *err, size_t errlen);
int ig_epp_objectives_load_file(const char *path, struct ig_epp_objectives *out, char *err, size_t errlen);

/** The priority of objective |name|; IG_ENOTFOUND when there is none (the request then has 0). */
int ig_epp_objectives_priority(const struct ig_epp_objectives *o, ig_iov_t name, int *priority);
/**
 * The rewrite of |model|: exact matches first, then catch-all rules, earlier resources and rules
 * first; the target is a weighted choice by |rnd|. Returns 0 with |*target| (and |*rewrite_name|
 * when not NULL) borrowed from |o|, or IG_ENOTFOUND.
 */
int ig_epp_objectives_rewrite(const struct ig_epp_objectives *o, ig_iov_t model, uint64_t rnd, ig_iov_t *target,
                              ig_iov_t *rewrite_name);

typedef struct ig_epp_objectives_source ig_epp_objectives_source_t;

/**
 * Loads |path| and keeps watching it as the endpoints file source does; a bad edit is logged and
 * the previous set kept. Returns the source, or NULL with |err| when the first load fails.
 */
ig_epp_objectives_source_t *ig_epp_objectives_source_start(uv_loop_t *loop, const char *path, char *err, size_t errlen);
/** The set in force (borrowed until the next return to the loop). */
const struct ig_epp_objectives *ig_epp_objectives_source_get(const ig_epp_objectives_source_t *src);
int ig_epp_objectives_source_reload(ig_epp_objectives_source_t *src);
/** Successful loads, and failed reloads, since start. */
uint64_t ig_epp_objectives_source_loads(const ig_epp_objectives_source_t *src);
uint64_t ig_epp_objectives_source_failures(const ig_epp_objectives_source_t *src);
/** Stops watching; memory goes once libuv has closed the handles. */
void ig_epp_objectives_source_stop(ig_epp_objectives_source_t *src);
/** ig_epp_objective_cb / ig_epp_rewrite_cb over a source (|arg|). */
int ig_epp_objectives_priority_cb(void *arg, ig_iov_t objective, int *priority);
int ig_epp_objectives_rewrite_cb(void *arg, ig_iov_t model, ig_iov_t *target, ig_iov_t *rewrite_name);

/* ---- ext_proc server (src/epp/server.c) -------------------------------------------------------- */

struct ig_grpc_server;

/**
 * Maps an InferenceObjective name (header x-gateway-inference-objective) to its priority. Returns
 * 0 with |*priority| set, or IG_ENOTFOUND (the request then has priority 0).
 */
typedef int (*ig_epp_objective_cb)(void *arg, ig_iov_t objective, int *priority);

/**
 * Maps a request's model to its rewrite target (InferenceModelRewrite), used when the request has
 * no x-gateway-model-name-rewrite header. Returns 0 with |*target| and |*rewrite_name| (borrowed
 * for the call), or IG_ENOTFOUND (the model is kept).
 */
typedef int (*ig_epp_rewrite_cb)(void *arg, ig_iov_t model, ig_iov_t *target, ig_iov_t *rewrite_name);

struct ig_epp_server_config {
    ig_epp_datastore_t *ds;        /* borrowed; the candidates */
    struct ig_sched *sched;        /* borrowed; used on the loop thread only */
    ig_metrics_t *metrics;         /* borrowed; request and scheduler metrics are registered here (NULL: none) */
    size_t max_body;               /* request body buffered per stream; 0: 64 MiB (larger: RESOURCE_EXHAUSTED) */
    ig_epp_objective_cb objective; /* NULL: every request has priority 0 */
    void *objective_arg;
    ig_epp_rewrite_cb rewrite; /* NULL: only the rewrite header */
    void *rewrite_arg;
    const char *pool_namespace; /* the scheduler attempts' namespace label (NULL: "") */
    uint64_t seed;              /* header-only requests' random pick; 0: from the clock */
};

typedef struct ig_epp_server ig_epp_server_t;

/** Creates the ext_proc service (one Process stream per HTTP request). Returns owned. */
ig_epp_server_t *ig_epp_server_create(const struct ig_epp_server_config *cfg);
/** Registers /envoy.service.ext_proc.v3.ExternalProcessor/Process on |g|. Returns 0 or IG_EEXIST. */
int ig_epp_server_register(ig_epp_server_t *es, struct ig_grpc_server *g);
/** Process streams currently open. */
size_t ig_epp_server_streams(const ig_epp_server_t *es);
/** Frees the service; call once its streams are closed (after draining the HTTP servers). */
void ig_epp_server_destroy(ig_epp_server_t *es);

/**
 * `infergate epp`: |argv[0]| is the subcommand's name, then the flags above. Serves ext_proc on
 * --grpc-port, grpc.health.v1 on --grpc-health-port and Prometheus on --metrics-port until
 * SIGTERM/SIGINT, which drains open streams. Returns an exit status (2: bad flags or config).
 */
int ig_epp_main(int argc, char **argv);

#endif
