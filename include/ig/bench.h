/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench: `infergate bench`, a load generator for inference workloads (OpenAI completions and chat,
 * streaming token timing, Poisson or fixed-concurrency load in stages, per-stage latency
 * percentiles, reports and plots). See docs/bench.md.
 */
#ifndef IG_BENCH_H
#define IG_BENCH_H

/** Entry point of `infergate bench`; |argv[0]| is "bench". Returns the process exit status (2: bad flags). */
int ig_bench_main(int argc, char **argv);

/**
 * Entry point of `infergate demo` (src/bench/demo.c); |argv[0]| is "demo". Starts the standalone
 * stack as child processes of this binary, runs the round-robin and inference-routing arms and
 * prints them side by side. Returns the exit status: 0 done, 1 a component failed, 2 bad flags,
 * 130 interrupted. See docs/demo.md.
 */
int ig_demo_main(int argc, char **argv);

/**
 * Called first by every `infergate` process: in a component started by `infergate demo`, asks the
 * kernel to send SIGTERM when the demo dies, so that nothing outlives a demo killed outright. No
 * effect in any other process.
 */
void ig_demo_child_init(void);

#endif
