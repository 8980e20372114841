/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The prefix hash chain (seeded with model and cache_salt, 64-character blocks, trailing partial
 * block, truncation at maxPrefixBlocksToMatch, text split over several spans) against XXH64
 * computed here by hand; and the index: matching stops at the first unheld hash, per-endpoint LRU
 * eviction at capacity, forgetting an endpoint, and autoTune from cache_config_info.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "sched_int.h"

static uint64_t chain(uint64_t prev, const char *block, size_t n)
{
    char buf[1100];
    memcpy(buf, block, n);
    for (int i = 0; i < 8; i++)
        buf[n + (size_t)i] = (char)(prev >> (8 * i));
    return XXH64(buf, n + 8, 0);
}

static char text[4096];

static void test_hash_chain(void **state)
{
    (void)state;
    uint64_t h[IG_SCHED_MAX_HASHES];
    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = (char)('A' + i % 53);
    ig_iov_t span = ig_iov(text, 150); /* 2 full blocks + 22 bytes */
    size_t n = ig_prefix_hashes(IG_STRLIT("llama"), IG_STRLIT("salt"), &span, 1, 64, 256, h);
    assert_int_equal(n, 3);
    uint64_t h0 = XXH64("llamasalt", 9, 0);
    uint64_t h1 = chain(h0, text, 64), h2 = chain(h1, text + 64, 64), h3 = chain(h2, text + 128, 22);
    assert_true(h[0] == h1 && h[1] == h2 && h[2] == h3);

    /* The same text split over spans hashes the same. */
    ig_iov_t parts[3] = {ig_iov(text, 10), ig_iov(text + 10, 100), ig_iov(text + 110, 40)};
    uint64_t g[IG_SCHED_MAX_HASHES];
    assert_int_equal(ig_prefix_hashes(IG_STRLIT("llama"), IG_STRLIT("salt"), parts, 3, 64, 256, g), 3);
    assert_memory_equal(g, h, 3 * sizeof(uint64_t));

    /* Salt and model change the whole chain. */
    assert_int_equal(ig_prefix_hashes(IG_STRLIT("llama"), IG_STRLIT(""), &span, 1, 64, 256, g), 3);
    assert_true(g[0] != h[0] && g[2] != h[2]);

    /* Shorter than a block: nothing. Exactly one block: one hash, no partial. */
    span.len = 63;
    assert_int_equal(ig_prefix_hashes(IG_STRLIT("m"), IG_IOV_NULL, &span, 1, 64, 256, g), 0);
    span.len = 64;
    assert_int_equal(ig_prefix_hashes(IG_STRLIT("m"), IG_IOV_NULL, &span, 1, 64, 256, g), 1);

    /* Truncation: at most max_blocks full blocks, no partial beyond them. */
    span.len = 4096;
    assert_int_equal(ig_prefix_hashes(IG_STRLIT("m"), IG_IOV_NULL, &span, 1, 64, 10, g), 10);
    assert_int_equal(ig_prefix_hashes(IG_STRLIT("m"), IG_IOV_NULL, &span, 1, 64, 256, g), 64);

    /* Blocks larger than the stack buffer take the streaming path; same chain rule. */
    static char big[20000];
    memset(big, 'x', sizeof(big));
    span = ig_iov(big, sizeof(big));
    assert_int_equal(ig_prefix_hashes(IG_STRLIT("m"), IG_IOV_NULL, &span, 1, 8192, 256, g), 3);
    XXH64_state_t *st = XXH64_createState();
    XXH64_reset(st, 0);
    XXH64_update(st, big, 8192);
    char le[8];
    uint64_t m0 = XXH64("m", 1, 0);
    for (int i = 0; i < 8; i++)
        le[i] = (char)(m0 >> (8 * i));
    XXH64_update(st, le, 8);
    assert_true(XXH64_digest(st) == g[0]);
    XXH64_freeState(st);
}

static void test_index_match_and_lru(void **state)
{
    (void)state;
    struct ig_prefix_index *ix = ig_prefix_index_create();
    uint64_t a[4] = {1, 2, 3, 4}, b[2] = {1, 2};
    ig_prefix_index_add(ix, 0, 100, a, 4);
    ig_prefix_index_add(ix, 5, 100, b, 2);
    assert_int_equal(ig_prefix_index_size(ix), 6);
    /* walk 1,2,3,9,4: stops at 9 */
    uint64_t q[5] = {1, 2, 3, 9, 4};
    assert_int_equal(ig_prefix_index_match(ix, q, 5, 1), 3);
    assert_int_equal(ig_prefix_index_matched(ix, 0, 1), 3);
    assert_int_equal(ig_prefix_index_matched(ix, 5, 1), 2);
    assert_int_equal(ig_prefix_index_matched(ix, 7, 1), 0);
    assert_int_equal(ig_prefix_index_matched(ix, 0, 2), 0); /* another request's stamp */
    /* the first hash unknown: nobody matches */
    uint64_t r[2] = {8, 1};
    assert_int_equal(ig_prefix_index_match(ix, r, 2, 3), 0);
    assert_int_equal(ig_prefix_index_matched(ix, 0, 3), 0);

    /* LRU of capacity 3 on server 9: re-adding 10 refreshes it, 12 then evicts 11. */
    uint64_t c[3] = {10, 11, 13};
    ig_prefix_index_add(ix, 9, 3, c, 3);
    uint64_t again = 10, more = 12;
    ig_prefix_index_add(ix, 9, 3, &again, 1);
    ig_prefix_index_add(ix, 9, 3, &more, 1);
    uint64_t w10 = 10, w11 = 11, w12 = 12, w13 = 13;
    assert_int_equal(ig_prefix_index_match(ix, &w10, 1, 4), 1);
    assert_int_equal(ig_prefix_index_match(ix, &w11, 1, 5), 0);
    assert_int_equal(ig_prefix_index_match(ix, &w12, 1, 6), 1);
    assert_int_equal(ig_prefix_index_match(ix, &w13, 1, 7), 1);
    assert_int_equal(ig_prefix_index_size(ix), 9);

    /* many entries: rehashing keeps every entry reachable */
    static uint64_t many[20000];
    for (size_t i = 0; i < 20000; i++)
        many[i] = 1000 + i * 7919;
    ig_prefix_index_add(ix, 2, 31250, many, 20000);
    assert_int_equal(ig_prefix_index_match(ix, many, 20000, 8), 20000);
    assert_int_equal(ig_prefix_index_matched(ix, 2, 8), 20000);

    ig_prefix_index_forget(ix, 2);
    ig_prefix_index_forget(ix, 0);
    ig_prefix_index_forget(ix, 1234); /* unknown: no-op */
    assert_int_equal(ig_prefix_index_size(ix), 2 + 3);
    /* ids past the bound get no entries (a bogus id must not size the slot array) */
    ig_prefix_index_add(ix, IG_SCHED_MAX_ENDPOINT_ID, 10, a, 4);
    assert_int_equal(ig_prefix_index_size(ix), 2 + 3);
    ig_prefix_index_destroy(ix);
}

/* autoTune: block size and capacity come from the endpoints' cache_config_info. */
static void test_auto_tune(void **state)
{
    (void)state;
    static const char yaml[] = "plugins:\n- type: prefix-cache-scorer\n";
    struct ig_epc *cfg;
    struct ig_sched *s;
    char e[512];
    assert_int_equal(ig_epc_load_string("t", yaml, strlen(yaml), &cfg, e, sizeof(e)), 0);
    assert_int_equal(ig_sched_create(cfg, 1, &s, e, sizeof(e)), 0);
    struct ig_sched_endpoint ep = {.id = 1, .metrics = {.cache_block_size = 32, .cache_num_blocks = 5}};
    struct ig_sched_endpoint *eps[1] = {&ep};
    ig_iov_t body_text = ig_iov(text, 1000);
    struct ig_oai_request body = {.model = IG_STRLIT("m"), .prefix = {body_text}, .n_prefix = 1, .prefix_len = 1000};
    struct ig_sched_request rq = {.body = &body};
    struct ig_sched_cycle cy;
    ig_pool_t pool;
    ig_pool_init(&pool);
    ig_sched_cycle_init(&cy, &rq, &pool);
    assert_int_equal(ig_sched_schedule(s, &cy, eps, 1, NULL), 0);
    assert_int_equal(cy._block_chars, 128);
    assert_int_equal(cy._n_hashes, 8); /* 7 full blocks + 104 bytes */
    ig_sched_pre_request(s, &cy);
    assert_int_equal(ig_sched_prefix_index_size(s), 5); /* capacity = num_gpu_blocks */
    ig_sched_request_done(s, &cy);
    ig_pool_dispose(&pool);
    ig_sched_destroy(s);
    ig_epc_free(cfg);

    /* autoTune off, v1.0-style parameters on the scorer: they configure the producer. */
    static const char y2[] = "plugins:\n- type: prefix-cache-scorer\n  parameters: {autoTune: false, "
                             "blockSizeTokens: 4, maxPrefixBlocksToMatch: 3, lruCapacityPerServer: 2}\n";
    assert_int_equal(ig_epc_load_string("t", y2, strlen(y2), &cfg, e, sizeof(e)), 0);
    size_t pi = ig_epc_find(cfg, IG_STRLIT("approx-prefix-cache-producer"));
    assert_true(pi != SIZE_MAX);
    assert_int_equal(cfg->plugins[pi].params.block_size_tokens, 4);
    assert_int_equal(ig_sched_create(cfg, 1, &s, e, sizeof(e)), 0);
    ig_pool_init(&pool);
    ig_sched_cycle_init(&cy, &rq, &pool);
    assert_int_equal(ig_sched_schedule(s, &cy, eps, 1, NULL), 0);
    assert_int_equal(cy._block_chars, 16);
    assert_int_equal(cy._n_hashes, 3);
    ig_sched_pre_request(s, &cy);
    assert_int_equal(ig_sched_prefix_index_size(s), 2);
    ig_pool_dispose(&pool);
    ig_sched_destroy(s);
    ig_epc_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_chain),
        cmocka_unit_test(test_index_match_and_lru),
        cmocka_unit_test(test_auto_tune),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
