/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulator's /metrics page, in the names and shapes a model server exposes so that endpoint
 * pickers and dashboards read it unchanged: vLLM's by default, SGLang's with
 * --metrics-flavor sglang. Live state (queues, KV use, LoRA residency, token counters) is read
 * from ig_sim_engine_stats at scrape time by a collector; request latencies are registered
 * histograms fed when a request finishes. Bucket bounds are vLLM's own.
 */
#include <stdio.h>

#include "ig/metrics.h"
#include "sim_front.h"

/* vLLM's bounds for time to first token and end-to-end request latency (seconds). */
static const double ttft_bounds[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25,  0.5,   0.75,
                                     1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
static const double e2e_bounds[] = {0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,   15.0,  20.0,
                                    30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

struct ig_sim_expo {
    const struct ig_sim_app *app;
    ig_metrics_t *reg;
    struct ig_histogram *ttft, *e2e;
    char *num_blocks; /* label values, formatted once */
    char *block_size;
    char *max_lora;
    ig_buf_t names; /* scratch for the adapter lists */
};

/* Appends the names of adapters |idx[0..n)| separated by commas, NUL-terminated; returns the offset. */
static size_t adapter_list(struct ig_sim_expo *x, const uint32_t *idx, uint32_t n)
{
    const struct ig_sim_config *cfg = x->app->cfg;
    size_t off = x->names.len;
    for (uint32_t i = 0; i < n; i++) {
        if (idx[i] >= cfg->num_loras)
            continue;
        if (x->names.len > off)
            ig_buf_append(&x->names, ",", 1);
        const char *name = cfg->lora_names[idx[i]];
        ig_buf_append(&x->names, name, strlen(name));
    }
    ig_buf_append(&x->names, "", 1);
    return off;
}

static int gauge(ig_buf_t *out, const char *name, const char *help, const struct ig_metric_label *l, size_t nl,
                 double v)
{
    int rc = ig_prom_write_family(out, name, help, IG_METRIC_GAUGE);
    return rc != 0 ? rc : ig_prom_write_sample(out, name, l, nl, v);
}

static int counter(ig_buf_t *out, const char *name, const char *help, const struct ig_metric_label *l, size_t nl,
                   double v)
{
    int rc = ig_prom_write_family(out, name, help, IG_METRIC_COUNTER);
    return rc != 0 ? rc : ig_prom_write_sample(out, name, l, nl, v);
}

static int collect_vllm(ig_buf_t *out, struct ig_sim_expo *x, const struct ig_sim_stats *st)
{
    const struct ig_sim_config *cfg = x->app->cfg;
    struct ig_metric_label model = {"model_name", cfg->model};
    double usage = st->blocks_total != 0 ? (double)st->blocks_used / (double)st->blocks_total : 0.0;
    int rc = 0;

    if (rc == 0)
        rc = gauge(out, "vllm:num_requests_running", "Number of requests in model execution batches.", &model, 1,
                   st->running);
    if (rc == 0)
        rc = gauge(out, "vllm:num_requests_waiting", "Number of requests waiting to be processed.", &model, 1,
                   st->waiting);
    if (rc == 0)
        rc = gauge(out, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", &model, 1, usage);
    if (rc == 0)
        rc =
            gauge(out, "vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.", &model, 1, usage);

    ig_buf_reset(&x->names);
    size_t run = adapter_list(x, st->running_loras, st->num_running_loras);
    size_t wait = adapter_list(x, st->waiting_loras, st->num_waiting_loras);
    struct ig_metric_label lora[] = {
        {"running_lora_adapters", ig_buf_data(&x->names) + run},
        {"waiting_lora_adapters", ig_buf_data(&x->names) + wait},
        {"max_lora", x->max_lora},
    };
    /* As vLLM: the value is the time of the sample, so a reader can take the newest series. */
    if (rc == 0)
        rc = gauge(out, "vllm:lora_requests_info", "Running stats on lora requests.", lora, IG_ARRAY_LEN(lora),
                   ig_time_wall());

    struct ig_metric_label cache[] = {
        {"block_size", x->block_size},
        {"cache_dtype", "auto"},
        {"enable_prefix_caching", cfg->enable_prefix_caching ? "True" : "False"},
        {"num_gpu_blocks", x->num_blocks},
        {"num_cpu_blocks", "0"},
    };
    if (rc == 0)
        rc = gauge(out, "vllm:cache_config_info", "Information of the LLMEngine CacheConfig", cache,
                   IG_ARRAY_LEN(cache), 1);

    if (rc == 0)
        rc = counter(out, "vllm:prefix_cache_queries_total",
                     "Prefix cache queries, in terms of number of queried tokens.", &model, 1,
                     (double)st->prefix_queries_tokens);
    if (rc == 0)
        rc = counter(out, "vllm:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens.",
                     &model, 1, (double)st->prefix_hits_tokens);
    if (rc == 0)
        rc = counter(out, "vllm:prompt_tokens_total", "Number of prefill tokens processed.", &model, 1,
                     (double)st->prompt_tokens_total);
    if (rc == 0)
        rc = counter(out, "vllm:generation_tokens_total", "Number of generation tokens processed.", &model, 1,
                     (double)st->generation_tokens_total);
    struct ig_metric_label done[] = {{"model_name", cfg->model}, {"finished_reason", "length"}};
    if (rc == 0)
        rc = counter(out, "vllm:request_success_total", "Count of successfully processed requests.", done,
                     IG_ARRAY_LEN(done), (double)st->requests_finished);
    return rc;
}

static int collect_sglang(ig_buf_t *out, struct ig_sim_expo *x, const struct ig_sim_stats *st)
{
    const struct ig_sim_config *cfg = x->app->cfg;
    struct ig_metric_label model = {"model_name", cfg->model};
    double usage = st->blocks_total != 0 ? (double)st->blocks_used / (double)st->blocks_total : 0.0;
    double hit =
        st->prefix_queries_tokens != 0 ? (double)st->prefix_hits_tokens / (double)st->prefix_queries_tokens : 0.0;
    int rc = 0;

    if (rc == 0)
        rc = gauge(out, "sglang:num_running_reqs", "The number of running requests.", &model, 1, st->running);
    if (rc == 0)
        rc =
            gauge(out, "sglang:num_queue_reqs", "The number of requests in the waiting queue.", &model, 1, st->waiting);
    if (rc == 0)
        rc = gauge(out, "sglang:token_usage", "The token usage.", &model, 1, usage);
    if (rc == 0)
        rc = gauge(out, "sglang:cache_hit_rate", "The prefix cache hit rate.", &model, 1, hit);
    struct ig_metric_label cache[] = {
        {"model_name", cfg->model},
        {"page_size", x->block_size},
        {"num_pages", x->num_blocks},
    };
    if (rc == 0)
        rc = gauge(out, "sglang:cache_config_info", "Information of the KV cache configuration.", cache,
                   IG_ARRAY_LEN(cache), 1);
    if (rc == 0)
        rc = counter(out, "sglang:prompt_tokens_total", "Number of prefill tokens processed.", &model, 1,
                     (double)st->prompt_tokens_total);
    if (rc == 0)
        rc = counter(out, "sglang:generation_tokens_total", "Number of generation tokens processed.", &model, 1,
                     (double)st->generation_tokens_total);
    if (rc == 0)
        rc = counter(out, "sglang:num_requests_total", "Number of requests processed.", &model, 1,
                     (double)st->requests_finished);
    return rc;
}

static int collect(ig_buf_t *out, void *data)
{
    struct ig_sim_expo *x = data;
    struct ig_sim_stats st;
    ig_sim_engine_stats(x->app->engine, &st);
    return x->app->flavor == IG_SIM_FLAVOR_SGLANG ? collect_sglang(out, x, &st) : collect_vllm(out, x, &st);
}

struct ig_sim_expo *ig_sim__expo_create(const struct ig_sim_app *app)
{
    const struct ig_sim_config *cfg = app->cfg;
    struct ig_sim_expo *x = ig_calloc(1, sizeof(*x));
    x->app = app;
    x->reg = ig_metrics_create();
    ig_buf_init(&x->names, (size_t)1 << 20);
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%u", (unsigned)cfg->kv_cache_blocks);
    x->num_blocks = ig_strdup(tmp);
    snprintf(tmp, sizeof(tmp), "%u", (unsigned)cfg->block_size);
    x->block_size = ig_strdup(tmp);
    snprintf(tmp, sizeof(tmp), "%u", (unsigned)cfg->max_loras);
    x->max_lora = ig_strdup(tmp);

    ig_metrics_add_collector(x->reg, collect, x);
    int sg = app->flavor == IG_SIM_FLAVOR_SGLANG;
    struct ig_metric_label model = {"model_name", cfg->model};
    x->ttft = ig_metrics_histogram(
        x->reg, sg ? "sglang:time_to_first_token_seconds" : "vllm:time_to_first_token_seconds",
        "Histogram of time to first token in seconds.", ttft_bounds, IG_ARRAY_LEN(ttft_bounds), &model, 1);
    x->e2e = ig_metrics_histogram(
        x->reg, sg ? "sglang:e2e_request_latency_seconds" : "vllm:e2e_request_latency_seconds",
        "Histogram of end to end request latency in seconds.", e2e_bounds, IG_ARRAY_LEN(e2e_bounds), &model, 1);
    IG_ASSERT(x->ttft != NULL && x->e2e != NULL);
    return x;
}

void ig_sim__expo_destroy(struct ig_sim_expo *x)
{
    if (x == NULL)
        return;
    ig_metrics_destroy(x->reg);
    ig_buf_dispose(&x->names);
    ig_free(x->num_blocks);
    ig_free(x->block_size);
    ig_free(x->max_lora);
    ig_free(x);
}

void ig_sim__expo_observe(struct ig_sim_expo *x, double ttft, double e2e)
{
    ig_histogram_observe(x->ttft, ttft);
    ig_histogram_observe(x->e2e, e2e);
}

int ig_sim__expo_render(struct ig_sim_expo *x, const struct ig_sim_app *app, ig_buf_t *out)
{
    (void)app;
    return ig_metrics_write(x->reg, out);
}
