/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reports of `infergate bench`: the human-readable table (stdout), the JSON document of one arm
 * (which --merge reads back, so several arms run separately can be compared in one table and
 * plot), and CSV with one row per stage. Latencies are in milliseconds throughout; a metric with
 * no samples is null in JSON, empty in CSV and "-" in the table.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include <jansson.h>

#include "bench_int.h"

/* ---- results helpers ------------------------------------------------------------------------- */

void ig_bench__count_add(struct ig_bench_count **v, size_t *n, const char *name, size_t namelen, uint64_t k)
{
    for (size_t i = 0; i < *n; i++) {
        if (strlen((*v)[i].name) == namelen && memcmp((*v)[i].name, name, namelen) == 0) {
            (*v)[i].n += k;
            return;
        }
    }
    if (*n >= IG_BENCH_MAX_KEYS) {
        name = "other";
        namelen = 5;
        for (size_t i = 0; i < *n; i++) {
            if (strcmp((*v)[i].name, "other") == 0) {
                (*v)[i].n += k;
                return;
            }
        }
    }
    *v = ig_realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[*n].name = ig_strndup(name, namelen);
    (*v)[*n].n = k;
    (*n)++;
}

static void counts_free(struct ig_bench_count *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ig_free(v[i].name);
    ig_free(v);
}

void ig_bench__arm_dispose(struct ig_bench_arm *arm)
{
    for (size_t i = 0; i < arm->nstages; i++) {
        counts_free(arm->stages[i].replicas, arm->stages[i].nreplicas);
        counts_free(arm->stages[i].failures, arm->stages[i].nfailures);
    }
    ig_free(arm->stages);
    ig_free(arm->label);
    ig_free(arm->target);
    ig_free(arm->config);
    memset(arm, 0, sizeof(*arm));
}

double ig_bench__stage_x(const struct ig_bench_stage *st)
{
    return st->mode == IG_BENCH_MODE_RATE ? st->rate : st->rps;
}

static uint64_t replica_total(const struct ig_bench_stage *st)
{
    uint64_t t = 0;
    for (size_t i = 0; i < st->nreplicas; i++)
        t += st->replicas[i].n;
    return t;
}

static void load_text(const struct ig_bench_stage *st, char *buf, size_t size)
{
    if (st->mode == IG_BENCH_MODE_RATE)
        snprintf(buf, size, "rate %g/s", st->rate);
    else
        snprintf(buf, size, "conc %u", (unsigned)st->concurrency);
}

/* ---- table ----------------------------------------------------------------------------------- */

static void cell(FILE *out, double v)
{
    if (isnan(v))
        fprintf(out, " %9s", "-");
    else
        fprintf(out, " %9.2f", v);
}

static void metric_row(FILE *out, const char *name, const struct ig_bench_summary *s)
{
    fprintf(out, "  %-6s", name);
    cell(out, s->count > 0 ? s->mean : NAN);
    cell(out, s->count > 0 ? s->p50 : NAN);
    cell(out, s->count > 0 ? s->p90 : NAN);
    cell(out, s->count > 0 ? s->p99 : NAN);
    fprintf(out, " %10llu\n", (unsigned long long)s->count);
}

void ig_bench__report_table(FILE *out, const struct ig_bench_arm *arms, size_t n)
{
    char load[48];
    for (size_t a = 0; a < n; a++) {
        const struct ig_bench_arm *arm = &arms[a];
        for (size_t i = 0; i < arm->nstages; i++) {
            const struct ig_bench_stage *st = &arm->stages[i];
            load_text(st, load, sizeof(load));
            fprintf(out, "== %s: stage %zu, %s, %.1f s ==\n", arm->label, i + 1, load, st->elapsed_s);
            fprintf(out,
                    "  requests: sent %llu, succeeded %llu, failed %llu | %.2f req/s | tokens/s: in %.1f, out %.1f"
                    " | prefix-cached prompt tokens %.1f%%\n",
                    (unsigned long long)st->sent, (unsigned long long)st->succeeded, (unsigned long long)st->failed,
                    st->rps, st->in_tps, st->out_tps,
                    st->input_tokens > 0 ? 100.0 * (double)st->cached_tokens / (double)st->input_tokens : 0.0);
            fprintf(out, "  %-6s %9s %9s %9s %9s %10s\n", "ms", "mean", "p50", "p90", "p99", "samples");
            metric_row(out, "TTFT", &st->ttft);
            metric_row(out, "TPOT", &st->tpot);
            metric_row(out, "NTPOT", &st->ntpot);
            metric_row(out, "ITL", &st->itl);
            metric_row(out, "E2E", &st->e2e);
            uint64_t total = replica_total(st);
            if (st->nreplicas > 0) {
                fprintf(out, "  replicas:");
                for (size_t k = 0; k < st->nreplicas; k++)
                    fprintf(out, " %s %.1f%%", st->replicas[k].name, 100.0 * (double)st->replicas[k].n / (double)total);
                fprintf(out, "\n");
            }
            if (st->nfailures > 0) {
                fprintf(out, "  failures:");
                for (size_t k = 0; k < st->nfailures; k++)
                    fprintf(out, " %s %llu", st->failures[k].name, (unsigned long long)st->failures[k].n);
                fprintf(out, "\n");
            }
            fprintf(out, "\n");
        }
    }
    /* one line per stage: the comparison at a glance */
    fprintf(out, "%-16s %5s %-12s %8s %7s %8s %10s %9s %9s %9s %9s %9s\n", "arm", "stage", "load", "ok", "failed",
            "req/s", "out tok/s", "TTFT p50", "TTFT p90", "NTPOT p90", "ITL p90", "E2E p50");
    for (size_t a = 0; a < n; a++) {
        for (size_t i = 0; i < arms[a].nstages; i++) {
            const struct ig_bench_stage *st = &arms[a].stages[i];
            load_text(st, load, sizeof(load));
            fprintf(out, "%-16s %5zu %-12s %8llu %7llu %8.2f %10.1f", arms[a].label, i + 1, load,
                    (unsigned long long)st->succeeded, (unsigned long long)st->failed, st->rps, st->out_tps);
            cell(out, st->ttft.count > 0 ? st->ttft.p50 : NAN);
            cell(out, st->ttft.count > 0 ? st->ttft.p90 : NAN);
            cell(out, st->ntpot.count > 0 ? st->ntpot.p90 : NAN);
            cell(out, st->itl.count > 0 ? st->itl.p90 : NAN);
            cell(out, st->e2e.count > 0 ? st->e2e.p50 : NAN);
            fprintf(out, "\n");
        }
    }
    fprintf(out, "(latencies in ms)\n");
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static json_t *num(double v)
{
    return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

static json_t *summary_json(const struct ig_bench_summary *s)
{
    int empty = s->count == 0;
    return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "count", (json_int_t)s->count, "mean", num(empty ? NAN : s->mean),
                     "p50", num(empty ? NAN : s->p50), "p90", num(empty ? NAN : s->p90), "p99",
                     num(empty ? NAN : s->p99), "min", num(empty ? NAN : s->min), "max", num(empty ? NAN : s->max));
}

static json_t *stage_json(const struct ig_bench_stage *st, size_t index)
{
    json_t *replicas = json_object(), *failures = json_object();
    uint64_t total = replica_total(st);
    for (size_t k = 0; k < st->nreplicas; k++)
        json_object_set_new(replicas, st->replicas[k].name,
                            json_pack("{s:I,s:f}", "requests", (json_int_t)st->replicas[k].n, "share",
                                      (double)st->replicas[k].n / (double)total));
    for (size_t k = 0; k < st->nfailures; k++)
        json_object_set_new(failures, st->failures[k].name, json_integer((json_int_t)st->failures[k].n));
    int rate = st->mode == IG_BENCH_MODE_RATE;
    return json_pack("{s:I,s:s,s:o,s:o,s:f,s:I,s:f,s:{s:I,s:I,s:I},s:{s:I,s:I,s:I},s:{s:f,s:f,s:f,s:f},"
                     "s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
                     "index", (json_int_t)index, "mode", rate ? "rate" : "concurrency", "rate",
                     rate ? json_real(st->rate) : json_null(), "concurrency",
                     rate ? json_null() : json_integer(st->concurrency), "duration_s", st->duration_s, "max_requests",
                     (json_int_t)st->max_requests, "elapsed_s", st->elapsed_s, "requests", "sent", (json_int_t)st->sent,
                     "succeeded", (json_int_t)st->succeeded, "failed", (json_int_t)st->failed, "tokens", "input",
                     (json_int_t)st->input_tokens, "output", (json_int_t)st->output_tokens, "cached",
                     (json_int_t)st->cached_tokens, "throughput", "requests_per_s", st->rps, "input_tokens_per_s",
                     st->in_tps, "output_tokens_per_s", st->out_tps, "total_tokens_per_s", st->in_tps + st->out_tps,
                     "ttft_ms", summary_json(&st->ttft), "tpot_ms", summary_json(&st->tpot), "ntpot_ms",
                     summary_json(&st->ntpot), "itl_ms", summary_json(&st->itl), "e2e_ms", summary_json(&st->e2e),
                     "replicas", replicas, "failures", failures);
}

int ig_bench__report_json(const char *path, const struct ig_bench_arm *arm)
{
    json_t *stages = json_array();
    for (size_t i = 0; i < arm->nstages; i++) {
        json_t *s = stage_json(&arm->stages[i], i);
        if (s == NULL) {
            json_decref(stages);
            return IG_EINVAL;
        }
        json_array_append_new(stages, s);
    }
    json_t *config = arm->config != NULL ? json_loads(arm->config, 0, NULL) : NULL;
    json_t *doc = json_pack("{s:s,s:i,s:s,s:s,s:o,s:o}", "tool", "infergate bench", "format", 1, "label", arm->label,
                            "target", arm->target != NULL ? arm->target : "", "config",
                            config != NULL ? config : json_object(), "stages", stages);
    if (doc == NULL)
        return IG_EINVAL;
    int rc = json_dump_file(doc, path, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) == 0 ? 0 : -EIO;
    json_decref(doc);
    return rc;
}

static double get_num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static uint64_t get_u64(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? (uint64_t)json_integer_value(v) : 0;
}

static void load_summary(json_t *o, struct ig_bench_summary *s)
{
    s->count = get_u64(o, "count");
    s->mean = get_num(o, "mean");
    s->p50 = get_num(o, "p50");
    s->p90 = get_num(o, "p90");
    s->p99 = get_num(o, "p99");
    s->min = get_num(o, "min");
    s->max = get_num(o, "max");
}

int ig_bench__report_load(const char *path, struct ig_bench_arm *out, char *err, size_t errlen)
{
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    json_t *doc = json_load_file(path, 0, &jerr);
    if (doc == NULL) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        return IG_EINVAL;
    }
    json_t *stages = json_object_get(doc, "stages");
    const char *label = json_string_value(json_object_get(doc, "label"));
    if (!json_is_array(stages) || label == NULL) {
        snprintf(err, errlen, "%s: not an infergate bench JSON report (no label or stages)", path);
        json_decref(doc);
        return IG_EINVAL;
    }
    out->label = ig_strdup(label);
    const char *target = json_string_value(json_object_get(doc, "target"));
    out->target = ig_strdup(target != NULL ? target : "");
    out->nstages = json_array_size(stages);
    out->stages = ig_calloc(out->nstages > 0 ? out->nstages : 1, sizeof(*out->stages));
    for (size_t i = 0; i < out->nstages; i++) {
        json_t *s = json_array_get(stages, i), *v;
        struct ig_bench_stage *st = &out->stages[i];
        const char *mode = json_string_value(json_object_get(s, "mode"));
        st->mode = mode != NULL && strcmp(mode, "concurrency") == 0 ? IG_BENCH_MODE_CONCURRENCY : IG_BENCH_MODE_RATE;
        st->rate = get_num(s, "rate");
        st->concurrency = (uint32_t)get_u64(s, "concurrency");
        st->duration_s = get_num(s, "duration_s");
        st->max_requests = get_u64(s, "max_requests");
        st->elapsed_s = get_num(s, "elapsed_s");
        v = json_object_get(s, "requests");
        st->sent = get_u64(v, "sent");
        st->succeeded = get_u64(v, "succeeded");
        st->failed = get_u64(v, "failed");
        v = json_object_get(s, "tokens");
        st->input_tokens = get_u64(v, "input");
        st->output_tokens = get_u64(v, "output");
        st->cached_tokens = get_u64(v, "cached");
        v = json_object_get(s, "throughput");
        st->rps = get_num(v, "requests_per_s");
        st->in_tps = get_num(v, "input_tokens_per_s");
        st->out_tps = get_num(v, "output_tokens_per_s");
        load_summary(json_object_get(s, "ttft_ms"), &st->ttft);
        load_summary(json_object_get(s, "tpot_ms"), &st->tpot);
        load_summary(json_object_get(s, "ntpot_ms"), &st->ntpot);
        load_summary(json_object_get(s, "itl_ms"), &st->itl);
        load_summary(json_object_get(s, "e2e_ms"), &st->e2e);
        const char *key;
        json_object_foreach(json_object_get(s, "replicas"), key, v)
        {
            ig_bench__count_add(&st->replicas, &st->nreplicas, key, strlen(key), get_u64(v, "requests"));
        }
        json_object_foreach(json_object_get(s, "failures"), key, v)
        {
            ig_bench__count_add(&st->failures, &st->nfailures, key, strlen(key),
                                json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0);
        }
    }
    json_decref(doc);
    return 0;
}

/* ---- CSV ------------------------------------------------------------------------------------- */

static void csv_num(FILE *f, double v)
{
    if (isnan(v) || isinf(v))
        fprintf(f, ",");
    else
        fprintf(f, ",%.6g", v);
}

/* Labels and ids are quoted when they hold a comma, quote or newline. */
static void csv_str(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\n\r") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s != 0; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int ig_bench__report_csv(const char *path, const struct ig_bench_arm *arms, size_t n)
{
    static const char *const metrics[] = {"ttft", "tpot", "ntpot", "itl", "e2e"};
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return IG_ERR_ERRNO();
    fprintf(f, "label,stage,mode,rate,concurrency,duration_s,elapsed_s,sent,succeeded,failed,requests_per_s,"
               "input_tokens_per_s,output_tokens_per_s,input_tokens,output_tokens,cached_tokens");
    for (size_t m = 0; m < IG_ARRAY_LEN(metrics); m++)
        fprintf(f, ",%s_mean_ms,%s_p50_ms,%s_p90_ms,%s_p99_ms", metrics[m], metrics[m], metrics[m], metrics[m]);
    fprintf(f, ",replica_shares,failures\n");
    for (size_t a = 0; a < n; a++) {
        for (size_t i = 0; i < arms[a].nstages; i++) {
            const struct ig_bench_stage *st = &arms[a].stages[i];
            int rate = st->mode == IG_BENCH_MODE_RATE;
            csv_str(f, arms[a].label);
            fprintf(f, ",%zu,%s", i + 1, rate ? "rate" : "concurrency");
            csv_num(f, rate ? st->rate : NAN);
            csv_num(f, rate ? NAN : (double)st->concurrency);
            csv_num(f, st->duration_s);
            csv_num(f, st->elapsed_s);
            fprintf(f, ",%llu,%llu,%llu", (unsigned long long)st->sent, (unsigned long long)st->succeeded,
                    (unsigned long long)st->failed);
            csv_num(f, st->rps);
            csv_num(f, st->in_tps);
            csv_num(f, st->out_tps);
            fprintf(f, ",%llu,%llu,%llu", (unsigned long long)st->input_tokens, (unsigned long long)st->output_tokens,
                    (unsigned long long)st->cached_tokens);
            const struct ig_bench_summary *s[] = {&st->ttft, &st->tpot, &st->ntpot, &st->itl, &st->e2e};
            for (size_t m = 0; m < IG_ARRAY_LEN(s); m++) {
                int e = s[m]->count == 0;
                csv_num(f, e ? NAN : s[m]->mean);
                csv_num(f, e ? NAN : s[m]->p50);
                csv_num(f, e ? NAN : s[m]->p90);
                csv_num(f, e ? NAN : s[m]->p99);
            }
            /* id=share;id=share -- ids may hold anything, so the whole field is quoted when needed */
            char field[4096];
            size_t used = 0;
            uint64_t total = replica_total(st);
            field[0] = 0;
            for (size_t k = 0; k < st->nreplicas && used < sizeof(field); k++)
                used += (size_t)snprintf(field + used, sizeof(field) - used, "%s%s=%.4f", k > 0 ? ";" : "",
                                         st->replicas[k].name, (double)st->replicas[k].n / (double)total);
            fputc(',', f);
            csv_str(f, field);
            used = 0;
            field[0] = 0;
            for (size_t k = 0; k < st->nfailures && used < sizeof(field); k++)
                used += (size_t)snprintf(field + used, sizeof(field) - used, "%s%s=%llu", k > 0 ? ";" : "",
                                         st->failures[k].name, (unsigned long long)st->failures[k].n);
            fputc(',', f);
            csv_str(f, field);
            fputc('\n', f);
        }
    }
    return fclose(f) == 0 ? 0 : IG_ERR_ERRNO();
}
