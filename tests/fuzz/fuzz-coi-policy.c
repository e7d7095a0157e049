/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The provider policy file (the input), read as coi_policy_file_load()
   reads it: a stream whose buffer holds at most 2048 bytes (the file's
   COI_POLICY_MAX_LINE * 2). Also the coi_block_policy_action values. */

#include "lib.h"
#include "array.h"
#include "istream.h"
#include "test-common.h"
#include "coi-block.h"
#include "coi-policy.h"
#include "fuzz-coi-common.h"

#define FUZZ_POLICY_MAX_BUFFER 2048

FUZZ_BEGIN_DATA(const unsigned char *data, size_t size)
{
	struct istream *input = test_istream_create_data(data, size);
	ARRAY_TYPE(const_string) entries;
	enum coi_policy_action action;
	const char *entry, *error;
	char *value;

	test_istream_set_max_buffer_size(input, FUZZ_POLICY_MAX_BUFFER);
	i_stream_set_name(input, "policy");
	t_array_init(&entries, 8);
	if (coi_policy_parse_stream(input, pool_datastack_create(),
				    &entries, &error) < 0) {
		FUZZ_CHECK(str_begins(error, "policy ") ||
			   str_begins(error, "read(policy)"));
	} else {
		/* every entry is one a sender's address can match */
		array_foreach_elem(&entries, entry) {
			FUZZ_CHECK(coi_block_entry_verify(entry, &error) == 0);
			FUZZ_CHECK(strcmp(coi_block_entry_normalize(entry),
					  entry) == 0);
		}
	}
	i_stream_unref(&input);

	value = fuzz_coi_strdup(data, size);
	if (coi_policy_action_parse(value, &action) == 0)
		FUZZ_CHECK(strcmp(coi_policy_action_to_str(action), value) == 0);
	i_free(value);
}
FUZZ_END
