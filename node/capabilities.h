/* What a node advertises it can do (fedc/caps.h, docs/protocol.md
 * "Capabilities"): its plan ABIs, SDK version, dataset kinds, cores and
 * memory, its [limits] and its [privacy] policy. The retained status and
 * the search and list replies carry them, so a researcher can choose nodes
 * by them ([nodes] require) and `fedc-researcher nodes` can show them. */
#ifndef FEDC_NODE_CAPABILITIES_H
#define FEDC_NODE_CAPABILITIES_H

#include <stddef.h>

#include "db.h"
#include "fedc/message.h"
#include "node_config.h"

/* Fills msg's capabilities, sdk_version and dataset_kinds (the distinct
 * kinds of the `n` datasets in `datasets`, test sets left out) and marks
 * them present; `inline_params` is the largest parameter file the node's
 * connection carries inside a message (node__inline_params_max). Cannot
 * fail: an entry that would not fit is left out. */
void capabilities__describe(const struct node_config *cfg, const struct node_dataset *datasets, size_t n,
			    size_t inline_params, struct fedc_msg *msg);

#endif
