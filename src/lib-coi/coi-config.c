/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "istream.h"
#include "str-sanitize.h"
#include "mail-storage-private.h"
#include "mail-namespace.h"
#include "coi-common.h"
#include "coi-user.h"
#include "coi-storage.h"
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
coi_attr_value_get(struct mailbox_transaction_context *t, const char *name,
		   const struct mail_attribute_value *value,
		   const char **str_r)
{
	uoff_t size;

	if (value->value_stream != NULL &&
	    (i_stream_get_size(value->value_stream, TRUE, &size) <= 0 ||
	     size > COI_CONFIG_VALUE_MAX_LEN)) {
		mail_storage_set_error(t->box->storage, MAIL_ERROR_PARAMS,
			t_strdup_printf("invalid value for %s%s: too long",
					COI_METADATA_PRIVATE_CONFIG, name));
		return -1;
	}
	return mailbox_attribute_value_to_string(t->box->storage, value,
						 str_r);
}

static int
coi_attr_invalid(struct mailbox_transaction_context *t, const char *error)
{
	mail_storage_set_error(t->box->storage, MAIL_ERROR_PARAMS, error);
	return -1;
}

/* The set() of "enabled" and "message-filter": validate, and create the
   folders where the value needs them. */
static int
coi_attr_config_set(struct mailbox_transaction_context *t, const char *key,
		    const struct mail_attribute_value *value)
{
	const char *name = key + strlen(COI_ATTR_CONFIG_PREFIX);
	enum coi_message_filter filter;
	struct coi_user *cuser;
	const char *str, *shown, *error;
	bool enabled, need_folders;

	if ((cuser = coi_attr_get_user(t)) == NULL ||
	    coi_attr_value_get(t, name, value, &str) < 0)
		return -1;
	if (strcmp(name, COI_CONFIG_ENABLED) == 0) {
		if (coi_config_parse_enabled(str, &enabled, &error) < 0)
			return coi_attr_invalid(t, error);
		need_folders = enabled;
		shown = enabled ? "yes" : "";
	} else {
		i_assert(strcmp(name, COI_CONFIG_MESSAGE_FILTER) == 0);
		if (coi_config_parse_message_filter(str, &filter, &error) < 0)
			return coi_attr_invalid(t, error);
		need_folders = filter != COI_MESSAGE_FILTER_NONE;
		shown = coi_message_filter_to_str(filter);
	}
	/* The spec wants the folders in place before the tagged OK, and
	   filtering needs Chats. */
	if (need_folders &&
	    coi_storage_folders_ensure(cuser, t->box->storage) < 0)
		return -1;
	e_debug(event_create_passthrough(cuser->event)->
		set_name("coi_config_changed")->
		add_str("key", name)->add_str("value", shown)->event(),
		"%s set to '%s'", name, shown);
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
		.rank = MAIL_ATTRIBUTE_INTERNAL_RANK_OVERRIDE,
		.flags = MAIL_ATTRIBUTE_INTERNAL_FLAG_VALIDATED,
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
		.rank = MAIL_ATTRIBUTE_INTERNAL_RANK_OVERRIDE,
		.flags = MAIL_ATTRIBUTE_INTERNAL_FLAG_VALIDATED,
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

struct mailbox *coi_config_inbox_alloc(struct coi_user *cuser)
{
	struct mail_namespace *ns =
		mail_namespace_find_inbox(cuser->user->namespaces);

	return mailbox_alloc(ns->list, "INBOX", MAILBOX_FLAG_IGNORE_ACLS |
			     MAILBOX_FLAG_ATTRIBUTE_SESSION);
}

int coi_config_read(struct coi_user *cuser, struct coi_config *config_r)
{
	struct mailbox *box = coi_config_inbox_alloc(cuser);
	int ret;

	ret = coi_config_read_box(cuser, box, config_r);
	mailbox_free(&box);
	return ret;
}

int coi_config_read_box(struct coi_user *cuser, struct mailbox *box,
			struct coi_config *config_r)
{
	struct mail_attribute_value enabled, filter;
	const char *error;
	int ret = 0;

	i_zero(config_r);
	if (mailbox_attribute_get(box, MAIL_ATTRIBUTE_TYPE_PRIVATE,
				  COI_ATTR_ENABLED, &enabled) < 0 ||
	    mailbox_attribute_get(box, MAIL_ATTRIBUTE_TYPE_PRIVATE,
				  COI_ATTR_MESSAGE_FILTER, &filter) < 0) {
		e_error(cuser->event, "Failed to read the COI configuration: %s",
			mailbox_get_last_internal_error(box, NULL));
		ret = -1;
	} else {
		/* Spec: anything but "yes" means disabled. A filter value
		   that got past validation (e.g. written straight into the
		   dict) is no reason to file mail anywhere unusual. */
		config_r->enabled = enabled.value != NULL &&
			strcmp(enabled.value, "yes") == 0;
		if (coi_config_parse_message_filter(filter.value,
				&config_r->filter, &error) < 0) {
			e_warning(cuser->event, "Ignoring stored %s", error);
			config_r->filter = COI_MESSAGE_FILTER_NONE;
		}
	}
	return ret;
}

int coi_attribute_set(struct mailbox *box, const char *key, const char *value)
{
	struct mailbox_transaction_context *t;
	struct mail_attribute_value attr_value;

	if (mailbox_open(box) < 0)
		return -1;
	i_zero(&attr_value);
	attr_value.value = value;
	t = mailbox_transaction_begin(box, MAILBOX_TRANSACTION_FLAG_EXTERNAL,
				      __func__);
	if (mailbox_attribute_set(t, MAIL_ATTRIBUTE_TYPE_PRIVATE, key,
				  &attr_value) < 0) {
		mailbox_transaction_rollback(&t);
		return -1;
	}
	return mailbox_transaction_commit(&t);
}

int coi_config_set_enabled(struct coi_user *cuser, bool enabled)
{
	struct mailbox *box = coi_config_inbox_alloc(cuser);
	int ret;

	ret = coi_attribute_set(box, COI_ATTR_ENABLED, enabled ? "yes" : NULL);
	if (ret < 0) {
		e_error(cuser->event, "Failed to %s COI: %s",
			enabled ? "enable" : "disable",
			mailbox_get_last_internal_error(box, NULL));
	}
	mailbox_free(&box);
	return ret;
}
