/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A diagnostic run of the data layer alone, before the ext_proc server exists: the EPP's flags,
 * its endpoint source and scraper on one loop, printing what the datastore holds for each
 * endpoint every --metrics-staleness-threshold, and the EPP's own metrics page at the end. It
 * shows what the scheduler would see from a set of real model servers. Stops on SIGINT/SIGTERM,
 * or after `--diag-seconds N`.
 */
#include "epp_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

struct diag {
    uv_loop_t loop;
    ig_epp_datastore_t *ds;
    uv_timer_t report, stop;
    uv_signal_t sigint, sigterm;
    uint64_t staleness_ns;
};

static void print_endpoints(struct diag *d)
{
    uint64_t now = ig_time_ns();
    struct ig_epp_snapshot *snap = ig_epp_datastore_snapshot(d->ds);
    for (size_t i = 0; i < snap->n; i++) {
        const struct ig_epp_endpoint *ep = snap->v[i];
        const struct ig_sched_metrics *m = &ep->view.metrics;
        printf("%s engine=%s fresh=%d waiting=%lld running=%lld kv=%.4f max_lora=%lld lora=", ep->view.address.base,
               ig_epp_engine_name(ep->engine), ig_epp_endpoint_fresh(ep, now, d->staleness_ns),
               (long long)m->waiting_queue_size, (long long)m->running_requests_size, m->kv_cache_usage_percent,
               (long long)m->max_active_models);
        for (size_t j = 0; j < m->n_active_models; j++)
            printf("%s%.*s", j ? "," : "", (int)m->active_models[j].len, m->active_models[j].base);
        printf(" block_size=%lld blocks=%lld scrapes=%llu errors=%llu last_error=%s\n", (long long)m->cache_block_size,
               (long long)m->cache_num_blocks, (unsigned long long)ep->scrapes, (unsigned long long)ep->scrape_errors,
               ig_epp_scrape_err_name(ep->last_error));
    }
    ig_epp_snapshot_release(snap);
    fflush(stdout);
}

static void on_report(uv_timer_t *t)
{
    print_endpoints(t->data);
}

static void stop_all(struct diag *d)
{
    uv_timer_stop(&d->report);
    uv_timer_stop(&d->stop);
    uv_signal_stop(&d->sigint);
    uv_signal_stop(&d->sigterm);
    uv_stop(&d->loop);
}

static void on_stop(uv_timer_t *t)
{
    stop_all(t->data);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    stop_all(s->data);
}

static enum ig_log_level level_for(int v)
{
    return v <= 1 ? IG_LOG_WARN : v <= 3 ? IG_LOG_INFO : v == 4 ? IG_LOG_DEBUG : IG_LOG_TRACE;
}

int ig_epp_datalayer_main(int argc, char **argv)
{
    int status = 2;
    char err[512];
    uint64_t seconds = 0;
    /* argv[0] is the subcommand's name; --diag-seconds is ours, the rest are the EPP's flags. */
    char **args = ig_calloc((size_t)argc + 1, sizeof(*args));
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--diag-seconds") == 0 && i + 1 < argc) {
            if (ig_iov_to_u64(ig_iov_cstr(argv[++i]), &seconds) != 0) {
                fprintf(stderr, "epp: invalid --diag-seconds \"%s\"\n", argv[i]);
                ig_free(args);
                return 2;
            }
            continue;
        }
        args[n++] = argv[i];
    }
    struct ig_epp_flags f;
    if (ig_epp_flags_parse(&f, n, args, err, sizeof(err)) != 0) {
        fprintf(stderr, "epp: %s\n%s", err, ig_epp_flags_usage());
        ig_free(args);
        return 2;
    }
    ig_log_set_level(level_for(f.verbosity));
    signal(SIGPIPE, SIG_IGN);

    struct diag *d = ig_calloc(1, sizeof(*d));
    struct ig_epp_endpoint_list list;
    ig_epp_endpoint_list_init(&list);
    ig_epp_file_source_t *fs = NULL;
    ig_epp_scraper_t *sc = NULL;
    ig_metrics_t *reg = ig_metrics_create();
    ig_epp_metrics_t *em = NULL;
    ig_buf_t page;
    ig_buf_init(&page, 16u << 20);
    IG_ASSERT(uv_loop_init(&d->loop) == 0);
    d->staleness_ns = f.metrics_staleness_ns;
    d->ds = ig_epp_datastore_create(IG_EPP_ENGINE_VLLM);
    if (f.endpoints != NULL) {
        if (ig_epp_endpoints_parse(f.endpoints, &list, err, sizeof(err)) != 0 ||
            ig_epp_datastore_set(d->ds, list.v, list.n, err, sizeof(err)) != 0) {
            fprintf(stderr, "epp: %s\n", err);
            goto out;
        }
    } else {
        fs = ig_epp_file_source_start(&d->loop, f.endpoints_file, d->ds, err, sizeof(err));
        if (fs == NULL) {
            fprintf(stderr, "epp: %s\n", err);
            goto out;
        }
    }
    em = ig_epp_metrics_create(reg, d->ds, f.pool_name, f.metrics_staleness_ns);
    struct ig_epp_scraper_config cfg = {.interval_ns = f.refresh_metrics_interval_ns,
                                        .staleness_ns = f.metrics_staleness_ns};
    sc = ig_epp_scraper_create(&d->loop, d->ds, &cfg, em);
    ig_epp_scraper_start(sc);

    uint64_t every_ms = IG_MAX(f.metrics_staleness_ns / 1000000u, 1u);
    uv_timer_init(&d->loop, &d->report);
    d->report.data = d;
    uv_timer_start(&d->report, on_report, every_ms, every_ms);
    uv_timer_init(&d->loop, &d->stop);
    d->stop.data = d;
    if (seconds > 0)
        uv_timer_start(&d->stop, on_stop, seconds * 1000u, 0);
    uv_signal_init(&d->loop, &d->sigint);
    uv_signal_init(&d->loop, &d->sigterm);
    d->sigint.data = d->sigterm.data = d;
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_run(&d->loop, UV_RUN_DEFAULT);

    print_endpoints(d);
    if (ig_metrics_write(reg, &page) == 0)
        fwrite(ig_buf_data(&page), 1, page.len, stdout);
    status = 0;
    uv_close((uv_handle_t *)&d->report, NULL);
    uv_close((uv_handle_t *)&d->stop, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
out:
    ig_epp_scraper_destroy(sc);
    ig_epp_file_source_stop(fs);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&d->loop);
    ig_epp_datastore_destroy(d->ds);
    ig_epp_metrics_destroy(em);
    ig_metrics_destroy(reg);
    ig_buf_dispose(&page);
    ig_epp_endpoint_list_dispose(&list);
    ig_free(d);
    ig_free(args);
    return status;
}
