/* export (researcher/export.h): a parameter file with tensors of every rank
 * and dtype, odd float values and a name with '/', written as .npz and
 * .safetensors and loaded back by NumPy and PyTorch (tests/integration/
 * check_export.py), every value compared bit for bit; names an archive
 * cannot hold refused, leaving no file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test_argv.h"
#include "export.h"
#include "fedc/params.h"

static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fedc-export-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* EXPECTED.json and EXPECTED.bin for check_export.py, from the parameter
 * file as fedc reads it. */
static void write_expected(const char *params, const char *json_path, const char *bin_path)
{
	struct fedc_params *p = NULL;
	FILE *js = fopen(json_path, "w"), *bin = fopen(bin_path, "wb");
	size_t offset = 0;

	assert_non_null(js);
	assert_non_null(bin);
	assert_int_equal(fedc_params_open(params, &p), FEDC_OK);
	fputs("[", js);
	for (size_t i = 0; i < fedc_params_count(p); i++) {
		const struct fedc_tensor *t = &fedc_params_tensors(p)[i];
		size_t n = (size_t)fedc_tensor_elements(t) * fedc_dtype_size(t->dtype);

		fprintf(js, "%s{\"name\": \"%s\", \"dtype\": \"%s\", \"shape\": [", i ? ", " : "", t->name,
			fedc_dtype_name(t->dtype));
		for (uint32_t d = 0; d < t->ndim; d++)
			fprintf(js, "%s%llu", d ? ", " : "", (unsigned long long)t->shape[d]);
		fprintf(js, "], \"offset\": %zu, \"nbytes\": %zu}", offset, n);
		assert_int_equal(fwrite(t->data, 1, n, bin), n);
		offset += n;
	}
	fputs("]\n", js);
	fedc_params_close(p);
	assert_int_equal(fclose(js), 0);
	assert_int_equal(fclose(bin), 0);
}

static int run_python(const char *const argv[])
{
	char **copy = test_argv_dup(argv);
	pid_t pid = copy ? fork() : -1;
	int st = 0;

	if (pid == 0) {
		execv(copy[0], copy);
		_exit(127);
	}
	test_argv_free(copy);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_numpy_and_torch_load_every_value(void **state)
{
	static float w[2 * 3 * 4], scalar = 3.25f, bias[5] = { -0.0f, 1e-45f, 3.4e38f, 0.1f, -7.5f };
	static uint64_t mask[3] = { 0, UINT64_MAX, 0x0123456789abcdefULL };
	struct fedc_tensor t[] = {
		{ "w", FEDC_DTYPE_F32, 3, { 2, 3, 4 }, w },
		{ "scalar", FEDC_DTYPE_F32, 0, { 0 }, &scalar },
		{ "layer1/bias", FEDC_DTYPE_F32, 1, { 5 }, bias },
		{ "mask", FEDC_DTYPE_U64, 1, { 3 }, mask },
	};
	char params[128], npz[128], st[128], js[128], bin[128];
	const char *argv[] = { FEDC_PYTHON3, FEDC_SOURCE_DIR "/tests/integration/check_export.py", js, bin, npz, st,
			       NULL };

	(void)state;
	for (size_t i = 0; i < 24; i++)
		w[i] = (float)i * 0.37f - 4.0f;
	w[5] = NAN;
	w[6] = INFINITY;
	w[7] = -INFINITY;
	snprintf(params, sizeof(params), "%s/global.params", dir);
	snprintf(npz, sizeof(npz), "%s/global.npz", dir);
	snprintf(st, sizeof(st), "%s/global.safetensors", dir);
	snprintf(js, sizeof(js), "%s/expected.json", dir);
	snprintf(bin, sizeof(bin), "%s/expected.bin", dir);
	assert_int_equal(fedc_params_write_file(params, t, sizeof(t) / sizeof(t[0])), FEDC_OK);
	assert_int_equal(export__write(params, EXPORT_NPZ, npz), FEDC_OK);
	assert_int_equal(export__write(params, EXPORT_SAFETENSORS, st), FEDC_OK);
	write_expected(params, js, bin);
	assert_int_equal(run_python(argv), 0);
}

static void test_names_an_archive_cannot_hold(void **state)
{
	static const char *const bad[] = { "../evil", "/abs", "a//b", "a/./b", "tab\there", "back\\slash" };
	static float v = 1.0f;
	char params[128], out[128];

	(void)state;
	snprintf(params, sizeof(params), "%s/bad.params", dir);
	snprintf(out, sizeof(out), "%s/bad.npz", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fedc_tensor t = { bad[i], FEDC_DTYPE_F32, 1, { 1 }, &v };

		if (fedc_params_write_file(params, &t, 1) != FEDC_OK)
			continue; /* the parameter file itself refuses it */
		assert_int_equal(export__write(params, EXPORT_NPZ, out), FEDC_ERR_MALFORMED);
		assert_non_null(strstr(fedc_last_error(), "tensor \""));
		assert_int_not_equal(access(out, F_OK), 0);
	}
	{
		struct fedc_tensor t = { "__metadata__", FEDC_DTYPE_F32, 1, { 1 }, &v };

		assert_int_equal(fedc_params_write_file(params, &t, 1), FEDC_OK);
		assert_int_equal(export__write(params, EXPORT_SAFETENSORS, out), FEDC_ERR_MALFORMED);
		assert_non_null(strstr(fedc_last_error(), "reserves"));
		assert_int_equal(export__write(params, EXPORT_NPZ, out), FEDC_OK); /* a fine name in a zip */
	}
}

static void test_bad_input(void **state)
{
	enum export_format f;
	char params[128], out[128];
	FILE *fp;

	(void)state;
	assert_int_equal(export__parse_format("npy", &f), FEDC_ERR_INVAL);
	assert_non_null(strstr(fedc_last_error(), "expected npz or safetensors"));
	snprintf(params, sizeof(params), "%s/junk.params", dir);
	snprintf(out, sizeof(out), "%s/junk.npz", dir);
	assert_int_not_equal(export__write(params, EXPORT_NPZ, out), FEDC_OK); /* missing */
	fp = fopen(params, "w");
	assert_non_null(fp);
	fputs("not a parameter file", fp);
	fclose(fp);
	assert_int_equal(export__write(params, EXPORT_NPZ, out), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "junk.params"));
	assert_int_not_equal(access(out, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_numpy_and_torch_load_every_value, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_names_an_archive_cannot_hold, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_bad_input, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
