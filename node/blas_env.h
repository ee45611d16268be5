/* The OpenBLAS environment a plan process runs in: which kernels and how
 * many threads. Chosen once by the process that starts plan processes (the
 * node daemon; fedc-centralized, which repeats a node's round) before it
 * starts one: the plan process inherits the environment, and OpenBLAS reads
 * it when it loads. Both must choose alike, or a plan's floating-point
 * results differ between a node and fedc-centralized (other kernels sum in
 * another order). */
#ifndef FEDC_NODE_BLAS_ENV_H
#define FEDC_NODE_BLAS_ENV_H

/* Sets OPENBLAS_CORETYPE (SkylakeX with AVX-512F and BW, Haswell with
 * AVX2) and OPENBLAS_NUM_THREADS (1) where the operator has not set them;
 * logs the kernel chosen at info level. */
void blas_env__choose(void);

#endif
