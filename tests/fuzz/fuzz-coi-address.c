/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Address normalization, senders, block candidates and COI-From-Hash: the
   input is a From header value, an envelope path, a local-part@domain split
   at its last '@', and a hash to parse. */

#include "lib.h"
#include "array.h"
#include "smtp-address.h"
#include "coi-address.h"
#include "fuzz-coi-common.h"

/* A normalized address is its own normal form, and hashes to 64
   lowercase hex digits that parse back to themselves. */
static void check_normalized(const char *normalized)
{
	const char *at, *again, *hash, *parsed;

	if (normalized == NULL)
		return;
	at = strrchr(normalized, '@');
	FUZZ_CHECK(at != NULL && at[1] != '\0');
	again = coi_address_normalize(t_strdup_until(normalized, at), at + 1);
	FUZZ_CHECK(again != NULL && strcmp(again, normalized) == 0);

	hash = coi_address_hash(normalized);
	FUZZ_CHECK(fuzz_coi_is_lower_hex(hash, COI_ADDRESS_HASH_HEX_LEN));
	FUZZ_CHECK(coi_address_hash_parse(hash, &parsed) &&
		   strcmp(parsed, hash) == 0);
}

/* Candidates are unique, fit the bounds, and start with the address
   itself when it has a key at all. */
static void check_candidates(const char *normalized)
{
	ARRAY_TYPE(const_string) entries;
	const char *const *entry, *at;
	unsigned int i, j, count;

	t_array_init(&entries, 8);
	coi_address_block_candidates(normalized, &entries);
	entry = array_get(&entries, &count);
	/* the address and its base, and "@domain", in up to three forms */
	FUZZ_CHECK(count <= 9);
	at = strrchr(normalized, '@');
	if (count > 0 && strlen(normalized) <= COI_ADDRESS_MAX_LEN)
		FUZZ_CHECK(strcmp(entry[0], normalized) == 0);
	if (at != NULL && at[1] != '\0' &&
	    strlen(at + 1) <= COI_DOMAIN_MAX_LEN)
		FUZZ_CHECK(count > 0);
	for (i = 0; i < count; i++) {
		FUZZ_CHECK(strlen(entry[i]) <= COI_BLOCK_ENTRY_MAX_LEN);
		FUZZ_CHECK(strchr(entry[i], '@') != NULL);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(entry[i], entry[j]) != 0);
	}
}

static void check_senders(const char *value)
{
	struct coi_senders senders;
	const char *const *addresses;
	unsigned int i, j, count;

	coi_senders_init(&senders);
	coi_senders_add_from(&senders, value);
	coi_senders_add_from(&senders, value);
	addresses = coi_senders_get(&senders, &count);
	FUZZ_CHECK(count <= COI_SENDERS_MAX);
	for (i = 0; i < count; i++) {
		check_normalized(addresses[i]);
		check_candidates(addresses[i]);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(addresses[i], addresses[j]) != 0);
	}
}

FUZZ_BEGIN_DATA(const unsigned char *data, size_t size)
{
	char *value = fuzz_coi_strdup(data, size);
	struct smtp_address *address;
	const char *at, *hash, *error;

	check_normalized(coi_address_from_header(value));
	check_senders(value);
	if (smtp_address_parse_path(pool_datastack_create(), value,
				    SMTP_ADDRESS_PARSE_FLAG_ALLOW_LOCALPART |
				    SMTP_ADDRESS_PARSE_FLAG_ALLOW_EMPTY |
				    SMTP_ADDRESS_PARSE_FLAG_BRACKETS_OPTIONAL,
				    &address, &error) == 0)
		check_normalized(coi_address_from_smtp(address));
	if ((at = strrchr(value, '@')) != NULL) {
		check_normalized(coi_address_normalize(
			t_strdup_until(value, at), at + 1));
	}
	if (coi_address_hash_parse(value, &hash))
		FUZZ_CHECK(fuzz_coi_is_lower_hex(hash, COI_ADDRESS_HASH_HEX_LEN));
	i_free(value);
}
FUZZ_END
