#ifndef COI_CONFIG_H
#define COI_CONFIG_H

#include "dict.h"

struct mailbox;
struct coi_user;
struct coi_attrs;

enum coi_message_filter {
	COI_MESSAGE_FILTER_NONE = 0,
	COI_MESSAGE_FILTER_ACTIVE,
	COI_MESSAGE_FILTER_SEEN,
};

/* A user's COI configuration as the client set it through METADATA. */
struct coi_config {
	bool enabled;
	enum coi_message_filter filter;
};

/* Parse an "enabled" value as SETMETADATA gives it (NULL for NIL): only
   "yes" and NIL are valid. Returns 0 with enabled_r set, or -1 with an
   error_r fit for the client. */
int coi_config_parse_enabled(const char *value, bool *enabled_r,
			     const char **error_r);
/* Parse a "message-filter" value (NULL for NIL, meaning "none"): "none",
   "active" or "seen", case-sensitive. Returns 0 or -1 like above. */
int coi_config_parse_message_filter(const char *value,
				    enum coi_message_filter *filter_r,
				    const char **error_r);
const char *coi_message_filter_to_str(enum coi_message_filter filter);

/* Register the METADATA entries below /private/vendor/vendor.dovecot/coi/
   config/ as validated internal attributes, so that they work even when
   imap_metadata = no. */
void coi_config_attributes_register(void);
void coi_config_attributes_unregister(void);

/* Read the user's configuration from the attribute dict, uncached: a value
   set by any other session is seen. Returns 0, or -1 after logging an
   error (config_r is then the disabled default). */
int coi_config_read(struct coi_user *cuser, struct coi_config *config_r);
/* The same, through attrs. */
int coi_config_read_attrs(struct coi_user *cuser, struct coi_attrs *attrs,
			  struct coi_config *config_r);
/* Allocate the INBOX that holds the server attributes. Like IMAP's server
   METADATA, they do not depend on the INBOX's ACLs. */
struct mailbox *coi_config_inbox_alloc(struct coi_user *cuser);

/* Reads (and the thread index's writes) of COI's private INBOX attributes
   for one unit of work, such as a delivery. lib-storage resolves the INBOX
   GUID again for every attribute it reads, and each dict round trip makes
   the next resolution refresh the mailbox list index. Here the first read
   goes through lib-storage (which opens the user's attribute dict), later
   ones go straight to that dict under the GUID resolved once, and the keys
   a delivery knows it needs are fetched in one round trip. Only for keys
   that no internal attribute answers with a get() of its own. */
struct coi_attrs_value;
struct coi_attrs {
	struct mailbox *box;
	pool_t pool;
	/* "priv/<INBOX GUID>/", once known */
	const char *prefix;
	ARRAY(struct coi_attrs_value) prefetched;
};

/* Start on an INBOX allocated with coi_config_inbox_alloc(), which the
   caller frees after coi_attrs_deinit(). */
void coi_attrs_init(struct coi_attrs *attrs, struct mailbox *box);
/* Free the prefetched values. */
void coi_attrs_deinit(struct coi_attrs *attrs);
/* Read keys from the dict in one round trip, for coi_attrs_get() to
   answer from. Failures are kept and reported by coi_attrs_get(). */
void coi_attrs_prefetch(struct coi_attrs *attrs,
			const ARRAY_TYPE(const_string) *keys);
/* Forget the prefetched values (after writing some of those keys). */
void coi_attrs_forget(struct coi_attrs *attrs);
/* Read key: returns 1 with value_r, 0 if unset, -1 with the error set on
   the box. value_r lives on the data stack or in attrs. */
int coi_attrs_get(struct coi_attrs *attrs, const char *key,
		  const char **value_r);
/* Set (value NULL: remove) key in a dict transaction of its own, without
   the mailbox index's attribute change record: for COI's own internal keys
   (the thread index), which no client and no dsync needs to see change.
   The commit is not waited for: callback gets its result when the dict
   answers, at the latest when the user's attribute dict is waited for as
   the user is deinitialized. Returns 0, or -1 with the error set on the
   box if the dict cannot be opened (callback is then not called). */
int coi_attrs_set_internal(struct coi_attrs *attrs, const char *key,
			   const char *value,
			   dict_transaction_commit_callback_t *callback,
			   void *context);

/* Set (value NULL: remove) one private attribute of box in a transaction
   of its own, opening box if needed. Returns 0, or -1 (error set on box). */
int coi_attribute_set(struct mailbox *box, const char *key, const char *value);

/* Set or remove "enabled", exactly as a client's SETMETADATA would (so
   enabling also creates the COI folders). Returns 0, or -1 after logging
   the error. */
int coi_config_set_enabled(struct coi_user *cuser, bool enabled);

#endif
