/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Clocks: a monotonic nanosecond clock for durations and timeouts, and the wall clock for logs
 * and protocol timestamps. Loops cache their own time per iteration (uv_now); these read the
 * kernel clock directly.
 */
#include <time.h>

#include "ig/core.h"

uint64_t ig_time_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double ig_time_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
