/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the SNI listener choice of src/gateway/snap.c (gw_sni_select): exact hostname,
 * then the longest wildcard, then the listener without hostname, case and a trailing dot ignored;
 * a bind without a default listener refuses unknown names and clients without SNI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "gateway_int.h"

static void test_sni_select(void **state)
{
    (void)state;
    char dir[] = "/tmp/ig-genai-XXXXXX", c[64], k[64], text[2048];
    assert_non_null(mkdtemp(dir));
    snprintf(c, sizeof(c), "%s/c.pem", dir);
    snprintf(k, sizeof(k), "%s/k.pem", dir);
    assert_int_equal(ig_tls_self_signed("a.example.com", c, k), 0);
    snprintf(text, sizeof(text),
             "binds:\n"
             "- port: 8443\n"
             "  listeners:\n"
             "  - {name: exact, hostname: a.example.com, protocol: HTTPS, tls: {cert: %s, key: %s}}\n"
             "  - {name: wild, hostname: '*.example.com', protocol: HTTPS, tls: {cert: %s, key: %s}}\n"
             "  - {name: wider, hostname: '*.com', protocol: HTTPS, tls: {cert: %s, key: %s}}\n"
             "  - {name: default, protocol: HTTPS, tls: {cert: %s, key: %s}}\n"
             "- port: 9443\n"
             "  listeners:\n"
             "  - {name: only, hostname: only.example.net, protocol: HTTPS, tls: {cert: %s, key: %s}}\n",
             c, k, c, k, c, k, c, k, c, k);
    struct ig_config *cfg = NULL;
    char err[1024];
    int rc = ig_config_load_string("t.yaml", text, strlen(text), &cfg, err, sizeof(err));
    unlink(c);
    unlink(k);
    rmdir(dir);
    if (rc != 0)
        fail_msg("%s", err);
    const struct ig_cfg_bind *b = &cfg->binds[0];
    struct {
        const char *sni, *want;
    } cases[] = {
        {"a.example.com", "exact"}, {"A.EXAMPLE.com", "exact"},  {"a.example.com.", "exact"},
        {"b.example.com", "wild"},  {"x.y.example.com", "wild"}, {"example.com", "wider"},
        {"other.org", "default"},   {NULL, "default"},           {"", "default"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *sni = cases[i].sni;
        const struct ig_cfg_listener *l = gw_sni_select(b, sni, sni != NULL ? strlen(sni) : 0);
        assert_non_null(l);
        assert_string_equal(l->name.base, cases[i].want);
    }
    const struct ig_cfg_bind *only = &cfg->binds[1];
    assert_string_equal(gw_sni_select(only, "only.example.net", 16)->name.base, "only");
    assert_null(gw_sni_select(only, "other.example.net", 17)); /* no default: refused */
    assert_null(gw_sni_select(only, NULL, 0));
    ig_config_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sni_select),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
