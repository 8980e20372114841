/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulator's paged KV cache (module-private to sim/): a fixed array of blocks with
 * refcounts, a hash index of prompt blocks for prefix caching, and an LRU list of free blocks
 * that still hold a reusable prefix. Pure bookkeeping, no I/O; every array is sized at create, so
 * no operation allocates.
 *
 * A block is in exactly one of three states:
 *   held   refcount > 0, owned by one or more requests;
 *   cached refcount 0 with a hash, on the LRU list (reusable by a prefix match, evictable);
 *   blank  refcount 0 without a hash, on the blank stack (never used, or held no full prompt block).
 * Allocation takes blank blocks first, then evicts the least recently used cached block.
 */
#ifndef IG_SIM_KV_H
#define IG_SIM_KV_H

#include <stdint.h>

#include "ig/core.h"

struct ig_sim_kv;

/**
 * Returns a cache of |nblocks| blocks (owned by the caller, ig_sim__kv_destroy). With
 * |prefix_caching| 0, hashes are never indexed and released blocks go back blank.
 * |nblocks| must be >= 1.
 */
struct ig_sim_kv *ig_sim__kv_create(uint32_t nblocks, int prefix_caching);
void ig_sim__kv_destroy(struct ig_sim_kv *kv);

/**
 * Returns how many leading entries of |hashes| (a chained prompt-block hash list) are in the
 * cache, held or cached. |*idle| receives how many of those are cached (refcount 0): taking them
 * removes them from the allocatable pool. Does not change the cache.
 */
uint32_t ig_sim__kv_match(const struct ig_sim_kv *kv, const uint64_t *hashes, uint32_t n, uint32_t *idle);

/** Blocks that ig_sim__kv_alloc can still hand out (blank + cached). */
uint32_t ig_sim__kv_available(const struct ig_sim_kv *kv);

/**
 * Takes a reference on the blocks of the first |n| hashes, which ig_sim__kv_match just reported
 * present, and writes their ids to |out|. Marks them most recently used.
 */
void ig_sim__kv_acquire(struct ig_sim_kv *kv, const uint64_t *hashes, uint32_t n, uint32_t *out);

/**
 * Allocates one block (refcount 1, no hash) into |*out|: a blank one, else the least recently
 * used cached one, whose hash is dropped. Returns 0, or IG_EAGAIN when every block is held.
 */
int ig_sim__kv_alloc(struct ig_sim_kv *kv, uint32_t *out);

/**
 * Indexes held block |block| under |hash| so later requests can reuse it. No-op when prefix
 * caching is off or another block already carries |hash| (the first one stays the shared copy).
 */
void ig_sim__kv_set_hash(struct ig_sim_kv *kv, uint32_t block, uint64_t hash);

/**
 * Drops one reference on each of |blocks[0..n)|. Blocks reaching 0 become cached (with a hash)
 * or blank. They are released last to first, so a request's tail blocks are evicted before its
 * head blocks and the shared prefix survives longest.
 */
void ig_sim__kv_release(struct ig_sim_kv *kv, const uint32_t *blocks, uint32_t n);

struct ig_sim_kv_stats {
    uint32_t total;
    uint32_t held;   /* refcount > 0 */
    uint32_t cached; /* refcount 0, reusable prefix */
};
void ig_sim__kv_stats(const struct ig_sim_kv *kv, struct ig_sim_kv_stats *out);

/** Refcount of |block| (tests). */
uint32_t ig_sim__kv_refcount(const struct ig_sim_kv *kv, uint32_t block);

#endif
