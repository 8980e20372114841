/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the simulator's paged KV cache (kvcache.c): allocation order (blank blocks
 * before evicting cached ones), refcounted sharing, prefix matching, LRU eviction order,
 * exhaustion, duplicate hashes and the prefix-caching switch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sim_kv.h"

static void expect_stats(const struct ig_sim_kv *kv, uint32_t held, uint32_t cached)
{
    struct ig_sim_kv_stats st;
    ig_sim__kv_stats(kv, &st);
    assert_int_equal(st.held, held);
    assert_int_equal(st.cached, cached);
}

/* Allocates |n| blocks and indexes them under |hashes|. */
static void fill(struct ig_sim_kv *kv, const uint64_t *hashes, uint32_t n, uint32_t *ids)
{
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(ig_sim__kv_alloc(kv, &ids[i]), 0);
        ig_sim__kv_set_hash(kv, ids[i], hashes[i]);
    }
}

static void test_alloc_blank_first_then_exhaust(void **state)
{
    (void)state;
    struct ig_sim_kv *kv = ig_sim__kv_create(3, 1);
    uint32_t id[4];
    assert_int_equal(ig_sim__kv_available(kv), 3);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(ig_sim__kv_alloc(kv, &id[i]), 0);
        assert_int_equal(id[i], i);
        assert_int_equal(ig_sim__kv_refcount(kv, i), 1);
    }
    assert_int_equal(ig_sim__kv_available(kv), 0);
    assert_int_equal(ig_sim__kv_alloc(kv, &id[3]), IG_EAGAIN);
    expect_stats(kv, 3, 0);
    ig_sim__kv_release(kv, id, 3); /* no hashes: all blank again */
    expect_stats(kv, 0, 0);
    assert_int_equal(ig_sim__kv_available(kv), 3);
    ig_sim__kv_destroy(kv);
}

static void test_match_share_and_release(void **state)
{
    (void)state;
    struct ig_sim_kv *kv = ig_sim__kv_create(8, 1);
    const uint64_t h[3] = {11, 22, 33};
    uint32_t a[3], b[3], idle;
    fill(kv, h, 3, a);
    assert_int_equal(ig_sim__kv_match(kv, h, 3, &idle), 3);
    assert_int_equal(idle, 0); /* all held */

    const uint64_t other[3] = {11, 22, 99};
    assert_int_equal(ig_sim__kv_match(kv, other, 3, &idle), 2);
    ig_sim__kv_acquire(kv, other, 2, b);
    assert_int_equal(b[0], a[0]);
    assert_int_equal(b[1], a[1]);
    assert_int_equal(ig_sim__kv_refcount(kv, a[0]), 2);
    expect_stats(kv, 3, 0);

    ig_sim__kv_release(kv, a, 3);
    expect_stats(kv, 2, 1); /* block of 33 is cached, 11 and 22 still held by b */
    assert_int_equal(ig_sim__kv_match(kv, h, 3, &idle), 3);
    assert_int_equal(idle, 1);
    ig_sim__kv_release(kv, b, 2);
    expect_stats(kv, 0, 3);
    assert_int_equal(ig_sim__kv_available(kv), 8);
    ig_sim__kv_destroy(kv);
}

static void test_lru_eviction_order(void **state)
{
    (void)state;
    struct ig_sim_kv *kv = ig_sim__kv_create(4, 1);
    const uint64_t p[2] = {1, 2}, q[2] = {3, 4};
    uint32_t a[2], b[2], x, idle;
    fill(kv, p, 2, a);
    fill(kv, q, 2, b);
    ig_sim__kv_release(kv, a, 2); /* LRU: 2, 1 (tail first) */
    ig_sim__kv_release(kv, b, 2); /* LRU: 2, 1, 4, 3 */
    ig_sim__kv_acquire(kv, p, 2, a);
    ig_sim__kv_release(kv, a, 2); /* p used again: LRU 4, 3, 2, 1 */
    expect_stats(kv, 0, 4);

    assert_int_equal(ig_sim__kv_alloc(kv, &x), 0); /* evicts q's tail block (4) */
    assert_int_equal(x, b[1]);
    assert_int_equal(ig_sim__kv_match(kv, q, 2, &idle), 1);
    assert_int_equal(ig_sim__kv_match(kv, p, 2, &idle), 2);
    assert_int_equal(ig_sim__kv_alloc(kv, &x), 0); /* then q's head */
    assert_int_equal(x, b[0]);
    assert_int_equal(ig_sim__kv_match(kv, q, 2, &idle), 0);
    assert_int_equal(ig_sim__kv_match(kv, p, 2, &idle), 2);
    expect_stats(kv, 2, 2);
    ig_sim__kv_destroy(kv);
}

static void test_blank_before_evict(void **state)
{
    (void)state;
    struct ig_sim_kv *kv = ig_sim__kv_create(3, 1);
    const uint64_t h[1] = {7};
    uint32_t a, x, y, idle;
    fill(kv, h, 1, &a);
    ig_sim__kv_release(kv, &a, 1);
    assert_int_equal(ig_sim__kv_alloc(kv, &x), 0);
    assert_int_equal(ig_sim__kv_alloc(kv, &y), 0);
    assert_int_not_equal(x, a);
    assert_int_not_equal(y, a);
    assert_int_equal(ig_sim__kv_match(kv, h, 1, &idle), 1); /* still cached */
    assert_int_equal(ig_sim__kv_alloc(kv, &x), 0);
    assert_int_equal(x, a);
    assert_int_equal(ig_sim__kv_match(kv, h, 1, &idle), 0); /* evicted, hash dropped */
    ig_sim__kv_destroy(kv);
}

static void test_duplicate_hash_keeps_first(void **state)
{
    (void)state;
    struct ig_sim_kv *kv = ig_sim__kv_create(4, 1);
    const uint64_t h[1] = {5};
    uint32_t a, b, c, idle;
    fill(kv, h, 1, &a);
    fill(kv, h, 1, &b); /* same content computed twice: only the first is indexed */
    ig_sim__kv_release(kv, &b, 1);
    expect_stats(kv, 1, 0); /* b went back blank */
    assert_int_equal(ig_sim__kv_match(kv, h, 1, &idle), 1);
    ig_sim__kv_acquire(kv, h, 1, &c);
    assert_int_equal(c, a);
    ig_sim__kv_release(kv, &a, 1);
    ig_sim__kv_release(kv, &c, 1);
    expect_stats(kv, 0, 1);
    ig_sim__kv_destroy(kv);
}

static void test_no_prefix_caching(void **state)
{
    (void)state;
    struct ig_sim_kv *kv = ig_sim__kv_create(4, 0);
    const uint64_t h[2] = {1, 2};
    uint32_t a[2], idle;
    fill(kv, h, 2, a);
    assert_int_equal(ig_sim__kv_match(kv, h, 2, &idle), 0);
    ig_sim__kv_release(kv, a, 2);
    expect_stats(kv, 0, 0);
    assert_int_equal(ig_sim__kv_available(kv), 4);
    ig_sim__kv_destroy(kv);
}

static void test_many_hashes_one_bucket_chain(void **state)
{
    (void)state;
    /* Hashes that collide in the bucket index must still be told apart and unlinked correctly. */
    struct ig_sim_kv *kv = ig_sim__kv_create(4, 1);
    const uint64_t h[4] = {0x400000000ull, 0x800000000ull, 0xC00000000ull, 0x1000000000ull};
    uint32_t a[4], x, idle;
    fill(kv, h, 4, a);
    ig_sim__kv_release(kv, a, 4); /* LRU: a3 a2 a1 a0 */
    assert_int_equal(ig_sim__kv_alloc(kv, &x), 0);
    assert_int_equal(x, a[3]);
    assert_int_equal(ig_sim__kv_match(kv, h, 4, &idle), 3);
    assert_int_equal(idle, 3);
    ig_sim__kv_destroy(kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_blank_first_then_exhaust),
        cmocka_unit_test(test_match_share_and_release),
        cmocka_unit_test(test_lru_eviction_order),
        cmocka_unit_test(test_blank_before_evict),
        cmocka_unit_test(test_duplicate_hash_keeps_first),
        cmocka_unit_test(test_no_prefix_caching),
        cmocka_unit_test(test_many_hashes_one_bucket_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
