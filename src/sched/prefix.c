/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Approximate prefix-cache affinity (the reference's approx-prefix-cache-producer and
 * prefix-cache-scorer). The request text is cut into blocks of blockSizeTokens x 4 characters and
 * chained with XXH64; the index remembers, per endpoint, the hashes of requests recently sent
 * there, so a request sharing a prefix goes back to the endpoint that likely still holds its KV
 * blocks.
 *
 * Index layout: one node per (hash, endpoint) pair, in a node array addressed by 32-bit indices.
 * Each node is on two lists: its hash bucket's chain (lookups: which endpoints hold h?) and its
 * endpoint's LRU list (eviction at capacity). Endpoints are slots indexed by the datastore's dense
 * endpoint id; each slot also carries the match count of the current request, stamped with the
 * request's sequence number, so the scorer reads a match in O(1) without a per-request map.
 */
#include "sched_int.h"

#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack */
#include <xxhash.h>

#define NIL UINT32_MAX

struct pnode {
    uint64_t hash;
    uint32_t server; /* NIL: on the free list */
    uint32_t hnext;  /* bucket chain, or free-list link */
    uint32_t lprev, lnext;
};

struct pserver {
    uint32_t head, tail; /* LRU: head = most recent */
    uint32_t count;
    uint32_t match;
    uint64_t stamp;
};

struct ig_prefix_index {
    struct pnode *nodes;
    uint32_t n_nodes, cap_nodes, free_head;
    uint32_t *buckets;
    uint32_t n_buckets; /* power of two */
    size_t size;
    struct pserver *servers;
    uint32_t n_servers;
};

static inline uint32_t bucket_of(const struct ig_prefix_index *ix, uint64_t h)
{
    return (uint32_t)((h ^ (h >> 32)) & (ix->n_buckets - 1));
}

struct ig_prefix_index *ig_prefix_index_create(void)
{
    struct ig_prefix_index *ix = ig_calloc(1, sizeof(*ix));
    ix->n_buckets = 1024;
    ix->buckets = ig_malloc(ix->n_buckets * sizeof(uint32_t));
    memset(ix->buckets, 0xff, ix->n_buckets * sizeof(uint32_t));
    ix->free_head = NIL;
    return ix;
}

void ig_prefix_index_destroy(struct ig_prefix_index *ix)
{
    if (ix == NULL)
        return;
    ig_free(ix->nodes);
    ig_free(ix->buckets);
    ig_free(ix->servers);
    ig_free(ix);
}

static void rehash(struct ig_prefix_index *ix)
{
    uint32_t nb = ix->n_buckets * 2;
    uint32_t *b = ig_malloc((size_t)nb * sizeof(uint32_t));
    memset(b, 0xff, (size_t)nb * sizeof(uint32_t));
    ig_free(ix->buckets);
    ix->buckets = b;
    ix->n_buckets = nb;
    for (uint32_t i = 0; i < ix->n_nodes; i++) {
        struct pnode *nd = &ix->nodes[i];
        if (nd->server == NIL)
            continue;
        uint32_t k = bucket_of(ix, nd->hash);
        nd->hnext = b[k];
        b[k] = i;
    }
}

static struct pserver *server(struct ig_prefix_index *ix, uint32_t id)
{
    if (id >= ix->n_servers) {
        uint32_t n = ix->n_servers ? ix->n_servers : 16;
        while (n <= id)
            n *= 2;
        ix->servers = ig_realloc(ix->servers, (size_t)n * sizeof(struct pserver));
        for (uint32_t i = ix->n_servers; i < n; i++)
            ix->servers[i] = (struct pserver){.head = NIL, .tail = NIL};
        ix->n_servers = n;
    }
    return &ix->servers[id];
}

static void lru_unlink(struct ig_prefix_index *ix, struct pserver *sv, uint32_t i)
{
    struct pnode *nd = &ix->nodes[i];
    if (nd->lprev != NIL)
        ix->nodes[nd->lprev].lnext = nd->lnext;
    else
        sv->head = nd->lnext;
    if (nd->lnext != NIL)
        ix->nodes[nd->lnext].lprev = nd->lprev;
    else
        sv->tail = nd->lprev;
}

static void lru_push_front(struct ig_prefix_index *ix, struct pserver *sv, uint32_t i)
{
    struct pnode *nd = &ix->nodes[i];
    nd->lprev = NIL;
    nd->lnext = sv->head;
    if (sv->head != NIL)
        ix->nodes[sv->head].lprev = i;
    sv->head = i;
    if (sv->tail == NIL)
        sv->tail = i;
}

/* Unlinks node |i| from its bucket chain and its server's LRU, and frees it. */
static void remove_node(struct ig_prefix_index *ix, uint32_t i)
{
    struct pnode *nd = &ix->nodes[i];
    uint32_t *link = &ix->buckets[bucket_of(ix, nd->hash)];
    while (*link != i)
        link = &ix->nodes[*link].hnext;
    *link = nd->hnext;
    struct pserver *sv = &ix->servers[nd->server];
    lru_unlink(ix, sv, i);
    sv->count--;
    nd->server = NIL;
    nd->hnext = ix->free_head;
    ix->free_head = i;
    ix->size--;
}

static uint32_t alloc_node(struct ig_prefix_index *ix)
{
    if (ix->free_head != NIL) {
        uint32_t i = ix->free_head;
        ix->free_head = ix->nodes[i].hnext;
        return i;
    }
    if (ix->n_nodes == ix->cap_nodes) {
        uint32_t cap = ix->cap_nodes ? ix->cap_nodes * 2 : 4096;
        IG_ASSERT(cap > ix->cap_nodes && cap < NIL);
        ix->nodes = ig_realloc(ix->nodes, (size_t)cap * sizeof(struct pnode));
        ix->cap_nodes = cap;
    }
    return ix->n_nodes++;
}

void ig_prefix_index_add(struct ig_prefix_index *ix, uint32_t id, int64_t capacity, const uint64_t *hashes, size_t n)
{
    if (capacity <= 0 || n == 0 || id >= IG_SCHED_MAX_ENDPOINT_ID)
        return;
    (void)server(ix, id);
    for (size_t k = 0; k < n; k++) {
        uint64_t h = hashes[k];
        uint32_t i = ix->buckets[bucket_of(ix, h)];
        while (i != NIL && !(ix->nodes[i].hash == h && ix->nodes[i].server == id))
            i = ix->nodes[i].hnext;
        struct pserver *sv = &ix->servers[id];
        if (i != NIL) {
            lru_unlink(ix, sv, i);
            lru_push_front(ix, sv, i);
            continue;
        }
        while ((int64_t)sv->count >= capacity && sv->tail != NIL)
            remove_node(ix, sv->tail);
        i = alloc_node(ix);
        struct pnode *nd = &ix->nodes[i];
        nd->hash = h;
        nd->server = id;
        uint32_t b = bucket_of(ix, h);
        nd->hnext = ix->buckets[b];
        ix->buckets[b] = i;
        lru_push_front(ix, sv, i);
        sv->count++;
        ix->size++;
        if (ix->size > ix->n_buckets && ix->n_buckets < (1u << 30))
            rehash(ix);
    }
}

size_t ig_prefix_index_match(struct ig_prefix_index *ix, const uint64_t *hashes, size_t n, uint64_t seq)
{
    size_t k;
    for (k = 0; k < n; k++) {
        uint64_t h = hashes[k];
        int any = 0;
        for (uint32_t i = ix->buckets[bucket_of(ix, h)]; i != NIL; i = ix->nodes[i].hnext) {
            const struct pnode *nd = &ix->nodes[i];
            if (nd->hash != h)
                continue;
            struct pserver *sv = &ix->servers[nd->server];
            if (sv->stamp != seq) {
                sv->stamp = seq;
                sv->match = 0;
            }
            sv->match++;
            any = 1;
        }
        if (!any)
            break;
    }
    return k;
}

uint32_t ig_prefix_index_matched(const struct ig_prefix_index *ix, uint32_t id, uint64_t seq)
{
    if (id >= ix->n_servers || ix->servers[id].stamp != seq)
        return 0;
    return ix->servers[id].match;
}

void ig_prefix_index_forget(struct ig_prefix_index *ix, uint32_t id)
{
    if (id >= ix->n_servers)
        return;
    while (ix->servers[id].tail != NIL)
        remove_node(ix, ix->servers[id].tail);
}

size_t ig_prefix_index_size(const struct ig_prefix_index *ix)
{
    return ix->size;
}

/* ---- hashing ------------------------------------------------------------------------------------ */

struct cursor {
    const ig_iov_t *spans;
    size_t n, i, off;
};

/* Copies the next |want| bytes of the concatenated spans into |dst|. */
static void gather(struct cursor *c, char *dst, size_t want)
{
    while (want > 0 && c->i < c->n) {
        size_t avail = c->spans[c->i].len - c->off;
        size_t k = IG_MIN(avail, want);
        memcpy(dst, c->spans[c->i].base + c->off, k);
        dst += k;
        want -= k;
        c->off += k;
        if (c->off == c->spans[c->i].len) {
            c->i++;
            c->off = 0;
        }
    }
}

/* Feeds the next |want| bytes into a streaming state (blocks larger than the stack buffer). */
static void gather_stream(struct cursor *c, XXH64_state_t *st, size_t want)
{
    while (want > 0 && c->i < c->n) {
        size_t avail = c->spans[c->i].len - c->off;
        size_t k = IG_MIN(avail, want);
        XXH64_update(st, c->spans[c->i].base + c->off, k);
        want -= k;
        c->off += k;
        if (c->off == c->spans[c->i].len) {
            c->i++;
            c->off = 0;
        }
    }
}

static void le64(char *o, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        o[i] = (char)(v >> (8 * i));
}

#define BLOCK_BUF 4096

size_t ig_prefix_hashes(ig_iov_t model, ig_iov_t salt, const ig_iov_t *spans, size_t n_spans, size_t block_chars,
                        size_t max_blocks, uint64_t *out)
{
    size_t total = 0;
    for (size_t i = 0; i < n_spans; i++)
        total += spans[i].len;
    if (block_chars == 0 || max_blocks == 0)
        return 0;
    if (max_blocks > IG_SCHED_MAX_HASHES)
        max_blocks = IG_SCHED_MAX_HASHES;
    if (total > max_blocks * block_chars)
        total = max_blocks * block_chars;
    if (total < block_chars)
        return 0;

    XXH64_state_t st;
    XXH64_reset(&st, 0);
    XXH64_update(&st, model.base, model.len);
    XXH64_update(&st, salt.base, salt.len);
    uint64_t prev = XXH64_digest(&st);

    size_t nfull = total / block_chars, rest = total % block_chars, nh = nfull + (rest > 0);
    struct cursor c = {spans, n_spans, 0, 0};
    char buf[BLOCK_BUF + 8];
    for (size_t k = 0; k < nh; k++) {
        size_t want = k < nfull ? block_chars : rest;
        if (want <= BLOCK_BUF) {
            gather(&c, buf, want);
            le64(buf + want, prev);
            prev = XXH64(buf, want + 8, 0);
        } else {
            char tail[8];
            XXH64_reset(&st, 0);
            gather_stream(&c, &st, want);
            le64(tail, prev);
            XXH64_update(&st, tail, 8);
            prev = XXH64_digest(&st);
        }
        out[k] = prev;
    }
    return nh;
}

/* ---- plugins ------------------------------------------------------------------------------------ */

static void producer_prepare(struct ig_sched_plugin *p, struct ig_sched_cycle *cy, struct ig_sched_endpoint *const *eps,
                             size_t n)
{
    const struct ig_sched_params *prm = &p->cfg->params;
    const struct ig_sched_request *req = cy->req;
    cy->_n_hashes = 0;
    if (req->body == NULL || n == 0)
        return;
    int64_t tokens = prm->block_size_tokens;
    if (prm->auto_tune && eps[0]->metrics.cache_block_size > 0)
        tokens = IG_MIN(eps[0]->metrics.cache_block_size, (int64_t)1 << 20); /* scraped: bound it */
    int64_t max_blocks = prm->max_prefix_blocks_to_match;
    if (prm->max_prefix_tokens_to_match > 0)
        max_blocks = prm->max_prefix_tokens_to_match / tokens;
    if (max_blocks <= 0)
        return;
    cy->_block_chars = (size_t)tokens * 4;
    ig_iov_t model = req->target_model.len > 0 ? req->target_model : req->body->model;
    cy->_n_hashes = ig_prefix_hashes(model, req->body->cache_salt, req->body->prefix, req->body->n_prefix,
                                     cy->_block_chars, (size_t)max_blocks, cy->_hashes);
    cy->_seq = ++p->sched->seq;
    if (cy->_n_hashes > 0)
        ig_prefix_index_match(p->state, cy->_hashes, cy->_n_hashes, cy->_seq);
}

static void producer_pre_request(struct ig_sched_plugin *p, struct ig_sched_cycle *cy)
{
    const struct ig_sched_params *prm = &p->cfg->params;
    if (cy->n_picks == 0 || cy->_n_hashes == 0)
        return;
    const struct ig_sched_endpoint *ep = cy->picks[0].ep;
    int64_t cap = prm->lru_capacity_per_server;
    if (prm->auto_tune && ep->metrics.cache_num_blocks > 0)
        cap = ep->metrics.cache_num_blocks;
    ig_prefix_index_add(p->state, ep->id, cap, cy->_hashes, cy->_n_hashes);
}

int ig_sched__prefix_init(struct ig_sched_plugin *p, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    p->state = ig_prefix_index_create();
    return 0;
}

void ig_sched__prefix_destroy(struct ig_sched_plugin *p)
{
    ig_prefix_index_destroy(p->state);
    p->state = NULL;
}

const struct ig_sched_producer_ops ig_sched__prefix_producer_ops = {
    .name = "approx-prefix-cache-producer",
    .prepare = producer_prepare,
    .pre_request = producer_pre_request,
};

static void prefix_score(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy,
                         struct ig_sched_endpoint *const *eps, size_t n, double *scores)
{
    const struct ig_sched_plugin *prod = p->sched->prefix;
    for (size_t i = 0; i < n; i++) {
        scores[i] = 0;
        if (prod != NULL && cy->_n_hashes > 0)
            scores[i] = (double)ig_prefix_index_matched(prod->state, eps[i]->id, cy->_seq) / (double)cy->_n_hashes;
    }
}

const struct ig_sched_scorer_ops ig_sched__prefix_scorer_ops = {
    .name = "prefix-cache-scorer",
    .category = IG_SCHED_CAT_AFFINITY,
    .score = prefix_score,
};
