/* PNG and JPEG decoding for image folders (dataset_image.h).
 *
 * Both libraries report errors by longjmp. PNG goes through libpng's
 * simplified API (png_image_*), which sets its own jump point and returns
 * failure with a message. JPEG uses the documented pattern of libjpeg.txt
 * ("error handling"): an error manager whose error_exit longjmps back to a
 * setjmp here; everything allocated after setjmp hangs off that manager so
 * that the jump leaks nothing. */
#include "dataset_image.h"

#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "lazy/lazy_require.h"

static enum fedc_err check_size(const char *name, uint32_t width, uint32_t height)
{
	if (width == 0 || height == 0)
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: an image of %ux%u pixels", name, height, width);
	if (width > IMAGE_MAX_SIDE || height > IMAGE_MAX_SIDE || (uint64_t)width * height > IMAGE_MAX_PIXELS)
		return fedc_fail(FEDC_ERR_TOO_BIG, "%s: %ux%u pixels, more than this node reads (%u per side, %u in all)",
				 name, height, width, IMAGE_MAX_SIDE, IMAGE_MAX_PIXELS);
	return FEDC_OK;
}

/* ---- PNG ---- */

static enum fedc_err decode_png(const void *data, size_t len, const char *name, uint32_t channels,
				struct image_pixels *out)
{
	static const png_color black = { 0, 0, 0 };
	png_image img;
	enum fedc_err rc = lazy__require(LAZY_PNG);

	if (rc)
		return rc;
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_memory(&img, data, len))
		return fedc_fail(FEDC_ERR_MALFORMED, "%s: not a readable PNG (%s)", name, img.message);
	rc = check_size(name, img.width, img.height);
	img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
	if (!rc) {
		out->pixels = malloc(PNG_IMAGE_SIZE(img));
		rc = out->pixels ? FEDC_OK : FEDC_ERR_NOMEM;
	}
	/* An alpha channel is composited onto black: given explicitly, since
	 * without a background libpng picks its own. */
	if (!rc && !png_image_finish_read(&img, &black, out->pixels, 0, NULL))
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: corrupt or truncated PNG (%s)", name, img.message);
	if (!rc && (img.warning_or_error & PNG_IMAGE_ERROR))
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: corrupt PNG (%s)", name, img.message);
	png_image_free(&img); /* after a failure libpng has freed it already; harmless */
	if (!rc) {
		out->width = img.width;
		out->height = img.height;
		out->channels = channels;
	}
	return rc;
}

/* ---- JPEG ---- */

struct jpeg_fail {
	struct jpeg_error_mgr mgr; /* first: libjpeg hands back this pointer */
	jmp_buf jump;
	char message[JMSG_LENGTH_MAX];
	uint8_t *pixels; /* owned here until handed out, so a jump frees it */
};

static void jpeg_error_exit(j_common_ptr cinfo)
{
	struct jpeg_fail *f = (struct jpeg_fail *)cinfo->err;

	f->mgr.format_message(cinfo, f->message);
	longjmp(f->jump, 1);
}

/* Warnings (corrupt data libjpeg would paper over with grey, "premature end
 * of data segment") fail the file: a registered image must decode as
 * stored. Trace messages (level > 0) are ignored. */
static void jpeg_emit_message(j_common_ptr cinfo, int level)
{
	if (level < 0)
		jpeg_error_exit(cinfo);
}

static enum fedc_err jpeg_read(struct jpeg_decompress_struct *ci, struct jpeg_fail *f, const char *name,
			       uint32_t channels, struct image_pixels *out)
{
	enum fedc_err rc;
	size_t stride;

	jpeg_read_header(ci, TRUE);
	rc = check_size(name, ci->image_width, ci->image_height);
	if (rc)
		return rc;
	if (ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK)
		return fedc_fail(FEDC_ERR_UNSUPPORTED, "%s: a CMYK JPEG; convert it to RGB or grey", name);
	ci->out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
	jpeg_start_decompress(ci);
	stride = (size_t)ci->output_width * channels;
	f->pixels = malloc(stride * ci->output_height);
	if (!f->pixels)
		return FEDC_ERR_NOMEM;
	while (ci->output_scanline < ci->output_height) {
		JSAMPROW row = f->pixels + (size_t)ci->output_scanline * stride;

		jpeg_read_scanlines(ci, &row, 1);
	}
	jpeg_finish_decompress(ci);
	out->width = ci->output_width;
	out->height = ci->output_height;
	out->channels = channels;
	out->pixels = f->pixels;
	f->pixels = NULL;
	return FEDC_OK;
}

static enum fedc_err decode_jpeg(const void *data, size_t len, const char *name, uint32_t channels,
				 struct image_pixels *out)
{
	struct jpeg_decompress_struct ci;
	struct jpeg_fail *f;
	enum fedc_err rc = lazy__require(LAZY_JPEG);

	if (rc)
		return rc;
	f = calloc(1, sizeof(*f));
	if (!f)
		return FEDC_ERR_NOMEM;
	if (len > ULONG_MAX) {
		free(f);
		return fedc_fail(FEDC_ERR_TOO_BIG, "%s: too large", name);
	}
	ci.err = jpeg_std_error(&f->mgr);
	f->mgr.error_exit = jpeg_error_exit;
	f->mgr.emit_message = jpeg_emit_message;
	if (setjmp(f->jump)) {
		/* Only `f` (heap) and `ci` (set up before the jump point) are used
		 * here: nothing that changed after setjmp lives in a register. */
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: corrupt or truncated JPEG (%s)", name, f->message);
		goto out;
	}
	jpeg_create_decompress(&ci);
	jpeg_mem_src(&ci, (const unsigned char *)data, (unsigned long)len);
	rc = jpeg_read(&ci, f, name, channels, out);
out:
	jpeg_destroy_decompress(&ci);
	free(f->pixels);
	free(f);
	return rc;
}

enum fedc_err dataset_image__decode(const void *data, size_t len, const char *name, uint32_t channels,
				    struct image_pixels *out)
{
	static const uint8_t png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	const uint8_t *b = data;
	enum fedc_err rc;

	memset(out, 0, sizeof(*out));
	if (channels != 1 && channels != 3)
		return fedc_fail(FEDC_ERR_INVAL, "channels must be 1 or 3");
	if (len >= 8 && memcmp(b, png_sig, 8) == 0)
		rc = decode_png(data, len, name, channels, out);
	else if (len >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
		rc = decode_jpeg(data, len, name, channels, out);
	else
		rc = fedc_fail(FEDC_ERR_MALFORMED, "%s: neither a PNG nor a JPEG file (by its first bytes)", name);
	if (rc) {
		free(out->pixels);
		memset(out, 0, sizeof(*out));
	}
	return rc;
}
