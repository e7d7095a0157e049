#ifndef COI_BLOCK_H
#define COI_BLOCK_H

#include "coi-common.h"
#include "coi-address.h"

struct coi_state_read;

/* Per-user block list over METADATA (our extension of the COI spec):
   /private/vendor/vendor.dovecot/coi/blocked/<address> or .../@<domain>
   = "yes"; NIL removes. Kept in the state layer (coi-state.h). */
#define COI_METADATA_BLOCKED "vendor/vendor.dovecot/coi/blocked"
#define COI_METADATA_PRIVATE_BLOCKED "/private/"COI_METADATA_BLOCKED
#define COI_ATTR_BLOCKED_PREFIX \
	MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT_SERVER COI_METADATA_BLOCKED "/"

/* Name the keys coi_block_lookup() reads for the normalized senders
   (count of them; NULLs are skipped), so that they are fetched with the
   delivery's other keys. */
void coi_block_read_want(struct coi_state_read *read,
			 const char *const *senders, unsigned int count);
/* Is one of the senders on the user's block list? Returns 1 with the entry
   that blocks, 0 if none does, -1 with error_r if the list cannot be read. */
int coi_block_lookup(struct coi_state_read *read, const char *const *senders,
		     unsigned int count, const char **entry_r,
		     const char **error_r);

/* METADATA below COI_METADATA_PRIVATE_BLOCKED: validated entries, kept in
   the state layer, listed from it, limited to coi_blocked_max. */
void coi_block_attributes_register(void);
void coi_block_attributes_unregister(void);

#endif
