#ifndef COI_POLICY_H
#define COI_POLICY_H

struct istream;

/* Provider-wide block policy: addresses and @domains blocked for every user,
   from a file (coi_block_policy: one entry per line, '#' comments, blank
   lines ignored) and/or a dict (coi_block_policy_dict: key
   "shared/coi-block-policy/<entry>" with any non-empty value). The file is
   re-read when it changes: an edit holds for the next delivery. */

enum coi_policy_action {
	COI_POLICY_ACTION_REJECT = 0,
	COI_POLICY_ACTION_DISCARD,
	COI_POLICY_ACTION_FOLDER,
};

#define COI_POLICY_DICT_PREFIX "shared/coi-block-policy/"

int coi_policy_action_parse(const char *value,
			    enum coi_policy_action *action_r);
const char *coi_policy_action_to_str(enum coi_policy_action action);

/* Parse a policy file's text: NULL-terminated lines. Returns 0 with the
   normalized entries, or -1 with error_r naming the first bad line. */
int coi_policy_parse(const char *const *lines, pool_t pool,
		     ARRAY_TYPE(const_string) *entries_r,
		     const char **error_r);

/* Read a policy file's text from input (a blocking stream; its max buffer
   size limits the line length, and a last line without LF counts too) and
   parse it like coi_policy_parse(). Errors name the stream (the file's
   path). */
int coi_policy_parse_stream(struct istream *input, pool_t pool,
			    ARRAY_TYPE(const_string) *entries_r,
			    const char **error_r);

/* Check the normalized senders (NULLs skipped) against the file and the
   dict (either may be NULL or ""). base_dir is Dovecot's, for proxy dicts. Returns 1 with the matching entry, 0 if
   none matches, or -1 with error_r if the policy cannot be read: the
   caller must then not deliver (tempfail), since the policy is unknown. */
int coi_policy_check(const char *path, const char *dict_uri,
		     const char *base_dir, const char *const *senders,
		     unsigned int count, const char **entry_r,
		     const char **error_r);

/* Free the process-wide caches. */
void coi_policy_deinit(void);

#endif
