#ifndef COI_STATE_H
#define COI_STATE_H

struct mailbox;
struct mail_storage;
struct mail_attribute_value;
struct mailbox_transaction_context;
struct coi_user;

/* The per-user state layer: the only code that knows where COI keeps what
   it knows about a user, and under which keys. Above it, state is
   (kind, name) = value.

   With coi_state_dict set, the state is in a dict of COI's own, below
   priv/coi/<kind>/<name> (per user through the dict's username), whatever
   the admin's mail_attribute_dict is. Names have no '/', and a kind is
   only listed at its prefix: Dovecot 2.3's dict-sql cannot list below a
   map's last variable, and a catch-all map for ordinary attributes would
   match COI's listings too, which is why COI's keys cannot share a SQL
   dict with them (docs/sql-dict.md).

   Without coi_state_dict, the state is in the user's mail attribute dict,
   in the layout of the versions before it (private attributes of the
   INBOX, priv/<INBOX GUID>/vendor/vendor.dovecot/pvt/...), so an upgrade
   finds everything where it was. */

enum coi_state_kind {
	/* "enabled", "message-filter", COI_STATE_CONTACTS_INDEXED */
	COI_STATE_CONFIG = 0,
	/* the METADATA block list: <entry> = "yes" */
	COI_STATE_BLOCKED,
	/* blocked contacts: <COI-From-Hash> = the GUIDs of the contacts */
	COI_STATE_CONTACT,
	/* the thread index: <slot> = "<time> <id hash> <writer>
	   [<participant> ...]" (coi-thread.h) */
	COI_STATE_THREAD,
	/* correspondents of the thread index: <address hash> = "<last chat>
	   <slots written> <window start>" (coi-thread.h) */
	COI_STATE_PEER,

	COI_STATE_KIND_COUNT
};

/* The config name that says the contact hashes are complete. */
#define COI_STATE_CONTACTS_INDEXED "contacts-indexed"

/* Attach the state to the user (mail_user_created hook, after the COI user
   context exists): a dict is opened on first use, and the user's deinit
   waits for commits still pending. */
void coi_state_user_created(struct coi_user *cuser);
/* For a user the hooks did not run for (doveadm): the state is attached on
   first use, and this waits for it and frees it, before
   coi_user_detach(). */
void coi_state_user_detach(struct coi_user *cuser);

/*
 * Reading: a batch of keys fetched in one dict round trip
 */

struct coi_state_read;

struct coi_state_read *coi_state_read_begin(struct coi_user *cuser);
void coi_state_read_end(struct coi_state_read **read);
/* Name a key coi_state_read_fetch() reads. */
void coi_state_read_want(struct coi_state_read *read, enum coi_state_kind kind,
			 const char *name);
/* Read every wanted key not read yet, in one round trip. Failures are
   kept and returned by coi_state_read_get(). */
void coi_state_read_fetch(struct coi_state_read *read);
/* Returns 1 with value_r, 0 if unset, -1 with error_r. A key not fetched
   before is read now. The error never names the key (it may hold a
   sender's address). value_r lives as long as read. */
int coi_state_read_get(struct coi_state_read *read, enum coi_state_kind kind,
		       const char *name, const char **value_r,
		       const char **error_r);

/* One key, uncached. value_r is allocated from the data stack. */
int coi_state_lookup(struct coi_user *cuser, enum coi_state_kind kind,
		     const char *name, const char **value_r,
		     const char **error_r);

/*
 * Listing the names of one kind (one level, unsorted)
 */

struct coi_state_iter;

struct coi_state_iter *
coi_state_iter_init(struct coi_user *cuser, enum coi_state_kind kind);
/* The same, with each name's value (coi_state_iter_value()). */
struct coi_state_iter *
coi_state_iter_init_values(struct coi_user *cuser, enum coi_state_kind kind);
/* The value of the name coi_state_iter_next() returned last (listings of
   coi_state_iter_init_values() only); valid until the next call. */
const char *coi_state_iter_value(struct coi_state_iter *iter);
/* The next name, or NULL at the end or on error. */
const char *coi_state_iter_next(struct coi_state_iter *iter);
/* Returns 0, or -1 with error_r if the listing failed. */
int coi_state_iter_deinit(struct coi_state_iter **iter, const char **error_r);

/*
 * Writing
 */

struct coi_state_transaction;

struct coi_state_transaction *
coi_state_transaction_begin(struct coi_user *cuser);
/* Set (value NULL: remove) a key when the transaction commits. */
void coi_state_set(struct coi_state_transaction *trans,
		   enum coi_state_kind kind, const char *name,
		   const char *value);
/* A counter of the transaction for its caller (e.g. block list entries
   added so far, which the dict shows only after the commit). */
unsigned int *coi_state_transaction_counter(struct coi_state_transaction *trans,
					    enum coi_state_kind kind);
/* Commit and wait. Returns 0, or -1 with error_r. */
int coi_state_transaction_commit(struct coi_state_transaction **trans,
				 const char **error_r);
/* Commit without waiting. A failure is logged here (nobody else hears of
   it); the user's deinit waits for the result. */
void coi_state_transaction_commit_async(struct coi_state_transaction **trans);
void coi_state_transaction_rollback(struct coi_state_transaction **trans);

/* The state transaction that commits together with the mailbox transaction
   t, so that one SETMETADATA changes all its entries or none: created on
   first use, committed or rolled back by the storage hooks through the two
   functions below. */
struct coi_state_transaction *
coi_state_mailbox_transaction(struct mailbox_transaction_context *t);
/* Returns 0 (also when t has none), or -1 with the error set on t's
   storage. */
int coi_state_mailbox_transaction_commit(struct mailbox_transaction_context *t);
void coi_state_mailbox_transaction_rollback(struct mailbox_transaction_context *t);

/* Copy the user's state from the mail attribute dict (the layout before
   coi_state_dict) into coi_state_dict, where a key is not there yet (so a
   second run changes nothing back). Returns 0 with the number of keys
   copied, or -1 with error_r (nothing written). */
int coi_state_migrate(struct coi_user *cuser, unsigned int *count_r,
		      const char **error_r);

/* Drop the user's state snapshot (coi-snapshot.h): the next read goes to
   the dict. For changes made behind COI's back. Returns 0, or -1 with
   error_r. */
int coi_state_refresh(struct coi_user *cuser, const char **error_r);

/*
 * METADATA values
 */

/* The get() of a METADATA entry kept in the state layer: the value of
   (kind, name) for box's user. Returns 1, 0 if unset (or COI is not the
   user's), -1 with the error set on box's storage. */
int coi_state_attribute_get(struct mailbox *box, enum coi_state_kind kind,
			    const char *name,
			    struct mail_attribute_value *value_r);

/* A SETMETADATA value as a string, however the client sent it: quoted,
   literal or literal8 (a stream), NIL (NULL). A value longer than max_len
   or holding NULs fails with MAIL_ERROR_PARAMS naming what. Returns 0, or
   -1 with the error set on storage. */
int coi_state_value_read(struct mail_storage *storage,
			 const struct mail_attribute_value *value,
			 size_t max_len, const char *what, const char **str_r);

#endif
