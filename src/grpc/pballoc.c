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
    if (size == 0)
        size = 1;
    if (a->limit != 0 && (size > a->limit || a->used > a->limit - size)) {
        a->refused = 1;
        return NULL; /* protobuf-c turns this into a failed unpack */
    }
    a->used += size;
    return ig_pool_alloc(a->pool, size);
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
