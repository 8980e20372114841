/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every class of configuration error with its exact "file:line:col: path: message" text: YAML
 * syntax, unknown and unsupported keys, wrong types, missing fields, bad enums, durations,
 * addresses and regexes, unknown references, duplicates, inferenceRouting placement, document
 * limits, several errors in one load and truncation to the caller's buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ig/config.h"

static char err[4096];

static int load(const char *text)
{
    struct ig_config *cfg = (struct ig_config *)1;
    int rc = ig_config_load_string("config.yaml", text, strlen(text), &cfg, err, sizeof(err));
    if (rc == 0)
        ig_config_unref(cfg);
    else
        assert_null(cfg);
    return rc;
}

#define EXPECT_ERR(text, msg)                                                                                          \
    do {                                                                                                               \
        assert_int_equal(load(text), IG_EINVAL);                                                                       \
        assert_string_equal(err, msg);                                                                                 \
    } while (0)

/* A valid prefix with one route backend; tests append to or edit it. */
#define SVC                                                                                                            \
    "services:\n"                                                                                                      \
    "- name: my-model\n"                                                                                               \
    "  namespace: default\n"                                                                                           \
    "  hostname: my-model\n"                                                                                           \
    "  vips: []\n"                                                                                                     \
    "  ports:\n"                                                                                                       \
    "    8000: 8000\n"

#define ROUTE_HEAD                                                                                                     \
    "binds:\n"                                                                                                         \
    "- port: 8081\n"                                                                                                   \
    "  listeners:\n"                                                                                                   \
    "  - name: default\n"                                                                                              \
    "    routes:\n"                                                                                                    \
    "    - name: r\n"

static void test_type_error_position(void **state)
{
    (void)state;
    /* The example of the documentation: a quoted port is a string. */
    EXPECT_ERR(SVC ROUTE_HEAD "      backends:\n"
                              "      - service:\n"
                              "          name: default/my-model\n"
                              "          port: \"8000\"\n",
               "config.yaml:17:17: binds[0].listeners[0].routes[0].backends[0].service.port: expected an integer");
    EXPECT_ERR("binds:\n- port: [8081]\n  listeners: []\n", "config.yaml:2:9: binds[0].port: expected an integer");
    EXPECT_ERR("binds:\n- port: 8081\n  listeners: []\n  mode: 3\n",
               "config.yaml:4:9: binds[0].mode: expected a string");
    /* One error per mistake: a service name of the wrong type is not also reported as malformed. */
    EXPECT_ERR(SVC ROUTE_HEAD "      backends:\n      - service: {name: 1, port: 8000}\n",
               "config.yaml:15:25: binds[0].listeners[0].routes[0].backends[0].service.name: expected a string");
    EXPECT_ERR("binds: {port: 1}\n", "config.yaml:1:8: binds: expected a sequence");
    EXPECT_ERR("config: [1]\n", "config.yaml:1:9: config: expected a mapping");
    EXPECT_ERR("- a\n", "config.yaml:1:1: expected a mapping at the top level");
    EXPECT_ERR("backends:\n- name: b\n  host: 127.0.0.1:1\n  policies:\n    backendTLS:\n      insecure: yes\n",
               "config.yaml:6:17: backends[0].policies.backendTLS.insecure: expected a boolean");
    EXPECT_ERR("binds:\n- port: 70000\n  listeners: []\n",
               "config.yaml:2:9: binds[0].port: 70000 is out of range (0..65535)");
    EXPECT_ERR("binds:\n- port: 0\n  listeners: []\n", "config.yaml:2:9: binds[0].port: must be between 1 and 65535");
}

static void test_unknown_and_unsupported_keys(void **state)
{
    (void)state;
    EXPECT_ERR("binds:\n- port: 8081\n  listeners:\n  - rotues: []\n",
               "config.yaml:4:5: binds[0].listeners[0].rotues: unknown field");
    EXPECT_ERR("bindz: []\n", "config.yaml:1:1: bindz: unknown field");
    EXPECT_ERR("binds:\n- port: 8081\n  listeners:\n  - tcpRoutes: []\n",
               "config.yaml:4:5: binds[0].listeners[0].tcpRoutes: not supported by infergate");
    EXPECT_ERR("gateways: {}\n", "config.yaml:1:1: gateways: not supported by infergate");
    EXPECT_ERR("config:\n  tracing:\n    otlpEndpoint: http://x:4317\n",
               "config.yaml:2:3: config.tracing: not supported by infergate");
    EXPECT_ERR(ROUTE_HEAD "      policies:\n        cors: {}\n",
               "config.yaml:8:9: binds[0].listeners[0].routes[0].policies.cors: not supported by infergate");
    EXPECT_ERR(ROUTE_HEAD "      backends:\n      - ai: {name: x}\n",
               "config.yaml:8:9: binds[0].listeners[0].routes[0].backends[0].ai: not supported by infergate");
    /* A null value of an unknown key is still an unknown key. */
    EXPECT_ERR("config:\n  bogus:\n", "config.yaml:2:3: config.bogus: unknown field");
}

static void test_missing_fields(void **state)
{
    (void)state;
    EXPECT_ERR("services:\n- name: m\n  namespace: default\n  hostname: m\n  vips: []\n",
               "config.yaml:2:3: services[0]: missing required field \"ports\"");
    EXPECT_ERR("binds:\n- listeners: []\n", "config.yaml:2:3: binds[0]: missing required field \"port\"");
    EXPECT_ERR(ROUTE_HEAD "      policies:\n        retry:\n          attempts: 2\n",
               "config.yaml:9:11: binds[0].listeners[0].routes[0].policies.retry: missing required field \"codes\"");
    EXPECT_ERR(ROUTE_HEAD "      backends:\n      - weight: 2\n",
               "config.yaml:8:9: binds[0].listeners[0].routes[0].backends[0]: a backend needs one of service, host, "
               "backend");
    EXPECT_ERR(SVC ROUTE_HEAD
               "      backends:\n      - service:\n          name: default/my-model\n"
               "        policies:\n          inferenceRouting:\n            destinationMode: passthrough\n",
               "config.yaml:16:11: binds[0].listeners[0].routes[0].backends[0].service: missing required field "
               "\"port\"\n"
               "config.yaml:19:13: binds[0].listeners[0].routes[0].backends[0].policies.inferenceRouting: missing "
               "required field \"endpointPicker\"");
}

static void test_bad_enums(void **state)
{
    (void)state;
    EXPECT_ERR(
        "binds:\n- port: 8081\n  listeners:\n  - protocol: http\n",
        "config.yaml:4:15: binds[0].listeners[0].protocol: unknown value \"http\", expected one of: HTTP, HTTPS");
    EXPECT_ERR("binds:\n- port: 8081\n  listeners:\n  - protocol: TCP\n",
               "config.yaml:4:15: binds[0].listeners[0].protocol: TCP: not supported by infergate");
    EXPECT_ERR(SVC ROUTE_HEAD "      backends:\n      - service: {name: default/my-model, port: 8000}\n"
                              "        policies:\n          inferenceRouting:\n            endpointPicker: {host: "
                              "\"127.0.0.1:9002\"}\n            destinationMode: Passthrough\n",
               "config.yaml:19:30: binds[0].listeners[0].routes[0].backends[0].policies.inferenceRouting."
               "destinationMode: unknown value \"Passthrough\", expected one of: validated, passthrough");
    EXPECT_ERR(SVC ROUTE_HEAD "      backends:\n      - service: {name: default/my-model, port: 8000}\n"
                              "        policies:\n          inferenceRouting:\n            endpointPicker: {host: "
                              "\"127.0.0.1:9002\"}\n            responseMode: bypass\n",
               "config.yaml:19:27: binds[0].listeners[0].routes[0].backends[0].policies.inferenceRouting."
               "responseMode: unknown value \"bypass\", expected one of: full, observe, headers");
    EXPECT_ERR("config:\n  logging:\n    format: yaml\n",
               "config.yaml:3:13: config.logging.format: unknown value \"yaml\", expected one of: text, json");
    EXPECT_ERR("config:\n  logging:\n    level: agentgateway=debug\n",
               "config.yaml:3:12: config.logging.level: per-target log filters are not supported by infergate (use "
               "one of error, warn, info, debug, trace)");
}

static void test_bad_durations(void **state)
{
    (void)state;
    EXPECT_ERR(ROUTE_HEAD "      policies:\n        timeout:\n          requestTimeout: 10\n",
               "config.yaml:9:27: binds[0].listeners[0].routes[0].policies.timeout.requestTimeout: expected a "
               "duration string such as \"10s\"");
    EXPECT_ERR(ROUTE_HEAD "      policies:\n        timeout:\n          requestTimeout: \"10\"\n",
               "config.yaml:9:27: binds[0].listeners[0].routes[0].policies.timeout.requestTimeout: invalid duration "
               "\"10\": missing unit (ns, us, ms, s, m, h)");
    EXPECT_ERR("frontendPolicies:\n  http:\n    http1IdleTimeout: 10 minutes\n",
               "config.yaml:3:23: frontendPolicies.http.http1IdleTimeout: invalid duration \"10 minutes\": unknown "
               "unit (expected ns, us, ms, s, m, h)");
    EXPECT_ERR("frontendPolicies:\n  http:\n    http1IdleTimeout: -1s\n",
               "config.yaml:3:23: frontendPolicies.http.http1IdleTimeout: invalid duration \"-1s\": negative "
               "durations are not allowed");
}

static void test_bad_addresses(void **state)
{
    (void)state;
    EXPECT_ERR(ROUTE_HEAD "      backends:\n      - host: 127.0.0.1\n",
               "config.yaml:8:15: binds[0].listeners[0].routes[0].backends[0].host: invalid address \"127.0.0.1\": "
               "expected host:port");
    EXPECT_ERR(ROUTE_HEAD "      backends:\n      - host: \"::1:80\"\n",
               "config.yaml:8:15: binds[0].listeners[0].routes[0].backends[0].host: invalid address \"::1:80\": an "
               "IPv6 address must be written in brackets: [addr]:port");
    EXPECT_ERR(ROUTE_HEAD "      backends:\n      - host: example.com:99999\n",
               "config.yaml:8:15: binds[0].listeners[0].routes[0].backends[0].host: invalid address "
               "\"example.com:99999\": invalid port");
    EXPECT_ERR("config:\n  adminAddr: example.com:15000\n",
               "config.yaml:2:14: config.adminAddr: invalid address \"example.com:15000\": expected an IP address and "
               "port (or localhost:PORT, or off)");
    EXPECT_ERR("config:\n  statsAddr: unix:/tmp/s\n",
               "config.yaml:2:14: config.statsAddr: invalid address \"unix:/tmp/s\": unix socket addresses are not "
               "supported by infergate");
    EXPECT_ERR("workloads:\n- namespace: d\n  workloadIps: [10.0.0.256]\n  services: {}\n",
               "config.yaml:3:17: workloads[0].workloadIps[0]: invalid IP address \"10.0.0.256\"");
}

static void test_bad_regex_and_paths(void **state)
{
    (void)state;
    EXPECT_ERR(ROUTE_HEAD "      matches:\n      - path:\n          regex: \"/v1/(chat\"\n",
               "config.yaml:9:18: binds[0].listeners[0].routes[0].matches[0].path.regex: invalid regex \"/v1/(chat\": "
               "Unmatched ( or \\(");
    EXPECT_ERR(ROUTE_HEAD "      matches:\n      - headers:\n        - name: x\n          value: {regex: \"[a\"}\n",
               "config.yaml:10:26: binds[0].listeners[0].routes[0].matches[0].headers[0].value.regex: invalid regex "
               "\"[a\": Unmatched [, [^, [:, [., or [=");
    /* Nested bounded repetitions that glibc would expand into millions of states are refused. */
    EXPECT_ERR(ROUTE_HEAD "      matches:\n      - path:\n          regex: \"((a{1,100}){1,100}){1,100}\"\n",
               "config.yaml:9:18: binds[0].listeners[0].routes[0].matches[0].path.regex: invalid regex "
               "\"((a{1,100}){1,100}){1,100}\": pattern too large (repetitions expand beyond 20000 atoms)");
    assert_int_equal(
        load(ROUTE_HEAD "      matches:\n      - path:\n          regex: \"/(a{1,100}){1,100}[0-9]{3}\"\n"), 0);
    EXPECT_ERR(
        ROUTE_HEAD "      matches:\n      - path:\n          pathPrefix: v1\n",
        "config.yaml:9:23: binds[0].listeners[0].routes[0].matches[0].path.pathPrefix: path must start with '/'");
    EXPECT_ERR(ROUTE_HEAD "      matches:\n      - path: {exact: /a, pathPrefix: /b}\n",
               "config.yaml:8:15: binds[0].listeners[0].routes[0].matches[0].path: expected exactly one of exact, "
               "pathPrefix, regex");
    EXPECT_ERR(ROUTE_HEAD "      matches:\n      - path:\n          regex: [\"^/foo\", 0]\n",
               "config.yaml:9:18: binds[0].listeners[0].routes[0].matches[0].path.regex: expected a string");
    EXPECT_ERR(ROUTE_HEAD "      matches: []\n",
               "config.yaml:7:16: binds[0].listeners[0].routes[0].matches: must not be empty (omit matches to match "
               "every path)");
    EXPECT_ERR(ROUTE_HEAD "      hostnames: [\"foo.*.com\"]\n",
               "config.yaml:7:19: binds[0].listeners[0].routes[0].hostnames[0]: invalid hostname \"foo.*.com\": '*' "
               "is only allowed as the first label (\"*.example.com\")");
}

static void test_unknown_references(void **state)
{
    (void)state;
    EXPECT_ERR(SVC ROUTE_HEAD "      backends:\n      - service:\n          name: default/nope\n          port: 8000\n",
               "config.yaml:16:17: binds[0].listeners[0].routes[0].backends[0].service.name: unknown service "
               "\"default/nope\" (no services[] entry with this namespace/hostname)");
    EXPECT_ERR(SVC ROUTE_HEAD
               "      backends:\n      - service:\n          name: default/my-model\n          port: 8001\n",
               "config.yaml:16:17: binds[0].listeners[0].routes[0].backends[0].service.name: service "
               "\"default/my-model\" has no port 8001");
    EXPECT_ERR(ROUTE_HEAD "      backends:\n      - backend: nope\n",
               "config.yaml:8:18: binds[0].listeners[0].routes[0].backends[0].backend: unknown backend \"nope\" (no "
               "backends[] entry with this name)");
    EXPECT_ERR(ROUTE_HEAD "      backends:\n      - service: {name: my-model, port: 8000}\n",
               "config.yaml:8:25: binds[0].listeners[0].routes[0].backends[0].service.name: expected "
               "\"<namespace>/<hostname>\", found \"my-model\"");
    EXPECT_ERR(SVC "workloads:\n- namespace: default\n  workloadIps: [10.0.0.1]\n  services:\n    default/other: "
                   "{8000: 8000}\n",
               "config.yaml:12:5: workloads[0].services.default/other: unknown service \"default/other\"");
    /* The picker may name a service too, and it is resolved the same way. */
    EXPECT_ERR(SVC ROUTE_HEAD "      backends:\n      - service: {name: default/my-model, port: 8000}\n"
                              "        policies:\n          inferenceRouting:\n            endpointPicker:\n"
                              "              service: {name: default/epp, port: 9002}\n",
               "config.yaml:19:31: binds[0].listeners[0].routes[0].backends[0].policies.inferenceRouting."
               "endpointPicker.service.name: unknown service \"default/epp\" (no services[] entry with this "
               "namespace/hostname)");
}

static void test_duplicates(void **state)
{
    (void)state;
    EXPECT_ERR("binds:\n- port: 8081\n  listeners: []\n- port: 8081\n  listeners: []\n",
               "config.yaml:4:9: binds[1].port: duplicate bind port 8081");
    EXPECT_ERR("binds:\n- port: 8081\n  listeners:\n  - name: a\n  - name: a\n",
               "config.yaml:5:11: binds[0].listeners[1]: duplicate listener name \"a\"");
    EXPECT_ERR(ROUTE_HEAD "    - name: r\n",
               "config.yaml:7:13: binds[0].listeners[0].routes[1]: duplicate route name \"r\"");
    EXPECT_ERR(SVC "- name: other\n  namespace: default\n  hostname: my-model\n  vips: []\n  ports: {1: 1}\n",
               "config.yaml:10:13: services[1]: duplicate service \"default/my-model\" (namespace/hostname)");
    EXPECT_ERR("backends:\n- {name: b, host: \"a:1\"}\n- {name: b, host: \"a:2\"}\n",
               "config.yaml:3:10: backends[1]: duplicate backend name \"b\"");
    EXPECT_ERR("binds: []\nbinds: []\n", "config.yaml:2:1: duplicate key \"binds\"");
    EXPECT_ERR(SVC "  appProtocols: {9000: Http2}\n",
               "config.yaml:8:18: services[0].appProtocols.9000: port 9000 is not in ports");
    EXPECT_ERR("binds:\n- port: 1\n  listeners:\n  - tls: {cert: a, key: b}\n",
               "config.yaml:4:17: binds[0].listeners[0].tls.cert: cannot read \"a\": No such file or directory\n"
               "config.yaml:4:25: binds[0].listeners[0].tls.key: cannot read \"b\": No such file or directory\n"
               "config.yaml:4:5: binds[0].listeners[0].tls: tls requires protocol: HTTPS");
    EXPECT_ERR("binds:\n- port: 1\n  listeners:\n  - protocol: HTTPS\n",
               "config.yaml:4:5: binds[0].listeners[0]: protocol HTTPS requires tls");
}

static void test_inference_scope(void **state)
{
    (void)state;
    EXPECT_ERR(ROUTE_HEAD
               "      backends:\n      - host: 10.0.0.1:8000\n        policies:\n          inferenceRouting:\n"
               "            endpointPicker: {host: \"127.0.0.1:9002\"}\n",
               "config.yaml:10:11: binds[0].listeners[0].routes[0].backends[0].policies.inferenceRouting: "
               "inferenceRouting is only supported on service route backends");
    EXPECT_ERR("backends:\n- name: b\n  host: 10.0.0.1:1\n  policies:\n    inferenceRouting:\n"
               "      endpointPicker: {host: \"127.0.0.1:9002\"}\n",
               "config.yaml:5:5: backends[0].policies.inferenceRouting: inferenceRouting is only supported on service "
               "route backends, not named backends");
    EXPECT_ERR(ROUTE_HEAD "      policies:\n        inferenceRouting: {}\n",
               "config.yaml:8:9: binds[0].listeners[0].routes[0].policies.inferenceRouting: inferenceRouting is only "
               "supported on service route backends");
    EXPECT_ERR(SVC ROUTE_HEAD "      backends:\n      - service: {name: default/my-model, port: 8000}\n"
                              "        policies:\n          inferenceRouting:\n            endpointPicker: {host: "
                              "\"127.0.0.1:9002\", backend: b}\n",
               "config.yaml:18:29: binds[0].listeners[0].routes[0].backends[0].policies.inferenceRouting."
               "endpointPicker: expected exactly one of host, service, backend");
}

static void test_yaml_errors(void **state)
{
    (void)state;
    EXPECT_ERR("binds:\n- port: 1\n  listeners: [\n", "config.yaml:4:1: while parsing a flow node did not find "
                                                      "expected node content");
    EXPECT_ERR("a: b: c\n", "config.yaml:1:5: mapping values are not allowed in this context");
    EXPECT_ERR("{\"binds\": [}\n", "config.yaml:1:12: while parsing a flow node did not find expected node content");
    EXPECT_ERR("binds: []\n---\nbinds: []\n", "config.yaml:2:1: multiple YAML documents in one file are not supported");
    EXPECT_ERR("binds: *nope\n", "config.yaml:1:8: unknown YAML anchor \"nope\"");
    EXPECT_ERR("binds: !!set {}\n", "config.yaml:1:8: unsupported YAML tag \"tag:yaml.org,2002:set\"");
    EXPECT_ERR("? [a]\n: b\n", "config.yaml:1:3: mapping keys must be scalars");

    /* Aliases expanding into a huge document are refused early. */
    char bomb[2048] = "a: &a [x,x,x,x,x,x,x,x,x,x]\n";
    for (int i = 1; i < 8; i++) {
        char line[128];
        char p = (char)('a' + i - 1), c = (char)('a' + i);
        snprintf(line, sizeof(line), "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", c, c, p, p, p, p, p, p, p,
                 p, p, p);
        strcat(bomb, line);
    }
    assert_int_equal(load(bomb), IG_EINVAL);
    assert_non_null(strstr(err, "document too large: more than 200000 nodes (aliases included)"));

    /* Nesting depth is bounded. */
    char deep[512];
    memset(deep, '[', 100);
    deep[100] = '\0';
    assert_int_equal(load(deep), IG_EINVAL);
    assert_string_equal(err, "config.yaml:1:65: nesting deeper than 64 levels");
}

static void test_many_errors(void **state)
{
    (void)state;
    /* Up to IG_CONFIG_MAX_ERRORS errors are reported, one per line. */
    char text[2048] = "config:\n";
    for (int i = 0; i < 15; i++) {
        char line[64];
        snprintf(line, sizeof(line), "  bad%02d: 1\n", i);
        strcat(text, line);
    }
    assert_int_equal(load(text), IG_EINVAL);
    int lines = 1;
    for (const char *p = err; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, IG_CONFIG_MAX_ERRORS);
    assert_non_null(strstr(err, "config.yaml:2:3: config.bad00: unknown field\nconfig.yaml:3:3: config.bad01: "));
    assert_non_null(strstr(err, "config.yaml:11:3: config.bad09: unknown field"));
    assert_null(strstr(err, "bad10"));

    /* A small buffer gets a truncated, NUL-terminated message; NULL is accepted. */
    struct ig_config *cfg;
    char small[16];
    assert_int_equal(ig_config_load_string("config.yaml", text, strlen(text), &cfg, small, sizeof(small)), IG_EINVAL);
    assert_string_equal(small, "config.yaml:2:3");
    assert_int_equal(ig_config_load_string("config.yaml", text, strlen(text), &cfg, NULL, 0), IG_EINVAL);
}

static void test_value_checks(void **state)
{
    (void)state;
    EXPECT_ERR(ROUTE_HEAD "      policies:\n        requestRedirect: {status: 200}\n",
               "config.yaml:8:35: binds[0].listeners[0].routes[0].policies.requestRedirect.status: redirect status "
               "must be one of 301, 302, 303, 307, 308");
    EXPECT_ERR(ROUTE_HEAD "      policies:\n        requestHeaderModifier:\n          add: {\"bad header\": x}\n",
               "config.yaml:9:17: binds[0].listeners[0].routes[0].policies.requestHeaderModifier.add.bad header: "
               "invalid header name \"bad header\"");
    EXPECT_ERR(ROUTE_HEAD "      policies:\n        localRateLimit:\n        - {maxTokens: 0, tokensPerFill: 1, "
                          "fillInterval: 1s}\n",
               "config.yaml:9:23: binds[0].listeners[0].routes[0].policies.localRateLimit[0].maxTokens: must be at "
               "least 1");
    EXPECT_ERR(ROUTE_HEAD "      policies:\n        localRateLimit: {conditional: []}\n",
               "config.yaml:8:25: binds[0].listeners[0].routes[0].policies.localRateLimit.conditional: not supported "
               "by infergate");
    EXPECT_ERR(ROUTE_HEAD "      policies:\n        retry: {codes: [700]}\n",
               "config.yaml:8:25: binds[0].listeners[0].routes[0].policies.retry.codes[0]: HTTP status must be between "
               "100 and 599");
    EXPECT_ERR(ROUTE_HEAD "      policies:\n        directResponse: {body: x}\n",
               "config.yaml:8:25: binds[0].listeners[0].routes[0].policies.directResponse: missing required field "
               "\"status\"");
    EXPECT_ERR("binds:\n- port: 1\n  listeners:\n  - protocol: HTTPS\n    tls: {cert: a, key: b, minTLSVersion: "
               "TLS_V1_0}\n",
               "config.yaml:5:17: binds[0].listeners[0].tls.cert: cannot read \"a\": No such file or directory\n"
               "config.yaml:5:25: binds[0].listeners[0].tls.key: cannot read \"b\": No such file or directory\n"
               "config.yaml:5:43: binds[0].listeners[0].tls.minTLSVersion: TLS_V1_0: not supported by infergate");
    EXPECT_ERR(
        "binds:\n- port: 1\n  listeners:\n  - protocol: HTTPS\n    tls: {minTLSVersion: TLS_V1_2, minTlsVersion: "
        "TLS_V1_3}\n",
        "config.yaml:5:36: binds[0].listeners[0].tls.minTlsVersion: duplicate field: minTLSVersion and "
        "minTlsVersion are the same setting\n"
        "config.yaml:5:10: binds[0].listeners[0].tls: missing required field \"cert\"\n"
        "config.yaml:5:10: binds[0].listeners[0].tls: missing required field \"key\"");
    EXPECT_ERR("config: {workerThreads: \"lots\"}\n",
               "config.yaml:1:25: config.workerThreads: invalid value \"lots\": expected a number of threads (1..4096) "
               "or a percentage of the CPUs such as \"50%\"");
    EXPECT_ERR("config: {workerThreads: \"150%\"}\n",
               "config.yaml:1:25: config.workerThreads: invalid value \"150%\": percentage must be between 0 and 100");
    EXPECT_ERR("services:\n- {name: a, namespace: b, hostname: c, vips: [\"10.0.0.1\"], ports: {}}\n",
               "config.yaml:2:47: services[0].vips[0]: expected \"<network>/<ip>\", found \"10.0.0.1\"");
}

int main(void)
{
    unsetenv("ADMIN_ADDR");
    unsetenv("STATS_ADDR");
    unsetenv("READINESS_ADDR");
    unsetenv("WORKER_THREADS");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_error_position), cmocka_unit_test(test_unknown_and_unsupported_keys),
        cmocka_unit_test(test_missing_fields),      cmocka_unit_test(test_bad_enums),
        cmocka_unit_test(test_bad_durations),       cmocka_unit_test(test_bad_addresses),
        cmocka_unit_test(test_bad_regex_and_paths), cmocka_unit_test(test_unknown_references),
        cmocka_unit_test(test_duplicates),          cmocka_unit_test(test_inference_scope),
        cmocka_unit_test(test_yaml_errors),         cmocka_unit_test(test_many_errors),
        cmocka_unit_test(test_value_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
