/* See restart_guard.h. */
#include "restart_guard.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "fedc/fs.h"
#include "fedc/log.h"

#define BOOT_ID_SOURCE "/proc/sys/kernel/random/boot_id"
#define BOOT_ID_MAX 64

/* The first line of `path`, or "" when it cannot be read. */
static void read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (!f)
		return;
	if (!fgets(buf, (int)cap, f))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

enum fedc_err restart_guard__not_before(const char *data_dir, int64_t now_ms, int64_t *not_before_ms)
{
	char kept_path[PATH_MAX], now_id[BOOT_ID_MAX], kept_id[BOOT_ID_MAX];

	*not_before_ms = now_ms;
	if ((size_t)snprintf(kept_path, sizeof(kept_path), "%s/boot_id", data_dir) >= sizeof(kept_path))
		return fedc_fail(FEDC_ERR_CONFIG, "data_dir path too long");
	read_line(BOOT_ID_SOURCE, now_id, sizeof(now_id));
	read_line(kept_path, kept_id, sizeof(kept_id));
	if (now_id[0] && strcmp(now_id, kept_id) == 0) {
		*not_before_ms = 0;
		return FEDC_OK;
	}
	fedc_info("this machine has restarted since the node last ran (or the node is new): commands stamped "
		  "before now are refused, as their replay records may have been lost");
	return now_id[0] ? fedc_write_atomic(kept_path, now_id, strlen(now_id)) : FEDC_OK;
}
