/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scheduling cost per request with the reference default profile (queue 2, kv-cache 2, prefix 3,
 * max-score picker, utilization detector for admission) over 8, 64, 256 and 1024 endpoints and a
 * 4 KB chat body. Each request: admission, PrepareData (prefix hashes and index lookup), scoring,
 * picking, PreRequest (index insert, in-flight accounting) and completion; the body is read once
 * per request as well in the "parse+pick" column. 64 conversations rotate so the prefix index is
 * warm and requests match. Prints p50 / p99 / max in microseconds.
 *
 * Build and run: bench/sched-bench.sh. `sched-pick ITERS N` runs N endpoints only, e.g. under
 * callgrind: the difference of two runs divided by the difference of ITERS is instructions/request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ig/sched.h"

#ifndef CONVS
#define CONVS 64
#endif
#define BODY 4096

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static char *bodies[CONVS];
static size_t body_len[CONVS];

static void make_bodies(void)
{
    for (int c = 0; c < CONVS; c++) {
        char *b = malloc(BODY + 512);
        size_t n = (size_t)snprintf(b, BODY,
                                    "{\"model\":\"llama\",\"stream\":true,\"messages\":[{\"role\":"
                                    "\"system\",\"content\":\"conversation %d: ",
                                    c);
        unsigned seed = (unsigned)c * 2654435761u;
        while (n < BODY - 64) {
            seed = seed * 1103515245u + 12345u;
            b[n++] = (char)('a' + (seed >> 16) % 26);
            if ((seed >> 8) % 7 == 0)
                b[n++] = ' ';
        }
        n += (size_t)snprintf(b + n, 64, "\"}]}");
        bodies[c] = b;
        body_len[c] = n;
    }
}

static void run(struct ig_sched *s, size_t n, long iters, int parse_each)
{
    struct ig_sched_endpoint *ep = calloc(n, sizeof(*ep));
    struct ig_sched_endpoint **eps = calloc(n, sizeof(*eps));
    char(*addr)[32] = calloc(n, 32);
    uint64_t now = ig_time_ns();
    unsigned seed = 7;
    for (size_t i = 0; i < n; i++) {
        snprintf(addr[i], 32, "10.0.%zu.%zu:8000", i / 250, i % 250);
        ep[i].id = (uint32_t)i;
        ep[i].address = ig_iov_cstr(addr[i]);
        ep[i].ip = ep[i].address;
        eps[i] = &ep[i];
    }
    uint64_t *lat = malloc((size_t)iters * sizeof(uint64_t));
    ig_pool_t pool;
    ig_pool_init(&pool);
    struct ig_oai_request pre[CONVS];
    struct ig_sched_error err;
    for (int c = 0; c < CONVS; c++)
        if (ig_oai_parse(IG_OAI_CHAT_COMPLETIONS, bodies[c], body_len[c], NULL, &pre[c], &err) != 0)
            abort();
    long warm = iters / 10;
    for (long it = -warm; it < iters; it++) {
        /* metrics drift as a scraper would update them */
        seed = seed * 1103515245u + 12345u;
        struct ig_sched_endpoint *e = &ep[(seed >> 8) % n];
        e->metrics.waiting_queue_size = (seed >> 4) % 8;
        e->metrics.kv_cache_usage_percent = (double)((seed >> 12) % 90) / 100.0;
        e->metrics.update_time_ns = now;
        int c = (int)((seed >> 16) % CONVS);

        uint64_t t0 = ig_time_ns();
        struct ig_oai_request parsed;
        const struct ig_oai_request *body = &pre[c];
        if (parse_each) {
            if (ig_oai_parse(IG_OAI_CHAT_COMPLETIONS, bodies[c], body_len[c], &pool, &parsed, &err) != 0)
                abort();
            body = &parsed;
        }
        struct ig_sched_request rq = {.body = body, .target_model = body->model, .now_ns = now};
        struct ig_sched_cycle cy;
        if (ig_sched_admit(s, &rq, eps, n, &err) != 0)
            abort();
        ig_sched_cycle_init(&cy, &rq, &pool);
        if (ig_sched_schedule(s, &cy, eps, n, &err) != 0)
            abort();
        ig_sched_pre_request(s, &cy);
        ig_sched_request_done(s, &cy);
        ig_pool_clear(&pool);
        uint64_t dt = ig_time_ns() - t0;
        if (it >= 0)
            lat[it] = dt;
    }
    qsort(lat, (size_t)iters, sizeof(uint64_t), cmp_u64);
    printf("%5zu endpoints %-11s p50 %7.2f us  p99 %7.2f us  max %8.2f us  (index %zu entries)\n", n,
           parse_each ? "parse+pick" : "pick", (double)lat[iters / 2] / 1e3, (double)lat[iters * 99 / 100] / 1e3,
           (double)lat[iters - 1] / 1e3, ig_sched_prefix_index_size(s));
    ig_pool_dispose(&pool);
    free(lat);
    free(addr);
    free(eps);
    free(ep);
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
    long only = argc > 2 ? strtol(argv[2], NULL, 10) : 0; /* one endpoint count (for callgrind) */
    static const size_t sizes[] = {8, 64, 256, 1024};
    make_bodies();
    if (iters < 100)
        iters = 100;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        if (only > 0 && sizes[k] != (size_t)only)
            continue;
        for (int parse_each = 0; parse_each < 2; parse_each++) {
            struct ig_epc *cfg;
            struct ig_sched *s;
            char e[512];
            if (ig_epc_load_string("default", ig_epc_default_text, strlen(ig_epc_default_text), &cfg, e, sizeof(e)) !=
                    0 ||
                ig_sched_create(cfg, 1, &s, e, sizeof(e)) != 0) {
                fprintf(stderr, "%s\n", e);
                return 1;
            }
            run(s, sizes[k], iters, parse_each);
            ig_sched_destroy(s);
            ig_epc_free(cfg);
        }
    }
    return 0;
}
