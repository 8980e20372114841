/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the OpenAI request reader and its JSON scanner: the first byte picks the API
 * kind, the rest is the body. Whatever the bytes, parsing must not crash, read out of bounds or
 * leak; an accepted body's slices must lie inside the input and hash cleanly for prefix affinity.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ig/sched.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(ig_iov_t s, const char *base, size_t len)
{
    if (s.len > 0 && (s.base < base || s.base + s.len > base + len))
        abort();
}

/* One scheduling cycle with the default profile: prefix hashing over the body's spans. */
static void schedule(const struct ig_oai_request *req, ig_pool_t *pool)
{
    static struct ig_epc *cfg;
    static struct ig_sched *s;
    if (s == NULL) {
        if (ig_epc_load_string("default", ig_epc_default_text, strlen(ig_epc_default_text), &cfg, NULL, 0) != 0 ||
            ig_sched_create(cfg, 1, &s, NULL, 0) != 0)
            abort();
    }
    struct ig_sched_endpoint ep[2] = {{.id = 0, .metrics.cache_block_size = 4}, {.id = 1}};
    struct ig_sched_endpoint *eps[2] = {&ep[0], &ep[1]};
    struct ig_sched_request rq = {.body = req, .target_model = req->model};
    struct ig_sched_cycle cy;
    ig_sched_cycle_init(&cy, &rq, pool);
    if (ig_sched_schedule(s, &cy, eps, 2, NULL) != 0)
        abort();
    ig_sched_pre_request(s, &cy);
    ig_sched_request_done(s, &cy);
    /* Keep the index bounded across a long run. */
    ig_sched_forget_endpoint(s, 0);
    ig_sched_forget_endpoint(s, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    enum ig_oai_api api = (enum ig_oai_api)(data[0] % IG_OAI_API_COUNT);
    /* A private copy so out-of-bounds reads hit the sanitizer's redzone. */
    size_t len = size - 1;
    char *body = malloc(len ? len : 1);
    memcpy(body, data + 1, len);

    ig_pool_t pool;
    struct ig_oai_request req;
    struct ig_sched_error err;
    ig_pool_init(&pool);
    if (ig_oai_parse(api, body, len, &pool, &req, &err) == 0) {
        inside(req.model_raw, body, len);
        for (size_t i = 0; i < req.n_prefix; i++)
            inside(req.prefix[i], body, len);
        schedule(&req, &pool);
    } else if (err.status != 400) {
        abort();
    }
    const char *p = body;
    (void)ig_json_skip(&p, body + len, NULL);
    if (p < body || p > body + len)
        abort();
    ig_pool_dispose(&pool);
    free(body);
    return 0;
}
