/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "hash.h"
#include "file-lock.h"
#include "mail-storage-private.h"
#include "mail-search-build.h"
#include "mail-namespace.h"
#include "coi-user.h"
#include "coi-state.h"
#include "coi-address.h"
#include "coi-contacts.h"

/* The distinct, well-formed COI-From-Hash values of a contact with
   COI-Blocked (none without it), into hashes. Returns 0, or -1 if the mail
   could not be read. */
static int
coi_contact_read_hashes(struct mail *mail, pool_t pool,
			ARRAY_TYPE(const_string) *hashes)
{
	const char *blocked, *const *values, *hash;
	unsigned int i;
	int ret;

	if ((ret = mail_get_first_header(mail, "COI-Blocked", &blocked)) < 0)
		return -1;
	if (ret == 0)
		return 0;
	if (mail_get_headers(mail, "COI-From-Hash", &values) < 0)
		return -1;
	for (i = 0; values[i] != NULL; i++) {
		if (array_count(hashes) >= COI_CONTACT_MAX_HASHES)
			break;
		/* a broken hash blocks nobody */
		if (!coi_address_hash_parse(t_str_trim(values[i], " \t"),
					    &hash))
			continue;
		hash = p_strdup(pool, hash);
		if (array_lsearch(hashes, &hash, i_strcmp_p) == NULL)
			array_push_back(hashes, &hash);
	}
	return 0;
}

int coi_contact_read(struct mail *mail, pool_t pool,
		     struct coi_contact *contact_r)
{
	const char *guid;

	i_zero(contact_r);
	p_array_init(&contact_r->hashes, pool, 2);
	if (mail_get_special(mail, MAIL_FETCH_GUID, &guid) < 0)
		return -1;
	contact_r->guid = p_strdup(pool, guid);
	return coi_contact_read_hashes(mail, pool, &contact_r->hashes);
}

struct coi_contacts_hash_change {
	ARRAY_TYPE(const_string) remove, add;
};
HASH_TABLE_DEFINE_TYPE(coi_contacts_changes, const char *,
		       struct coi_contacts_hash_change *);

static bool str_array_has(const ARRAY_TYPE(const_string) *arr, const char *str)
{
	return array_lsearch(arr, &str, i_strcmp_p) != NULL;
}

/* The GUID list of one hash, changed. */
static const char *
coi_contacts_guids_update(const char *old,
			  const struct coi_contacts_hash_change *change)
{
	static const char *const no_guids[] = { NULL };
	const char *const *guids, *guid;
	string_t *str = t_str_new(128);
	unsigned int count = 0;

	guids = old == NULL ? no_guids : t_strsplit_spaces(old, " ");
	for (; *guids != NULL; guids++) {
		if (str_array_has(&change->remove, *guids) ||
		    str_array_has(&change->add, *guids))
			continue;
		if (count++ > 0)
			str_append_c(str, ' ');
		str_append(str, *guids);
	}
	array_foreach_elem(&change->add, guid) {
		if (count >= COI_CONTACT_MAX_GUIDS)
			break;
		if (count++ > 0)
			str_append_c(str, ' ');
		str_append(str, guid);
	}
	return count == 0 ? NULL : str_c(str);
}

static void
coi_contacts_collect(HASH_TABLE_TYPE(coi_contacts_changes) changes,
		     pool_t pool, const struct coi_contact *contacts,
		     unsigned int count, bool add)
{
	struct coi_contacts_hash_change *change;
	const char *hash;
	unsigned int i;

	for (i = 0; i < count; i++) {
		array_foreach_elem(&contacts[i].hashes, hash) {
			change = hash_table_lookup(changes, hash);
			if (change == NULL) {
				change = p_new(pool,
					struct coi_contacts_hash_change, 1);
				p_array_init(&change->remove, pool, 2);
				p_array_init(&change->add, pool, 2);
				hash_table_insert(changes, hash, change);
			}
			array_push_back(add ? &change->add : &change->remove,
					&contacts[i].guid);
		}
	}
}

static int
coi_contacts_write(struct coi_user *cuser,
		   HASH_TABLE_TYPE(coi_contacts_changes) changes,
		   const char **error_r)
{
	struct coi_state_transaction *trans;
	struct hash_iterate_context *iter;
	struct coi_contacts_hash_change *change;
	const char *hash, *old;
	int ret = 0;

	trans = coi_state_transaction_begin(cuser);
	iter = hash_table_iterate_init(changes);
	while (ret == 0 && hash_table_iterate(iter, changes, &hash, &change)) {
		ret = coi_state_lookup(cuser, COI_STATE_CONTACT, hash, &old,
				       error_r);
		if (ret >= 0) {
			coi_state_set(trans, COI_STATE_CONTACT, hash,
				coi_contacts_guids_update(ret > 0 ? old : NULL,
							  change));
			ret = 0;
		}
	}
	hash_table_iterate_deinit(&iter);
	if (ret < 0) {
		coi_state_transaction_rollback(&trans);
		return -1;
	}
	if (coi_state_transaction_commit(&trans, error_r) < 0)
		return -1;
	e_debug(cuser->event, "Blocked contact hashes updated: %u",
		hash_table_count(changes));
	return 0;
}

/* The index is read-modify-written by every session and rebuilt by
   deliveries: one writer per user at a time. Without a home (no place for
   the lock) the writes go unlocked. */
static int coi_contacts_lock(struct coi_user *cuser, struct file_lock **lock_r)
{
	const char *home, *error;
	int ret;

	*lock_r = NULL;
	if (mail_user_get_home(cuser->user, &home) <= 0)
		return 0;
	ret = mail_user_lock_file_create(cuser->user,
					 COI_CONTACTS_LOCK_FNAME,
					 COI_CONTACTS_LOCK_SECS, lock_r, &error);
	if (ret > 0)
		return 0;
	e_error(cuser->event, "Cannot lock the blocked contacts: %s",
		ret == 0 ? "Timeout" : error);
	return -1;
}

static void coi_contacts_unlock(struct file_lock **lock)
{
	if (*lock != NULL)
		file_lock_free(lock);
}

static int
coi_contacts_update_locked(struct coi_user *cuser,
			   const struct coi_contact *removed,
			   unsigned int removed_count,
			   const struct coi_contact *added,
			   unsigned int added_count);

int coi_contacts_update(struct coi_user *cuser,
			const struct coi_contact *removed,
			unsigned int removed_count,
			const struct coi_contact *added,
			unsigned int added_count)
{
	struct file_lock *lock;
	int ret;

	if (coi_contacts_lock(cuser, &lock) < 0)
		return -1;
	ret = coi_contacts_update_locked(cuser, removed, removed_count,
					 added, added_count);
	coi_contacts_unlock(&lock);
	return ret;
}

static int
coi_contacts_update_locked(struct coi_user *cuser,
			   const struct coi_contact *removed,
			   unsigned int removed_count,
			   const struct coi_contact *added,
			   unsigned int added_count)
{
	HASH_TABLE_TYPE(coi_contacts_changes) changes;
	const char *error;
	pool_t pool;
	int ret;

	pool = pool_alloconly_create("coi contacts changes", 1024);
	hash_table_create(&changes, pool, 0, str_hash, strcmp);
	coi_contacts_collect(changes, pool, removed, removed_count, FALSE);
	coi_contacts_collect(changes, pool, added, added_count, TRUE);
	if (hash_table_count(changes) == 0) {
		hash_table_destroy(&changes);
		pool_unref(&pool);
		return 0;
	}
	ret = coi_contacts_write(cuser, changes, &error);
	if (ret < 0) {
		e_error(cuser->event, "Failed to update the blocked contacts: "
			"%s", error);
	}
	hash_table_destroy(&changes);
	pool_unref(&pool);
	return ret;
}

/* Read the given uids (all if NULL) of the Contacts folder. */
static int
coi_contacts_read_folder(struct coi_user *cuser,
			 const ARRAY_TYPE(seq_range) *uids, pool_t pool,
			 ARRAY_TYPE(coi_contact) *contacts, bool *missing_r)
{
	struct mailbox *box;
	struct mailbox_transaction_context *t;
	struct mail_search_args *search_args;
	struct mail_search_context *search_ctx;
	struct mail *mail;
	struct coi_contact contact;
	enum mail_error error;
	int ret = 0;

	*missing_r = FALSE;
	box = mailbox_alloc(cuser->root_ns->list, cuser->contacts, 0);
	if (mailbox_sync(box, 0) < 0) {
		(void)mailbox_get_last_error(box, &error);
		if (error == MAIL_ERROR_NOTFOUND)
			*missing_r = TRUE;
		else {
			e_error(cuser->event, "Failed to open %s: %s",
				cuser->contacts,
				mailbox_get_last_internal_error(box, NULL));
			ret = -1;
		}
		mailbox_free(&box);
		return ret;
	}
	t = mailbox_transaction_begin(box, 0, __func__);
	search_args = mail_search_build_init();
	if (uids == NULL)
		mail_search_build_add_all(search_args);
	else {
		struct mail_search_arg *arg =
			mail_search_build_add(search_args, SEARCH_UIDSET);
		p_array_init(&arg->value.seqset, search_args->pool,
			     array_count(uids));
		array_append_array(&arg->value.seqset, uids);
	}
	search_ctx = mailbox_search_init(t, search_args, NULL,
					 MAIL_FETCH_GUID, NULL);
	mail_search_args_unref(&search_args);
	while (mailbox_search_next(search_ctx, &mail)) {
		if (coi_contact_read(mail, pool, &contact) < 0) {
			if (mail->expunged)
				continue;
			e_error(cuser->event, "Failed to read contact UID %u "
				"of %s: %s", mail->uid, cuser->contacts,
				mailbox_get_last_internal_error(box, NULL));
			ret = -1;
			break;
		}
		if (array_count(&contact.hashes) > 0)
			array_push_back(contacts, &contact);
	}
	if (mailbox_search_deinit(&search_ctx) < 0 && ret == 0) {
		e_error(cuser->event, "Failed to search %s: %s",
			cuser->contacts,
			mailbox_get_last_internal_error(box, NULL));
		ret = -1;
	}
	(void)mailbox_transaction_commit(&t);
	mailbox_free(&box);
	return ret;
}

int coi_contacts_add_saved(struct coi_user *cuser,
			   const ARRAY_TYPE(seq_range) *uids)
{
	ARRAY_TYPE(coi_contact) contacts;
	pool_t pool;
	bool missing;
	int ret;

	pool = pool_alloconly_create("coi contacts", 1024);
	p_array_init(&contacts, pool, 8);
	ret = coi_contacts_read_folder(cuser, uids, pool, &contacts, &missing);
	if (ret == 0 && array_count(&contacts) > 0) {
		ret = coi_contacts_update(cuser, NULL, 0,
					  array_front(&contacts),
					  array_count(&contacts));
	}
	pool_unref(&pool);
	return ret;
}

static int coi_contacts_clear(struct coi_user *cuser, const char **error_r)
{
	struct coi_state_transaction *trans;
	struct coi_state_iter *iter;
	ARRAY_TYPE(const_string) hashes;
	const char *hash;

	t_array_init(&hashes, 16);
	iter = coi_state_iter_init(cuser, COI_STATE_CONTACT);
	while ((hash = coi_state_iter_next(iter)) != NULL) {
		hash = t_strdup(hash);
		array_push_back(&hashes, &hash);
	}
	if (coi_state_iter_deinit(&iter, error_r) < 0)
		return -1;
	trans = coi_state_transaction_begin(cuser);
	array_foreach_elem(&hashes, hash)
		coi_state_set(trans, COI_STATE_CONTACT, hash, NULL);
	return coi_state_transaction_commit(&trans, error_r);
}

static int
coi_contacts_marker_set(struct coi_user *cuser, bool set, const char **error_r)
{
	struct coi_state_transaction *trans;

	trans = coi_state_transaction_begin(cuser);
	coi_state_set(trans, COI_STATE_CONFIG, COI_STATE_CONTACTS_INDEXED,
		      set ? "1" : NULL);
	return coi_state_transaction_commit(&trans, error_r);
}

void coi_contacts_folder_created(struct coi_user *cuser)
{
	const char *error;

	/* a failure leaves the marker missing: the index is rebuilt later */
	if (coi_contacts_marker_set(cuser, TRUE, &error) < 0) {
		e_error(cuser->event, "Failed to mark the blocked contacts "
			"indexed: %s", error);
	}
}

/* Without a Contacts folder there is nothing to index: the marker alone
   (no lock, which needs a home a new user may not have yet). A client that
   creates Contacts later saves its contacts through imap_coi, which keeps
   the index. Returns 1 if Contacts exists, 0 when done, -1 on error. */
static int coi_contacts_rebuild_if_missing(struct coi_user *cuser)
{
	struct mailbox *box;
	enum mailbox_existence existence;
	const char *error;
	int ret;

	box = mailbox_alloc(cuser->root_ns->list, cuser->contacts, 0);
	ret = mailbox_exists(box, FALSE, &existence);
	if (ret < 0) {
		e_error(cuser->event, "Failed to open %s: %s", cuser->contacts,
			mailbox_get_last_internal_error(box, NULL));
	}
	mailbox_free(&box);
	if (ret < 0)
		return -1;
	if (existence != MAILBOX_EXISTENCE_NONE)
		return 1;
	if (coi_contacts_marker_set(cuser, TRUE, &error) < 0) {
		e_error(cuser->event, "Failed to mark the blocked contacts "
			"indexed: %s", error);
		return -1;
	}
	return 0;
}

int coi_contacts_rebuild(struct coi_user *cuser)
{
	ARRAY_TYPE(coi_contact) contacts;
	struct file_lock *lock;
	const char *error;
	pool_t pool;
	bool missing;
	int ret = 0;

	if ((ret = coi_contacts_rebuild_if_missing(cuser)) <= 0)
		return ret;
	ret = 0;

	/* Under the lock no session changes the index meanwhile; the marker
	   goes first and comes back last, so that a rebuild cut short is
	   done again. */
	if (coi_contacts_lock(cuser, &lock) < 0)
		return -1;
	pool = pool_alloconly_create("coi contacts", 4096);
	p_array_init(&contacts, pool, 64);
	if (coi_contacts_marker_set(cuser, FALSE, &error) < 0 ||
	    coi_contacts_clear(cuser, &error) < 0) {
		e_error(cuser->event, "Failed to clear the blocked contacts: %s",
			error);
		ret = -1;
	}
	if (ret == 0) {
		ret = coi_contacts_read_folder(cuser, NULL, pool, &contacts,
					       &missing);
	}
	if (ret == 0 && array_count(&contacts) > 0) {
		ret = coi_contacts_update_locked(cuser, NULL, 0,
						 array_front(&contacts),
						 array_count(&contacts));
	}
	if (ret == 0 && coi_contacts_marker_set(cuser, TRUE, &error) < 0) {
		e_error(cuser->event, "Failed to mark the blocked contacts "
			"indexed: %s", error);
		ret = -1;
	}
	if (ret == 0) {
		e_debug(event_create_passthrough(cuser->event)->
			set_name("coi_contacts_indexed")->
			add_int("blocked_contacts", array_count(&contacts))->
			event(), "Indexed %u blocked contacts of %s",
			array_count(&contacts), cuser->contacts);
	}
	pool_unref(&pool);
	coi_contacts_unlock(&lock);
	return ret;
}

int coi_contacts_limit_check(struct coi_user *cuser, struct mail *mail,
			     unsigned int *added, struct mail_storage *storage)
{
	ARRAY_TYPE(const_string) hashes;
	struct coi_state_iter *iter;
	const char *hash, *value, *error;
	unsigned int count = 0, new_count = 0;
	pool_t pool;
	int ret = 0;

	/* a mail being saved has no GUID to read yet: the hashes only */
	pool = pool_alloconly_create("coi contact limit", 1024);
	p_array_init(&hashes, pool, 2);
	if (coi_contact_read_hashes(mail, pool, &hashes) < 0) {
		mail_storage_copy_error(storage, mail->box->storage);
		pool_unref(&pool);
		return -1;
	}
	/* the hashes it would add */
	array_foreach_elem(&hashes, hash) {
		ret = coi_state_lookup(cuser, COI_STATE_CONTACT, hash, &value,
				       &error);
		if (ret < 0)
			break;
		if (ret == 0)
			new_count++;
		ret = 0;
	}
	pool_unref(&pool);
	if (ret == 0 && new_count > 0) {
		iter = coi_state_iter_init(cuser, COI_STATE_CONTACT);
		while (count < cuser->set.blocked_max &&
		       coi_state_iter_next(iter) != NULL)
			count++;
		ret = coi_state_iter_deinit(&iter, &error);
	}
	if (ret < 0) {
		mail_storage_set_critical(storage, "%s", error);
		return -1;
	}
	if (new_count > 0 &&
	    count + *added + new_count > cuser->set.blocked_max) {
		mail_storage_set_error(storage, MAIL_ERROR_LIMIT,
			t_strdup_printf("Too many blocked contacts (at most %u "
					"COI-From-Hash values)",
					cuser->set.blocked_max));
		return -1;
	}
	*added += new_count;
	return 0;
}

/* The hashes coi_contacts_lookup() reads: the block list's candidates
   without the "@domain" ones, i.e. the address's own COI-From-Hash and
   those of its +detail base and its other IDNA form, so that a blocked
   contact is not escaped the ways a block entry is not. Returns 0, or -1
   if a hash cannot be computed (it is left out). */
static int
coi_contacts_hashes(const char *const *senders, unsigned int count,
		    ARRAY_TYPE(const_string) *hashes)
{
	ARRAY_TYPE(const_string) entries;
	const char *entry, *hash;
	unsigned int i;
	int ret = 0;

	t_array_init(&entries, count * 3);
	for (i = 0; i < count; i++) {
		if (senders[i] != NULL)
			coi_address_block_candidates(senders[i], &entries);
	}
	array_foreach_elem(&entries, entry) {
		if (entry[0] == '@')
			continue;
		if ((hash = coi_address_hash(entry)) == NULL) {
			ret = -1;
			continue;
		}
		array_push_back(hashes, &hash);
	}
	return ret;
}

void coi_contacts_read_want(struct coi_state_read *read,
			    const char *const *senders, unsigned int count)
{
	ARRAY_TYPE(const_string) hashes;
	const char *hash;

	coi_state_read_want(read, COI_STATE_CONFIG, COI_STATE_CONTACTS_INDEXED);
	t_array_init(&hashes, count * 2);
	/* a hash that fails is reported by coi_contacts_lookup() */
	(void)coi_contacts_hashes(senders, count, &hashes);
	array_foreach_elem(&hashes, hash)
		coi_state_read_want(read, COI_STATE_CONTACT, hash);
}

int coi_contacts_lookup(struct coi_user *cuser, struct coi_state_read *read,
			const char *const *senders, unsigned int count,
			const char **hash_r, const char **error_r)
{
	ARRAY_TYPE(const_string) hashes;
	const char *hash, *value;
	bool rebuilt = FALSE;
	int ret;

	*hash_r = NULL;
	t_array_init(&hashes, count * 2);
	if (coi_contacts_hashes(senders, count, &hashes) < 0) {
		*error_r = "SHA3-256 of the sender failed (OpenSSL)";
		return -1;
	}
	ret = coi_state_read_get(read, COI_STATE_CONFIG,
				 COI_STATE_CONTACTS_INDEXED, &value, error_r);
	if (ret < 0)
		return -1;
	if (ret == 0) {
		if (coi_contacts_rebuild(cuser) < 0) {
			*error_r = "Rebuilding the blocked contacts failed";
			return -1;
		}
		rebuilt = TRUE;
	}
	array_foreach_elem(&hashes, hash) {
		/* after a rebuild, read prefetched values again */
		ret = rebuilt ?
			coi_state_lookup(cuser, COI_STATE_CONTACT, hash,
					 &value, error_r) :
			coi_state_read_get(read, COI_STATE_CONTACT, hash,
					   &value, error_r);
		if (ret < 0)
			return -1;
		if (ret > 0 && value[0] != '\0') {
			*hash_r = hash;
			return 1;
		}
	}
	return 0;
}
