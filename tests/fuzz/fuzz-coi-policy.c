/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The provider policy file (the input), read as coi_policy_file_read()
   reads it: a stream whose buffer holds at most 2048 bytes (the file's
   COI_POLICY_MAX_LINE * 2), one line at a time into a hash table, with
   small limits so that the limit paths are reached. Also the
   coi_block_policy_action values. */

#include "lib.h"
#include "hash.h"
#include "istream.h"
#include "test-common.h"
#include "coi-block.h"
#include "coi-policy.h"
#include "fuzz-coi-common.h"

#define FUZZ_POLICY_MAX_BUFFER 2048
#define FUZZ_POLICY_MAX_ENTRIES 8
#define FUZZ_POLICY_MAX_SIZE 4096

FUZZ_BEGIN_DATA(const unsigned char *data, size_t size)
{
	struct istream *input = test_istream_create_data(data, size);
	HASH_TABLE_TYPE(coi_policy_entries) entries;
	struct hash_iterate_context *iter;
	enum coi_policy_action action;
	const char *key, *entry, *error;
	pool_t pool;
	char *value;

	test_istream_set_max_buffer_size(input, FUZZ_POLICY_MAX_BUFFER);
	i_stream_set_name(input, "policy");
	pool = pool_alloconly_create("fuzz policy", 1024);
	hash_table_create(&entries, pool, 0, str_hash, strcmp);
	if (coi_policy_parse_stream(input, pool, entries,
				    FUZZ_POLICY_MAX_ENTRIES,
				    FUZZ_POLICY_MAX_SIZE, &error) < 0) {
		FUZZ_CHECK(str_begins(error, "policy ") ||
			   str_begins(error, "policy: ") ||
			   str_begins(error, "read(policy)"));
	} else {
		FUZZ_CHECK(hash_table_count(entries) <= FUZZ_POLICY_MAX_ENTRIES);
		FUZZ_CHECK(size <= FUZZ_POLICY_MAX_SIZE);
		/* every entry is one a sender's address can match */
		iter = hash_table_iterate_init(entries);
		while (hash_table_iterate(iter, entries, &key, &entry)) {
			FUZZ_CHECK(key == entry);
			FUZZ_CHECK(coi_block_entry_verify(entry, &error) == 0);
			FUZZ_CHECK(strcmp(coi_block_entry_normalize(entry),
					  entry) == 0);
		}
		hash_table_iterate_deinit(&iter);
	}
	i_stream_unref(&input);
	hash_table_destroy(&entries);
	pool_unref(&pool);

	value = fuzz_coi_strdup(data, size);
	if (coi_policy_action_parse(value, &action) == 0)
		FUZZ_CHECK(strcmp(coi_policy_action_to_str(action), value) == 0);
	i_free(value);
}
FUZZ_END
