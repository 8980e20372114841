/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Socket address text forms used in configuration and logs: "host:port", "[v6]:port", ":port"
 * and "port". Only numeric hosts and "localhost" are accepted, because a name lookup would block
 * the loop; names are resolved elsewhere, off the hot path.
 */
#include <arpa/inet.h>
#include <stdio.h>

#include "ig/loop.h"

static int parse_port(ig_iov_t s, in_port_t *out)
{
    uint64_t v;
    if (ig_iov_to_u64(s, &v) != 0 || v > 65535 || s.len > 5)
        return IG_EINVAL;
    *out = htons((in_port_t)v);
    return 0;
}

int ig_addr_parse(const char *text, struct sockaddr_storage *out)
{
    char host[INET6_ADDRSTRLEN + 1];
    ig_iov_t port;
    const char *colon;
    size_t hlen;
    int v6 = 0;

    if (text == NULL)
        return IG_EINVAL;
    memset(out, 0, sizeof(*out));
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (end == NULL || end[1] != ':')
            return IG_EINVAL;
        hlen = (size_t)(end - text - 1);
        if (hlen == 0 || hlen >= sizeof(host))
            return IG_EINVAL;
        memcpy(host, text + 1, hlen);
        host[hlen] = '\0';
        port = ig_iov_cstr(end + 2);
        v6 = 1;
    } else if ((colon = strrchr(text, ':')) != NULL) {
        if (memchr(text, ':', (size_t)(colon - text)) != NULL)
            return IG_EINVAL; /* a bare IPv6 address needs brackets */
        hlen = (size_t)(colon - text);
        if (hlen >= sizeof(host))
            return IG_EINVAL;
        memcpy(host, text, hlen);
        host[hlen] = '\0';
        port = ig_iov_cstr(colon + 1);
    } else {
        host[0] = '\0';
        port = ig_iov_cstr(text);
    }

    in_port_t nport;
    if (parse_port(port, &nport) != 0)
        return IG_EINVAL;
    if (v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            return IG_EINVAL;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = nport;
        return 0;
    }
    struct sockaddr_in *sin = (struct sockaddr_in *)out;
    sin->sin_family = AF_INET;
    sin->sin_port = nport;
    if (host[0] == '\0') {
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (strcmp(host, "localhost") == 0) {
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
        memset(out, 0, sizeof(*out));
        return IG_EINVAL;
    }
    return 0;
}

char *ig_addr_format(const struct sockaddr *sa, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];
    if (size == 0)
        return buf;
    if (sa == NULL) {
        snprintf(buf, size, "?");
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
        snprintf(buf, size, "%s:%u", ip, (unsigned)ntohs(sin->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
        snprintf(buf, size, "[%s]:%u", ip, (unsigned)ntohs(sin6->sin6_port));
    } else {
        snprintf(buf, size, "?");
    }
    return buf;
}
