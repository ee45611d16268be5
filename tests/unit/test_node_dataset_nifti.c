/* Medical volumes (node/dataset_nifti*.c): volumes written here with
 * libnifti2 (plain and gzip'd), read back through registration and load:
 * the voxel order, scaling, z-score, resampling, the demographics join,
 * features and masks; and each refusal, named. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nifti2_io.h>

#include "dataset.h"
#include "dataset_nifti.h"

#define NEAR(got, want, eps) assert_true(fabs((double)(got) - (double)(want)) <= (eps))

static char tmp_dir[64];
static char folder[128];
static char table[160];

static int make_tmp(void **state)
{
	(void)state;
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/fedc-test-nifti-XXXXXX");
	if (!mkdtemp(tmp_dir))
		return -1;
	snprintf(folder, sizeof(folder), "%s/set", tmp_dir);
	snprintf(table, sizeof(table), "%s/demographics.csv", tmp_dir);
	return mkdir(folder, 0755);
}

static int drop_tmp(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *at(const char *rel)
{
	static char path[4][512];
	static int next;

	next = (next + 1) % 4;
	snprintf(path[next], sizeof(path[next]), "%s/%s", folder, rel);
	return path[next];
}

static void put_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* A d x h x w volume (x fastest) of `type` at `rel` (a subject folder is
 * made as needed); voxel i is fill(i). */
static void volume(const char *rel, uint32_t d, uint32_t h, uint32_t w, int type, double (*fill)(size_t),
		   double slope)
{
	const int64_t dims[8] = { 3, w, h, d, 1, 1, 1, 1 };
	nifti_image *nim = nifti_make_new_nim(dims, type, 1);
	char dir[512], *slash;

	assert_non_null(nim);
	snprintf(dir, sizeof(dir), "%s", at(rel));
	slash = strrchr(dir, '/');
	*slash = '\0';
	(void)mkdir(dir, 0755);
	for (size_t i = 0; i < (size_t)nim->nvox; i++) {
		if (type == DT_FLOAT32)
			((float *)nim->data)[i] = (float)fill(i);
		else if (type == DT_INT16)
			((int16_t *)nim->data)[i] = (int16_t)fill(i);
		else
			((uint8_t *)nim->data)[i] = (uint8_t)fill(i);
	}
	nim->scl_slope = slope;
	assert_int_equal(nifti_set_filenames(nim, at(rel), 0, 1), 0);
	nifti_image_write(nim);
	nifti_image_free(nim);
	assert_int_equal(access(at(rel), R_OK), 0);
}

/* A NIfTI-2 file written by hand from the format's layout (540-byte header,
 * 4 bytes of extension flags, float32 voxels from byte 544): libnifti2
 * 2.1 writes no header when asked for NIfTI-2 this way, and a reader is
 * best checked against bytes it did not write itself. */
static void nifti2_by_hand(const char *rel, uint32_t d, uint32_t h, uint32_t w, double (*fill)(size_t))
{
	uint8_t hdr[544] = { 0 };
	int32_t sizeof_hdr = 540;
	int16_t datatype = DT_FLOAT32, bitpix = 32;
	int64_t dims[8] = { 3, w, h, d, 1, 1, 1, 1 }, vox_offset = 544;
	double pixdim[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
	char dir[512], *slash;
	FILE *f;

	memcpy(hdr, &sizeof_hdr, 4);
	memcpy(hdr + 4, "n+2\0\r\n\032\n", 8);
	memcpy(hdr + 12, &datatype, 2);
	memcpy(hdr + 14, &bitpix, 2);
	memcpy(hdr + 16, dims, sizeof(dims));
	memcpy(hdr + 104, pixdim, sizeof(pixdim));
	memcpy(hdr + 168, &vox_offset, 8);
	snprintf(dir, sizeof(dir), "%s", at(rel));
	slash = strrchr(dir, '/');
	*slash = '\0';
	(void)mkdir(dir, 0755);
	f = fopen(at(rel), "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(hdr, 1, sizeof(hdr), f), sizeof(hdr));
	for (size_t i = 0; i < (size_t)d * h * w; i++) {
		float v = (float)fill(i);

		assert_int_equal(fwrite(&v, 4, 1, f), 1);
	}
	assert_int_equal(fclose(f), 0);
}

static double ramp(size_t i)
{
	return (double)i;
}

static double twos(size_t i)
{
	return i % 4 == 0 ? 2 : 0;
}

static double ones(size_t i)
{
	(void)i;
	return 1;
}

static enum fedc_err inspect(const char *options, bool with_table, struct node_dataset *ds)
{
	struct dataset_options opts = { "nifti", "auto", -1, false };

	memset(ds, 0, sizeof(*ds));
	snprintf(ds->path, sizeof(ds->path), "%s", folder);
	snprintf(ds->name, sizeof(ds->name), "vols");
	snprintf(ds->options, sizeof(ds->options), "%s", options);
	if (with_table)
		snprintf(ds->labels_path, sizeof(ds->labels_path), "%s", table);
	fedc_clear_error();
	return dataset__inspect(ds, &opts);
}

static void expect_refused(const char *options, bool with_table, enum fedc_err code, const char *fragment)
{
	struct node_dataset ds;
	enum fedc_err rc = inspect(options, with_table, &ds);

	if (rc != code || !strstr(fedc_last_error(), fragment))
		print_error("got %s \"%s\", wanted %s with \"%s\"\n", fedc_strerror(rc), fedc_last_error(),
			    fedc_strerror(code), fragment);
	assert_int_equal(rc, code);
	assert_non_null(strstr(fedc_last_error(), fragment));
	assert_int_equal(ds.n_samples, 0);
	assert_string_equal(ds.digest, "");
}

/* Two subjects in byte-wise order; [D][H][W] with x fastest; scl_slope
 * applied; no z-score with normalize=none; features after the voxels; a
 * table row without a folder skipped and counted. */
static void test_load_exact_with_features(void **state)
{
	struct node_dataset ds;
	struct fedc_data d;

	(void)state;
	volume("b/T1.nii.gz", 2, 3, 4, DT_INT16, ramp, 0.5);
	nifti2_by_hand("a/T1.nii", 2, 3, 4, ramp); /* one reader for NIfTI-1 and -2 */
	put_text(table, "id,age,label\nb,61,1\nghost,40,0\na, 35 ,0\n");
	assert_int_equal(inspect("modality=T1;label_column=label;normalize=none;features=age", true, &ds), FEDC_OK);
	assert_string_equal(ds.type, "nifti");
	assert_string_equal(ds.shape, "1x2x3x4");
	assert_int_equal(ds.n_samples, 2);
	assert_int_equal(ds.n_features, 25);
	assert_int_equal(ds.n_classes, 2);
	assert_string_equal(ds.label_counts, "1,1");
	assert_non_null(strstr(ds.options, "skipped_rows=1;"));
	assert_int_equal(dataset__load(&ds, &d), FEDC_OK);
	assert_int_equal(d.sample_ndim, 4);
	assert_true(d.sample_shape[0] == 1 && d.sample_shape[1] == 2 && d.sample_shape[2] == 3 && d.sample_shape[3] == 4);
	assert_int_equal(d.label_width, 1);
	NEAR(d.x[13], 13, 1e-6);          /* a: voxel (z 1, y 0, x 1) */
	NEAR(d.x[24], 35, 1e-6);          /* a's age */
	NEAR(d.x[25 + 13], 6.5, 1e-6);    /* b: 13 * 0.5 */
	NEAR(d.x[25 + 24], 61, 1e-6);
	assert_true(d.y[0] == 0 && d.y[1] == 1);
	dataset__free_data(&d);
}

/* z-score per volume; --size resamples trilinearly (a constant stays the
 * constant; a 2-voxel ramp doubled keeps its ends' mean). */
static void test_zscore_and_resize(void **state)
{
	struct node_dataset ds;
	struct fedc_data d;
	double sum = 0, sq = 0;

	(void)state;
	volume("s1/T1.nii.gz", 2, 2, 2, DT_FLOAT32, ramp, 0);
	volume("s2/T1.nii.gz", 3, 3, 3, DT_FLOAT32, ones, 0);
	put_text(table, "subject,label\ns1,0\ns2,1\n");
	expect_refused("modality=T1;label_column=label", true, FEDC_ERR_MALFORMED,
		       "s2/T1.nii.gz: 3x3x3 voxels (DxHxW), the first volume has 2x2x2; give --size");
	assert_int_equal(inspect("modality=T1;label_column=label;size=4x4x4", true, &ds), FEDC_OK);
	assert_string_equal(ds.shape, "1x4x4x4");
	assert_int_equal(dataset__load(&ds, &d), FEDC_OK);
	for (size_t i = 0; i < 64; i++) {
		sum += d.x[i];
		sq += (double)d.x[i] * d.x[i];
		NEAR(d.x[64 + i], 0, 1e-6); /* a constant volume: all 0 */
	}
	NEAR(sum / 64, 0, 1e-5);
	NEAR(sq / 64, 1, 1e-4);
	assert_true(d.x[0] < d.x[63]);
	dataset__free_data(&d);
}

/* A mask: one class per voxel (nearest when resized), label_width the
 * voxel count; a mask of another size than its image, or not class indices,
 * is refused. No table needed. */
static void test_mask_labels(void **state)
{
	struct node_dataset ds;
	struct fedc_data d;

	(void)state;
	volume("p/T1.nii.gz", 2, 2, 2, DT_FLOAT32, ramp, 0);
	volume("p/seg.nii.gz", 2, 2, 2, DT_UINT8, twos, 0);
	assert_int_equal(inspect("modality=T1;mask=seg", false, &ds), FEDC_OK);
	assert_int_equal(ds.n_classes, 3);
	assert_string_equal(ds.label_counts, "6,0,2");
	assert_int_equal(dataset__load(&ds, &d), FEDC_OK);
	assert_int_equal(d.label_width, 8);
	assert_true(d.y[0] == 2 && d.y[1] == 0 && d.y[4] == 2);
	dataset__free_data(&d);
	assert_int_equal(inspect("modality=T1;mask=seg;size=4x4x4", false, &ds), FEDC_OK);
	assert_string_equal(ds.label_counts, "48,0,16");
	volume("p/seg.nii.gz", 2, 2, 3, DT_UINT8, twos, 0);
	expect_refused("modality=T1;mask=seg", false, FEDC_ERR_MALFORMED, "p/seg.nii.gz: 2x2x3 voxels, its image has 2x2x2");
	volume("p/seg.nii.gz", 2, 2, 2, DT_FLOAT32, ramp, 0.5);
	expect_refused("modality=T1;mask=seg", false, FEDC_ERR_MALFORMED, "voxel 1 of the mask is 0.5");
	expect_refused("modality=T1;mask=T1", false, FEDC_ERR_INVAL, "--mask \"T1\"");
	expect_refused("modality=T1", false, FEDC_ERR_INVAL, "one of --label-column NAME");
	expect_refused("mask=seg", false, FEDC_ERR_INVAL, "needs --modality");
}

/* The join and the table: a subject without a row, a missing modality, a
 * bad label, an unknown column, a feature that is no number, a ragged row,
 * a quoted cell holding a comma, a quote never closed. */
static void test_join_refusals(void **state)
{
	(void)state;
	volume("a/T1.nii.gz", 2, 2, 2, DT_FLOAT32, ramp, 0);
	volume("b/T1.nii.gz", 2, 2, 2, DT_FLOAT32, ramp, 0);
	put_text(table, "subject,label\na,0\n");
	expect_refused("modality=T1;label_column=label", true, FEDC_ERR_MALFORMED, "subject \"b\" has no row in");
	put_text(table, "subject,label,age\na,0,3\nb,x,4\n");
	expect_refused("modality=T1;label_column=label", true, FEDC_ERR_MALFORMED, "demographics.csv:3: label \"x\"");
	expect_refused("modality=T1;label_column=diagnosis", true, FEDC_ERR_INVAL, "--label-column \"diagnosis\"");
	expect_refused("modality=T2;label_column=label", true, FEDC_ERR_MALFORMED, "/a: no T2.nii.gz or T2.nii");
	put_text(table, "subject,label,age\na,0,3\nb,1,\n");
	expect_refused("modality=T1;label_column=label;features=age", true, FEDC_ERR_MALFORMED,
		       "demographics.csv:3: column \"age\" holds \"\", not a number");
	put_text(table, "subject,label\na,0\nb,1,9\n");
	expect_refused("modality=T1;label_column=label", true, FEDC_ERR_MALFORMED,
		       "demographics.csv:3: 3 cells, the header has 2");
	/* quoted cells are read as CSV (libcsv): this one holds a comma, and
	 * the label column is then "x,y", not a class */
	put_text(table, "subject,label\n\"a\",0\nb,\"x,y\"\n");
	expect_refused("modality=T1;label_column=label", true, FEDC_ERR_MALFORMED, "label \"x,y\"");
	put_text(table, "subject,label\na,0\nb,\"1\n");
	expect_refused("modality=T1;label_column=label", true, FEDC_ERR_MALFORMED, "quoted cell is not closed");
	put_text(table, "subject,label\na,0\nb,1\na,1\n");
	expect_refused("modality=T1;label_column=label", true, FEDC_ERR_MALFORMED, "subject \"a\" has a row already");
	expect_refused("modality=T1;label_column=label", false, FEDC_ERR_INVAL, "need --demographics FILE");
}

static void corrupt_copy(const char *from, const char *to, size_t keep, size_t flip_at)
{
	uint8_t buf[1 << 16];
	FILE *f = fopen(from, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (keep < n)
		n = keep;
	if (flip_at < n)
		buf[flip_at] ^= 0xff;
	f = fopen(to, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void test_corrupt_nifti_refused(void **state)
{
	char good[512], bad[512];

	(void)state;
	volume("a/T1.nii", 4, 4, 4, DT_FLOAT32, ramp, 0);
	volume("b/T1.nii", 4, 4, 4, DT_FLOAT32, ramp, 0);
	put_text(table, "subject,label\na,0\nb,1\n");
	snprintf(good, sizeof(good), "%s", at("a/T1.nii"));
	snprintf(bad, sizeof(bad), "%s", at("b/T1.nii"));
	corrupt_copy(good, bad, 352 + 100, SIZE_MAX); /* header, then part of the voxels */
	expect_refused("modality=T1;label_column=label", true, FEDC_ERR_MALFORMED, "b/T1.nii: the voxel data is truncated");
	corrupt_copy(good, bad, 200, SIZE_MAX);
	expect_refused("modality=T1;label_column=label", true, FEDC_ERR_MALFORMED, "b/T1.nii: not a readable NIfTI");
	corrupt_copy(good, bad, SIZE_MAX, 0); /* sizeof_hdr 348 no longer */
	expect_refused("modality=T1;label_column=label", true, FEDC_ERR_MALFORMED, "b/T1.nii: not a readable NIfTI");
	assert_int_equal(unlink(bad), 0);
	volume("b/T1.nii.gz", 4, 4, 4, DT_FLOAT32, ramp, 0);
	snprintf(good, sizeof(good), "%s", at("b/T1.nii.gz"));
	snprintf(bad, sizeof(bad), "%s", at("b/T1.nii.gz"));
	corrupt_copy(good, bad, 60, SIZE_MAX); /* a gzip stream cut short */
	expect_refused("modality=T1;label_column=label", true, FEDC_ERR_MALFORMED, "b/T1.nii.gz: ");
	volume("b/T1.nii", 4, 4, 4, DT_FLOAT32, ramp, 0);
	expect_refused("modality=T1;label_column=label", true, FEDC_ERR_MALFORMED, "both T1.nii.gz and T1.nii");
}

static void next_tick(void)
{
	struct timespec t = { 0, 20 * 1000 * 1000 };

	nanosleep(&t, NULL);
}

/* A volume or the table changed after registration: refused, named. */
static void test_changed_refused(void **state)
{
	struct node_dataset ds;
	struct fedc_data d;

	(void)state;
	volume("a/T1.nii.gz", 2, 2, 2, DT_FLOAT32, ramp, 0);
	volume("b/T1.nii.gz", 2, 2, 2, DT_FLOAT32, ramp, 0);
	put_text(table, "subject,label\na,0\nb,1\n");
	assert_int_equal(inspect("modality=T1;label_column=label", true, &ds), FEDC_OK);
	next_tick();
	volume("b/T1.nii.gz", 2, 2, 2, DT_FLOAT32, ones, 0);
	assert_int_equal(dataset__load(&ds, &d), FEDC_ERR_DIGEST);
	assert_non_null(strstr(fedc_last_error(), "changed or added: b/T1.nii.gz)"));
	volume("b/T1.nii.gz", 2, 2, 2, DT_FLOAT32, ramp, 0);
	put_text(table, "subject,label\na,1\nb,1\n");
	assert_int_equal(dataset__load(&ds, &d), FEDC_ERR_DIGEST);
	assert_non_null(strstr(fedc_last_error(), "changed: "));
	assert_non_null(strstr(fedc_last_error(), "demographics.csv"));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, make_tmp, drop_tmp)
	const struct CMUnitTest tests[] = {
		T(test_load_exact_with_features), T(test_zscore_and_resize), T(test_mask_labels),
		T(test_join_refusals),		  T(test_corrupt_nifti_refused), T(test_changed_refused),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
