#ifndef COI_CONFIG_H
#define COI_CONFIG_H

struct mailbox;
struct coi_user;

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
/* The same, from an INBOX allocated with coi_config_inbox_alloc(). */
int coi_config_read_box(struct coi_user *cuser, struct mailbox *box,
			struct coi_config *config_r);
/* Allocate the INBOX that holds the server attributes. Like IMAP's server
   METADATA, they do not depend on the INBOX's ACLs. */
struct mailbox *coi_config_inbox_alloc(struct coi_user *cuser);

/* Set (value NULL: remove) one private attribute of box in a transaction
   of its own, opening box if needed. Returns 0, or -1 (error set on box). */
int coi_attribute_set(struct mailbox *box, const char *key, const char *value);

/* Set or remove "enabled", exactly as a client's SETMETADATA would (so
   enabling also creates the COI folders). Returns 0, or -1 after logging
   the error. */
int coi_config_set_enabled(struct coi_user *cuser, bool enabled);

#endif
