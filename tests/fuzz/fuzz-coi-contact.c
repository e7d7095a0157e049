/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* A contact storage message (the input): its COI-Blocked and COI-From-Hash
   headers as imap_coi and the rebuild read them. */

#include "lib.h"
#include "array.h"
#include "mail-storage.h"
#include "coi-address.h"
#include "coi-contacts.h"
#include "fuzz-coi-common.h"

FUZZ_COI_WITH_STORAGE

FUZZ_BEGIN_DATA(const unsigned char *data, size_t size)
{
	struct mail *mail = fuzz_coi_mail(data, size);
	struct coi_contact contact;
	const char *blocked, *const *hashes;
	unsigned int i, j, count;

	FUZZ_CHECK(coi_contact_read(mail, pool_datastack_create(),
				    &contact) == 0);
	FUZZ_CHECK(contact.guid != NULL);
	hashes = array_get(&contact.hashes, &count);
	FUZZ_CHECK(count <= COI_CONTACT_MAX_HASHES);
	if (mail_get_first_header(mail, "COI-Blocked", &blocked) == 0)
		FUZZ_CHECK(count == 0);
	for (i = 0; i < count; i++) {
		FUZZ_CHECK(fuzz_coi_is_lower_hex(hashes[i],
						 COI_ADDRESS_HASH_HEX_LEN));
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(hashes[i], hashes[j]) != 0);
	}
	fuzz_coi_mail_free(&mail);
}
FUZZ_END
