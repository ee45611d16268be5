/* Allocation-failure injection for tests (tests/alloc/): this executable's
 * malloc, calloc, realloc, posix_memalign and aligned_alloc count the calls
 * made while armed and fail the n-th with NULL / ENOMEM, as sqlite's
 * test_malloc.c and libssh's nalloc fuzzer do. Every other call goes to the
 * allocator that comes next (libc's, or ASan's under -DFEDC_SANITIZE=ON),
 * so ASan still sees every block and LeakSanitizer still finds leaks.
 * Not thread-safe: arm it around single-threaded code only. */
#ifndef FEDC_TEST_ALLOC_FAIL_H
#define FEDC_TEST_ALLOC_FAIL_H

#include <stdbool.h>

/* Starts counting: the `n`-th allocation from now fails (n >= 1), and only
 * that one; n = 0 counts without failing. */
void alloc_fail_arm(unsigned long n);

/* Stops counting. Returns the number of allocations made while armed;
 * `*failed` (if not NULL) tells whether the armed failure happened. */
unsigned long alloc_fail_disarm(bool *failed);

#endif
