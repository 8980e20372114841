/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Module-private contract of sim/: the engine (a pure, I/O-free model of a vLLM server: continuous
 * batching, a paged KV cache with prefix caching, LoRA slots, a latency model) and the HTTP front
 * (OpenAI API, SSE, /metrics) that drives it from a libuv timer.
 *
 * The engine advances in steps, like vLLM's scheduler loop: each step admits waiting requests
 * (FIFO) while there is a free sequence slot, enough free KV blocks for the uncached part of the
 * prompt, and a LoRA slot; prefills the newly admitted ones; and decodes one token for every
 * running sequence. A step's duration is the latency model:
 *
 *   step = (any prefill ? prefill_overhead : 0) + prefill_per_token * uncached prompt tokens
 *        + decode_base + decode_per_seq * running sequences
 *
 * so time to first token grows with the queue and with other prefills in the same step, and
 * inter-token latency grows with the batch size. Tokens are counted from text: one token per 4
 * bytes, rounded up (IG_SIM_CHARS_PER_TOKEN).
 */
#ifndef IG_SIM_INT_H
#define IG_SIM_INT_H

#include <stdint.h>

#include "ig/core.h"

#define IG_SIM_CHARS_PER_TOKEN 4
#define IG_SIM_MAX_LORAS       64

enum ig_sim_flavor {
    IG_SIM_FLAVOR_VLLM = 0,
    IG_SIM_FLAVOR_SGLANG,
};

struct ig_sim_config {
    const char *model; /* served model name */
    const char *lora_names[IG_SIM_MAX_LORAS];
    size_t num_loras;          /* adapters known (--lora-modules) */
    uint32_t max_loras;        /* adapters resident at once (--max-loras), default 1 */
    uint32_t max_num_seqs;     /* running sequences (--max-num-seqs), default 256 */
    uint32_t block_size;       /* tokens per KV block (--block-size), default 16 */
    uint32_t kv_cache_blocks;  /* total KV blocks (--kv-cache-blocks), default 8192 */
    uint32_t max_model_len;    /* prompt + output tokens (--max-model-len), default 32768 */
    int enable_prefix_caching; /* default 1 */
    /* latency model, microseconds */
    uint64_t prefill_overhead_us;  /* default 2000 */
    uint64_t prefill_per_token_us; /* default 20 (prompt tokens not found in the cache) */
    uint64_t decode_base_us;       /* default 10000 */
    uint64_t decode_per_seq_us;    /* default 100 */
    uint64_t lora_load_us;         /* loading an adapter into a free slot, default 0 */
};

/** Fills |cfg| with the defaults above. */
void ig_sim_config_defaults(struct ig_sim_config *cfg);

struct ig_sim_engine;
struct ig_sim_req;

/**
 * Engine events for one request. on_token runs once per generated token, in order; |last| is set
 * on the final one (max_tokens reached), after which the engine no longer references |r|.
 */
typedef void (*ig_sim_token_cb)(struct ig_sim_req *r, uint32_t index, int last);

struct ig_sim_req {
    /* in: set by the caller before submit */
    const char *prompt; /* text used for token counting and prefix hashing; borrowed until submit returns */
    size_t prompt_len;
    uint32_t max_tokens; /* tokens to generate, >= 1 */
    int lora;            /* index into cfg->lora_names, or -1 for the base model */
    ig_sim_token_cb on_token;
    void *data;
    /* out: filled by the engine */
    uint32_t prompt_tokens;
    uint32_t cached_tokens; /* prompt tokens served from the prefix cache */
    uint32_t generated;
    uint64_t arrival_us, first_token_us, finish_us; /* engine clock */
    /* private */
    ig_list_t _link;
    uint64_t *_hashes; /* one chained hash per full prompt block */
    uint32_t _nhashes;
    uint32_t *_blocks; /* KV block ids held */
    uint32_t _nblocks, _capblocks;
    int _state;
};

/** Returns a new engine (owned by the caller). |cfg| is copied (strings borrowed for the engine's life). */
struct ig_sim_engine *ig_sim_engine_create(const struct ig_sim_config *cfg);
void ig_sim_engine_destroy(struct ig_sim_engine *e);

/**
 * Queues |r| at engine time |now_us|. Returns 0, or IG_EINVAL when the prompt plus max_tokens
 * exceed max_model_len or need more KV blocks than the cache has (the caller answers 400).
 */
int ig_sim_engine_submit(struct ig_sim_engine *e, struct ig_sim_req *r, uint64_t now_us);
/** Removes |r| (client gone): frees its blocks and slot; no further callbacks. */
void ig_sim_engine_cancel(struct ig_sim_engine *e, struct ig_sim_req *r);

/**
 * Runs one step that starts at |now_us|: admission, prefill, and one decode token per running
 * sequence. Token callbacks for this step fire at the step's end, so the driver calls
 * ig_sim_engine_step, waits the returned duration, then calls ig_sim_engine_finish_step(now).
 * Returns the step's duration in microseconds, or UINT64_MAX when there is nothing to run.
 */
uint64_t ig_sim_engine_step(struct ig_sim_engine *e, uint64_t now_us);
void ig_sim_engine_finish_step(struct ig_sim_engine *e, uint64_t now_us);

/** Live state for /metrics and tests. */
struct ig_sim_stats {
    uint32_t running, waiting;
    uint32_t blocks_total, blocks_used; /* used: held by a running or waiting-admitted request */
    uint32_t blocks_cached;             /* free blocks still holding a reusable prefix */
    uint64_t prefix_queries_tokens, prefix_hits_tokens;
    uint64_t prompt_tokens_total, generation_tokens_total;
    uint64_t requests_finished;
    /* adapters of running / waiting requests, as indices into cfg->lora_names */
    uint32_t running_loras[IG_SIM_MAX_LORAS], num_running_loras;
    uint32_t waiting_loras[IG_SIM_MAX_LORAS], num_waiting_loras;
};
void ig_sim_engine_stats(const struct ig_sim_engine *e, struct ig_sim_stats *out);
const struct ig_sim_config *ig_sim_engine_config(const struct ig_sim_engine *e);

/** Number of tokens in |len| bytes of text. */
static inline uint32_t ig_sim_tokens(size_t len)
{
    return (uint32_t)((len + IG_SIM_CHARS_PER_TOKEN - 1) / IG_SIM_CHARS_PER_TOKEN);
}

#endif
