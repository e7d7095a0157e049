#ifndef COI_SEEN_MOVE_H
#define COI_SEEN_MOVE_H

#include "array-decl.h"
#include "seq-range-array.h"

struct mail;
struct mailbox;
struct coi_user;

/* message-filter=seen: a chat message of the INBOX that gets \Seen moves
   to <root>/Chats, once the transaction that set the flag has committed.
   The copies are committed before the originals are expunged, and until
   then a journal (COI_SEEN_JOURNAL_FNAME, beside the lock file) names them,
   so that a process killed in between leaves no duplicate beyond the next
   move. Moves of one user are serialized by COI_SEEN_LOCK_FNAME. */
#define COI_SEEN_LOCK_FNAME "dovecot-coi-seen.lock"
#define COI_SEEN_JOURNAL_FNAME "dovecot-coi-seen.move"

/* Returns TRUE if mail has $Chat: what the seen move takes once it is
   \Seen. */
bool coi_seen_move_is_chat(struct mail *mail);

/* Move the messages of uids (INBOX UIDs) that are still \Seen chat from
   inbox to <root>/Chats, if cuser has COI enabled with
   message-filter=seen, after finishing a move that was interrupted.
   Failures are logged here. */
void coi_seen_move(struct coi_user *cuser, struct mailbox *inbox,
		   const ARRAY_TYPE(seq_range) *uids);

#endif
