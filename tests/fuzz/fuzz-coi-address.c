/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Address normalization and COI-From-Hash: the input is a From header
   value, an envelope path, a local-part@domain split at its last '@', and
   a hash to parse. */

#include "lib.h"
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

FUZZ_BEGIN_DATA(const unsigned char *data, size_t size)
{
	char *value = fuzz_coi_strdup(data, size);
	struct smtp_address *address;
	const char *at, *hash, *error;

	check_normalized(coi_address_from_header(value));
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
