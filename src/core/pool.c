/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-request arenas. Small allocations are bumped out of fixed-size chunks; chunks released by
 * ig_pool_clear/ig_pool_dispose go to a per-thread cache so a steady-state request path never
 * calls malloc. Allocations that would waste a large part of a chunk get their own block, freed
 * with the pool. The cache is bounded and freed when its thread exits.
 */
#include <pthread.h>
#include <stdalign.h>
#include <stdio.h>

#include "core_int.h"
#include "ig/core.h"

#define POOL_ALIGN 16
/* Chunks kept per thread: 256 KiB, enough for a few hundred concurrent small requests. */
#define POOL_CACHE_MAX 64
/* Requests above this size that do not fit in the current chunk get a dedicated block, so
 * that a new chunk is never started (and the old tail wasted) for something this big. */
#define POOL_LARGE_MIN (IG_POOL_CHUNK_SIZE / 4)

struct ig_pool_chunk {
    struct ig_pool_chunk *next;
    alignas(POOL_ALIGN) char data[IG_POOL_CHUNK_SIZE];
};

struct ig_pool_large {
    struct ig_pool_large *next;
    alignas(POOL_ALIGN) char data[];
};

static _Thread_local struct ig_pool_chunk *cache_head;
static _Thread_local size_t cache_count;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_free_all(void)
{
    while (cache_head != NULL) {
        struct ig_pool_chunk *c = cache_head;
        cache_head = c->next;
        ig_free(c);
    }
    cache_count = 0;
}

static void cache_thread_exit(void *unused)
{
    (void)unused;
    cache_free_all();
}

static void cache_key_create(void)
{
    IG_ASSERT(pthread_key_create(&cache_key, cache_thread_exit) == 0);
}

static struct ig_pool_chunk *chunk_get(void)
{
    struct ig_pool_chunk *c = cache_head;
    if (c != NULL) {
        cache_head = c->next;
        cache_count--;
        return c;
    }
    return ig_malloc(sizeof(*c));
}

static void chunk_put(struct ig_pool_chunk *c)
{
    if (cache_count >= POOL_CACHE_MAX) {
        ig_free(c);
        return;
    }
    if (IG_UNLIKELY(cache_head == NULL)) {
        /* A non-NULL key value makes the destructor run when this thread exits. */
        pthread_once(&cache_once, cache_key_create);
        if (pthread_getspecific(cache_key) == NULL)
            pthread_setspecific(cache_key, (void *)1);
    }
    c->next = cache_head;
    cache_head = c;
    cache_count++;
}

size_t ig_pool__cached_chunks(void)
{
    return cache_count;
}

void ig_pool__trim_cache(void)
{
    cache_free_all();
}

void ig_pool_init(ig_pool_t *pool)
{
    pool->_chunks = NULL;
    pool->_large = NULL;
    pool->_offset = IG_POOL_CHUNK_SIZE;
    pool->_bytes = 0;
}

static void *alloc_large(ig_pool_t *pool, size_t n)
{
    IG_ASSERT(n < SIZE_MAX - sizeof(struct ig_pool_large));
    struct ig_pool_large *l = ig_malloc(sizeof(*l) + n);
    l->next = pool->_large;
    pool->_large = l;
    return l->data;
}

void *ig_pool_alloc(ig_pool_t *pool, size_t n)
{
    size_t rounded = (n + (POOL_ALIGN - 1)) & ~(size_t)(POOL_ALIGN - 1);
    if (rounded < n)
        rounded = n; /* overflow: alloc_large aborts on the absurd size */
    pool->_bytes += n;
    if (IG_LIKELY(pool->_chunks != NULL && rounded <= IG_POOL_CHUNK_SIZE - pool->_offset)) {
        void *p = pool->_chunks->data + pool->_offset;
        pool->_offset += rounded;
        return p;
    }
    /* An empty pool wastes no tail by starting a chunk, so anything that fits one goes there
     * (the HTTP/1.1 server copies a request head of a few KiB as the first allocation). */
    if (rounded > POOL_LARGE_MIN && (pool->_chunks != NULL || rounded > IG_POOL_CHUNK_SIZE))
        return alloc_large(pool, n);
    struct ig_pool_chunk *c = chunk_get();
    c->next = pool->_chunks;
    pool->_chunks = c;
    pool->_offset = rounded;
    return c->data;
}

void *ig_pool_calloc(ig_pool_t *pool, size_t n)
{
    void *p = ig_pool_alloc(pool, n);
    memset(p, 0, n);
    return p;
}

ig_iov_t ig_pool_dup(ig_pool_t *pool, ig_iov_t s)
{
    char *d = ig_pool_alloc(pool, s.len + 1);
    if (s.len != 0)
        memcpy(d, s.base, s.len);
    d[s.len] = '\0';
    return ig_iov(d, s.len);
}

char *ig_pool_strdup(ig_pool_t *pool, const char *s)
{
    return ig_pool_dup(pool, ig_iov_cstr(s)).base;
}

char *ig_pool_printf(ig_pool_t *pool, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    int len = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    IG_ASSERT(len >= 0);
    char *d = ig_pool_alloc(pool, (size_t)len + 1);
    if ((size_t)len < sizeof(small)) {
        memcpy(d, small, (size_t)len + 1);
        return d;
    }
    va_start(ap, fmt);
    vsnprintf(d, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return d;
}

void ig_pool_clear(ig_pool_t *pool)
{
    while (pool->_chunks != NULL) {
        struct ig_pool_chunk *c = pool->_chunks;
        pool->_chunks = c->next;
        chunk_put(c);
    }
    while (pool->_large != NULL) {
        struct ig_pool_large *l = pool->_large;
        pool->_large = l->next;
        ig_free(l);
    }
    pool->_offset = IG_POOL_CHUNK_SIZE;
    pool->_bytes = 0;
}

void ig_pool_dispose(ig_pool_t *pool)
{
    ig_pool_clear(pool);
}
