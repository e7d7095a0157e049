#ifndef COI_SETTINGS_H
#define COI_SETTINGS_H

struct mail_user;
struct mail_user_settings;

#define COI_SETTING_MAILBOX_ROOT "coi_mailbox_root"
#define COI_SETTING_BLOCK_POLICY "coi_block_policy"
#define COI_SETTING_BLOCK_POLICY_DICT "coi_block_policy_dict"
#define COI_SETTING_BLOCK_POLICY_ACTION "coi_block_policy_action"
#define COI_SETTING_BLOCKED_MAILBOX "coi_blocked_mailbox"
#define COI_SETTING_BLOCKED_MAX "coi_blocked_max"
#define COI_SETTING_THREAD_INDEX_SIZE "coi_thread_index_size"
#define COI_SETTING_THREAD_INDEX_MAX_AGE "coi_thread_index_max_age"
#define COI_SETTING_STATE_DICT "coi_state_dict"
#define COI_SETTING_STATE_FAILURE "coi_state_failure"
#define COI_SETTING_STATE_SNAPSHOT "coi_state_snapshot"

/* The largest coi_thread_index_size: each slot is one attribute. */
#define COI_THREAD_INDEX_SIZE_MAX 1000000
/* The largest coi_blocked_max. */
#define COI_BLOCKED_MAX_MAX 1000000

/* What happens to mail the provider-wide block policy matches. */
enum coi_policy_action {
	COI_POLICY_ACTION_REJECT = 0,
	COI_POLICY_ACTION_DISCARD,
	COI_POLICY_ACTION_FOLDER,
};

/* The provider-wide block policy's settings. lmtp's RCPT stage reads them
   before any user exists, so they are a table of their own. */
struct coi_policy_settings {
	/* coi_block_policy: the file ("": none) */
	const char *path;
	/* coi_block_policy_dict: a dict URI ("": none) */
	const char *dict_uri;
	enum coi_policy_action action;
};

/* Admin settings (plugin { } block or userdb), parsed once per user. */
struct coi_settings {
	const char *mailbox_root;
	/* Where mail of blocked senders goes (relative to the INBOX
	   namespace unless it names another namespace's prefix) */
	const char *blocked_mailbox;
	/* How many METADATA block entries a user may have */
	unsigned int blocked_max;
	struct coi_policy_settings policy;
	/* Slots of the per-user index of chat Message-IDs (0: no index, so
	   no thread-aware detection), and how long an entry counts. */
	unsigned int thread_index_size;
	unsigned int thread_index_max_age_secs;
	/* The dict of COI's per-user state ("": the user's mail attributes,
	   as before coi_state_dict existed), see coi-state.h */
	const char *state_dict;
	/* coi_state_failure = deliver: a delivery whose state cannot be
	   read goes where it would go without COI, instead of failing
	   temporarily */
	bool state_failure_deliver;
	/* coi_state_snapshot: keep a snapshot of the hot state in the
	   mailbox list index (coi-snapshot.h) */
	bool state_snapshot;
};

/* Read every coi_* setting of the user into set_r, applying defaults.
   Strings are allocated from the user's pool. Returns 0 on success, -1 with
   error_r naming the setting and the value when one is invalid. */
int coi_settings_parse(struct mail_user *user, struct coi_settings *set_r,
		       const char **error_r);

/* Read the coi_block_policy* settings of the server-wide settings set
   (no user: %variables stay unexpanded) into set_r, with the same defaults
   and checks as coi_settings_parse(). Strings are allocated from pool. */
int coi_policy_settings_parse(const struct mail_user_settings *set,
			      pool_t pool, struct coi_policy_settings *set_r,
			      const char **error_r);

/* Parse a coi_block_policy_action value. Returns 0, or -1 if it is not
   one of the names (case-sensitive). */
int coi_policy_action_parse(const char *value,
			    enum coi_policy_action *action_r);
const char *coi_policy_action_to_str(enum coi_policy_action action);

/* Check that the dict URI's driver can hold COI's state. Returns 0, or -1
   with error_r saying why not. */
int coi_state_dict_verify(const char *uri, const char **error_r);

/* Check a mailbox root name relative to its namespace (prefix removed)
   whose hierarchy separator is sep. Returns 0 if it is usable, -1 with
   error_r saying why not. */
int coi_mailbox_root_verify(const char *name, char sep, const char **error_r);

#endif
