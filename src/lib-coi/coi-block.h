#ifndef COI_BLOCK_H
#define COI_BLOCK_H

#include "coi-common.h"
#include "coi-address.h"

struct coi_attrs;
struct coi_user;

/* Per-user block list over METADATA (our extension of the COI spec):
   /private/vendor/vendor.dovecot/coi/blocked/<address> or .../@<domain>
   = "yes"; NIL removes. Kept in the INBOX's private server attributes. */
#define COI_METADATA_BLOCKED "vendor/vendor.dovecot/coi/blocked"
#define COI_METADATA_PRIVATE_BLOCKED "/private/"COI_METADATA_BLOCKED
#define COI_ATTR_BLOCKED_PREFIX \
	MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT_SERVER COI_METADATA_BLOCKED "/"

/* Look up the normalized sender addresses (NULL-terminated; NULLs inside
   are skipped up to count) in the user's block list (the INBOX's attributes).
   Returns 1 with the entry that blocks, 0 if none does, -1 on a storage
   error (set on the box). */
int coi_block_lookup(struct coi_attrs *attrs, const char *const *addresses,
		     unsigned int count, const char **entry_r);

/* Append the attribute keys coi_block_lookup() reads for addresses. */
void coi_block_lookup_keys(const char *const *addresses, unsigned int count,
			   ARRAY_TYPE(const_string) *keys);

void coi_block_attributes_register(void);
void coi_block_attributes_unregister(void);

#endif
