/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Heap allocation for the whole program. Every allocation goes through these wrappers so that an
 * out-of-memory condition aborts in one place (safety comes from hard limits on buffers, not from
 * OOM branches) and so that tests can inject a failure at the N-th allocation.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ig/core.h"

/* Countdown to the injected failure; 0 means disabled. Relaxed loads keep the hot path cheap. */
static _Atomic uint64_t fail_countdown;

void ig_mem_fail_after(uint64_t n)
{
    atomic_store_explicit(&fail_countdown, n, memory_order_relaxed);
}

/* Returns 1 when this allocation is the injected failure. */
static int inject_failure(void)
{
    uint64_t cur = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    while (IG_UNLIKELY(cur != 0)) {
        if (atomic_compare_exchange_weak_explicit(&fail_countdown, &cur, cur - 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return cur == 1;
    }
    return 0;
}

static void oom(size_t n) __attribute__((noreturn));
static void oom(size_t n)
{
    char msg[96];
    int len = snprintf(msg, sizeof(msg), "infergate: out of memory allocating %zu bytes\n", n);
    if (len > 0) {
        ssize_t r = write(STDERR_FILENO, msg, (size_t)len);
        (void)r;
    }
    abort();
}

void *ig_malloc_try(size_t n)
{
    if (inject_failure())
        return NULL;
    return malloc(n != 0 ? n : 1);
}

void *ig_malloc(size_t n)
{
    void *p = ig_malloc_try(n);
    if (IG_UNLIKELY(p == NULL))
        oom(n);
    return p;
}

void *ig_calloc(size_t count, size_t size)
{
    void *p = NULL;
    if (!inject_failure())
        p = calloc(count != 0 ? count : 1, size != 0 ? size : 1);
    if (IG_UNLIKELY(p == NULL))
        oom(count * size);
    return p;
}

void *ig_realloc(void *p, size_t n)
{
    void *q = NULL;
    if (!inject_failure())
        q = realloc(p, n != 0 ? n : 1);
    if (IG_UNLIKELY(q == NULL))
        oom(n);
    return q;
}

char *ig_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = ig_malloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *ig_strdup(const char *s)
{
    return ig_strndup(s, SIZE_MAX);
}

void ig_free(void *p)
{
    free(p);
}
