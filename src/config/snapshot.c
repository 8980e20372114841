/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshot lifecycle: the load entry points (file or string -> tree -> typed decode -> reference
 * resolution -> environment overrides), defaults, the reference count and the final release of
 * the arena and compiled regexes, plus the checks across listeners of a bind that need the
 * whole decoded file (one protocol per port). Environment variables win over the file, which
 * wins over the defaults, exactly as agentgateway's config.rs reads them
 * (`env.or(file).unwrap_or(default)`); an empty variable counts as unset.
 */
#include "config_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

uint32_t ig_config__cpu_count(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return (uint32_t)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (uint32_t)n : 1;
}

int ig_config__parse_worker_threads(ig_iov_t s, uint32_t *out, const char **why)
{
    uint64_t v;
    if (s.len > 1 && s.base[s.len - 1] == '%') {
        /* "P%" of the usable CPUs, rounded up, at least 1; P in (0, 100], up to 3 decimals. */
        uint64_t whole = 0, milli = 0;
        size_t i = 0, frac_digits = 0;
        ig_iov_t p = ig_iov(s.base, s.len - 1);
        for (; i < p.len && p.base[i] >= '0' && p.base[i] <= '9' && whole <= 1000; i++)
            whole = whole * 10 + (uint64_t)(p.base[i] - '0');
        if (i == 0) {
            *why = "invalid percentage";
            return IG_EINVAL;
        }
        if (i < p.len && p.base[i] == '.') {
            for (i++; i < p.len && p.base[i] >= '0' && p.base[i] <= '9'; i++)
                if (frac_digits++ < 3)
                    milli = milli * 10 + (uint64_t)(p.base[i] - '0');
        }
        if (i != p.len) {
            *why = "invalid percentage";
            return IG_EINVAL;
        }
        while (frac_digits < 3) {
            milli *= 10;
            frac_digits++;
        }
        if (frac_digits > 3)
            frac_digits = 3;
        uint64_t pm = whole * 1000 + milli; /* per 100000 */
        if (pm == 0 || pm > 100000) {
            *why = "percentage must be between 0 and 100";
            return IG_EINVAL;
        }
        uint64_t cpus = ig_config__cpu_count();
        uint64_t n = (cpus * pm + 99999) / 100000;
        *out = (uint32_t)(n ? n : 1);
        return 0;
    }
    if (ig_iov_to_u64(s, &v) != 0 || v == 0 || v > 4096) {
        *why = "expected a number of threads (1..4096) or a percentage of the CPUs such as \"50%\"";
        return IG_EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

static int env_addr(struct ig_cfg_dec *d, const char *name, struct ig_cfg_addr *out)
{
    const char *v = getenv(name);
    const char *why = NULL;
    if (v == NULL || v[0] == '\0')
        return 0;
    if (ig_config__parse_addr(d->pool, ig_iov_cstr(v), out, &why) != 0) {
        ig_config__diag(d->dg, 0, 0, NULL, "invalid env var %s=%.64s (%s)", name, v, why);
        return IG_EINVAL;
    }
    return 0;
}

int ig_config__apply_env(struct ig_cfg_dec *d)
{
    struct ig_cfg_process *p = &d->cfg->process;
    int rc = 0;
    rc |= env_addr(d, "ADMIN_ADDR", &p->admin);
    rc |= env_addr(d, "STATS_ADDR", &p->stats);
    rc |= env_addr(d, "READINESS_ADDR", &p->readiness);
    const char *v = getenv("WORKER_THREADS");
    const char *why = NULL;
    if (v != NULL && v[0] != '\0' && ig_config__parse_worker_threads(ig_iov_cstr(v), &p->worker_threads, &why) != 0) {
        ig_config__diag(d->dg, 0, 0, NULL, "invalid env var WORKER_THREADS=%.64s (%s)", v, why);
        rc = IG_EINVAL;
    }
    if (p->worker_threads == 0)
        p->worker_threads = ig_config__cpu_count();
    return rc ? IG_EINVAL : 0;
}

static const struct ig_ynode *map_get(const struct ig_ynode *m, const char *key)
{
    if (m == NULL || m->kind != IG_YNODE_MAP)
        return NULL;
    for (size_t i = 0; i < m->n; i++) {
        const struct ig_ynode *k = IG_YMAP_KEY(m, i);
        if (k->kind == IG_YNODE_SCALAR && strcmp(k->s, key) == 0)
            return IG_YMAP_VAL(m, i);
    }
    return NULL;
}

/*
 * One port speaks one protocol: a connection is TLS or not before any Host or SNI is seen, so the
 * listeners of a bind must be all HTTP or all HTTPS (HTTPS listeners then share the port by SNI).
 * Runs once the file is decoded; |root| gives the positions for the messages.
 */
static void check_bind_protocols(struct ig_cfg_dec *d, const struct ig_ynode *root)
{
    const struct ig_config *cfg = d->cfg;
    const struct ig_ynode *binds = map_get(root, "binds");
    for (size_t b = 0; b < cfg->n_binds; b++) {
        const struct ig_cfg_bind *bind = &cfg->binds[b];
        const struct ig_ynode *lseq =
            binds != NULL && binds->kind == IG_YNODE_SEQ && b < binds->n ? map_get(binds->items[b], "listeners") : NULL;
        for (size_t i = 1; i < bind->n_listeners; i++) {
            const struct ig_cfg_listener *first = &bind->listeners[0], *l = &bind->listeners[i];
            if (l->protocol == first->protocol)
                continue;
            const struct ig_ynode *item =
                lseq != NULL && lseq->kind == IG_YNODE_SEQ && i < lseq->n ? lseq->items[i] : NULL;
            const struct ig_ynode *at = map_get(item, "protocol");
            char path[96];
            snprintf(path, sizeof(path), "binds[%zu].listeners[%zu]%s", b, i, at != NULL ? ".protocol" : "");
            if (at == NULL)
                at = item;
            ig_config__diag(d->dg, at != NULL ? at->line : 0, at != NULL ? at->col : 0, path,
                            "listener \"%.64s\" is %s but listener \"%.64s\" on the same port %u is %s: HTTP and "
                            "HTTPS listeners cannot share a bind (HTTPS listeners share one by hostname)",
                            l->name.base, l->protocol == IG_CFG_PROTO_HTTPS ? "HTTPS" : "HTTP", first->name.base,
                            (unsigned)bind->port, first->protocol == IG_CFG_PROTO_HTTPS ? "HTTPS" : "HTTP");
            break; /* one message per bind */
        }
    }
}

static void set_defaults(struct ig_config *cfg)
{
    const char *why = NULL;
    struct ig_cfg_process *p = &cfg->process;
    ig_config__parse_addr(&cfg->_pool, IG_STRLIT("localhost:15000"), &p->admin, &why);
    ig_config__parse_addr(&cfg->_pool, IG_STRLIT("0.0.0.0:15020"), &p->stats, &why);
    ig_config__parse_addr(&cfg->_pool, IG_STRLIT("0.0.0.0:15021"), &p->readiness, &why);
    p->worker_threads = 0; /* filled after the file and the environment */
    p->log_level = IG_LOG_INFO;
    p->log_format = IG_LOG_TEXT;
    cfg->frontend.max_buffer_size = 2097152;
    cfg->frontend.http1_max_headers = 100;
    cfg->frontend.http1_idle_timeout_ns = 600ULL * 1000000000ULL;
}

static void destroy(struct ig_config *cfg)
{
    for (struct ig_cfg_regex *r = cfg->_regexes; r != NULL; r = r->next)
        regfree(&r->re);
    ig_pool_dispose(&cfg->_pool);
    ig_free(cfg);
}

int ig_config_load_string(const char *name, const char *text, size_t len, struct ig_config **out, char *err,
                          size_t errlen)
{
    struct ig_cfg_diag dg;
    struct ig_cfg_dec d;
    struct ig_ynode *root = NULL;
    ig_pool_t scratch;
    struct ig_config *cfg;
    int rc;

    if (name == NULL)
        name = "<config>";
    *out = NULL;
    ig_config__diag_init(&dg, name, err, errlen);
    if (len > IG_CONFIG_MAX_FILE) {
        ig_config__diag(&dg, 0, 0, NULL, "file larger than %u bytes", IG_CONFIG_MAX_FILE);
        return IG_ETOOBIG;
    }
    cfg = ig_calloc(1, sizeof(*cfg));
    ig_pool_init(&cfg->_pool);
    ig_pool_init(&scratch);
    cfg->_refs = 1;
    cfg->source = ig_pool_dup(&cfg->_pool, ig_iov_cstr(name));
    set_defaults(cfg);

    memset(&d, 0, sizeof(d));
    d.cfg = cfg;
    d.pool = &cfg->_pool;
    d.scratch = &scratch;
    d.dg = &dg;
    d.refs_tail = &d.refs;
    d.wrefs_tail = &d.wrefs;

    rc = ig_config__yaml_parse(&scratch, text != NULL ? text : "", text != NULL ? len : 0, &root, &dg);
    if (rc != 0)
        goto fail;
    if (root != NULL && root->kind != IG_YNODE_MAP && !ig_config__is_null(root)) {
        ig_config__err(&d, root, "expected a mapping at the top level");
        goto fail;
    }
    ig_config__dec_root(&d, root);
    if (dg.count == 0)
        check_bind_protocols(&d, root);
    if (dg.count != 0 || ig_config__resolve(&d) != 0 || ig_config__apply_env(&d) != 0)
        goto fail;
    ig_pool_dispose(&scratch);
    *out = cfg;
    return 0;
fail:
    ig_pool_dispose(&scratch);
    destroy(cfg);
    return IG_EINVAL;
}

int ig_config_load_file(const char *path, struct ig_config **out, char *err, size_t errlen)
{
    struct ig_cfg_diag dg;
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    int rc, fd;

    *out = NULL;
    ig_config__diag_init(&dg, path, err, errlen);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not hang the loader */
    if (fd == -1) {
        rc = IG_ERR_ERRNO();
        ig_config__diag(&dg, 0, 0, NULL, "cannot open: %s", strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) == -1) {
        rc = IG_ERR_ERRNO();
        ig_config__diag(&dg, 0, 0, NULL, "cannot stat: %s", strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = IG_EINVAL;
        ig_config__diag(&dg, 0, 0, NULL, "not a regular file");
        goto out;
    }
    if (st.st_size > (off_t)IG_CONFIG_MAX_FILE) {
        rc = IG_ETOOBIG;
        ig_config__diag(&dg, 0, 0, NULL, "file larger than %u bytes", IG_CONFIG_MAX_FILE);
        goto out;
    }
    buf = ig_malloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            rc = IG_ERR_ERRNO();
            ig_config__diag(&dg, 0, 0, NULL, "read failed: %s", strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    rc = ig_config_load_string(path, buf, got, out, err, errlen);
out:
    close(fd);
    ig_free(buf);
    return rc;
}

struct ig_config *ig_config_ref(struct ig_config *cfg)
{
    __atomic_add_fetch(&cfg->_refs, 1, __ATOMIC_RELAXED);
    return cfg;
}

void ig_config_unref(struct ig_config *cfg)
{
    if (cfg == NULL)
        return;
    if (__atomic_sub_fetch(&cfg->_refs, 1, __ATOMIC_ACQ_REL) == 0)
        destroy(cfg);
}
