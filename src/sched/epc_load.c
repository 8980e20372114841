/* SPDX-License-Identifier: Apache-2.0 */
/*
 * EndpointPickerConfig loading: libyaml events into a small positioned tree (in the config's own
 * arena), then a typed walk that checks every key, plugin type, parameter and reference, and
 * finally the reference loader's defaults: single-profile-handler, max-score-picker per profile,
 * openai-parser, utilization-detector and the data producers the scorers need. Errors read
 * "<file>:<line>:<col>: <message>", like the gateway's config, and stop the load.
 */
#include "sched_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "ig/config.h"

#define MAX_DEPTH  64
#define MAX_ERRORS 8
#define MAX_FILE   (4u << 20)
#define MAX_ITEMS  4096

const char ig_epc_default_text[] = "apiVersion: inference.networking.x-k8s.io/v1alpha1\n"
                                   "kind: EndpointPickerConfig\n"
                                   "plugins:\n"
                                   "- type: queue-scorer\n"
                                   "- type: kv-cache-utilization-scorer\n"
                                   "- type: prefix-cache-scorer\n"
                                   "- type: metrics-data-source\n"
                                   "- type: core-metrics-extractor\n"
                                   "schedulingProfiles:\n"
                                   "- name: default\n"
                                   "  plugins:\n"
                                   "  - {pluginRef: queue-scorer, weight: 2}\n"
                                   "  - {pluginRef: kv-cache-utilization-scorer, weight: 2}\n"
                                   "  - {pluginRef: prefix-cache-scorer, weight: 3}\n"
                                   "dataLayer:\n"
                                   "  sources:\n"
                                   "  - pluginRef: metrics-data-source\n"
                                   "    extractors: [{pluginRef: core-metrics-extractor}]\n";

enum nkind { N_SCALAR = 0, N_SEQ, N_MAP };

struct node {
    enum nkind kind;
    uint32_t line, col;
    char *s; /* scalar text, NUL-terminated */
    size_t len;
    int plain;          /* unquoted scalar: may be a number, bool or null */
    struct node **kids; /* seq items, or map key/value pairs as kids[2i], kids[2i+1] */
    size_t n;           /* items, or pairs */
};

struct loader {
    struct ig_epc *cfg;
    const char *name;
    char *err;
    size_t errlen, errused;
    int nerr;
    /* plugins under construction (heap vector, copied into the arena at the end) */
    struct ig_epc_plugin *pl;
    unsigned char *has_params;
    size_t npl, cappl;
};

static void errorf(struct loader *ld, const struct node *at, const char *fmt, ...) IG_PRINTF(3, 4);
static void errorf(struct loader *ld, const struct node *at, const char *fmt, ...)
{
    if (ld->nerr++ >= MAX_ERRORS || ld->err == NULL || ld->errused + 1 >= ld->errlen)
        return;
    char *o = ld->err + ld->errused;
    size_t room = ld->errlen - ld->errused;
    int n = snprintf(o, room, "%s%s:%u:%u: ", ld->errused ? "\n" : "", ld->name, at ? at->line : 1, at ? at->col : 1);
    if (n < 0 || (size_t)n >= room) {
        ld->errused = ld->errlen - 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(o + n, room - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0 || (size_t)(n + m) >= room)
        ld->errused = ld->errlen - 1;
    else
        ld->errused += (size_t)(n + m);
}

/* ---- YAML to tree ---------------------------------------------------------------------------- */

struct frame {
    struct node *node;
    struct node **items;
    size_t n, cap;
};

static struct node *new_node(struct loader *ld, enum nkind kind, yaml_mark_t mark)
{
    struct node *nd = ig_pool_calloc(&ld->cfg->pool, sizeof(*nd));
    nd->kind = kind;
    nd->line = (uint32_t)mark.line + 1;
    nd->col = (uint32_t)mark.column + 1;
    return nd;
}

static int add_item(struct loader *ld, struct frame *f, struct node *nd)
{
    if (f->n == MAX_ITEMS * 2) {
        errorf(ld, nd, "too many entries in one collection");
        return -1;
    }
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->items = ig_realloc(f->items, f->cap * sizeof(*f->items));
    }
    f->items[f->n++] = nd;
    return 0;
}

static struct node *parse_yaml(struct loader *ld, const char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct frame stack[MAX_DEPTH + 1];
    int depth = 0, done = 0;
    struct node *root = NULL;

    memset(stack, 0, sizeof(stack));
    if (!yaml_parser_initialize(&parser)) {
        errorf(ld, NULL, "cannot initialise the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            struct node at = {.line = (uint32_t)parser.problem_mark.line + 1,
                              .col = (uint32_t)parser.problem_mark.column + 1};
            errorf(ld, &at, "%s", parser.problem != NULL ? parser.problem : "invalid YAML");
            root = NULL;
            goto out;
        }
        struct node *nd = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (root != NULL) {
                struct node at = {.line = (uint32_t)ev.start_mark.line + 1, .col = (uint32_t)ev.start_mark.column + 1};
                errorf(ld, &at, "only one YAML document is allowed");
                yaml_event_delete(&ev);
                root = NULL;
                goto out;
            }
            break;
        case YAML_ALIAS_EVENT: {
            struct node at = {.line = (uint32_t)ev.start_mark.line + 1, .col = (uint32_t)ev.start_mark.column + 1};
            errorf(ld, &at, "YAML aliases are not supported");
            yaml_event_delete(&ev);
            root = NULL;
            goto out;
        }
        case YAML_SCALAR_EVENT:
            nd = new_node(ld, N_SCALAR, ev.start_mark);
            nd->len = ev.data.scalar.length;
            nd->s = ig_pool_alloc(&ld->cfg->pool, nd->len + 1);
            memcpy(nd->s, ev.data.scalar.value, nd->len);
            nd->s[nd->len] = '\0';
            nd->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth == MAX_DEPTH) {
                struct node at = {.line = (uint32_t)ev.start_mark.line + 1, .col = (uint32_t)ev.start_mark.column + 1};
                errorf(ld, &at, "nesting too deep");
                yaml_event_delete(&ev);
                root = NULL;
                goto out;
            }
            stack[++depth] = (struct frame){
                .node = new_node(ld, ev.type == YAML_SEQUENCE_START_EVENT ? N_SEQ : N_MAP, ev.start_mark)};
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
            struct frame *f = &stack[depth--];
            nd = f->node;
            nd->kids = ig_pool_alloc(&ld->cfg->pool, (f->n + 1) * sizeof(*nd->kids));
            if (f->n > 0)
                memcpy(nd->kids, f->items, f->n * sizeof(*nd->kids));
            nd->n = nd->kind == N_MAP ? f->n / 2 : f->n;
            ig_free(f->items);
            f->items = NULL;
            break;
        }
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (nd != NULL) {
            if (depth == 0)
                root = nd;
            else if (add_item(ld, &stack[depth], nd) != 0) {
                root = NULL;
                goto out;
            }
        }
    }
out:
    for (int i = 1; i <= depth; i++)
        ig_free(stack[i].items);
    yaml_parser_delete(&parser);
    return root;
}

/* ---- typed helpers ---------------------------------------------------------------------------- */

#define MAP_KEY(m, i) ((m)->kids[2 * (i)])
#define MAP_VAL(m, i) ((m)->kids[2 * (i) + 1])

static int is_null(const struct node *nd)
{
    return nd->kind == N_SCALAR && nd->plain &&
           (nd->len == 0 || strcmp(nd->s, "null") == 0 || strcmp(nd->s, "~") == 0 || strcmp(nd->s, "Null") == 0 ||
            strcmp(nd->s, "NULL") == 0);
}

static int want_map(struct loader *ld, const struct node *nd, const char *what)
{
    if (nd->kind != N_MAP) {
        errorf(ld, nd, "%s: expected a mapping", what);
        return -1;
    }
    return 0;
}

static int want_seq(struct loader *ld, const struct node *nd, const char *what)
{
    if (nd->kind != N_SEQ) {
        errorf(ld, nd, "%s: expected a list", what);
        return -1;
    }
    return 0;
}

static int want_str(struct loader *ld, const struct node *nd, const char *what, ig_iov_t *out)
{
    if (nd->kind != N_SCALAR || is_null(nd)) {
        errorf(ld, nd, "%s: expected a string", what);
        return -1;
    }
    *out = ig_iov(nd->s, nd->len);
    return 0;
}

static int get_int(struct loader *ld, const struct node *nd, const char *what, int64_t *out)
{
    char *end;
    if (nd->kind != N_SCALAR || !nd->plain || nd->len == 0)
        goto bad;
    errno = 0;
    long long v = strtoll(nd->s, &end, 10);
    if (errno != 0 || *end != '\0')
        goto bad;
    *out = v;
    return 0;
bad:
    errorf(ld, nd, "%s: expected an integer", what);
    return -1;
}

static int get_float(struct loader *ld, const struct node *nd, const char *what, double *out)
{
    char *end;
    if (nd->kind != N_SCALAR || !nd->plain || nd->len == 0)
        goto bad;
    errno = 0;
    double v = strtod(nd->s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v))
        goto bad;
    *out = v;
    return 0;
bad:
    errorf(ld, nd, "%s: expected a number", what);
    return -1;
}

static int get_bool(struct loader *ld, const struct node *nd, const char *what, int *out)
{
    if (nd->kind == N_SCALAR && nd->plain) {
        if (strcmp(nd->s, "true") == 0 || strcmp(nd->s, "True") == 0 || strcmp(nd->s, "TRUE") == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(nd->s, "false") == 0 || strcmp(nd->s, "False") == 0 || strcmp(nd->s, "FALSE") == 0) {
            *out = 0;
            return 0;
        }
    }
    errorf(ld, nd, "%s: expected true or false", what);
    return -1;
}

static int key_is(const struct node *k, const char *s)
{
    return k->kind == N_SCALAR && strcmp(k->s, s) == 0;
}

/* ---- plugins ------------------------------------------------------------------------------------ */

static size_t find_plugin(const struct loader *ld, ig_iov_t name)
{
    for (size_t i = 0; i < ld->npl; i++)
        if (ig_iov_eq(ld->pl[i].name, name))
            return i;
    return SIZE_MAX;
}

static size_t find_type(const struct loader *ld, const char *type)
{
    for (size_t i = 0; i < ld->npl; i++)
        if (ld->pl[i].t != NULL && strcmp(ld->pl[i].t->type, type) == 0)
            return i;
    return SIZE_MAX;
}

static size_t add_plugin(struct loader *ld, ig_iov_t name, const struct ig_sched_plugin_type *t, const struct node *at)
{
    if (ld->npl == ld->cappl) {
        ld->cappl = ld->cappl ? ld->cappl * 2 : 16;
        ld->pl = ig_realloc(ld->pl, ld->cappl * sizeof(*ld->pl));
        ld->has_params = ig_realloc(ld->has_params, ld->cappl);
    }
    struct ig_epc_plugin *p = &ld->pl[ld->npl];
    memset(p, 0, sizeof(*p));
    p->name = name;
    p->t = t;
    p->type = ig_iov_cstr(t->type);
    t->defaults(&p->params);
    p->line = at ? at->line : 0;
    p->col = at ? at->col : 0;
    ld->has_params[ld->npl] = 0;
    return ld->npl++;
}

/* Adds an implicit plugin of |type| named after it, unless a plugin of that type exists. */
static size_t ensure_type(struct loader *ld, const char *type)
{
    size_t i = find_type(ld, type);
    if (i != SIZE_MAX)
        return i;
    ig_iov_t name = ig_iov_cstr(type);
    if (find_plugin(ld, name) != SIZE_MAX) {
        errorf(ld, NULL, "plugin name %s is taken by another type; cannot add the default %s", type, type);
        return SIZE_MAX;
    }
    i = add_plugin(ld, name, ig_sched__type_find(name), NULL);
    ld->pl[i].implicit = 1;
    return i;
}

static void parse_param(struct loader *ld, struct ig_epc_plugin *p, const struct ig_sched_param_desc *d,
                        const struct node *v, int *deprecated_block)
{
    void *field = (char *)&p->params + d->offset;
    char what[160];
    snprintf(what, sizeof(what), "plugin %s: parameter %s", p->name.base, d->key);
    switch (d->kind) {
    case IG_SP_INT:
    case IG_SP_DEPRECATED_BLOCK_SIZE: {
        int64_t x;
        if (get_int(ld, v, what, &x) != 0)
            return;
        if ((double)x < d->min || (double)x > d->max) {
            errorf(ld, v, "%s: must be between %.0f and %.0f", what, d->min, d->max);
            return;
        }
        if (d->kind == IG_SP_DEPRECATED_BLOCK_SIZE)
            *deprecated_block = 1; /* characters; only meaningful next to blockSizeTokens, which wins */
        else
            *(int64_t *)field = x;
        return;
    }
    case IG_SP_FLOAT: {
        double x;
        if (get_float(ld, v, what, &x) != 0)
            return;
        if (x < d->min || x > d->max) {
            errorf(ld, v, "%s: must be between %g and %g", what, d->min, d->max);
            return;
        }
        *(double *)field = x;
        return;
    }
    case IG_SP_BOOL:
        (void)get_bool(ld, v, what, (int *)field);
        return;
    case IG_SP_STRING:
        (void)want_str(ld, v, what, (ig_iov_t *)field);
        return;
    case IG_SP_DURATION: {
        ig_iov_t s;
        const char *why = NULL;
        uint64_t ns;
        if (want_str(ld, v, what, &s) != 0)
            return;
        if (ig_config_parse_duration(s, &ns, &why) != 0) {
            errorf(ld, v, "%s: %s", what, why != NULL ? why : "invalid duration");
            return;
        }
        *(uint64_t *)field = ns;
        return;
    }
    case IG_SP_CONC_MODE: {
        ig_iov_t s;
        if (want_str(ld, v, what, &s) != 0)
            return;
        if (ig_iov_eq(s, IG_STRLIT("requests")))
            *(int *)field = 0;
        else if (ig_iov_eq(s, IG_STRLIT("tokens")))
            *(int *)field = 1;
        else
            errorf(ld, v, "%s: must be requests or tokens", what);
        return;
    }
    default:
        return;
    }
}

static void parse_params(struct loader *ld, size_t idx, const struct node *prm)
{
    struct ig_epc_plugin *p = &ld->pl[idx];
    const struct ig_sched_plugin_type *t = p->t;
    int deprecated_block = 0, has_tokens = 0;
    if (is_null(prm))
        return;
    if (want_map(ld, prm, "parameters") != 0 || t->any_params)
        return;
    ld->has_params[idx] = prm->n > 0;
    for (size_t i = 0; i < prm->n; i++) {
        const struct node *k = MAP_KEY(prm, i), *v = MAP_VAL(prm, i);
        const struct ig_sched_param_desc *d = NULL;
        for (size_t j = 0; j < t->n_params; j++)
            if (key_is(k, t->params[j].key))
                d = &t->params[j];
        if (d == NULL) {
            errorf(ld, k, "plugin %s: unknown parameter %s for type %s", p->name.base, k->s, t->type);
            continue;
        }
        has_tokens |= strcmp(d->key, "blockSizeTokens") == 0;
        parse_param(ld, p, d, v, &deprecated_block);
    }
    if (deprecated_block && !has_tokens)
        errorf(ld, prm, "plugin %s: parameter blockSize (characters) is deprecated; set blockSizeTokens", p->name.base);
}

static void parse_plugins(struct loader *ld, const struct node *seq)
{
    if (want_seq(ld, seq, "plugins") != 0)
        return;
    for (size_t i = 0; i < seq->n; i++) {
        const struct node *it = seq->kids[i], *type = NULL, *name = NULL, *prm = NULL;
        if (want_map(ld, it, "plugins[]") != 0)
            continue;
        for (size_t j = 0; j < it->n; j++) {
            const struct node *k = MAP_KEY(it, j);
            if (key_is(k, "type"))
                type = MAP_VAL(it, j);
            else if (key_is(k, "name"))
                name = MAP_VAL(it, j);
            else if (key_is(k, "parameters"))
                prm = MAP_VAL(it, j);
            else
                errorf(ld, k, "plugins[%zu]: unknown key %s", i, k->kind == N_SCALAR ? k->s : "?");
        }
        ig_iov_t ts, ns;
        if (type == NULL) {
            errorf(ld, it, "plugins[%zu]: type is required", i);
            continue;
        }
        if (want_str(ld, type, "type", &ts) != 0)
            continue;
        const struct ig_sched_plugin_type *t = ig_sched__type_find(ts);
        if (t == NULL) {
            errorf(ld, type, "plugins[%zu]: unknown plugin type %s", i, type->s);
            continue;
        }
        ns = ts;
        if (name != NULL && want_str(ld, name, "name", &ns) != 0)
            continue;
        if (find_plugin(ld, ns) != SIZE_MAX) {
            errorf(ld, name != NULL ? name : type, "plugins[%zu]: duplicate plugin name %s", i, ns.base);
            continue;
        }
        size_t idx = add_plugin(ld, ns, t, it);
        if (prm != NULL)
            parse_params(ld, idx, prm);
    }
}

/* Resolves {pluginRef: x} and checks the plugin can act as |kinds|; returns the index or SIZE_MAX. */
static size_t parse_ref(struct loader *ld, const struct node *m, const char *what, unsigned kinds)
{
    const struct node *ref = NULL;
    ig_iov_t s;
    if (want_map(ld, m, what) != 0)
        return SIZE_MAX;
    for (size_t j = 0; j < m->n; j++) {
        if (key_is(MAP_KEY(m, j), "pluginRef"))
            ref = MAP_VAL(m, j);
        else
            errorf(ld, MAP_KEY(m, j), "%s: unknown key %s", what, MAP_KEY(m, j)->s);
    }
    if (ref == NULL) {
        errorf(ld, m, "%s: pluginRef is required", what);
        return SIZE_MAX;
    }
    if (want_str(ld, ref, "pluginRef", &s) != 0)
        return SIZE_MAX;
    size_t i = find_plugin(ld, s);
    if (i == SIZE_MAX) {
        errorf(ld, ref, "%s: unknown plugin reference %s", what, ref->s);
        return SIZE_MAX;
    }
    if (!(ld->pl[i].t->kinds & kinds)) {
        errorf(ld, ref, "%s: plugin %s has type %s, which cannot be used here", what, ref->s, ld->pl[i].t->type);
        return SIZE_MAX;
    }
    return i;
}

static void parse_profiles(struct loader *ld, const struct node *seq)
{
    struct ig_epc *cfg = ld->cfg;
    if (want_seq(ld, seq, "schedulingProfiles") != 0)
        return;
    cfg->profiles = ig_pool_calloc(&cfg->pool, (seq->n + 1) * sizeof(*cfg->profiles));
    for (size_t i = 0; i < seq->n; i++) {
        const struct node *it = seq->kids[i], *name = NULL, *plugins = NULL;
        struct ig_epc_profile *pr = &cfg->profiles[cfg->n_profiles];
        if (want_map(ld, it, "schedulingProfiles[]") != 0)
            continue;
        for (size_t j = 0; j < it->n; j++) {
            const struct node *k = MAP_KEY(it, j);
            if (key_is(k, "name"))
                name = MAP_VAL(it, j);
            else if (key_is(k, "plugins"))
                plugins = MAP_VAL(it, j);
            else
                errorf(ld, k, "schedulingProfiles[%zu]: unknown key %s", i, k->s);
        }
        if (name == NULL) {
            errorf(ld, it, "schedulingProfiles[%zu]: name is required", i);
            continue;
        }
        if (want_str(ld, name, "name", &pr->name) != 0)
            continue;
        for (size_t j = 0; j < cfg->n_profiles; j++)
            if (ig_iov_eq(cfg->profiles[j].name, pr->name))
                errorf(ld, name, "schedulingProfiles[%zu]: duplicate profile name %s", i, name->s);
        cfg->n_profiles++;
        if (plugins == NULL || is_null(plugins))
            continue;
        if (want_seq(ld, plugins, "plugins") != 0)
            continue;
        pr->refs = ig_pool_calloc(&cfg->pool, (plugins->n + 2) * sizeof(*pr->refs));
        size_t pickers = 0;
        for (size_t j = 0; j < plugins->n; j++) {
            const struct node *r = plugins->kids[j], *ref = NULL, *weight = NULL;
            char what[96];
            snprintf(what, sizeof(what), "schedulingProfiles[%zu].plugins[%zu]", i, j);
            if (want_map(ld, r, what) != 0)
                continue;
            for (size_t q = 0; q < r->n; q++) {
                const struct node *k = MAP_KEY(r, q);
                if (key_is(k, "pluginRef"))
                    ref = MAP_VAL(r, q);
                else if (key_is(k, "weight"))
                    weight = MAP_VAL(r, q);
                else
                    errorf(ld, k, "%s: unknown key %s", what, k->s);
            }
            if (ref == NULL) {
                errorf(ld, r, "%s: pluginRef is required", what);
                continue;
            }
            ig_iov_t rs;
            if (want_str(ld, ref, "pluginRef", &rs) != 0)
                continue;
            size_t pi = find_plugin(ld, rs);
            if (pi == SIZE_MAX) {
                errorf(ld, ref, "%s: unknown plugin reference %s", what, ref->s);
                continue;
            }
            unsigned kinds = ld->pl[pi].t->kinds;
            if (!(kinds & (IG_SCHED_FILTER | IG_SCHED_SCORER | IG_SCHED_PICKER))) {
                errorf(ld, ref, "%s: plugin %s (%s) is not a filter, scorer or picker", what, ref->s,
                       ld->pl[pi].t->type);
                continue;
            }
            if ((kinds & IG_SCHED_PICKER) && ++pickers > 1) {
                errorf(ld, ref, "%s: a profile has exactly one picker", what);
                continue;
            }
            double w = 1.0;
            if (weight != NULL && get_float(ld, weight, "weight", &w) == 0 && (w < 0 || w > 1e6))
                errorf(ld, weight, "%s: weight must be between 0 and 1000000", what);
            pr->refs[pr->n_refs++] = (struct ig_epc_ref){pi, w};
        }
    }
}

static void parse_feature_gates(struct loader *ld, const struct node *seq)
{
    struct ig_epc *cfg = ld->cfg;
    if (want_seq(ld, seq, "featureGates") != 0)
        return;
    cfg->feature_gates = ig_pool_calloc(&cfg->pool, (seq->n + 1) * sizeof(ig_iov_t));
    for (size_t i = 0; i < seq->n; i++) {
        ig_iov_t g;
        if (want_str(ld, seq->kids[i], "featureGates[]", &g) != 0)
            continue;
        if (!ig_iov_eq(g, IG_STRLIT("flowControl")) && !ig_iov_eq(g, IG_STRLIT("enableLegacyMetrics")) &&
            !ig_iov_eq(g, IG_STRLIT("dataLayer"))) {
            errorf(ld, seq->kids[i], "featureGates: unknown feature gate %s", g.base);
            continue;
        }
        cfg->flow_control |= ig_iov_eq(g, IG_STRLIT("flowControl"));
        cfg->feature_gates[cfg->n_feature_gates++] = g;
    }
}

static void parse_data_layer(struct loader *ld, const struct node *m)
{
    if (want_map(ld, m, "dataLayer") != 0)
        return;
    for (size_t i = 0; i < m->n; i++) {
        const struct node *k = MAP_KEY(m, i), *v = MAP_VAL(m, i);
        if (!key_is(k, "sources")) {
            errorf(ld, k, "dataLayer: unknown key %s", k->s);
            continue;
        }
        if (want_seq(ld, v, "dataLayer.sources") != 0)
            continue;
        for (size_t j = 0; j < v->n; j++) {
            const struct node *src = v->kids[j], *ref = NULL;
            if (want_map(ld, src, "dataLayer.sources[]") != 0)
                continue;
            for (size_t q = 0; q < src->n; q++) {
                const struct node *sk = MAP_KEY(src, q), *sv = MAP_VAL(src, q);
                if (key_is(sk, "pluginRef")) {
                    ref = sk;
                    ig_iov_t s;
                    if (want_str(ld, sv, "pluginRef", &s) == 0 && find_plugin(ld, s) == SIZE_MAX)
                        errorf(ld, sv, "dataLayer.sources[%zu]: unknown plugin reference %s", j, sv->s);
                } else if (key_is(sk, "extractors")) {
                    if (want_seq(ld, sv, "extractors") != 0)
                        continue;
                    for (size_t e = 0; e < sv->n; e++)
                        (void)parse_ref(ld, sv->kids[e], "dataLayer.sources[].extractors[]", IG_SCHED_OTHER);
                } else {
                    errorf(ld, sk, "dataLayer.sources[%zu]: unknown key %s", j, sk->s);
                }
            }
            if (ref == NULL)
                errorf(ld, src, "dataLayer.sources[%zu]: pluginRef is required", j);
        }
    }
}

static void parse_flow_control(struct loader *ld, const struct node *m)
{
    static const char *const keys[] = {"maxBytes",           "maxRequests",         "defaultRequestTTL",
                                       "priorityBands",      "defaultPriorityBand", "usageLimitPolicyPluginRef",
                                       "processorShardCount"};
    if (is_null(m) || want_map(ld, m, "flowControl") != 0)
        return;
    for (size_t i = 0; i < m->n; i++) {
        int ok = 0;
        for (size_t j = 0; j < IG_ARRAY_LEN(keys); j++)
            ok |= key_is(MAP_KEY(m, i), keys[j]);
        if (!ok)
            errorf(ld, MAP_KEY(m, i), "flowControl: unknown key %s", MAP_KEY(m, i)->s);
    }
}

static int known_api_version(ig_iov_t v)
{
    static const char *const ok[] = {"inference.networking.x-k8s.io/v1alpha1", "config.x-k8s.io/v1alpha1",
                                     "config.apix.gateway-api-inference-extension.sigs.k8s.io/v1alpha1",
                                     "llm-d.ai/v1alpha1"};
    for (size_t i = 0; i < IG_ARRAY_LEN(ok); i++)
        if (ig_iov_eq(v, ig_iov_cstr(ok[i])))
            return 1;
    return 0;
}

/* ---- defaults ----------------------------------------------------------------------------------- */

static void apply_defaults(struct loader *ld, const struct node *root, const struct node *sat,
                           const struct node *parser)
{
    struct ig_epc *cfg = ld->cfg;
    size_t handlers = 0;

    /* Producers the scorers need; v1.0-style prefix parameters on the scorer move to the producer. */
    for (size_t i = 0, n = ld->npl; i < n; i++) {
        const char *need = ld->pl[i].t->needs;
        if (need == NULL || find_type(ld, need) != SIZE_MAX)
            continue;
        size_t k = ensure_type(ld, need);
        if (k != SIZE_MAX && ld->has_params[i])
            ld->pl[k].params = ld->pl[i].params;
    }

    for (size_t i = 0; i < ld->npl; i++)
        handlers += (ld->pl[i].t->kinds & IG_SCHED_PROFILE_HANDLER) != 0;
    if (handlers > 1)
        errorf(ld, root, "plugins: more than one profile handler");
    cfg->profile_handler = ensure_type(ld, "single-profile-handler");

    if (cfg->n_profiles == 0) {
        /* No profiles: "default" gets every filter, scorer and picker (detectors excepted). */
        cfg->profiles = ig_pool_calloc(&cfg->pool, sizeof(*cfg->profiles));
        struct ig_epc_profile *pr = &cfg->profiles[0];
        pr->name = IG_STRLIT("default");
        pr->refs = ig_pool_calloc(&cfg->pool, (ld->npl + 2) * sizeof(*pr->refs));
        size_t pickers = 0;
        for (size_t i = 0; i < ld->npl; i++) {
            unsigned k = ld->pl[i].t->kinds;
            if ((k & IG_SCHED_DETECTOR) || !(k & (IG_SCHED_FILTER | IG_SCHED_SCORER | IG_SCHED_PICKER)))
                continue;
            if ((k & IG_SCHED_PICKER) && pickers++ > 0) {
                errorf(ld, root, "plugins: several pickers but no schedulingProfiles to choose one");
                continue;
            }
            pr->refs[pr->n_refs++] = (struct ig_epc_ref){i, 1.0};
        }
        cfg->n_profiles = 1;
    }
    if (cfg->n_profiles > 1 && ld->pl[cfg->profile_handler].t->profile_handler->max_profiles < cfg->n_profiles)
        errorf(ld, root, "schedulingProfiles: %s runs exactly one profile, %zu given",
               ld->pl[cfg->profile_handler].t->type, cfg->n_profiles);

    for (size_t i = 0; i < cfg->n_profiles; i++) {
        struct ig_epc_profile *pr = &cfg->profiles[i];
        int has_picker = 0;
        for (size_t j = 0; j < pr->n_refs; j++)
            has_picker |= (ld->pl[pr->refs[j].plugin].t->kinds & IG_SCHED_PICKER) != 0;
        if (has_picker)
            continue;
        size_t k = ensure_type(ld, "max-score-picker");
        if (k == SIZE_MAX)
            continue;
        if (pr->refs == NULL)
            pr->refs = ig_pool_calloc(&cfg->pool, 2 * sizeof(*pr->refs));
        pr->refs[pr->n_refs++] = (struct ig_epc_ref){k, 1.0};
    }

    cfg->saturation_detector = sat != NULL ? parse_ref(ld, sat, "saturationDetector", IG_SCHED_DETECTOR)
                                           : ensure_type(ld, "utilization-detector");
    cfg->parser = parser != NULL ? parse_ref(ld, parser, "parser", IG_SCHED_PARSER) : ensure_type(ld, "openai-parser");
}

/* ---- entry points -------------------------------------------------------------------------------- */

int ig_epc_load_string(const char *name, const char *text, size_t len, struct ig_epc **out, char *err, size_t errlen)
{
    struct loader ld = {.name = name, .err = err, .errlen = errlen};
    struct ig_epc *cfg = ig_calloc(1, sizeof(*cfg));
    const struct node *plugins = NULL, *profiles = NULL, *sat = NULL, *parser = NULL, *gates = NULL, *data = NULL,
                      *flow = NULL;

    ig_pool_init(&cfg->pool);
    cfg->profile_handler = cfg->saturation_detector = cfg->parser = SIZE_MAX;
    ld.cfg = cfg;
    if (err != NULL && errlen > 0)
        err[0] = '\0';

    struct node *root = parse_yaml(&ld, text, len);
    if (root == NULL) {
        if (ld.nerr == 0)
            errorf(&ld, NULL, "empty document");
        goto fail;
    }
    if (want_map(&ld, root, "EndpointPickerConfig") != 0)
        goto fail;
    for (size_t i = 0; i < root->n; i++) {
        const struct node *k = MAP_KEY(root, i), *v = MAP_VAL(root, i);
        if (key_is(k, "apiVersion")) {
            if (want_str(&ld, v, "apiVersion", &cfg->api_version) == 0 && !known_api_version(cfg->api_version))
                errorf(&ld, v, "apiVersion: unsupported %s", v->s);
        } else if (key_is(k, "kind")) {
            if (want_str(&ld, v, "kind", &cfg->kind) == 0 && !ig_iov_eq(cfg->kind, IG_STRLIT("EndpointPickerConfig")))
                errorf(&ld, v, "kind: expected EndpointPickerConfig, got %s", v->s);
        } else if (key_is(k, "plugins")) {
            plugins = v;
        } else if (key_is(k, "schedulingProfiles")) {
            profiles = v;
        } else if (key_is(k, "saturationDetector")) {
            sat = is_null(v) ? NULL : v;
        } else if (key_is(k, "parser")) {
            parser = is_null(v) ? NULL : v;
        } else if (key_is(k, "featureGates")) {
            gates = v;
        } else if (key_is(k, "dataLayer") || key_is(k, "data")) {
            data = v;
        } else if (key_is(k, "flowControl")) {
            flow = v;
        } else {
            errorf(&ld, k, "unknown key %s", k->kind == N_SCALAR ? k->s : "?");
        }
    }
    if (plugins == NULL)
        errorf(&ld, root, "plugins: required");
    else
        parse_plugins(&ld, plugins);
    if (profiles != NULL && !is_null(profiles))
        parse_profiles(&ld, profiles);
    if (gates != NULL && !is_null(gates))
        parse_feature_gates(&ld, gates);
    if (data != NULL && !is_null(data))
        parse_data_layer(&ld, data);
    if (flow != NULL)
        parse_flow_control(&ld, flow);
    if (ld.nerr > 0)
        goto fail;
    apply_defaults(&ld, root, sat, parser);
    if (ld.nerr > 0)
        goto fail;

    cfg->plugins = ig_pool_alloc(&cfg->pool, (ld.npl + 1) * sizeof(*cfg->plugins));
    memcpy(cfg->plugins, ld.pl, ld.npl * sizeof(*cfg->plugins));
    cfg->n_plugins = ld.npl;
    ig_free(ld.pl);
    ig_free(ld.has_params);
    *out = cfg;
    return 0;
fail:
    ig_free(ld.pl);
    ig_free(ld.has_params);
    ig_epc_free(cfg);
    *out = NULL;
    return IG_EINVAL;
}

int ig_epc_load_file(const char *path, struct ig_epc **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    int rc;
    *out = NULL;
    if (f == NULL) {
        rc = IG_ERR_ERRNO();
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    char *buf = ig_malloc(MAX_FILE + 1);
    size_t n = fread(buf, 1, MAX_FILE + 1, f);
    if (ferror(f)) {
        rc = -EIO;
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: read error", path);
    } else if (n > MAX_FILE) {
        rc = IG_ETOOBIG;
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: larger than %u bytes", path, MAX_FILE);
    } else {
        rc = ig_epc_load_string(path, buf, n, out, err, errlen);
    }
    ig_free(buf);
    fclose(f);
    return rc;
}

void ig_epc_free(struct ig_epc *cfg)
{
    if (cfg == NULL)
        return;
    ig_pool_dispose(&cfg->pool);
    ig_free(cfg);
}

size_t ig_epc_find(const struct ig_epc *cfg, ig_iov_t name)
{
    for (size_t i = 0; i < cfg->n_plugins; i++)
        if (ig_iov_eq(cfg->plugins[i].name, name))
            return i;
    return SIZE_MAX;
}
