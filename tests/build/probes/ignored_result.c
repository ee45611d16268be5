/* The two accepted ways with an enum fedc_err: look at it, or drop it on
 * purpose through fedc_ignore(). Builds under FEDC_WERROR. */
#include "fedc/hash.h"

int probe(struct fedc_hash *h);

int probe(struct fedc_hash *h)
{
	/* best effort in this probe: the second result is dropped on purpose */
	fedc_ignore(fedc_hash_update(h, "y", 1));
	return fedc_hash_update(h, "x", 1) == FEDC_OK;
}
