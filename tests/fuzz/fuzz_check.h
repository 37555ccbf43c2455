/*
 * fuzz_check.h - the one assertion the fuzz targets use.
 *
 * assert() vanishes under -DNDEBUG; this never does. A broken invariant
 * aborts, which libFuzzer reports as a crash and saves the input.
 */
#ifndef FS_FUZZ_CHECK_H
#define FS_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__,      \
                    __LINE__, #cond);                                       \
            abort();                                                        \
        }                                                                   \
    } while (0)

#endif
