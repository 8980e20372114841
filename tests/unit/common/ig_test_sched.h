/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared fixtures for scheduler unit tests: a numbered array of endpoints (ids, addresses and
 * fresh metrics, the strings they borrow kept alongside) and loading an EndpointPickerConfig
 * text into a scheduler, replacing the one a previous load made. Test thread only.
 */
#ifndef IG_TEST_SCHED_H
#define IG_TEST_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "ig/sched.h"

#define IG_TEST_SCHED_MAX_EP 8

struct ig_test_endpoints {
    struct ig_sched_endpoint ep[IG_TEST_SCHED_MAX_EP];
    struct ig_sched_endpoint *eps[IG_TEST_SCHED_MAX_EP]; /* eps[i] == &ep[i] */
    char addr[IG_TEST_SCHED_MAX_EP][48];                 /* borrowed by ep[i].address and .name */
    char ip[IG_TEST_SCHED_MAX_EP][32];                   /* borrowed by ep[i].ip */
};

/**
 * Zeroes every endpoint of |t|, then sets up the first |n| (at most IG_TEST_SCHED_MAX_EP):
 * endpoint i has id i, ip |net|<i+1> (|net| such as "10.0.0."), address and name "<ip>:8000",
 * and metrics updated at |now_ns|.
 */
void ig_test_endpoints_init(struct ig_test_endpoints *t, size_t n, const char *net, uint64_t now_ns);

/**
 * Frees *|sch| and *|cfg| (either may be NULL), then loads |yaml| into *|cfg| and creates *|sch|
 * from it with random |seed|. Returns 0, or -1 with the reason in |e| (and *|sch| NULL; *|cfg|
 * NULL too when the text did not load).
 */
int ig_test_sched_load(const char *yaml, uint64_t seed, struct ig_epc **cfg, struct ig_sched **sch, char *e,
                       size_t elen);

/** Frees *|sch| and *|cfg| and sets both to NULL. */
void ig_test_sched_free(struct ig_epc **cfg, struct ig_sched **sch);

#endif
