/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the intrusive list: order, removal during iteration and the linked test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ig/core.h"

struct item {
    int v;
    ig_list_t link;
};

static void collect(ig_list_t *head, int *out, int *n)
{
    ig_list_t *pos;
    *n = 0;
    ig_list_foreach(pos, head)
    {
        out[(*n)++] = IG_CONTAINER_OF(pos, struct item, link)->v;
    }
}

static void test_order_and_remove(void **state)
{
    (void)state;
    ig_list_t head;
    struct item it[5];
    int got[5], n;
    ig_list_init(&head);
    assert_true(ig_list_empty(&head));
    for (int i = 0; i < 5; i++) {
        it[i].v = i;
        it[i].link.prev = it[i].link.next = NULL;
        assert_false(ig_list_linked(&it[i].link));
    }
    ig_list_push_back(&head, &it[1].link);
    ig_list_push_back(&head, &it[2].link);
    ig_list_push_front(&head, &it[0].link);
    ig_list_insert_before(&it[2].link, &it[3].link);
    collect(&head, got, &n);
    assert_int_equal(n, 4);
    assert_int_equal(got[0], 0);
    assert_int_equal(got[1], 1);
    assert_int_equal(got[2], 3);
    assert_int_equal(got[3], 2);
    assert_true(ig_list_linked(&it[3].link));
    ig_list_remove(&it[3].link);
    assert_false(ig_list_linked(&it[3].link));
    collect(&head, got, &n);
    assert_int_equal(n, 3);
    assert_int_equal(got[2], 2);
}

static void test_remove_while_iterating(void **state)
{
    (void)state;
    ig_list_t head, *pos, *tmp;
    struct item it[6];
    int got[6], n;
    ig_list_init(&head);
    for (int i = 0; i < 6; i++) {
        it[i].v = i;
        ig_list_push_back(&head, &it[i].link);
    }
    ig_list_foreach_safe(pos, tmp, &head)
    {
        if (IG_CONTAINER_OF(pos, struct item, link)->v % 2 == 0)
            ig_list_remove(pos);
    }
    collect(&head, got, &n);
    assert_int_equal(n, 3);
    assert_int_equal(got[0], 1);
    assert_int_equal(got[1], 3);
    assert_int_equal(got[2], 5);
    ig_list_foreach_safe(pos, tmp, &head) ig_list_remove(pos);
    assert_true(ig_list_empty(&head));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_remove),
        cmocka_unit_test(test_remove_while_iterating),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
