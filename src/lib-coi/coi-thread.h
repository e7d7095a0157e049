#ifndef COI_THREAD_H
#define COI_THREAD_H

#include "array-decl.h"

struct coi_user;
struct coi_settings;
struct coi_state_read;
struct coi_detect_headers;

/* The thread index: which Message-IDs belonged to chat messages of this
   user, and who took part in them, so that a reply from an ordinary mail
   client to a chat (whose Message-ID need not start with chat$, e.g. Delta
   Chat's <uuid@localhost>) is recognised as chat too.

   It is a fixed table of coi_thread_index_size slots, each one key of the
   state layer (COI_STATE_THREAD), out of IMAP's reach: slot = hash(id) mod
   size, value = "<unix time> <id hash> <writer> [<participant> ...]".
   The writer is the hash of the chat's first From address ("-" if it had
   none), the participants those of its other From, To and Cc addresses
   (at most COI_THREAD_MAX_PARTICIPANTS). A value of the versions before,
   "<unix time> <id hash>", has no participants.

   A reply counts as chat only if one of its From addresses took part in
   the chat it answers, or is a peer: has sent the user chat, or was sent
   chat by the user, within coi_thread_index_max_age (COI_STATE_PEER,
   name = the address hash, value = "<last chat> <slots written> <window
   start>", unix times, 0 for never). An old value counts for peers only.

   Adding never takes over a slot that remembers the same id, and one
   writer may write at most coi_thread_share() slots per window (see
   coi_thread_share_take()), so that nobody evicts more than a share of
   the index. A slot lost to another id only makes a reply look like mail:
   it is then delivered like mail, never lost. */

/* How many parent ids of one message are looked up at most. */
#define COI_THREAD_MAX_LOOKUPS 4
/* How many From addresses of a reply are looked up as participants and
   peers at most. */
#define COI_THREAD_MAX_SENDERS 4
/* How many addresses besides the writer a slot keeps at most. */
#define COI_THREAD_MAX_PARTICIPANTS 8
/* A writer's share of the index: 1/COI_THREAD_SHARE_DIVISOR of its slots
   (at least 1) per window. */
#define COI_THREAD_SHARE_DIVISOR 16
/* The share's window when entries never expire (max_age 0). */
#define COI_THREAD_SHARE_WINDOW_FOREVER (90 * 24 * 3600)

/* The people of one message, as address hashes (coi_thread_address_hash()),
   allocated from the data stack. */
struct coi_thread_people {
	/* the first From address, NULL if it has none */
	const char *writer;
	/* the From addresses, writer first, at most COI_THREAD_MAX_SENDERS */
	ARRAY_TYPE(const_string) senders;
	/* the From, To and Cc addresses but the writer, in that order, at
	   most COI_THREAD_MAX_PARTICIPANTS */
	ARRAY_TYPE(const_string) participants;
};

/* A peer record (COI_STATE_PEER). */
struct coi_thread_peer {
	/* when the address last exchanged chat with the user (0: never) */
	uintmax_t last_chat;
	/* slots the address wrote since window_start */
	unsigned int count;
	uintmax_t window_start;
};

/* Who wrote a chat: the message was chat by its own headers (its writer
   becomes a peer), a reply counted as chat by the thread rule, or the
   user's own chat (APPEND: its To and Cc become peers, no share). */
enum coi_thread_source {
	COI_THREAD_SOURCE_CHAT = 0,
	COI_THREAD_SOURCE_REPLY,
	COI_THREAD_SOURCE_OWN,
};

/* What coi_thread_add_decide() decided. */
enum coi_thread_add_result {
	/* write the new value */
	COI_THREAD_ADD_WRITE = 0,
	/* the slot remembers the id already: it is not taken over */
	COI_THREAD_ADD_KNOWN,
	/* the writer used its share of the window */
	COI_THREAD_ADD_SHARE_USED,
	/* a delivered chat without a From address is not remembered */
	COI_THREAD_ADD_NO_WRITER,
};

/* 16 hex digits of the SHA-256 of a normalized address. */
const char *coi_thread_address_hash(const char *normalized);
/* The people of a message from its From, To and Cc headers. */
void coi_thread_people_get(const struct coi_detect_headers *headers,
			   struct coi_thread_people *people_r);

/* The slot name of id. */
const char *coi_thread_slot(const struct coi_settings *set, const char *id);
/* The slot value for id written at now by people. */
const char *coi_thread_value(const char *id, time_t now,
			     const struct coi_thread_people *people);

/* Returns TRUE if value (as read from id's slot) records id, written no
   earlier than max_age before now. */
bool coi_thread_entry_is_id(const char *value, const char *id, time_t now,
			    unsigned int max_age_secs);
/* Returns TRUE if value records id (as coi_thread_entry_is_id()) and a
   reply from reply's senders counts: one of them is a peer (is_peer), or
   the writer or a participant of value. */
bool coi_thread_entry_matches(const char *value, const char *id, time_t now,
			      unsigned int max_age_secs,
			      const struct coi_thread_people *reply,
			      bool is_peer);

/* Parse a peer record; returns FALSE (and an all-0 peer_r) for NULL or a
   broken value. */
bool coi_thread_peer_parse(const char *value, struct coi_thread_peer *peer_r);
const char *coi_thread_peer_value(const struct coi_thread_peer *peer);
/* Returns TRUE if peer exchanged chat with the user within max_age. */
bool coi_thread_peer_is_live(const struct coi_thread_peer *peer, time_t now,
			     unsigned int max_age_secs);
/* The most slots one writer writes per window: coi_thread_index_size /
   COI_THREAD_SHARE_DIVISOR, at least 1. */
unsigned int coi_thread_share(const struct coi_settings *set);
/* Take one slot of peer's share: returns TRUE and counts it, or FALSE if
   the share of the window is used. The window is coi_thread_index_max_age
   (COI_THREAD_SHARE_WINDOW_FOREVER for 0) from the first slot written
   after the last window ended. */
bool coi_thread_share_take(const struct coi_settings *set,
			   struct coi_thread_peer *peer, time_t now);

/* Should id's slot, holding old_value (NULL if unset), get id written by
   people? peer is the writer's record (taken from, for
   COI_THREAD_SOURCE_CHAT and _REPLY). value_r is set for
   COI_THREAD_ADD_WRITE. Overwriting the writer's own live entry takes no
   share. */
enum coi_thread_add_result
coi_thread_add_decide(const struct coi_settings *set, const char *old_value,
		      const char *id, time_t now,
		      const struct coi_thread_people *people,
		      enum coi_thread_source source,
		      struct coi_thread_peer *peer, const char **value_r);

/* Name in read the keys a lookup of ids needs (their slots, the senders'
   peer records), so that they are fetched with other keys. */
void coi_thread_read_want(struct coi_state_read *read,
			  const struct coi_settings *set,
			  const ARRAY_TYPE(const_string) *ids,
			  const struct coi_thread_people *reply);
/* Look the ids up for a reply from reply's senders. Returns 1 and the
   matching id if one counts, 0 if none, -1 with error_r. */
int coi_thread_lookup(struct coi_state_read *read,
		      const struct coi_settings *set,
		      const ARRAY_TYPE(const_string) *ids,
		      const struct coi_thread_people *reply,
		      const char **found_id_r, const char **error_r);

/* Name in read the keys coi_thread_add() needs. */
void coi_thread_add_want(struct coi_state_read *read,
			 const struct coi_settings *set, const char *id,
			 const struct coi_thread_people *people,
			 enum coi_thread_source source);
/* Record id written by people (and the peers), without waiting for the
   commit (a failure is logged by the state layer: it only costs the
   thread rule). Returns 0, or -1 with error_r if read failed (nothing is
   written). */
int coi_thread_add(struct coi_user *cuser, struct coi_state_read *read,
		   const struct coi_settings *set, const char *id,
		   const struct coi_thread_people *people,
		   enum coi_thread_source source, const char **error_r);

#endif
