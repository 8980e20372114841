/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the EPP's objectives-file loader (--objectives-file: InferenceObjective and
 * InferenceModelRewrite resources, YAML or JSON): arbitrary bytes must load or fail with a
 * positioned message, never crash or leak. A set that loads must answer lookups of every name and
 * matched model it declares, and every rewrite must land on one of the rule's targets.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ig/epp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    struct ig_epp_objectives o;

    if (size > IG_EPP_MAX_FILE)
        return 0;
    err[0] = '\0';
    ig_epp_objectives_init(&o);
    if (ig_epp_objectives_load_string("fuzz.yaml", (const char *)data, size, &o, err, sizeof(err)) != 0) {
        if (strncmp(err, "fuzz.yaml:", 10) != 0 || o.n_objectives != 0 || o.n_rewrites != 0)
            abort();
        ig_epp_objectives_dispose(&o);
        return 0;
    }
    for (size_t i = 0; i < o.n_objectives; i++) {
        int p = 0;
        /* names are unique, so the lookup finds this very objective */
        if (ig_epp_objectives_priority(&o, o.objectives[i].name, &p) != 0 || p != o.objectives[i].priority)
            abort();
    }
    for (size_t i = 0; i < o.n_rewrites; i++) {
        for (size_t j = 0; j < o.rewrites[i].n_rules; j++) {
            const struct ig_epp_rewrite_rule *r = &o.rewrites[i].rules[j];
            if (r->n_targets == 0)
                abort();
            for (size_t m = 0; m < r->n_models; m++) {
                ig_iov_t t, n;
                if (ig_epp_objectives_rewrite(&o, r->models[m], size * 7919u, &t, &n) != 0 || t.len == 0 || n.len == 0)
                    abort();
            }
        }
    }
    ig_epp_objectives_dispose(&o);
    return 0;
}
