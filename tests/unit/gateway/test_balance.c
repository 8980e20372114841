/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the route backend choice (src/gateway/balance.c): smooth weighted round robin
 * gives exact proportions in every window of `total` picks, spreads a heavy backend between the
 * light ones, skips weight 0, and returns NULL when nothing can be chosen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "gateway_int.h"

#define NB 4

struct fixture {
    struct ig_cfg_route_backend rbs[NB];
    struct gw_bplan bps[NB];
    struct ig_cfg_route route;
};

static void setup(struct fixture *f, const uint32_t *weights, size_t n)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < n; i++) {
        f->rbs[i].weight = weights[i];
        f->route.total_weight += weights[i];
    }
    f->route.backends = f->rbs;
    f->route.n_backends = n;
}

static size_t pick(struct fixture *f)
{
    struct gw_bplan *b = gw_pick_backend(f->bps, &f->route);
    assert_non_null(b);
    return (size_t)(b - f->bps);
}

static void test_equal_weights_rotate(void **state)
{
    (void)state;
    struct fixture f;
    static const uint32_t w[NB] = {1, 1, 1, 1};
    setup(&f, w, NB);
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < NB; i++)
            assert_int_equal(pick(&f), i);
}

static void test_exact_proportions_and_spread(void **state)
{
    (void)state;
    struct fixture f;
    static const uint32_t w[3] = {5, 1, 1};
    setup(&f, w, 3);
    static const size_t want[7] = {0, 0, 1, 0, 2, 0, 0}; /* nginx's documented sequence for 5:1:1 */
    for (int window = 0; window < 4; window++) {
        size_t count[3] = {0};
        for (size_t k = 0; k < 7; k++) {
            size_t i = pick(&f);
            assert_int_equal(i, want[k]);
            count[i]++;
        }
        assert_int_equal(count[0], 5);
        assert_int_equal(count[1], 1);
        assert_int_equal(count[2], 1);
    }
}

static void test_zero_weight_never_chosen(void **state)
{
    (void)state;
    struct fixture f;
    static const uint32_t w[3] = {0, 3, 1};
    setup(&f, w, 3);
    size_t count[3] = {0};
    for (int k = 0; k < 400; k++)
        count[pick(&f)]++;
    assert_int_equal(count[0], 0);
    assert_int_equal(count[1], 300);
    assert_int_equal(count[2], 100);
}

static void test_nothing_to_choose(void **state)
{
    (void)state;
    struct fixture f;
    static const uint32_t w[2] = {0, 0};
    setup(&f, w, 2);
    assert_null(gw_pick_backend(f.bps, &f.route));
    setup(&f, w, 0);
    assert_null(gw_pick_backend(f.bps, &f.route));
    static const uint32_t one[1] = {7};
    setup(&f, one, 1);
    assert_ptr_equal(gw_pick_backend(f.bps, &f.route), &f.bps[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_weights_rotate),
        cmocka_unit_test(test_exact_proportions_and_spread),
        cmocka_unit_test(test_zero_weight_never_chosen),
        cmocka_unit_test(test_nothing_to_choose),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
