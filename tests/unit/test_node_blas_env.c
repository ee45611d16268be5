/* The OpenBLAS environment of plan processes (node/blas_env.h): the node
 * daemon and fedc-centralized choose it alike, and never over what the
 * operator set. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "blas_env.h"

/* What this CPU should get, as blas_env.c decides it; NULL for none. */
static const char *expected_core(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
		return "SkylakeX";
	if (__builtin_cpu_supports("avx2"))
		return "Haswell";
#endif
	return NULL;
}

static void test_chooses_kernels_and_one_thread(void **state)
{
	const char *core = expected_core();

	(void)state;
	unsetenv("OPENBLAS_CORETYPE");
	unsetenv("OPENBLAS_NUM_THREADS");
	blas_env__choose();
	assert_string_equal(getenv("OPENBLAS_NUM_THREADS"), "1");
	if (core)
		assert_string_equal(getenv("OPENBLAS_CORETYPE"), core);
	else
		assert_null(getenv("OPENBLAS_CORETYPE"));
}

static void test_operator_choice_kept(void **state)
{
	(void)state;
	setenv("OPENBLAS_CORETYPE", "Prescott", 1);
	setenv("OPENBLAS_NUM_THREADS", "4", 1);
	blas_env__choose();
	assert_string_equal(getenv("OPENBLAS_CORETYPE"), "Prescott");
	assert_string_equal(getenv("OPENBLAS_NUM_THREADS"), "4");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chooses_kernels_and_one_thread),
		cmocka_unit_test(test_operator_choice_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
