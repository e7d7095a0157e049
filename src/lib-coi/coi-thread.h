#ifndef COI_THREAD_H
#define COI_THREAD_H

#include "array-decl.h"

struct coi_user;
struct coi_settings;
struct coi_state_read;

/* The thread index: which Message-IDs belonged to chat messages of this
   user, so that a reply from an ordinary mail client to a chat (whose
   Message-ID need not start with chat$, e.g. Delta Chat's <uuid@localhost>)
   is recognised as chat too.

   It is a fixed table of coi_thread_index_size slots, each one key of the
   state layer (COI_STATE_THREAD), out of IMAP's reach: slot = hash(id) mod
   size, value = "<unix time>
   <hash>". Adding overwrites whatever the slot held, so the index never
   grows beyond its size and costs one dict write; a lookup is one dict read
   per id. A slot taken over by another id only makes a reply look like
   mail: it is then delivered like mail, never lost. */

/* How many parent ids of one message are looked up at most. */
#define COI_THREAD_MAX_LOOKUPS 4

/* The slot name and value for id at the given time. */
void coi_thread_entry(const struct coi_settings *set, const char *id,
		      time_t now, const char **slot_r, const char **value_r);

/* Returns TRUE if value (as read from id's slot) records id, written no
   earlier than max_age before now. */
bool coi_thread_entry_matches(const char *value, const char *id, time_t now,
			      unsigned int max_age_secs);

/* Name the slots of ids in read, so that they are fetched with other keys. */
void coi_thread_read_want(struct coi_state_read *read,
			  const struct coi_settings *set,
			  const ARRAY_TYPE(const_string) *ids);
/* Look the ids up. Returns 1 and the matching id if one is found, 0 if
   none, -1 with error_r. */
int coi_thread_lookup(struct coi_state_read *read,
		      const struct coi_settings *set,
		      const ARRAY_TYPE(const_string) *ids,
		      const char **found_id_r, const char **error_r);

/* Record id, without waiting for the commit (a failure is logged by the
   state layer: it only costs the thread rule). */
void coi_thread_add(struct coi_user *cuser, const struct coi_settings *set,
		    const char *id);

#endif
