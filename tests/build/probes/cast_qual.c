/* Casts const away: -Wcast-qual (cmake/CompilerFlags.cmake) makes that a
 * warning, so an error under FEDC_WERROR. */
#include <stdlib.h>

void probe(const char *owned);

void probe(const char *owned)
{
	free((char *)owned);
}
