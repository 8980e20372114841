/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The owned document tree: libyaml's event stream turned into scalars, sequences and mappings that
 * carry their 1-based source positions, allocated from the loader's scratch pool. JSON is parsed by
 * the same code (YAML's flow style is a superset of it). Plain scalars are typed with the YAML 1.2
 * core schema (null, bool, int, float, string), quoted ones are strings, so `port: "80"` is a
 * string and `hostname: 8000` an integer, as for agentgateway's serde decoding.
 *
 * Anchors and aliases are supported by sharing the anchored node. To keep a small file from
 * expanding into billions of nodes through nested aliases, every node carries its expanded size
 * and a document over IG_YAML_MAX_NODES is rejected. Only complete nodes can be aliased, so the
 * tree has no cycles. Duplicate keys in one mapping are errors, as are multiple documents.
 */
#include "config_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

struct frame {
    struct ig_ynode *node;
    struct ig_ynode **items; /* heap vector, copied into the pool when the collection ends */
    size_t n, cap;
    uint64_t weight;
    char *anchor; /* heap copy, registered when the node completes */
};

struct anchor {
    char *name;
    struct ig_ynode *node;
    uint64_t weight;
};

struct builder {
    ig_pool_t *pool;
    struct ig_cfg_diag *dg;
    struct frame stack[IG_YAML_MAX_DEPTH];
    int depth;
    struct anchor anchors[IG_YAML_MAX_ANCHORS];
    int n_anchors;
    struct ig_ynode *root;
    uint64_t root_weight;
};

static int streq(const char *a, size_t alen, const char *b)
{
    size_t bl = strlen(b);
    return alen == bl && memcmp(a, b, bl) == 0;
}

static int is_digits(const char *s, size_t n, int base)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = base == 16  ? ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
                 : base == 8 ? (c >= '0' && c <= '7')
                             : (c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* Parses an integer of the YAML 1.2 core schema; returns 0 when |s| is not one. */
static int parse_int(const char *s, size_t n, int64_t *out, int *fits)
{
    int neg = 0, base = 10;
    size_t i = 0;
    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == 0 && n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
        base = s[1] == 'x' ? 16 : 8;
        i = 2;
    }
    if (!is_digits(s + i, n - i, base))
        return 0;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    *fits = 1;
    for (; i < n; i++) {
        unsigned d = s[i] <= '9' ? (unsigned)(s[i] - '0') : (unsigned)((s[i] | 0x20) - 'a' + 10);
        if (v > (limit - d) / (uint64_t)base) {
            *fits = 0;
            return 1;
        }
        v = v * (uint64_t)base + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

static int is_float(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (n > 0 && (s[0] == '-' || s[0] == '+'))
        i++;
    if (streq(s + i, n - i, ".inf") || streq(s + i, n - i, ".Inf") || streq(s + i, n - i, ".INF"))
        return 1;
    if (i == 0 && (streq(s, n, ".nan") || streq(s, n, ".NaN") || streq(s, n, ".NAN")))
        return 1;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        i++;
        digits++;
    }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
            digits++;
        }
    }
    if (digits == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        if (!is_digits(s + i, n - i, 10))
            return 0;
        return 1;
    }
    return i == n;
}

static void resolve_plain(struct ig_ynode *nd)
{
    const char *s = nd->s;
    size_t n = nd->len;
    if (n == 0 || streq(s, n, "~") || streq(s, n, "null") || streq(s, n, "Null") || streq(s, n, "NULL")) {
        nd->type = IG_YS_NULL;
    } else if (streq(s, n, "true") || streq(s, n, "True") || streq(s, n, "TRUE")) {
        nd->type = IG_YS_BOOL;
        nd->boolean = 1;
    } else if (streq(s, n, "false") || streq(s, n, "False") || streq(s, n, "FALSE")) {
        nd->type = IG_YS_BOOL;
        nd->boolean = 0;
    } else if (parse_int(s, n, &nd->integer, &nd->int_ok)) {
        nd->type = IG_YS_INT;
    } else if (is_float(s, n)) {
        nd->type = IG_YS_FLOAT;
    } else {
        nd->type = IG_YS_STR;
    }
}

static void err_mark(struct builder *b, yaml_mark_t m, const char *fmt, ...) IG_PRINTF(3, 4);
static void err_mark(struct builder *b, yaml_mark_t m, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ig_config__diag(b->dg, (uint32_t)m.line + 1, (uint32_t)m.column + 1, NULL, "%s", msg);
}

/* Checks an explicit tag: core-schema tags are accepted, anything else is an error. */
static int check_tag(struct builder *b, const yaml_char_t *tag, yaml_mark_t m, const char *const *allowed)
{
    if (tag == NULL || strcmp((const char *)tag, "!") == 0)
        return 0;
    for (; *allowed != NULL; allowed++)
        if (strcmp((const char *)tag, *allowed) == 0)
            return 0;
    err_mark(b, m, "unsupported YAML tag \"%.64s\"", (const char *)tag);
    return -1;
}

static struct ig_ynode *new_node(struct builder *b, enum ig_ynode_kind kind, yaml_mark_t m)
{
    struct ig_ynode *nd = ig_pool_calloc(b->pool, sizeof(*nd));
    nd->kind = kind;
    nd->line = (uint32_t)m.line + 1;
    nd->col = (uint32_t)m.column + 1;
    return nd;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

static int register_anchor(struct builder *b, char *name, struct ig_ynode *nd, uint64_t weight, yaml_mark_t m)
{
    if (name == NULL)
        return 0;
    if (b->n_anchors == IG_YAML_MAX_ANCHORS) {
        err_mark(b, m, "too many YAML anchors (more than %s)", "1000");
        ig_free(name);
        return -1;
    }
    /* A redefined anchor shadows the earlier one for later aliases (YAML 1.2). */
    b->anchors[b->n_anchors++] = (struct anchor){name, nd, weight};
    return 0;
}

/* Adds a finished node to the open collection (or makes it the root). */
static int add_node(struct builder *b, struct ig_ynode *nd, uint64_t weight, yaml_mark_t m)
{
    if (b->depth == 0) {
        b->root = nd;
        b->root_weight = weight;
        return 0;
    }
    struct frame *f = &b->stack[b->depth - 1];
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->items = ig_realloc(f->items, f->cap * sizeof(*f->items));
    }
    f->items[f->n++] = nd;
    f->weight = sat_add(f->weight, weight);
    if (f->weight > IG_YAML_MAX_NODES) {
        err_mark(b, m, "document too large: more than %s nodes (aliases included)", "200000");
        return -1;
    }
    return 0;
}

static int cmp_keys(const void *pa, const void *pb)
{
    const struct ig_ynode *a = *(const struct ig_ynode *const *)pa, *b = *(const struct ig_ynode *const *)pb;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    int c = memcmp(a->s, b->s, a->len);
    if (c != 0)
        return c;
    /* Equal keys: keep document order so the second one is reported. */
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return a->col < b->col ? -1 : (a->col > b->col);
}

/* Mapping keys must be scalars and unique. */
static int check_map(struct builder *b, struct frame *f)
{
    size_t pairs = f->n / 2;
    for (size_t i = 0; i < pairs; i++) {
        struct ig_ynode *k = f->items[2 * i];
        if (k->kind != IG_YNODE_SCALAR) {
            ig_config__diag(b->dg, k->line, k->col, NULL, "mapping keys must be scalars");
            return -1;
        }
    }
    if (pairs < 2)
        return 0;
    struct ig_ynode **keys = ig_malloc(pairs * sizeof(*keys));
    for (size_t i = 0; i < pairs; i++)
        keys[i] = f->items[2 * i];
    qsort(keys, pairs, sizeof(*keys), cmp_keys);
    int rc = 0;
    for (size_t i = 1; i < pairs; i++) {
        if (keys[i]->len == keys[i - 1]->len && memcmp(keys[i]->s, keys[i - 1]->s, keys[i]->len) == 0) {
            ig_config__diag(b->dg, keys[i]->line, keys[i]->col, NULL, "duplicate key \"%.64s\"", keys[i]->s);
            rc = -1;
            break;
        }
    }
    ig_free(keys);
    return rc;
}

static int open_collection(struct builder *b, enum ig_ynode_kind kind, const yaml_char_t *anchor, yaml_mark_t m)
{
    if (b->depth == IG_YAML_MAX_DEPTH) {
        err_mark(b, m, "nesting deeper than %s levels", "64");
        return -1;
    }
    struct frame *f = &b->stack[b->depth++];
    memset(f, 0, sizeof(*f));
    f->node = new_node(b, kind, m);
    f->weight = 1;
    f->anchor = anchor != NULL ? ig_strdup((const char *)anchor) : NULL;
    return 0;
}

static int close_collection(struct builder *b, yaml_mark_t m)
{
    struct frame *f = &b->stack[b->depth - 1];
    struct ig_ynode *nd = f->node;
    if (nd->kind == IG_YNODE_MAP && check_map(b, f) != 0)
        return -1;
    if (f->n > 0) {
        nd->items = ig_pool_alloc(b->pool, f->n * sizeof(*nd->items));
        memcpy(nd->items, f->items, f->n * sizeof(*nd->items));
    }
    nd->n = nd->kind == IG_YNODE_MAP ? f->n / 2 : f->n;
    ig_free(f->items);
    f->items = NULL;
    char *anchor = f->anchor;
    f->anchor = NULL;
    uint64_t weight = f->weight;
    b->depth--;
    if (register_anchor(b, anchor, nd, weight, m) != 0)
        return -1;
    return add_node(b, nd, weight, m);
}

static int on_scalar(struct builder *b, yaml_event_t *ev)
{
    static const char *const tags[] = {"tag:yaml.org,2002:str",  "tag:yaml.org,2002:int",   "tag:yaml.org,2002:bool",
                                       "tag:yaml.org,2002:null", "tag:yaml.org,2002:float", NULL};
    if (check_tag(b, ev->data.scalar.tag, ev->start_mark, tags) != 0)
        return -1;
    struct ig_ynode *nd = new_node(b, IG_YNODE_SCALAR, ev->start_mark);
    ig_iov_t v = ig_pool_dup(b->pool, ig_iov(ev->data.scalar.value, ev->data.scalar.length));
    nd->s = v.base;
    nd->len = v.len;
    const char *tag = (const char *)ev->data.scalar.tag;
    if (tag != NULL && strcmp(tag, "tag:yaml.org,2002:str") == 0)
        nd->type = IG_YS_STR;
    else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE || (tag != NULL && strcmp(tag, "!") != 0))
        resolve_plain(nd);
    else
        nd->type = IG_YS_STR;
    char *anchor = ev->data.scalar.anchor ? ig_strdup((const char *)ev->data.scalar.anchor) : NULL;
    if (register_anchor(b, anchor, nd, 1, ev->start_mark) != 0)
        return -1;
    return add_node(b, nd, 1, ev->start_mark);
}

static int on_alias(struct builder *b, yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    for (int i = b->n_anchors - 1; i >= 0; i--) {
        if (strcmp(b->anchors[i].name, name) == 0)
            return add_node(b, b->anchors[i].node, b->anchors[i].weight, ev->start_mark);
    }
    err_mark(b, ev->start_mark, "unknown YAML anchor \"%.64s\"", name);
    return -1;
}

static int on_event(struct builder *b, yaml_event_t *ev, int *docs)
{
    static const char *const seq_tags[] = {"tag:yaml.org,2002:seq", NULL};
    static const char *const map_tags[] = {"tag:yaml.org,2002:map", NULL};
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1) {
            err_mark(b, ev->start_mark, "%s", "multiple YAML documents in one file are not supported");
            return -1;
        }
        return 0;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        if (check_tag(b, ev->data.sequence_start.tag, ev->start_mark, seq_tags) != 0)
            return -1;
        return open_collection(b, IG_YNODE_SEQ, ev->data.sequence_start.anchor, ev->start_mark);
    case YAML_MAPPING_START_EVENT:
        if (check_tag(b, ev->data.mapping_start.tag, ev->start_mark, map_tags) != 0)
            return -1;
        return open_collection(b, IG_YNODE_MAP, ev->data.mapping_start.anchor, ev->start_mark);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return close_collection(b, ev->start_mark);
    default:
        return 0;
    }
}

int ig_config__yaml_parse(ig_pool_t *pool, const char *text, size_t len, struct ig_ynode **root, struct ig_cfg_diag *dg)
{
    yaml_parser_t parser;
    struct builder *b = ig_calloc(1, sizeof(*b));
    int rc = IG_EINVAL, docs = 0, done = 0;

    b->pool = pool;
    b->dg = dg;
    *root = NULL;
    if (!yaml_parser_initialize(&parser)) {
        ig_config__diag(dg, 0, 0, NULL, "cannot initialise the YAML parser");
        goto out_free;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (!done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            const char *problem = parser.problem != NULL ? parser.problem : "invalid YAML";
            if (parser.context != NULL)
                ig_config__diag(dg, (uint32_t)parser.problem_mark.line + 1, (uint32_t)parser.problem_mark.column + 1,
                                NULL, "%s %s", parser.context, problem);
            else
                ig_config__diag(dg, (uint32_t)parser.problem_mark.line + 1, (uint32_t)parser.problem_mark.column + 1,
                                NULL, "%s", problem);
            goto out;
        }
        int r = on_event(b, &ev, &docs);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (r != 0)
            goto out;
    }
    *root = b->root;
    rc = 0;
out:
    yaml_parser_delete(&parser);
out_free:
    for (int i = 0; i < b->depth; i++) {
        ig_free(b->stack[i].items);
        ig_free(b->stack[i].anchor);
    }
    for (int i = 0; i < b->n_anchors; i++)
        ig_free(b->anchors[i].name);
    ig_free(b);
    return rc;
}
