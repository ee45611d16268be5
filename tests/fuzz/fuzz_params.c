/* Fuzz target: the parameter-file reader (fedc/params.h).
 *
 * The input is written to a memfd and read through fedc_params_open_fd(),
 * the path real files take (mmap); fedc_params_from_buffer() must agree with
 * it. What opens must also survive a round trip: fedc_params_write_fd() of
 * its tensors gives a file that opens to the same names, shapes and bytes
 * (the writer promises never to write what the reader refuses). */
#define _GNU_SOURCE /* memfd_create */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fedc/params.h"
#include "fuzz.h"

/* One memfd for the input and one for the rewritten file, made once per
 * process: nothing touches the disk. */
static int in_fd = -1, out_fd = -1;

static void init_once(void)
{
	if (in_fd >= 0)
		return;
	fuzz_quiet_logs();
	in_fd = memfd_create("fuzz-params-in", MFD_CLOEXEC);
	out_fd = memfd_create("fuzz-params-out", MFD_CLOEXEC);
	fuzz_require(in_fd >= 0 && out_fd >= 0, "memfd_create failed");
}

/* Empties `fd` and writes `len` bytes at its start. */
static void refill(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t done = 0;

	fuzz_require(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0, "cannot reset a memfd");
	while (done < len) {
		ssize_t n = pwrite(fd, p + done, len - done, (off_t)done);

		fuzz_require(n > 0, "cannot write a memfd");
		done += (size_t)n;
	}
}

static size_t data_bytes(const struct fedc_tensor *t)
{
	return (size_t)fedc_tensor_elements(t) * sizeof(float);
}

/* Same count, and tensor by tensor the same layout and data bytes. */
static bool same_tensors(const struct fedc_params *a, const struct fedc_params *b)
{
	const struct fedc_tensor *ta = fedc_params_tensors(a), *tb = fedc_params_tensors(b);

	if (fedc_params_count(a) != fedc_params_count(b))
		return false;
	for (size_t i = 0; i < fedc_params_count(a); i++) {
		if (!fedc_tensor_same_layout(&ta[i], &tb[i]) || memcmp(ta[i].data, tb[i].data, data_bytes(&ta[i])))
			return false;
	}
	return true;
}

/* Reads every tensor's bytes (ASan checks the pointers) and looks each name up. */
static void walk(const struct fedc_params *p)
{
	const struct fedc_tensor *t = fedc_params_tensors(p);
	volatile unsigned char sum = 0;

	for (size_t i = 0; i < fedc_params_count(p); i++) {
		const unsigned char *d = t[i].data;
		size_t n = data_bytes(&t[i]);

		fuzz_require(fedc_tensor_elements(&t[i]) <= 0xffffffffu / sizeof(float), "tensor size within a bin");
		fuzz_require(((uintptr_t)d % sizeof(float)) == 0, "tensor data must be float-aligned");
		for (size_t j = 0; j < n; j++)
			sum += d[j];
		fuzz_require(fedc_params_find(p, t[i].name) == &t[i], "find() must return the tensor of that name");
	}
	(void)sum;
}

static void round_trip(const struct fedc_params *p)
{
	struct fedc_params *again = NULL;

	refill(out_fd, NULL, 0);
	fuzz_require(fedc_params_write_fd(out_fd, fedc_params_tensors(p), fedc_params_count(p)) == FEDC_OK,
		     "tensors that were read must be writable");
	fuzz_require(fedc_params_open_fd(out_fd, &again) == FEDC_OK, "a written file must open");
	fuzz_require(same_tensors(p, again), "a rewritten file must hold the same tensors");
	fedc_params_close(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fedc_params *mapped = NULL, *buffered = NULL;
	enum fedc_err rc_mapped, rc_buffered;

	init_once();
	refill(in_fd, data, size);
	rc_mapped = fedc_params_open_fd(in_fd, &mapped);
	rc_buffered = fedc_params_from_buffer(data, size, &buffered);
	fuzz_require(rc_mapped == rc_buffered, "open_fd and from_buffer must agree");
	if (rc_mapped == FEDC_OK) {
		fuzz_require(same_tensors(mapped, buffered), "open_fd and from_buffer must read the same tensors");
		walk(mapped);
		fedc_params_release_pages(mapped);
		round_trip(mapped);
	}
	fedc_params_close(mapped);
	fedc_params_close(buffered);
	return 0;
}
