/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the configuration loader: arbitrary bytes through ig_config_load_string must
 * never crash, hang or leak, whether they load or fail. A loaded snapshot is also dumped and used
 * for one route lookup so the resolved pointers and compiled regexes are exercised.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ig/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int env_cleared;
    char err[1024];
    struct ig_config *cfg = NULL;

    if (!env_cleared) {
        unsetenv("ADMIN_ADDR");
        unsetenv("STATS_ADDR");
        unsetenv("READINESS_ADDR");
        unsetenv("WORKER_THREADS");
        env_cleared = 1;
    }
    if (ig_config_load_string("fuzz.yaml", (const char *)data, size, &cfg, err, sizeof(err)) != 0)
        return 0;
    ig_buf_t b;
    ig_buf_init(&b, 1 << 22);
    ig_config_dump_json(cfg, &b, 1);
    ig_buf_dispose(&b);
    struct ig_cfg_header h = {IG_STRLIT("x-model"), IG_STRLIT("llama-3")};
    struct ig_cfg_request req = {IG_STRLIT("POST"),
                                 IG_STRLIT("http"),
                                 IG_STRLIT("api.example.com:8080"),
                                 IG_STRLIT("/v1/chat/completions?a=1&b=%202"),
                                 &h,
                                 1};
    for (size_t i = 0; i < cfg->n_binds; i++) {
        const struct ig_cfg_listener *l = ig_config_select_listener(&cfg->binds[i], req.host);
        if (l != NULL)
            ig_config_match_route(l, &req, NULL);
    }
    ig_config_unref(cfg);
    return 0;
}
