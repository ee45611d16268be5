/* The one rule for identifiers (docs/protocol.md, "Identifiers").
 *
 * Node, researcher, dataset and federation ids, and the user names fedc-admin
 * writes into broker and repository files, all follow it: 1 to
 * FEDC_MAX_ID_LEN characters from [A-Za-z0-9._-], not starting with '.' or
 * '-'. So an id is safe as a file name, an MQTT topic level, a URL path
 * segment and an INI value, and no layer accepts an id another refuses. */
#ifndef FEDC_ID_H
#define FEDC_ID_H

#include <stdbool.h>

/* True when `id` (NULL allowed: false) follows the rule above. */
bool fedc_id_valid(const char *id);

#endif
