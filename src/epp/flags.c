/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Command-line flags of `infergate epp` that the data layer reads, with the reference EPP's names
 * and defaults so a Deployment written for it starts ours unchanged, plus the standalone endpoint
 * sources (--endpoints, --endpoints-file). Parsing follows Go's flag package: one or two dashes,
 * `--name value` or `--name=value`, booleans only as `--name` or `--name=<bool>`. Discovery flags
 * that need the Kubernetes API are recognised and refused with a message saying so.
 */
#include "epp_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "ig/config.h"

enum flag_kind {
    F_PORT = 0,
    F_STRING,
    F_BOOL,
    F_DURATION,
    F_INT,
    F_PORTS, /* comma-separated, 1-8 ports */
    F_K8S,   /* needs the Kubernetes API */
    F_KIND_COUNT
};

struct flag {
    const char *name;
    enum flag_kind kind;
    size_t off; /* into struct ig_epp_flags; unused for F_K8S */
};

#define OFF(m) offsetof(struct ig_epp_flags, m)

static const struct flag flags[] = {
    {"grpc-port", F_PORT, OFF(grpc_port)},
    {"grpc-health-port", F_PORT, OFF(grpc_health_port)},
    {"metrics-port", F_PORT, OFF(metrics_port)},
    {"config-file", F_STRING, OFF(config_file)},
    {"config-text", F_STRING, OFF(config_text)},
    {"secure-serving", F_BOOL, OFF(secure_serving)},
    {"cert-path", F_STRING, OFF(cert_path)},
    {"refresh-metrics-interval", F_DURATION, OFF(refresh_metrics_interval_ns)},
    {"metrics-staleness-threshold", F_DURATION, OFF(metrics_staleness_ns)},
    {"pool-namespace", F_STRING, OFF(pool_namespace)},
    {"endpoint-target-ports", F_PORTS, OFF(n_target_ports)},
    {"endpoints", F_STRING, OFF(endpoints)},
    {"endpoints-file", F_STRING, OFF(endpoints_file)},
    {"objectives-file", F_STRING, OFF(objectives_file)},
    {"v", F_INT, OFF(verbosity)},
    {"pool-name", F_K8S, 0},
    {"pool-group", F_K8S, 0},
    {"endpoint-selector", F_K8S, 0},
};

static const char usage[] =
    "Data-layer flags of infergate epp (reference EPP names and defaults):\n"
    "  --grpc-port N                      ext_proc gRPC port (9002)\n"
    "  --grpc-health-port N               gRPC health port (9003)\n"
    "  --metrics-port N                   Prometheus /metrics port (9090)\n"
    "  --config-file FILE | --config-text TEXT   EndpointPickerConfig (default: built in)\n"
    "  --secure-serving[=BOOL]            TLS on the gRPC port (true)\n"
    "  --cert-path DIR                    tls.crt and tls.key (default: self-signed)\n"
    "  --refresh-metrics-interval DUR     model-server metrics poll interval (50ms)\n"
    "  --metrics-staleness-threshold DUR  metrics older than this are stale (2s)\n"
    "  --pool-namespace NS                namespace label (env NAMESPACE, else default)\n"
    "  --endpoint-target-ports P,...      target ports (with --endpoint-selector only)\n"
    "  -v N                               log verbosity, 2 default .. 5 trace\n"
    "Endpoints (exactly one):\n"
    "  --endpoints IP:PORT,...            a static list\n"
    "  --endpoints-file FILE              YAML/JSON list of {address, metricsPort, labels}, watched\n"
    "InferenceObjectives and InferenceModelRewrites (optional):\n"
    "  --objectives-file FILE             YAML/JSON resources, watched\n"
    "Not available in this build (need Kubernetes): --pool-name, --pool-group, --endpoint-selector\n";

const char *ig_epp_flags_usage(void)
{
    return usage;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < IG_ARRAY_LEN(yes); i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return IG_EINVAL;
}

static int parse_port(const char *v, uint16_t *out)
{
    uint64_t n;
    if (ig_iov_to_u64(ig_iov_cstr(v), &n) != 0 || n > 65535)
        return IG_EINVAL;
    *out = (uint16_t)n;
    return 0;
}

static int parse_ports(const char *v, struct ig_epp_flags *f)
{
    ig_iov_t items[IG_ARRAY_LEN(f->target_ports) + 1];
    size_t n = ig_prom_split_list(ig_iov_cstr(v), items, IG_ARRAY_LEN(items));
    if (n == 0 || n > IG_ARRAY_LEN(f->target_ports))
        return IG_EINVAL;
    for (size_t i = 0; i < n; i++) {
        uint64_t p;
        if (ig_iov_to_u64(items[i], &p) != 0 || p == 0 || p > 65535)
            return IG_EINVAL;
        f->target_ports[i] = (uint16_t)p;
    }
    f->n_target_ports = n;
    return 0;
}

static int set_value(struct ig_epp_flags *f, const struct flag *fl, const char *v, char *err, size_t errlen)
{
    char *field = (char *)f + fl->off;
    const char *why = NULL;
    int rc = 0;
    switch (fl->kind) {
    case F_PORT:
        rc = parse_port(v, (uint16_t *)(void *)field);
        why = "expected a port number 0-65535";
        break;
    case F_STRING:
        *(const char **)(void *)field = v;
        break;
    case F_BOOL:
        rc = parse_bool(v, (int *)(void *)field);
        why = "expected true or false";
        break;
    case F_DURATION:
        rc = ig_config_parse_duration(ig_iov_cstr(v), (uint64_t *)(void *)field, &why);
        if (rc == 0 && *(uint64_t *)(void *)field == 0) {
            rc = IG_EINVAL;
            why = "must be positive";
        }
        break;
    case F_INT: {
        char *end = NULL;
        long n = strtol(v, &end, 10);
        rc = (*v == '\0' || *end != '\0' || n < 0 || n > 10) ? IG_EINVAL : 0;
        if (rc == 0)
            *(int *)(void *)field = (int)n;
        why = "expected an integer 0-10";
        break;
    }
    case F_PORTS:
        rc = parse_ports(v, f);
        why = "expected 1 to 8 comma-separated ports";
        break;
    default:
        rc = IG_EINVAL;
        break;
    }
    if (rc != 0)
        ig_epp__errf(err, errlen, "invalid value \"%s\" for flag -%s: %s", v, fl->name, why ? why : "bad value");
    return rc;
}

static const struct flag *find_flag(ig_iov_t name)
{
    for (size_t i = 0; i < IG_ARRAY_LEN(flags); i++) {
        if (ig_iov_eq(name, ig_iov_cstr(flags[i].name)))
            return &flags[i];
    }
    return NULL;
}

static int is_alnum_lower(ig_iov_t s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (!((s.base[i] >= 'a' && s.base[i] <= 'z') || (s.base[i] >= '0' && s.base[i] <= '9')))
            return 0;
    }
    return s.len > 0;
}

/* `^(.+)-[a-z0-9]+-[a-z0-9]+$` on a pod name: the Deployment's name, or an empty slice. */
static ig_iov_t deployment_of(const char *pod)
{
    ig_iov_t s = ig_iov_cstr(pod);
    for (int part = 0; part < 2; part++) {
        const char *dash = s.len ? memrchr(s.base, '-', s.len) : NULL;
        if (dash == NULL || !is_alnum_lower(ig_iov(dash + 1, s.len - (size_t)(dash - s.base) - 1)))
            return IG_IOV_NULL;
        s.len = (size_t)(dash - s.base);
    }
    return s;
}

int ig_epp_flags_parse(struct ig_epp_flags *f, int argc, char **argv, char *err, size_t errlen)
{
    memset(f, 0, sizeof(*f));
    f->grpc_port = 9002;
    f->grpc_health_port = 9003;
    f->metrics_port = 9090;
    f->secure_serving = 1;
    f->refresh_metrics_interval_ns = 50 * 1000000ull;
    f->metrics_staleness_ns = 2000 * 1000000ull;
    f->verbosity = 2;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0') {
            ig_epp__errf(err, errlen, "unexpected argument \"%s\"", a);
            return IG_EINVAL;
        }
        a += a[1] == '-' ? 2 : 1;
        const char *eq = strchr(a, '=');
        ig_iov_t name = ig_iov(a, eq != NULL ? (size_t)(eq - a) : strlen(a));
        const struct flag *fl = find_flag(name);
        if (fl == NULL) {
            ig_epp__errf(err, errlen, "flag provided but not defined: -%.*s", (int)name.len, name.base);
            return IG_EINVAL;
        }
        if (fl->kind == F_K8S) {
            ig_epp__errf(err, errlen,
                         "-%s needs Kubernetes, not available in this build: use --endpoints or --endpoints-file",
                         fl->name);
            return IG_EINVAL;
        }
        const char *v = eq != NULL ? eq + 1 : NULL;
        if (v == NULL && fl->kind == F_BOOL)
            v = "true";
        if (v == NULL) {
            if (i + 1 >= argc) {
                ig_epp__errf(err, errlen, "flag needs an argument: -%s", fl->name);
                return IG_EINVAL;
            }
            v = argv[++i];
        }
        if (set_value(f, fl, v, err, errlen) != 0)
            return IG_EINVAL;
    }
    if (f->config_file != NULL && f->config_text != NULL) {
        ig_epp__errf(err, errlen, "--config-file and --config-text are mutually exclusive");
        return IG_EINVAL;
    }
    if ((f->endpoints != NULL) == (f->endpoints_file != NULL)) {
        ig_epp__errf(err, errlen,
                     f->endpoints != NULL ? "--endpoints and --endpoints-file are mutually exclusive"
                                          : "no endpoint source: give --endpoints ip:port,... or --endpoints-file FILE "
                                            "(--pool-name and --endpoint-selector need Kubernetes, not available in "
                                            "this build)");
        return IG_EINVAL;
    }
    const char *pod = getenv("POD_NAME");
    ig_iov_t dep = pod != NULL ? deployment_of(pod) : IG_IOV_NULL;
    if (dep.len > 0 && dep.len < sizeof(f->pool_name))
        memcpy(f->pool_name, dep.base, dep.len);
    else
        memcpy(f->pool_name, "infergate-epp", sizeof("infergate-epp"));
    if (f->pool_namespace == NULL || f->pool_namespace[0] == '\0') {
        const char *ns = getenv("NAMESPACE");
        f->pool_namespace = ns != NULL && ns[0] != '\0' ? ns : "default";
    }
    return 0;
}
