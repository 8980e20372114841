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

#endif
