/* Writing small PNG and JPEG files for the image-folder tests, with libpng
 * and libjpeg themselves (the same libraries the node reads with). Header
 * only: the tests that include it link fedc_node_core, which brings both. */
#ifndef FEDC_TEST_IMAGE_FILES_H
#define FEDC_TEST_IMAGE_FILES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

/* channels 1 (grey), 3 (RGB) or 4 (RGBA); pixels row-major, interleaved. */
static inline bool test_write_png(const char *path, uint32_t width, uint32_t height, uint32_t channels,
				  const uint8_t *pixels)
{
	png_image img;

	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	img.width = width;
	img.height = height;
	img.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
	return png_image_write_to_file(&img, path, 0, pixels, 0, NULL) != 0;
}

/* channels 1 or 3; quality 100 keeps the values close (JPEG is lossy). */
static inline bool test_write_jpeg(const char *path, uint32_t width, uint32_t height, uint32_t channels,
				   const uint8_t *pixels)
{
	struct jpeg_compress_struct ci;
	struct jpeg_error_mgr err;
	FILE *f = fopen(path, "wb");

	if (!f)
		return false;
	ci.err = jpeg_std_error(&err);
	jpeg_create_compress(&ci);
	jpeg_stdio_dest(&ci, f);
	ci.image_width = width;
	ci.image_height = height;
	ci.input_components = (int)channels;
	ci.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
	jpeg_set_defaults(&ci);
	jpeg_set_quality(&ci, 100, TRUE);
	jpeg_start_compress(&ci, TRUE);
	while (ci.next_scanline < ci.image_height) {
		JSAMPROW row = (JSAMPROW)(uintptr_t)(pixels + (size_t)ci.next_scanline * width * channels);

		jpeg_write_scanlines(&ci, &row, 1);
	}
	jpeg_finish_compress(&ci);
	jpeg_destroy_compress(&ci);
	return fclose(f) == 0;
}

#endif
