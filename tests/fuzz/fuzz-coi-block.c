/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Block list entries: what a client writes after .../coi/blocked/, and
   what an admin gives doveadm or the policy file. */

#include "lib.h"
#include "array.h"
#include "coi-block.h"
#include "fuzz-coi-common.h"

FUZZ_BEGIN_DATA(const unsigned char *data, size_t size)
{
	char *input = fuzz_coi_strdup(data, size);
	ARRAY_TYPE(const_string) candidates;
	const char *normalized, *again, *error, *entry, *domain_entry;

	normalized = coi_block_entry_normalize(input);
	/* an entry a client may set is in normal form: doveadm and the
	   policy file name it as it is */
	if (coi_block_entry_verify(input, &error) == 0)
		FUZZ_CHECK(normalized != NULL && strcmp(normalized, input) == 0);
	if (normalized != NULL &&
	    coi_block_entry_verify(normalized, &error) == 0) {
		/* a valid entry is its own normal form */
		again = coi_block_entry_normalize(normalized);
		FUZZ_CHECK(again != NULL && strcmp(again, normalized) == 0);
		/* an entry blocks the sender it names */
		t_array_init(&candidates, 8);
		coi_address_block_candidates(normalized, &candidates);
		FUZZ_CHECK(array_count(&candidates) > 0 &&
			   strcmp(array_idx_elem(&candidates, 0),
				  normalized) == 0);
		if (normalized[0] != '@') {
			coi_block_entries(normalized, &entry, &domain_entry);
			FUZZ_CHECK(strcmp(entry, normalized) == 0);
			FUZZ_CHECK(domain_entry != NULL &&
				   domain_entry[0] == '@');
		}
	} else if (normalized != NULL) {
		/* whatever verify refuses, it is not the normal form */
		FUZZ_CHECK(strcmp(error, "not in lowercase") != 0 &&
			   strcmp(error, "not valid UTF-8") != 0);
	}
	i_free(input);
}
FUZZ_END
