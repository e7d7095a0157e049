#ifndef COI_SNAPSHOT_H
#define COI_SNAPSHOT_H

struct mail_user;
struct event;

/* A compact copy of a user's hot state, so that the usual delivery needs no
   dict round trip: the configuration values and which kinds of state are
   empty. It is a header extension ("coi-state") of the user's mailbox list
   index, which delivery opens and refreshes anyway, so it is shared by
   every process and every server that shares the user's index directory.

   The dict stays the source of truth. Every write of the state layer that
   may change what the snapshot says invalidates it before and after the
   dict commit; a reader that finds it invalid reads the dict and stores a
   new snapshot under the index's sync lock, only over an invalid one of
   the same generation (no invalidation, and no other reader's snapshot,
   came in between). A snapshot is trusted for COI_SNAPSHOT_MAX_AGE at
   most. A user without a list index on disk (mailbox_list_index = no, an
   in-memory INDEX) has no snapshot: every read goes to the dict. */

/* seconds */
#define COI_SNAPSHOT_MAX_AGE (60 * 60)
#define COI_SNAPSHOT_VALUES_MAX 112

struct coi_snapshot {
	/* what coi_snapshot_store() checks is still current */
	uint32_t generation;
	/* bit (1 << kind): nothing of that kind is stored */
	uint32_t empty_kinds;
	/* the config kind: "name\0value\0" pairs */
	unsigned int values_size;
	unsigned char values[COI_SNAPSHOT_VALUES_MAX];
};

/* source identifies where the state is kept (a hash of the dict's URI): a
   snapshot taken of another source is not valid. Returns 1 with a valid
   snapshot_r, 0 if none is valid (snapshot_r->generation is set for
   coi_snapshot_store()), -1 if the user cannot have one. */
int coi_snapshot_read(struct mail_user *user, struct event *event,
		      uint32_t source, struct coi_snapshot *snapshot_r);
/* Store snapshot as valid, unless it was invalidated (or another snapshot
   stored) since coi_snapshot_read() returned its generation. Failures are
   logged to event at debug level: the next reader falls back to the dict
   again. */
void coi_snapshot_store(struct mail_user *user, struct event *event,
			uint32_t source, const struct coi_snapshot *snapshot);
/* Mark the snapshot invalid (with a new generation). Returns 0 (also when
   the user has no list index on disk), or -1 with error_r if the list
   index could not be written. */
int coi_snapshot_invalidate(struct mail_user *user, const char **error_r);

/* The value of name in snapshot: 1 with value_r, 0 if unset. */
int coi_snapshot_value(const struct coi_snapshot *snapshot, const char *name,
		       const char **value_r);
/* Add a pair; FALSE if it does not fit (the snapshot cannot be stored). */
bool coi_snapshot_add_value(struct coi_snapshot *snapshot, const char *name,
			    const char *value);

#endif
