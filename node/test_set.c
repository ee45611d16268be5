/* Test sets registered for a dataset (test_set.h). */
#include "test_set.h"

#include <stdlib.h>
#include <string.h>

enum fedc_err test_set__find(struct node_db *db, const char *id, struct node_dataset *out)
{
	struct node_dataset *all = NULL;
	size_t n = 0;
	enum fedc_err rc = db__dataset_list(db, &all, &n);

	if (rc)
		return rc;
	rc = FEDC_ERR_NOT_FOUND; /* a node holds tens of datasets: a scan is enough */
	for (size_t i = 0; i < n && rc; i++) {
		if (all[i].test_of[0] && strcmp(all[i].test_of, id) == 0) {
			memcpy(out, &all[i], sizeof(*out));
			rc = FEDC_OK;
		}
	}
	free(all);
	return rc;
}
