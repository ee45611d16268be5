/* Image folders (node/dataset_image.c, dataset_image_decode.c): files
 * written here with libpng and libjpeg, read back through registration
 * (inspect) and load; every refusal names its file. */
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

#include "dataset.h"
#include "dataset_image.h"
#include "image_files.h"

/* cmocka 1.1's assert_float_equal takes floats; the expectations here are doubles. */
#define NEAR(got, want, eps) assert_true(fabs((double)(got) - (double)(want)) <= (eps))

static char tmp_dir[64];
static char folder[128];

static int make_tmp(void **state)
{
	(void)state;
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/fedc-test-image-XXXXXX");
	if (!mkdtemp(tmp_dir))
		return -1;
	snprintf(folder, sizeof(folder), "%s/set", tmp_dir);
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

static void sub(const char *rel)
{
	assert_int_equal(mkdir(at(rel), 0755), 0);
}

/* A w x h grey PNG whose pixel (x, y) is base + 10 y + x. */
static void grey_png(const char *rel, uint32_t w, uint32_t h, uint8_t base)
{
	uint8_t px[64 * 64];

	for (uint32_t i = 0; i < w * h; i++)
		px[i] = (uint8_t)(base + 10 * (i / w) + i % w);
	assert_true(test_write_png(at(rel), w, h, 1, px));
}

static void put(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void put_text(const char *path, const char *text)
{
	put(path, text, strlen(text));
}

static enum fedc_err inspect(const char *options, const char *manifest, struct node_dataset *ds)
{
	struct dataset_options opts = { "images", "auto", -1, false };

	memset(ds, 0, sizeof(*ds));
	snprintf(ds->path, sizeof(ds->path), "%s", folder);
	snprintf(ds->name, sizeof(ds->name), "imgs");
	snprintf(ds->options, sizeof(ds->options), "%s", options);
	if (manifest)
		snprintf(ds->labels_path, sizeof(ds->labels_path), "%s", manifest);
	fedc_clear_error();
	return dataset__inspect(ds, &opts);
}

static void expect_refused(const char *options, const char *manifest, enum fedc_err code, const char *fragment)
{
	struct node_dataset ds;
	enum fedc_err rc = inspect(options, manifest, &ds);

	if (rc != code || !strstr(fedc_last_error(), fragment))
		print_error("got %s \"%s\", wanted %s with \"%s\"\n", fedc_strerror(rc), fedc_last_error(),
			    fedc_strerror(code), fragment);
	assert_int_equal(rc, code);
	assert_non_null(strstr(fedc_last_error(), fragment));
	assert_int_equal(ds.n_samples, 0);
	assert_string_equal(ds.digest, "");
}

/* Sub-folder labels in byte-wise order, pixels / 255 exactly, channels
 * first; the record and the load agree. */
static void test_png_folders_load_exact(void **state)
{
	struct node_dataset ds;
	struct fedc_data d;

	(void)state;
	sub("cat");
	sub("ant");
	grey_png("cat/1.png", 3, 2, 0);
	grey_png("ant/1.png", 3, 2, 100);
	grey_png("ant/2.PNG", 3, 2, 200);
	assert_int_equal(inspect("", NULL, &ds), FEDC_OK);
	assert_string_equal(ds.type, "images");
	assert_string_equal(ds.shape, "1x2x3");
	assert_int_equal(ds.n_samples, 3);
	assert_int_equal(ds.n_features, 6);
	assert_int_equal(ds.n_classes, 2);
	assert_string_equal(ds.label_counts, "2,1");
	assert_non_null(strstr(ds.options, "size=2x3;channels=1;normalize=unit;labels=folders;listed_at="));
	assert_int_equal(dataset__load(&ds, &d), FEDC_OK);
	assert_int_equal(d.sample_ndim, 3);
	assert_int_equal(d.sample_shape[0], 1);
	assert_int_equal(d.sample_shape[1], 2);
	assert_int_equal(d.sample_shape[2], 3);
	assert_int_equal(d.label_width, 1);
	/* ant/1.png, ant/2.PNG, cat/1.png */
	assert_true(d.y[0] == 0 && d.y[1] == 0 && d.y[2] == 1);
	NEAR(d.x[0], 100 / 255.0, 1e-6);
	NEAR(d.x[4], (100 + 10 + 1) / 255.0, 1e-6);
	NEAR(d.x[6 + 4], (200 + 10 + 1) / 255.0, 1e-6);
	NEAR(d.x[12 + 5], 12 / 255.0, 1e-6);
	dataset__free_data(&d);
}

/* RGB to grey and grey to RGB; channels first; MEAN,STD per channel. */
static void test_channels_and_normalize(void **state)
{
	uint8_t rgb[2 * 1 * 3] = { 255, 0, 0, 10, 20, 30 };
	struct node_dataset ds;
	struct fedc_data d;

	(void)state;
	sub("a");
	assert_true(test_write_png(at("a/c.png"), 2, 1, 3, rgb));
	assert_int_equal(inspect("channels=3;normalize=0,0,0.5,1,1,0.5", NULL, &ds), FEDC_OK);
	assert_string_equal(ds.shape, "3x1x2");
	assert_int_equal(dataset__load(&ds, &d), FEDC_OK);
	NEAR(d.x[0], 1.0, 1e-6);             /* R of pixel 0 */
	NEAR(d.x[1], 10 / 255.0, 1e-6);      /* R of pixel 1 */
	NEAR(d.x[3], 20 / 255.0, 1e-6);      /* G of pixel 1 */
	NEAR(d.x[4], (0 - 0.5) / 0.5, 1e-6); /* B of pixel 0, normalized */
	dataset__free_data(&d);
	assert_int_equal(inspect("channels=1", NULL, &ds), FEDC_OK);
	assert_int_equal(dataset__load(&ds, &d), FEDC_OK);
	assert_true(d.x[0] > 0.1f && d.x[0] < 0.5f); /* red is a dim grey */
	dataset__free_data(&d);
	expect_refused("channels=2", NULL, FEDC_ERR_INVAL, "--channels \"2\"");
	expect_refused("channels=3;normalize=0.5,0.5,0.5", NULL, FEDC_ERR_INVAL, "--normalize \"0.5,0.5,0.5\"");
	expect_refused("normalize=0.5,0", NULL, FEDC_ERR_INVAL, "above 0");
}

/* An alpha channel is composited onto black: a transparent pixel is 0, an
 * opaque one keeps its colour. */
static void test_alpha_onto_black(void **state)
{
	uint8_t rgba[2 * 4] = { 255, 0, 0, 0, 200, 100, 50, 255 };
	struct node_dataset ds;
	struct fedc_data d;

	(void)state;
	sub("a");
	assert_true(test_write_png(at("a/t.png"), 2, 1, 4, rgba));
	assert_int_equal(inspect("channels=3", NULL, &ds), FEDC_OK);
	assert_int_equal(dataset__load(&ds, &d), FEDC_OK);
	NEAR(d.x[0], 0, 1e-6);
	NEAR(d.x[2], 0, 1e-6);
	NEAR(d.x[4], 0, 1e-6);
	NEAR(d.x[1], 200 / 255.0, 1e-6);
	NEAR(d.x[5], 50 / 255.0, 1e-6);
	dataset__free_data(&d);
}

/* --size resizes bilinearly (a 2x2 up to 4x4, corners kept, centre the
 * mean); without it a second size is refused naming the file. */
static void test_resize_and_mismatch(void **state)
{
	uint8_t px[4] = { 0, 100, 200, 40 };
	struct node_dataset ds;
	struct fedc_data d;

	(void)state;
	sub("a");
	assert_true(test_write_png(at("a/1.png"), 2, 2, 1, px));
	grey_png("a/2.png", 3, 3, 0);
	expect_refused("", NULL, FEDC_ERR_MALFORMED, "a/2.png: 3x3 pixels, the first image has 2x2; give --size");
	assert_int_equal(inspect("size=4x4", NULL, &ds), FEDC_OK);
	assert_string_equal(ds.shape, "1x4x4");
	assert_int_equal(dataset__load(&ds, &d), FEDC_OK);
	NEAR(d.x[0], 0, 1e-6);
	NEAR(d.x[3], 100 / 255.0, 1e-6);
	NEAR(d.x[12], 200 / 255.0, 1e-6);
	/* (1,1) samples (0.25, 0.25) of the source: 0.75^2*0 + 0.75*0.25*(100+200) + 0.25^2*40 */
	NEAR(d.x[5], (0.1875 * 300 + 0.0625 * 40) / 255.0, 1e-5);
	dataset__free_data(&d);
	expect_refused("size=4", NULL, FEDC_ERR_INVAL, "--size \"4\"");
}

/* JPEG (quality 100) grey and colour, within a few levels of what was written. */
static void test_jpeg(void **state)
{
	uint8_t px[16 * 16 * 3];
	struct node_dataset ds;
	struct fedc_data d;

	(void)state;
	for (size_t i = 0; i < sizeof(px); i++)
		px[i] = (uint8_t)(i % 3 == 0 ? 200 : 60);
	sub("a");
	assert_true(test_write_jpeg(at("a/1.jpg"), 16, 16, 3, px));
	assert_true(test_write_jpeg(at("a/2.jpeg"), 16, 16, 1, px));
	assert_int_equal(inspect("channels=3", NULL, &ds), FEDC_OK);
	assert_int_equal(ds.n_samples, 2);
	assert_int_equal(dataset__load(&ds, &d), FEDC_OK);
	NEAR(d.x[0], 200 / 255.0, 4 / 255.0);
	NEAR(d.x[256], 60 / 255.0, 4 / 255.0);
	dataset__free_data(&d);
}

static void truncate_copy(const char *from, const char *to, size_t keep)
{
	uint8_t buf[8192];
	FILE *f = fopen(from, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_true(n > keep);
	put(to, buf, keep);
}

static void test_corrupt_png_refused(void **state)
{
	(void)state;
	sub("a");
	grey_png("a/1.png", 8, 8, 0);
	grey_png("a/tmp.png", 8, 8, 0);
	truncate_copy(at("a/tmp.png"), at("a/2.png"), 60);
	assert_int_equal(unlink(at("a/tmp.png")), 0);
	expect_refused("", NULL, FEDC_ERR_MALFORMED, "a/2.png: corrupt or truncated PNG");
	put(at("a/2.png"), "\x89PNG\r\n\x1a\nnonsense", 16);
	expect_refused("", NULL, FEDC_ERR_MALFORMED, "a/2.png: not a readable PNG");
	put(at("a/2.png"), "GIF89a", 6);
	expect_refused("", NULL, FEDC_ERR_MALFORMED, "a/2.png: neither a PNG nor a JPEG");
}

static void test_truncated_jpeg_refused(void **state)
{
	uint8_t px[32 * 32];

	(void)state;
	for (size_t i = 0; i < sizeof(px); i++)
		px[i] = (uint8_t)(i * 7);
	sub("a");
	assert_true(test_write_jpeg(at("a/full.jpg"), 32, 32, 1, px));
	truncate_copy(at("a/full.jpg"), at("a/cut.jpg"), 400);
	expect_refused("", NULL, FEDC_ERR_MALFORMED, "a/cut.jpg: corrupt or truncated JPEG");
	truncate_copy(at("a/full.jpg"), at("a/cut.jpg"), 10);
	expect_refused("", NULL, FEDC_ERR_MALFORMED, "a/cut.jpg: corrupt or truncated JPEG");
}

static void test_layout_refusals(void **state)
{
	(void)state;
	expect_refused("", NULL, FEDC_ERR_MALFORMED, "no images in the folder");
	sub("a");
	grey_png("a/1.png", 2, 2, 0);
	put(at("a/notes.txt"), "x", 1);
	expect_refused("", NULL, FEDC_ERR_MALFORMED, "a/notes.txt: not an image");
	assert_int_equal(unlink(at("a/notes.txt")), 0);
	grey_png("top.png", 2, 2, 0);
	expect_refused("", NULL, FEDC_ERR_MALFORMED, "top.png: with labels from sub-folders");
}

/* A manifest (here inside the folder, which it then is no sample of): its
 * labels, an unknown file in it, a file missing from it. */
static void test_manifest(void **state)
{
	struct node_dataset ds;
	struct fedc_data d;
	const char *manifest = at("labels.csv");

	(void)state;
	grey_png("x.png", 2, 2, 0);
	sub("s");
	grey_png("s/y.png", 2, 2, 0);
	put_text(manifest, "file,label\r\ns/y.png,0\r\nx.png,4\r\n");
	assert_int_equal(inspect("", manifest, &ds), FEDC_OK);
	assert_int_equal(ds.n_samples, 2);
	assert_int_equal(ds.n_classes, 5);
	assert_string_equal(ds.label_counts, "1,0,0,0,1");
	assert_non_null(strstr(ds.options, "labels=manifest"));
	assert_int_equal(dataset__load(&ds, &d), FEDC_OK);
	assert_true(d.y[0] == 0 && d.y[1] == 4); /* s/y.png, x.png */
	dataset__free_data(&d);
	put_text(manifest, "x.png,1\ns/y.png,0\nghost.png,1\n");
	expect_refused("", manifest, FEDC_ERR_MALFORMED, "\"ghost.png\" is no file in");
	put_text(manifest, "x.png,1\n");
	expect_refused("", manifest, FEDC_ERR_MALFORMED, "s/y.png: not in the manifest");
	put_text(manifest, "x.png,1\ns/y.png,cat\n");
	expect_refused("", manifest, FEDC_ERR_MALFORMED, "labels.csv:2: label \"cat\"");
	put_text(manifest, "x.png,1\ns/y.png,0\nx.png,1\n");
	expect_refused("", manifest, FEDC_ERR_MALFORMED, "\"x.png\" is listed twice");
}

/* Lets the coarse clock that stamps files pass the registration's time, so
 * that a change made now is after it. */
static void next_tick(void)
{
	struct timespec t = { 0, 20 * 1000 * 1000 };

	nanosleep(&t, NULL);
}

static void expect_changed(const struct node_dataset *ds, const char *fragment)
{
	struct fedc_data d;
	enum fedc_err rc = dataset__load(ds, &d);

	if (rc != FEDC_ERR_DIGEST || !strstr(fedc_last_error(), fragment))
		print_error("got %s \"%s\", wanted the digest error with \"%s\"\n", fedc_strerror(rc), fedc_last_error(),
			    fragment);
	assert_int_equal(rc, FEDC_ERR_DIGEST);
	assert_non_null(strstr(fedc_last_error(), fragment));
	assert_null(d.x);
}

static void test_changed_added_removed(void **state)
{
	struct node_dataset ds;

	(void)state;
	sub("a");
	sub("b");
	grey_png("a/1.png", 2, 2, 0);
	grey_png("a/2.png", 2, 2, 5);
	grey_png("b/1.png", 2, 2, 9);
	grey_png("b/2.png", 2, 2, 9);
	assert_int_equal(inspect("", NULL, &ds), FEDC_OK);
	next_tick();
	assert_int_equal(unlink(at("b/2.png")), 0);
	expect_changed(&ds, "a file was removed or renamed in b");
	grey_png("b/3.png", 2, 2, 5);
	expect_changed(&ds, "changed or added: b/3.png)");
	assert_int_equal(unlink(at("b/3.png")), 0);
	grey_png("a/2.png", 2, 2, 6); /* same size, other pixels */
	expect_changed(&ds, "changed or added: a/2.png)");
	grey_png("a/2.png", 2, 2, 5);
	grey_png("b/2.png", 2, 2, 9); /* all as it was: loads again */
	{
		struct fedc_data d;

		assert_int_equal(dataset__load(&ds, &d), FEDC_OK);
		assert_int_equal(d.n_samples, 4);
		dataset__free_data(&d);
	}
	/* the one file of a class gone: the set no longer reads, and is refused
	 * as changed rather than as a layout error */
	assert_int_equal(unlink(at("b/1.png")), 0);
	assert_int_equal(unlink(at("b/2.png")), 0);
	grey_png("top.png", 2, 2, 5);
	expect_changed(&ds, "the files changed since dataset \"imgs\"");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, make_tmp, drop_tmp)
	const struct CMUnitTest tests[] = {
		T(test_png_folders_load_exact), T(test_channels_and_normalize), T(test_alpha_onto_black), T(test_resize_and_mismatch),
		T(test_jpeg),			T(test_corrupt_png_refused),	  T(test_truncated_jpeg_refused),
		T(test_layout_refusals),	T(test_manifest),		  T(test_changed_added_removed),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
