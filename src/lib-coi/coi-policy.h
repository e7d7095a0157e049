#ifndef COI_POLICY_H
#define COI_POLICY_H

#include "hash.h"
#include "coi-settings.h"

struct event;
struct istream;

/* Provider-wide block policy: addresses and @domains blocked for every user,
   from a file (coi_block_policy: one entry per line, '#' comments, blank
   lines ignored, a UTF-8 BOM at its start ignored) and/or a dict
   (coi_block_policy_dict: key "shared/coi-block-policy/<entry>" with any
   non-empty value). The file is re-read when it changes: an edit holds for
   the next delivery. */

#define COI_POLICY_DICT_PREFIX "shared/coi-block-policy/"

/* A policy file holds at most this many distinct entries, in at most this
   many bytes: a million addresses of up to 33 bytes on average. Each
   process keeps the parsed file, so this bounds its memory (lmtp: 57 MB
   more for a million entries); a larger file is an error, not a truncated
   policy. */
#define COI_POLICY_MAX_ENTRIES 1000000
#define COI_POLICY_MAX_SIZE (32 * 1024 * 1024)

/* The parsed entries of a policy file: each normalized entry is both key
   and value. */
HASH_TABLE_DEFINE_TYPE(coi_policy_entries, const char *, const char *);

/* Parse one line of a policy file (without its LF). Returns 1 with the
   normalized entry (on the data stack), 0 for a blank or comment line, or
   -1 with error_r saying why the line is not an entry. */
int coi_policy_parse_line(const char *line, const char **entry_r,
			  const char **error_r);

/* Read a policy file's text from input (a blocking stream; its max buffer
   size limits the line length, and a last line without LF counts too),
   one line at a time, into entries, whose strings are allocated from pool.
   Fails when the text has more than max_entries distinct entries or more
   than max_size bytes. Returns 0, or -1 with error_r naming the stream (the
   file's path) and the first bad line; entries may then hold a part. */
int coi_policy_parse_stream(struct istream *input, pool_t pool,
			    HASH_TABLE_TYPE(coi_policy_entries) entries,
			    unsigned int max_entries, uoff_t max_size,
			    const char **error_r);

/* Check the normalized senders (NULLs skipped) against the policy's file
   and dict (either may be ""). base_dir is Dovecot's, for proxy dicts.
   Returns 1 with the matching entry, 0 if none matches, or -1 with error_r
   if the policy cannot be read: the caller must then not deliver
   (tempfail), since the policy is unknown. The error is already logged to
   event: as an error once per change of the file (and for each dict
   failure), at debug level while the same file stays broken. */
int coi_policy_check(struct event *event,
		     const struct coi_policy_settings *set,
		     const char *base_dir, const char *const *senders,
		     unsigned int count, const char **entry_r,
		     const char **error_r);

/* Free the process-wide caches. */
void coi_policy_deinit(void);

#endif
