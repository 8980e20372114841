/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Micro-benchmark of the OpenAI request reader against jansson on the same chat completions
 * bodies (about 4 KB and 200 KB, realistic text with escapes). infergate's reader validates the
 * whole body and returns slices (model, stream, messages span); jansson builds a tree and the
 * same three fields are then looked up. Prints ns per body and MB/s for each.
 *
 * Build and run: bench/sched-bench.sh (compiles against a Release build in build-sched-rel).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ig/sched.h"

static const char *const words[] = {"the",   "model",         "server", "returns", "tokens", "quickly",
                                    "when",  "cache",         "blocks", "are",     "warm",   "and",
                                    "queue", "depth",         "is",     "low",     "prefix", "routing",
                                    "keeps", "conversations", "sticky", "across",  "turns"};

/* A chat body of about |target| bytes: a system prompt and alternating user/assistant turns. */
static char *make_body(size_t target, size_t *len)
{
    size_t cap = target + 4096, n = 0;
    char *b = malloc(cap);
    unsigned seed = 12345;
    n += (size_t)snprintf(b + n, cap - n,
                          "{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"stream\":true,"
                          "\"stream_options\":{\"include_usage\":true},\"max_tokens\":256,"
                          "\"temperature\":0.7,\"messages\":[");
    int turn = 0;
    while (n + 600 < target) {
        n += (size_t)snprintf(b + n, cap - n, "%s{\"role\":\"%s\",\"content\":\"", turn ? "," : "",
                              turn == 0 ? "system" : (turn % 2 ? "user" : "assistant"));
        size_t msg = 200 + (seed % 300);
        for (size_t w = 0; w < msg / 6; w++) {
            seed = seed * 1103515245u + 12345u;
            const char *word = words[(seed >> 8) % (sizeof(words) / sizeof(words[0]))];
            n += (size_t)snprintf(b + n, cap - n, "%s%s", word, (seed >> 4) % 29 == 0 ? "\\n" : " ");
            if ((seed >> 5) % 97 == 0)
                n += (size_t)snprintf(b + n, cap - n, "\\\"quoted\\\" ");
        }
        n += (size_t)snprintf(b + n, cap - n, "\"}");
        turn++;
    }
    n += (size_t)snprintf(b + n, cap - n, "]}");
    *len = n;
    return b;
}

static void bench(const char *what, size_t target, long iters)
{
    size_t len;
    char *body = make_body(target, &len);
    ig_pool_t pool;
    struct ig_oai_request req;
    struct ig_sched_error err;
    size_t sink = 0;

    ig_pool_init(&pool);
    if (ig_oai_parse(IG_OAI_CHAT_COMPLETIONS, body, len, &pool, &req, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    uint64_t t0 = ig_time_ns();
    for (long i = 0; i < iters; i++) {
        (void)ig_oai_parse(IG_OAI_CHAT_COMPLETIONS, body, len, &pool, &req, &err);
        sink += req.prefix_len + (size_t)req.stream;
        ig_pool_clear(&pool);
    }
    uint64_t ours = ig_time_ns() - t0;

    t0 = ig_time_ns();
    for (long i = 0; i < iters; i++) {
        json_error_t je;
        json_t *root = json_loadb(body, len, 0, &je);
        json_t *model = json_object_get(root, "model"), *msgs = json_object_get(root, "messages");
        sink +=
            json_string_length(model) + json_array_size(msgs) + (size_t)json_is_true(json_object_get(root, "stream"));
        json_decref(root);
    }
    uint64_t jans = ig_time_ns() - t0;

    double o = (double)ours / (double)iters, j = (double)jans / (double)iters;
    printf("%-7s %7zu bytes  infergate %10.0f ns/op %7.0f MB/s   jansson %10.0f ns/op %6.0f MB/s   x%.1f\n", what, len,
           o, (double)len * 1e3 / o, j, (double)len * 1e3 / j, j / o);
    if (sink == 42)
        puts("");
    ig_pool_dispose(&pool);
    free(body);
}

int main(int argc, char **argv)
{
    long scale = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
    if (scale <= 0)
        scale = 1;
    bench("4 KB", 4096, 200000 * scale);
    bench("200 KB", 200 * 1024, 4000 * scale);
    return 0;
}
