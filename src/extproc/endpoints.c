/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The destination value an Endpoint Picker returns: "ip:port" or an ordered, comma-separated list
 * of them (IPv6 as "[addr]:port"). The first valid entry is the primary, the rest are fallbacks
 * for retries. Invalid entries are skipped rather than failing the request, so one bad entry
 * cannot take down a pick that also names good endpoints.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "ig/extproc.h"

/* Parses one trimmed entry into |ep|; returns 0 or IG_EINVAL. */
static int parse_one(ig_iov_t s, struct ig_extproc_endpoint *ep)
{
    char host[INET6_ADDRSTRLEN];
    ig_iov_t h, port;
    uint64_t pv;

    if (s.len == 0 || s.len >= sizeof(ep->text))
        return IG_EINVAL;
    if (s.base[0] == '[') {
        const char *close = memchr(s.base, ']', s.len);
        if (close == NULL || close + 1 >= s.base + s.len || close[1] != ':')
            return IG_EINVAL;
        h = ig_iov(s.base + 1, (size_t)(close - s.base - 1));
        port = ig_iov(close + 2, (size_t)(s.base + s.len - close - 2));
    } else {
        const char *colon = memchr(s.base, ':', s.len);
        /* A second colon means an unbracketed IPv6 address: ambiguous, so invalid. */
        if (colon == NULL || memchr(colon + 1, ':', (size_t)(s.base + s.len - colon - 1)) != NULL)
            return IG_EINVAL;
        h = ig_iov(s.base, (size_t)(colon - s.base));
        port = ig_iov(colon + 1, (size_t)(s.base + s.len - colon - 1));
    }
    if (h.len == 0 || h.len >= sizeof(host) || port.len > 5 || ig_iov_to_u64(port, &pv) != 0 || pv == 0 || pv > 65535)
        return IG_EINVAL;
    memcpy(host, h.base, h.len);
    host[h.len] = '\0';

    memset(&ep->addr, 0, sizeof(ep->addr));
    if (s.base[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ep->addr;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            return IG_EINVAL;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)pv);
        ep->addr_len = sizeof(*a6);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ep->addr;
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
            return IG_EINVAL;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)pv);
        ep->addr_len = sizeof(*a4);
    }
    memcpy(ep->text, s.base, s.len);
    ep->text[s.len] = '\0';
    return 0;
}

size_t ig_extproc_parse_endpoints(ig_iov_t value, struct ig_extproc_endpoint *out, size_t max)
{
    size_t n = 0;

    if (value.len == 0)
        return 0;
    const char *p = value.base;
    const char *end = value.base + value.len;
    while (n < max) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma != NULL ? comma : end;
        ig_iov_t entry = ig_iov_trim(ig_iov(p, (size_t)(stop - p)));
        if (parse_one(entry, &out[n]) == 0)
            n++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return n;
}
