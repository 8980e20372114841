/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Capped byte buffers. Every I/O buffer in infergate has a hard maximum so that a peer can never
 * make us allocate without bound: an append that would cross the cap fails with IG_ETOOBIG and
 * leaves the buffer exactly as it was. Consuming from the front is O(1); the space is reclaimed
 * by sliding the data down before the buffer next grows. Connection buffers borrow fixed-size blocks
 * from a bounded per-thread cache (ig_buf_borrow / ig_buf_release), so that they cost no memory
 * while idle and no malloc while busy.
 */
#include <pthread.h>
#include <stdio.h>

#include "ig/core.h"

#define BUF_MIN_CAP 256
/* Blocks kept per thread: 256 KiB, enough for the buffers of a few dozen connections that are
 * between reads and writes in the same loop iteration. */
#define BUF_CACHE_MAX 64

struct buf_block {
    struct buf_block *next;
};

static _Thread_local struct buf_block *cache_head;
static _Thread_local size_t cache_count;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_thread_exit(void *unused)
{
    (void)unused;
    while (cache_head != NULL) {
        struct buf_block *blk = cache_head;
        cache_head = blk->next;
        ig_free(blk);
    }
    cache_count = 0;
}

static void cache_key_create(void)
{
    IG_ASSERT(pthread_key_create(&cache_key, cache_thread_exit) == 0);
}

void ig_buf_init(ig_buf_t *b, size_t max)
{
    b->base = NULL;
    b->off = 0;
    b->len = 0;
    b->cap = 0;
    /* 0 means no cap of its own; huge caps are clamped so size arithmetic cannot overflow. */
    b->max = (max != 0 && max < SIZE_MAX / 2) ? max : SIZE_MAX / 2;
}

void ig_buf_dispose(ig_buf_t *b)
{
    ig_free(b->base);
    b->base = NULL;
    b->off = b->len = b->cap = 0;
}

/*
 * Makes room for |n| content bytes plus |slack| bytes that never count as content (the NUL of
 * vsnprintf). The cap applies to content only.
 */
static char *reserve(ig_buf_t *b, size_t n, size_t slack)
{
    if (IG_UNLIKELY(n > b->max || b->len > b->max - n))
        return NULL;
    size_t need = b->len + n + slack;
    if (IG_LIKELY(b->cap - b->off - b->len >= n + slack))
        return b->base + b->off + b->len;
    if (b->off != 0) {
        memmove(b->base, b->base + b->off, b->len);
        b->off = 0;
        if (b->cap >= need)
            return b->base + b->len;
    }
    size_t ncap = b->cap != 0 ? b->cap : BUF_MIN_CAP;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    /* Grow geometrically but never far beyond the cap (+slack). */
    size_t limit = b->max + slack;
    if (ncap > limit)
        ncap = IG_MAX(limit, need);
    b->base = ig_realloc(b->base, ncap);
    b->cap = ncap;
    return b->base + b->len;
}

char *ig_buf_reserve(ig_buf_t *b, size_t n)
{
    return reserve(b, n, 0);
}

void ig_buf_commit(ig_buf_t *b, size_t n)
{
    IG_DASSERT(n <= b->cap - b->off - b->len);
    b->len += n;
}

int ig_buf_append(ig_buf_t *b, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    char *p = reserve(b, n, 0);
    if (p == NULL)
        return IG_ETOOBIG;
    memcpy(p, data, n);
    b->len += n;
    return 0;
}

int ig_buf_appendf(ig_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    size_t avail = b->base != NULL ? b->cap - b->off - b->len : 0;
    char *p = b->base != NULL ? b->base + b->off + b->len : NULL;
    va_start(ap, fmt);
    int len = vsnprintf(p, avail, fmt, ap);
    va_end(ap);
    if (len < 0)
        return IG_EINVAL;
    if ((size_t)len < avail) {
        /* It fit, but the cap still applies. */
        if ((size_t)len > b->max - b->len)
            return IG_ETOOBIG;
        b->len += (size_t)len;
        return 0;
    }
    p = reserve(b, (size_t)len, 1);
    if (p == NULL)
        return IG_ETOOBIG;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)len + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)len;
    return 0;
}

void ig_buf_consume(ig_buf_t *b, size_t n)
{
    IG_DASSERT(n <= b->len);
    if (n >= b->len) {
        b->off = 0;
        b->len = 0;
        return;
    }
    b->off += n;
    b->len -= n;
}

void ig_buf_reset(ig_buf_t *b)
{
    b->off = 0;
    b->len = 0;
}

void ig_buf_borrow(ig_buf_t *b)
{
    if (b->base != NULL)
        return;
    struct buf_block *blk = cache_head;
    if (blk != NULL) {
        cache_head = blk->next;
        cache_count--;
    } else {
        blk = ig_malloc(IG_BUF_BLOCK);
    }
    b->base = (char *)blk;
    b->cap = IG_BUF_BLOCK;
    b->off = 0;
    b->len = 0;
}

void ig_buf_release(ig_buf_t *b)
{
    if (b->base == NULL || b->len != 0)
        return;
    if (b->cap != IG_BUF_BLOCK || cache_count >= BUF_CACHE_MAX) {
        ig_buf_dispose(b);
        return;
    }
    if (IG_UNLIKELY(cache_head == NULL)) {
        /* A non-NULL key value makes the destructor run when this thread exits. */
        pthread_once(&cache_once, cache_key_create);
        if (pthread_getspecific(cache_key) == NULL)
            pthread_setspecific(cache_key, (void *)1);
    }
    struct buf_block *blk = (struct buf_block *)(void *)b->base;
    blk->next = cache_head;
    cache_head = blk;
    cache_count++;
    b->base = NULL;
    b->off = b->len = b->cap = 0;
}
