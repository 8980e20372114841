/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Addresses of the file format: "host:port" targets (IP literal, "[v6]:port" or DNS name) and the
 * process's listening addresses ("off", "localhost:PORT", "ip:port"), as agentgateway reads
 * adminAddr / statsAddr / readinessAddr. IP literals are converted to socket addresses once here
 * so the gateway never parses them again.
 */
#include "config_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

int ig_config__parse_ip(ig_iov_t s, struct sockaddr_storage *out, socklen_t *len)
{
    char buf[INET6_ADDRSTRLEN + 1];
    if (s.len == 0 || s.len >= sizeof(buf))
        return IG_EINVAL;
    memcpy(buf, s.base, s.len);
    buf[s.len] = '\0';
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, buf, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        *len = sizeof(*v4);
        return 0;
    }
    if (inet_pton(AF_INET6, buf, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        *len = sizeof(*v6);
        return 0;
    }
    return IG_EINVAL;
}

static int parse_port(ig_iov_t s, uint16_t *port)
{
    uint64_t v;
    if (ig_iov_to_u64(s, &v) != 0 || v > UINT16_MAX)
        return IG_EINVAL;
    *port = (uint16_t)v;
    return 0;
}

/* DNS names: letters, digits, '-', '_' and '.'; no empty label. */
static int valid_dns_name(ig_iov_t h)
{
    if (h.len == 0 || h.len > 253 || h.base[0] == '.' || h.base[0] == '-')
        return 0;
    for (size_t i = 0; i < h.len; i++) {
        char c = h.base[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                 c == '.';
        if (!ok || (c == '.' && i + 1 < h.len && h.base[i + 1] == '.'))
            return 0;
    }
    return 1;
}

int ig_config__parse_hostport(ig_pool_t *pool, ig_iov_t s, struct ig_cfg_hostport *out, const char **why)
{
    ig_iov_t host, port;
    memset(out, 0, sizeof(*out));
    if (s.len > 0 && s.base[0] == '[') {
        const char *close = memchr(s.base, ']', s.len);
        if (close == NULL) {
            *why = "missing ']' after an IPv6 address";
            return IG_EINVAL;
        }
        host = ig_iov(s.base + 1, (size_t)(close - s.base - 1));
        size_t rest = s.len - (size_t)(close - s.base) - 1;
        if (rest == 0 || close[1] != ':') {
            *why = "expected host:port";
            return IG_EINVAL;
        }
        port = ig_iov(close + 2, rest - 1);
        if (ig_config__parse_ip(host, &out->sa, &out->salen) != 0 || out->sa.ss_family != AF_INET6) {
            *why = "invalid IPv6 address";
            return IG_EINVAL;
        }
    } else {
        const char *colon = NULL;
        for (size_t i = s.len; i > 0; i--) {
            if (s.base[i - 1] == ':') {
                colon = s.base + i - 1;
                break;
            }
        }
        if (colon == NULL) {
            *why = "expected host:port";
            return IG_EINVAL;
        }
        host = ig_iov(s.base, (size_t)(colon - s.base));
        port = ig_iov(colon + 1, s.len - host.len - 1);
        if (memchr(host.base, ':', host.len) != NULL) {
            *why = "an IPv6 address must be written in brackets: [addr]:port";
            return IG_EINVAL;
        }
        if (ig_config__parse_ip(host, &out->sa, &out->salen) != 0) {
            if (!valid_dns_name(host)) {
                *why = "invalid host name";
                return IG_EINVAL;
            }
            out->salen = 0;
            memset(&out->sa, 0, sizeof(out->sa));
        }
    }
    if (parse_port(port, &out->port) != 0) {
        *why = "invalid port";
        return IG_EINVAL;
    }
    out->family = out->salen ? out->sa.ss_family : AF_UNSPEC;
    if (out->family == AF_INET)
        ((struct sockaddr_in *)&out->sa)->sin_port = htons(out->port);
    else if (out->family == AF_INET6)
        ((struct sockaddr_in6 *)&out->sa)->sin6_port = htons(out->port);
    out->text = ig_pool_dup(pool, s);
    out->host = ig_pool_dup(pool, host);
    return 0;
}

int ig_config__parse_addr(ig_pool_t *pool, ig_iov_t s, struct ig_cfg_addr *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    if (ig_iov_eq(s, IG_STRLIT("off"))) {
        out->kind = IG_CFG_ADDR_OFF;
        out->hp.text = ig_pool_dup(pool, s);
        return 0;
    }
    if (s.len >= 5 && memcmp(s.base, "unix:", 5) == 0) {
        *why = "unix socket addresses are not supported by infergate";
        return IG_EINVAL;
    }
    if (s.len >= 10 && memcmp(s.base, "localhost:", 10) == 0) {
        if (parse_port(ig_iov(s.base + 10, s.len - 10), &out->hp.port) != 0) {
            *why = "invalid port";
            return IG_EINVAL;
        }
        out->kind = IG_CFG_ADDR_LOCALHOST;
        out->hp.text = ig_pool_dup(pool, s);
        out->hp.host = ig_pool_dup(pool, IG_STRLIT("localhost"));
        out->hp.family = AF_UNSPEC;
        return 0;
    }
    if (ig_config__parse_hostport(pool, s, &out->hp, why) != 0)
        return IG_EINVAL;
    if (out->hp.family == AF_UNSPEC) {
        *why = "expected an IP address and port (or localhost:PORT, or off)";
        return IG_EINVAL;
    }
    out->kind = IG_CFG_ADDR_IP;
    return 0;
}
