/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "istream.h"
#include "guid.h"
#include "dict.h"
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
	struct coi_attrs attrs;
	int ret;

	coi_attrs_init(&attrs, box);
	ret = coi_config_read_attrs(cuser, &attrs, config_r);
	coi_attrs_deinit(&attrs);
	mailbox_free(&box);
	return ret;
}

int coi_config_read_attrs(struct coi_user *cuser, struct coi_attrs *attrs,
			  struct coi_config *config_r)
{
	const char *enabled, *filter, *error;
	int ret = 0;

	i_zero(config_r);
	if (coi_attrs_get(attrs, COI_ATTR_ENABLED, &enabled) < 0 ||
	    coi_attrs_get(attrs, COI_ATTR_MESSAGE_FILTER, &filter) < 0) {
		e_error(cuser->event, "Failed to read the COI configuration: %s",
			mailbox_get_last_internal_error(attrs->box, NULL));
		ret = -1;
	} else {
		/* Spec: anything but "yes" means disabled. A filter value
		   that got past validation (e.g. written straight into the
		   dict) is no reason to file mail anywhere unusual. */
		config_r->enabled = enabled != NULL &&
			strcmp(enabled, "yes") == 0;
		if (coi_config_parse_message_filter(filter,
				&config_r->filter, &error) < 0) {
			e_warning(cuser->event, "Ignoring stored %s", error);
			config_r->filter = COI_MESSAGE_FILTER_NONE;
		}
	}
	return ret;
}

struct coi_attrs_value {
	const char *key;
	const char *value;
	const char *error;
	int ret;
};

struct coi_attrs_prefetch_ctx {
	struct coi_attrs *attrs;
	unsigned int idx;
};

void coi_attrs_init(struct coi_attrs *attrs, struct mailbox *box)
{
	i_zero(attrs);
	attrs->box = box;
	attrs->pool = pool_alloconly_create("coi attributes", 512);
	p_array_init(&attrs->prefetched, attrs->pool, 8);
}

void coi_attrs_deinit(struct coi_attrs *attrs)
{
	pool_unref(&attrs->pool);
}

void coi_attrs_forget(struct coi_attrs *attrs)
{
	array_clear(&attrs->prefetched);
}

static struct coi_attrs_value *
coi_attrs_prefetched(struct coi_attrs *attrs, const char *key)
{
	struct coi_attrs_value *value;

	array_foreach_modifiable(&attrs->prefetched, value) {
		if (strcmp(value->key, key) == 0)
			return value;
	}
	return NULL;
}

static void
coi_attrs_prefetch_callback(const struct dict_lookup_result *result,
			    struct coi_attrs_prefetch_ctx *ctx)
{
	struct coi_attrs_value *value =
		array_idx_modifiable(&ctx->attrs->prefetched, ctx->idx);

	value->ret = result->ret;
	if (result->ret > 0)
		value->value = p_strdup(ctx->attrs->pool, result->value);
	else if (result->ret < 0)
		value->error = p_strdup(ctx->attrs->pool, result->error);
}

/* The user's attribute dict, opened the way lib-storage opens it on its
   first attribute access (index_storage_get_user_dict()), into the same
   place: a dict round trip made only to get it opened would cost a round
   trip, and a refresh of the mailbox list index after it. */
static struct dict *coi_attrs_user_dict(struct coi_attrs *attrs)
{
	struct mail_user *user = mailbox_list_get_user(attrs->box->list);
	struct mail_storage *storage =
		mail_namespace_get_default_storage(
			mailbox_get_namespace(attrs->box));
	struct dict_settings set;
	const char *error;

	if (user->_attr_dict != NULL)
		return user->_attr_dict;
	if (user->attr_dict_failed) {
		mail_storage_set_internal_error(attrs->box->storage);
		return NULL;
	}
	if (*storage->set->mail_attribute_dict == '\0') {
		mail_storage_set_error(attrs->box->storage,
				       MAIL_ERROR_NOTPOSSIBLE,
				       "Mailbox attributes not enabled");
		return NULL;
	}
	i_zero(&set);
	set.base_dir = user->set->base_dir;
	set.event_parent = user->event;
	if (dict_init(storage->set->mail_attribute_dict, &set,
		      &user->_attr_dict, &error) < 0) {
		mailbox_set_critical(attrs->box,
			"mail_attribute_dict: dict_init(%s) failed: %s",
			storage->set->mail_attribute_dict, error);
		user->attr_dict_failed = TRUE;
		return NULL;
	}
	return user->_attr_dict;
}

/* Returns the dict with attrs->prefix set, or NULL with the error set on
   the box. */
static struct dict *coi_attrs_dict(struct coi_attrs *attrs)
{
	struct mailbox_metadata metadata;
	struct dict *dict;

	if (attrs->prefix != NULL)
		return mailbox_list_get_user(attrs->box->list)->_attr_dict;
	/* the GUID first: after a dict round trip, resolving it would
	   refresh the mailbox list index once more */
	if (mailbox_get_metadata(attrs->box, MAILBOX_METADATA_GUID,
				 &metadata) < 0 ||
	    (dict = coi_attrs_user_dict(attrs)) == NULL)
		return NULL;
	/* the key layout of index_storage_attribute_get() */
	attrs->prefix = p_strconcat(attrs->pool, DICT_PATH_PRIVATE,
		guid_128_to_string(metadata.guid), "/", NULL);
	return dict;
}

void coi_attrs_prefetch(struct coi_attrs *attrs,
			const ARRAY_TYPE(const_string) *keys)
{
	struct mail_user *user = mailbox_list_get_user(attrs->box->list);
	struct coi_attrs_prefetch_ctx *ctx;
	struct coi_attrs_value *value;
	struct dict *dict;
	const char *key;

	/* a failure here comes back from coi_attrs_get() */
	if ((dict = coi_attrs_dict(attrs)) == NULL)
		return;
	array_foreach_elem(keys, key) {
		if (coi_attrs_prefetched(attrs, key) != NULL)
			continue;
		value = array_append_space(&attrs->prefetched);
		value->key = p_strdup(attrs->pool, key);
		value->ret = -1;
		value->error = "lookup not finished";
		ctx = p_new(attrs->pool, struct coi_attrs_prefetch_ctx, 1);
		ctx->attrs = attrs;
		ctx->idx = array_count(&attrs->prefetched) - 1;
		dict_lookup_async(dict, mail_user_get_dict_op_settings(user),
				  t_strconcat(attrs->prefix, key, NULL),
				  coi_attrs_prefetch_callback, ctx);
	}
	dict_wait(dict);
}

int coi_attrs_get(struct coi_attrs *attrs, const char *key,
		  const char **value_r)
{
	struct mail_user *user = mailbox_list_get_user(attrs->box->list);
	struct coi_attrs_value *prefetched;
	struct dict *dict;
	const char *error = NULL;
	int ret;

	*value_r = NULL;
	if ((prefetched = coi_attrs_prefetched(attrs, key)) != NULL) {
		*value_r = prefetched->value;
		ret = prefetched->ret;
		error = prefetched->error;
	} else if ((dict = coi_attrs_dict(attrs)) == NULL) {
		return -1;
	} else {
		ret = dict_lookup(dict, mail_user_get_dict_op_settings(user),
				  pool_datastack_create(),
				  t_strconcat(attrs->prefix, key, NULL),
				  value_r, &error);
	}
	if (ret < 0) {
		mailbox_set_critical(attrs->box,
			"Failed to get attribute %s: %s", key, error);
	}
	return ret;
}

int coi_attrs_set_internal(struct coi_attrs *attrs, const char *key,
			   const char *value,
			   dict_transaction_commit_callback_t *callback,
			   void *context)
{
	struct mail_user *user = mailbox_list_get_user(attrs->box->list);
	struct dict_transaction_context *t;
	struct dict *dict;

	if ((dict = coi_attrs_dict(attrs)) == NULL)
		return -1;
	t = dict_transaction_begin(dict,
				   mail_user_get_dict_op_settings(user));
	if (value != NULL)
		dict_set(t, t_strconcat(attrs->prefix, key, NULL), value);
	else
		dict_unset(t, t_strconcat(attrs->prefix, key, NULL));
	/* callback is already of the untyped kind: no macro type check */
	(dict_transaction_commit_async)(&t, callback, context);
	return 0;
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
