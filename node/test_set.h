/* Datasets registered as the test set of another (`dataset add --test-of`,
 * docs/node-admin.md "Train and test rows"): the record links the test set
 * to its dataset (node_dataset.test_of); this finds it from the other side. */
#ifndef FEDC_NODE_TEST_SET_H
#define FEDC_NODE_TEST_SET_H

#include "db.h"

/* The test set of dataset `id` into `out`. FEDC_ERR_NOT_FOUND if it has
 * none, else db__dataset_list's errors. */
FEDC_NODISCARD
enum fedc_err test_set__find(struct node_db *db, const char *id, struct node_dataset *out);

#endif
