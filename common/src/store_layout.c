/* fedc-repository's store layout (store_layout.h). */
#include "fedc/store_layout.h"

#include <stdio.h>

bool fedc_store_blob_path(const char *root, const char *hex, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/" FEDC_STORE_BLOBS_DIR "/%.2s/%s", root, hex, hex);

	return n >= 0 && (size_t)n < cap;
}

bool fedc_store_marker_path(const char *root, const char *node, const char *hex, char *buf, size_t cap)
{
	int n = node ? snprintf(buf, cap, "%s/" FEDC_STORE_UPDATES_DIR "/%s/%.2s/%s", root, node, hex, hex)
		     : snprintf(buf, cap, "%s/" FEDC_STORE_PUBLISHED_DIR "/%.2s/%s", root, hex, hex);

	return n >= 0 && (size_t)n < cap;
}
