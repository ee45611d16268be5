/* The researcher's federation commands besides `run`:
 *   nodes      every node seen (online or not) and the datasets it holds
 *   search     the nodes holding datasets with all the given tags, and their
 *              capabilities (the columns of `nodes`)
 *   approval   uploads a plan and asks every node to register it as pending
 * Each asks all online nodes and waits until each answered or the timeout. */
#ifndef FEDC_RESEARCHER_COMMANDS_H
#define FEDC_RESEARCHER_COMMANDS_H

#include <stdbool.h>

#include "experiment.h"

/* Return the process exit code (0, or 1 with a message on stderr). */
/* `json`: one JSON document on stdout (docs/researcher-guide.md, "Listing
 * the nodes"): {"federation", "online", "nodes": [{"node_id", "online",
 * "answered", "refused"?, "datasets", "capabilities", "sdk_version",
 * "dataset_kinds"}]}; a node seen that did not answer has the first three. */
int commands__nodes(const struct experiment *net, int timeout_s, bool json);
int commands__search(const struct experiment *net, const char *tags, int timeout_s);
/* `sources`: NULL, or the comma-separated files shipped with the plan as its
 * source (fedc/source_bundle.h), for the nodes' operators to read. */
int commands__approval(const struct experiment *net, const char *plan_path, const char *description,
		       const char *sources, int timeout_s);

#endif
