/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The static endpoint source, `--endpoints ip:port,ip:port,...`: the standalone EPP's simplest
 * discovery, for a fixed set of model servers on this machine or in a test. The list is parsed
 * once at start-up into declarations for ig_epp_datastore_set; metrics are read from each
 * endpoint's own port and the engine is the default one (no labels). Also the declaration list
 * helpers shared with the file source.
 */
#include "epp_int.h"

void ig_epp_endpoint_list_init(struct ig_epp_endpoint_list *l)
{
    memset(l, 0, sizeof(*l));
    ig_pool_init(&l->pool);
}

void ig_epp_endpoint_list_dispose(struct ig_epp_endpoint_list *l)
{
    ig_pool_dispose(&l->pool);
    l->v = NULL;
    l->n = 0;
}

int ig_epp_endpoints_parse(const char *text, struct ig_epp_endpoint_list *out, char *err, size_t errlen)
{
    size_t len = text != NULL ? strlen(text) : 0;
    size_t items = 1;
    for (size_t i = 0; i < len; i++)
        items += text[i] == ',';
    if (items > IG_EPP_MAX_ENDPOINTS) {
        ig_epp__errf(err, errlen, "--endpoints: more than %d endpoints", IG_EPP_MAX_ENDPOINTS);
        return IG_EINVAL;
    }
    struct ig_epp_endpoint_decl *v = ig_pool_calloc(&out->pool, items * sizeof(*v));
    size_t n = 0;
    const char *p = text, *end = text + len;
    while (p <= end && len > 0) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma != NULL ? comma : end;
        ig_iov_t item = ig_iov_trim(ig_iov(p, (size_t)(stop - p)));
        struct sockaddr_storage sa;
        uint16_t port;
        if (item.len == 0) {
            ig_epp__errf(err, errlen, "--endpoints: empty item at offset %zu", (size_t)(p - text));
            return IG_EINVAL;
        }
        if (ig_epp__parse_hostport(item, &sa, &port) != 0) {
            ig_epp__errf(err, errlen, "--endpoints: \"%.*s\": expected a numeric ip:port (or [ipv6]:port)",
                         (int)item.len, item.base);
            return IG_EINVAL;
        }
        for (size_t j = 0; j < n; j++) {
            if (ig_iov_eq(v[j].address, item)) {
                ig_epp__errf(err, errlen, "--endpoints: \"%.*s\" is listed twice", (int)item.len, item.base);
                return IG_EINVAL;
            }
        }
        v[n].address = ig_pool_dup(&out->pool, item);
        n++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (n == 0) {
        ig_epp__errf(err, errlen, "--endpoints: expected at least one ip:port");
        return IG_EINVAL;
    }
    out->v = v;
    out->n = n;
    return 0;
}
