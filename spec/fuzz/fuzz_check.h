/*
 * fuzz_check.h: FZ_CHECK, how every harness states a property. A failed
 * property aborts, so libFuzzer saves the input that broke it.
 */
#ifndef KADOA_FUZZ_CHECK_H
#define KADOA_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FZ_CHECK(cond, what)                                              \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", (what),       \
              __FILE__, __LINE__);                                        \
      abort();                                                            \
    }                                                                     \
  } while (0)

#endif
