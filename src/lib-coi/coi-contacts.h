#ifndef COI_CONTACTS_H
#define COI_CONTACTS_H

#include "array-decl.h"
#include "seq-range-array.h"
#include "mailbox-attribute.h"

struct mail;
struct mailbox;
struct coi_state_read;
struct coi_user;

/* Blocks from contact storage messages (client spec, "Contact Storage
   Message Headers", "Blocking Contacts"): a message in <root>/Contacts with
   a COI-Blocked header blocks every address whose COI-From-Hash it carries.

   Delivery must not scan the Contacts folder, so the blocking hashes are
   kept in the state layer (COI_STATE_CONTACT, out of IMAP's reach):
   <hash> = the GUIDs of the blocking contact messages carrying that hash,
   space-separated. imap_coi
   maintains them when contacts are saved or expunged through it; the
   marker attribute says they are complete, and when it is missing (a new
   or restored dict) the next delivery rebuilds them from the folder. */
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
/* Contacts was just created (empty): mark its index complete. */
void coi_contacts_folder_created(struct coi_user *cuser);

/* May the user's client store the contact mail? The distinct blocking
   hashes, those already indexed plus *added (the transaction's so far)
   plus the mail's new ones, are held to coi_blocked_max like block list
   entries. Returns 0 (adding the mail's new ones to *added), or -1 with
   MAIL_ERROR_LIMIT (or an internal error) set on storage. */
int coi_contacts_limit_check(struct coi_user *cuser, struct mail *mail,
			     unsigned int *added, struct mail_storage *storage);

/* Name the keys coi_contacts_lookup() reads for the normalized senders:
   the index marker, then the hashes of each sender's addresses. */
void coi_contacts_read_want(struct coi_state_read *read,
			    const char *const *senders, unsigned int count);
/* Is one of the normalized senders blocked by a contact? Rebuilds first if
   the marker is missing. Returns 1 with the sender's hash, 0, or -1 with
   error_r. */
int coi_contacts_lookup(struct coi_user *cuser, struct coi_state_read *read,
			const char *const *senders, unsigned int count,
			const char **hash_r, const char **error_r);

#endif
