/* SPDX-License-Identifier: Apache-2.0 */
/*
 * InferenceObjectives and InferenceModelRewrites without Kubernetes: `--objectives-file FILE`
 * holds resources with the fields of the reference's CRDs (inference.networking.x-k8s.io/v1alpha2),
 * in YAML (one or more `---` documents, each a resource or a list of them, or a `kind: List`) or
 * JSON. Errors carry libyaml's marks as "<file>:<line>:<col>: <message>".
 *
 * Objectives map the `x-gateway-inference-objective` header to a priority; rewrites map a request's
 * model to a weighted choice of target models with the reference's precedence (exact matches before
 * catch-all rules, then the older resource - here the earlier one in the file -, then rule order).
 * The file is watched like the endpoints file (its directory, debounced); a bad edit is logged and
 * the previous set stays in force.
 */
#include "epp_int.h"

#include <stdio.h>
#include <yaml.h>

#define MAX_RESOURCES  4096
#define MAX_RULES      64
#define MAX_PER_RULE   64
#define MAX_WEIGHT     1000000
#define API_GROUP      "inference.networking.x-k8s.io/"
#define KIND_OBJECTIVE "InferenceObjective"
#define KIND_REWRITE   "InferenceModelRewrite"

void ig_epp_objectives_init(struct ig_epp_objectives *o)
{
    memset(o, 0, sizeof(*o));
    ig_pool_init(&o->pool);
}

void ig_epp_objectives_dispose(struct ig_epp_objectives *o)
{
    ig_pool_dispose(&o->pool);
    memset(o, 0, sizeof(*o));
}

/* ---- loader ------------------------------------------------------------------------------------ */

struct oloader {
    const char *name;
    yaml_document_t *doc;
    struct ig_epp_objectives *out;
    size_t cap_obj, cap_rw;
    char *err;
    size_t errlen;
};

static yaml_node_t *node(struct oloader *ld, yaml_node_item_t id)
{
    return yaml_document_get_node(ld->doc, id);
}

/* A non-empty string scalar, else an error naming |what|. */
static int want_string(struct oloader *ld, const yaml_node_t *v, const char *what, ig_iov_t *out)
{
    if (v->type != YAML_SCALAR_NODE || v->data.scalar.length == 0 || v->data.scalar.length > 253)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, v, "%s: expected a string of 1-253 characters", what);
    *out = ig_pool_dup(&ld->out->pool, ig_epp__yaml_scalar(v));
    return 0;
}

/* A signed integer in [lo, hi]. */
static int want_int(struct oloader *ld, const yaml_node_t *v, const char *what, int64_t lo, int64_t hi, int64_t *out)
{
    uint64_t mag;
    if (v->type == YAML_SCALAR_NODE) {
        ig_iov_t s = ig_epp__yaml_scalar(v);
        int neg = s.len > 1 && s.base[0] == '-';
        if (neg || (s.len > 1 && s.base[0] == '+'))
            s = ig_iov(s.base + 1, s.len - 1);
        if (s.len != 0 && s.len <= 10 && ig_iov_to_u64(s, &mag) == 0) {
            int64_t x = neg ? -(int64_t)mag : (int64_t)mag;
            if (x >= lo && x <= hi) {
                *out = x;
                return 0;
            }
        }
    }
    return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, v, "%s: expected an integer in [%lld, %lld]", what,
                             (long long)lo, (long long)hi);
}

static int unknown_key(struct oloader *ld, const yaml_node_t *k, const char *where, const char *expected)
{
    if (k->type != YAML_SCALAR_NODE)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, k, "%s: expected a string key", where);
    return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, k, "%s: unknown key \"%.*s\" (expected %s)", where,
                             (int)k->data.scalar.length, (const char *)k->data.scalar.value, expected);
}

#define FOR_PAIRS(map, p)                                                                                              \
    for (yaml_node_pair_t *p = (map)->data.mapping.pairs.start; p < (map)->data.mapping.pairs.top; p++)
#define N_ITEMS(seq) ((size_t)((seq)->data.sequence.items.top - (seq)->data.sequence.items.start))

/* spec.poolRef {group?, kind?, name}: validated; the standalone EPP serves one pool. */
static int load_pool_ref(struct oloader *ld, yaml_node_t *v)
{
    int have_name = 0;
    ig_iov_t s;
    if (v->type != YAML_MAPPING_NODE)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, v, "spec.poolRef: expected a map with a name");
    FOR_PAIRS(v, p)
    {
        yaml_node_t *k = node(ld, p->key), *x = node(ld, p->value);
        int rc;
        if (ig_epp__yaml_key_is(k, "name")) {
            rc = want_string(ld, x, "spec.poolRef.name", &s);
            have_name = 1;
        } else if (ig_epp__yaml_key_is(k, "group")) {
            rc = x->type == YAML_SCALAR_NODE
                     ? 0
                     : ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, x, "spec.poolRef.group: expected a string");
        } else if (ig_epp__yaml_key_is(k, "kind")) {
            rc = want_string(ld, x, "spec.poolRef.kind", &s);
        } else {
            rc = unknown_key(ld, k, "spec.poolRef", "group, kind, name");
        }
        if (rc != 0)
            return rc;
    }
    return have_name ? 0 : ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, v, "spec.poolRef.name is required");
}

static int load_objective_spec(struct oloader *ld, yaml_node_t *spec, struct ig_epp_objective *o)
{
    if (spec->type != YAML_MAPPING_NODE)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, spec, "spec: expected a map");
    FOR_PAIRS(spec, p)
    {
        yaml_node_t *k = node(ld, p->key), *v = node(ld, p->value);
        int rc;
        int64_t prio;
        if (ig_epp__yaml_key_is(k, "priority")) {
            rc = want_int(ld, v, "spec.priority", INT32_MIN, INT32_MAX, &prio);
            o->priority = (int)prio;
        } else if (ig_epp__yaml_key_is(k, "poolRef")) {
            rc = load_pool_ref(ld, v);
        } else {
            rc = unknown_key(ld, k, "spec", "priority, poolRef");
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* matches[]: {model: {type?: Exact, value}} */
static int load_match(struct oloader *ld, yaml_node_t *m, ig_iov_t *out)
{
    yaml_node_t *model = NULL;
    if (m->type != YAML_MAPPING_NODE)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, m, "matches[]: expected a map with a model");
    FOR_PAIRS(m, p)
    {
        if (!ig_epp__yaml_key_is(node(ld, p->key), "model"))
            return unknown_key(ld, node(ld, p->key), "matches[]", "model");
        model = node(ld, p->value);
    }
    if (model == NULL || model->type != YAML_MAPPING_NODE)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, model != NULL ? model : m,
                                 "matches[].model: expected a map {type?, value}");
    int have_value = 0;
    FOR_PAIRS(model, p)
    {
        yaml_node_t *k = node(ld, p->key), *v = node(ld, p->value);
        int rc;
        if (ig_epp__yaml_key_is(k, "value")) {
            rc = want_string(ld, v, "matches[].model.value", out);
            have_value = 1;
        } else if (ig_epp__yaml_key_is(k, "type")) {
            rc = ig_epp__yaml_key_is(v, "Exact") ? 0
                                                 : ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, v,
                                                                     "matches[].model.type: only Exact is supported");
        } else {
            rc = unknown_key(ld, k, "matches[].model", "type, value");
        }
        if (rc != 0)
            return rc;
    }
    return have_value ? 0
                      : ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, model, "matches[].model.value is required");
}

/* targets[]: {modelRewrite, weight?} */
static int load_target(struct oloader *ld, yaml_node_t *t, struct ig_epp_rewrite_target *out)
{
    int have_model = 0;
    if (t->type != YAML_MAPPING_NODE)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, t, "targets[]: expected a map with a modelRewrite");
    FOR_PAIRS(t, p)
    {
        yaml_node_t *k = node(ld, p->key), *v = node(ld, p->value);
        int rc;
        int64_t w;
        if (ig_epp__yaml_key_is(k, "modelRewrite")) {
            rc = want_string(ld, v, "targets[].modelRewrite", &out->model);
            have_model = 1;
        } else if (ig_epp__yaml_key_is(k, "weight")) {
            rc = want_int(ld, v, "targets[].weight", 1, MAX_WEIGHT, &w);
            out->weight = (uint32_t)w;
        } else {
            rc = unknown_key(ld, k, "targets[]", "modelRewrite, weight");
        }
        if (rc != 0)
            return rc;
    }
    return have_model ? 0 : ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, t, "targets[].modelRewrite is required");
}

static int load_rule(struct oloader *ld, yaml_node_t *r, struct ig_epp_rewrite_rule *rule)
{
    if (r->type != YAML_MAPPING_NODE)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, r, "rules[]: expected a map with targets");
    yaml_node_t *targets = NULL;
    FOR_PAIRS(r, p)
    {
        yaml_node_t *k = node(ld, p->key), *v = node(ld, p->value);
        if (ig_epp__yaml_key_is(k, "matches")) {
            if (v->type != YAML_SEQUENCE_NODE || N_ITEMS(v) > MAX_PER_RULE)
                return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, v,
                                         "rules[].matches: expected a list of at most %d matches", MAX_PER_RULE);
            rule->n_models = N_ITEMS(v);
            rule->models = ig_pool_calloc(&ld->out->pool, (rule->n_models + 1) * sizeof(*rule->models));
            for (size_t i = 0; i < rule->n_models; i++) {
                int rc = load_match(ld, node(ld, v->data.sequence.items.start[i]), &rule->models[i]);
                if (rc != 0)
                    return rc;
            }
        } else if (ig_epp__yaml_key_is(k, "targets")) {
            targets = v;
        } else {
            return unknown_key(ld, k, "rules[]", "matches, targets");
        }
    }
    if (targets == NULL || targets->type != YAML_SEQUENCE_NODE || N_ITEMS(targets) == 0 ||
        N_ITEMS(targets) > MAX_PER_RULE)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, targets != NULL ? targets : r,
                                 "rules[].targets: expected a list of 1-%d targets", MAX_PER_RULE);
    rule->n_targets = N_ITEMS(targets);
    rule->targets = ig_pool_calloc(&ld->out->pool, rule->n_targets * sizeof(*rule->targets));
    for (size_t i = 0; i < rule->n_targets; i++) {
        int rc = load_target(ld, node(ld, targets->data.sequence.items.start[i]), &rule->targets[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int load_rewrite_spec(struct oloader *ld, yaml_node_t *spec, struct ig_epp_rewrite *rw)
{
    int have_pool = 0;
    if (spec->type != YAML_MAPPING_NODE)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, spec, "spec: expected a map");
    FOR_PAIRS(spec, p)
    {
        yaml_node_t *k = node(ld, p->key), *v = node(ld, p->value);
        int rc = 0;
        if (ig_epp__yaml_key_is(k, "poolRef")) {
            rc = load_pool_ref(ld, v);
            have_pool = 1;
        } else if (ig_epp__yaml_key_is(k, "rules")) {
            if (v->type != YAML_SEQUENCE_NODE || N_ITEMS(v) > MAX_RULES)
                return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, v,
                                         "spec.rules: expected a list of at most %d rules", MAX_RULES);
            rw->n_rules = N_ITEMS(v);
            rw->rules = ig_pool_calloc(&ld->out->pool, (rw->n_rules + 1) * sizeof(*rw->rules));
            for (size_t i = 0; i < rw->n_rules && rc == 0; i++)
                rc = load_rule(ld, node(ld, v->data.sequence.items.start[i]), &rw->rules[i]);
        } else {
            rc = unknown_key(ld, k, "spec", "poolRef, rules");
        }
        if (rc != 0)
            return rc;
    }
    return have_pool ? 0 : ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, spec, "spec.poolRef is required");
}

static void *grow(struct oloader *ld, void *v, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return v;
    size_t ncap = *cap != 0 ? *cap * 2 : 16;
    void *nv = ig_pool_alloc(&ld->out->pool, ncap * size);
    if (n != 0)
        memcpy(nv, v, n * size);
    *cap = ncap;
    return nv;
}

/* One resource: apiVersion?, kind, metadata{name, ...}, spec, status (ignored). */
static int load_resource(struct oloader *ld, yaml_node_t *res)
{
    yaml_node_t *kind = NULL, *spec = NULL, *name = NULL;
    if (res->type != YAML_MAPPING_NODE)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, res,
                                 "expected a resource (a map with kind, metadata and spec)");
    FOR_PAIRS(res, p)
    {
        yaml_node_t *k = node(ld, p->key), *v = node(ld, p->value);
        if (ig_epp__yaml_key_is(k, "apiVersion")) {
            if (v->type != YAML_SCALAR_NODE || v->data.scalar.length <= sizeof(API_GROUP) - 1 ||
                memcmp(v->data.scalar.value, API_GROUP, sizeof(API_GROUP) - 1) != 0)
                return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, v, "apiVersion: expected %s<version>",
                                         API_GROUP);
        } else if (ig_epp__yaml_key_is(k, "kind")) {
            kind = v;
        } else if (ig_epp__yaml_key_is(k, "metadata")) {
            if (v->type != YAML_MAPPING_NODE)
                return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, v, "metadata: expected a map with a name");
            FOR_PAIRS(v, q)
            {
                if (ig_epp__yaml_key_is(node(ld, q->key), "name"))
                    name = node(ld, q->value);
            }
            if (name == NULL)
                return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, v, "metadata.name is required");
        } else if (ig_epp__yaml_key_is(k, "spec")) {
            spec = v;
        } else if (!ig_epp__yaml_key_is(k, "status")) {
            return unknown_key(ld, k, "resource", "apiVersion, kind, metadata, spec");
        }
    }
    if (kind == NULL || !(ig_epp__yaml_key_is(kind, KIND_OBJECTIVE) || ig_epp__yaml_key_is(kind, KIND_REWRITE)))
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, kind != NULL ? kind : res, "kind: expected %s or %s",
                                 KIND_OBJECTIVE, KIND_REWRITE);
    if (name == NULL)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, res, "metadata.name is required");
    struct ig_epp_objectives *o = ld->out;
    if (o->n_objectives + o->n_rewrites >= MAX_RESOURCES)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, res, "more than %d resources", MAX_RESOURCES);
    ig_iov_t nm;
    int rc = want_string(ld, name, "metadata.name", &nm);
    if (rc != 0)
        return rc;
    if (ig_epp__yaml_key_is(kind, KIND_OBJECTIVE)) {
        for (size_t i = 0; i < o->n_objectives; i++)
            if (ig_iov_eq(o->objectives[i].name, nm))
                return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, name, "%s \"%s\" is already defined at line %u",
                                         KIND_OBJECTIVE, nm.base, o->objectives[i].line);
        o->objectives = grow(ld, o->objectives, o->n_objectives, &ld->cap_obj, sizeof(*o->objectives));
        struct ig_epp_objective *ob = &o->objectives[o->n_objectives];
        memset(ob, 0, sizeof(*ob));
        ob->name = nm;
        ob->line = (uint32_t)res->start_mark.line + 1;
        rc = spec != NULL ? load_objective_spec(ld, spec, ob) : 0; /* no spec: priority 0 */
        if (rc == 0)
            o->n_objectives++;
        return rc;
    }
    for (size_t i = 0; i < o->n_rewrites; i++)
        if (ig_iov_eq(o->rewrites[i].name, nm))
            return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, name, "%s \"%s\" is already defined at line %u",
                                     KIND_REWRITE, nm.base, o->rewrites[i].line);
    if (spec == NULL)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, res, "%s: spec is required", KIND_REWRITE);
    o->rewrites = grow(ld, o->rewrites, o->n_rewrites, &ld->cap_rw, sizeof(*o->rewrites));
    struct ig_epp_rewrite *rw = &o->rewrites[o->n_rewrites];
    memset(rw, 0, sizeof(*rw));
    rw->name = nm;
    rw->line = (uint32_t)res->start_mark.line + 1;
    rc = load_rewrite_spec(ld, spec, rw);
    if (rc == 0)
        o->n_rewrites++;
    return rc;
}

/* A document: a resource, a list of resources, or {kind: List, items: [...]}; empty is fine. */
static int load_odoc(struct oloader *ld)
{
    yaml_node_t *root = yaml_document_get_root_node(ld->doc);
    if (root == NULL || (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
        return 0; /* an empty document (a lone `---`) */
    yaml_node_t *list = root;
    if (root->type == YAML_MAPPING_NODE) {
        yaml_node_t *items = NULL;
        int is_list = 0;
        FOR_PAIRS(root, p)
        {
            yaml_node_t *k = node(ld, p->key), *v = node(ld, p->value);
            if (ig_epp__yaml_key_is(k, "kind") && ig_epp__yaml_key_is(v, "List"))
                is_list = 1;
            else if (ig_epp__yaml_key_is(k, "items"))
                items = v;
        }
        if (!is_list)
            return load_resource(ld, root);
        if (items == NULL)
            return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, root, "List: items is required");
        list = items;
    }
    if (list->type != YAML_SEQUENCE_NODE)
        return ig_epp__yaml_fail(ld->err, ld->errlen, ld->name, list, "expected a resource or a list of resources");
    for (size_t i = 0; i < N_ITEMS(list); i++) {
        int rc = load_resource(ld, node(ld, list->data.sequence.items.start[i]));
        if (rc != 0)
            return rc;
    }
    return 0;
}

int ig_epp_objectives_load_string(const char *name, const char *text, size_t len, struct ig_epp_objectives *out,
                                  char *err, size_t errlen)
{
    yaml_parser_t parser;
    int rc = 0;
    struct oloader ld = {.name = name, .out = out, .err = err, .errlen = errlen};

    if (!yaml_parser_initialize(&parser)) {
        ig_epp__errf(err, errlen, "%s: cannot initialise the YAML parser", name);
        return IG_EINVAL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    for (;;) {
        yaml_document_t doc;
        if (!yaml_parser_load(&parser, &doc)) {
            ig_epp__errf(err, errlen, "%s:%zu:%zu: %s%s%s", name, parser.problem_mark.line + 1,
                         parser.problem_mark.column + 1, parser.problem != NULL ? parser.problem : "invalid YAML",
                         parser.context != NULL ? " " : "", parser.context != NULL ? parser.context : "");
            rc = IG_EINVAL;
            break;
        }
        if (yaml_document_get_root_node(&doc) == NULL) { /* the end of the stream */
            yaml_document_delete(&doc);
            break;
        }
        ld.doc = &doc;
        rc = load_odoc(&ld);
        yaml_document_delete(&doc);
        if (rc != 0)
            break;
    }
    yaml_parser_delete(&parser);
    if (rc != 0) {
        out->n_objectives = out->n_rewrites = 0;
        out->objectives = NULL;
        out->rewrites = NULL;
    }
    return rc;
}

int ig_epp_objectives_load_file(const char *path, struct ig_epp_objectives *out, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    int rc = ig_epp__read_file(path, &data, &len);
    if (rc != 0) {
        ig_epp__errf(err, errlen, "%s: %s", path, rc == IG_ETOOBIG ? "file larger than 4 MiB" : ig_strerror(rc));
        return rc;
    }
    rc = ig_epp_objectives_load_string(path, data, len, out, err, errlen);
    ig_free(data);
    return rc;
}

/* ---- lookups ----------------------------------------------------------------------------------- */

int ig_epp_objectives_priority(const struct ig_epp_objectives *o, ig_iov_t name, int *priority)
{
    for (size_t i = 0; i < o->n_objectives; i++) {
        if (ig_iov_eq(o->objectives[i].name, name)) {
            *priority = o->objectives[i].priority;
            return 0;
        }
    }
    return IG_ENOTFOUND;
}

static ig_iov_t pick_target(const struct ig_epp_rewrite_rule *r, uint64_t rnd)
{
    uint64_t total = 0;
    for (size_t i = 0; i < r->n_targets; i++)
        total += r->targets[i].weight;
    if (total == 0)
        return r->targets[rnd % r->n_targets].model; /* no weights: uniform */
    uint64_t x = rnd % total, acc = 0;
    for (size_t i = 0; i < r->n_targets; i++) {
        acc += r->targets[i].weight;
        if (x < acc)
            return r->targets[i].model;
    }
    return r->targets[r->n_targets - 1].model;
}

int ig_epp_objectives_rewrite(const struct ig_epp_objectives *o, ig_iov_t model, uint64_t rnd, ig_iov_t *target,
                              ig_iov_t *rewrite_name)
{
    /* Pass 0: rules naming the model; pass 1: catch-all rules (no matches). */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < o->n_rewrites; i++) {
            const struct ig_epp_rewrite *rw = &o->rewrites[i];
            for (size_t j = 0; j < rw->n_rules; j++) {
                const struct ig_epp_rewrite_rule *r = &rw->rules[j];
                int hit = 0;
                if (pass == 1) {
                    hit = r->n_models == 0;
                } else {
                    for (size_t m = 0; m < r->n_models && !hit; m++)
                        hit = ig_iov_eq(r->models[m], model);
                }
                if (hit) {
                    *target = pick_target(r, rnd);
                    if (rewrite_name != NULL)
                        *rewrite_name = rw->name;
                    return 0;
                }
            }
        }
    }
    return IG_ENOTFOUND;
}

/* ---- watched source ---------------------------------------------------------------------------- */

struct ig_epp_objectives_source {
    char *path;
    struct ig_epp_objectives cur;
    ig_file_watch_t *watch;
    char *last;
    size_t last_len;
    uint64_t rng;
    uint64_t loads, failures;
};

static int osrc_reload(ig_epp_objectives_source_t *src, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    struct ig_epp_objectives next;
    ig_epp_objectives_init(&next);
    int rc = ig_epp__read_file(src->path, &data, &len);
    if (rc != 0) {
        ig_epp__errf(err, errlen, "%s: %s", src->path, rc == IG_ETOOBIG ? "file larger than 4 MiB" : ig_strerror(rc));
        goto out;
    }
    if (src->last != NULL && len == src->last_len && memcmp(data, src->last, len) == 0)
        goto out;
    rc = ig_epp_objectives_load_string(src->path, data, len, &next, err, errlen);
    if (rc == 0) {
        /* Lookups borrow nothing across loop callbacks: the old set can go at once. */
        ig_epp_objectives_dispose(&src->cur);
        src->cur = next;
        ig_epp_objectives_init(&next);
        ig_free(src->last);
        src->last = data;
        src->last_len = len;
        data = NULL;
        src->loads++;
        ig_log_info("epp", "%s: loaded %zu objectives, %zu model rewrites", src->path, src->cur.n_objectives,
                    src->cur.n_rewrites);
    }
out:
    ig_epp_objectives_dispose(&next);
    ig_free(data);
    return rc;
}

int ig_epp_objectives_source_reload(ig_epp_objectives_source_t *src)
{
    char err[512];
    int rc = osrc_reload(src, err, sizeof(err));
    if (rc != 0) {
        src->failures++;
        ig_log_error("epp", "%s (keeping the previous objectives and rewrites)", err);
    }
    return rc;
}

static void osrc_change(ig_file_watch_t *w, int status, void *arg)
{
    if (status < 0)
        ig_log_warn("epp", "watching %s: %s", ig_file_watch_dir(w), uv_strerror(status));
    (void)ig_epp_objectives_source_reload(arg);
}

static void osrc_free(ig_epp_objectives_source_t *src)
{
    ig_epp_objectives_dispose(&src->cur);
    ig_free(src->path);
    ig_free(src->last);
    ig_free(src);
}

ig_epp_objectives_source_t *ig_epp_objectives_source_start(uv_loop_t *loop, const char *path, char *err, size_t errlen)
{
    ig_epp_objectives_source_t *src = ig_calloc(1, sizeof(*src));
    ig_epp_objectives_init(&src->cur);
    src->path = ig_strdup(path);
    src->rng = ig_time_ns() | 1;
    if (osrc_reload(src, err, errlen) != 0) {
        osrc_free(src);
        return NULL;
    }
    int rc = ig_file_watch_start(loop, path, IG_FILE_WATCH_DEBOUNCE_MS, osrc_change, src, &src->watch);
    if (rc != 0) {
        ig_epp__errf(err, errlen, "%s: cannot watch its directory: %s", path, uv_strerror(rc));
        osrc_free(src);
        return NULL;
    }
    return src;
}

const struct ig_epp_objectives *ig_epp_objectives_source_get(const ig_epp_objectives_source_t *src)
{
    return &src->cur;
}

uint64_t ig_epp_objectives_source_loads(const ig_epp_objectives_source_t *src)
{
    return src->loads;
}

uint64_t ig_epp_objectives_source_failures(const ig_epp_objectives_source_t *src)
{
    return src->failures;
}

void ig_epp_objectives_source_stop(ig_epp_objectives_source_t *src)
{
    if (src == NULL)
        return;
    /* The watch never calls back once stopped, so the source can go at once. */
    ig_file_watch_stop(src->watch);
    osrc_free(src);
}

int ig_epp_objectives_priority_cb(void *arg, ig_iov_t objective, int *priority)
{
    ig_epp_objectives_source_t *src = arg;
    return ig_epp_objectives_priority(&src->cur, objective, priority);
}

int ig_epp_objectives_rewrite_cb(void *arg, ig_iov_t model, ig_iov_t *target, ig_iov_t *rewrite_name)
{
    ig_epp_objectives_source_t *src = arg;
    /* xorshift64: the weighted split needs uniformity, not secrecy. */
    uint64_t x = src->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    src->rng = x;
    return ig_epp_objectives_rewrite(&src->cur, model, x, target, rewrite_name);
}
