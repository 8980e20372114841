/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench module internals: the pieces of `infergate bench` and the contracts between them.
 *
 *  - rng / dist (workload.c): a seeded generator and the length distributions;
 *  - workload (workload.c): deterministic prompt corpora (shared prefix, synthetic, multi-turn, LoRA mix);
 *  - sse (sse.c): an incremental Server-Sent Events parser and a scanner for OpenAI stream chunks;
 *  - samples (stats.c): bounded sample stores and exact percentiles;
 *  - driver (driver.c): the open- and closed-loop load on one libuv loop, per-stage results;
 *  - report (report.c, plot.c): the table, JSON, CSV, JSON merge and gnuplot output.
 *
 * Everything runs on one thread; nothing here is thread-safe.
 */
#ifndef IG_BENCH_INT_H
#define IG_BENCH_INT_H

#include <stdio.h>

#include "ig/bench.h"
#include "ig/core.h"
#include "ig/http.h"

/* ---- random numbers (xoshiro256**, seeded through splitmix64) ------------------------------- */

struct ig_bench_rng {
    uint64_t s[4];
};

void ig_bench__rng_seed(struct ig_bench_rng *r, uint64_t seed);
uint64_t ig_bench__rng_next(struct ig_bench_rng *r);
/** Uniform in [0, 1). */
double ig_bench__rng_unit(struct ig_bench_rng *r);
/** An exponential variate with the given rate (events per second): a Poisson process's gap, in seconds. */
double ig_bench__rng_exp(struct ig_bench_rng *r, double rate);
/** A standard normal variate (Box-Muller). */
double ig_bench__rng_normal(struct ig_bench_rng *r);
/** Mixes several values into one seed (for per-group / per-prompt generators). */
uint64_t ig_bench__seed_mix(uint64_t a, uint64_t b, uint64_t c);

/* ---- length distributions -------------------------------------------------------------------- */

enum ig_bench_dist_kind {
    IG_BENCH_DIST_FIXED = 0,
    IG_BENCH_DIST_UNIFORM,      /* integers in [min, max] */
    IG_BENCH_DIST_NORMAL,       /* N(mean, std) rounded, clamped to [min, max] */
    IG_BENCH_DIST_SHAREGPT_IN,  /* ShareGPT prompt lengths (benchmarks.md section 4) */
    IG_BENCH_DIST_SHAREGPT_OUT, /* ShareGPT completion lengths */
    IG_BENCH_DIST_COUNT
};

struct ig_bench_dist {
    int kind;
    double mean, std;
    uint32_t min, max;
    double scale; /* sharegpt: every length multiplied by this (0 means 1), for fleets scaled down */
};

/**
 * Parses "fixed:N", "uniform:MIN:MAX", "normal:MEAN:STD[:MIN:MAX]" or "sharegpt[:SCALE]" (|is_output|
 * picks the prompt or completion table; SCALE in (0, 100] multiplies every length, rounded, at
 * least 1). Lengths are tokens >= 1. Returns 0 or IG_EINVAL.
 */
int ig_bench__dist_parse(const char *text, int is_output, struct ig_bench_dist *out);
static inline struct ig_bench_dist ig_bench__dist_fixed(uint32_t n)
{
    return (struct ig_bench_dist){IG_BENCH_DIST_FIXED, (double)n, 0, n, n, 0};
}
/** One length in tokens (>= 1). */
uint32_t ig_bench__dist_sample(const struct ig_bench_dist *d, struct ig_bench_rng *r);
/** Writes a short description ("fixed:50", "sharegpt") into |buf|. */
void ig_bench__dist_format(const struct ig_bench_dist *d, char *buf, size_t size);

/* ---- workloads ------------------------------------------------------------------------------- */

/* Text is made of 4-byte words (" abc"): one word is one token at 4 characters per token. */
#define IG_BENCH_CHARS_PER_TOKEN 4
#define IG_BENCH_MAX_LORAS       64

enum ig_bench_workload_kind { IG_BENCH_WL_SHARED_PREFIX = 0, IG_BENCH_WL_SYNTHETIC, IG_BENCH_WL_COUNT };

enum ig_bench_api { IG_BENCH_API_COMPLETIONS = 0, IG_BENCH_API_CHAT, IG_BENCH_API_COUNT };

struct ig_bench_workload_config {
    int kind; /* enum ig_bench_workload_kind */
    int api;  /* enum ig_bench_api: the shape multi-turn history is kept in */
    uint64_t seed;
    /* shared_prefix */
    uint32_t num_groups, prompts_per_group, system_len;
    struct ig_bench_dist question; /* question length */
    int multi_turn;
    /* synthetic */
    struct ig_bench_dist input;
    /* both */
    struct ig_bench_dist output;
    const char *model;                      /* borrowed; NULL: requests carry no "model" */
    const char *loras[IG_BENCH_MAX_LORAS];  /* borrowed adapter names */
    double lora_shares[IG_BENCH_MAX_LORAS]; /* traffic shares; the base model gets 1 - sum */
    size_t num_loras;
    size_t max_history; /* multi-turn: history bytes kept per session */
};

/**
 * One request's content. Every slice is borrowed from the workload and valid until the next
 * ig_bench__workload_next or ig_bench__workload_answer call. Text needs no JSON escaping except
 * |history|, which is stored already escaped (completions) or as a messages fragment (chat).
 */
struct ig_bench_item {
    const char *model;
    uint32_t session; /* multi-turn session, or UINT32_MAX */
    ig_iov_t system;  /* shared prefix (may be empty) */
    ig_iov_t history; /* multi-turn: earlier turns */
    ig_iov_t question;
    uint32_t output_len;
    uint32_t input_tokens; /* system + history + question, at 4 characters per token */
};

struct ig_bench_workload;

/** Builds the corpus (shared prefixes and questions, shuffled once). Returns owned, or NULL for a bad config. */
struct ig_bench_workload *ig_bench__workload_create(const struct ig_bench_workload_config *cfg);
void ig_bench__workload_destroy(struct ig_bench_workload *w);
/** Distinct prompts before the order repeats (shared_prefix: groups x prompts; synthetic: 0 = unbounded). */
size_t ig_bench__workload_corpus_size(const struct ig_bench_workload *w);
/** The next request: corpus entries in their shuffled order, cycled. */
void ig_bench__workload_next(struct ig_bench_workload *w, struct ig_bench_item *out);
/**
 * Multi-turn: appends a finished turn to |session|'s history: |question| (plain) and |answer|
 * (JSON-escaped, as it appeared in the stream). Ignored when history would exceed max_history.
 */
void ig_bench__workload_answer(struct ig_bench_workload *w, uint32_t session, ig_iov_t question, ig_iov_t answer);
/** Appends |n| tokens of deterministic words drawn from |r| to |b|. Returns 0 or IG_ETOOBIG. */
int ig_bench__words(ig_buf_t *b, struct ig_bench_rng *r, uint32_t n);

/* ---- SSE ------------------------------------------------------------------------------------- */

/* Called once per complete event with its data (data lines joined by "\n"); valid during the call. */
typedef void (*ig_bench_sse_cb)(void *arg, const char *data, size_t len);

struct ig_bench_sse {
    ig_buf_t line; /* a line split across reads */
    ig_buf_t data; /* the current event's data */
    int has_data;
    int skip_lf; /* the last line ended with CR: a following LF belongs to it */
};

/** |max| bounds a line and an event's data. */
void ig_bench__sse_init(struct ig_bench_sse *p, size_t max);
void ig_bench__sse_dispose(struct ig_bench_sse *p);
/**
 * Feeds bytes; events are dispatched through |cb| as their blank line arrives. Lines end with
 * CRLF, LF or CR, anywhere across calls. Returns 0, or IG_ETOOBIG when a line or an event exceeds max.
 */
int ig_bench__sse_feed(struct ig_bench_sse *p, const char *in, size_t len, ig_bench_sse_cb cb, void *arg);

/** What one OpenAI stream chunk says, found by a scanner (no tree is built). */
struct ig_bench_chunk {
    int done;      /* "[DONE]" */
    int error;     /* an "error" member */
    int has_text;  /* a string "text" or "content" member */
    ig_iov_t text; /* its raw, still-escaped bytes (slice of the event data) */
    int has_usage; /* a "usage" object */
    uint64_t prompt_tokens, completion_tokens, cached_tokens;
};

void ig_bench__chunk_scan(const char *data, size_t len, struct ig_bench_chunk *out);

/* ---- samples and percentiles ----------------------------------------------------------------- */

struct ig_bench_samples {
    double *v;
    size_t len, cap; /* stored samples; cap bounds memory (reservoir sampling beyond it) */
    uint64_t seen;
    double sum, min, max;
    struct ig_bench_rng rng;
};

struct ig_bench_summary {
    uint64_t count;
    double mean, p50, p90, p99, min, max;
};

void ig_bench__samples_init(struct ig_bench_samples *s, size_t cap, uint64_t seed);
void ig_bench__samples_dispose(struct ig_bench_samples *s);
void ig_bench__samples_add(struct ig_bench_samples *s, double x);
/** Count, mean, min and max over every sample seen; percentiles over those stored. Sorts |s->v|. */
void ig_bench__samples_summary(struct ig_bench_samples *s, struct ig_bench_summary *out);
/** The |p|-th percentile (0..100) of sorted |v| by linear interpolation between closest ranks. */
double ig_bench__percentile(const double *v, size_t n, double p);

/* ---- results --------------------------------------------------------------------------------- */

#define IG_BENCH_MAX_KEYS 64 /* distinct replica ids / failure kinds kept per stage; more count as "other" */

struct ig_bench_count {
    char *name; /* owned */
    uint64_t n;
};

enum ig_bench_stage_mode { IG_BENCH_MODE_RATE = 0, IG_BENCH_MODE_CONCURRENCY, IG_BENCH_MODE_COUNT };

struct ig_bench_stage {
    /* what was asked */
    int mode;
    double rate;          /* requests/s (rate mode) */
    uint32_t concurrency; /* concurrency mode */
    double duration_s;    /* 0: until |max_requests| */
    uint64_t max_requests;
    /* what happened */
    double elapsed_s; /* stage start to the last completion of its requests (at least the send window) */
    uint64_t sent, succeeded, failed;
    uint64_t input_tokens, output_tokens, cached_tokens;
    double rps, in_tps, out_tps;
    struct ig_bench_summary ttft, tpot, ntpot, itl, e2e; /* milliseconds */
    struct ig_bench_count *replicas;
    size_t nreplicas;
    struct ig_bench_count *failures;
    size_t nfailures;
};

struct ig_bench_arm {
    char *label;  /* owned */
    char *target; /* owned: URL benchmarked */
    char *config; /* owned: JSON object text describing the run (may be NULL) */
    struct ig_bench_stage *stages;
    size_t nstages;
};

/** Adds |k| to the entry |name| of a count list (at most IG_BENCH_MAX_KEYS entries, then "other"). */
void ig_bench__count_add(struct ig_bench_count **v, size_t *n, const char *name, size_t namelen, uint64_t k);
void ig_bench__arm_dispose(struct ig_bench_arm *arm);
/** The x value of a stage in plots: the offered rate, or the achieved req/s of a concurrency stage. */
double ig_bench__stage_x(const struct ig_bench_stage *st);

/* ---- driver ---------------------------------------------------------------------------------- */

struct ig_bench_stage_spec {
    int mode;
    double rate;
    uint32_t concurrency;
    double duration_s;
    uint64_t requests;
};

enum ig_bench_arrival { IG_BENCH_ARRIVAL_POISSON = 0, IG_BENCH_ARRIVAL_CONSTANT, IG_BENCH_ARRIVAL_COUNT };

enum ig_bench_progress {
    IG_BENCH_PROGRESS_AUTO = 0, /* a live line on a tty, else a line every 5 s */
    IG_BENCH_PROGRESS_OFF,
    IG_BENCH_PROGRESS_COUNT
};

#define IG_BENCH_MAX_TARGETS 64

/* One target server. Several targets are used in strict rotation (a client-side round robin). */
struct ig_bench_target {
    struct sockaddr_storage addr;
    const char *authority; /* host:port for Host / :authority; borrowed */
    const char *base_path; /* URL path prefix ("" or "/prefix"); borrowed */
};

struct ig_bench_run_config {
    const struct ig_bench_target *targets; /* request i goes to targets[i % ntargets]; borrowed */
    size_t ntargets;                       /* 1..IG_BENCH_MAX_TARGETS */
    int http_version;                      /* IG_HTTP_11 or IG_HTTP_2 */
    int api;                               /* enum ig_bench_api */
    int stream;
    int ignore_eos;
    int arrival;
    const struct ig_bench_stage_spec *stages;
    size_t nstages;
    uint64_t timeout_ms;   /* per request */
    uint32_t max_inflight; /* open loop: arrivals beyond it fail as "inflight_limit" */
    size_t max_samples;    /* per metric per stage */
    uint64_t seed;
    const ig_http_header_t *headers; /* extra request headers; borrowed */
    size_t nheaders;
    int progress;
};

/**
 * Runs every stage against the target with |w|'s requests and fills |out->stages| (owned by
 * |out|). SIGINT/SIGTERM end the run early; the stages so far are reported. Returns 0, or
 * IG_ECANCELED when interrupted (results are still valid), or IG_EINVAL.
 */
int ig_bench__run(const struct ig_bench_run_config *cfg, struct ig_bench_workload *w, struct ig_bench_arm *out);

/* ---- reports --------------------------------------------------------------------------------- */

/** The human-readable table of every arm's stages. */
void ig_bench__report_table(FILE *out, const struct ig_bench_arm *arms, size_t n);
/** Writes |arm| as JSON to |path|. Returns 0 or -errno / IG_EINVAL. */
int ig_bench__report_json(const char *path, const struct ig_bench_arm *arm);
/** Writes one CSV row per stage of every arm to |path|. Returns 0 or -errno. */
int ig_bench__report_csv(const char *path, const struct ig_bench_arm *arms, size_t n);
/** Reads a file written by ig_bench__report_json into |out|. Returns 0 or IG_EINVAL (message in |err|). */
int ig_bench__report_load(const char *path, struct ig_bench_arm *out, char *err, size_t errlen);
/**
 * Writes PREFIX.gp and PREFIX-<arm>.dat; when |render| and gnuplot is on PATH, runs it to make
 * PREFIX.png and PREFIX.svg. Returns 0, 1 when gnuplot is missing (script written), or -errno.
 */
int ig_bench__plot(const char *prefix, const struct ig_bench_arm *arms, size_t n, int render);

#endif
