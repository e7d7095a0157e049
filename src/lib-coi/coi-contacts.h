#ifndef COI_CONTACTS_H
#define COI_CONTACTS_H

#include "array-decl.h"
#include "seq-range-array.h"
#include "mailbox-attribute.h"

struct mail;
struct mailbox;
struct coi_attrs;
struct coi_user;

/* Blocks from contact storage messages (client spec, "Contact Storage
   Message Headers", "Blocking Contacts"): a message in <root>/Contacts with
   a COI-Blocked header blocks every address whose COI-From-Hash it carries.

   Delivery must not scan the Contacts folder, so the blocking hashes are
   kept as private INBOX attributes (out of IMAP's reach):
   vendor/vendor.dovecot/pvt/coi/blocked-hash/<hash> = the GUIDs of the
   blocking contact messages carrying that hash, space-separated. imap_coi
   maintains them when contacts are saved or expunged through it; the
   marker attribute says they are complete, and when it is missing (a new
   or restored dict) the next delivery rebuilds them from the folder. */
#define COI_CONTACTS_ATTR_HASH_PREFIX \
	MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT "coi/blocked-hash/"
#define COI_CONTACTS_ATTR_MARKER \
	MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT "coi/blocked-hash-indexed"

/* At most this many COI-From-Hash headers of one contact are used, and at
   most this many contacts are recorded per hash. */
#define COI_CONTACT_MAX_HASHES 100
#define COI_CONTACTS_LOCK_FNAME "dovecot-coi-contacts.lock"
#define COI_CONTACTS_LOCK_SECS 30
#define COI_CONTACT_MAX_GUIDS 100

struct coi_contact {
	const char *guid;
	/* lowercase hex; empty unless the contact has COI-Blocked */
	ARRAY_TYPE(const_string) hashes;
};
ARRAY_DEFINE_TYPE(coi_contact, struct coi_contact);

/* Read what blocking needs of a contact message. Returns 0, or -1 if the
   mail could not be read. Allocated from pool. */
int coi_contact_read(struct mail *mail, pool_t pool,
		     struct coi_contact *contact_r);

/* Remove the removed contacts' GUIDs from, and add the added contacts'
   GUIDs to, the hash attributes. Returns 0, or -1 after logging. */
int coi_contacts_update(struct coi_user *cuser,
			const struct coi_contact *removed,
			unsigned int removed_count,
			const struct coi_contact *added,
			unsigned int added_count);

/* Read the saved uids of Contacts and add them. */
int coi_contacts_add_saved(struct coi_user *cuser,
			   const ARRAY_TYPE(seq_range) *uids);

/* Forget the hash attributes and index the whole Contacts folder again. */
int coi_contacts_rebuild(struct coi_user *cuser);

/* Append the attribute keys coi_contacts_lookup() reads for senders: the
   index marker, then the hash key of each distinct sender. Returns 0, or
   -1 if a sender's hash cannot be computed (its key is left out). */
int coi_contacts_lookup_keys(const char *const *senders, unsigned int count,
			     ARRAY_TYPE(const_string) *keys);
/* Is one of the normalized senders blocked by a contact? attrs reads the
   user's INBOX. Rebuilds first if the marker is missing. Returns 1 with
   the sender's hash, 0, or -1 on error (logged). */
int coi_contacts_lookup(struct coi_user *cuser, struct coi_attrs *attrs,
			const char *const *senders, unsigned int count,
			const char **hash_r);

#endif
