/* bench/dp_epsilon: the accountant of fedc/dp.h from the command line, for
 * bench/privacy_utility.sh (which composes a DP-SGD node's rounds with it).
 *
 *   bench_dp_epsilon Q SIGMA STEPS DELTA
 *
 * prints "epsilon E order A": (epsilon, delta) after STEPS steps of the
 * sampled Gaussian mechanism at sampling rate Q and noise multiplier SIGMA.
 * Exit 2 on bad usage, 1 when the accountant refuses the arguments. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fedc/dp.h"
#include "fedc/num.h"

static int usage(void)
{
	fputs("usage: bench_dp_epsilon Q SIGMA STEPS DELTA\n", stderr);
	return 2;
}

/* A whole argument as a finite double, or -1 (none of these may be negative). */
static double number(const char *s)
{
	char *end = NULL;
	double v = strtod(s, &end);

	return end != s && *end == '\0' && v == v ? v : -1;
}

int main(int argc, char **argv)
{
	double q, sigma, delta, epsilon = 0, order = 0;
	uint64_t steps = 0;

	if (argc != 5)
		return usage();
	q = number(argv[1]);
	sigma = number(argv[2]);
	delta = number(argv[4]);
	if (q < 0 || sigma < 0 || delta < 0 || fedc_num_parse_u64(argv[3], 0, UINT64_MAX, &steps) != FEDC_OK)
		return usage();
	if (fedc_dp_epsilon(q, sigma, steps, delta, &epsilon, &order) != FEDC_OK) {
		fprintf(stderr, "bench_dp_epsilon: %s\n", fedc_last_error());
		return 1;
	}
	printf("epsilon %.6g order %g\n", epsilon, order);
	return 0;
}
