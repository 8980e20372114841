/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The file endpoint source, `--endpoints-file FILE`: YAML or JSON (JSON is read as YAML flow
 * style), a list of {address: "ip:port", metricsPort?: N, labels?: {k: v}}, or a map holding that
 * list under `endpoints`. Errors carry libyaml's marks as "<file>:<line>:<col>: <message>".
 *
 * The file is watched with uv_fs_event on its directory, not on the file: editors and Kubernetes
 * ConfigMap mounts replace a file by renaming another over it (or by swapping a `..data` symlink),
 * which an inode watch on the old file would never report (ig_file_watch). Each burst of events
 * in the directory, debounced, reads the file; nothing happens when its bytes did not change. A
 * file that fails to load is logged and the previous endpoints stay.
 */
#include "epp_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

struct ig_epp_file_source {
    uv_loop_t *loop;
    char *path;
    ig_epp_datastore_t *ds;
    ig_file_watch_t *watch;
    char *last; /* bytes of the last file loaded, to skip no-op reloads */
    size_t last_len;
    uint64_t loads, failures;
};

/* ---- loader ------------------------------------------------------------------------------------ */

struct loader {
    const char *name;
    yaml_document_t *doc;
    struct ig_epp_endpoint_list *out;
    char *err;
    size_t errlen;
};

int ig_epp__yaml_fail(char *err, size_t errlen, const char *name, const yaml_node_t *node, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ig_epp__errf(err, errlen, "%s:%zu:%zu: %s", name, node->start_mark.line + 1, node->start_mark.column + 1, msg);
    return IG_EINVAL;
}

static int load_labels(struct loader *ld, yaml_node_t *map, struct ig_epp_endpoint_decl *d)
{
    if (map->type != YAML_MAPPING_NODE)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, map, "labels: expected a map of strings");
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (n > IG_EPP_MAX_LABELS)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, map, "labels: more than %d labels", IG_EPP_MAX_LABELS);
    struct ig_sched_kv *kv = n ? ig_pool_calloc(&ld->out->pool, n * sizeof(*kv)) : NULL;
    size_t i = 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++, i++) {
        yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(ld->doc, p->value);
        if (k->type != YAML_SCALAR_NODE || k->data.scalar.length == 0)
            return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, k, "labels: expected a non-empty string key");
        if (v->type != YAML_SCALAR_NODE)
            return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, v, "labels.%.*s: expected a string",
                                     (int)k->data.scalar.length, (const char *)k->data.scalar.value);
        for (size_t j = 0; j < i; j++) {
            if (ig_iov_eq(kv[j].key, ig_epp__yaml_scalar(k)))
                return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, k, "labels: duplicate key \"%.*s\"",
                                         (int)k->data.scalar.length, (const char *)k->data.scalar.value);
        }
        kv[i].key = ig_pool_dup(&ld->out->pool, ig_epp__yaml_scalar(k));
        kv[i].value = ig_pool_dup(&ld->out->pool, ig_epp__yaml_scalar(v));
    }
    d->labels = kv;
    d->n_labels = n;
    return 0;
}

static int load_endpoint(struct loader *ld, yaml_node_t *item, size_t idx, struct ig_epp_endpoint_decl *d)
{
    if (item->type != YAML_MAPPING_NODE)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, item, "endpoints[%zu]: expected a map with an address",
                                 idx);
    d->line = (uint32_t)item->start_mark.line + 1;
    d->col = (uint32_t)item->start_mark.column + 1;
    int have_address = 0;
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(ld->doc, p->value);
        if (ig_epp__yaml_key_is(k, "address")) {
            struct sockaddr_storage sa;
            uint16_t port;
            if (v->type != YAML_SCALAR_NODE || ig_epp__parse_hostport(ig_epp__yaml_scalar(v), &sa, &port) != 0)
                return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, v,
                                         "endpoints[%zu].address: expected \"ip:port\" with a numeric ip", idx);
            d->address = ig_pool_dup(&ld->out->pool, ig_epp__yaml_scalar(v));
            have_address = 1;
        } else if (ig_epp__yaml_key_is(k, "metricsPort")) {
            uint64_t port;
            if (v->type != YAML_SCALAR_NODE || ig_iov_to_u64(ig_epp__yaml_scalar(v), &port) != 0 || port == 0 ||
                port > 65535)
                return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, v,
                                         "endpoints[%zu].metricsPort: expected a port number 1-65535", idx);
            d->metrics_port = (uint16_t)port;
        } else if (ig_epp__yaml_key_is(k, "labels")) {
            int rc = load_labels(ld, v, d);
            if (rc != 0)
                return rc;
        } else if (k->type == YAML_SCALAR_NODE) {
            return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, k,
                                     "endpoints[%zu]: unknown key \"%.*s\" (expected address, metricsPort, labels)",
                                     idx, (int)k->data.scalar.length, (const char *)k->data.scalar.value);
        } else {
            return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, k, "endpoints[%zu]: expected a string key", idx);
        }
    }
    if (!have_address)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, item, "endpoints[%zu]: address is required", idx);
    return 0;
}

static int load_doc(struct loader *ld)
{
    yaml_node_t *root = yaml_document_get_root_node(ld->doc);
    if (root == NULL) {
        ig_epp__errf(ld->err, ld->errlen, "%s:1:1: empty file: expected a list of endpoints", ld->name);
        return IG_EINVAL;
    }
    yaml_node_t *list = root;
    if (root->type == YAML_MAPPING_NODE) {
        list = NULL;
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
            if (!ig_epp__yaml_key_is(k, "endpoints"))
                return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, k, "unknown key (expected endpoints)");
            list = yaml_document_get_node(ld->doc, p->value);
        }
        if (list == NULL)
            return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, root, "expected a list of endpoints");
    }
    if (list->type != YAML_SEQUENCE_NODE)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, list, "expected a list of endpoints");
    size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    if (n > IG_EPP_MAX_ENDPOINTS)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, list, "more than %d endpoints", IG_EPP_MAX_ENDPOINTS);
    struct ig_epp_endpoint_decl *v = ig_pool_calloc(&ld->out->pool, (n ? n : 1) * sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(ld->doc, list->data.sequence.items.start[i]);
        int rc = load_endpoint(ld, item, i, &v[i]);
        if (rc != 0)
            return rc;
        for (size_t j = 0; j < i; j++) {
            if (ig_iov_eq(v[j].address, v[i].address))
                return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, item,
                                         "endpoints[%zu]: address %s is already listed at line %u", i,
                                         v[i].address.base, v[j].line);
        }
    }
    ld->out->v = v;
    ld->out->n = n;
    return 0;
}

int ig_epp_endpoints_load_string(const char *name, const char *text, size_t len, struct ig_epp_endpoint_list *out,
                                 char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc;
    if (!yaml_parser_initialize(&parser)) {
        ig_epp__errf(err, errlen, "%s: cannot initialise the YAML parser", name);
        return IG_EINVAL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        ig_epp__errf(err, errlen, "%s:%zu:%zu: %s%s%s", name, parser.problem_mark.line + 1,
                     parser.problem_mark.column + 1, parser.problem != NULL ? parser.problem : "invalid YAML",
                     parser.context != NULL ? " " : "", parser.context != NULL ? parser.context : "");
        yaml_parser_delete(&parser);
        return IG_EINVAL;
    }
    struct loader ld = {.name = name, .doc = &doc, .out = out, .err = err, .errlen = errlen};
    rc = load_doc(&ld);
    if (rc != 0) {
        out->v = NULL;
        out->n = 0;
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int ig_epp__read_file(const char *path, char **data, size_t *len)
{
    int rc = 0;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return IG_ERR_ERRNO();
    struct stat st;
    if (fstat(fd, &st) == -1) {
        rc = IG_ERR_ERRNO();
        goto out;
    }
    if (st.st_size > (off_t)IG_EPP_MAX_FILE) {
        rc = IG_ETOOBIG;
        goto out;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    buf = ig_malloc(cap + 1);
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            rc = IG_ERR_ERRNO();
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) { /* grew since fstat: one more round, within the limit */
            if (cap > IG_EPP_MAX_FILE) {
                rc = IG_ETOOBIG;
                goto out;
            }
            cap *= 2;
            buf = ig_realloc(buf, cap + 1);
        }
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    buf = NULL;
out:
    ig_free(buf);
    close(fd);
    return rc;
}

int ig_epp_endpoints_load_file(const char *path, struct ig_epp_endpoint_list *out, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    int rc = ig_epp__read_file(path, &data, &len);
    if (rc != 0) {
        ig_epp__errf(err, errlen, "%s: %s", path, rc == IG_ETOOBIG ? "file larger than 4 MiB" : ig_strerror(rc));
        return rc;
    }
    rc = ig_epp_endpoints_load_string(path, data, len, out, err, errlen);
    ig_free(data);
    return rc;
}

/* ---- watched source ---------------------------------------------------------------------------- */

/* Loads the file into the datastore unless its bytes are those loaded last. */
static int reload(struct ig_epp_file_source *fs, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    struct ig_epp_endpoint_list list;
    ig_epp_endpoint_list_init(&list);
    int rc = ig_epp__read_file(fs->path, &data, &len);
    if (rc != 0) {
        ig_epp__errf(err, errlen, "%s: %s", fs->path, rc == IG_ETOOBIG ? "file larger than 4 MiB" : ig_strerror(rc));
        goto out;
    }
    if (fs->last != NULL && len == fs->last_len && memcmp(data, fs->last, len) == 0)
        goto out;
    rc = ig_epp_endpoints_load_string(fs->path, data, len, &list, err, errlen);
    if (rc == 0)
        rc = ig_epp_datastore_set(fs->ds, list.v, list.n, err, errlen);
    if (rc == 0) {
        ig_free(fs->last);
        fs->last = data;
        fs->last_len = len;
        data = NULL;
        fs->loads++;
        ig_log_info("epp", "%s: loaded %zu endpoints", fs->path, list.n);
    }
out:
    ig_epp_endpoint_list_dispose(&list);
    ig_free(data);
    return rc;
}

int ig_epp_file_source_reload(ig_epp_file_source_t *fs)
{
    char err[512];
    int rc = reload(fs, err, sizeof(err));
    if (rc != 0) {
        fs->failures++;
        ig_log_error("epp", "%s (keeping the previous %zu endpoints)", err, ig_epp_datastore_count(fs->ds));
    }
    return rc;
}

static void on_change(ig_file_watch_t *w, int status, void *arg)
{
    if (status < 0)
        ig_log_warn("epp", "watching %s: %s", ig_file_watch_dir(w), uv_strerror(status));
    (void)ig_epp_file_source_reload(arg);
}

static void fs_free(struct ig_epp_file_source *fs)
{
    ig_free(fs->path);
    ig_free(fs->last);
    ig_free(fs);
}

ig_epp_file_source_t *ig_epp_file_source_start(uv_loop_t *loop, const char *path, ig_epp_datastore_t *ds, char *err,
                                               size_t errlen)
{
    struct ig_epp_file_source *fs = ig_calloc(1, sizeof(*fs));
    fs->loop = loop;
    fs->path = ig_strdup(path);
    fs->ds = ds;
    if (reload(fs, err, errlen) != 0) {
        fs_free(fs);
        return NULL;
    }
    int rc = ig_file_watch_start(loop, path, IG_FILE_WATCH_DEBOUNCE_MS, on_change, fs, &fs->watch);
    if (rc != 0) {
        ig_epp__errf(err, errlen, "%s: cannot watch its directory: %s", path, uv_strerror(rc));
        fs_free(fs);
        return NULL;
    }
    return fs;
}

uint64_t ig_epp_file_source_loads(const ig_epp_file_source_t *fs)
{
    return fs->loads;
}

uint64_t ig_epp_file_source_failures(const ig_epp_file_source_t *fs)
{
    return fs->failures;
}

void ig_epp_file_source_stop(ig_epp_file_source_t *fs)
{
    if (fs == NULL)
        return;
    /* The watch never calls back once stopped, so the source can go at once. */
    ig_file_watch_stop(fs->watch);
    fs_free(fs);
}
