/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Engine mappings: which Prometheus series of a model server's /metrics page feed each field of
 * the scheduler's endpoint view, for vLLM, SGLang, trtllm-serve and Triton TensorRT-LLM, as the
 * reference data layer reads them. Every field is one series picked by the metrics module's
 * selection rules (latest timestamp, else the first match; never summed); the LoRA info gauge
 * picks the series with the largest value (a timestamp), and block size and count come from the
 * labels of an info gauge (vLLM, SGLang) or from values (TensorRT-LLM). One pass over the page
 * reads all of them.
 */
#include "epp_int.h"

#include <math.h>
#include <pthread.h>

/* Query slots of struct ig_epp_extract. */
enum {
    Q_WAITING = 0,
    Q_RUNNING,
    Q_KV,
    Q_KV_OLD,     /* vLLM before kv_cache_usage_perc */
    Q_LORA,       /* labels: running, waiting, max */
    Q_CACHE_INFO, /* labels: block size, block count */
    Q_BLOCK_SIZE, /* value */
    Q_NUM_BLOCKS, /* value */
    Q_COUNT
};

struct engine_def {
    const char *spec[Q_COUNT];    /* NULL: not read for this engine */
    const char *block_size_label; /* label names on Q_CACHE_INFO */
    const char *num_blocks_label;
};

static const struct engine_def defs[IG_EPP_ENGINE_COUNT] = {
    [IG_EPP_ENGINE_VLLM] =
        {
            .spec =
                {
                    [Q_WAITING] = "vllm:num_requests_waiting",
                    [Q_RUNNING] = "vllm:num_requests_running",
                    [Q_KV] = "vllm:kv_cache_usage_perc",
                    [Q_KV_OLD] = "vllm:gpu_cache_usage_perc",
                    [Q_LORA] = "vllm:lora_requests_info",
                    [Q_CACHE_INFO] = "vllm:cache_config_info",
                },
            .block_size_label = "block_size",
            .num_blocks_label = "num_gpu_blocks",
        },
    [IG_EPP_ENGINE_SGLANG] =
        {
            .spec =
                {
                    [Q_WAITING] = "sglang:num_queue_reqs",
                    [Q_RUNNING] = "sglang:num_running_reqs",
                    [Q_KV] = "sglang:token_usage",
                    [Q_CACHE_INFO] = "sglang:cache_config_info",
                },
            .block_size_label = "page_size",
            .num_blocks_label = "num_pages",
        },
    [IG_EPP_ENGINE_TRTLLM_SERVE] =
        {
            .spec =
                {
                    [Q_WAITING] = "trtllm_num_requests_waiting",
                    [Q_RUNNING] = "trtllm_num_requests_running",
                    [Q_KV] = "trtllm_kv_cache_utilization",
                    [Q_BLOCK_SIZE] = "trtllm_kv_cache_tokens_per_block",
                    [Q_NUM_BLOCKS] = "trtllm_kv_cache_max_blocks",
                },
        },
    [IG_EPP_ENGINE_TRITON] =
        {
            .spec =
                {
                    [Q_WAITING] = "nv_trt_llm_request_metrics{request_type=\"waiting\"}",
                    [Q_RUNNING] = "nv_trt_llm_request_metrics{request_type=\"scheduled\"}",
                    [Q_KV] = "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"fraction\"}",
                    [Q_BLOCK_SIZE] = "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"tokens_per\"}",
                    [Q_NUM_BLOCKS] = "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"max\"}",
                },
        },
};

/* Compiled once; read-only afterwards, so any thread may use them. */
static struct ig_prom_spec specs[IG_EPP_ENGINE_COUNT][Q_COUNT];
static pthread_once_t specs_once = PTHREAD_ONCE_INIT;

static void compile_specs(void)
{
    for (int e = 0; e < IG_EPP_ENGINE_COUNT; e++) {
        for (int q = 0; q < Q_COUNT; q++) {
            const char *t = defs[e].spec[q];
            if (t != NULL)
                IG_ASSERT(ig_prom_spec_compile(&specs[e][q], t, strlen(t)) == 0);
        }
    }
}

/* A gauge read as a count: negative or not finite counts as 0, fractions truncate. */
static int64_t as_count(double v)
{
    if (!isfinite(v) || v <= 0)
        return 0;
    if (v >= 9.2e18)
        return INT64_MAX;
    return (int64_t)v;
}

static int64_t label_int(ig_iov_t v, int *ok)
{
    uint64_t u;
    *ok = v.base != NULL && ig_iov_to_u64(ig_iov_trim(v), &u) == 0;
    return *ok ? (int64_t)u : 0;
}

int ig_epp_extract_page(enum ig_epp_engine engine, const char *page, size_t len, struct ig_epp_extract *out,
                        struct ig_prom_error *perr)
{
    IG_ASSERT((unsigned)engine < IG_EPP_ENGINE_COUNT);
    IG_ASSERT(IG_ARRAY_LEN(out->_q) >= Q_COUNT);
    (void)pthread_once(&specs_once, compile_specs);
    const struct engine_def *def = &defs[engine];
    memset(&out->m, 0, sizeof(out->m));
    out->found = 0;

    /* Only the engine's queries run; slot numbers map back to fields below. */
    struct ig_prom_query *qs = out->_q;
    int slot[Q_COUNT];
    size_t nq = 0;
    for (int q = 0; q < Q_COUNT; q++) {
        slot[q] = -1;
        if (def->spec[q] == NULL)
            continue;
        ig_prom_query_init(&qs[nq], &specs[engine][q], q == Q_LORA ? IG_PROM_PICK_MAX_VALUE : IG_PROM_PICK_LATEST);
        if (q == Q_LORA) {
            (void)ig_prom_query_add_label(&qs[nq], "running_lora_adapters");
            (void)ig_prom_query_add_label(&qs[nq], "waiting_lora_adapters");
            (void)ig_prom_query_add_label(&qs[nq], "max_lora");
        } else if (q == Q_CACHE_INFO) {
            (void)ig_prom_query_add_label(&qs[nq], def->block_size_label);
            (void)ig_prom_query_add_label(&qs[nq], def->num_blocks_label);
        }
        slot[q] = (int)nq++;
    }
    int rc = ig_prom_extract(page, len, qs, nq, perr);
    if (rc != 0)
        return rc;
#define FOUND(q) (slot[q] >= 0 && qs[slot[q]].found)
#define Q(q)     (&qs[slot[q]])

    if (FOUND(Q_WAITING)) {
        out->m.waiting_queue_size = as_count(Q(Q_WAITING)->value);
        out->found |= IG_EPP_F_WAITING;
    }
    if (FOUND(Q_RUNNING)) {
        out->m.running_requests_size = as_count(Q(Q_RUNNING)->value);
        out->found |= IG_EPP_F_RUNNING;
    }
    const struct ig_prom_query *kv = FOUND(Q_KV) ? Q(Q_KV) : FOUND(Q_KV_OLD) ? Q(Q_KV_OLD) : NULL;
    if (kv != NULL) {
        out->m.kv_cache_usage_percent = isfinite(kv->value) ? kv->value : 0;
        out->found |= IG_EPP_F_KV;
    }
    if (FOUND(Q_LORA)) {
        const struct ig_prom_query *q = Q(Q_LORA);
        size_t na = 0, nw = 0;
        if (q->label_values[0].base != NULL)
            na = ig_prom_split_list(q->label_values[0], out->active, IG_EPP_MAX_LORA);
        if (q->label_values[1].base != NULL)
            nw = ig_prom_split_list(q->label_values[1], out->waiting, IG_EPP_MAX_LORA);
        out->m.active_models = out->active;
        out->m.n_active_models = IG_MIN(na, (size_t)IG_EPP_MAX_LORA);
        out->m.waiting_models = out->waiting;
        out->m.n_waiting_models = IG_MIN(nw, (size_t)IG_EPP_MAX_LORA);
        int ok;
        out->m.max_active_models = label_int(q->label_values[2], &ok);
        out->found |= IG_EPP_F_LORA;
    }
    if (FOUND(Q_CACHE_INFO)) {
        int ok;
        out->m.cache_block_size = label_int(Q(Q_CACHE_INFO)->label_values[0], &ok);
        if (ok)
            out->found |= IG_EPP_F_BLOCK_SIZE;
        out->m.cache_num_blocks = label_int(Q(Q_CACHE_INFO)->label_values[1], &ok);
        if (ok)
            out->found |= IG_EPP_F_NUM_BLOCKS;
    }
    if (FOUND(Q_BLOCK_SIZE)) {
        out->m.cache_block_size = as_count(Q(Q_BLOCK_SIZE)->value);
        out->found |= IG_EPP_F_BLOCK_SIZE;
    }
    if (FOUND(Q_NUM_BLOCKS)) {
        out->m.cache_num_blocks = as_count(Q(Q_NUM_BLOCKS)->value);
        out->found |= IG_EPP_F_NUM_BLOCKS;
    }
#undef FOUND
#undef Q
    return (out->found & IG_EPP_F_REQUIRED) == IG_EPP_F_REQUIRED ? 0 : IG_ENOTFOUND;
}
