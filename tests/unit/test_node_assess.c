/* node/assess.c: the request's assess_args checked, and what the plan
 * process wrote (untrusted: plan code ran there) checked before the node
 * writes the predictions file and answers aggregate lines. */
#define _GNU_SOURCE /* memfd_create */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assess.h"
#include "plan_assess.h"

static char dir[] = "/tmp/fedc-node-assess-XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct fedc_msg *request(const char *kind, const char *args)
{
	struct fedc_msg *m = fedc_msg_new(FEDC_CMD_TRAIN);

	assert_non_null(m);
	strcpy(m->job_id, "11111111-2222-3333-4444-555555555555");
	strcpy(m->dataset_id, "ds");
	strcpy(m->assess, kind);
	fedc_msg_set(m, FEDC_F_ASSESS);
	if (args) {
		strcpy(m->assess_args, args);
		fedc_msg_set(m, FEDC_F_ASSESS_ARGS);
	}
	return m;
}

static enum fedc_err parse(const char *kind, const char *args, struct assess_request *a)
{
	struct fedc_msg *m = request(kind, args);
	enum fedc_err rc = assess__parse(m, a);

	fedc_msg_free(m);
	return rc;
}

static void test_parse_args(void **state)
{
	struct assess_request a;

	(void)state;
	assert_int_equal(parse("predict", NULL, &a), FEDC_OK);
	assert_int_equal(a.bins, ASSESS_DEFAULT_BINS);
	assert_int_equal(parse("explain", "repeats=7\nmetric=loss\n", &a), FEDC_OK);
	assert_int_equal(a.repeats, 7);
	assert_string_equal(a.metric, "loss");
	assert_int_equal(parse("explain", "repeats=0\n", &a), FEDC_ERR_INVAL);
	assert_int_equal(parse("explain", "repeats=101\n", &a), FEDC_ERR_INVAL);
	assert_int_equal(parse("explain", "metric=a b\n", &a), FEDC_ERR_INVAL);
	assert_int_equal(parse("predict", "repeats=3\n", &a), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "unknown key \"repeats\" for predict"));
	assert_int_equal(parse("predict", "bins=1\n", &a), FEDC_ERR_INVAL);
	assert_int_equal(parse("predict", "bins\n", &a), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "not key=value"));
}

/* A memfd holding the predictions header and `rows` rows of (label, p0, p1). */
static int predictions(const char *magic, uint64_t rows, uint32_t width, const float *values, size_t n_values)
{
	int fd = memfd_create("test", 0);
	uint32_t classes = 2;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, magic, 8), 8);
	assert_int_equal(write(fd, &rows, 8), 8);
	assert_int_equal(write(fd, &width, 4), 4);
	assert_int_equal(write(fd, &classes, 4), 4);
	assert_int_equal(write(fd, values, n_values * sizeof(float)), (ssize_t)(n_values * sizeof(float)));
	return fd;
}

static enum fedc_err finish(int fd, uint64_t rows, struct fedc_buf *out)
{
	struct node_dataset ds = { .n_samples = rows, .n_classes = 2, .n_features = 3 };
	struct assess_request a;
	struct fedc_msg *m = request("predict", NULL);
	enum fedc_err rc;

	assert_int_equal(assess__parse(m, &a), FEDC_OK);
	a.bins = 10;
	fedc_buf_init(out, FEDC_MAX_ASSESS_RESULT);
	rc = assess__finish(&a, m, dir, &ds, fd, out);
	fedc_msg_free(m);
	close(fd);
	return rc;
}

static void test_predict_counts_and_file(void **state)
{
	const float v[] = { 0, 0.9f, 0.1f, 1, 0.25f, 0.75f, 1, 0.6f, 0.4f };
	struct fedc_buf out;
	char path[256];
	struct stat st;

	(void)state;
	assert_int_equal(finish(predictions(PLAN_ASSESS_MAGIC, 3, 2, v, 9), 3, &out), FEDC_OK);
	assert_non_null(strstr(out.data, "count rows 3\n"));
	assert_non_null(strstr(out.data, "count cm.0.0 1\n"));
	assert_non_null(strstr(out.data, "count cm.1.1 1\n"));
	assert_non_null(strstr(out.data, "count cm.1.0 1\n"));
	assert_null(strstr(out.data, "cm.0.1")); /* zero counts are left out */
	assert_non_null(strstr(out.data, "count pos.1.7 1\n"));
	assert_non_null(strstr(out.data, "count neg.1.1 1\n"));
	snprintf(path, sizeof(path), "%s/predictions/11111111-2222-3333-4444-555555555555__ds.csv", dir);
	assert_non_null(strstr(out.data, path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	fedc_buf_free(&out);
}

static void bad(const char *magic, uint64_t claimed, uint64_t rows, const float *v, size_t n, const char *why)
{
	struct fedc_buf out;

	assert_int_equal(finish(predictions(magic, claimed, 2, v, n), rows, &out), FEDC_ERR_PLAN);
	if (!strstr(fedc_last_error(), why))
		fail_msg("\"%s\" does not say \"%s\"", fedc_last_error(), why);
	fedc_buf_free(&out);
}

static void test_predict_refuses_bad_output(void **state)
{
	const float good[] = { 0, 0.9f, 0.1f, 1, 0.2f, 0.8f };
	const float sum[] = { 0, 0.9f, 0.9f, 1, 0.2f, 0.8f };
	const float neg[] = { 0, 1.5f, -0.5f, 1, 0.2f, 0.8f };
	const float nan[] = { 0, NAN, 0.1f, 1, 0.2f, 0.8f };
	const float label[] = { 2, 0.9f, 0.1f, 1, 0.2f, 0.8f };
	const float half[] = { 0.5f, 0.9f, 0.1f, 1, 0.2f, 0.8f };

	(void)state;
	bad("fedcxxx1", 2, 2, good, 6, "lack their header");
	bad(PLAN_ASSESS_MAGIC, 3, 2, good, 6, "do not fit the dataset");
	bad(PLAN_ASSESS_MAGIC, 2, 2, good, 5, "do not fit the dataset");
	bad(PLAN_ASSESS_MAGIC, 2, 2, sum, 6, "summing to");
	bad(PLAN_ASSESS_MAGIC, 2, 2, neg, 6, "probability");
	bad(PLAN_ASSESS_MAGIC, 2, 2, nan, 6, "not finite");
	bad(PLAN_ASSESS_MAGIC, 2, 2, label, 6, "not a class index");
	bad(PLAN_ASSESS_MAGIC, 2, 2, half, 6, "not a class index");
}

/* A regression: one value per row, sums for MSE, MAE and R². */
static void test_predict_regression_sums(void **state)
{
	const float v[] = { 1.0f, 1.5f, 3.0f, 2.0f };
	struct node_dataset ds = { .n_samples = 2, .n_classes = 0, .n_features = 1 };
	struct fedc_msg *m = request("predict", NULL);
	struct assess_request a;
	struct fedc_buf out;
	uint64_t rows = 2;
	uint32_t width = 1, classes = 0;
	int fd = memfd_create("test", 0);

	(void)state;
	assert_int_equal(write(fd, PLAN_ASSESS_MAGIC, 8), 8);
	assert_int_equal(write(fd, &rows, 8), 8);
	assert_int_equal(write(fd, &width, 4), 4);
	assert_int_equal(write(fd, &classes, 4), 4);
	assert_int_equal(write(fd, v, sizeof(v)), (ssize_t)sizeof(v));
	assert_int_equal(assess__parse(m, &a), FEDC_OK);
	fedc_buf_init(&out, FEDC_MAX_ASSESS_RESULT);
	assert_int_equal(assess__finish(&a, m, dir, &ds, fd, &out), FEDC_OK);
	assert_non_null(strstr(out.data, "count rows 2\n"));
	assert_non_null(strstr(out.data, "sum abs_err 1.5\n"));  /* |1.5-1| + |2-3| */
	assert_non_null(strstr(out.data, "sum sq_err 1.25\n"));  /* 0.25 + 1 */
	assert_non_null(strstr(out.data, "sum y 4\n"));
	assert_non_null(strstr(out.data, "sum y2 10\n"));
	assert_null(strstr(out.data, "cm."));
	fedc_buf_free(&out);
	fedc_msg_free(m);
	close(fd);
}

static enum fedc_err explain(const char *text, uint64_t features, struct fedc_buf *out)
{
	struct node_dataset ds = { .n_samples = 10, .n_features = features };
	struct assess_request a;
	struct fedc_msg *m = request("explain", NULL);
	int fd = memfd_create("test", 0);
	enum fedc_err rc;

	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(assess__parse(m, &a), FEDC_OK);
	fedc_buf_init(out, FEDC_MAX_ASSESS_RESULT);
	rc = assess__finish(&a, m, dir, &ds, fd, out);
	fedc_msg_free(m);
	close(fd);
	return rc;
}

static void test_explain_lines(void **state)
{
	struct fedc_buf out;

	(void)state;
	assert_int_equal(explain("base 0.9\nfeature 0 0.1 mean radius\nfeature 1 0 x1\n", 2, &out), FEDC_OK);
	assert_string_equal(out.data, "mean base 0.90000000000000002\nmean imp.0 0.10000000000000001\n"
				      "text name.0 mean radius\nmean imp.1 0\ntext name.1 x1\n");
	fedc_buf_free(&out);
	assert_int_equal(explain("base 0.9\nfeature 0 0.1 a\n", 2, &out), FEDC_ERR_PLAN);
	fedc_buf_free(&out);
	assert_int_equal(explain("base 0.9\nfeature 1 0.1 a\nfeature 0 0.1 b\n", 2, &out), FEDC_ERR_PLAN);
	fedc_buf_free(&out);
	assert_int_equal(explain("feature 0 0.1 a\n", 1, &out), FEDC_ERR_PLAN);
	fedc_buf_free(&out);
	assert_int_equal(explain("base 0.9\nfeature 0 nan a\n", 1, &out), FEDC_ERR_PLAN);
	fedc_buf_free(&out);
	assert_int_equal(explain("base 0.9\nfeature 0 0.1 a\x01\n", 1, &out), FEDC_ERR_PLAN);
	fedc_buf_free(&out);
	assert_int_equal(explain("base 0.9\nwhatever\n", 0, &out), FEDC_ERR_PLAN);
	fedc_buf_free(&out);
	/* a line without its name does not take the next line for one */
	assert_int_equal(explain("base 0.9\nfeature 0 0.1\nfeature 1 0.2 b\n", 2, &out), FEDC_ERR_PLAN);
	fedc_buf_free(&out);
	assert_int_equal(explain("base 0.9\nfeature 0 0.1 \n", 1, &out), FEDC_ERR_PLAN);
	fedc_buf_free(&out);
}

static void test_parse_robust_args(void **state)
{
	struct assess_request a;

	(void)state;
	assert_int_equal(parse("robust", NULL, &a), FEDC_OK);
	assert_string_equal(a.args, "");
	assert_int_equal(parse("robust", "attacks = fgsm\nepsilons = 0.1, 0.5\n", &a), FEDC_OK);
	assert_string_equal(a.args, "attacks = fgsm\nepsilons = 0.1, 0.5\n"); /* passed on as it came */
	assert_int_equal(parse("robust", "epsilons = -1\n", &a), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "assess_args: robust: epsilons"));
	assert_int_equal(parse("robust", "attacks = foo\n", &a), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "unknown attack \"foo\""));
	assert_int_equal(parse("robust", "pgd_steps = 0\n", &a), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "pgd_steps"));
	assert_int_equal(parse("robust", "bins = 10\n", &a), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "unknown key \"bins\""));
}

static enum fedc_err robust_lines(const char *text, struct fedc_buf *out)
{
	fedc_buf_init(out, FEDC_MAX_ASSESS_RESULT);
	return assess__robust_lines(text, strlen(text), out);
}

static void test_robust_lines_accepted(void **state)
{
	struct fedc_buf out;
	struct assess_request a;
	struct node_dataset ds = { .n_samples = 5, .n_classes = 2, .n_features = 3 };
	struct fedc_msg *m = request("robust", NULL);
	const char *text = "mean robust.clean.accuracy 0.5\nmean robust.fgsm.0.1.loss 1e-3\n";
	int fd = memfd_create("test", 0);

	(void)state;
	assert_int_equal(robust_lines(text, &out), FEDC_OK);
	assert_string_equal(out.data, "mean robust.clean.accuracy 0.5\nmean robust.fgsm.0.1.loss 0.001\n");
	fedc_buf_free(&out);
	/* through assess__finish, from the memfd the plan process wrote */
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(assess__parse(m, &a), FEDC_OK);
	fedc_buf_init(&out, FEDC_MAX_ASSESS_RESULT);
	assert_int_equal(assess__finish(&a, m, dir, &ds, fd, &out), FEDC_OK);
	assert_non_null(strstr(out.data, "mean robust.fgsm.0.1.loss 0.001\n"));
	fedc_buf_free(&out);
	fedc_msg_free(m);
	close(fd);
}

/* "mean robust.clean.aaa...a 1\n" with a name of `len` bytes. */
static const char *long_name(size_t len, char *line, size_t cap)
{
	size_t at = (size_t)snprintf(line, cap, "mean robust.clean.");

	assert_true(len + 8 < cap && len > 13);
	memset(line + at, 'a', len - 13);
	snprintf(line + 5 + len, cap - 5 - len, " 1\n");
	return line;
}

static void test_robust_lines_malformed(void **state)
{
	static const char *const bad[] = {
		"",                                       /* nothing at all */
		"mean robust.clean.accuracy 0.5",         /* no final newline */
		"sum robust.clean.accuracy 0.5\n",        /* not a mean */
		"mean robust.clean.accuracy\n",           /* no value */
		"mean clean.accuracy 0.5\n",              /* outside robust. */
		"mean robust. 0.5\n",                     /* no name after robust. */
		"mean robust.clean.acc uracy 0.5\n",      /* a space in the name */
		"mean robust.clean.a/b 0.5\n",            /* a character a name may not hold */
		"mean robust.clean.accuracy 0.5x\n",      /* not a number */
		"mean robust.clean.accuracy 0.5\n\n",     /* an empty line */
		"mean robust.clean.accuracy 0.5\nmean robust.fgsm.0.1.acc\x01 1\n",
	};
	struct fedc_buf out;
	char line[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(robust_lines(bad[i], &out), FEDC_ERR_PLAN);
		fedc_buf_free(&out);
	}
	assert_int_equal(robust_lines("", &out), FEDC_ERR_PLAN);
	assert_non_null(strstr(fedc_last_error(), "no metric"));
	fedc_buf_free(&out);
	/* a NUL inside */
	fedc_buf_init(&out, FEDC_MAX_ASSESS_RESULT);
	assert_int_equal(assess__robust_lines("mean robust.c.a 1\0\n", 19, &out), FEDC_ERR_PLAN);
	fedc_buf_free(&out);
	/* a name of 64 bytes: one more than the researcher takes */
	assert_int_equal(robust_lines(long_name(ASSESS_ROBUST_NAME_MAX + 1, line, sizeof(line)), &out), FEDC_ERR_PLAN);
	assert_non_null(strstr(fedc_last_error(), "line 1"));
	fedc_buf_free(&out);
	assert_int_equal(robust_lines(long_name(ASSESS_ROBUST_NAME_MAX, line, sizeof(line)), &out), FEDC_OK);
	fedc_buf_free(&out);
}

static void test_robust_lines_not_finite(void **state)
{
	static const char *const bad[] = { "nan", "inf", "-inf", "1e999" };
	char line[128];
	struct fedc_buf out;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "mean robust.clean.accuracy 0.5\nmean robust.fgsm.0.1.loss %s\n", bad[i]);
		assert_int_equal(robust_lines(line, &out), FEDC_ERR_PLAN);
		assert_non_null(strstr(fedc_last_error(), "line 2"));
		fedc_buf_free(&out);
	}
}

static void test_robust_lines_too_many(void **state)
{
	struct fedc_buf text, out;

	(void)state;
	fedc_buf_init(&text, 1u << 20);
	for (int i = 0; i < ASSESS_ROBUST_MAX_LINES; i++)
		assert_int_equal(fedc_buf_printf(&text, "mean robust.x.m%d 1\n", i), FEDC_OK);
	fedc_buf_init(&out, 1u << 20);
	assert_int_equal(assess__robust_lines(text.data, text.len, &out), FEDC_OK);
	fedc_buf_free(&out);
	assert_int_equal(fedc_buf_printf(&text, "mean robust.x.one_more 1\n"), FEDC_OK);
	fedc_buf_init(&out, 1u << 20);
	assert_int_equal(assess__robust_lines(text.data, text.len, &out), FEDC_ERR_PLAN);
	assert_non_null(strstr(fedc_last_error(), "more than"));
	fedc_buf_free(&out);
	/* within the count but past what the reply holds */
	fedc_buf_init(&out, 64);
	assert_int_equal(assess__robust_lines(text.data, text.len, &out), FEDC_ERR_TOO_BIG);
	fedc_buf_free(&out);
	fedc_buf_free(&text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_args),
		cmocka_unit_test(test_predict_counts_and_file),
		cmocka_unit_test(test_predict_refuses_bad_output),
		cmocka_unit_test(test_predict_regression_sums),
		cmocka_unit_test(test_explain_lines),
		cmocka_unit_test(test_parse_robust_args),
		cmocka_unit_test(test_robust_lines_accepted),
		cmocka_unit_test(test_robust_lines_malformed),
		cmocka_unit_test(test_robust_lines_not_finite),
		cmocka_unit_test(test_robust_lines_too_many),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
