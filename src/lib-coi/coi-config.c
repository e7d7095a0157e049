/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "str-sanitize.h"
#include "mail-storage-private.h"
#include "coi-common.h"
#include "coi-user.h"
#include "coi-state.h"
#include "coi-folders.h"
#include "coi-config.h"

/* Validated attributes bypass the attribute quota, so a value longer than
   any valid one is refused before it is read. */
#define COI_CONFIG_VALUE_MAX_LEN 64

static const char *const coi_message_filter_names[] = {
	[COI_MESSAGE_FILTER_NONE] = "none",
	[COI_MESSAGE_FILTER_ACTIVE] = "active",
	[COI_MESSAGE_FILTER_SEEN] = "seen",
};

static const char *
coi_config_invalid_value(const char *name, const char *value)
{
	return t_strdup_printf("invalid value for %s%s: \"%s\"",
			       COI_METADATA_PRIVATE_CONFIG, name,
			       str_sanitize(value, COI_CONFIG_VALUE_MAX_LEN));
}

int coi_config_parse_enabled(const char *value, bool *enabled_r,
			     const char **error_r)
{
	if (value == NULL || strcmp(value, "yes") == 0) {
		*enabled_r = value != NULL;
		return 0;
	}
	*error_r = coi_config_invalid_value(COI_CONFIG_ENABLED, value);
	return -1;
}

int coi_config_parse_message_filter(const char *value,
				    enum coi_message_filter *filter_r,
				    const char **error_r)
{
	unsigned int i;

	if (value == NULL) {
		*filter_r = COI_MESSAGE_FILTER_NONE;
		return 0;
	}
	for (i = 0; i < N_ELEMENTS(coi_message_filter_names); i++) {
		if (strcmp(value, coi_message_filter_names[i]) == 0) {
			*filter_r = (enum coi_message_filter)i;
			return 0;
		}
	}
	*error_r = coi_config_invalid_value(COI_CONFIG_MESSAGE_FILTER, value);
	return -1;
}

const char *coi_message_filter_to_str(enum coi_message_filter filter)
{
	i_assert(filter < N_ELEMENTS(coi_message_filter_names));
	return coi_message_filter_names[filter];
}

/*
 * Internal attributes
 */

static struct coi_user *
coi_attr_get_user(struct mailbox_transaction_context *t)
{
	struct coi_user *cuser =
		COI_USER_CONTEXT(mailbox_list_get_user(t->box->list));

	/* Registration is per process, but COI is per user: a user without
	   the plugin must not get half of it. */
	if (cuser == NULL) {
		mail_storage_set_error(t->box->storage, MAIL_ERROR_NOTPOSSIBLE,
				       "COI is not available for this user");
	}
	return cuser;
}

static int
coi_attr_invalid(struct mailbox_transaction_context *t, const char *error)
{
	mail_storage_set_error(t->box->storage, MAIL_ERROR_PARAMS, error);
	return -1;
}

static void
coi_config_changed(struct coi_user *cuser, const char *name, const char *shown)
{
	e_debug(event_create_passthrough(cuser->event)->
		set_name("coi_config_changed")->
		add_str("key", name)->add_str("value", shown)->event(),
		"%s set to '%s'", name, shown);
}

/* The get() of "enabled" and "message-filter": from the state layer. */
static int
coi_attr_config_get(struct mailbox *box, const char *key,
		    struct mail_attribute_value *value_r)
{
	return coi_state_attribute_get(box, COI_STATE_CONFIG,
				       key + strlen(COI_ATTR_CONFIG_PREFIX),
				       value_r);
}

/* Validate a value of "enabled" or "message-filter" (NULL: NIL): what to
   store (NULL: remove), what the event shows, and whether the folders
   must exist. Returns 0, or -1 with an error_r fit for the client. */
static int
coi_config_value_check(const char *name, const char *value,
		       const char **stored_r, const char **shown_r,
		       bool *need_folders_r, const char **error_r)
{
	enum coi_message_filter filter;
	bool enabled;

	if (strcmp(name, COI_CONFIG_ENABLED) == 0) {
		if (coi_config_parse_enabled(value, &enabled, error_r) < 0)
			return -1;
		*need_folders_r = enabled;
		*shown_r = enabled ? "yes" : "";
		*stored_r = enabled ? "yes" : NULL;
		return 0;
	}
	i_assert(strcmp(name, COI_CONFIG_MESSAGE_FILTER) == 0);
	if (coi_config_parse_message_filter(value, &filter, error_r) < 0)
		return -1;
	/* The spec wants the folders in place before the tagged OK, and
	   filtering needs Chats. */
	*need_folders_r = filter != COI_MESSAGE_FILTER_NONE;
	*shown_r = coi_message_filter_to_str(filter);
	*stored_r = value;
	return 0;
}

/* The set() of "enabled" and "message-filter": validate, create the
   folders where the value needs them, and store the value with the
   transaction's other changes. */
static int
coi_attr_config_set(struct mailbox_transaction_context *t, const char *key,
		    const struct mail_attribute_value *value)
{
	const char *name = key + strlen(COI_ATTR_CONFIG_PREFIX);
	struct coi_user *cuser;
	const char *str, *shown, *stored, *error;
	bool need_folders;

	if ((cuser = coi_attr_get_user(t)) == NULL ||
	    coi_state_value_read(t->box->storage, value,
				 COI_CONFIG_VALUE_MAX_LEN,
				 t_strconcat(COI_METADATA_PRIVATE_CONFIG, name,
					     NULL), &str) < 0)
		return -1;
	if (coi_config_value_check(name, str, &stored, &shown, &need_folders,
				   &error) < 0)
		return coi_attr_invalid(t, error);
	if (need_folders && coi_folders_ensure(cuser, t->box->storage) < 0)
		return -1;
	coi_state_set(coi_state_mailbox_transaction(t), COI_STATE_CONFIG,
		      name, stored);
	coi_config_changed(cuser, name, shown);
	return 0;
}

static int
coi_attr_mailbox_root_get(struct mailbox *box, const char *key ATTR_UNUSED,
			  struct mail_attribute_value *value_r)
{
	struct coi_user *cuser =
		COI_USER_CONTEXT(mailbox_list_get_user(box->list));

	if (cuser == NULL)
		return 0;
	value_r->value = cuser->root;
	return 1;
}

static int
coi_attr_mailbox_root_set(struct mailbox_transaction_context *t,
			  const char *key ATTR_UNUSED,
			  const struct mail_attribute_value *value ATTR_UNUSED)
{
	/* The admin's coi_mailbox_root setting is the only source. */
	mail_storage_set_error(t->box->storage, MAIL_ERROR_PARAMS,
		"unable to set "COI_METADATA_PRIVATE_CONFIG
		COI_CONFIG_MAILBOX_ROOT);
	return -1;
}

static const struct mailbox_attribute_internal coi_config_attributes[] = {
	{
		.type = MAIL_ATTRIBUTE_TYPE_PRIVATE,
		.key = COI_ATTR_ENABLED,
		.rank = MAIL_ATTRIBUTE_INTERNAL_RANK_AUTHORITY,
		.flags = MAIL_ATTRIBUTE_INTERNAL_FLAG_VALIDATED,
		.get = coi_attr_config_get,
		.set = coi_attr_config_set,
	},
	{
		.type = MAIL_ATTRIBUTE_TYPE_PRIVATE,
		.key = COI_ATTR_MAILBOX_ROOT,
		.rank = MAIL_ATTRIBUTE_INTERNAL_RANK_AUTHORITY,
		.flags = MAIL_ATTRIBUTE_INTERNAL_FLAG_VALIDATED,
		.get = coi_attr_mailbox_root_get,
		.set = coi_attr_mailbox_root_set,
	},
	{
		.type = MAIL_ATTRIBUTE_TYPE_PRIVATE,
		.key = COI_ATTR_MESSAGE_FILTER,
		.rank = MAIL_ATTRIBUTE_INTERNAL_RANK_AUTHORITY,
		.flags = MAIL_ATTRIBUTE_INTERNAL_FLAG_VALIDATED,
		.get = coi_attr_config_get,
		.set = coi_attr_config_set,
	},
};

void coi_config_attributes_register(void)
{
	mailbox_attribute_register_internals(coi_config_attributes,
		N_ELEMENTS(coi_config_attributes));
}

void coi_config_attributes_unregister(void)
{
	mailbox_attribute_unregister_internals(coi_config_attributes,
		N_ELEMENTS(coi_config_attributes));
}

/*
 * Reading and writing
 */

void coi_config_read_want(struct coi_state_read *read)
{
	coi_state_read_want(read, COI_STATE_CONFIG, COI_CONFIG_ENABLED);
	coi_state_read_want(read, COI_STATE_CONFIG, COI_CONFIG_MESSAGE_FILTER);
}

int coi_config_read_from(struct coi_user *cuser, struct coi_state_read *read,
			 struct coi_config *config_r, const char **error_r)
{
	const char *enabled, *filter, *error;

	i_zero(config_r);
	if (coi_state_read_get(read, COI_STATE_CONFIG, COI_CONFIG_ENABLED,
			       &enabled, error_r) < 0 ||
	    coi_state_read_get(read, COI_STATE_CONFIG,
			       COI_CONFIG_MESSAGE_FILTER, &filter,
			       error_r) < 0)
		return -1;
	/* Spec: anything but "yes" means disabled. A filter value that got
	   past validation (e.g. written straight into the dict) is no
	   reason to file mail anywhere unusual. */
	config_r->enabled = enabled != NULL && strcmp(enabled, "yes") == 0;
	if (coi_config_parse_message_filter(filter, &config_r->filter,
					    &error) < 0) {
		e_warning(cuser->event, "Ignoring stored %s", error);
		config_r->filter = COI_MESSAGE_FILTER_NONE;
	}
	return 0;
}

int coi_config_read(struct coi_user *cuser, struct coi_config *config_r,
		    const char **error_r)
{
	struct coi_state_read *read = coi_state_read_begin(cuser);
	int ret;

	coi_config_read_want(read);
	coi_state_read_fetch(read);
	ret = coi_config_read_from(cuser, read, config_r, error_r);
	if (ret < 0)
		*error_r = t_strdup(*error_r);
	coi_state_read_end(&read);
	return ret;
}

int coi_config_set(struct coi_user *cuser, const char *name,
		   const char *value, struct mail_storage *error_storage)
{
	struct coi_state_transaction *trans;
	const char *stored, *shown, *error;
	bool need_folders;

	if (coi_config_value_check(name, value, &stored, &shown, &need_folders,
				   &error) < 0) {
		mail_storage_set_error(error_storage, MAIL_ERROR_PARAMS, error);
		return -1;
	}
	/* as a client's SETMETADATA would: enabling creates the folders */
	if (need_folders && coi_folders_ensure(cuser, error_storage) < 0)
		return -1;
	trans = coi_state_transaction_begin(cuser);
	coi_state_set(trans, COI_STATE_CONFIG, name, stored);
	if (coi_state_transaction_commit(&trans, &error) < 0) {
		mail_storage_set_critical(error_storage, "Failed to set %s: %s",
					  name, error);
		return -1;
	}
	coi_config_changed(cuser, name, shown);
	return 0;
}
