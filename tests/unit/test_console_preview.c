/* node-console/preview.c: a CSV file's first rows, an image folder's first
 * images and a volume's middle slice as PNG, read back with libpng. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>

#include "preview.h"

static char root[64];

static int make_root(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/fedc-preview-test.XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int remove_root(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *rel, const void *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void dataset(struct node_dataset *ds, const char *type, const char *rel, const char *options)
{
	memset(ds, 0, sizeof(*ds));
	snprintf(ds->name, sizeof(ds->name), "test");
	snprintf(ds->type, sizeof(ds->type), "%s", type);
	snprintf(ds->path, sizeof(ds->path), "%s/%s", root, rel);
	snprintf(ds->options, sizeof(ds->options), "%s", options);
}

/* ---- CSV ---- */

struct seen {
	int rows;
	uint32_t total[PREVIEW_ROWS + 1], n[PREVIEW_ROWS + 1];
	char first[PREVIEW_ROWS + 1][32];
};

static enum fedc_err on_row(void *ctx, uint32_t total, uint32_t n, const char *const *cells)
{
	struct seen *s = ctx;

	assert_true(s->rows <= PREVIEW_ROWS);
	s->total[s->rows] = total;
	s->n[s->rows] = n;
	snprintf(s->first[s->rows], sizeof(s->first[0]), "%s", n ? cells[0] : "");
	s->rows++;
	return FEDC_OK;
}

static void test_csv_first_rows(void **state)
{
	char text[8192] = "";
	struct node_dataset ds;
	struct seen s = { 0 };

	(void)state;
	for (int r = 0; r < 15; r++) { /* 15 rows of 30 cells, "r<row>" first */
		for (int c = 0; c < 30; c++) {
			char cell[16];

			snprintf(cell, sizeof(cell), c ? ",%d" : "r%d", c ? c : r);
			strcat(text, cell);
		}
		strcat(text, "\n");
	}
	write_file("wide.csv", text, strlen(text));
	dataset(&ds, "csv", "wide.csv", "");
	assert_int_equal(preview__rows(&ds, on_row, &s), FEDC_OK);
	assert_int_equal(s.rows, PREVIEW_ROWS);
	assert_string_equal(s.first[0], "r0");
	assert_string_equal(s.first[PREVIEW_ROWS - 1], "r9");
	assert_int_equal(s.total[3], 30);
	assert_int_equal(s.n[3], PREVIEW_COLS);
}

static void test_csv_short_file(void **state)
{
	static const char text[] = "a,b\n1,2\n";
	struct node_dataset ds;
	struct seen s = { 0 };

	(void)state;
	write_file("short.csv", text, sizeof(text) - 1);
	dataset(&ds, "csv", "short.csv", "");
	assert_int_equal(preview__rows(&ds, on_row, &s), FEDC_OK);
	assert_int_equal(s.rows, 2);
	assert_int_equal(s.n[1], 2);
}

static void test_csv_broken_after_two_rows(void **state)
{
	static const char text[] = "a,b\n1,2\n\"never closed,3\n";
	struct node_dataset ds;
	struct seen s = { 0 };

	(void)state;
	write_file("broken.csv", text, sizeof(text) - 1);
	dataset(&ds, "csv", "broken.csv", "");
	assert_int_equal(preview__rows(&ds, on_row, &s), FEDC_ERR_MALFORMED);
	assert_int_equal(s.rows, 2);
	assert_non_null(strstr(fedc_last_error(), "broken.csv"));
}

static void test_csv_missing_file(void **state)
{
	struct node_dataset ds;
	struct seen s = { 0 };

	(void)state;
	dataset(&ds, "csv", "gone.csv", "");
	assert_int_equal(preview__rows(&ds, on_row, &s), FEDC_ERR_IO);
	assert_int_equal(s.rows, 0);
}

static void test_rows_of_other_kinds(void **state)
{
	struct node_dataset ds;
	struct seen s = { 0 };

	(void)state;
	dataset(&ds, "images", "scans", "");
	assert_int_equal(preview__rows(&ds, on_row, &s), FEDC_ERR_UNSUPPORTED);
}

/* ---- pictures ---- */

/* Decodes a PNG from memory: width, height, format, and its pixels. */
static uint8_t *read_png(const struct fedc_buf *png, png_image *img)
{
	uint8_t *px;

	memset(img, 0, sizeof(*img));
	img->version = PNG_IMAGE_VERSION;
	assert_true(png_image_begin_read_from_memory(img, png->data, png->len));
	px = malloc(PNG_IMAGE_SIZE(*img));
	assert_non_null(px);
	assert_true(png_image_finish_read(img, NULL, px, 0, NULL));
	return px;
}

static void write_rgb_png(const char *rel, uint32_t w, uint32_t h, uint8_t red)
{
	png_image img = { .version = PNG_IMAGE_VERSION, .width = w, .height = h, .format = PNG_FORMAT_RGB };
	uint8_t *px = malloc((size_t)w * h * 3);
	png_alloc_size_t size = 0;
	void *bytes;

	assert_non_null(px);
	for (size_t i = 0; i < (size_t)w * h; i++) {
		px[3 * i] = red;
		px[3 * i + 1] = 10;
		px[3 * i + 2] = 200;
	}
	assert_true(png_image_write_to_memory(&img, NULL, &size, 0, px, 0, NULL));
	bytes = malloc(size);
	assert_non_null(bytes);
	assert_true(png_image_write_to_memory(&img, bytes, &size, 0, px, 0, NULL));
	write_file(rel, bytes, size);
	free(bytes);
	free(px);
}

static void test_image_folder(void **state)
{
	char names[PREVIEW_IMAGES][NODE_PATH_MAX];
	struct fedc_buf png = FEDC_BUF_INIT(PREVIEW_PNG_MAX);
	struct node_dataset ds;
	png_image img;
	uint8_t *px;
	size_t n = 0;

	(void)state;
	write_rgb_png("scans/b/1.png", 300, 200, 50);
	write_rgb_png("scans/a/2.PNG", 300, 200, 100);
	write_rgb_png("scans/a/1.png", 30, 20, 150);
	write_rgb_png("scans/c/1.png", 30, 20, 250);
	write_rgb_png("scans/c/2.png", 30, 20, 250);
	write_file("scans/a/notes.txt", "not an image", 12);
	dataset(&ds, "images", "scans", "size=20x30;channels=3;normalize=unit;labels=folders");
	assert_int_equal(preview__sources(&ds, names, &n), FEDC_OK);
	assert_int_equal(n, PREVIEW_IMAGES); /* the first four of five, in listing order */
	assert_string_equal(names[0], "a/1.png");
	assert_string_equal(names[1], "a/2.PNG");
	assert_string_equal(names[2], "b/1.png");
	assert_string_equal(names[3], "c/1.png");

	assert_int_equal(preview__png(&ds, 1, &png), FEDC_OK);
	px = read_png(&png, &img);
	assert_int_equal(img.width, PREVIEW_SIDE); /* 300x200 scaled to 192 wide */
	assert_int_equal(img.height, 128);
	assert_int_equal(img.format, PNG_FORMAT_RGB);
	assert_int_equal(px[0], 100);
	assert_int_equal(px[2], 200);
	free(px);
	png_image_free(&img);

	assert_int_equal(preview__png(&ds, 0, &png), FEDC_OK); /* small: kept as it is */
	px = read_png(&png, &img);
	assert_int_equal(img.width, 30);
	assert_int_equal(img.height, 20);
	free(px);
	png_image_free(&img);

	snprintf(ds.options, sizeof(ds.options), "size=20x30;channels=1");
	assert_int_equal(preview__png(&ds, 0, &png), FEDC_OK); /* grey, as registered */
	px = read_png(&png, &img);
	assert_int_equal(img.format, PNG_FORMAT_GRAY);
	free(px);
	png_image_free(&img);

	assert_int_equal(preview__png(&ds, PREVIEW_IMAGES, &png), FEDC_ERR_NOT_FOUND);
	fedc_buf_free(&png);
}

static void test_corrupt_image(void **state)
{
	struct fedc_buf png = FEDC_BUF_INIT(PREVIEW_PNG_MAX);
	struct node_dataset ds;

	(void)state;
	write_file("bad/x/1.png", "\x89PNG\r\n\x1a\nnot really", 18);
	dataset(&ds, "images", "bad", "channels=1");
	assert_int_equal(preview__png(&ds, 0, &png), FEDC_ERR_MALFORMED);
	assert_non_null(strstr(fedc_last_error(), "x/1.png"));
	fedc_buf_free(&png);
}

/* A NIfTI-1 file of float voxels x + 10 y + 100 z, 4 x 3 x 3. */
static void write_volume(const char *rel)
{
	uint8_t file[352 + 4 * 3 * 3 * 4] = { 0 };
	int32_t sizeof_hdr = 348;
	int16_t dim[8] = { 3, 4, 3, 3, 1, 1, 1, 1 }, datatype = 16, bitpix = 32;
	float pixdim[8] = { 1, 1, 1, 1, 1, 1, 1, 1 }, vox_offset = 352, slope = 1;
	float *v = (float *)(void *)(file + 352);

	memcpy(file, &sizeof_hdr, 4);
	memcpy(file + 40, dim, sizeof(dim));
	memcpy(file + 70, &datatype, 2);
	memcpy(file + 72, &bitpix, 2);
	memcpy(file + 76, pixdim, sizeof(pixdim));
	memcpy(file + 108, &vox_offset, 4);
	memcpy(file + 112, &slope, 4);
	memcpy(file + 344, "n+1", 4);
	for (int z = 0; z < 3; z++)
		for (int y = 0; y < 3; y++)
			for (int x = 0; x < 4; x++)
				v[(z * 3 + y) * 4 + x] = (float)(x + 10 * y + 100 * z);
	write_file(rel, file, sizeof(file));
}

static void test_volume_middle_slice(void **state)
{
	char names[PREVIEW_IMAGES][NODE_PATH_MAX];
	struct fedc_buf png = FEDC_BUF_INIT(PREVIEW_PNG_MAX);
	struct node_dataset ds;
	png_image img;
	uint8_t *px;
	size_t n = 0;

	(void)state;
	write_volume("vol/sub-02/T1.nii");
	write_volume("vol/sub-01/T1.nii");
	write_volume("vol/sub-01/seg.nii"); /* another modality: not shown */
	write_file("vol/sub-01/T1.txt", "x", 1);
	dataset(&ds, "nifti", "vol", "modality=T1;label_column=dx");
	assert_int_equal(preview__sources(&ds, names, &n), FEDC_OK);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "sub-01/T1.nii");
	assert_string_equal(names[1], "sub-02/T1.nii");
	assert_int_equal(preview__png(&ds, 0, &png), FEDC_OK);
	px = read_png(&png, &img);
	assert_int_equal(img.width, 4);
	assert_int_equal(img.height, 3);
	assert_int_equal(img.format, PNG_FORMAT_GRAY);
	/* z = 1: values 100 to 123 stretched to 0..255, y upwards: the top row
	 * is y = 2 (120 -> 222), the bottom right x = 3, y = 0 (103 -> 33). */
	assert_int_equal(px[0], 222);
	assert_int_equal(px[2 * 4 + 3], 33);
	assert_int_equal(px[3], 255);
	assert_int_equal(px[2 * 4], 0);
	free(px);
	png_image_free(&img);
	fedc_buf_free(&png);
}

static void test_volume_set_without_modality(void **state)
{
	char names[PREVIEW_IMAGES][NODE_PATH_MAX];
	struct node_dataset ds;
	size_t n = 9;

	(void)state;
	dataset(&ds, "nifti", "vol", "label_column=dx");
	assert_int_equal(preview__sources(&ds, names, &n), FEDC_ERR_MALFORMED);
	assert_int_equal(n, 0);
}

static void test_no_pictures_for_tables(void **state)
{
	char names[PREVIEW_IMAGES][NODE_PATH_MAX];
	struct fedc_buf png = FEDC_BUF_INIT(PREVIEW_PNG_MAX);
	struct node_dataset ds;
	size_t n = 9;

	(void)state;
	dataset(&ds, "csv", "short.csv", "");
	assert_int_equal(preview__sources(&ds, names, &n), FEDC_OK);
	assert_int_equal(n, 0);
	assert_int_equal(preview__png(&ds, 0, &png), FEDC_ERR_NOT_FOUND);
	fedc_buf_free(&png);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csv_first_rows),
		cmocka_unit_test(test_csv_short_file),
		cmocka_unit_test(test_csv_broken_after_two_rows),
		cmocka_unit_test(test_csv_missing_file),
		cmocka_unit_test(test_rows_of_other_kinds),
		cmocka_unit_test(test_image_folder),
		cmocka_unit_test(test_corrupt_image),
		cmocka_unit_test(test_volume_middle_slice),
		cmocka_unit_test(test_volume_set_without_modality),
		cmocka_unit_test(test_no_pictures_for_tables),
	};

	return cmocka_run_group_tests(tests, make_root, remove_root);
}
