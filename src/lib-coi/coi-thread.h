#ifndef COI_THREAD_H
#define COI_THREAD_H

#include "array-decl.h"
#include "dict.h"
#include "mailbox-attribute.h"

struct coi_attrs;
struct coi_settings;

/* The thread index: which Message-IDs belonged to chat messages of this
   user, so that a reply from an ordinary mail client to a chat (whose
   Message-ID need not start with chat$, e.g. Delta Chat's <uuid@localhost>)
   is recognised as chat too.

   It is a fixed table of coi_thread_index_size slots, each one private
   attribute of the INBOX below vendor/vendor.dovecot/pvt/ (which IMAP
   METADATA cannot reach): slot = hash(id) mod size, value = "<unix time>
   <hash>". Adding overwrites whatever the slot held, so the index never
   grows beyond its size and costs one dict write; a lookup is one dict read
   per id. A slot taken over by another id only makes a reply look like
   mail: it is then delivered like mail, never lost. */

#define COI_THREAD_ATTR_PREFIX \
	MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT "coi/thread/"

/* How many parent ids of one message are looked up at most. */
#define COI_THREAD_MAX_LOOKUPS 4

/* The attribute key and value for id at the given time. */
void coi_thread_entry(const struct coi_settings *set, const char *id,
		      time_t now, const char **key_r, const char **value_r);

/* Returns TRUE if value (as read from key's slot) records id, written no
   earlier than max_age before now. */
bool coi_thread_entry_matches(const char *value, const char *id, time_t now,
			      unsigned int max_age_secs);

/* Look the ids up in the INBOX's attributes. Returns 1 and the matching id
   if one is found, 0 if none, -1 on a storage error (set on the box). */
int coi_thread_lookup(struct coi_attrs *attrs, const struct coi_settings *set,
		      const ARRAY_TYPE(const_string) *ids,
		      const char **found_id_r);

/* Record id in the INBOX's attributes, without waiting for the dict's
   commit (see coi_attrs_set_internal()). Returns 0, or -1 if the dict
   cannot be opened (error set on the box, callback not called). */
int coi_thread_add(struct coi_attrs *attrs, const struct coi_settings *set,
		   const char *id, dict_transaction_commit_callback_t *callback,
		   void *context);

#endif
