/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Micro-benchmark of the Prometheus text parser as the Endpoint Picker's scraper uses it: one
 * model-server page parsed whole (every sample delivered) and read with ig_prom_extract for the
 * six metrics of a vLLM endpoint (waiting, running, KV usage, LoRA info, cache config, prefix
 * hits). Prints ns per page and per sample line, and MB/s.
 *
 * Build (from the repository root, after building ig_metrics and ig_core in build-rel):
 *   cc -O2 -Iinclude -D_GNU_SOURCE bench/prom-parse.c build-rel/libig_metrics.a build-rel/libig_core.a \
 *      -lm -lpthread -o /tmp/prom-parse
 *   /tmp/prom-parse [page.prom] [iterations]
 * The default page is tests/fuzz/corpus/prom_parse/vllm_v1.prom (~270 lines, ~25 KB).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ig/metrics.h"

static int count_sample(void *data, const struct ig_prom_sample *s)
{
    size_t *n = data;
    *n += 1 + (s->nlabels & 0); /* reads the sample so the call is not optimized out */
    return 0;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void report(const char *what, uint64_t ns, long iters, size_t len, size_t samples)
{
    double per = (double)ns / (double)iters;
    printf("%-34s %9.0f ns/page  %6.1f ns/sample  %7.1f MB/s\n", what, per, per / (double)samples,
           (double)len * 1e3 / per);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "tests/fuzz/corpus/prom_parse/vllm_v1.prom";
    long iters = argc > 2 ? strtol(argv[2], NULL, 10) : 20000;
    size_t len, sink = 0, samples = 0;
    char *page = read_file(path, &len);
    if (page == NULL || iters <= 0) {
        fprintf(stderr, "usage: %s [page.prom] [iterations]\n", argv[0]);
        return 2;
    }

    struct ig_prom_parse_opts o = {.on_sample = count_sample, .data = &samples};
    struct ig_prom_error err;
    if (ig_prom_parse(page, len, &o, &err) != 0) {
        fprintf(stderr, "%s:%u:%u: %s\n", path, err.line, err.col, err.msg);
        return 1;
    }
    size_t nlines = 0;
    for (size_t i = 0; i < len; i++)
        nlines += page[i] == '\n';

    o.data = &sink;
    uint64_t t0 = ig_time_ns();
    for (long i = 0; i < iters; i++)
        (void)ig_prom_parse(page, len, &o, NULL);
    uint64_t full = ig_time_ns() - t0;

    static const char *const specs[] = {"vllm:num_requests_waiting", "vllm:num_requests_running",
                                        "vllm:kv_cache_usage_perc",  "vllm:lora_requests_info",
                                        "vllm:cache_config_info",    "vllm:prefix_cache_hits_total"};
    struct ig_prom_spec spec[6];
    struct ig_prom_query *q = malloc(sizeof(*q) * 6);
    for (int i = 0; i < 6; i++) {
        if (ig_prom_spec_compile(&spec[i], specs[i], strlen(specs[i])) != 0)
            return 1;
        ig_prom_query_init(&q[i], &spec[i], i == 3 ? IG_PROM_PICK_MAX_VALUE : IG_PROM_PICK_LATEST);
    }
    ig_prom_query_add_label(&q[3], "running_lora_adapters");
    ig_prom_query_add_label(&q[3], "waiting_lora_adapters");
    ig_prom_query_add_label(&q[3], "max_lora");
    ig_prom_query_add_label(&q[4], "block_size");
    ig_prom_query_add_label(&q[4], "num_gpu_blocks");
    t0 = ig_time_ns();
    for (long i = 0; i < iters; i++)
        (void)ig_prom_extract(page, len, q, 6, NULL);
    uint64_t ex = ig_time_ns() - t0;
    int found = 0;
    for (int i = 0; i < 6; i++)
        found += q[i].found;

    printf("page %s: %zu bytes, %zu lines, %zu samples, %ld iterations\n", path, len, nlines, samples, iters);
    report("ig_prom_parse (every sample)", full, iters, len, samples);
    report("ig_prom_extract (6 queries)", ex, iters, len, samples);
    printf("queries found: %d/6 (sink %zu)\n", found, sink);
    free(q);
    free(page);
    return 0;
}
