/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the arena pool: alignment, large blocks, clear/reuse and the per-thread chunk
 * cache that keeps a steady-state request path free of malloc.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core_int.h"
#include "ig/core.h"

static void test_alignment(void **state)
{
    (void)state;
    ig_pool_t pool;
    ig_pool_init(&pool);
    for (size_t n = 0; n < 300; n++) {
        char *p = ig_pool_alloc(&pool, n % 37 + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, n % 37 + 1); /* ASan catches overlap with a neighbour's header */
    }
    assert_int_equal(ig_pool_bytes(&pool) > 0, 1);
    ig_pool_dispose(&pool);
}

static void test_distinct_and_calloc(void **state)
{
    (void)state;
    ig_pool_t pool;
    ig_pool_init(&pool);
    char *a = ig_pool_alloc(&pool, 10);
    char *b = ig_pool_alloc(&pool, 10);
    assert_true(b >= a + 10 || a >= b + 10);
    unsigned char *z = ig_pool_calloc(&pool, 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(z[i], 0);
    ig_pool_dispose(&pool);
}

static void test_large_blocks(void **state)
{
    (void)state;
    ig_pool_t pool;
    ig_pool_init(&pool);
    char *small = ig_pool_alloc(&pool, 8);
    struct ig_pool_chunk *first = pool._chunks;
    char *big = ig_pool_alloc(&pool, 3 * IG_POOL_CHUNK_SIZE);
    assert_int_equal((uintptr_t)big % 16, 0);
    memset(big, 1, 3 * IG_POOL_CHUNK_SIZE);
    assert_non_null(pool._large);
    /* A large block does not start a new chunk: the next small allocation continues the first. */
    char *small2 = ig_pool_alloc(&pool, 8);
    assert_ptr_equal(pool._chunks, first);
    assert_ptr_equal(small2, small + 16);
    assert_int_equal(ig_pool_bytes(&pool), 16 + 3 * IG_POOL_CHUNK_SIZE);
    ig_pool_clear(&pool);
    assert_null(pool._large);
    assert_int_equal(ig_pool_bytes(&pool), 0);
    ig_pool_dispose(&pool);
}

static void test_clear_reuse(void **state)
{
    (void)state;
    ig_pool_t pool;
    ig_pool_init(&pool);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
            char *p = ig_pool_alloc(&pool, 200);
            memset(p, round, 200);
        }
        assert_true(ig_pool_bytes(&pool) == 100 * 200);
        ig_pool_clear(&pool);
        assert_null(pool._chunks);
    }
    ig_pool_dispose(&pool);
}

static void test_chunk_recycling(void **state)
{
    (void)state;
    ig_pool__trim_cache();
    assert_int_equal(ig_pool__cached_chunks(), 0);
    ig_pool_t a;
    ig_pool_init(&a);
    ig_pool_alloc(&a, 100);
    struct ig_pool_chunk *c1 = a._chunks;
    ig_pool_alloc(&a, IG_POOL_CHUNK_SIZE / 4);
    ig_pool_alloc(&a, IG_POOL_CHUNK_SIZE / 4);
    ig_pool_alloc(&a, IG_POOL_CHUNK_SIZE / 4);
    ig_pool_alloc(&a, IG_POOL_CHUNK_SIZE / 4); /* does not fit: second chunk */
    assert_ptr_not_equal(a._chunks, c1);
    ig_pool_dispose(&a);
    assert_int_equal(ig_pool__cached_chunks(), 2);

    /* A new pool on this thread takes its chunks from the cache, not from malloc. */
    ig_pool_t b;
    ig_pool_init(&b);
    ig_mem_fail_after(1); /* any malloc now would abort the test */
    ig_pool_alloc(&b, 64);
    ig_pool_alloc(&b, IG_POOL_CHUNK_SIZE - 64); /* fills the first chunk exactly */
    ig_pool_alloc(&b, 16);                      /* second chunk */
    ig_mem_fail_after(0);
    assert_int_equal(ig_pool__cached_chunks(), 0);
    ig_pool_dispose(&b);
    assert_int_equal(ig_pool__cached_chunks(), 2);
    ig_pool__trim_cache();
    assert_int_equal(ig_pool__cached_chunks(), 0);
}

static void *thread_body(void *arg)
{
    size_t *cached = arg;
    ig_pool_t p;
    ig_pool_init(&p);
    ig_pool_alloc(&p, 1);
    ig_pool_dispose(&p);
    *cached = ig_pool__cached_chunks();
    return NULL; /* the thread-exit destructor frees the cache (LeakSanitizer checks) */
}

static void test_cache_is_per_thread(void **state)
{
    (void)state;
    ig_pool__trim_cache();
    size_t cached = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_body, &cached), 0);
    pthread_join(t, NULL);
    assert_int_equal(cached, 1);
    assert_int_equal(ig_pool__cached_chunks(), 0);
}

static void test_dup_printf(void **state)
{
    (void)state;
    ig_pool_t pool;
    ig_pool_init(&pool);
    ig_iov_t d = ig_pool_dup(&pool, ig_iov("abcdef", 3));
    assert_int_equal(d.len, 3);
    assert_string_equal(d.base, "abc");
    assert_string_equal(ig_pool_strdup(&pool, "hello"), "hello");
    assert_string_equal(ig_pool_printf(&pool, "%s-%d", "x", 42), "x-42");
    char longs[1000];
    memset(longs, 'q', sizeof(longs) - 1);
    longs[sizeof(longs) - 1] = '\0';
    char *p = ig_pool_printf(&pool, "<%s>", longs);
    assert_int_equal(strlen(p), 1001);
    assert_int_equal(p[0], '<');
    assert_int_equal(p[1000], '>');
    ig_pool_dispose(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment),       cmocka_unit_test(test_distinct_and_calloc),
        cmocka_unit_test(test_large_blocks),    cmocka_unit_test(test_clear_reuse),
        cmocka_unit_test(test_chunk_recycling), cmocka_unit_test(test_cache_is_per_thread),
        cmocka_unit_test(test_dup_printf),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ig_pool__trim_cache();
    return rc;
}
