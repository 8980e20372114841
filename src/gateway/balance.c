/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A route's choice among its backends by weight: smooth weighted round robin, as nginx's upstream
 * module does it. Each backend's current value grows by its weight on every pick; the largest is
 * chosen and loses the total. Weights 5:1:1 give a a b a c a a rather than five a's in a row, and
 * any window of `total` picks holds each backend exactly `weight` times, where a weighted random
 * draw only converges on the proportions. The state lives in the worker's plan, so no lock: each
 * worker runs its own sequence, and the proportions hold per worker and therefore overall.
 */
#include "gateway_int.h"

struct gw_bplan *gw_pick_backend(struct gw_bplan *bps, const struct ig_cfg_route *route)
{
    struct gw_bplan *best = NULL;
    if (route->n_backends == 0 || route->total_weight == 0)
        return NULL;
    if (route->n_backends == 1)
        return &bps[0];
    for (size_t i = 0; i < route->n_backends; i++) {
        uint32_t w = route->backends[i].weight;
        if (w == 0)
            continue;
        bps[i].swrr += w;
        if (best == NULL || bps[i].swrr > best->swrr)
            best = &bps[i];
    }
    best->swrr -= (int64_t)route->total_weight;
    return best;
}
