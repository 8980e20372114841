/* SPDX-License-Identifier: Apache-2.0 */
/*
 * protobuf-c allocation from a request's arena. Decoded ext_proc messages are read once and
 * dropped with the request, so bump allocation from the request pool replaces protobuf-c's
 * per-field malloc/free and the matching free_unpacked call.
 */
#include "ig/grpc.h"

static void *pballoc_alloc(void *data, size_t size)
{
    struct ig_grpc_pballoc *a = data;
    /* Count what the pool really hands out (16-byte granules), so the cap bounds the arena. */
    size_t cost = (size + 15) & ~(size_t)15;
    if (cost < size || cost == 0)
        cost = size == 0 ? 16 : SIZE_MAX;
    if (a->limit != 0 && (cost > a->limit || a->used > a->limit - cost)) {
        a->refused = 1;
        return NULL; /* protobuf-c turns this into a failed unpack */
    }
    a->used += cost;
    return ig_pool_alloc(a->pool, size != 0 ? size : 1);
}

static void pballoc_free(void *data, void *p)
{
    /* Memory goes back with the pool. */
    (void)data;
    (void)p;
}

void ig_grpc_pballoc_init(struct ig_grpc_pballoc *a, ig_pool_t *pool, size_t limit)
{
    a->base.alloc = pballoc_alloc;
    a->base.free = pballoc_free;
    a->base.allocator_data = a;
    a->pool = pool;
    a->limit = limit;
    a->used = 0;
    a->refused = 0;
}
