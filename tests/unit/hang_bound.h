/*
 * hang_bound.h - the C tests' clock and their one kind of time bound.
 *
 * Tests never fail on speed (speed lives in bench/). Where a test must not
 * wait forever, it asserts a bound that only a hang can break, stretched by
 * FS_TIMEOUT_SCALE, the one factor the whole suite shares (tests/e2e's
 * harness reads it too): CI raises it for the sanitizer build, which runs
 * several times slower.
 */
#ifndef FS_TEST_HANG_BOUND_H
#define FS_TEST_HANG_BOUND_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static inline int64_t fs_test_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline double fs_test_timeout_scale(void)
{
    const char *s = getenv("FS_TIMEOUT_SCALE");
    double k = s ? strtod(s, NULL) : 1.0;

    return k >= 1.0 ? k : 1.0;
}

/* `ms` on a normal build, more on a slow one: a bound that catches a hang. */
static inline int64_t fs_test_hang_bound_ms(int64_t ms)
{
    return (int64_t)((double)ms * fs_test_timeout_scale());
}

#endif
