/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "str-sanitize.h"
#include "strnum.h"
#include "unichar.h"
#include "settings-parser.h"
#include "mail-user.h"
#include "coi-common.h"
#include "coi-settings.h"

#include <stddef.h>

/* One row per setting. A parser gets the raw string (never NULL: the default
   is substituted first) and stores the parsed value at dest. */
struct coi_setting_def {
	const char *name;
	const char *default_value;
	size_t offset;
	int (*parse)(pool_t pool, const char *value, void *dest,
		     const char **error_r);
};

static const char *const coi_policy_action_names[] = {
	[COI_POLICY_ACTION_REJECT] = "reject",
	[COI_POLICY_ACTION_DISCARD] = "discard",
	[COI_POLICY_ACTION_FOLDER] = "folder",
};

int coi_policy_action_parse(const char *value,
			    enum coi_policy_action *action_r)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(coi_policy_action_names); i++) {
		if (strcmp(value, coi_policy_action_names[i]) == 0) {
			*action_r = (enum coi_policy_action)i;
			return 0;
		}
	}
	return -1;
}

const char *coi_policy_action_to_str(enum coi_policy_action action)
{
	i_assert(action < N_ELEMENTS(coi_policy_action_names));
	return coi_policy_action_names[action];
}

static int
coi_setting_parse_string(pool_t pool, const char *value, void *dest,
			 const char **error_r ATTR_UNUSED)
{
	*(const char **)dest = p_strdup(pool, value);
	return 0;
}

static int
coi_setting_parse_count(const char *value, unsigned int max, void *dest,
			const char **error_r)
{
	unsigned int *count_r = dest;

	if (str_to_uint(value, count_r) < 0) {
		*error_r = "Not a number";
		return -1;
	}
	if (*count_r > max) {
		*error_r = t_strdup_printf("Larger than %u", max);
		return -1;
	}
	return 0;
}

static int
coi_setting_parse_thread_index_size(pool_t pool ATTR_UNUSED,
				    const char *value, void *dest,
				    const char **error_r)
{
	return coi_setting_parse_count(value, COI_THREAD_INDEX_SIZE_MAX, dest,
				       error_r);
}

static int
coi_setting_parse_blocked_max(pool_t pool ATTR_UNUSED, const char *value,
			      void *dest, const char **error_r)
{
	return coi_setting_parse_count(value, COI_BLOCKED_MAX_MAX, dest,
				       error_r);
}

static int
coi_setting_parse_policy_action(pool_t pool ATTR_UNUSED, const char *value,
				void *dest, const char **error_r)
{
	if (coi_policy_action_parse(value, dest) < 0) {
		*error_r = "Not one of reject, discard, folder";
		return -1;
	}
	return 0;
}

static int
coi_setting_parse_time(pool_t pool ATTR_UNUSED, const char *value,
		       void *dest, const char **error_r)
{
	return settings_get_time(value, dest, error_r);
}

/* Dicts COI can keep its state in: it needs lookups and one-level
   iteration. Dovecot 2.3.19's fs dict loops for ever when iterated
   (fs_dict_iterate() starts over at the end), memcached and redis cannot
   iterate, ldap cannot write; SQL backends are reached through proxy. */
static const char *const coi_state_dict_drivers[] = { "file", "proxy" };

int coi_state_dict_verify(const char *uri, const char **error_r)
{
	const char *p = strchr(uri, ':');
	const char *driver = p == NULL ? uri : t_strdup_until(uri, p);
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(coi_state_dict_drivers); i++) {
		if (strcmp(driver, coi_state_dict_drivers[i]) == 0)
			return 0;
	}
	*error_r = t_strdup_printf("The %s dict cannot hold COI's state "
		"(it needs lookups and iteration): use file: or proxy: "
		"(a SQL dict), see docs/sql-dict.md", driver);
	return -1;
}

static int
coi_setting_parse_state_dict(pool_t pool, const char *value, void *dest,
			     const char **error_r)
{
	if (*value != '\0' && coi_state_dict_verify(value, error_r) < 0)
		return -1;
	return coi_setting_parse_string(pool, value, dest, error_r);
}

static int
coi_setting_parse_state_failure(pool_t pool ATTR_UNUSED, const char *value,
				void *dest, const char **error_r)
{
	bool *deliver_r = dest;

	if (strcmp(value, "tempfail") == 0)
		*deliver_r = FALSE;
	else if (strcmp(value, "deliver") == 0)
		*deliver_r = TRUE;
	else {
		*error_r = "Not one of tempfail, deliver";
		return -1;
	}
	return 0;
}

static int
coi_setting_parse_bool(pool_t pool ATTR_UNUSED, const char *value,
		       void *dest, const char **error_r)
{
	bool *bool_r = dest;

	/* yes or no, as in Dovecot's own settings' examples */
	if (strcasecmp(value, "yes") == 0)
		*bool_r = TRUE;
	else if (strcasecmp(value, "no") == 0)
		*bool_r = FALSE;
	else {
		*error_r = "Not one of yes, no";
		return -1;
	}
	return 0;
}

static const struct coi_setting_def coi_setting_defs[] = {
	/* Checked against the user's namespaces once they exist, see
	   coi_user_root_init(). */
	{ COI_SETTING_MAILBOX_ROOT, COI_MAILBOX_ROOT_DEFAULT,
	  offsetof(struct coi_settings, mailbox_root),
	  coi_setting_parse_string },
	/* Resolved like the root, see coi_user_root_init(). */
	{ COI_SETTING_BLOCKED_MAILBOX, "Blocked",
	  offsetof(struct coi_settings, blocked_mailbox),
	  coi_setting_parse_string },
	{ COI_SETTING_BLOCKED_MAX, "10000",
	  offsetof(struct coi_settings, blocked_max),
	  coi_setting_parse_blocked_max },
	{ COI_SETTING_THREAD_INDEX_SIZE, "1000",
	  offsetof(struct coi_settings, thread_index_size),
	  coi_setting_parse_thread_index_size },
	{ COI_SETTING_THREAD_INDEX_MAX_AGE, "90d",
	  offsetof(struct coi_settings, thread_index_max_age_secs),
	  coi_setting_parse_time },
	{ COI_SETTING_STATE_DICT, "",
	  offsetof(struct coi_settings, state_dict),
	  coi_setting_parse_state_dict },
	{ COI_SETTING_STATE_FAILURE, "tempfail",
	  offsetof(struct coi_settings, state_failure_deliver),
	  coi_setting_parse_state_failure },
	{ COI_SETTING_STATE_SNAPSHOT, "yes",
	  offsetof(struct coi_settings, state_snapshot),
	  coi_setting_parse_bool },
};

/* Offsets into struct coi_policy_settings: the per-user parse and lmtp's
   RCPT stage share these rows, so both see the same defaults and errors. */
static const struct coi_setting_def coi_policy_setting_defs[] = {
	{ COI_SETTING_BLOCK_POLICY, "",
	  offsetof(struct coi_policy_settings, path),
	  coi_setting_parse_string },
	{ COI_SETTING_BLOCK_POLICY_DICT, "",
	  offsetof(struct coi_policy_settings, dict_uri),
	  coi_setting_parse_string },
	{ COI_SETTING_BLOCK_POLICY_ACTION, "reject",
	  offsetof(struct coi_policy_settings, action),
	  coi_setting_parse_policy_action },
};

static int
coi_settings_parse_defs(const struct coi_setting_def *defs, unsigned int count,
			const struct mail_user_settings *user_set, pool_t pool,
			void *dest, const char **error_r)
{
	const char *value, *error;
	unsigned int i;

	for (i = 0; i < count; i++) {
		value = mail_user_set_plugin_getenv(user_set, defs[i].name);
		if (value == NULL)
			value = defs[i].default_value;
		if (defs[i].parse(pool, value, PTR_OFFSET(dest, defs[i].offset),
				  &error) < 0) {
			*error_r = t_strdup_printf("Invalid %s '%s': %s",
				defs[i].name, str_sanitize(value, 128), error);
			return -1;
		}
	}
	return 0;
}

int coi_settings_parse(struct mail_user *user, struct coi_settings *set_r,
		       const char **error_r)
{
	i_zero(set_r);
	if (coi_settings_parse_defs(coi_setting_defs,
				    N_ELEMENTS(coi_setting_defs), user->set,
				    user->pool, set_r, error_r) < 0)
		return -1;
	return coi_settings_parse_defs(coi_policy_setting_defs,
				       N_ELEMENTS(coi_policy_setting_defs),
				       user->set, user->pool, &set_r->policy,
				       error_r);
}

int coi_policy_settings_parse(const struct mail_user_settings *set,
			      pool_t pool, struct coi_policy_settings *set_r,
			      const char **error_r)
{
	i_zero(set_r);
	return coi_settings_parse_defs(coi_policy_setting_defs,
				       N_ELEMENTS(coi_policy_setting_defs),
				       set, pool, set_r, error_r);
}

int coi_mailbox_root_verify(const char *name, char sep, const char **error_r)
{
	const char *p;

	if (name[0] == '\0') {
		*error_r = "Mailbox root is empty";
		return -1;
	}
	if (name[0] == sep) {
		*error_r = t_strdup_printf(
			"Mailbox root begins with the hierarchy separator '%c'",
			sep);
		return -1;
	}
	for (p = name; *p != '\0'; p++) {
		if (*p == '*' || *p == '%') {
			*error_r = t_strdup_printf(
				"Mailbox root contains the wildcard '%c'", *p);
			return -1;
		}
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*error_r = "Mailbox root contains control characters";
			return -1;
		}
		if (*p == sep && p[1] == sep) {
			*error_r = t_strdup_printf(
				"Mailbox root contains a doubled hierarchy "
				"separator '%c%c'", sep, sep);
			return -1;
		}
	}
	if (p[-1] == sep) {
		*error_r = t_strdup_printf(
			"Mailbox root ends with the hierarchy separator '%c'",
			sep);
		return -1;
	}
	if (!uni_utf8_str_is_valid(name)) {
		*error_r = "Mailbox root is not valid UTF-8";
		return -1;
	}
	return 0;
}
