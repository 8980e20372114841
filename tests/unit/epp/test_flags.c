/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The data layer's flags: reference defaults, Go flag syntax (one or two dashes, `=` or a separate
 * value, bare booleans), durations, and the errors: unknown flags, bad values, exclusive pairs,
 * the endpoint source requirement and the Kubernetes-only flags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "epp_int.h"

static struct ig_epp_flags f;
static char err[512];

/* Parses the NULL-terminated arguments. */
static int parse_args(const char *first, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a != NULL && argc < 32; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    return ig_epp_flags_parse(&f, argc, argv, err, sizeof(err));
}
#define PARSE(...) parse_args(__VA_ARGS__, (const char *)NULL)

static void test_defaults(void **state)
{
    (void)state;
    unsetenv("NAMESPACE");
    assert_int_equal(PARSE("--endpoints", "127.0.0.1:8000"), 0);
    assert_int_equal(f.grpc_port, 9002);
    assert_int_equal(f.grpc_health_port, 9003);
    assert_int_equal(f.metrics_port, 9090);
    assert_int_equal(f.secure_serving, 1);
    assert_null(f.cert_path);
    assert_null(f.config_file);
    assert_int_equal(f.refresh_metrics_interval_ns, 50 * 1000000ull);
    assert_int_equal(f.metrics_staleness_ns, 2000 * 1000000ull);
    assert_int_equal(f.verbosity, 2);
    assert_string_equal(f.pool_namespace, "default");
    assert_string_equal(f.endpoints, "127.0.0.1:8000");
    assert_string_equal(f.pool_name, "infergate-epp");
    setenv("POD_NAME", "vllm-llama3-epp-5d8f7c9b4-x2x9k", 1);
    assert_int_equal(PARSE("--endpoints", "127.0.0.1:8000"), 0);
    assert_string_equal(f.pool_name, "vllm-llama3-epp");
    setenv("POD_NAME", "just-one", 1); /* does not match: the default */
    assert_int_equal(PARSE("--endpoints", "127.0.0.1:8000"), 0);
    assert_string_equal(f.pool_name, "infergate-epp");
    setenv("POD_NAME", "a-B-c", 1);
    assert_int_equal(PARSE("--endpoints", "127.0.0.1:8000"), 0);
    assert_string_equal(f.pool_name, "infergate-epp");
    unsetenv("POD_NAME");
    setenv("NAMESPACE", "team-a", 1);
    assert_int_equal(PARSE("--endpoints=127.0.0.1:8000"), 0);
    assert_string_equal(f.pool_namespace, "team-a");
    assert_int_equal(PARSE("--endpoints=127.0.0.1:8000", "--pool-namespace", "ns2"), 0);
    assert_string_equal(f.pool_namespace, "ns2");
    unsetenv("NAMESPACE");
}

static void test_values(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-grpc-port=19002", "--grpc-health-port", "0", "--metrics-port=9999",
                           "--secure-serving=false", "--cert-path", "/certs", "--refresh-metrics-interval", "250ms",
                           "--metrics-staleness-threshold=1m30s", "-v", "4", "--endpoints-file", "/etc/eps.yaml",
                           "--config-text", "kind: EndpointPickerConfig", "--endpoint-target-ports", "8000, 8001"),
                     0);
    assert_int_equal(f.grpc_port, 19002);
    assert_int_equal(f.grpc_health_port, 0);
    assert_int_equal(f.metrics_port, 9999);
    assert_int_equal(f.secure_serving, 0);
    assert_string_equal(f.cert_path, "/certs");
    assert_int_equal(f.refresh_metrics_interval_ns, 250 * 1000000ull);
    assert_int_equal(f.metrics_staleness_ns, 90 * 1000000000ull);
    assert_int_equal(f.verbosity, 4);
    assert_string_equal(f.endpoints_file, "/etc/eps.yaml");
    assert_string_equal(f.config_text, "kind: EndpointPickerConfig");
    assert_int_equal(f.n_target_ports, 2);
    assert_int_equal(f.target_ports[1], 8001);
    /* A bare boolean is true and does not take the next argument. */
    assert_int_equal(PARSE("--secure-serving=0", "--secure-serving", "--endpoints", "127.0.0.1:1"), 0);
    assert_int_equal(f.secure_serving, 1);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b, *msg;
    } cases[] = {
        {"--nope", "1", "flag provided but not defined: -nope"},
        {"--grpc-port", "70000", "invalid value \"70000\" for flag -grpc-port"},
        {"--refresh-metrics-interval", "50", "invalid value \"50\" for flag -refresh-metrics-interval"},
        {"--refresh-metrics-interval", "0s", "must be positive"},
        {"--secure-serving=maybe", "--endpoints=127.0.0.1:1", "invalid value \"maybe\""},
        {"-v", "x", "invalid value \"x\" for flag -v"},
        {"--endpoint-target-ports", "1,2,3,4,5,6,7,8,9", "expected 1 to 8"},
        {"--pool-name", "p", "-pool-name needs Kubernetes, not available in this build"},
        {"--endpoint-selector=app=vllm", "--endpoints=127.0.0.1:1", "-endpoint-selector needs Kubernetes"},
        {"--endpoints=127.0.0.1:1", "--endpoints-file=x", "mutually exclusive"},
        {"--config-file=a", "--config-text=b", "--config-file and --config-text are mutually exclusive"},
        {"--config-file=a", "stray", "unexpected argument \"stray\""},
        {"--v=2", "--secure-serving", "no endpoint source"},
    };
    for (size_t i = 0; i < IG_ARRAY_LEN(cases); i++) {
        char a[64], b[64];
        snprintf(a, sizeof(a), "%s", cases[i].a);
        snprintf(b, sizeof(b), "%s", cases[i].b);
        char *argv[] = {a, b};
        int rc = ig_epp_flags_parse(&f, 2, argv, err, sizeof(err));
        if (rc != IG_EINVAL || strstr(err, cases[i].msg) == NULL)
            fail_msg("case %zu: rc %d err \"%s\"", i, rc, err);
    }
    assert_int_equal(PARSE("--v=2"), IG_EINVAL);
    assert_non_null(strstr(err, "no endpoint source"));
    assert_int_equal(PARSE("--grpc-port"), IG_EINVAL);
    assert_non_null(strstr(err, "flag needs an argument: -grpc-port"));
    assert_non_null(strstr(ig_epp_flags_usage(), "--endpoints-file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
