/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plots of `infergate bench`: a gnuplot script (PREFIX.gp) and one data file per arm
 * (PREFIX-<arm>.dat) with TTFT p50, TTFT p90 and e2e p50 against the request rate, one line per
 * arm in each of three panels. When gnuplot is installed it is run to render PREFIX.png and
 * PREFIX.svg; otherwise the script is left for later (`gnuplot PREFIX.gp`). The x axis is the
 * offered rate of rate stages and the achieved req/s of concurrency stages.
 */
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_int.h"

extern char **environ;

/* A file-name-safe form of a label. */
static void safe_name(const char *label, char *out, size_t size)
{
    size_t i = 0;
    for (; label[i] != 0 && i + 1 < size; i++) {
        char c = label[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                 c == '_';
        out[i] = ok ? c : '_';
    }
    out[i] = 0;
}

/* A gnuplot single-quoted string: quotes are doubled, nothing else is special. */
static void gp_str(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s != 0; s++) {
        if (*s == '\'')
            fputc('\'', f);
        if (*s != '\n' && *s != '\r')
            fputc(*s, f);
    }
    fputc('\'', f);
}

static void gp_num(FILE *f, double v)
{
    if (isnan(v) || isinf(v))
        fprintf(f, " ?");
    else
        fprintf(f, " %.6g", v);
}

static int write_data(const char *path, const struct ig_bench_arm *arm)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return IG_ERR_ERRNO();
    size_t n = arm->nstages;
    size_t *order = ig_calloc(n > 0 ? n : 1, sizeof(*order));
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = 1; i < n; i++) /* insertion sort by x: ladders are short */
        for (size_t j = i;
             j > 0 && ig_bench__stage_x(&arm->stages[order[j]]) < ig_bench__stage_x(&arm->stages[order[j - 1]]); j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    fprintf(f, "# %s: request_rate ttft_p50_ms ttft_p90_ms e2e_p50_ms (stage order by rate)\n", arm->label);
    for (size_t k = 0; k < n; k++) {
        const struct ig_bench_stage *st = &arm->stages[order[k]];
        gp_num(f, ig_bench__stage_x(st));
        gp_num(f, st->ttft.count > 0 ? st->ttft.p50 : NAN);
        gp_num(f, st->ttft.count > 0 ? st->ttft.p90 : NAN);
        gp_num(f, st->e2e.count > 0 ? st->e2e.p50 : NAN);
        fputc('\n', f);
    }
    ig_free(order);
    return fclose(f) == 0 ? 0 : IG_ERR_ERRNO();
}

static void panels(FILE *f, char **data, const struct ig_bench_arm *arms, size_t n)
{
    static const char *const titles[] = {"TTFT p50 (ms)", "TTFT p90 (ms)", "E2E latency p50 (ms)"};
    fprintf(f, "set multiplot layout 1,3 title 'infergate bench'\n");
    for (int p = 0; p < 3; p++) {
        fprintf(f, "set title ");
        gp_str(f, titles[p]);
        fprintf(f, "\nplot ");
        for (size_t a = 0; a < n; a++) {
            fprintf(f, "%s", a > 0 ? ", \\\n     " : "");
            gp_str(f, data[a]);
            fprintf(f, " using 1:%d with linespoints lw 2 pt 7 title ", p + 2);
            gp_str(f, arms[a].label);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "unset multiplot\n");
}

static int find_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        return 0;
    while (*path != 0) {
        const char *end = strchr(path, ':');
        size_t len = end != NULL ? (size_t)(end - path) : strlen(path);
        char full[4096];
        if (len > 0 && len < sizeof(full) - 16) {
            snprintf(full, sizeof(full), "%.*s/gnuplot", (int)len, path);
            if (access(full, X_OK) == 0)
                return 1;
        }
        if (end == NULL)
            break;
        path = end + 1;
    }
    return 0;
}

int ig_bench__plot(const char *prefix, const struct ig_bench_arm *arms, size_t n, int render)
{
    char **data = ig_calloc(n > 0 ? n : 1, sizeof(*data));
    char *script = ig_malloc(strlen(prefix) + 8);
    int rc = 0;
    FILE *f = NULL;
    memcpy(script, prefix, strlen(prefix));
    memcpy(script + strlen(prefix), ".gp", 4);
    for (size_t a = 0; a < n; a++) {
        char safe[128];
        safe_name(arms[a].label, safe, sizeof(safe));
        size_t len = strlen(prefix) + strlen(safe) + 32;
        data[a] = ig_malloc(len);
        /* two arms with the same file-safe label still get their own file */
        snprintf(data[a], len, "%s-%zu-%s.dat", prefix, a + 1, safe);
        if ((rc = write_data(data[a], &arms[a])) != 0)
            goto out;
    }
    f = fopen(script, "w");
    if (f == NULL) {
        rc = IG_ERR_ERRNO();
        goto out;
    }
    fprintf(f,
            "# infergate bench: latency against request rate, one line per arm.\n"
            "# Render with: gnuplot %s\n"
            "set datafile missing '?'\nset grid\nset key top left noenhanced\n"
            "set xlabel 'request rate (req/s)'\nset ylabel 'ms'\nset yrange [0:*]\n",
            script);
    fprintf(f, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 1500,500 noenhanced } "
               "else { set terminal png size 1500,500 noenhanced }\nset output ");
    {
        size_t len = strlen(prefix) + 8;
        char *out = ig_malloc(len);
        snprintf(out, len, "%s.png", prefix);
        gp_str(f, out);
        fprintf(f, "\n");
        panels(f, data, arms, n);
        fprintf(f, "set terminal svg size 1500,500 noenhanced dynamic\nset output ");
        snprintf(out, len, "%s.svg", prefix);
        gp_str(f, out);
        fprintf(f, "\n");
        panels(f, data, arms, n);
        fprintf(f, "set output\n");
        ig_free(out);
    }
    if (fclose(f) != 0) {
        f = NULL;
        rc = IG_ERR_ERRNO();
        goto out;
    }
    f = NULL;
    if (!render)
        goto out;
    if (!find_gnuplot()) {
        rc = 1;
        goto out;
    }
    pid_t pid;
    char *argv[] = {(char *)"gnuplot", script, NULL};
    int err = posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ);
    if (err != 0) {
        rc = -err;
        goto out;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        rc = IG_EINVAL;
out:
    if (f != NULL)
        fclose(f);
    for (size_t a = 0; a < n; a++)
        ig_free(data[a]);
    ig_free(data);
    ig_free(script);
    return rc;
}
