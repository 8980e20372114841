/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched module internals: plugin ops tables, the static registry (registry.c), plugin instances,
 * the prefix index (prefix.c) and the scheduler object (sched.c).
 */
#ifndef IG_SCHED_INT_H
#define IG_SCHED_INT_H

#include <stdint.h>

#include "ig/sched.h"

struct ig_sched_plugin;

/** What a plugin type can act as (a saturation detector is also a filter). */
enum ig_sched_kind {
    IG_SCHED_FILTER = 1u << 0,
    IG_SCHED_SCORER = 1u << 1,
    IG_SCHED_PICKER = 1u << 2,
    IG_SCHED_PROFILE_HANDLER = 1u << 3,
    IG_SCHED_PRODUCER = 1u << 4,
    IG_SCHED_DETECTOR = 1u << 5,
    IG_SCHED_PARSER = 1u << 6,
    IG_SCHED_OTHER = 1u << 7, /* data layer, flow control, reporters: configured here, run by the EPP */
};

struct ig_sched_scored {
    struct ig_sched_endpoint *ep;
    double score;
};

/** Keeps endpoints of |in| into |out| (room for |n|), in order; returns the count kept. */
struct ig_sched_filter_ops {
    const char *name;
    size_t (*filter)(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy, struct ig_sched_endpoint *const *in,
                     size_t n, struct ig_sched_endpoint **out);
};

enum ig_sched_category {
    IG_SCHED_CAT_DISTRIBUTION = 0,
    IG_SCHED_CAT_AFFINITY,
};

/** Writes one score per endpoint into |scores| (clamped to [0,1] by the caller). */
struct ig_sched_scorer_ops {
    const char *name;
    enum ig_sched_category category;
    void (*score)(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy, struct ig_sched_endpoint *const *eps,
                  size_t n, double *scores);
};

/** Chooses up to |max| endpoints, best first, into |out|; may reorder |sc|. Returns the count. */
struct ig_sched_picker_ops {
    const char *name;
    size_t (*pick)(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy, struct ig_sched_scored *sc, size_t n,
                   struct ig_sched_pick *out, size_t max);
};

/** Data producers: PrepareData before the profiles, PreRequest after the pick. */
struct ig_sched_producer_ops {
    const char *name;
    void (*prepare)(struct ig_sched_plugin *p, struct ig_sched_cycle *cy, struct ig_sched_endpoint *const *eps,
                    size_t n);
    void (*pre_request)(struct ig_sched_plugin *p, struct ig_sched_cycle *cy);
};

struct ig_sched_detector_ops {
    const char *name;
    double (*saturation)(const struct ig_sched_plugin *p, struct ig_sched_endpoint *const *eps, size_t n,
                         uint64_t now_ns);
};

/** Profile handlers choose which profiles run; the only in-tree one runs the single profile. */
struct ig_sched_profile_handler_ops {
    const char *name;
    size_t max_profiles;
};

enum ig_sched_param_kind {
    IG_SP_INT = 0,
    IG_SP_FLOAT,
    IG_SP_BOOL,
    IG_SP_STRING,
    IG_SP_DURATION,
    IG_SP_CONC_MODE,             /* "requests" | "tokens" */
    IG_SP_DEPRECATED_BLOCK_SIZE, /* `blockSize` (characters): needs blockSizeTokens */
    IG_SP_KIND_COUNT
};

struct ig_sched_param_desc {
    const char *key;
    enum ig_sched_param_kind kind;
    size_t offset; /* into struct ig_sched_params */
    double min, max;
};

struct ig_sched_plugin_type {
    const char *type;
    unsigned kinds;
    const struct ig_sched_param_desc *params;
    size_t n_params;
    int any_params;    /* parameters are the EPP's business (data layer): accepted unchecked */
    const char *needs; /* a producer type the loader adds when missing */
    void (*defaults)(struct ig_sched_params *prm);
    int (*init)(struct ig_sched_plugin *p, char *err, size_t errlen);
    void (*destroy)(struct ig_sched_plugin *p);
    const struct ig_sched_filter_ops *filter;
    const struct ig_sched_scorer_ops *scorer;
    const struct ig_sched_picker_ops *picker;
    const struct ig_sched_producer_ops *producer;
    const struct ig_sched_detector_ops *detector;
    const struct ig_sched_profile_handler_ops *profile_handler;
};

/** Looks a type up in the static registry; NULL when unknown. */
const struct ig_sched_plugin_type *ig_sched__type_find(ig_iov_t name);
/** Every registered type, for docs and tests. */
const struct ig_sched_plugin_type *ig_sched__types(size_t *n);

/** A plugin instance of a scheduler. */
struct ig_sched_plugin {
    const struct ig_epc_plugin *cfg; /* name, type, params */
    const struct ig_sched_plugin_type *t;
    struct ig_sched *sched;
    void *state;
};

struct ig_sched_wscorer {
    struct ig_sched_plugin *p;
    double weight;
};

struct ig_sched_profile {
    const char *name;
    struct ig_sched_plugin **filters;
    size_t n_filters;
    struct ig_sched_wscorer *scorers;
    size_t n_scorers;
    struct ig_sched_plugin *picker;
};

struct ig_sched {
    const struct ig_epc *cfg;
    ig_pool_t pool;                  /* instances and profile arrays */
    struct ig_sched_plugin *plugins; /* one per cfg->plugins entry */
    size_t n_plugins;
    struct ig_sched_profile *profiles;
    size_t n_profiles;
    struct ig_sched_plugin *detector;
    struct ig_sched_plugin *prefix; /* the approx-prefix-cache-producer, if any */
    uint64_t rng;
    uint64_t seq;
    /* Per-cycle arrays, grown to the largest candidate count seen and reused, so a cycle does not
     * allocate: candidates x2, totals, one scorer's scores, scored pairs, picker keys. */
    void *scratch;
    size_t scratch_n;
    double *keys;              /* n doubles for the weighted-random picker */
    ig_sched_timing_cb timing; /* plugin durations (NULL: not measured) */
    void *timing_arg;
};

/* Random numbers (xorshift64*): pickers' shuffles and tie-breaks. */
uint64_t ig_sched__rand(struct ig_sched *s);
/** Uniform in (0, 1]. */
double ig_sched__rand_unit(struct ig_sched *s);

/* ---- prefix index (prefix.c) -------------------------------------------------------------------- */

struct ig_prefix_index;
struct ig_prefix_index *ig_prefix_index_create(void);
void ig_prefix_index_destroy(struct ig_prefix_index *ix);
/** Records |hashes| for server |id| with an LRU of |capacity| entries (most recent last in |hashes|). */
void ig_prefix_index_add(struct ig_prefix_index *ix, uint32_t id, int64_t capacity, const uint64_t *hashes, size_t n);
/**
 * Walks |hashes| in order, stopping at the first one no server holds; every server holding a
 * hash gains one match, stamped with |seq|. Returns the number of hashes matched by anyone.
 */
size_t ig_prefix_index_match(struct ig_prefix_index *ix, const uint64_t *hashes, size_t n, uint64_t seq);
/** The match count of |id| for the walk stamped |seq| (0 when it matched nothing). */
uint32_t ig_prefix_index_matched(const struct ig_prefix_index *ix, uint32_t id, uint64_t seq);
void ig_prefix_index_forget(struct ig_prefix_index *ix, uint32_t id);
size_t ig_prefix_index_size(const struct ig_prefix_index *ix);

/**
 * The request's block hashes (reference approx-prefix-cache-producer): h0 = xxh64(model || salt),
 * h_i = xxh64(block_i || LE64(h_{i-1})), trailing partial block included, text cut at
 * |max_blocks| blocks of |block_chars|. Returns the number of hashes (0 below one block).
 */
size_t ig_prefix_hashes(ig_iov_t model, ig_iov_t salt, const ig_iov_t *spans, size_t n_spans, size_t block_chars,
                        size_t max_blocks, uint64_t *out);

/* Ops tables and hooks defined outside registry.c. */
extern const struct ig_sched_producer_ops ig_sched__prefix_producer_ops;
extern const struct ig_sched_scorer_ops ig_sched__prefix_scorer_ops;
int ig_sched__prefix_init(struct ig_sched_plugin *p, char *err, size_t errlen);
void ig_sched__prefix_destroy(struct ig_sched_plugin *p);

#endif
