/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The data layer's own Prometheus metrics. The reference EPP's pool gauges
 * (inference_pool_average_kv_cache_utilization, _average_queue_size, _per_pod_queue_size,
 * _ready_pods, label name=<pool>) are computed when /metrics is served, over the endpoints whose
 * metrics are fresher than --metrics-staleness-threshold, instead of on a 5 s refresh timer: the
 * values are then never older than the scrape that reads them, and no timer runs when nobody
 * looks. The averages follow the reference exactly, including the integer division of the total
 * queue size by the endpoint count. Scrape counters of our own count every poll and its failures
 * by reason.
 */
#include "epp_int.h"

#include <stdio.h>

struct ig_epp_metrics {
    ig_epp_datastore_t *ds;
    char *pool_name;
    uint64_t staleness_ns;
    struct ig_counter *scrapes;
    struct ig_counter *errors[IG_EPP_SCRAPE_ERR_COUNT]; /* [IG_EPP_SCRAPE_OK] unused */
};

static int write_pool(ig_buf_t *out, const char *name, const char *help, const char *pool, double v)
{
    struct ig_metric_label l = {"name", pool};
    int rc = ig_prom_write_family(out, name, help, IG_METRIC_GAUGE);
    if (rc == 0)
        rc = ig_prom_write_sample(out, name, &l, 1, v);
    return rc;
}

static int collect(ig_buf_t *out, void *data)
{
    struct ig_epp_metrics *em = data;
    uint64_t now = ig_time_ns();
    struct ig_epp_snapshot *snap = ig_epp_datastore_snapshot(em->ds);
    size_t fresh = 0;
    double kv = 0;
    int64_t queue = 0;
    for (size_t i = 0; i < snap->n; i++) {
        const struct ig_epp_endpoint *ep = snap->v[i];
        if (!ig_epp_endpoint_fresh(ep, now, em->staleness_ns))
            continue;
        fresh++;
        kv += ep->view.metrics.kv_cache_usage_percent;
        queue += ep->view.metrics.waiting_queue_size;
    }
    int rc = 0;
    /* Without fresh endpoints the reference leaves the averages unset; so does this page. */
    if (fresh > 0) {
        rc = write_pool(out, "inference_pool_average_kv_cache_utilization",
                        "[ALPHA] The average kv cache utilization for an inference server pool.", em->pool_name,
                        kv / (double)fresh);
        if (rc == 0)
            rc = write_pool(out, "inference_pool_average_queue_size",
                            "[ALPHA] The average number of requests pending in the model server queue.", em->pool_name,
                            (double)(queue / (int64_t)fresh));
    }
    if (rc == 0)
        rc = write_pool(out, "inference_pool_ready_pods",
                        "[ALPHA] The number of ready pods in the inference server pool.", em->pool_name, (double)fresh);
    if (rc == 0 && fresh > 0) {
        rc = ig_prom_write_family(
            out, "inference_pool_per_pod_queue_size",
            "[ALPHA] The total number of requests pending in the model server queue for each underlying pod.",
            IG_METRIC_GAUGE);
        for (size_t i = 0; rc == 0 && i < snap->n; i++) {
            const struct ig_epp_endpoint *ep = snap->v[i];
            if (!ig_epp_endpoint_fresh(ep, now, em->staleness_ns))
                continue;
            struct ig_metric_label l[2] = {{"model_server_pod", ep->view.name.base}, {"name", em->pool_name}};
            rc = ig_prom_write_sample(out, "inference_pool_per_pod_queue_size", l, 2,
                                      (double)ep->view.metrics.waiting_queue_size);
        }
    }
    ig_epp_snapshot_release(snap);
    return rc;
}

ig_epp_metrics_t *ig_epp_metrics_create(ig_metrics_t *reg, ig_epp_datastore_t *ds, const char *pool_name,
                                        uint64_t staleness_ns)
{
    struct ig_epp_metrics *em = ig_calloc(1, sizeof(*em));
    em->ds = ds;
    em->pool_name = ig_strdup(pool_name != NULL ? pool_name : "");
    em->staleness_ns = staleness_ns;
    ig_metrics_add_collector(reg, collect, em);
    em->scrapes = ig_metrics_counter(reg, "infergate_epp_scrapes_total",
                                     "Model-server metrics polls completed, successful or not.", NULL, 0);
    IG_ASSERT(em->scrapes != NULL);
    for (int e = IG_EPP_SCRAPE_OK + 1; e < IG_EPP_SCRAPE_ERR_COUNT; e++) {
        struct ig_metric_label l = {"reason", ig_epp_scrape_err_name((enum ig_epp_scrape_err)e)};
        em->errors[e] = ig_metrics_counter(reg, "infergate_epp_scrape_errors_total",
                                           "Model-server metrics polls that failed, by reason.", &l, 1);
        IG_ASSERT(em->errors[e] != NULL);
    }
    return em;
}

void ig_epp_metrics_destroy(ig_epp_metrics_t *em)
{
    if (em == NULL)
        return;
    ig_free(em->pool_name);
    ig_free(em);
}

void ig_epp_metrics_scrape_done(ig_epp_metrics_t *em, enum ig_epp_scrape_err outcome)
{
    ig_counter_inc(em->scrapes);
    if (outcome != IG_EPP_SCRAPE_OK && (unsigned)outcome < IG_EPP_SCRAPE_ERR_COUNT)
        ig_counter_inc(em->errors[outcome]);
}
