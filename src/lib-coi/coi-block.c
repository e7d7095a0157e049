/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "str-sanitize.h"
#include "unichar.h"
#include "mail-storage-private.h"
#include "coi-user.h"
#include "coi-address.h"
#include "coi-storage.h"
#include "coi-config.h"
#include "coi-block.h"

/* Our own iterations of the list must not call coi_attr_blocked_iter() (it
   would recurse, and Dovecot dedups extra keys in O(n^2)). */
static bool coi_block_iterating = FALSE;

void coi_block_lookup_keys(const char *const *addresses, unsigned int count,
			   ARRAY_TYPE(const_string) *keys)
{
	ARRAY_TYPE(const_string) entries;
	const char *entry, *key;
	unsigned int i;

	t_array_init(&entries, count * 3);
	for (i = 0; i < count; i++) {
		if (addresses[i] != NULL)
			coi_address_block_candidates(addresses[i], &entries);
	}
	array_foreach_elem(&entries, entry) {
		key = t_strconcat(COI_ATTR_BLOCKED_PREFIX, entry, NULL);
		array_push_back(keys, &key);
	}
}

int coi_block_lookup(struct coi_attrs *attrs, const char *const *addresses,
		     unsigned int count, const char **entry_r)
{
	ARRAY_TYPE(const_string) keys;
	const char *key, *value;
	int ret;

	*entry_r = NULL;
	t_array_init(&keys, 4);
	coi_block_lookup_keys(addresses, count, &keys);
	array_foreach_elem(&keys, key) {
		ret = coi_attrs_get(attrs, key, &value);
		if (ret < 0)
			return -1;
		if (ret > 0 && value != NULL && strcmp(value, "yes") == 0) {
			*entry_r = key + strlen(COI_ATTR_BLOCKED_PREFIX);
			return 1;
		}
	}
	return 0;
}

/*
 * METADATA
 */

static int
coi_block_error(struct mailbox_transaction_context *t, enum mail_error error,
		const char *key, const char *reason)
{
	mail_storage_set_error(t->box->storage, error,
		t_strdup_printf("invalid %s%s: %s",
			COI_METADATA_PRIVATE_BLOCKED"/",
			str_sanitize(key + strlen(COI_ATTR_BLOCKED_PREFIX), 80),
			reason));
	return -1;
}

/* Count the entries, stopping at limit. */
static int
coi_block_count(struct mailbox *box, unsigned int limit, unsigned int *count_r)
{
	struct mailbox_attribute_iter *iter;

	int ret;

	*count_r = 0;
	i_assert(!coi_block_iterating);
	coi_block_iterating = TRUE;
	iter = mailbox_attribute_iter_init(box, MAIL_ATTRIBUTE_TYPE_PRIVATE,
					   COI_ATTR_BLOCKED_PREFIX);
	while (*count_r < limit && mailbox_attribute_iter_next(iter) != NULL)
		*count_r += 1;
	ret = mailbox_attribute_iter_deinit(&iter);
	coi_block_iterating = FALSE;
	return ret;
}

static int
coi_attr_blocked_set(struct mailbox_transaction_context *t, const char *key,
		     const struct mail_attribute_value *value)
{
	struct coi_user *cuser =
		COI_USER_CONTEXT(mailbox_list_get_user(t->box->list));
	struct mail_attribute_value old;
	const char *str, *error;
	unsigned int count, *added;
	int ret;

	if (cuser == NULL) {
		mail_storage_set_error(t->box->storage, MAIL_ERROR_NOTPOSSIBLE,
				       "COI is not available for this user");
		return -1;
	}
	if (coi_block_entry_verify(key + strlen(COI_ATTR_BLOCKED_PREFIX),
				   &error) < 0)
		return coi_block_error(t, MAIL_ERROR_PARAMS, key, error);
	if (value->value_stream != NULL)
		return coi_block_error(t, MAIL_ERROR_PARAMS, key,
				       "value must be \"yes\"");
	if (mailbox_attribute_value_to_string(t->box->storage, value,
					      &str) < 0)
		return -1;
	if (str == NULL)
		return 0;
	if (strcmp(str, "yes") != 0) {
		return coi_block_error(t, MAIL_ERROR_PARAMS, key,
				       "value must be \"yes\"");
	}

	/* A new entry must fit under the limit. */
	ret = mailbox_attribute_get(t->box, MAIL_ATTRIBUTE_TYPE_PRIVATE,
				    key, &old);
	if (ret < 0)
		return -1;
	if (ret > 0)
		return 0;
	if (coi_block_count(t->box, cuser->set.blocked_max, &count) < 0)
		return -1;
	/* one SETMETADATA may add many, and the dict shows them only after
	   the commit */
	added = coi_storage_transaction_blocked_added(t);
	if (added != NULL)
		count += *added;
	if (count >= cuser->set.blocked_max) {
		mail_storage_set_error(t->box->storage, MAIL_ERROR_LIMIT,
			t_strdup_printf("The block list is full (%u entries)",
					cuser->set.blocked_max));
		return -1;
	}
	if (added != NULL)
		*added += 1;
	e_debug(event_create_passthrough(cuser->event)->
		set_name("coi_block_added")->event(),
		"Block list entry %s added",
		key + strlen(COI_ATTR_BLOCKED_PREFIX));
	return 0;
}

/* GETMETADATA lists the entries even with imap_metadata = no, where the
   dict cannot be iterated with the validated flag. */
static int
coi_attr_blocked_iter(struct mailbox *box, const char *key_prefix,
		      pool_t pool, ARRAY_TYPE(const_string) *keys)
{
	struct mailbox_attribute_iter *iter;
	struct mail_attribute_value value;
	const char *key;
	int ret;

	if (coi_block_iterating)
		return 0;
	if (*key_prefix != '\0') {
		/* one entry: entries have no children, so it is there ("")
		   or not */
		ret = mailbox_attribute_get(box, MAIL_ATTRIBUTE_TYPE_PRIVATE,
			t_strconcat(COI_ATTR_BLOCKED_PREFIX, key_prefix, NULL),
			&value);
		if (ret > 0) {
			key = "";
			array_push_back(keys, &key);
		}
		return ret < 0 ? -1 : 0;
	}
	coi_block_iterating = TRUE;
	iter = mailbox_attribute_iter_init(box, MAIL_ATTRIBUTE_TYPE_PRIVATE,
					   COI_ATTR_BLOCKED_PREFIX);
	while ((key = mailbox_attribute_iter_next(iter)) != NULL) {
		key = p_strdup(pool, key);
		array_push_back(keys, &key);
	}
	ret = mailbox_attribute_iter_deinit(&iter);
	coi_block_iterating = FALSE;
	return ret;
}

static const struct mailbox_attribute_internal coi_block_attributes[] = {
	{
		.type = MAIL_ATTRIBUTE_TYPE_PRIVATE,
		.key = COI_ATTR_BLOCKED_PREFIX,
		.rank = MAIL_ATTRIBUTE_INTERNAL_RANK_OVERRIDE,
		.flags = MAIL_ATTRIBUTE_INTERNAL_FLAG_VALIDATED |
			MAIL_ATTRIBUTE_INTERNAL_FLAG_CHILDREN,
		.set = coi_attr_blocked_set,
		.iter = coi_attr_blocked_iter,
	},
};

void coi_block_attributes_register(void)
{
	mailbox_attribute_register_internals(coi_block_attributes,
		N_ELEMENTS(coi_block_attributes));
}

void coi_block_attributes_unregister(void)
{
	mailbox_attribute_unregister_internals(coi_block_attributes,
		N_ELEMENTS(coi_block_attributes));
}
