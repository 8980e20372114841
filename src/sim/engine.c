/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulator's engine: a pure, I/O-free model of a vLLM server's scheduler loop (continuous
 * batching over a FIFO waiting queue, a paged KV cache with prefix caching, LoRA slots) and its
 * latency model, advanced by the caller one step at a time on its own clock (see sim_int.h).
 *
 * Scheduling rules of a step, in order (vLLM v1 schedules running requests before waiting ones):
 *   1. Every running request needs room for its next token: a new KV block every block_size
 *      tokens. When no block can be had it stalls for this step (no token, no decode cost) and
 *      retries next step; vLLM would preempt instead. Only when every running request is stalled
 *      (nobody could ever finish and free a block) is the most recently admitted one preempted:
 *      its blocks are released and it returns to the front of the waiting queue, keeping the
 *      tokens already sent; its re-admission recomputes prompt + generated tokens.
 *   2. Waiting requests are admitted in FIFO order while a sequence slot is free and the free
 *      blocks (blank + cached, minus the cached ones it will reuse) cover its uncached blocks plus
 *      room for its first output token. A request that does not fit stops admission for everyone
 *      behind it (FIFO head-of-line blocking, as vLLM). The exception is LoRA, as in vLLM's
 *      scheduler: a request whose adapter is not resident while all max_loras slots are taken is
 *      skipped (it keeps its place) and the requests behind it are still considered, so
 *      base-model requests and requests for resident adapters proceed.
 *   3. The step's batch is every running request that got room plus the newly admitted ones;
 *      each produces one token when the step finishes. "running sequences" in the latency formula
 *      is this batch size; lora_load_us is added once per adapter that took a free slot.
 *
 * Prefix caching: full prompt blocks are hashed at submit in a chain seeded by the model name or
 * the adapter name (different adapters never share blocks). On admission the longest cached
 * prefix is reused (hits counted in tokens, whole blocks only, so a repeated prompt hits all its
 * full blocks), the rest allocated and indexed. Only prompt blocks are hashed; blocks of
 * generated tokens return blank when released.
 *
 * Memory: the batch array is sized at create (max_num_seqs); each request gets its hash and
 * block arrays at submit, sized for its whole life, freed when it finishes or is cancelled. A
 * step allocates nothing.
 */
#include "sim_int.h"

#include <xxhash.h>

#include "sim_kv.h"

enum {
    REQ_IDLE = 0, /* not known to the engine (new, finished or cancelled) */
    REQ_WAITING,
    REQ_RUNNING,
};
#define REQ_STATE_MASK 0xff
#define REQ_F_TOKEN    0x100 /* in the current step's batch */
#define REQ_F_ADMITTED 0x200 /* was admitted at least once (counts its prompt tokens once) */

struct ig_sim_engine {
    struct ig_sim_config cfg;
    struct ig_sim_kv *kv;
    ig_list_t waiting; /* FIFO; preempted requests go back to the front */
    ig_list_t running; /* admission order */
    uint32_t nwaiting, nrunning;
    /* requests per adapter; an adapter is resident while it has running requests */
    uint32_t lora_running[IG_SIM_MAX_LORAS];
    uint32_t lora_waiting[IG_SIM_MAX_LORAS];
    uint32_t nresident;
    uint64_t seed_model;
    uint64_t seed_lora[IG_SIM_MAX_LORAS];
    /* the batch between step and finish_step; cancelled entries are set to NULL */
    struct ig_sim_req **batch;
    uint32_t nbatch;
    int in_step;
    uint64_t prefix_queries_tokens, prefix_hits_tokens;
    uint64_t prompt_tokens_total, generation_tokens_total;
    uint64_t requests_finished;
};

void ig_sim_config_defaults(struct ig_sim_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->model = "sim-model";
    cfg->max_loras = 1;
    cfg->max_num_seqs = 256;
    cfg->block_size = 16;
    cfg->kv_cache_blocks = 8192;
    cfg->max_model_len = 32768;
    cfg->enable_prefix_caching = 1;
    cfg->prefill_overhead_us = 2000;
    cfg->prefill_per_token_us = 20;
    cfg->decode_base_us = 10000;
    cfg->decode_per_seq_us = 100;
    cfg->lora_load_us = 0;
}

static uint64_t name_seed(const char *name, uint64_t domain)
{
    /* The domain keeps a base model and an adapter of the same name apart. */
    if (name == NULL)
        name = "";
    return XXH64(name, strlen(name), domain);
}

/*
 * Returns NULL for a configuration the engine cannot run: block_size, kv_cache_blocks or
 * max_num_seqs of 0, or more than IG_SIM_MAX_LORAS adapters.
 */
struct ig_sim_engine *ig_sim_engine_create(const struct ig_sim_config *cfg)
{
    if (cfg->block_size == 0 || cfg->kv_cache_blocks == 0 || cfg->max_num_seqs == 0 ||
        cfg->num_loras > IG_SIM_MAX_LORAS)
        return NULL;
    struct ig_sim_engine *e = ig_calloc(1, sizeof(*e));
    e->cfg = *cfg;
    e->kv = ig_sim__kv_create(cfg->kv_cache_blocks, cfg->enable_prefix_caching);
    ig_list_init(&e->waiting);
    ig_list_init(&e->running);
    e->seed_model = name_seed(cfg->model, 0);
    for (size_t i = 0; i < cfg->num_loras; i++)
        e->seed_lora[i] = name_seed(cfg->lora_names[i], 1);
    e->batch = ig_calloc(cfg->max_num_seqs, sizeof(*e->batch));
    return e;
}

static void req_free_arrays(struct ig_sim_req *r)
{
    ig_free(r->_hashes);
    ig_free(r->_blocks);
    r->_hashes = NULL;
    r->_blocks = NULL;
    r->_nhashes = r->_nblocks = r->_capblocks = 0;
}

void ig_sim_engine_destroy(struct ig_sim_engine *e)
{
    if (e == NULL)
        return;
    ig_list_t *pos, *tmp;
    ig_list_foreach_safe(pos, tmp, &e->waiting)
    {
        struct ig_sim_req *r = IG_CONTAINER_OF(pos, struct ig_sim_req, _link);
        ig_list_remove(pos);
        req_free_arrays(r);
        r->_state = REQ_IDLE;
    }
    ig_list_foreach_safe(pos, tmp, &e->running)
    {
        struct ig_sim_req *r = IG_CONTAINER_OF(pos, struct ig_sim_req, _link);
        ig_list_remove(pos);
        req_free_arrays(r);
        r->_state = REQ_IDLE;
    }
    ig_sim__kv_destroy(e->kv);
    ig_free(e->batch);
    ig_free(e);
}

const struct ig_sim_config *ig_sim_engine_config(const struct ig_sim_engine *e)
{
    return &e->cfg;
}

static uint32_t blocks_for(const struct ig_sim_engine *e, uint64_t tokens)
{
    return (uint32_t)((tokens + e->cfg.block_size - 1) / e->cfg.block_size);
}

/* Tokens whose KV the request holds once its next token is produced. */
static uint64_t next_len(const struct ig_sim_req *r)
{
    return (uint64_t)r->prompt_tokens + r->generated + 1;
}

int ig_sim_engine_submit(struct ig_sim_engine *e, struct ig_sim_req *r, uint64_t now_us)
{
    const struct ig_sim_config *c = &e->cfg;
    if (r->max_tokens < 1 || r->lora < -1 || (r->lora >= 0 && (size_t)r->lora >= c->num_loras) ||
        (r->lora >= 0 && c->max_loras == 0) || (r->prompt == NULL && r->prompt_len > 0))
        return IG_EINVAL;
    uint64_t ptok = ((uint64_t)r->prompt_len + IG_SIM_CHARS_PER_TOKEN - 1) / IG_SIM_CHARS_PER_TOKEN;
    uint64_t total = ptok + r->max_tokens;
    if (total > c->max_model_len || total > (uint64_t)c->kv_cache_blocks * c->block_size)
        return IG_EINVAL;

    r->prompt_tokens = (uint32_t)ptok;
    r->cached_tokens = 0;
    r->generated = 0;
    r->arrival_us = now_us;
    r->first_token_us = r->finish_us = 0;
    r->_nhashes = c->enable_prefix_caching ? r->prompt_tokens / c->block_size : 0;
    r->_hashes = r->_nhashes > 0 ? ig_malloc(r->_nhashes * sizeof(*r->_hashes)) : NULL;
    r->_capblocks = blocks_for(e, total);
    r->_blocks = ig_malloc(r->_capblocks * sizeof(*r->_blocks));
    r->_nblocks = 0;

    /* hash_i = XXH64(block i's bytes, seed = hash_{i-1}); a full token block may end short of 4 bytes. */
    uint64_t seed = r->lora >= 0 ? e->seed_lora[r->lora] : e->seed_model;
    size_t span = (size_t)c->block_size * IG_SIM_CHARS_PER_TOKEN;
    for (uint32_t i = 0; i < r->_nhashes; i++) {
        size_t off = (size_t)i * span;
        size_t len = IG_MIN(span, r->prompt_len - off);
        seed = XXH64(r->prompt + off, len, seed);
        r->_hashes[i] = seed;
    }

    r->_state = REQ_WAITING;
    ig_list_push_back(&e->waiting, &r->_link);
    e->nwaiting++;
    if (r->lora >= 0)
        e->lora_waiting[r->lora]++;
    return 0;
}

static int lora_blocked(const struct ig_sim_engine *e, const struct ig_sim_req *r)
{
    return r->lora >= 0 && e->lora_running[r->lora] == 0 && e->nresident >= e->cfg.max_loras;
}

static void release_blocks(struct ig_sim_engine *e, struct ig_sim_req *r)
{
    ig_sim__kv_release(e->kv, r->_blocks, r->_nblocks);
    r->_nblocks = 0;
}

/* Leaves the running set (finish, cancel, preemption): blocks back to the cache, adapter slot. */
static void unrun(struct ig_sim_engine *e, struct ig_sim_req *r)
{
    ig_list_remove(&r->_link);
    e->nrunning--;
    release_blocks(e, r);
    if (r->lora >= 0 && --e->lora_running[r->lora] == 0)
        e->nresident--;
}

static void unwait(struct ig_sim_engine *e, struct ig_sim_req *r)
{
    ig_list_remove(&r->_link);
    e->nwaiting--;
    if (r->lora >= 0)
        e->lora_waiting[r->lora]--;
}

/* Makes room for the request's next token. Returns 0, or IG_EAGAIN when the cache is exhausted. */
static int grow(struct ig_sim_engine *e, struct ig_sim_req *r)
{
    uint32_t need = blocks_for(e, next_len(r));
    IG_DASSERT(need <= r->_capblocks);
    while (r->_nblocks < need) {
        if (ig_sim__kv_alloc(e->kv, &r->_blocks[r->_nblocks]) != 0)
            return IG_EAGAIN;
        r->_nblocks++;
    }
    return 0;
}

static void batch_add(struct ig_sim_engine *e, struct ig_sim_req *r)
{
    IG_ASSERT(e->nbatch < e->cfg.max_num_seqs);
    e->batch[e->nbatch++] = r;
    r->_state |= REQ_F_TOKEN;
}

/* Step 1 of the header comment: room for every running request, preempting only on deadlock. */
static void schedule_running(struct ig_sim_engine *e)
{
    for (;;) {
        ig_list_t *pos;
        ig_list_foreach(pos, &e->running)
        {
            struct ig_sim_req *r = IG_CONTAINER_OF(pos, struct ig_sim_req, _link);
            if (!(r->_state & REQ_F_TOKEN) && grow(e, r) == 0)
                batch_add(e, r);
        }
        if (e->nbatch > 0 || e->nrunning <= 1)
            return;
        /* Everyone is stalled: nobody will free a block. Preempt the newest, as vLLM does. */
        struct ig_sim_req *victim = IG_CONTAINER_OF(e->running.prev, struct ig_sim_req, _link);
        unrun(e, victim);
        victim->_state = REQ_WAITING | (victim->_state & REQ_F_ADMITTED);
        ig_list_push_front(&e->waiting, &victim->_link);
        e->nwaiting++;
        if (victim->lora >= 0)
            e->lora_waiting[victim->lora]++;
    }
}

/*
 * Admits |r| if it fits: writes its prefill (uncached) tokens to |*prefill| and whether its
 * adapter took a free slot to |*loaded|. Returns 0, or IG_EAGAIN when the KV cache cannot hold it.
 */
static int admit(struct ig_sim_engine *e, struct ig_sim_req *r, uint64_t *prefill, int *loaded)
{
    uint32_t idle;
    uint32_t hit = ig_sim__kv_match(e->kv, r->_hashes, r->_nhashes, &idle);
    uint32_t need = blocks_for(e, next_len(r));
    IG_DASSERT(hit <= need);
    if (need - hit > ig_sim__kv_available(e->kv) - idle)
        return IG_EAGAIN;

    unwait(e, r);
    ig_sim__kv_acquire(e->kv, r->_hashes, hit, r->_blocks);
    r->_nblocks = hit;
    while (r->_nblocks < need) {
        int rc = ig_sim__kv_alloc(e->kv, &r->_blocks[r->_nblocks]);
        IG_ASSERT(rc == 0);
        if (r->_nblocks < r->_nhashes)
            ig_sim__kv_set_hash(e->kv, r->_blocks[r->_nblocks], r->_hashes[r->_nblocks]);
        r->_nblocks++;
    }

    uint32_t cached = hit * e->cfg.block_size;
    r->cached_tokens = cached;
    e->prefix_queries_tokens += r->prompt_tokens;
    e->prefix_hits_tokens += cached;
    if (!(r->_state & REQ_F_ADMITTED))
        e->prompt_tokens_total += r->prompt_tokens;
    /* A preempted request recomputes its generated tokens too. */
    *prefill = (uint64_t)r->prompt_tokens + r->generated - cached;

    *loaded = 0;
    if (r->lora >= 0 && e->lora_running[r->lora]++ == 0) {
        e->nresident++;
        *loaded = 1;
    }
    r->_state = REQ_RUNNING | REQ_F_ADMITTED;
    ig_list_push_back(&e->running, &r->_link);
    e->nrunning++;
    batch_add(e, r);
    return 0;
}

uint64_t ig_sim_engine_step(struct ig_sim_engine *e, uint64_t now_us)
{
    (void)now_us; /* the step's duration depends only on the work; the driver owns the clock */
    IG_ASSERT(!e->in_step);
    const struct ig_sim_config *c = &e->cfg;
    e->nbatch = 0;
    schedule_running(e);

    uint64_t prefill_tokens = 0;
    uint32_t nprefill = 0, loads = 0;
    ig_list_t *pos, *tmp;
    ig_list_foreach_safe(pos, tmp, &e->waiting)
    {
        if (e->nrunning >= c->max_num_seqs)
            break;
        struct ig_sim_req *r = IG_CONTAINER_OF(pos, struct ig_sim_req, _link);
        if (lora_blocked(e, r))
            continue;
        uint64_t pf;
        int loaded;
        if (admit(e, r, &pf, &loaded) != 0)
            break;
        prefill_tokens += pf;
        nprefill++;
        loads += (uint32_t)loaded;
    }

    if (e->nbatch == 0) {
        /* A lone running request always fits (submit checked it), so an empty batch means idle. */
        IG_DASSERT(e->nrunning == 0);
        return UINT64_MAX;
    }
    e->in_step = 1;
    uint64_t d = c->decode_base_us + c->decode_per_seq_us * e->nbatch + c->lora_load_us * loads;
    if (nprefill > 0)
        d += c->prefill_overhead_us + c->prefill_per_token_us * prefill_tokens;
    return d;
}

void ig_sim_engine_finish_step(struct ig_sim_engine *e, uint64_t now_us)
{
    if (!e->in_step)
        return;
    /* Callbacks may cancel later batch members (their slot becomes NULL) or submit new requests. */
    for (uint32_t i = 0; i < e->nbatch; i++) {
        struct ig_sim_req *r = e->batch[i];
        if (r == NULL)
            continue;
        e->batch[i] = NULL;
        r->_state &= ~REQ_F_TOKEN;
        uint32_t index = r->generated++;
        e->generation_tokens_total++;
        if (index == 0)
            r->first_token_us = now_us;
        int last = r->generated >= r->max_tokens;
        if (last) {
            r->finish_us = now_us;
            unrun(e, r);
            req_free_arrays(r);
            r->_state = REQ_IDLE;
            e->requests_finished++;
        }
        if (r->on_token != NULL)
            r->on_token(r, index, last);
    }
    e->nbatch = 0;
    e->in_step = 0;
}

void ig_sim_engine_cancel(struct ig_sim_engine *e, struct ig_sim_req *r)
{
    switch (r->_state & REQ_STATE_MASK) {
    case REQ_WAITING:
        unwait(e, r);
        break;
    case REQ_RUNNING:
        if (r->_state & REQ_F_TOKEN) {
            for (uint32_t i = 0; i < e->nbatch; i++) {
                if (e->batch[i] == r)
                    e->batch[i] = NULL;
            }
        }
        unrun(e, r);
        break;
    default:
        return;
    }
    req_free_arrays(r);
    r->_state = REQ_IDLE;
}

void ig_sim_engine_stats(const struct ig_sim_engine *e, struct ig_sim_stats *out)
{
    memset(out, 0, sizeof(*out));
    struct ig_sim_kv_stats kv;
    ig_sim__kv_stats(e->kv, &kv);
    out->running = e->nrunning;
    out->waiting = e->nwaiting;
    out->blocks_total = kv.total;
    out->blocks_used = kv.held;
    out->blocks_cached = kv.cached;
    out->prefix_queries_tokens = e->prefix_queries_tokens;
    out->prefix_hits_tokens = e->prefix_hits_tokens;
    out->prompt_tokens_total = e->prompt_tokens_total;
    out->generation_tokens_total = e->generation_tokens_total;
    out->requests_finished = e->requests_finished;
    for (uint32_t i = 0; i < e->cfg.num_loras; i++) {
        if (e->lora_running[i] > 0)
            out->running_loras[out->num_running_loras++] = i;
        if (e->lora_waiting[i] > 0)
            out->waiting_loras[out->num_waiting_loras++] = i;
    }
}
