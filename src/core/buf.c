/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Capped byte buffers. Every I/O buffer in infergate has a hard maximum so that a peer can never
 * make us allocate without bound: an append that would cross the cap fails with IG_ETOOBIG and
 * leaves the buffer exactly as it was. Consuming from the front is O(1); the space is reclaimed
 * by sliding the data down before the buffer next grows.
 */
#include <stdio.h>

#include "ig/core.h"

#define BUF_MIN_CAP 256

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
