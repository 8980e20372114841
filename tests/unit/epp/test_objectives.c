/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The objectives file (--objectives-file): InferenceObjective and InferenceModelRewrite resources in
 * YAML (several documents, lists, kind: List) and JSON; priority and rewrite lookups with the
 * reference's precedence and weighted split; errors with file:line:col; and the watched source: an
 * edit applies, a bad edit keeps the previous set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "epp_int.h"

static struct ig_epp_objectives objs;
static char err[512];

static int load(const char *text)
{
    ig_epp_objectives_dispose(&objs);
    ig_epp_objectives_init(&objs);
    err[0] = '\0';
    return ig_epp_objectives_load_string("obj.yaml", text, strlen(text), &objs, err, sizeof(err));
}

static int prio(const char *name)
{
    int p = 12345;
    return ig_epp_objectives_priority(&objs, ig_iov_cstr(name), &p) == 0 ? p : 12345;
}

static const char *rewrite(const char *model, uint64_t rnd, const char **name)
{
    static char buf[64];
    ig_iov_t t, n;
    if (ig_epp_objectives_rewrite(&objs, ig_iov_cstr(model), rnd, &t, &n) != 0)
        return NULL;
    snprintf(buf, sizeof(buf), "%.*s", (int)t.len, t.base);
    if (name != NULL)
        *name = n.base;
    return buf;
}

static const char yaml_text[] = "apiVersion: inference.networking.x-k8s.io/v1alpha2\n"
                                "kind: InferenceObjective\n"
                                "metadata: {name: critical, namespace: default}\n"
                                "spec:\n"
                                "  priority: 10\n"
                                "  poolRef: {group: inference.networking.k8s.io, kind: InferencePool, name: pool}\n"
                                "---\n"
                                "- kind: InferenceObjective\n"
                                "  metadata: {name: batch}\n"
                                "  spec: {priority: -1, poolRef: {name: pool}}\n"
                                "- kind: InferenceObjective\n"
                                "  metadata: {name: plain}\n"
                                "  spec: {poolRef: {name: pool}}\n"
                                "---\n"
                                "kind: List\n"
                                "items:\n"
                                "- kind: InferenceModelRewrite\n"
                                "  metadata: {name: catch-all}\n"
                                "  spec:\n"
                                "    poolRef: {name: pool}\n"
                                "    rules:\n"
                                "    - targets: [{modelRewrite: base}]\n"
                                "- kind: InferenceModelRewrite\n"
                                "  metadata: {name: split}\n"
                                "  spec:\n"
                                "    poolRef: {name: pool}\n"
                                "    rules:\n"
                                "    - matches: [{model: {type: Exact, value: food-review}}, {model: {value: fr}}]\n"
                                "      targets:\n"
                                "      - {modelRewrite: food-review-v1, weight: 90}\n"
                                "      - {modelRewrite: food-review-v2, weight: 10}\n"
                                "    - matches: [{model: {value: fr}}]\n"
                                "      targets: [{modelRewrite: never}]\n";

static void test_yaml(void **state)
{
    (void)state;
    const char *name = NULL;
    assert_int_equal(load(yaml_text), 0);
    assert_int_equal(objs.n_objectives, 3);
    assert_int_equal(objs.n_rewrites, 2);
    assert_int_equal(prio("critical"), 10);
    assert_int_equal(prio("batch"), -1);
    assert_int_equal(prio("plain"), 0);
    assert_int_equal(prio("unknown"), 12345); /* IG_ENOTFOUND: the server uses 0 */
    assert_int_equal(objs.objectives[1].line, 8);

    /* Exact matches beat the older catch-all; within a resource the first rule wins. */
    assert_string_equal(rewrite("food-review", 0, &name), "food-review-v1");
    assert_string_equal(name, "split");
    assert_string_equal(rewrite("food-review", 89, NULL), "food-review-v1");
    assert_string_equal(rewrite("food-review", 90, NULL), "food-review-v2");
    assert_string_equal(rewrite("fr", 99, NULL), "food-review-v2");
    assert_string_equal(rewrite("fr", 100, NULL), "food-review-v1"); /* r mod 100 */
    assert_string_equal(rewrite("other", 7, &name), "base");
    assert_string_equal(name, "catch-all");

    /* Unweighted targets split uniformly. */
    assert_int_equal(load("- kind: InferenceModelRewrite\n"
                          "  metadata: {name: u}\n"
                          "  spec: {poolRef: {name: p}, rules: [{matches: [{model: {value: m}}],\n"
                          "         targets: [{modelRewrite: a}, {modelRewrite: b}]}]}\n"),
                     0);
    assert_string_equal(rewrite("m", 0, NULL), "a");
    assert_string_equal(rewrite("m", 1, NULL), "b");
    assert_null(rewrite("x", 0, NULL));

    /* Empty files and documents are an empty set. */
    assert_int_equal(load(""), 0);
    assert_int_equal(objs.n_objectives + objs.n_rewrites, 0);
    assert_int_equal(load("---\n---\n"), 0);
}

static void test_json(void **state)
{
    (void)state;
    assert_int_equal(load("[{\"apiVersion\": \"inference.networking.x-k8s.io/v1alpha2\",\n"
                          "  \"kind\": \"InferenceObjective\", \"metadata\": {\"name\": \"a\"},\n"
                          "  \"spec\": {\"priority\": -5, \"poolRef\": {\"name\": \"p\"}}},\n"
                          " {\"kind\": \"InferenceModelRewrite\", \"metadata\": {\"name\": \"r\"},\n"
                          "  \"spec\": {\"poolRef\": {\"name\": \"p\"}, \"rules\": [{\"matches\": [{\"model\":\n"
                          "   {\"value\": \"m\"}}], \"targets\": [{\"modelRewrite\": \"m2\", \"weight\": 1}]}]}}]\n"),
                     0);
    assert_int_equal(prio("a"), -5);
    assert_string_equal(rewrite("m", 3, NULL), "m2");
}

static void expect_error(const char *text, const char *where, const char *what)
{
    assert_int_equal(load(text), IG_EINVAL);
    if (strncmp(err, where, strlen(where)) != 0 || strstr(err, what) == NULL)
        fail_msg("error \"%s\", expected \"%s...%s\"", err, where, what);
    assert_int_equal(objs.n_objectives + objs.n_rewrites, 0);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("- kind: InferenceObjective\n  metadata: {name: a}\n  spec: {priority: high}\n",
                 "obj.yaml:3:20:", "spec.priority: expected an integer");
    expect_error("- kind: InferenceObjective\n  metadata: {name: a}\n  spec: {priority: 99999999999}\n",
                 "obj.yaml:3:20:", "spec.priority");
    expect_error("kind: InferencePool\nmetadata: {name: a}\n", "obj.yaml:1:7:", "kind: expected InferenceObjective");
    expect_error("kind: InferenceObjective\nspec: {}\n", "obj.yaml:1:1:", "metadata.name is required");
    expect_error("kind: InferenceObjective\nmetadata: {name: a}\nspec: {prio: 1}\n",
                 "obj.yaml:3:8:", "unknown key \"prio\"");
    expect_error("apiVersion: v1\nkind: InferenceObjective\nmetadata: {name: a}\n", "obj.yaml:1:13:", "apiVersion");
    expect_error("- {kind: InferenceObjective, metadata: {name: a}}\n"
                 "- {kind: InferenceObjective, metadata: {name: a}}\n",
                 "obj.yaml:2:47:", "already defined at line 1");
    expect_error("kind: InferenceModelRewrite\nmetadata: {name: r}\nspec: {rules: []}\n",
                 "obj.yaml:3:7:", "spec.poolRef is required");
    expect_error("kind: InferenceModelRewrite\nmetadata: {name: r}\n"
                 "spec:\n  poolRef: {name: p}\n  rules:\n  - matches: [{model: {value: m}}]\n",
                 "obj.yaml:6:5:", "targets: expected a list");
    expect_error("kind: InferenceModelRewrite\nmetadata: {name: r}\n"
                 "spec:\n  poolRef: {name: p}\n  rules:\n  - targets: [{modelRewrite: x, weight: 0}]\n",
                 "obj.yaml:6:41:", "targets[].weight");
    expect_error("kind: InferenceModelRewrite\nmetadata: {name: r}\n"
                 "spec:\n  poolRef: {name: p}\n  rules:\n  - matches: [{model: {type: Regex, value: m}}]\n"
                 "    targets: [{modelRewrite: x}]\n",
                 "obj.yaml:6:30:", "only Exact");
    expect_error("kind: InferenceModelRewrite\nmetadata: {name: r}\nspec: {poolRef: {}}\n",
                 "obj.yaml:3:17:", "spec.poolRef.name is required");
    expect_error("- kind: [\n", "obj.yaml:2:1:", "");
    expect_error("\"just a string\"\n", "obj.yaml:1:1:", "expected a resource");
    expect_error("kind: List\n", "obj.yaml:1:1:", "items is required");
}

/* ---- watched file ------------------------------------------------------------------------------ */

static uv_loop_t loop;

struct until {
    ig_epp_objectives_source_t *src;
    uint64_t loads, failures, deadline;
    int met;
};

static void poll_cb(uv_timer_t *t)
{
    struct until *u = t->data;
    if (ig_epp_objectives_source_loads(u->src) >= u->loads &&
        ig_epp_objectives_source_failures(u->src) >= u->failures) {
        u->met = 1;
        uv_stop(&loop);
    } else if (ig_time_ns() > u->deadline) {
        uv_stop(&loop);
    }
}

static int wait_for(ig_epp_objectives_source_t *src, uint64_t loads, uint64_t failures)
{
    struct until u = {src, loads, failures, ig_time_ns() + 3000 * 1000000ull, 0};
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = &u;
    uv_timer_start(&t, poll_cb, 5, 5);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return u.met;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void test_watch(void **state)
{
    (void)state;
    char dir[64], path[128];
    int p = 0;
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    ig_log_set_level(IG_LOG_ERROR);
    ig_log_set_fd(devnull); /* the bad-file error is expected */
    snprintf(dir, sizeof(dir), "/tmp/ig-epp-obj-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/objectives.yaml", dir);
    assert_int_equal(uv_loop_init(&loop), 0);

    assert_null(ig_epp_objectives_source_start(&loop, path, err, sizeof(err)));
    assert_non_null(strstr(err, "No such file"));
    write_file(path, "- {kind: InferenceObjective, metadata: {name: a}, spec: {priority: -1, poolRef: {name: p}}}\n");
    ig_epp_objectives_source_t *src = ig_epp_objectives_source_start(&loop, path, err, sizeof(err));
    assert_non_null(src);
    assert_int_equal(ig_epp_objectives_priority_cb(src, IG_STRLIT("a"), &p), 0);
    assert_int_equal(p, -1);

    write_file(path, "- {kind: InferenceObjective, metadata: {name: a}, spec: {priority: 3, poolRef: {name: p}}}\n"
                     "- kind: InferenceModelRewrite\n"
                     "  metadata: {name: r}\n"
                     "  spec: {poolRef: {name: p}, rules: [{targets: [{modelRewrite: big}]}]}\n");
    assert_true(wait_for(src, 2, 0));
    assert_int_equal(ig_epp_objectives_priority_cb(src, IG_STRLIT("a"), &p), 0);
    assert_int_equal(p, 3);
    ig_iov_t t, n;
    assert_int_equal(ig_epp_objectives_rewrite_cb(src, IG_STRLIT("small"), &t, &n), 0);
    assert_true(ig_iov_eq(t, IG_STRLIT("big")));
    assert_true(ig_iov_eq(n, IG_STRLIT("r")));

    write_file(path, "- {kind: InferenceObjective, metadata: {name: a}, spec: {priority: x}}\n");
    assert_true(wait_for(src, 2, 1));
    assert_int_equal(ig_epp_objectives_priority_cb(src, IG_STRLIT("a"), &p), 0);
    assert_int_equal(p, 3); /* the previous set stays */

    ig_epp_objectives_source_stop(src);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    unlink(path);
    rmdir(dir);
    ig_log_set_fd(2);
    close(devnull);
}

static int teardown(void **state)
{
    (void)state;
    ig_epp_objectives_dispose(&objs);
    return 0;
}

int main(void)
{
    ig_epp_objectives_init(&objs);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_watch),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
