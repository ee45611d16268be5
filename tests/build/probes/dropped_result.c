/* Drops the enum fedc_err of a public function: FEDC_NODISCARD
 * (warn_unused_result) makes that a warning, so an error under FEDC_WERROR,
 * even through a cast to void. */
#include "fedc/hash.h"

void probe(struct fedc_hash *h);

void probe(struct fedc_hash *h)
{
	(void)fedc_hash_update(h, "x", 1);
}
