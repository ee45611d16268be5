/* The OpenBLAS environment of plan processes (blas_env.h). */
#define _GNU_SOURCE
#include "blas_env.h"

#include <stdlib.h>

#include "fedc/log.h"

/* OpenBLAS 0.3.21 (Debian 12) does not know recent Intel CPUs and falls back
 * to its slowest kernels (Prescott), 3 to 5 times slower for a plan's matrix
 * products. Name a kernel the CPU runs, unless the operator chose one; the
 * plan's child inherits the environment. */
static void choose_blas_kernel(void)
{
	const char *core = NULL;

	if (getenv("OPENBLAS_CORETYPE"))
		return;
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
		core = "SkylakeX";
	else if (__builtin_cpu_supports("avx2"))
		core = "Haswell";
#endif
	if (core && setenv("OPENBLAS_CORETYPE", core, 0) == 0)
		fedc_info("plans' OpenBLAS uses the %s kernels (set OPENBLAS_CORETYPE to choose)", core);
}

/* OpenBLAS's own default is one thread per core, each with a buffer of
 * about 128 MB: on a many-core server that alone can pass memory_mb, and a
 * node shares its machine. Plans get one thread unless the operator set
 * OPENBLAS_NUM_THREADS; a plan asks for more with fedc_nn_set_threads()
 * (docs/plan-api.md, "Threads"). */
static void choose_blas_threads(void)
{
	if (!getenv("OPENBLAS_NUM_THREADS"))
		(void)setenv("OPENBLAS_NUM_THREADS", "1", 0);
}

void blas_env__choose(void)
{
	choose_blas_kernel();
	choose_blas_threads();
}
