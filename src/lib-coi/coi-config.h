#ifndef COI_CONFIG_H
#define COI_CONFIG_H

struct mail_storage;
struct coi_user;
struct coi_state_read;

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
   config/ as validated internal attributes kept in the state layer, so
   that they work even when imap_metadata = no, whatever the
   mail_attribute_dict is. */
void coi_config_attributes_register(void);
void coi_config_attributes_unregister(void);

/* Name the configuration's keys in read. */
void coi_config_read_want(struct coi_state_read *read);
/* The configuration from read. Returns 0, or -1 with error_r (config_r is
   then the disabled default). */
int coi_config_read_from(struct coi_user *cuser, struct coi_state_read *read,
			 struct coi_config *config_r, const char **error_r);
/* Read the user's configuration, uncached: a value set by any other
   session is seen. Returns 0, or -1 with error_r like above. */
int coi_config_read(struct coi_user *cuser, struct coi_config *config_r,
		    const char **error_r);

/* Set (value NULL: remove) "enabled" or "message-filter", as a client's
   SETMETADATA would (validated, and creating the COI folders where the
   value needs them), in a transaction of its own. Returns 0, or -1 with
   the error set on error_storage (logged if it is not the client's). */
int coi_config_set(struct coi_user *cuser, const char *name,
		   const char *value, struct mail_storage *error_storage);

#endif
