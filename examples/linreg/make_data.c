/* Writes a synthetic regression dataset for examples/linreg:
 *
 *   y = w·x + b + e,   x_j ~ N(0, 1),   e ~ N(0, noise²)
 *
 * with the weights w_j uniform in [-2, 2) and b = 1, all drawn from --seed.
 * The CSV has a names header (x1,...,xF,y) and one row per sample, which
 * `fedc-node dataset add --regression` registers as is.
 *
 * Normal draws are Irwin-Hall sums (12 uniforms - 6: mean 0, variance 1,
 * tails cut at 6 sd) from splitmix64, so that no libm function, whose last
 * bit may differ between C libraries, takes part: a seed gives the same
 * bytes on every machine. The program prints the true model and the noise it
 * actually drew, the floor a fitted model's MSE can reach.
 *
 * usage: linreg-make-data [--rows N] [--features F] [--noise SD] [--seed S] OUT.csv */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FEATURES 1000
#define MAX_ROWS 10000000ull
#define BIAS 1.0

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1) from the top 53 bits. */
static double uniform(uint64_t *state)
{
	return (double)(splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* Approximately N(0, 1): the sum of 12 uniforms has mean 6 and variance 1. */
static double normal(uint64_t *state)
{
	double s = 0.0;

	for (int i = 0; i < 12; i++)
		s += uniform(state);
	return s - 6.0;
}

static int usage(void)
{
	fprintf(stderr, "usage: linreg-make-data [--rows N] [--features F] [--noise SD] [--seed S] OUT.csv\n"
			"  defaults: 3000 rows, 10 features, noise 1.0, seed 42\n");
	return 2;
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end = NULL;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && end != s && !*end && s[0] != '-' && *out >= lo && *out <= hi;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "rows", required_argument, NULL, 'r' }, { "features", required_argument, NULL, 'f' },
		{ "noise", required_argument, NULL, 'n' }, { "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	uint64_t rows = 3000, features = 10, seed = 42, state;
	double noise = 1.0, w[MAX_FEATURES], x[MAX_FEATURES], sse = 0.0, sum_y = 0.0, sum_y2 = 0.0;
	char *end = NULL;
	FILE *out;
	int opt;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'r': if (!parse_u64(optarg, 2, MAX_ROWS, &rows)) return usage(); break;
		case 'f': if (!parse_u64(optarg, 1, MAX_FEATURES, &features)) return usage(); break;
		case 's': if (!parse_u64(optarg, 0, UINT64_MAX, &seed)) return usage(); break;
		case 'n':
			errno = 0;
			noise = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(noise >= 0.0 && noise <= 1e6))
				return usage();
			break;
		default: return usage();
		}
	}
	if (optind != argc - 1)
		return usage();
	out = fopen(argv[optind], "w");
	if (!out) {
		fprintf(stderr, "linreg-make-data: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	state = seed;
	for (uint64_t j = 0; j < features; j++)
		w[j] = 4.0 * uniform(&state) - 2.0;
	for (uint64_t j = 0; j < features; j++)
		fprintf(out, "x%" PRIu64 ",", j + 1);
	fputs("y\n", out);
	for (uint64_t i = 0; i < rows; i++) {
		double mean = BIAS, e, y;

		for (uint64_t j = 0; j < features; j++) {
			x[j] = normal(&state);
			mean += w[j] * x[j];
			fprintf(out, "%.6f,", x[j]);
		}
		e = noise * normal(&state);
		y = mean + e;
		fprintf(out, "%.6f\n", y);
		sse += e * e;
		sum_y += y;
		sum_y2 += y * y;
	}
	if (fclose(out) != 0) {
		fprintf(stderr, "linreg-make-data: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	printf("wrote %s: %" PRIu64 " rows, %" PRIu64 " features, seed %" PRIu64 "\n", argv[optind], rows,
	       features, seed);
	printf("true model: bias %.4f, weights", BIAS);
	for (uint64_t j = 0; j < features; j++)
		printf(" %.4f", w[j]);
	printf("\nnoise: sd %.4f (variance %.4f); drawn: mean square %.4f, R2 of the true model %.4f\n", noise,
	       noise * noise, sse / (double)rows,
	       1.0 - sse / (sum_y2 - sum_y * sum_y / (double)rows));
	return 0;
}
