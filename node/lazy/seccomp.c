/* libseccomp, loaded when a plan process installs its filter (lazy_lib.h):
 * the daemon itself never filters, so an idle node does not map it.
 * Defines the six functions that node/seccomp_policy.c calls; a new one
 * used there must be added here, or the linker brings libseccomp back as a
 * NEEDED library (tests/node/idle_libraries.sh fails).
 *
 * The sandbox asks for the library first (lazy__require(LAZY_SECCOMP),
 * lazy_require.h): the plan is then not run, and the error names the
 * package. Called without it, seccomp_init() makes no filter (NULL). The
 * others take the filter seccomp_init() made, except
 * seccomp_syscall_resolve_name(), which resolves nothing without it. */
#include <seccomp.h>

#include "lazy_lib.h"

enum { INIT, RELEASE, LOAD, ATTR_SET, RULE_ADD_ARRAY, RESOLVE_NAME, N_SYMS };

static const char *const symbols[N_SYMS + 1] = {
	"seccomp_init",		  "seccomp_release",		  "seccomp_load", "seccomp_attr_set",
	"seccomp_rule_add_array", "seccomp_syscall_resolve_name", NULL,
};
static void *addrs[N_SYMS];
struct lazy_lib lazy_seccomp__lib =
	LAZY_LIB_INIT("libseccomp.so.2", "libseccomp2", "the plan sandbox's seccomp filter", symbols, addrs);

scmp_filter_ctx seccomp_init(uint32_t def_action)
{
	if (!lazy_lib__load(&lazy_seccomp__lib))
		return NULL;
	return ((scmp_filter_ctx(*)(uint32_t))addrs[INIT])(def_action);
}

void seccomp_release(scmp_filter_ctx ctx)
{
	if (lazy_seccomp__lib.loaded)
		((void (*)(scmp_filter_ctx))addrs[RELEASE])(ctx);
}

int seccomp_load(const scmp_filter_ctx ctx)
{
	return ((int (*)(const scmp_filter_ctx))addrs[LOAD])(ctx);
}

int seccomp_attr_set(scmp_filter_ctx ctx, enum scmp_filter_attr attr, uint32_t value)
{
	return ((int (*)(scmp_filter_ctx, enum scmp_filter_attr, uint32_t))addrs[ATTR_SET])(ctx, attr, value);
}

int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall, unsigned int arg_cnt,
			   const struct scmp_arg_cmp *arg_array)
{
	typedef int (*add_fn)(scmp_filter_ctx, uint32_t, int, unsigned int, const struct scmp_arg_cmp *);

	return ((add_fn)addrs[RULE_ADD_ARRAY])(ctx, action, syscall, arg_cnt, arg_array);
}

int seccomp_syscall_resolve_name(const char *name)
{
	if (!lazy_seccomp__lib.loaded)
		return __NR_SCMP_ERROR;
	return ((int (*)(const char *))addrs[RESOLVE_NAME])(name);
}
