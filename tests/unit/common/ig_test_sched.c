/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared fixtures for scheduler unit tests (see ig_test_sched.h): endpoint arrays and loading a
 * scheduler from configuration text. Failures are returned, not asserted, so a test can check a
 * configuration that must be refused.
 */
#include "ig_test_sched.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

void ig_test_endpoints_init(struct ig_test_endpoints *t, size_t n, const char *net, uint64_t now_ns)
{
    assert(n <= IG_TEST_SCHED_MAX_EP);
    memset(t->ep, 0, sizeof(t->ep));
    for (size_t i = 0; i < n; i++) {
        snprintf(t->ip[i], sizeof(t->ip[i]), "%s%zu", net, i + 1);
        snprintf(t->addr[i], sizeof(t->addr[i]), "%s%zu:8000", net, i + 1);
        t->ep[i].id = (uint32_t)i;
        t->ep[i].ip = ig_iov_cstr(t->ip[i]);
        t->ep[i].address = ig_iov_cstr(t->addr[i]);
        t->ep[i].name = t->ep[i].address;
        t->ep[i].metrics.update_time_ns = now_ns;
        t->eps[i] = &t->ep[i];
    }
}

int ig_test_sched_load(const char *yaml, uint64_t seed, struct ig_epc **cfg, struct ig_sched **sch, char *e,
                       size_t elen)
{
    ig_test_sched_free(cfg, sch);
    if (ig_epc_load_string("t.yaml", yaml, strlen(yaml), cfg, e, elen) != 0) {
        *cfg = NULL;
        return -1;
    }
    if (ig_sched_create(*cfg, seed, sch, e, elen) != 0) {
        *sch = NULL;
        return -1;
    }
    return 0;
}

void ig_test_sched_free(struct ig_epc **cfg, struct ig_sched **sch)
{
    ig_sched_destroy(*sch);
    ig_epc_free(*cfg);
    *sch = NULL;
    *cfg = NULL;
}
