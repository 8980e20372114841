/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prefix-affinity-filter: "sticky until saturated". When some candidates already hold a large part
 * of the request's prompt in their prefix cache (by the approximate prefix index) and are not
 * saturated, only they stay candidates; the profile's scorers then choose among them. When none
 * qualifies (a new prefix, or every holder saturated) every candidate stays, so cold requests and
 * overflow are spread by the load scorers.
 *
 * Why a filter and not a heavier prefix weight: in a weighted sum, the load terms of an idle
 * endpoint can outvote the prefix term of the endpoint that holds the prompt whenever that one has
 * a request or two waiting, and the request then pays a full prefill elsewhere and copies the
 * prefix into a second cache. A heavier prefix weight instead keeps sending to a holder long after
 * it is overloaded. The filter makes the trade explicit: the prefix wins outright below the
 * saturation thresholds (queue depth, KV-cache use, the utilization detector's parameters), and
 * load decides above them.
 *
 * Parameters: affinityThreshold (0.5: the share of the prompt's blocks an endpoint must hold),
 * queueDepthThreshold (5) and kvCacheUtilThreshold (0.8): an endpoint with more waiting requests
 * or a fuller KV cache is saturated. The filter needs the approx-prefix-cache-producer (the
 * loader adds it). It allocates nothing.
 */
#include "sched_int.h"

#include <string.h>

static size_t affinity_filter(const struct ig_sched_plugin *p, struct ig_sched_cycle *cy,
                              struct ig_sched_endpoint *const *in, size_t n, struct ig_sched_endpoint **out)
{
    const struct ig_sched_params *prm = &p->cfg->params;
    const struct ig_sched_plugin *prod = p->sched->prefix;
    size_t k = 0;
    if (prod != NULL && cy->_n_hashes > 0) {
        for (size_t i = 0; i < n; i++) {
            const struct ig_sched_metrics *m = &in[i]->metrics;
            double held = (double)ig_prefix_index_matched(prod->state, in[i]->id, cy->_seq) / (double)cy->_n_hashes;
            if (held >= prm->affinity_threshold && m->waiting_queue_size <= prm->queue_depth_threshold &&
                m->kv_cache_usage_percent <= prm->kv_cache_util_threshold)
                out[k++] = in[i];
        }
    }
    if (k == 0) {
        memcpy(out, in, n * sizeof(*out));
        k = n;
    }
    return k;
}

const struct ig_sched_filter_ops ig_sched__affinity_filter_ops = {.name = "prefix-affinity-filter",
                                                                  .filter = affinity_filter};
