/* The failing allocator (see alloc_fail.h). Defined in the executable, these
 * functions take the place of libc's (and ASan's) for every caller,
 * libfedc, msgpack-c, inih, zlib and libc itself included; the real ones
 * are found with dlsym(RTLD_NEXT). */
#define _GNU_SOURCE
#include "alloc_fail.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);

static unsigned long fail_at;  /* the n-th armed call fails; 0: none */
static unsigned long calls;    /* armed calls so far */
static bool armed, failed;

/* dlsym() may allocate while the real functions are being looked up: those
 * few blocks come from here and are never freed. */
static _Alignas(max_align_t) unsigned char boot[4096];
static size_t boot_used;
static int resolving;

static void *boot_alloc(size_t size)
{
	size_t at = (boot_used + 15) & ~(size_t)15;

	if (at + size > sizeof(boot))
		return NULL;
	boot_used = at + size;
	return boot + at;
}

static bool from_boot(const void *p)
{
	return (const unsigned char *)p >= boot && (const unsigned char *)p < boot + sizeof(boot);
}

static void resolve(void)
{
	if (real_malloc || resolving)
		return;
	resolving = 1;
	real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	real_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
	real_aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
	real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	resolving = 0;
	if (!real_malloc || !real_calloc || !real_realloc || !real_free)
		abort();
}

/* True when this call is the one to fail. */
static bool should_fail(void)
{
	if (!armed)
		return false;
	calls++;
	if (fail_at && calls == fail_at) {
		failed = true;
		errno = ENOMEM;
		return true;
	}
	return false;
}

void alloc_fail_arm(unsigned long n)
{
	resolve();
	fail_at = n;
	calls = 0;
	failed = false;
	armed = true;
}

unsigned long alloc_fail_disarm(bool *did_fail)
{
	armed = false;
	if (did_fail)
		*did_fail = failed;
	return calls;
}

void *malloc(size_t size)
{
	resolve();
	if (!real_malloc)
		return boot_alloc(size);
	return should_fail() ? NULL : real_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	resolve();
	if (!real_calloc) {
		void *p = n && size > SIZE_MAX / n ? NULL : boot_alloc(n * size);

		return p; /* boot[] is zero and never reused */
	}
	return should_fail() ? NULL : real_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	resolve();
	if (from_boot(p))
		abort(); /* nothing that dlsym allocated is ever grown */
	return should_fail() ? NULL : real_realloc(p, size);
}

void free(void *p)
{
	if (!p || from_boot(p))
		return;
	resolve();
	real_free(p);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	resolve();
	if (should_fail())
		return ENOMEM;
	return real_posix_memalign(out, align, size);
}

void *aligned_alloc(size_t align, size_t size)
{
	resolve();
	return should_fail() ? NULL : real_aligned_alloc(align, size);
}
