/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Engine mappings on sample /metrics pages of vLLM, SGLang, trtllm-serve and Triton TensorRT-LLM:
 * which series feed which field, the series-selection rules (latest timestamp, else the first
 * match, never a sum; LoRA info by largest value), info-gauge labels, missing metrics and
 * unparseable pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "epp_int.h"

static struct ig_epp_extract ex;

static int run(enum ig_epp_engine e, const char *page)
{
    struct ig_prom_error perr;
    return ig_epp_extract_page(e, page, strlen(page), &ex, &perr);
}

static void test_vllm(void **state)
{
    (void)state;
    static const char page[] =
        "# HELP vllm:num_requests_running Number of requests currently running on GPU.\n"
        "# TYPE vllm:num_requests_running gauge\n"
        "vllm:num_requests_running{model_name=\"base\"} 3\n"
        "vllm:num_requests_running{model_name=\"other\"} 100\n"
        "# TYPE vllm:num_requests_waiting gauge\n"
        "vllm:num_requests_waiting{model_name=\"base\"} 4 1000\n"
        "vllm:num_requests_waiting{model_name=\"base\"} 9 3000\n"
        "vllm:num_requests_waiting{model_name=\"base\"} 6 2000\n"
        "# TYPE vllm:kv_cache_usage_perc gauge\n"
        "vllm:kv_cache_usage_perc{model_name=\"base\"} 0.42\n"
        "# TYPE vllm:gpu_cache_usage_perc gauge\n"
        "vllm:gpu_cache_usage_perc{model_name=\"base\"} 0.99\n"
        "# HELP vllm:lora_requests_info Running stats on lora requests.\n"
        "# TYPE vllm:lora_requests_info gauge\n"
        "vllm:lora_requests_info{max_lora=\"2\",running_lora_adapters=\"old\",waiting_lora_adapters=\"\"} 1.7e9\n"
        "vllm:lora_requests_info{max_lora=\"8\",running_lora_adapters=\" sql-lora , tweet ,\","
        "waiting_lora_adapters=\"w1\"} 1.8e9\n"
        "vllm:lora_requests_info{max_lora=\"3\",running_lora_adapters=\"older\",waiting_lora_adapters=\"\"} 1.6e9\n"
        "# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig\n"
        "# TYPE vllm:cache_config_info gauge\n"
        "vllm:cache_config_info{block_size=\"16\",cache_dtype=\"auto\",num_gpu_blocks=\"2048\"} 1\n"
        "# TYPE vllm:e2e_request_latency_seconds histogram\n"
        "vllm:e2e_request_latency_seconds_bucket{le=\"+Inf\"} 5\n";
    assert_int_equal(run(IG_EPP_ENGINE_VLLM, page), 0);
    /* No timestamps: the first matching series, never the sum. */
    assert_int_equal(ex.m.running_requests_size, 3);
    /* Timestamps: the latest. */
    assert_int_equal(ex.m.waiting_queue_size, 9);
    /* kv_cache_usage_perc wins over the old name. */
    assert_true(ex.m.kv_cache_usage_percent == 0.42);
    /* LoRA: the series with the largest value (a timestamp); lists split and trimmed. */
    assert_int_equal(ex.m.max_active_models, 8);
    assert_int_equal(ex.m.n_active_models, 2);
    assert_true(ig_iov_eq(ex.m.active_models[0], IG_STRLIT("sql-lora")));
    assert_true(ig_iov_eq(ex.m.active_models[1], IG_STRLIT("tweet")));
    assert_int_equal(ex.m.n_waiting_models, 1);
    assert_true(ig_iov_eq(ex.m.waiting_models[0], IG_STRLIT("w1")));
    assert_int_equal(ex.m.cache_block_size, 16);
    assert_int_equal(ex.m.cache_num_blocks, 2048);
    assert_int_equal(ex.found, IG_EPP_F_REQUIRED | IG_EPP_F_LORA | IG_EPP_F_BLOCK_SIZE | IG_EPP_F_NUM_BLOCKS);
}

static void test_vllm_old_kv_name_and_no_lora(void **state)
{
    (void)state;
    static const char page[] = "vllm:num_requests_running 1\n"
                               "vllm:num_requests_waiting 0\n"
                               "vllm:gpu_cache_usage_perc 0.75\n";
    assert_int_equal(run(IG_EPP_ENGINE_VLLM, page), 0);
    assert_true(ex.m.kv_cache_usage_percent == 0.75);
    assert_int_equal(ex.m.n_active_models, 0);
    assert_int_equal(ex.m.cache_block_size, 0);
    assert_int_equal(ex.found & IG_EPP_F_LORA, 0);
}

static void test_sglang(void **state)
{
    (void)state;
    static const char page[] = "# HELP sglang:num_running_reqs The number of running requests.\n"
                               "# TYPE sglang:num_running_reqs gauge\n"
                               "sglang:num_running_reqs{model_name=\"qwen\"} 12\n"
                               "# TYPE sglang:num_queue_reqs gauge\n"
                               "sglang:num_queue_reqs{model_name=\"qwen\"} 30\n"
                               "# TYPE sglang:token_usage gauge\n"
                               "sglang:token_usage{model_name=\"qwen\"} 0.125\n"
                               "# TYPE sglang:cache_config_info gauge\n"
                               "sglang:cache_config_info{num_pages=\"4096\",page_size=\"32\"} 1\n"
                               /* vLLM names on an SGLang page are not read */
                               "vllm:num_requests_waiting 77\n";
    assert_int_equal(run(IG_EPP_ENGINE_SGLANG, page), 0);
    assert_int_equal(ex.m.running_requests_size, 12);
    assert_int_equal(ex.m.waiting_queue_size, 30);
    assert_true(ex.m.kv_cache_usage_percent == 0.125);
    assert_int_equal(ex.m.cache_block_size, 32);
    assert_int_equal(ex.m.cache_num_blocks, 4096);
    /* The same page read as vLLM misses every required metric. */
    assert_int_equal(run(IG_EPP_ENGINE_VLLM, page), IG_ENOTFOUND);
    assert_int_equal(ex.found, IG_EPP_F_WAITING);
}

static void test_trtllm_serve(void **state)
{
    (void)state;
    static const char page[] = "# TYPE trtllm_num_requests_waiting gauge\n"
                               "trtllm_num_requests_waiting{model_name=\"llama\",engine_type=\"trtllm\"} 2\n"
                               "# TYPE trtllm_num_requests_running gauge\n"
                               "trtllm_num_requests_running{model_name=\"llama\",engine_type=\"trtllm\"} 6\n"
                               "# TYPE trtllm_kv_cache_utilization gauge\n"
                               "trtllm_kv_cache_utilization{model_name=\"llama\"} 0.9\n"
                               "# TYPE trtllm_kv_cache_tokens_per_block gauge\n"
                               "trtllm_kv_cache_tokens_per_block 64\n"
                               "# TYPE trtllm_kv_cache_max_blocks gauge\n"
                               "trtllm_kv_cache_max_blocks 1000\n";
    assert_int_equal(run(IG_EPP_ENGINE_TRTLLM_SERVE, page), 0);
    assert_int_equal(ex.m.waiting_queue_size, 2);
    assert_int_equal(ex.m.running_requests_size, 6);
    assert_true(ex.m.kv_cache_usage_percent == 0.9);
    assert_int_equal(ex.m.cache_block_size, 64);
    assert_int_equal(ex.m.cache_num_blocks, 1000);
}

static void test_triton(void **state)
{
    (void)state;
    static const char page[] =
        "# HELP nv_trt_llm_request_metrics TRT LLM request metrics\n"
        "# TYPE nv_trt_llm_request_metrics gauge\n"
        "nv_trt_llm_request_metrics{model=\"tensorrt_llm\",request_type=\"context\",version=\"1\"} 1\n"
        "nv_trt_llm_request_metrics{model=\"tensorrt_llm\",request_type=\"scheduled\",version=\"1\"} 5\n"
        "nv_trt_llm_request_metrics{model=\"tensorrt_llm\",request_type=\"max\",version=\"1\"} 512\n"
        "nv_trt_llm_request_metrics{model=\"tensorrt_llm\",request_type=\"active\",version=\"1\"} 5\n"
        "nv_trt_llm_request_metrics{model=\"tensorrt_llm\",request_type=\"waiting\",version=\"1\"} 11\n"
        "# HELP nv_trt_llm_kv_cache_block_metrics TRT LLM KV cache block metrics\n"
        "# TYPE nv_trt_llm_kv_cache_block_metrics gauge\n"
        "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"free\",model=\"tensorrt_llm\",version=\"1\"} 100\n"
        "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"max\",model=\"tensorrt_llm\",version=\"1\"} 800\n"
        "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"used\",model=\"tensorrt_llm\",version=\"1\"} 700\n"
        "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"tokens_per\",model=\"tensorrt_llm\",version=\"1\"} "
        "128\n"
        "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"fraction\",model=\"tensorrt_llm\",version=\"1\"} "
        "0.875\n";
    assert_int_equal(run(IG_EPP_ENGINE_TRITON, page), 0);
    assert_int_equal(ex.m.waiting_queue_size, 11);
    assert_int_equal(ex.m.running_requests_size, 5);
    assert_true(ex.m.kv_cache_usage_percent == 0.875);
    assert_int_equal(ex.m.cache_block_size, 128);
    assert_int_equal(ex.m.cache_num_blocks, 800);
}

static void test_types_and_bad_values(void **state)
{
    (void)state;
    /* Histograms and summaries are never read; negative or NaN counts read as 0. */
    static const char page[] = "# TYPE vllm:num_requests_running histogram\n"
                               "vllm:num_requests_running 4\n"
                               "# TYPE vllm:num_requests_waiting gauge\n"
                               "vllm:num_requests_waiting -3\n"
                               "# TYPE vllm:kv_cache_usage_perc gauge\n"
                               "vllm:kv_cache_usage_perc NaN\n";
    assert_int_equal(run(IG_EPP_ENGINE_VLLM, page), IG_ENOTFOUND);
    assert_int_equal(ex.found, IG_EPP_F_WAITING | IG_EPP_F_KV);
    assert_int_equal(ex.m.waiting_queue_size, 0);
    assert_true(ex.m.kv_cache_usage_percent == 0);
}

static void test_parse_error(void **state)
{
    (void)state;
    struct ig_prom_error perr;
    static const char page[] = "vllm:num_requests_running 1\n"
                               "vllm:num_requests_waiting{model_name=\"x} 2\n";
    int rc = ig_epp_extract_page(IG_EPP_ENGINE_VLLM, page, strlen(page), &ex, &perr);
    assert_int_equal(rc, IG_EPROTO);
    assert_int_equal(perr.line, 2);
}

static void test_engine_names(void **state)
{
    (void)state;
    enum ig_epp_engine e;
    for (int i = 0; i < IG_EPP_ENGINE_COUNT; i++) {
        assert_int_equal(ig_epp_engine_parse(ig_iov_cstr(ig_epp_engine_name((enum ig_epp_engine)i)), &e), 0);
        assert_int_equal(e, i);
    }
    assert_int_equal(ig_epp_engine_parse(IG_STRLIT("triton-tensorrt-llm"), &e), 0);
    assert_int_equal(e, IG_EPP_ENGINE_TRITON);
    assert_int_equal(ig_epp_engine_parse(IG_STRLIT("VLLM"), &e), IG_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vllm),        cmocka_unit_test(test_vllm_old_kv_name_and_no_lora),
        cmocka_unit_test(test_sglang),      cmocka_unit_test(test_trtllm_serve),
        cmocka_unit_test(test_triton),      cmocka_unit_test(test_types_and_bad_values),
        cmocka_unit_test(test_parse_error), cmocka_unit_test(test_engine_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
