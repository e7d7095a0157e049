/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The coi_* settings as the plugin {} block or a userdb gives them: the
   input is "name=value" lines. Then the mailbox names they hold are
   resolved against a user's namespaces ("INBOX." and "Public."). */

#include "lib.h"
#include "array.h"
#include "mail-user.h"
#include "mail-namespace.h"
#include "coi-settings.h"
#include "coi-user.h"
#include "fuzz-coi-common.h"

FUZZ_COI_WITH_STORAGE

static void check_root(const char *setting)
{
	struct mail_namespace *ns;
	const char *vname, *error;
	char sep;

	/* the name check alone, with either separator */
	for (sep = '.'; sep != '\0'; sep = sep == '.' ? '/' : '\0') {
		if (coi_mailbox_root_verify(setting, sep, &error) == 0) {
			FUZZ_CHECK(setting[0] != '\0' && setting[0] != sep);
			FUZZ_CHECK(strpbrk(setting, "*%") == NULL);
			FUZZ_CHECK(setting[strlen(setting) - 1] != sep);
		}
	}
	if (coi_mailbox_root_resolve(fuzz_coi_user()->namespaces, setting,
				     &ns, &vname, &error) == 0) {
		FUZZ_CHECK(ns->type == MAIL_NAMESPACE_TYPE_PRIVATE);
		FUZZ_CHECK(strncmp(vname, ns->prefix, ns->prefix_len) == 0);
		FUZZ_CHECK(coi_mailbox_root_verify(vname + ns->prefix_len,
			mail_namespace_get_sep(ns), &error) == 0);
	}
}

static void free_str(const char *str)
{
	char *mem = (char *)str;

	i_free(mem);
}

static void free_strings(struct coi_settings *set)
{
	free_str(set->mailbox_root);
	free_str(set->blocked_mailbox);
	free_str(set->policy.path);
	free_str(set->policy.dict_uri);
	free_str(set->state_dict);
}

FUZZ_BEGIN_DATA(const unsigned char *data, size_t size)
{
	struct mail_user_settings user_set;
	struct mail_user user;
	struct coi_settings set;
	const char *const *lines, *p, *key, *value, *error;
	char *text = fuzz_coi_strdup(data, size);

	/* coi_settings_parse() reads only the pool and the plugin settings;
	   the strings it copies get memory of their own (see free_strings) */
	i_zero(&user_set);
	i_zero(&user);
	user.pool = system_pool;
	user.set = &user_set;
	t_array_init(&user_set.plugin_envs, 16);
	for (lines = t_strsplit(text, "\n"); *lines != NULL; lines++) {
		if ((p = strchr(*lines, '=')) == NULL)
			continue;
		key = t_strdup_until(*lines, p);
		value = p + 1;
		array_push_back(&user_set.plugin_envs, &key);
		array_push_back(&user_set.plugin_envs, &value);
	}
	i_zero(&set);
	if (coi_settings_parse(&user, &set, &error) < 0)
		FUZZ_CHECK(str_begins(error, "Invalid coi_"));
	else {
		FUZZ_CHECK(set.mailbox_root != NULL &&
			   set.blocked_mailbox != NULL);
		FUZZ_CHECK(set.blocked_max <= COI_BLOCKED_MAX_MAX);
		FUZZ_CHECK(set.thread_index_size <= COI_THREAD_INDEX_SIZE_MAX);
		(void)coi_policy_action_to_str(set.policy.action);
		check_root(set.mailbox_root);
		check_root(set.blocked_mailbox);
	}
	free_strings(&set);
	i_free(text);
}
FUZZ_END
