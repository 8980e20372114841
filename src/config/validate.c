/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cross-references, once the whole file is decoded: route backends and endpoint pickers that name
 * a service ("<namespace>/<hostname>", split at the first '/', looked up by namespace + hostname as
 * agentgateway does) or a named backend are pointed at it; workloads become the endpoint lists of
 * the service ports they name; and every listener gets its precedence-sorted route table. Unknown
 * names and ports are errors at the position of the reference.
 */
#include "config_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static struct ig_cfg_service *find_service(struct ig_config *cfg, ig_iov_t key)
{
    for (size_t i = 0; i < cfg->n_services; i++)
        if (ig_iov_eq(cfg->services[i].key, key))
            return &cfg->services[i];
    return NULL;
}

const struct ig_cfg_service *ig_config_find_service(const struct ig_config *cfg, ig_iov_t key)
{
    return find_service((struct ig_config *)cfg, key);
}

static struct ig_cfg_service_port *find_port(struct ig_cfg_service *s, uint16_t port)
{
    for (size_t i = 0; i < s->n_ports; i++)
        if (s->ports[i].port == port)
            return &s->ports[i];
    return NULL;
}

static void ref_err(struct ig_cfg_dec *d, uint32_t line, uint32_t col, const char *path, const char *fmt, ...)
    IG_PRINTF(5, 6);
static void ref_err(struct ig_cfg_dec *d, uint32_t line, uint32_t col, const char *path, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ig_config__diag(d->dg, line, col, path, "%s", msg);
}

static void resolve_target(struct ig_cfg_dec *d, const struct ig_cfg_ref *r)
{
    struct ig_config *cfg = d->cfg;
    struct ig_cfg_target *t = r->target;
    if (t->kind == IG_CFG_TARGET_SERVICE) {
        struct ig_cfg_service *s = find_service(cfg, r->name);
        if (s == NULL) {
            ref_err(d, r->line, r->col, r->path,
                    "unknown service \"%.128s\" (no services[] entry with this "
                    "namespace/hostname)",
                    r->name.base);
            return;
        }
        struct ig_cfg_service_port *p = find_port(s, t->port);
        if (p == NULL) {
            ref_err(d, r->line, r->col, r->path, "service \"%.128s\" has no port %u", r->name.base, t->port);
            return;
        }
        t->service = s;
        t->service_port = p;
        return;
    }
    for (size_t i = 0; i < cfg->n_backends; i++) {
        if (ig_iov_eq(cfg->backends[i].name, r->name)) {
            t->backend = &cfg->backends[i];
            return;
        }
    }
    ref_err(d, r->line, r->col, r->path, "unknown backend \"%.128s\" (no backends[] entry with this name)",
            r->name.base);
}

static void fill_endpoint(ig_pool_t *pool, struct ig_cfg_endpoint *e, ig_iov_t ip, uint16_t port,
                          const struct ig_cfg_workload *w)
{
    struct ig_cfg_hostport *hp = &e->addr;
    memset(hp, 0, sizeof(*hp));
    ig_config__parse_ip(ip, &hp->sa, &hp->salen);
    hp->family = hp->sa.ss_family;
    hp->port = port;
    if (hp->family == AF_INET)
        ((struct sockaddr_in *)&hp->sa)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)&hp->sa)->sin6_port = htons(port);
    hp->host = ig_pool_dup(pool, ip);
    hp->text = ig_iov_cstr(hp->family == AF_INET6 ? ig_pool_printf(pool, "[%s]:%u", ip.base, port)
                                                  : ig_pool_printf(pool, "%s:%u", ip.base, port));
    e->workload = w;
    e->healthy = w->healthy;
    e->capacity = w->capacity;
}

/* Two passes over the workload references: count endpoints per service port, then fill them. */
static void build_endpoints(struct ig_cfg_dec *d)
{
    struct ig_config *cfg = d->cfg;
    for (int pass = 0; pass < 2; pass++) {
        for (struct ig_workload_ref *r = d->wrefs; r != NULL; r = r->next) {
            struct ig_cfg_service *s = find_service(cfg, r->service);
            if (s == NULL) {
                if (pass == 0)
                    ref_err(d, r->line, r->col, r->path, "unknown service \"%.128s\"", r->service.base);
                continue;
            }
            for (size_t j = 0; j < r->n_ports; j++) {
                struct ig_cfg_service_port *p = find_port(s, r->svc_ports[j]);
                if (p == NULL) {
                    if (pass == 0)
                        ref_err(d, r->line, r->col, r->path, "service \"%.128s\" has no port %u", r->service.base,
                                r->svc_ports[j]);
                    continue;
                }
                for (size_t k = 0; k < r->workload->n_ips; k++) {
                    if (pass == 0)
                        p->n_endpoints++;
                    else
                        fill_endpoint(d->pool, &p->endpoints[p->n_endpoints++], r->workload->ips[k], r->target_ports[j],
                                      r->workload);
                }
            }
        }
        if (pass == 0) {
            for (size_t i = 0; i < cfg->n_services; i++) {
                struct ig_cfg_service *s = &cfg->services[i];
                for (size_t j = 0; j < s->n_ports; j++) {
                    struct ig_cfg_service_port *p = &s->ports[j];
                    p->endpoints =
                        p->n_endpoints ? ig_pool_calloc(d->pool, p->n_endpoints * sizeof(*p->endpoints)) : NULL;
                    p->n_endpoints = 0;
                }
            }
        }
    }
}

int ig_config__resolve(struct ig_cfg_dec *d)
{
    struct ig_config *cfg = d->cfg;
    int before = d->dg->count;
    for (struct ig_cfg_ref *r = d->refs; r != NULL; r = r->next)
        resolve_target(d, r);
    build_endpoints(d);
    if (d->dg->count != before)
        return IG_EINVAL;
    for (size_t i = 0; i < cfg->n_binds; i++)
        for (size_t j = 0; j < cfg->binds[i].n_listeners; j++)
            ig_config__build_route_table(d->pool, &cfg->binds[i].listeners[j]);
    return 0;
}
