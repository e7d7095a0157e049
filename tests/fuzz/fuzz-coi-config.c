/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The METADATA values of .../coi/config/enabled and message-filter. An
   empty input stands for NIL. */

#include "lib.h"
#include "coi-config.h"
#include "fuzz-coi-common.h"

FUZZ_BEGIN_DATA(const unsigned char *data, size_t size)
{
	char *value = size == 0 ? NULL : fuzz_coi_strdup(data, size);
	enum coi_message_filter filter;
	const char *error;
	bool enabled;

	error = NULL;
	if (coi_config_parse_enabled(value, &enabled, &error) == 0) {
		FUZZ_CHECK(value == NULL || strcmp(value, "yes") == 0);
		FUZZ_CHECK(enabled == (value != NULL));
	} else {
		FUZZ_CHECK(value != NULL && error != NULL);
	}
	error = NULL;
	if (coi_config_parse_message_filter(value, &filter, &error) == 0) {
		FUZZ_CHECK(value == NULL ? filter == COI_MESSAGE_FILTER_NONE :
			   strcmp(coi_message_filter_to_str(filter), value) == 0);
	} else {
		FUZZ_CHECK(value != NULL && error != NULL);
	}
	i_free(value);
}
FUZZ_END
