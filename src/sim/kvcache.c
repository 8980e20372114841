/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulator's paged KV cache: block refcounts, a chained hash index of full prompt blocks
 * (prefix caching, as vLLM's automatic prefix caching) and an LRU of free blocks that keep their
 * content. All storage is allocated at create: blocks, the blank stack and the hash buckets.
 */
#include "sim_kv.h"

#define NIL UINT32_MAX

struct kv_block {
    ig_list_t lru; /* linked while cached (refcount 0 with a hash) */
    uint64_t hash;
    uint32_t ref;
    uint32_t hnext; /* next block in the same hash bucket */
    uint8_t hashed;
};

struct ig_sim_kv {
    struct kv_block *blocks;
    uint32_t nblocks;
    int prefix_caching;
    uint32_t *blank; /* stack of blank block ids; top is blank[nblank - 1] */
    uint32_t nblank;
    uint32_t *buckets; /* hash index: bucket -> first block id, chained through hnext */
    uint32_t bucket_mask;
    ig_list_t lru; /* least recently used first */
    uint32_t ncached;
    uint32_t nheld;
};

struct ig_sim_kv *ig_sim__kv_create(uint32_t nblocks, int prefix_caching)
{
    IG_ASSERT(nblocks >= 1);
    struct ig_sim_kv *kv = ig_calloc(1, sizeof(*kv));
    kv->nblocks = nblocks;
    kv->prefix_caching = prefix_caching;
    kv->blocks = ig_calloc(nblocks, sizeof(*kv->blocks));
    kv->blank = ig_malloc((size_t)nblocks * sizeof(*kv->blank));
    /* Push in reverse so block 0 is handed out first: deterministic ids help tests and logs. */
    for (uint32_t i = 0; i < nblocks; i++)
        kv->blank[i] = nblocks - 1 - i;
    kv->nblank = nblocks;
    uint32_t nb = 1;
    while (nb < nblocks && nb < (1u << 31))
        nb <<= 1;
    kv->buckets = ig_malloc((size_t)nb * sizeof(*kv->buckets));
    for (uint32_t i = 0; i < nb; i++)
        kv->buckets[i] = NIL;
    kv->bucket_mask = nb - 1;
    ig_list_init(&kv->lru);
    return kv;
}

void ig_sim__kv_destroy(struct ig_sim_kv *kv)
{
    if (kv == NULL)
        return;
    ig_free(kv->blocks);
    ig_free(kv->blank);
    ig_free(kv->buckets);
    ig_free(kv);
}

static uint32_t bucket_of(const struct ig_sim_kv *kv, uint64_t hash)
{
    /* The hashes are XXH64 outputs: their low bits are already well mixed. */
    return (uint32_t)(hash ^ (hash >> 32)) & kv->bucket_mask;
}

static uint32_t lookup(const struct ig_sim_kv *kv, uint64_t hash)
{
    for (uint32_t id = kv->buckets[bucket_of(kv, hash)]; id != NIL; id = kv->blocks[id].hnext) {
        if (kv->blocks[id].hash == hash)
            return id;
    }
    return NIL;
}

static void unindex(struct ig_sim_kv *kv, uint32_t id)
{
    struct kv_block *b = &kv->blocks[id];
    uint32_t *pp = &kv->buckets[bucket_of(kv, b->hash)];
    while (*pp != id) {
        IG_DASSERT(*pp != NIL);
        pp = &kv->blocks[*pp].hnext;
    }
    *pp = b->hnext;
    b->hnext = NIL;
    b->hashed = 0;
    b->hash = 0;
}

uint32_t ig_sim__kv_match(const struct ig_sim_kv *kv, const uint64_t *hashes, uint32_t n, uint32_t *idle)
{
    uint32_t i = 0, nidle = 0;
    if (kv->prefix_caching) {
        for (; i < n; i++) {
            uint32_t id = lookup(kv, hashes[i]);
            if (id == NIL)
                break;
            if (kv->blocks[id].ref == 0)
                nidle++;
        }
    }
    *idle = nidle;
    return i;
}

uint32_t ig_sim__kv_available(const struct ig_sim_kv *kv)
{
    return kv->nblank + kv->ncached;
}

void ig_sim__kv_acquire(struct ig_sim_kv *kv, const uint64_t *hashes, uint32_t n, uint32_t *out)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id = lookup(kv, hashes[i]);
        IG_ASSERT(id != NIL);
        struct kv_block *b = &kv->blocks[id];
        if (b->ref++ == 0) {
            ig_list_remove(&b->lru);
            kv->ncached--;
            kv->nheld++;
        }
        out[i] = id;
    }
}

int ig_sim__kv_alloc(struct ig_sim_kv *kv, uint32_t *out)
{
    uint32_t id;
    if (kv->nblank > 0) {
        id = kv->blank[--kv->nblank];
    } else if (!ig_list_empty(&kv->lru)) {
        struct kv_block *victim = IG_CONTAINER_OF(kv->lru.next, struct kv_block, lru);
        ig_list_remove(&victim->lru);
        kv->ncached--;
        id = (uint32_t)(victim - kv->blocks);
        unindex(kv, id);
    } else {
        return IG_EAGAIN;
    }
    struct kv_block *b = &kv->blocks[id];
    IG_DASSERT(b->ref == 0 && !b->hashed);
    b->ref = 1;
    b->hnext = NIL;
    kv->nheld++;
    *out = id;
    return 0;
}

void ig_sim__kv_set_hash(struct ig_sim_kv *kv, uint32_t block, uint64_t hash)
{
    struct kv_block *b = &kv->blocks[block];
    IG_DASSERT(b->ref > 0);
    if (!kv->prefix_caching || b->hashed || lookup(kv, hash) != NIL)
        return;
    uint32_t *head = &kv->buckets[bucket_of(kv, hash)];
    b->hash = hash;
    b->hashed = 1;
    b->hnext = *head;
    *head = block;
}

void ig_sim__kv_release(struct ig_sim_kv *kv, const uint32_t *blocks, uint32_t n)
{
    for (uint32_t i = n; i-- > 0;) {
        struct kv_block *b = &kv->blocks[blocks[i]];
        IG_ASSERT(b->ref > 0);
        if (--b->ref > 0)
            continue;
        kv->nheld--;
        if (b->hashed) {
            ig_list_push_back(&kv->lru, &b->lru);
            kv->ncached++;
        } else {
            kv->blank[kv->nblank++] = blocks[i];
        }
    }
}

void ig_sim__kv_stats(const struct ig_sim_kv *kv, struct ig_sim_kv_stats *out)
{
    out->total = kv->nblocks;
    out->held = kv->nheld;
    out->cached = kv->ncached;
}

uint32_t ig_sim__kv_refcount(const struct ig_sim_kv *kv, uint32_t block)
{
    return block < kv->nblocks ? kv->blocks[block].ref : 0;
}
