/* In-process admin commands with their output captured (see cli_run.h). */
#define _GNU_SOURCE
#include "cli_run.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* Points fds 1 and 2 at `fd`; saved[] gets the originals. */
static int redirect(int fd, int saved[2])
{
	fflush(stdout);
	fflush(stderr);
	saved[0] = dup(1);
	saved[1] = dup(2);
	if (saved[0] < 0 || saved[1] < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		return -1;
	return 0;
}

static void restore(int saved[2])
{
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < 2; i++) {
		if (saved[i] >= 0) {
			(void)dup2(saved[i], i + 1);
			close(saved[i]);
		}
	}
}

static void read_back(int fd, struct fedc_buf *out)
{
	char chunk[1024];
	ssize_t n;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (fedc_buf_append(out, chunk, (size_t)n))
			break; /* past the cap: the start is what matters */
	if (fedc_buf_append(out, "", 0) != FEDC_OK)
		fedc_buf_free(out); /* data stays NULL: callers say "refused" without text */
}

int cli_run__capture(cli_group_fn group, struct cli_ctx *ctx, int argc, char **argv, struct fedc_buf *out)
{
	int saved[2] = { -1, -1 };
	int fd = memfd_create("fedc-console-cli", MFD_CLOEXEC);
	int code = -1;

	fedc_buf_reset(out);
	if (fd < 0)
		return -1;
	if (redirect(fd, saved) == 0)
		code = group(ctx, argc, argv);
	restore(saved);
	read_back(fd, out);
	close(fd);
	return code;
}
