/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the EndpointPickerConfig loader: arbitrary bytes must load or fail with a
 * message, never crash or leak. A config that loads must also build a scheduler that can run one
 * cycle (admission, filters, scorers, picker, PreRequest) over three endpoints.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ig/sched.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    struct ig_epc *cfg = NULL;
    struct ig_sched *s = NULL;

    if (ig_epc_load_string("fuzz.yaml", (const char *)data, size, &cfg, err, sizeof(err)) != 0) {
        if (err[0] == '\0')
            abort(); /* a failure always says why */
        return 0;
    }
    if (ig_sched_create(cfg, 1, &s, err, sizeof(err)) == 0) {
        static const char prompt[] = "Write as if you were a critic: San Francisco, and then some more text so that "
                                     "the prompt spans a few prefix blocks of sixty-four characters.";
        struct ig_oai_request body = {
            .model = IG_STRLIT("m"), .prefix = {IG_STRLIT(prompt)}, .n_prefix = 1, .prefix_len = sizeof(prompt) - 1};
        struct ig_sched_kv hdr = {IG_STRLIT("test-epp-endpoint-selection"), IG_STRLIT("10.0.0.2")};
        struct ig_sched_endpoint ep[3];
        struct ig_sched_endpoint *eps[3];
        memset(ep, 0, sizeof(ep));
        for (int i = 0; i < 3; i++) {
            ep[i].id = (uint32_t)i;
            ep[i].ip = i == 1 ? IG_STRLIT("10.0.0.2") : IG_STRLIT("10.0.0.1");
            ep[i].address = ep[i].ip;
            ep[i].metrics.waiting_queue_size = i * 3;
            ep[i].metrics.kv_cache_usage_percent = 0.3 * i;
            ep[i].metrics.update_time_ns = 1;
            eps[i] = &ep[i];
        }
        struct ig_sched_request rq = {.body = &body,
                                      .target_model = IG_STRLIT("m"),
                                      .headers = &hdr,
                                      .n_headers = 1,
                                      .priority = -1,
                                      .now_ns = 2};
        struct ig_sched_error e;
        ig_pool_t pool;
        struct ig_sched_cycle cy;
        ig_pool_init(&pool);
        (void)ig_sched_admit(s, &rq, eps, 3, &e);
        ig_sched_cycle_init(&cy, &rq, &pool);
        if (ig_sched_schedule(s, &cy, eps, 3, &e) == 0) {
            ig_sched_pre_request(s, &cy);
            ig_sched_request_done(s, &cy);
        }
        ig_pool_dispose(&pool);
        ig_sched_destroy(s);
    }
    ig_epc_free(cfg);
    return 0;
}
