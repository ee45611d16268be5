/* The RDP accountant of the sampled Gaussian mechanism: see fedc/dp.h.
 *
 * log A_alpha is computed as in Mironov, Talwar, Zhang 2019, section 3.3:
 * a finite binomial sum for an integer order, and for a fractional order two
 * series that are summed until their terms are below e^-30, all in the log
 * domain so that nothing overflows. */
#include "fedc/dp.h"

#include <math.h>

/* Stop the fractional series once a term is this small (as Opacus does). */
#define SERIES_LOG_EPS (-30.0)
/* And after this many terms whatever happens (it converges in hundreds). */
#define SERIES_MAX_TERMS 100000

double fedc_dp_order(size_t i)
{
	if (i < 99)
		return 1.0 + (double)(i + 1) / 10.0;
	return (double)(12 + (i - 99));
}

/* log(e^a + e^b) */
static double log_add(double a, double b)
{
	double lo = a < b ? a : b, hi = a < b ? b : a;

	if (isinf(lo) && lo < 0)
		return hi;
	return log1p(exp(lo - hi)) + hi;
}

/* log(e^a - e^b), a >= b */
static double log_sub(double a, double b)
{
	if (isinf(b) && b < 0)
		return a;
	if (a <= b)
		return -INFINITY;
	return log(expm1(a - b)) + b;
}

/* log(erfc(x)), also where erfc(x) underflows (x beyond about 26): the
 * asymptotic series erfc(x) ~ e^-x^2 / (x sqrt(pi)) (1 - 1/(2x^2) + 3/(4x^4)
 * - 15/(8x^6)). */
static double log_erfc(double x)
{
	double x2;

	if (x < 25.0)
		return log(erfc(x));
	x2 = x * x;
	return -x2 - log(x) - 0.5 * log(M_PI) + log1p(-0.5 / x2 + 0.75 / (x2 * x2) - 1.875 / (x2 * x2 * x2));
}

/* log of the binomial coefficient C(n, k) for integers. */
static double log_binom_int(int n, int k)
{
	return lgamma((double)n + 1) - lgamma((double)k + 1) - lgamma((double)(n - k) + 1);
}

static double log_a_int(double q, double sigma, int alpha)
{
	double log_a = -INFINITY;

	for (int i = 0; i <= alpha; i++) {
		double log_coef = log_binom_int(alpha, i) + i * log(q) + (alpha - i) * log1p(-q);
		double s = log_coef + (double)(i * i - i) / (2 * sigma * sigma);

		log_a = log_add(log_a, s);
	}
	return log_a;
}

static double log_a_frac(double q, double sigma, double alpha)
{
	double log_a0 = -INFINITY, log_a1 = -INFINITY, coef = 1.0;
	double z0 = sigma * sigma * log(1 / q - 1) + 0.5;

	for (int i = 0; i < SERIES_MAX_TERMS; i++) {
		double j = alpha - i, log_coef = log(fabs(coef));
		double log_t0 = log_coef + i * log(q) + j * log1p(-q);
		double log_t1 = log_coef + j * log(q) + i * log1p(-q);
		double log_e0 = log(0.5) + log_erfc((i - z0) / (M_SQRT2 * sigma));
		double log_e1 = log(0.5) + log_erfc((z0 - j) / (M_SQRT2 * sigma));
		double log_s0 = log_t0 + ((double)i * i - i) / (2 * sigma * sigma) + log_e0;
		double log_s1 = log_t1 + (j * j - j) / (2 * sigma * sigma) + log_e1;

		if (coef > 0) {
			log_a0 = log_add(log_a0, log_s0);
			log_a1 = log_add(log_a1, log_s1);
		} else {
			log_a0 = log_sub(log_a0, log_s0);
			log_a1 = log_sub(log_a1, log_s1);
		}
		if (fmax(log_s0, log_s1) < SERIES_LOG_EPS)
			break;
		coef *= (alpha - i) / (i + 1); /* C(alpha, i + 1) from C(alpha, i) */
	}
	return log_add(log_a0, log_a1);
}

double fedc_dp_rdp_step(double q, double sigma, double order)
{
	if (q == 0)
		return 0;
	if (sigma == 0)
		return INFINITY;
	if (q == 1.0)
		return order / (2 * sigma * sigma);
	if (order == floor(order))
		return log_a_int(q, sigma, (int)order) / (order - 1);
	return log_a_frac(q, sigma, order) / (order - 1);
}

enum fedc_err fedc_dp_epsilon(double q, double sigma, uint64_t steps, double delta, double *epsilon,
			      double *best_order)
{
	double best = INFINITY, at = NAN;

	if (!(q >= 0 && q <= 1) || !(sigma >= 0) || !(delta > 0 && delta < 1))
		return fedc_fail(FEDC_ERR_INVAL, "dp: sampling rate %g, noise multiplier %g, delta %g: out of range", q,
				 sigma, delta);
	for (size_t i = 0; i < FEDC_DP_N_ORDERS; i++) {
		double a = fedc_dp_order(i), rdp = fedc_dp_rdp_step(q, sigma, a) * (double)steps;
		/* Balle et al. 2020, Proposition 12 (Opacus's get_privacy_spent) */
		double eps = rdp - (log(delta) + log(a)) / (a - 1) + log((a - 1) / a);

		if (!isnan(eps) && eps < best) {
			best = eps;
			at = a;
		}
	}
	*epsilon = best;
	if (best_order)
		*best_order = at;
	return FEDC_OK;
}
