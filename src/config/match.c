/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Route selection with Gateway API semantics, the per-request half of the config module. At load
 * time every listener gets one table of (route, match) pairs sorted by the static part of the
 * precedence (exact path > longest prefix > regex, then method, header count, query count,
 * declaration order). Per request the table is walked once: an entry wins when it matches and its
 * route's hostname score (exact > longest wildcard > no hostnames) beats the best so far, so the
 * result honours hostname specificity first without sorting or allocating.
 *
 * Regexes are POSIX EREs (<regex.h>, REG_EXTENDED) matched against the whole value with
 * REG_STARTEND, so request bytes are never copied. glibc serialises regexec calls on one pattern,
 * which is acceptable for the few regex routes a gateway carries; a per-worker copy would lift it.
 */
#include "config_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- load time ------------------------------------------------------------------------------- */

int ig_config__check_hostname(ig_iov_t h, int wildcard, const char **why)
{
    size_t i = 0;
    if (h.len == 0 || h.len > 253) {
        *why = "must be 1 to 253 characters";
        return IG_EINVAL;
    }
    if (h.len >= 2 && h.base[0] == '*' && h.base[1] == '.') {
        if (!wildcard) {
            *why = "wildcards are not allowed here";
            return IG_EINVAL;
        }
        i = 2;
    }
    size_t label = 0;
    for (; i < h.len; i++) {
        char c = h.base[i];
        if (c >= 'A' && c <= 'Z')
            h.base[i] = (char)(c | 0x20); /* stored lower-case: requests compare case-insensitively */
        else if (c == '.') {
            if (label == 0) {
                *why = "empty label";
                return IG_EINVAL;
            }
            label = 0;
            continue;
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
            *why = c == '*' ? "'*' is only allowed as the first label (\"*.example.com\")" : "invalid character";
            return IG_EINVAL;
        }
        label++;
    }
    if (label == 0) {
        *why = "empty label";
        return IG_EINVAL;
    }
    return 0;
}

static int path_rank(const struct ig_cfg_str_match *p)
{
    return p->kind == IG_CFG_MATCH_EXACT ? 3 : p->kind == IG_CFG_MATCH_PREFIX ? 2 : 1;
}

static int cmp_entries(const void *pa, const void *pb)
{
    const struct ig_cfg_route_entry *a = pa, *b = pb;
    const struct ig_cfg_route_match *ma = a->match, *mb = b->match;
    int ra = path_rank(&ma->path), rb = path_rank(&mb->path);
    if (ra != rb)
        return rb - ra;
    if (ma->path.value.len != mb->path.value.len)
        return ma->path.value.len > mb->path.value.len ? -1 : 1;
    if ((ma->method.len != 0) != (mb->method.len != 0))
        return ma->method.len ? -1 : 1;
    if (ma->n_headers != mb->n_headers)
        return ma->n_headers > mb->n_headers ? -1 : 1;
    if (ma->n_query != mb->n_query)
        return ma->n_query > mb->n_query ? -1 : 1;
    if (a->route->index != b->route->index)
        return a->route->index < b->route->index ? -1 : 1;
    return ma < mb ? -1 : ma > mb;
}

void ig_config__build_route_table(ig_pool_t *pool, struct ig_cfg_listener *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n_routes; i++)
        n += l->routes[i].n_matches;
    struct ig_cfg_route_entry *t = n ? ig_pool_alloc(pool, n * sizeof(*t)) : NULL;
    size_t k = 0;
    for (size_t i = 0; i < l->n_routes; i++)
        for (size_t j = 0; j < l->routes[i].n_matches; j++)
            t[k++] = (struct ig_cfg_route_entry){&l->routes[i], &l->routes[i].matches[j]};
    if (n > 1)
        qsort(t, n, sizeof(*t), cmp_entries);
    l->_table = t;
    l->_n_table = n;
}

/* ---- per request ----------------------------------------------------------------------------- */

/* Host without port and trailing dot. */
static ig_iov_t bare_host(ig_iov_t h)
{
    if (h.len == 0)
        return IG_STRLIT("");
    if (h.base[0] == '[') {
        const char *close = memchr(h.base, ']', h.len);
        if (close != NULL)
            return ig_iov(h.base + 1, (size_t)(close - h.base - 1));
        return h;
    }
    const char *colon = memchr(h.base, ':', h.len);
    if (colon != NULL && memchr(colon + 1, ':', h.len - (size_t)(colon - h.base) - 1) == NULL)
        h.len = (size_t)(colon - h.base);
    if (h.len > 0 && h.base[h.len - 1] == '.')
        h.len--;
    return h;
}

/*
 * How specifically |pattern| matches |host|: -1 no match, 1 + suffix length for "*.suffix"
 * (any number of labels before it), a larger value for an exact match.
 */
static long hostname_score(ig_iov_t pattern, ig_iov_t host)
{
    if (pattern.len >= 2 && pattern.base[0] == '*' && pattern.base[1] == '.') {
        ig_iov_t suffix = ig_iov(pattern.base + 1, pattern.len - 1); /* ".example.com" */
        if (host.len > suffix.len && ig_iov_eq_nocase(ig_iov(host.base + host.len - suffix.len, suffix.len), suffix))
            return 1 + (long)suffix.len;
        return -1;
    }
    if (ig_iov_eq_nocase(pattern, host))
        return (1L << 20) + (long)pattern.len;
    return -1;
}

static long route_host_score(const struct ig_cfg_route *r, ig_iov_t host)
{
    long best = -1;
    if (r->n_hostnames == 0)
        return 0;
    for (size_t i = 0; i < r->n_hostnames; i++) {
        long s = hostname_score(r->hostnames[i], host);
        if (s > best)
            best = s;
    }
    return best;
}

static int regex_full(const regex_t *re, ig_iov_t v)
{
    regmatch_t m[1];
    const char *base = v.base != NULL ? v.base : "";
    m[0].rm_so = 0;
    m[0].rm_eo = (regoff_t)v.len;
    if (regexec(re, base, 1, m, REG_STARTEND) != 0)
        return 0;
    return m[0].rm_so == 0 && (size_t)m[0].rm_eo == v.len;
}

static int value_matches(const struct ig_cfg_str_match *m, ig_iov_t v)
{
    if (m->kind == IG_CFG_MATCH_REGEX)
        return regex_full(m->re, v);
    return ig_iov_eq(m->value, v);
}

static int path_matches(const struct ig_cfg_str_match *m, ig_iov_t path)
{
    switch (m->kind) {
    case IG_CFG_MATCH_EXACT:
        return ig_iov_eq(m->value, path);
    case IG_CFG_MATCH_PREFIX: {
        /* Element-wise: "/foo" matches "/foo", "/foo/" and "/foo/bar", not "/foobar". */
        ig_iov_t p = m->value;
        while (p.len > 0 && p.base[p.len - 1] == '/')
            p.len--;
        while (path.len > 0 && path.base[path.len - 1] == '/')
            path.len--;
        if (path.len < p.len || (p.len > 0 && memcmp(path.base, p.base, p.len) != 0))
            return 0;
        return path.len == p.len || path.base[p.len] == '/';
    }
    default:
        return regex_full(m->re, path);
    }
}

static int find_header(const struct ig_cfg_request *req, ig_iov_t name, ig_iov_t *out)
{
    if (name.len > 0 && name.base[0] == ':') {
        if (ig_iov_eq(name, IG_STRLIT(":authority")))
            *out = req->host;
        else if (ig_iov_eq(name, IG_STRLIT(":method")))
            *out = req->method;
        else if (ig_iov_eq(name, IG_STRLIT(":path")))
            *out = req->path;
        else if (ig_iov_eq(name, IG_STRLIT(":scheme")))
            *out = req->scheme;
        else
            return 0;
        return 1;
    }
    for (size_t i = 0; i < req->n_headers; i++) {
        if (ig_iov_eq_nocase(req->headers[i].name, name)) {
            *out = req->headers[i].value;
            return 1;
        }
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* application/x-www-form-urlencoded decoding into |buf|; returns the length or -1 when too long. */
static long form_decode(ig_iov_t s, char *buf, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.base[i];
        if (o == cap)
            return -1;
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < s.len && hexval(s.base[i + 1]) >= 0 && hexval(s.base[i + 2]) >= 0) {
            c = (char)(hexval(s.base[i + 1]) * 16 + hexval(s.base[i + 2]));
            i += 2;
        }
        buf[o++] = c;
    }
    return (long)o;
}

#define QUERY_PART_MAX 2048

/* The first query parameter named |name| (decoded), as Gateway API requires. */
static int query_matches(const struct ig_cfg_kv_match *m, ig_iov_t query)
{
    char nbuf[QUERY_PART_MAX], vbuf[QUERY_PART_MAX];
    size_t i = 0;
    while (i <= query.len && query.len > 0) {
        const char *start = query.base + i;
        const char *amp = memchr(start, '&', query.len - i);
        size_t plen = amp ? (size_t)(amp - start) : query.len - i;
        i += plen + 1;
        if (plen == 0)
            continue;
        const char *eq = memchr(start, '=', plen);
        ig_iov_t rn = ig_iov(start, eq ? (size_t)(eq - start) : plen);
        ig_iov_t rv = eq ? ig_iov(eq + 1, plen - rn.len - 1) : IG_IOV_NULL;
        long nl = form_decode(rn, nbuf, sizeof(nbuf));
        if (nl < 0 || !ig_iov_eq(ig_iov(nbuf, (size_t)nl), m->name))
            continue;
        long vl = form_decode(rv, vbuf, sizeof(vbuf));
        return vl >= 0 && value_matches(&m->value, ig_iov(vbuf, (size_t)vl));
    }
    return 0;
}

static int match_entry(const struct ig_cfg_route_match *m, const struct ig_cfg_request *req, ig_iov_t path,
                       ig_iov_t query)
{
    if (m->method.len != 0 && !ig_iov_eq(m->method, req->method))
        return 0;
    if (!path_matches(&m->path, path))
        return 0;
    for (size_t i = 0; i < m->n_headers; i++) {
        ig_iov_t v;
        if (!find_header(req, m->headers[i].name, &v) || !value_matches(&m->headers[i].value, v))
            return 0;
    }
    for (size_t i = 0; i < m->n_query; i++)
        if (!query_matches(&m->query[i], query))
            return 0;
    return 1;
}

const struct ig_cfg_route *ig_config_match_route(const struct ig_cfg_listener *listener,
                                                 const struct ig_cfg_request *req,
                                                 const struct ig_cfg_route_match **matched)
{
    ig_iov_t path = req->path, query = IG_IOV_NULL, host = bare_host(req->host);
    const char *q = path.len ? memchr(path.base, '?', path.len) : NULL;
    const struct ig_cfg_route_entry *best = NULL;
    long best_score = -1;
    if (q != NULL) {
        query = ig_iov(q + 1, path.len - (size_t)(q - path.base) - 1);
        path.len = (size_t)(q - path.base);
    }
    for (size_t i = 0; i < listener->_n_table; i++) {
        const struct ig_cfg_route_entry *e = &listener->_table[i];
        long s = route_host_score(e->route, host);
        if (s <= best_score)
            continue;
        if (match_entry(e->match, req, path, query)) {
            best = e;
            best_score = s;
        }
    }
    if (matched != NULL)
        *matched = best ? best->match : NULL;
    return best ? best->route : NULL;
}

const struct ig_cfg_listener *ig_config_select_listener(const struct ig_cfg_bind *bind, ig_iov_t host)
{
    const struct ig_cfg_listener *best = NULL;
    long best_score = -1;
    host = bare_host(host);
    for (size_t i = 0; i < bind->n_listeners; i++) {
        const struct ig_cfg_listener *l = &bind->listeners[i];
        long s = l->hostname.len == 0 ? 0 : hostname_score(l->hostname, host);
        if (s > best_score) {
            best = l;
            best_score = s;
        }
    }
    return best;
}

const struct ig_cfg_bind *ig_config_find_bind(const struct ig_config *cfg, uint16_t port)
{
    for (size_t i = 0; i < cfg->n_binds; i++)
        if (cfg->binds[i].port == port)
            return &cfg->binds[i];
    return NULL;
}
