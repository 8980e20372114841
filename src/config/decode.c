/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoder plumbing shared by the typed loaders: the error collector ("file:line:col: path: msg"),
 * the key path of the value being decoded, table-driven decoding of mappings (unknown keys,
 * agentgateway keys infergate rejects, required fields) and the scalar decoders with strict types
 * (a string field does not take an integer, as with agentgateway's serde decoding).
 */
#include "config_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- diagnostics ----------------------------------------------------------------------------- */

void ig_config__diag_init(struct ig_cfg_diag *dg, const char *file, char *buf, size_t cap)
{
    memset(dg, 0, sizeof(*dg));
    dg->file = file;
    dg->buf = buf;
    dg->cap = cap;
    if (buf != NULL && cap > 0)
        buf[0] = '\0';
}

void ig_config__diag(struct ig_cfg_diag *dg, uint32_t line, uint32_t col, const char *path, const char *fmt, ...)
{
    dg->count++;
    if (dg->count > IG_CONFIG_MAX_ERRORS || dg->buf == NULL || dg->cap == 0 || dg->used + 1 >= dg->cap)
        return;
    char *p = dg->buf + dg->used;
    size_t room = dg->cap - dg->used;
    int n;
    if (dg->count > 1) {
        /* one error per line */
        n = snprintf(p, room, "\n");
        p += n;
        room -= (size_t)n;
    }
    if (line > 0)
        n = snprintf(p, room, "%s:%u:%u: ", dg->file, line, col);
    else
        n = snprintf(p, room, "%s: ", dg->file);
    if (n < 0 || (size_t)n >= room)
        goto full;
    p += n;
    room -= (size_t)n;
    if (path != NULL && path[0] != '\0') {
        n = snprintf(p, room, "%s: ", path);
        if (n < 0 || (size_t)n >= room)
            goto full;
        p += n;
        room -= (size_t)n;
    }
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(p, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room)
        goto full;
    p += n;
    dg->used = (size_t)(p - dg->buf);
    return;
full:
    dg->used = dg->cap - 1;
    dg->buf[dg->cap - 1] = '\0';
}

/* ---- key path -------------------------------------------------------------------------------- */

size_t ig_config__path_key(struct ig_cfg_dec *d, const char *key, size_t len)
{
    size_t saved = d->plen;
    int n =
        snprintf(d->path + d->plen, sizeof(d->path) - d->plen, "%s%.*s", d->plen ? "." : "", (int)IG_MIN(len, 64), key);
    if (n > 0)
        d->plen = IG_MIN(d->plen + (size_t)n, sizeof(d->path) - 1);
    return saved;
}

size_t ig_config__path_index(struct ig_cfg_dec *d, size_t i)
{
    size_t saved = d->plen;
    int n = snprintf(d->path + d->plen, sizeof(d->path) - d->plen, "[%zu]", i);
    if (n > 0)
        d->plen = IG_MIN(d->plen + (size_t)n, sizeof(d->path) - 1);
    return saved;
}

static void verr(struct ig_cfg_dec *d, const struct ig_ynode *n, const char *fmt, va_list ap) IG_PRINTF(3, 0);
static void verr(struct ig_cfg_dec *d, const struct ig_ynode *n, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    ig_config__diag(d->dg, n ? n->line : 0, n ? n->col : 0, d->path, "%s", msg);
}

void ig_config__err(struct ig_cfg_dec *d, const struct ig_ynode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(d, n, fmt, ap);
    va_end(ap);
}

void ig_config__err_at_key(struct ig_cfg_dec *d, const struct ig_ynode *n, const char *key, const char *fmt, ...)
{
    size_t saved = ig_config__path_key(d, key, strlen(key));
    va_list ap;
    va_start(ap, fmt);
    verr(d, n, fmt, ap);
    va_end(ap);
    ig_config__path_pop(d, saved);
}

/* ---- scalars --------------------------------------------------------------------------------- */

int ig_config__dec_str(struct ig_cfg_dec *d, const struct ig_ynode *n, ig_iov_t *out)
{
    if (n->kind != IG_YNODE_SCALAR || n->type != IG_YS_STR) {
        ig_config__err(d, n, "expected a string");
        return -1;
    }
    if (memchr(n->s, '\0', n->len) != NULL) {
        ig_config__err(d, n, "string contains a NUL character");
        return -1;
    }
    *out = ig_pool_dup(d->pool, ig_iov(n->s, n->len));
    return 0;
}

int ig_config__dec_uint(struct ig_cfg_dec *d, const struct ig_ynode *n, uint64_t max, uint64_t *out)
{
    if (n->kind != IG_YNODE_SCALAR || n->type != IG_YS_INT) {
        ig_config__err(d, n, "expected an integer");
        return -1;
    }
    if (!n->int_ok || n->integer < 0 || (uint64_t)n->integer > max) {
        ig_config__err(d, n, "%.32s is out of range (0..%llu)", n->s, (unsigned long long)max);
        return -1;
    }
    *out = (uint64_t)n->integer;
    return 0;
}

int ig_config__dec_bool(struct ig_cfg_dec *d, const struct ig_ynode *n, int *out)
{
    if (n->kind != IG_YNODE_SCALAR || n->type != IG_YS_BOOL) {
        ig_config__err(d, n, "expected a boolean");
        return -1;
    }
    *out = n->boolean;
    return 0;
}

int ig_config__dec_duration(struct ig_cfg_dec *d, const struct ig_ynode *n, uint64_t *ns)
{
    const char *why = NULL;
    if (n->kind != IG_YNODE_SCALAR || n->type != IG_YS_STR) {
        ig_config__err(d, n, "expected a duration string such as \"10s\"");
        return -1;
    }
    if (ig_config_parse_duration(ig_iov(n->s, n->len), ns, &why) != 0) {
        ig_config__err(d, n, "invalid duration \"%.64s\": %s", n->s, why);
        return -1;
    }
    return 0;
}

int ig_config__dec_enum(struct ig_cfg_dec *d, const struct ig_ynode *n, const char *const *names, int count,
                        const char *const *unsupported, int *out)
{
    if (n->kind != IG_YNODE_SCALAR || n->type != IG_YS_STR) {
        ig_config__err(d, n, "expected a string");
        return -1;
    }
    for (int i = 0; i < count; i++) {
        if (names[i] != NULL && ig_config__key_is(n, names[i])) {
            *out = i;
            return 0;
        }
    }
    for (; unsupported != NULL && *unsupported != NULL; unsupported++) {
        if (ig_config__key_is(n, *unsupported)) {
            ig_config__err(d, n, "%s: not supported by infergate", *unsupported);
            return -1;
        }
    }
    char expected[256];
    size_t used = 0;
    expected[0] = '\0';
    for (int i = 0; i < count; i++) {
        if (names[i] == NULL)
            continue;
        int w = snprintf(expected + used, sizeof(expected) - used, "%s%s", used ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= sizeof(expected) - used)
            break;
        used += (size_t)w;
    }
    ig_config__err(d, n, "unknown value \"%.64s\", expected one of: %s", n->s, expected);
    return -1;
}

int ig_config__expect_map(struct ig_cfg_dec *d, const struct ig_ynode *n)
{
    if (n->kind != IG_YNODE_MAP) {
        ig_config__err(d, n, "expected a mapping");
        return -1;
    }
    return 0;
}

int ig_config__expect_seq(struct ig_cfg_dec *d, const struct ig_ynode *n)
{
    if (n->kind != IG_YNODE_SEQ) {
        ig_config__err(d, n, "expected a sequence");
        return -1;
    }
    return 0;
}

int ig_config__dec_str_list(struct ig_cfg_dec *d, const struct ig_ynode *n, ig_iov_t **out, size_t *count)
{
    if (ig_config__expect_seq(d, n) != 0)
        return -1;
    int rc = 0;
    *out = n->n ? ig_pool_calloc(d->pool, n->n * sizeof(**out)) : NULL;
    *count = n->n;
    for (size_t i = 0; i < n->n; i++) {
        size_t saved = ig_config__path_index(d, i);
        if (ig_config__dec_str(d, n->items[i], &(*out)[i]) != 0)
            rc = -1;
        ig_config__path_pop(d, saved);
    }
    return rc;
}

/* ---- mappings -------------------------------------------------------------------------------- */

/* Stores |u| into an unsigned member of |size| bytes (a C enum is int-sized). */
static void store_uint(void *p, size_t size, uint64_t u)
{
    if (size == sizeof(uint8_t))
        *(uint8_t *)p = (uint8_t)u;
    else if (size == sizeof(uint16_t))
        *(uint16_t *)p = (uint16_t)u;
    else if (size == sizeof(uint32_t))
        *(uint32_t *)p = (uint32_t)u;
    else if (size == sizeof(uint64_t))
        *(uint64_t *)p = u;
}

static void dec_addr(struct ig_cfg_dec *d, const struct ig_ynode *v, struct ig_cfg_addr *out)
{
    ig_iov_t s;
    const char *why = NULL;
    if (ig_config__dec_str(d, v, &s) != 0)
        return;
    if (ig_config__parse_addr(d->pool, s, out, &why) != 0)
        ig_config__err(d, v, "invalid address \"%.64s\": %s", s.base, why);
}

static void dec_hostname(struct ig_cfg_dec *d, const struct ig_ynode *v, ig_iov_t *out, int wildcard)
{
    const char *why = NULL;
    if (ig_config__dec_str(d, v, out) == 0 && ig_config__check_hostname(*out, wildcard, &why) != 0)
        ig_config__err(d, v, "invalid hostname \"%.64s\": %s", out->base, why);
}

static void dec_field(struct ig_cfg_dec *d, const struct ig_cfg_field *f, const struct ig_ynode *k,
                      const struct ig_ynode *v, void *obj)
{
    char *p = (char *)obj + f->off;
    uint64_t u;
    int idx;
    switch (f->type) {
    case IG_F_STR:
        ig_config__dec_str(d, v, (ig_iov_t *)(void *)p);
        break;
    case IG_F_BOOL:
        ig_config__dec_bool(d, v, (int *)(void *)p);
        break;
    case IG_F_UINT:
        if (ig_config__dec_uint(d, v, f->max, &u) == 0)
            store_uint(p, f->size, u);
        break;
    case IG_F_DURATION:
        ig_config__dec_duration(d, v, (uint64_t *)(void *)p);
        break;
    case IG_F_ADDR:
        dec_addr(d, v, (struct ig_cfg_addr *)(void *)p);
        break;
    case IG_F_HOSTPORT:
        ig_config__dec_hostport(d, v, (struct ig_cfg_hostport *)(void *)p);
        break;
    case IG_F_HOSTNAME:
        dec_hostname(d, v, (ig_iov_t *)(void *)p, f->max != 0);
        break;
    case IG_F_PEM:
        ig_config__dec_pem(d, v, (struct ig_cfg_pem *)(void *)p);
        break;
    case IG_F_ENUM:
        if (ig_config__dec_enum(d, v, f->names, (int)f->max, f->unsupported, &idx) == 0)
            store_uint(p, f->size, (uint64_t)idx);
        break;
    case IG_F_STR_LIST:
        ig_config__dec_str_list(d, v, (ig_iov_t **)(void *)p, (size_t *)(void *)((char *)obj + f->size));
        break;
    case IG_F_HEADER_MOD:
        *(struct ig_cfg_header_mod **)(void *)p = ig_config__dec_header_mod(d, v);
        break;
    case IG_F_OBJ:
        ig_config__dec_fields(d, v, p, f->sub);
        break;
    case IG_F_OBJ_NEW: {
        void *sub = ig_pool_calloc(d->pool, f->size);
        if (f->init != NULL)
            memcpy(sub, f->init, f->size);
        memcpy(p, &sub, sizeof(sub)); /* the member is a pointer to the sub-struct's type */
        ig_config__dec_fields(d, v, sub, f->sub);
        break;
    }
    case IG_F_MEMBER:
        f->dec(d, v, p);
        break;
    case IG_F_CUSTOM:
        f->fn(d, k, v, obj);
        break;
    case IG_F_UNSUPPORTED:
        break;
    }
}

uint64_t ig_config__dec_fields(struct ig_cfg_dec *d, const struct ig_ynode *n, void *obj,
                               const struct ig_cfg_field *fields)
{
    uint64_t seen = 0;
    if (ig_config__expect_map(d, n) != 0)
        return 0;
    for (size_t i = 0; i < n->n; i++) {
        const struct ig_ynode *k = IG_YMAP_KEY(n, i), *v = IG_YMAP_VAL(n, i);
        size_t saved = ig_config__path_key(d, k->s, k->len);
        int idx = -1;
        for (int j = 0; fields[j].name != NULL; j++) {
            if (ig_config__key_is(k, fields[j].name)) {
                idx = j;
                break;
            }
        }
        if (idx < 0)
            ig_config__err(d, k, "unknown field");
        else if (fields[idx].type == IG_F_UNSUPPORTED)
            ig_config__err(d, k, "not supported by infergate");
        else if (!ig_config__is_null(v)) {
            seen |= (uint64_t)1 << idx;
            dec_field(d, &fields[idx], k, v, obj);
        }
        ig_config__path_pop(d, saved);
    }
    for (int j = 0; fields[j].name != NULL; j++)
        if (fields[j].required && !(seen & ((uint64_t)1 << j)))
            ig_config__err(d, n, "missing required field \"%s\"", fields[j].name);
    return seen;
}

/* ---- regexes, files, addresses, headers ------------------------------------------------------ */

#define REGEX_MAX_LEN  4096
#define REGEX_MAX_COST 20000

static uint64_t sat_mul_add(uint64_t acc, uint64_t a, uint64_t b)
{
    if (a > REGEX_MAX_COST || b > REGEX_MAX_COST)
        return REGEX_MAX_COST + 1;
    return IG_MIN(acc + a * b, (uint64_t)REGEX_MAX_COST + 1);
}

/*
 * glibc's regcomp expands bounded repetitions, so nested counts multiply: "((a{1,100}){1,100}){1,100}"
 * takes seconds and a lot of memory to compile. This estimates the expanded size (atoms, with
 * groups and {m,n} bounds multiplied out) and refuses patterns above REGEX_MAX_COST.
 */
static int regex_cost_ok(const char *p, size_t len)
{
    uint64_t sum[IG_YAML_MAX_DEPTH + 1];
    uint64_t last = 0;
    int sp = 0;
    sum[0] = 0;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < len) {
            i++;
            last = 1;
            sum[sp] = sat_mul_add(sum[sp], 1, 1);
        } else if (c == '[') {
            size_t j = i + 1;
            if (j < len && p[j] == '^')
                j++;
            if (j < len && p[j] == ']')
                j++;
            while (j < len && p[j] != ']')
                j++;
            i = j;
            last = 1;
            sum[sp] = sat_mul_add(sum[sp], 1, 1);
        } else if (c == '(') {
            if (sp == IG_YAML_MAX_DEPTH)
                return 0;
            sum[++sp] = 0;
            last = 0;
        } else if (c == ')' && sp > 0) {
            uint64_t g = sum[sp--];
            last = g ? g : 1;
            sum[sp] = sat_mul_add(sum[sp], last, 1);
        } else if (c == '{') {
            uint64_t lo = 0, hi = 0;
            int comma = 0;
            size_t j = i + 1;
            for (; j < len && ((p[j] >= '0' && p[j] <= '9') || p[j] == ','); j++) {
                if (p[j] == ',')
                    comma = 1;
                else if (comma)
                    hi = IG_MIN(hi * 10 + (uint64_t)(p[j] - '0'), (uint64_t)REGEX_MAX_COST + 1);
                else
                    lo = IG_MIN(lo * 10 + (uint64_t)(p[j] - '0'), (uint64_t)REGEX_MAX_COST + 1);
            }
            if (j < len && p[j] == '}') {
                uint64_t bound = comma ? (hi ? hi : lo + 1) : lo;
                if (bound > 1 && last > 0) {
                    sum[sp] = sat_mul_add(sum[sp], last, bound - 1);
                    last = IG_MIN(last * bound, (uint64_t)REGEX_MAX_COST + 1);
                }
                i = j;
            } else {
                last = 1;
                sum[sp] = sat_mul_add(sum[sp], 1, 1);
            }
        } else if (c == '|' || c == '*' || c == '+' || c == '?' || c == '^' || c == '$') {
            if (c == '|')
                last = 0;
        } else {
            last = 1;
            sum[sp] = sat_mul_add(sum[sp], 1, 1);
        }
        if (sum[sp] > REGEX_MAX_COST)
            return 0;
    }
    return 1;
}

int ig_config__compile_regex(struct ig_cfg_dec *d, const struct ig_ynode *n, ig_iov_t pattern, regex_t **out)
{
    if (pattern.len > REGEX_MAX_LEN || !regex_cost_ok(pattern.base, pattern.len)) {
        ig_config__err(d, n, "invalid regex \"%.64s\": pattern too large (repetitions expand beyond %d atoms)",
                       pattern.base, REGEX_MAX_COST);
        return -1;
    }
    struct ig_cfg_regex *r = ig_pool_calloc(d->pool, sizeof(*r));
    int rc = regcomp(&r->re, pattern.base, REG_EXTENDED);
    if (rc != 0) {
        char why[128];
        regerror(rc, &r->re, why, sizeof(why));
        ig_config__err(d, n, "invalid regex \"%.64s\": %s", pattern.base, why);
        return -1;
    }
    r->next = d->cfg->_regexes;
    d->cfg->_regexes = r;
    *out = &r->re;
    return 0;
}

int ig_config__dec_pem(struct ig_cfg_dec *d, const struct ig_ynode *n, struct ig_cfg_pem *out)
{
    if (ig_config__dec_str(d, n, &out->path) != 0)
        return -1;
    /* O_NONBLOCK: a FIFO named by mistake must not hang the loader. */
    int fd = open(out->path.base, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd == -1) {
        ig_config__err(d, n, "cannot read \"%.200s\": %s", out->path.base, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size > (off_t)IG_CONFIG_MAX_PEM) {
        ig_config__err(d, n, "cannot read \"%.200s\": not a regular file of at most %u bytes", out->path.base,
                       IG_CONFIG_MAX_PEM);
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = ig_pool_alloc(d->pool, size + 1);
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    out->pem = ig_iov(buf, got);
    if (got == 0) {
        ig_config__err(d, n, "\"%.200s\" is empty", out->path.base);
        return -1;
    }
    return 0;
}

int ig_config__dec_hostport(struct ig_cfg_dec *d, const struct ig_ynode *n, struct ig_cfg_hostport *out)
{
    ig_iov_t s;
    const char *why = NULL;
    if (ig_config__dec_str(d, n, &s) != 0)
        return -1;
    if (ig_config__parse_hostport(d->pool, s, out, &why) != 0) {
        ig_config__err(d, n, "invalid address \"%.64s\": %s", s.base, why);
        return -1;
    }
    return 0;
}

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int check_header_name(struct ig_cfg_dec *d, const struct ig_ynode *n, ig_iov_t name)
{
    for (size_t i = 0; i < name.len; i++) {
        if (!is_tchar((unsigned char)name.base[i])) {
            ig_config__err(d, n, "invalid header name \"%.64s\"", name.base);
            return -1;
        }
    }
    if (name.len == 0) {
        ig_config__err(d, n, "empty header name");
        return -1;
    }
    return 0;
}

static int check_header_value(struct ig_cfg_dec *d, const struct ig_ynode *n, ig_iov_t v)
{
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.base[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            ig_config__err(d, n, "invalid character in header value");
            return -1;
        }
    }
    return 0;
}

/* A {name: value} mapping of headers. */
static void dec_header_map(struct ig_cfg_dec *d, const struct ig_ynode *n, struct ig_cfg_header **out, size_t *count)
{
    if (ig_config__expect_map(d, n) != 0)
        return;
    *out = n->n ? ig_pool_calloc(d->pool, n->n * sizeof(**out)) : NULL;
    *count = n->n;
    for (size_t i = 0; i < n->n; i++) {
        const struct ig_ynode *k = IG_YMAP_KEY(n, i), *v = IG_YMAP_VAL(n, i);
        size_t saved = ig_config__path_key(d, k->s, k->len);
        struct ig_cfg_header *h = &(*out)[i];
        if (ig_config__dec_str(d, k, &h->name) == 0)
            check_header_name(d, k, h->name);
        if (ig_config__dec_str(d, v, &h->value) == 0)
            check_header_value(d, v, h->value);
        ig_config__path_pop(d, saved);
    }
}

static void f_hm_add(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_header_mod *m = obj;
    (void)k;
    dec_header_map(d, v, &m->add, &m->n_add);
}

static void f_hm_set(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_header_mod *m = obj;
    (void)k;
    dec_header_map(d, v, &m->set, &m->n_set);
}

static void f_hm_remove(struct ig_cfg_dec *d, const struct ig_ynode *k, const struct ig_ynode *v, void *obj)
{
    struct ig_cfg_header_mod *m = obj;
    (void)k;
    if (ig_config__dec_str_list(d, v, &m->remove, &m->n_remove) != 0)
        return;
    for (size_t i = 0; i < m->n_remove; i++) {
        size_t saved = ig_config__path_index(d, i);
        check_header_name(d, v->items[i], m->remove[i]);
        ig_config__path_pop(d, saved);
    }
}

struct ig_cfg_header_mod *ig_config__dec_header_mod(struct ig_cfg_dec *d, const struct ig_ynode *n)
{
    static const struct ig_cfg_field fields[] = {
        IG_FIELD_FN("add", f_hm_add),
        IG_FIELD_FN("set", f_hm_set),
        IG_FIELD_FN("remove", f_hm_remove),
        IG_FIELDS_END,
    };
    struct ig_cfg_header_mod *m = ig_pool_calloc(d->pool, sizeof(*m));
    ig_config__dec_fields(d, n, m, fields);
    return m;
}

void ig_config__add_ref(struct ig_cfg_dec *d, enum ig_cfg_ref_kind kind, struct ig_cfg_target *t, ig_iov_t name,
                        const struct ig_ynode *at)
{
    struct ig_cfg_ref *r = ig_pool_calloc(d->scratch, sizeof(*r));
    r->kind = kind;
    r->target = t;
    r->name = name;
    r->line = at->line;
    r->col = at->col;
    r->path = ig_pool_strdup(d->scratch, d->path);
    *d->refs_tail = r;
    d->refs_tail = &r->next;
}
