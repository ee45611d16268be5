/* libcsv, loaded at the first CSV file a dataset, a test set or an
 * analytics query reads (lazy_lib.h): an idle node does not map it.
 * Defines the seven functions that node/csv_rows.c calls; a new one used
 * there must be added here, or the linker brings libcsv back as a NEEDED
 * library (tests/node/idle_libraries.sh fails).
 *
 * The reader asks for the library first (lazy__require(LAZY_CSV),
 * lazy_require.h). Called without it, csv_init() starts no parser (-1),
 * as for no memory. The others take a parser csv_init() started, except
 * csv_strerror(). */
#include <csv.h>

#include "lazy_lib.h"

enum { INIT, FINI, FREE, ERROR, STRERROR, PARSE, SET_BLK_SIZE, N_SYMS };

static const char *const symbols[N_SYMS + 1] = {
	"csv_init", "csv_fini", "csv_free", "csv_error", "csv_strerror", "csv_parse", "csv_set_blk_size", NULL,
};
static void *addrs[N_SYMS];
struct lazy_lib lazy_csv__lib = LAZY_LIB_INIT("libcsv.so.3", "libcsv3", "CSV files", symbols, addrs);

typedef void (*cell_fn)(void *, size_t, void *);
typedef void (*row_fn)(int, void *);

int csv_init(struct csv_parser *p, unsigned char options)
{
	if (!lazy_lib__load(&lazy_csv__lib))
		return -1;
	return ((int (*)(struct csv_parser *, unsigned char))addrs[INIT])(p, options);
}

int csv_fini(struct csv_parser *p, cell_fn cb1, row_fn cb2, void *data)
{
	return ((int (*)(struct csv_parser *, cell_fn, row_fn, void *))addrs[FINI])(p, cb1, cb2, data);
}

void csv_free(struct csv_parser *p)
{
	((void (*)(struct csv_parser *))addrs[FREE])(p);
}

int csv_error(struct csv_parser *p)
{
	return ((int (*)(struct csv_parser *))addrs[ERROR])(p);
}

char *csv_strerror(int error)
{
	static char unloaded[] = "libcsv not loaded";

	return lazy_csv__lib.loaded ? ((char *(*)(int))addrs[STRERROR])(error) : unloaded;
}

size_t csv_parse(struct csv_parser *p, const void *s, size_t len, cell_fn cb1, row_fn cb2, void *data)
{
	typedef size_t (*parse_fn)(struct csv_parser *, const void *, size_t, cell_fn, row_fn, void *);

	return ((parse_fn)addrs[PARSE])(p, s, len, cb1, cb2, data);
}

void csv_set_blk_size(struct csv_parser *p, size_t size)
{
	((void (*)(struct csv_parser *, size_t))addrs[SET_BLK_SIZE])(p, size);
}
