/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "str-sanitize.h"
#include "unichar.h"
#include "mail-storage-private.h"
#include "coi-user.h"
#include "coi-address.h"
#include "coi-state.h"
#include "coi-block.h"

/* Longer than "yes": no valid value. */
#define COI_BLOCK_VALUE_MAX_LEN 16

static void
coi_block_candidates(const char *const *senders, unsigned int count,
		     ARRAY_TYPE(const_string) *entries)
{
	unsigned int i;

	for (i = 0; i < count; i++) {
		if (senders[i] != NULL)
			coi_address_block_candidates(senders[i], entries);
	}
}

void coi_block_read_want(struct coi_state_read *read,
			 const char *const *senders, unsigned int count)
{
	ARRAY_TYPE(const_string) entries;
	const char *entry;

	t_array_init(&entries, count * 3);
	coi_block_candidates(senders, count, &entries);
	array_foreach_elem(&entries, entry)
		coi_state_read_want(read, COI_STATE_BLOCKED, entry);
}

int coi_block_lookup(struct coi_state_read *read, const char *const *senders,
		     unsigned int count, const char **entry_r,
		     const char **error_r)
{
	ARRAY_TYPE(const_string) entries;
	const char *entry, *value;
	int ret;

	*entry_r = NULL;
	t_array_init(&entries, count * 3);
	coi_block_candidates(senders, count, &entries);
	array_foreach_elem(&entries, entry) {
		ret = coi_state_read_get(read, COI_STATE_BLOCKED, entry,
					 &value, error_r);
		if (ret < 0)
			return -1;
		if (ret > 0 && strcmp(value, "yes") == 0) {
			*entry_r = entry;
			return 1;
		}
	}
	return 0;
}

/*
 * METADATA
 */

/* What a GETMETADATA listing of the block list read, with the values, for
   the entries' get()s that follow it in the same command: without it, a
   listing of n entries is n + 1 dict round trips. It lives in the mailbox
   the command allocated, so it never outlasts the command, and it never
   answers another command's get(). */
struct coi_block_listed {
	const char *name, *value;
};

struct coi_block_listing {
	union mailbox_module_context module_ctx;
	/* sorted by name: the box's pool frees it (a hash table would need
	   a destroy that no hook of a mailbox's free gives) */
	ARRAY(struct coi_block_listed) entries;
};
#define COI_BLOCK_LISTING_CONTEXT(obj) \
	MODULE_CONTEXT(obj, coi_block_storage_module)
static MODULE_CONTEXT_DEFINE_INIT(coi_block_storage_module,
				  &mail_storage_module_register);

static int coi_block_listed_cmp(const struct coi_block_listed *a,
				const struct coi_block_listed *b)
{
	return strcmp(a->name, b->name);
}

static struct coi_user *coi_block_user(struct mailbox *box)
{
	struct coi_user *cuser =
		COI_USER_CONTEXT(mailbox_list_get_user(box->list));

	/* Registration is per process, but COI is per user. */
	if (cuser == NULL) {
		mail_storage_set_error(box->storage, MAIL_ERROR_NOTPOSSIBLE,
				       "COI is not available for this user");
	}
	return cuser;
}

static int
coi_block_error(struct mailbox_transaction_context *t, enum mail_error error,
		const char *entry, const char *reason)
{
	mail_storage_set_error(t->box->storage, error,
		t_strdup_printf("invalid %s%s: %s",
			COI_METADATA_PRIVATE_BLOCKED"/",
			str_sanitize(entry, 80), reason));
	return -1;
}

/* Count the entries, stopping at limit. */
static int
coi_block_count(struct coi_user *cuser, unsigned int limit,
		unsigned int *count_r, const char **error_r)
{
	struct coi_state_iter *iter;

	*count_r = 0;
	iter = coi_state_iter_init(cuser, COI_STATE_BLOCKED);
	while (*count_r < limit && coi_state_iter_next(iter) != NULL)
		*count_r += 1;
	return coi_state_iter_deinit(&iter, error_r);
}

/* A new entry must fit under the limit. The transaction's counter holds
   1 + the entries there will be after the commit, once counted (0: not yet):
   one SETMETADATA may add many, and the dict shows them only after the
   commit, while counting once per entry would cost O(n^2). */
static int
coi_block_limit_check(struct mailbox_transaction_context *t,
		      struct coi_user *cuser,
		      struct coi_state_transaction *trans)
{
	unsigned int *counter = coi_state_transaction_counter(trans,
							      COI_STATE_BLOCKED);
	unsigned int count;
	const char *error;

	if (*counter == 0) {
		if (coi_block_count(cuser, cuser->set.blocked_max, &count,
				    &error) < 0) {
			mail_storage_set_critical(t->box->storage, "%s", error);
			return -1;
		}
		*counter = count + 1;
	}
	if (*counter - 1 >= cuser->set.blocked_max) {
		mail_storage_set_error(t->box->storage, MAIL_ERROR_LIMIT,
			t_strdup_printf("The block list is full (%u entries)",
					cuser->set.blocked_max));
		return -1;
	}
	*counter += 1;
	return 0;
}

static int
coi_attr_blocked_set(struct mailbox_transaction_context *t, const char *key,
		     const struct mail_attribute_value *value)
{
	const char *entry = key + strlen(COI_ATTR_BLOCKED_PREFIX);
	struct coi_state_transaction *trans;
	struct coi_user *cuser;
	const char *str, *old, *error;
	int ret;

	if ((cuser = coi_block_user(t->box)) == NULL)
		return -1;
	if (coi_block_entry_verify(entry, &error) < 0)
		return coi_block_error(t, MAIL_ERROR_PARAMS, entry, error);
	if (coi_state_value_read(t->box->storage, value,
				 COI_BLOCK_VALUE_MAX_LEN,
				 t_strconcat(COI_METADATA_PRIVATE_BLOCKED"/",
					     str_sanitize(entry, 80), NULL),
				 &str) < 0)
		return -1;
	if (str != NULL && strcmp(str, "yes") != 0) {
		return coi_block_error(t, MAIL_ERROR_PARAMS, entry,
				       "value must be \"yes\"");
	}
	/* a listing's values are no answer after a change */
	if (COI_BLOCK_LISTING_CONTEXT(t->box) != NULL)
		MODULE_CONTEXT_UNSET(t->box, coi_block_storage_module);
	trans = coi_state_mailbox_transaction(t);
	if (str == NULL) {
		coi_state_set(trans, COI_STATE_BLOCKED, entry, NULL);
		return 0;
	}

	ret = coi_state_lookup(cuser, COI_STATE_BLOCKED, entry, &old, &error);
	if (ret < 0) {
		mail_storage_set_critical(t->box->storage, "%s", error);
		return -1;
	}
	if (ret == 0 && coi_block_limit_check(t, cuser, trans) < 0)
		return -1;
	coi_state_set(trans, COI_STATE_BLOCKED, entry, "yes");
	if (ret == 0) {
		e_debug(event_create_passthrough(cuser->event)->
			set_name("coi_block_added")->event(),
			"Block list entry %s added", entry);
	}
	return 0;
}

static int
coi_attr_blocked_get(struct mailbox *box, const char *key,
		     struct mail_attribute_value *value_r)
{
	struct coi_block_listing *listing = COI_BLOCK_LISTING_CONTEXT(box);
	const char *entry = key + strlen(COI_ATTR_BLOCKED_PREFIX);

	if (listing != NULL) {
		const struct coi_block_listed key = { .name = entry }, *found;

		found = array_bsearch(&listing->entries, &key,
				      coi_block_listed_cmp);
		value_r->value = found == NULL ? NULL : found->value;
		return found == NULL ? 0 : 1;
	}
	return coi_state_attribute_get(box, COI_STATE_BLOCKED, entry, value_r);
}

/* List every entry, remembering the values for the get()s. */
static int
coi_block_list(struct mailbox *box, struct coi_user *cuser, pool_t pool,
	       ARRAY_TYPE(const_string) *keys)
{
	struct coi_block_listing *listing;
	struct coi_block_listed *listed;
	struct coi_state_iter *iter;
	const char *name, *value, *error;

	listing = p_new(box->pool, struct coi_block_listing, 1);
	p_array_init(&listing->entries, box->pool, 16);
	iter = coi_state_iter_init_values(cuser, COI_STATE_BLOCKED);
	while ((name = coi_state_iter_next(iter)) != NULL) {
		value = coi_state_iter_value(iter);
		listed = array_append_space(&listing->entries);
		listed->name = p_strdup(box->pool, name);
		listed->value = p_strdup(box->pool, value == NULL ? "" : value);
		name = p_strdup(pool, name);
		array_push_back(keys, &name);
	}
	if (coi_state_iter_deinit(&iter, &error) < 0) {
		mail_storage_set_critical(box->storage, "%s", error);
		return -1;
	}
	array_sort(&listing->entries, coi_block_listed_cmp);
	MODULE_CONTEXT_SET(box, coi_block_storage_module, listing);
	return 0;
}

/* GETMETADATA lists the entries from the state layer, with imap_metadata =
   no too. */
static int
coi_attr_blocked_iter(struct mailbox *box, const char *key_prefix,
		      pool_t pool, ARRAY_TYPE(const_string) *keys)
{
	struct coi_user *cuser = COI_USER_CONTEXT(mailbox_list_get_user(box->list));
	const char *name, *value, *error;
	int ret;

	/* server attributes are the INBOX's (lib-storage lists internal
	   attributes of every mailbox, e.g. to delete a mailbox's) */
	if (cuser == NULL || !box->inbox_user)
		return 0;
	if (*key_prefix != '\0') {
		/* one entry: entries have no children, so it is there ("")
		   or not */
		ret = coi_state_lookup(cuser, COI_STATE_BLOCKED, key_prefix,
				       &value, &error);
		if (ret > 0) {
			name = "";
			array_push_back(keys, &name);
		}
		if (ret < 0)
			mail_storage_set_critical(box->storage, "%s", error);
		return ret < 0 ? -1 : 0;
	}
	return coi_block_list(box, cuser, pool, keys);
}

static const struct mailbox_attribute_internal coi_block_attributes[] = {
	{
		.type = MAIL_ATTRIBUTE_TYPE_PRIVATE,
		.key = COI_ATTR_BLOCKED_PREFIX,
		.rank = MAIL_ATTRIBUTE_INTERNAL_RANK_AUTHORITY,
		.flags = MAIL_ATTRIBUTE_INTERNAL_FLAG_VALIDATED |
			MAIL_ATTRIBUTE_INTERNAL_FLAG_CHILDREN,
		.get = coi_attr_blocked_get,
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
