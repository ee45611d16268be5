/* Fuzz target: the JPEG decoding path of image folders
 * (node/dataset_image.h, dataset_image__decode through libjpeg).
 *
 * The input is one file. It is decoded as grey and as RGB; both must reach
 * the same verdict and the same size, and a success must hand back pixels
 * of that size (which the harness reads whole, so that ASan sees an
 * overrun). A failure must leave no pixels. The corpus (corpus/jpeg) holds
 * small valid JPEG files; the library's longjmp on bad data must come back
 * as an error, never an abort or a leak. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_image.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image_pixels grey, rgb;
	enum fedc_err rc1 = dataset_image__decode(data, size, "input", 1, &grey);
	enum fedc_err rc3 = dataset_image__decode(data, size, "input", 3, &rgb);
	unsigned sum = 0;

	fuzz_require((rc1 == FEDC_OK) == (rc3 == FEDC_OK), "grey and RGB decoding disagree");
	fuzz_require(rc1 != FEDC_OK || (grey.width == rgb.width && grey.height == rgb.height), "sizes disagree");
	fuzz_require(rc1 == FEDC_OK || (!grey.pixels && !rgb.pixels), "pixels left after a failure");
	for (size_t i = 0; rc1 == FEDC_OK && i < (size_t)grey.width * grey.height; i++)
		sum += (unsigned)grey.pixels[i] + rgb.pixels[3 * i] + rgb.pixels[3 * i + 1] + rgb.pixels[3 * i + 2];
	(void)sum;
	free(grey.pixels);
	free(rgb.pixels);
	return 0;
}
