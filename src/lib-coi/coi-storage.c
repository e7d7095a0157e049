/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "hash.h"
#include "str.h"
#include "strnum.h"
#include "istream.h"
#include "write-full.h"
#include "seq-range-array.h"
#include "file-lock.h"
#include "mail-storage-private.h"
#include "mailbox-list-private.h"
#include "mailbox-attribute-private.h"
#include "mail-storage-hooks.h"
#include "mail-namespace.h"
#include "maildir-storage.h"
#include "coi-common.h"
#include "coi-user.h"
#include "coi-state.h"
#include "coi-folders.h"
#include "coi-config.h"
#include "coi-block.h"
#include "coi-contacts.h"
#include "coi-deliver.h"
#include "coi-address.h"
#include "coi-storage.h"

/* How long a seen-move waits for another one of the same user. */
#define COI_SEEN_LOCK_SECS 30
#define COI_SEEN_LOCK_FNAME "dovecot-coi-seen.lock"
/* What a seen-move is copying, written next to the lock before the copies
   are committed and removed once the INBOX expunges are (see
   coi_seen_recover()). */
#define COI_SEEN_JOURNAL_FNAME "dovecot-coi-seen.move"

#define COI_MAILBOX_CONTEXT(obj) \
	MODULE_CONTEXT_REQUIRE(obj, coi_storage_module)
#define COI_TRANSACTION_CONTEXT(obj) \
	MODULE_CONTEXT(obj, coi_storage_module)
#define COI_MAIL_CONTEXT(obj) \
	MODULE_CONTEXT_REQUIRE(obj, coi_mail_module)

struct coi_mailbox {
	union mailbox_module_context module_ctx;
	/* attribute iterations of COI's own keys, which the internal
	   attributes list: the mail attribute dict has nothing of them */
	ARRAY(struct mailbox_attribute_iter *) own_iters;
};

/* The METADATA subtree COI owns (config, blocked): its keys come from the
   state layer, whatever the mail attribute dict holds or cannot list. */
#define COI_ATTR_OWN_PREFIX \
	MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT_SERVER "vendor/vendor.dovecot/coi/"

struct coi_transaction {
	union mailbox_transaction_module_context module_ctx;
	/* UIDs of $Chat messages of the INBOX that got \Seen */
	ARRAY_TYPE(seq_range) seen_uids;

	/* Contacts: the expunged contacts as they were, and whether
	   anything was saved */
	pool_t contacts_pool;
	ARRAY_TYPE(coi_contact) contacts_removed;
	bool contacts_saved:1;

};

static MODULE_CONTEXT_DEFINE_INIT(coi_storage_module,
				  &mail_storage_module_register);
static MODULE_CONTEXT_DEFINE_INIT(coi_mail_module, &mail_module_register);

static struct module *coi_storage_hooks_module;
static enum coi_storage_flags coi_storage_flags;

/*
 * Mailbox
 */

static int
coi_mailbox_enable(struct mailbox *box, struct coi_user *cuser, bool enable)
{
	if (coi_config_set(cuser, COI_CONFIG_ENABLED, enable ? "yes" : NULL,
			   box->storage) < 0)
		return -1;
	e_debug(event_create_passthrough(cuser->event)->
		set_name("coi_config_changed_by_folder")->
		add_str("mailbox", box->vname)->
		add_str("enabled", enable ? "yes" : "no")->event(),
		"COI %s through mailbox %s", enable ? "enabled" : "disabled",
		box->vname);
	return 0;
}

static int
coi_mailbox_create_box(struct mailbox *box, const struct mailbox_update *update,
		       bool directory)
{
	struct coi_mailbox *cbox = COI_MAILBOX_CONTEXT(box);
	struct coi_user *cuser =
		COI_USER_CONTEXT_REQUIRE(mailbox_list_get_user(box->list));

	if (cbox->module_ctx.super.create_box(box, update, directory) < 0)
		return -1;
	/* Creating Chats asks for COI (server spec, "Indirectly Disabling
	   and Enabling COI"), unless COI is creating it itself. */
	if (!directory && !cuser->creating_folders &&
	    coi_user_is_chats(cuser, box->list->ns, box->vname, FALSE))
		return coi_mailbox_enable(box, cuser, TRUE);
	return 0;
}

static int coi_mailbox_delete_box(struct mailbox *box)
{
	struct coi_mailbox *cbox = COI_MAILBOX_CONTEXT(box);
	struct coi_user *cuser =
		COI_USER_CONTEXT_REQUIRE(mailbox_list_get_user(box->list));

	if (cbox->module_ctx.super.delete_box(box) < 0)
		return -1;
	if (coi_user_is_chats(cuser, box->list->ns, box->vname, FALSE))
		return coi_mailbox_enable(box, cuser, FALSE);
	return 0;
}

static int coi_mailbox_rename_box(struct mailbox *src, struct mailbox *dest)
{
	struct coi_mailbox *cbox = COI_MAILBOX_CONTEXT(src);
	struct coi_user *cuser =
		COI_USER_CONTEXT_REQUIRE(mailbox_list_get_user(src->list));
	bool moves_chats, makes_chats;

	/* Renaming a parent of Chats moves Chats too, if it exists. */
	moves_chats = coi_user_is_chats(cuser, src->list->ns, src->vname,
					FALSE) ||
		(coi_user_is_chats(cuser, src->list->ns, src->vname, TRUE) &&
		 coi_folders_chats_exists(cuser));
	makes_chats = !moves_chats &&
		coi_user_is_chats(cuser, dest->list->ns, dest->vname, TRUE);

	if (moves_chats && !coi_folders_is_in_trash(dest)) {
		mail_storage_set_error(src->storage, MAIL_ERROR_NOTPOSSIBLE,
			t_strdup_printf("%s can only be deleted or moved to "
					"the Trash", cuser->chats));
		return -1;
	}
	if (cbox->module_ctx.super.rename_box(src, dest) < 0)
		return -1;
	if (moves_chats)
		return coi_mailbox_enable(src, cuser, FALSE);
	if (makes_chats && coi_folders_chats_exists(cuser))
		return coi_mailbox_enable(src, cuser, TRUE);
	return 0;
}

/*
 * Delivery: $Chat on every copy a chat delivery saves
 */

static void coi_contacts_mark_saved(struct mail_save_context *ctx)
{
	struct coi_transaction *ct = COI_TRANSACTION_CONTEXT(ctx->transaction);
	struct coi_user *cuser = COI_USER_CONTEXT(
		mailbox_list_get_user(ctx->transaction->box->list));

	/* Only transactions of Contacts (and the INBOX) have one. What a
	   delivery puts there (Sieve fileinto, +detail) comes from outside:
	   it is not the user's contact. */
	if (ct != NULL && !ctx->transaction->box->inbox_user &&
	    cuser != NULL && cuser->delivery == NULL)
		ct->contacts_saved = TRUE;
}

static void coi_save_add_chat_keyword(struct mail_save_context *ctx)
{
	static const char *const chat_keyword[] = { COI_KEYWORD_CHAT, NULL };
	struct mailbox *box = ctx->transaction->box;
	struct mail_keywords *kw, *merged;

	kw = mailbox_keywords_create_valid(box, chat_keyword);
	if (ctx->data.keywords != NULL) {
		merged = mailbox_keywords_merge(ctx->data.keywords, kw);
		mailbox_keywords_unref(&kw);
		kw = merged;
	}
	mailbox_save_set_flags(ctx, ctx->data.flags | ctx->data.pvt_flags, kw);
	mailbox_keywords_unref(&kw);
}

/* Dovecot 2.3's maildir reads a folder's dovecot-uidlist lazily when a
   delivery saves into it, without the mailbox GUID in its header. The list
   index then asks the folder for its GUID when the delivery closes it, and
   maildir answers a GUID it has not read by rewriting the whole
   dovecot-uidlist (a temp file, a rename and a re-read: ~200k instructions
   per chat at a few messages, O(messages) in general). Sieve's fileinto
   pays this too. Asking for the GUID before the save reads the header and
   nothing is rewritten. The INBOX is not affected, and other storages keep
   their GUID in the index. */
static void coi_maildir_guid_preload(struct mailbox *box)
{
	struct mailbox_metadata metadata;

	if (box->inbox_user ||
	    strcmp(box->storage->name, MAILDIR_STORAGE_NAME) != 0)
		return;
	/* a failure is the save's to report */
	(void)mailbox_get_metadata(box, MAILBOX_METADATA_GUID, &metadata);
}

static int coi_mailbox_copy(struct mail_save_context *ctx, struct mail *mail)
{
	struct mailbox *box = ctx->transaction->box;
	struct coi_mailbox *cbox = COI_MAILBOX_CONTEXT(box);
	struct coi_user *cuser =
		COI_USER_CONTEXT_REQUIRE(mailbox_list_get_user(box->list));
	struct coi_delivery *delivery = cuser->delivery;
	enum mail_error error;
	const char *errstr;

	if (delivery != NULL && coi_folders_is_contacts(box)) {
		/* Only the user's own clients store contacts: a delivery
		   (Sieve's fileinto) falls back to the INBOX. */
		mail_storage_set_error(box->storage, MAIL_ERROR_NOTPOSSIBLE,
			t_strdup_printf("%s takes no delivered mail",
					cuser->contacts));
		return -1;
	}
	if (delivery == NULL || !delivery->chat) {
		if (cbox->module_ctx.super.copy(ctx, mail) < 0)
			return -1;
		coi_contacts_mark_saved(ctx);
		return 0;
	}

	coi_save_add_chat_keyword(ctx);
	coi_maildir_guid_preload(box);
	if (cbox->module_ctx.super.copy(ctx, mail) == 0) {
		e_debug(event_create_passthrough(cuser->event)->
			set_name("coi_chat_saved")->
			add_str("mailbox", box->vname)->event(),
			"Saving chat message to %s", box->vname);
		return 0;
	}
	if (delivery->to_chats && strcmp(box->vname, cuser->chats) == 0) {
		/* Dovecot falls back to the INBOX unless the error is
		   temporary. A Chats that cannot take the message (say, its
		   permissions are broken) must not hold up chat for ever:
		   make Dovecot try the INBOX, which reports its own errors
		   (quota, temporary failures) as it would without COI. */
		errstr = t_strdup(mailbox_get_last_internal_error(box, &error));
		if (error == MAIL_ERROR_NOQUOTA) {
			/* The INBOX is over quota as well: nothing COI can
			   change, and Dovecot answers as it always does. */
			return -1;
		}
		if (error == MAIL_ERROR_TEMP) {
			mail_storage_set_error(box->storage,
					       MAIL_ERROR_NOTPOSSIBLE, errstr);
		}
		e_error(event_create_passthrough(cuser->event)->
			set_name("coi_chat_fallback")->
			add_str("mailbox", box->vname)->
			add_str("error", errstr)->event(),
			"Cannot file chat into %s, delivering to INBOX "
			"instead: %s", box->vname, errstr);
	}
	return -1;
}

/* APPEND (and any other save outside a delivery): chat the user stores,
   such as a sent chat message, joins the thread index. */
static int coi_mailbox_save_finish(struct mail_save_context *ctx)
{
	struct mailbox *box = ctx->transaction->box;
	struct coi_mailbox *cbox = COI_MAILBOX_CONTEXT(box);
	struct coi_user *cuser =
		COI_USER_CONTEXT_REQUIRE(mailbox_list_get_user(box->list));
	struct mail *dest_mail = ctx->dest_mail;

	if (cbox->module_ctx.super.save_finish(ctx) < 0)
		return -1;
	coi_contacts_mark_saved(ctx);
	if (cuser->delivery == NULL && !ctx->copying_or_moving &&
	    dest_mail != NULL) T_BEGIN {
		coi_deliver_remember_saved(cuser, dest_mail);
	} T_END;
	return 0;
}

/*
 * message-filter=seen: a chat of the INBOX that gets \Seen moves to Chats
 */

static bool coi_mail_has_chat_keyword(struct mail *mail)
{
	return str_array_icase_find(mail_get_keywords(mail), COI_KEYWORD_CHAT);
}

/* A message a seen-move copies: its INBOX UID and its GUID, which the copy
   keeps. */
struct coi_seen_moved {
	uint32_t uid;
	const char *guid;
	bool in_chats;
};
ARRAY_DEFINE_TYPE(coi_seen_moved, struct coi_seen_moved);

/* The journal: "<Chats UIDVALIDITY> <Chats UIDNEXT>" on the first line (the
   copies get UIDs from there on), then "<INBOX UID> <GUID>" per message. */
static int
coi_seen_journal_write(const char *path, struct mailbox *src,
		       struct mailbox *dest,
		       const ARRAY_TYPE(coi_seen_moved) *moved,
		       const char **error_r)
{
	const struct mailbox_permissions *perm = mailbox_get_permissions(src);
	const struct coi_seen_moved *m;
	struct mailbox_status status;
	string_t *str = t_str_new(128);
	int fd, ret = 0;

	mailbox_get_open_status(dest, STATUS_UIDVALIDITY | STATUS_UIDNEXT,
				&status);
	str_printfa(str, "%u %u\n", status.uidvalidity, status.uidnext);
	array_foreach(moved, m)
		str_printfa(str, "%u %s\n", m->uid, m->guid);

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, perm->file_create_mode);
	if (fd == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %m", path);
		return -1;
	}
	if (write_full(fd, str_data(str), str_len(str)) < 0) {
		*error_r = t_strdup_printf("write(%s) failed: %m", path);
		ret = -1;
	}
	if (close(fd) < 0 && ret == 0) {
		*error_r = t_strdup_printf("close(%s) failed: %m", path);
		ret = -1;
	}
	if (ret < 0)
		i_unlink_if_exists(path);
	return ret;
}

/* Read a journal. Returns 1 with its entries (none if it was cut short
   before its first line), 0 if there is none, -1 with error_r. A line cut
   short is ignored: its writer was killed before it committed the
   copies. */
static int
coi_seen_journal_read(const char *path, uint32_t *uidvalidity_r,
		      uint32_t *uidnext_r, ARRAY_TYPE(coi_seen_moved) *moved,
		      const char **error_r)
{
	struct coi_seen_moved *m;
	struct istream *input;
	const char *line, *const *args;
	uint32_t uid;
	int fd, ret = 1;

	fd = open(path, O_RDONLY);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;
		*error_r = t_strdup_printf("open(%s) failed: %m", path);
		return -1;
	}
	input = i_stream_create_fd_autoclose(&fd, SIZE_MAX);
	line = i_stream_read_next_line(input);
	args = line == NULL ? NULL : t_strsplit(line, " ");
	if (args != NULL && str_array_length(args) == 2 &&
	    str_to_uint32(args[0], uidvalidity_r) == 0 &&
	    str_to_uint32(args[1], uidnext_r) == 0) {
		while ((line = i_stream_read_next_line(input)) != NULL) {
			args = t_strsplit(line, " ");
			if (str_array_length(args) != 2 ||
			    str_to_uint32(args[0], &uid) < 0 || uid == 0 ||
			    args[1][0] == '\0')
				continue;
			m = array_append_space(moved);
			m->uid = uid;
			m->guid = args[1];
		}
	}
	if (input->stream_errno != 0) {
		*error_r = t_strdup_printf("read(%s) failed: %s", path,
					   i_stream_get_error(input));
		ret = -1;
	}
	i_stream_destroy(&input);
	return ret;
}

/* A move killed between committing the copies and expunging the originals
   left its journal behind, and the user has those messages twice. Expunge
   the INBOX originals whose copies reached Chats: that completes the move
   as if it had not been interrupted. Returns 0, or -1 with error_r (the
   journal then stays for the next move). */
static int
coi_seen_recover(struct coi_user *cuser, struct mailbox *src,
		 struct mailbox *dest, const char *path, const char **error_r)
{
	ARRAY_TYPE(coi_seen_moved) moved;
	HASH_TABLE(const char *, struct coi_seen_moved *) guids;
	struct mailbox_transaction_context *t;
	struct mailbox_status status;
	struct coi_seen_moved *m;
	struct mail *mail;
	const char *guid;
	uint32_t uidvalidity, uidnext, seq, seq1, seq2;
	unsigned int count = 0;
	int ret;

	t_array_init(&moved, 16);
	ret = coi_seen_journal_read(path, &uidvalidity, &uidnext, &moved,
				    error_r);
	if (ret <= 0)
		return ret;
	if (array_count(&moved) == 0) {
		i_unlink_if_exists(path);
		return 0;
	}

	/* Which of them reached Chats: only UIDs from the journal's UIDNEXT
	   on can be the copies. */
	if (mailbox_sync(dest, 0) < 0) {
		*error_r = t_strdup(mailbox_get_last_internal_error(dest, NULL));
		return -1;
	}
	hash_table_create(&guids, default_pool, 0, str_hash, strcmp);
	array_foreach_modifiable(&moved, m)
		hash_table_update(guids, m->guid, m);
	mailbox_get_open_status(dest, STATUS_UIDVALIDITY, &status);
	mailbox_get_seq_range(dest, status.uidvalidity == uidvalidity ?
			      uidnext : 1, (uint32_t)-1, &seq1, &seq2);
	t = mailbox_transaction_begin(dest, 0, __func__);
	mail = mail_alloc(t, 0, NULL);
	for (seq = seq1; seq1 != 0 && seq <= seq2; seq++) {
		mail_set_seq(mail, seq);
		if (mail_get_special(mail, MAIL_FETCH_GUID, &guid) == 0 &&
		    (m = hash_table_lookup(guids, guid)) != NULL)
			m->in_chats = TRUE;
	}
	mail_free(&mail);
	mailbox_transaction_rollback(&t);
	hash_table_destroy(&guids);

	/* The originals, if they are still the same messages */
	t = mailbox_transaction_begin(src, 0, __func__);
	mail = mail_alloc(t, 0, NULL);
	array_foreach_modifiable(&moved, m) {
		if (m->in_chats && mail_set_uid(mail, m->uid) &&
		    mail_get_special(mail, MAIL_FETCH_GUID, &guid) == 0 &&
		    strcmp(guid, m->guid) == 0) {
			mail_expunge(mail);
			count++;
		}
	}
	mail_free(&mail);
	if (mailbox_transaction_commit(&t) < 0 ||
	    (count > 0 && mailbox_sync(src, 0) < 0)) {
		*error_r = t_strdup(mailbox_get_last_internal_error(src, NULL));
		return -1;
	}
	i_unlink_if_exists(path);
	if (count > 0) {
		e_warning(event_create_passthrough(cuser->event)->
			  set_name("coi_chat_seen_move_completed")->
			  add_str("mailbox", cuser->chats)->
			  add_int("count", count)->event(),
			  "An interrupted move had copied %u seen chat "
			  "message(s) to %s without expunging them from the "
			  "INBOX: expunged now", count, cuser->chats);
	}
	return 0;
}

/* Move what is still a \Seen chat of uids from src to dest. Returns 0, or
   -1 with error_r (src and dest unchanged: copies are committed first, and
   the expunges only after them, so a failure never loses a message). Until
   the expunges are committed, the journal names the copies: a process
   killed in between leaves no duplicate beyond the next move. */
static int
coi_seen_move_locked(struct coi_user *cuser, struct mailbox *src,
		     struct mailbox *dest, const ARRAY_TYPE(seq_range) *uids,
		     const char *journal, unsigned int *count_r,
		     const char **error_r)
{
	struct mailbox_transaction_context *src_t, *dest_t;
	struct mail_save_context *save_ctx;
	ARRAY_TYPE(coi_seen_moved) moved;
	struct coi_seen_moved *m;
	struct seq_range_iter iter;
	struct mail *mail;
	enum mail_error error;
	const char *guid;
	unsigned int n = 0;
	uint32_t uid;
	int ret = 0;

	*count_r = 0;
	t_array_init(&moved, 8);
	/* Not external: the expunges are requests that the storage still has
	   to carry out (for Maildir: unlink the file). */
	src_t = mailbox_transaction_begin(src, 0, __func__);
	dest_t = mailbox_transaction_begin(dest,
		MAILBOX_TRANSACTION_FLAG_EXTERNAL, __func__);
	mail = mail_alloc(src_t, 0, NULL);
	seq_range_array_iter_init(&iter, uids);
	while (ret == 0 && seq_range_array_iter_nth(&iter, n++, &uid)) {
		/* Gone already, or changed again since: leave it. */
		if (!mail_set_uid(mail, uid) ||
		    (mail_get_flags(mail) & MAIL_SEEN) == 0 ||
		    !coi_mail_has_chat_keyword(mail))
			continue;
		if (mail_get_special(mail, MAIL_FETCH_GUID, &guid) < 0)
			guid = "";
		guid = t_strdup(guid);
		save_ctx = mailbox_save_alloc(dest_t);
		mailbox_save_copy_flags(save_ctx, mail);
		if (mailbox_move(&save_ctx, mail) == 0) {
			*count_r += 1;
			if (*guid != '\0') {
				m = array_append_space(&moved);
				m->uid = uid;
				m->guid = guid;
			}
			continue;
		}
		/* Expunged by another session meanwhile: the others still
		   move. */
		if (mail->expunged ||
		    mailbox_get_last_mail_error(src) == MAIL_ERROR_EXPUNGED)
			continue;
		*error_r = t_strdup(mailbox_get_last_internal_error(dest,
								    &error));
		ret = -1;
	}
	mail_free(&mail);

	if (ret == 0 && *count_r > 0 &&
	    coi_seen_journal_write(journal, src, dest, &moved, error_r) < 0)
		ret = -1;
	if (ret < 0 || *count_r == 0) {
		mailbox_transaction_rollback(&dest_t);
		mailbox_transaction_rollback(&src_t);
		return ret;
	}
	if (mailbox_transaction_commit(&dest_t) < 0) {
		*error_r = t_strdup(mailbox_get_last_internal_error(dest, NULL));
		mailbox_transaction_rollback(&src_t);
		i_unlink_if_exists(journal);
		return -1;
	}
	if (mailbox_transaction_commit(&src_t) < 0) {
		/* The journal stays: the next move expunges them. */
		*error_r = t_strdup_printf("Copied to %s, but not expunged "
			"from the INBOX yet (the next move does): %s",
			cuser->chats,
			mailbox_get_last_internal_error(src, NULL));
		return -1;
	}
	i_unlink_if_exists(journal);
	/* The expunges are only requests until the INBOX is synced. */
	if (mailbox_sync(src, 0) < 0) {
		e_error(cuser->event, "Failed to sync the INBOX after moving "
			"seen chat messages: %s",
			mailbox_get_last_internal_error(src, NULL));
	}
	return 0;
}

/* One seen-move at a time per user, so two sessions never move one message
   twice. The lock file goes with the INBOX index, or into the home when
   the index is in memory. */
static int
coi_seen_lock(struct mailbox *box, struct file_lock **lock_r,
	      const char **error_r)
{
	int ret;

	if (!mail_index_is_in_memory(box->index)) {
		ret = mailbox_lock_file_create(box, COI_SEEN_LOCK_FNAME,
					       COI_SEEN_LOCK_SECS, lock_r,
					       error_r);
	} else {
		ret = mail_user_lock_file_create(box->storage->user,
						 COI_SEEN_LOCK_FNAME,
						 COI_SEEN_LOCK_SECS, lock_r,
						 error_r);
	}
	if (ret == 0) {
		*error_r = t_strdup_printf("Timeout waiting for %s",
					   COI_SEEN_LOCK_FNAME);
	}
	return ret > 0 ? 0 : -1;
}

/* The journal lives beside the lock file. */
static const char *coi_seen_journal_path(struct file_lock *lock)
{
	const char *path = file_lock_get_path(lock);
	const char *p = strrchr(path, '/');

	return p == NULL ? COI_SEEN_JOURNAL_FNAME :
		t_strconcat(t_strdup_until(path, p + 1),
			    COI_SEEN_JOURNAL_FNAME, NULL);
}

static void
coi_seen_move(struct coi_user *cuser, struct mailbox *inbox,
	      const ARRAY_TYPE(seq_range) *uids)
{
	struct mailbox *src, *dest;
	struct coi_config config;
	struct file_lock *lock = NULL;
	const char *error = NULL, *journal;
	unsigned int count = 0;
	int ret;

	if (coi_config_read(cuser, &config, &error) < 0) {
		e_error(cuser->event, "Cannot move seen chat messages to %s: "
			"%s", cuser->chats, error);
		return;
	}
	if (!config.enabled || config.filter != COI_MESSAGE_FILTER_SEEN)
		return;
	if (coi_folders_chats_ensure(cuser, &error) < 0) {
		e_error(cuser->event, "Cannot move seen chat messages to %s: %s",
			cuser->chats, error);
		return;
	}

	/* A view of our own: the session's view must see the move only when
	   it syncs, as if another session had done it. */
	src = mailbox_alloc(inbox->list, inbox->vname, 0);
	dest = mailbox_alloc(cuser->root_ns->list, cuser->chats, 0);
	if (mailbox_open(src) < 0) {
		error = t_strdup(mailbox_get_last_internal_error(src, NULL));
		ret = -1;
	} else if (mailbox_open(dest) < 0) {
		error = t_strdup(mailbox_get_last_internal_error(dest, NULL));
		ret = -1;
	} else if ((ret = coi_seen_lock(src, &lock, &error)) == 0) {
		journal = coi_seen_journal_path(lock);
		/* Under the lock: what another move took is gone now. */
		if (mailbox_sync(src, 0) < 0) {
			error = t_strdup(mailbox_get_last_internal_error(src,
									 NULL));
			ret = -1;
		} else if (coi_seen_recover(cuser, src, dest, journal,
					    &error) < 0) {
			ret = -1;
		} else {
			ret = coi_seen_move_locked(cuser, src, dest, uids,
						   journal, &count, &error);
		}
		file_lock_free(&lock);
	}
	if (ret < 0) {
		e_error(cuser->event, "Cannot move seen chat messages to %s: %s",
			cuser->chats, error);
	} else if (count > 0) {
		e_debug(event_create_passthrough(cuser->event)->
			set_name("coi_chat_seen_moved")->
			add_str("mailbox", cuser->chats)->
			add_int("count", count)->event(),
			"Moved %u seen chat message(s) to %s", count,
			cuser->chats);
	}
	mailbox_free(&dest);
	mailbox_free(&src);
}

static struct mailbox_transaction_context *
coi_transaction_begin(struct mailbox *box, enum mailbox_transaction_flags flags,
		      const char *reason)
{
	struct coi_mailbox *cbox = COI_MAILBOX_CONTEXT(box);
	struct mailbox_transaction_context *t;
	struct coi_transaction *ct;

	t = cbox->module_ctx.super.transaction_begin(box, flags, reason);
	ct = i_new(struct coi_transaction, 1);
	MODULE_CONTEXT_SET(t, coi_storage_module, ct);
	return t;
}

static void coi_transaction_free(struct coi_transaction *ct)
{
	if (array_is_created(&ct->seen_uids))
		array_free(&ct->seen_uids);
	pool_unref(&ct->contacts_pool);
	i_free(ct);
}

/* After a commit to Contacts: keep the blocked-contact hashes in step. */
static void
coi_contacts_committed(struct coi_user *cuser, struct coi_transaction *ct,
		       struct mail_transaction_commit_changes *changes)
{
	if (array_is_created(&ct->contacts_removed) &&
	    array_count(&ct->contacts_removed) > 0) {
		(void)coi_contacts_update(cuser,
			array_front(&ct->contacts_removed),
			array_count(&ct->contacts_removed), NULL, 0);
	}
	if (!ct->contacts_saved)
		return;
	/* Without the UIDs (the client did not ask for them), read the
	   folder again. */
	if (array_count(&changes->saved_uids) > 0)
		(void)coi_contacts_add_saved(cuser, &changes->saved_uids);
	else
		(void)coi_contacts_rebuild(cuser);
}

static int
coi_transaction_commit(struct mailbox_transaction_context *t,
		       struct mail_transaction_commit_changes *changes_r)
{
	struct mailbox *box = t->box;
	struct coi_mailbox *cbox = COI_MAILBOX_CONTEXT(box);
	struct coi_transaction *ct = COI_TRANSACTION_CONTEXT(t);
	struct coi_user *cuser =
		COI_USER_CONTEXT_REQUIRE(mailbox_list_get_user(box->list));
	int ret;

	/* COI's METADATA entries first: if they cannot be written, nothing
	   of the SETMETADATA is */
	if (coi_state_mailbox_transaction_commit(t) < 0) {
		cbox->module_ctx.super.transaction_rollback(t);
		coi_transaction_free(ct);
		return -1;
	}
	ret = cbox->module_ctx.super.transaction_commit(t, changes_r);
	if (ret == 0 && array_is_created(&ct->seen_uids)) T_BEGIN {
		coi_seen_move(cuser, box, &ct->seen_uids);
	} T_END;
	if (ret == 0 && (ct->contacts_saved ||
			 array_is_created(&ct->contacts_removed))) T_BEGIN {
		coi_contacts_committed(cuser, ct, changes_r);
	} T_END;
	coi_transaction_free(ct);
	return ret;
}

static void
coi_transaction_rollback(struct mailbox_transaction_context *t)
{
	struct coi_mailbox *cbox = COI_MAILBOX_CONTEXT(t->box);
	struct coi_transaction *ct = COI_TRANSACTION_CONTEXT(t);

	coi_state_mailbox_transaction_rollback(t);
	cbox->module_ctx.super.transaction_rollback(t);
	coi_transaction_free(ct);
}

static void
coi_mail_update_flags(struct mail *_mail, enum modify_type modify_type,
		      enum mail_flags flags)
{
	struct mail_private *mail = (struct mail_private *)_mail;
	union mail_module_context *cmail = COI_MAIL_CONTEXT(mail);
	struct coi_transaction *ct = COI_TRANSACTION_CONTEXT(_mail->transaction);

	cmail->super.update_flags(_mail, modify_type, flags);

	if ((flags & MAIL_SEEN) == 0 || modify_type == MODIFY_REMOVE ||
	    ct == NULL || !coi_mail_has_chat_keyword(_mail))
		return;
	if (!array_is_created(&ct->seen_uids))
		i_array_init(&ct->seen_uids, 8);
	seq_range_array_add(&ct->seen_uids, _mail->uid);
}

static void coi_mail_contact_expunge(struct mail *_mail)
{
	struct mail_private *mail = (struct mail_private *)_mail;
	union mail_module_context *cmail = COI_MAIL_CONTEXT(mail);
	struct coi_transaction *ct = COI_TRANSACTION_CONTEXT(_mail->transaction);
	struct coi_contact contact;

	/* Read what it blocked while it is still there. */
	if (ct != NULL) {
		if (ct->contacts_pool == NULL) {
			ct->contacts_pool =
				pool_alloconly_create("coi contacts", 1024);
			p_array_init(&ct->contacts_removed, ct->contacts_pool,
				     4);
		}
		if (coi_contact_read(_mail, ct->contacts_pool, &contact) == 0 &&
		    array_count(&contact.hashes) > 0)
			array_push_back(&ct->contacts_removed, &contact);
	}
	cmail->super.expunge(_mail);
}

static void coi_mail_allocated(struct mail *_mail)
{
	struct mail_private *mail = (struct mail_private *)_mail;
	struct mail_vfuncs *v = mail->vlast;
	union mail_module_context *cmail;

	bool inbox, contacts;

	/* The INBOX of a COI user has a seen filter to apply, and the
	   Contacts folder blocked contacts to keep track of. */
	if ((coi_storage_flags & COI_STORAGE_FLAG_CLIENT) == 0 ||
	    _mail->box->list->ns->type != MAIL_NAMESPACE_TYPE_PRIVATE ||
	    COI_USER_CONTEXT(mailbox_list_get_user(_mail->box->list)) == NULL)
		return;
	inbox = _mail->box->inbox_user;
	contacts = !inbox && coi_folders_is_contacts(_mail->box);
	if (!inbox && !contacts)
		return;

	cmail = p_new(mail->pool, union mail_module_context, 1);
	cmail->super = *v;
	mail->vlast = &cmail->super;
	if (inbox)
		v->update_flags = coi_mail_update_flags;
	else
		v->expunge = coi_mail_contact_expunge;
	MODULE_CONTEXT_SET_SELF(mail, coi_mail_module, cmail);
}

/*
 * Attribute iteration below COI's own keys
 */

static struct mailbox_attribute_iter *
coi_mailbox_attribute_iter_init(struct mailbox *box,
				enum mail_attribute_type type_flags,
				const char *prefix)
{
	struct coi_mailbox *cbox = COI_MAILBOX_CONTEXT(box);
	struct mailbox_attribute_iter *iter;

	/* On a SQL attribute dict such an iteration would even fail (it
	   cannot go below a map's last variable); on others it would list
	   old copies of what the internal attributes list. */
	if ((type_flags & MAIL_ATTRIBUTE_TYPE_MASK) !=
	    MAIL_ATTRIBUTE_TYPE_PRIVATE ||
	    !str_begins(prefix, COI_ATTR_OWN_PREFIX)) {
		return cbox->module_ctx.super.attribute_iter_init(box,
			type_flags, prefix);
	}
	iter = i_new(struct mailbox_attribute_iter, 1);
	iter->box = box;
	if (!array_is_created(&cbox->own_iters))
		p_array_init(&cbox->own_iters, box->pool, 2);
	array_push_back(&cbox->own_iters, &iter);
	return iter;
}

static bool
coi_mailbox_attribute_iter_own(struct coi_mailbox *cbox,
			       struct mailbox_attribute_iter *iter,
			       bool remove)
{
	struct mailbox_attribute_iter *const *iters;
	unsigned int i, count;

	if (!array_is_created(&cbox->own_iters))
		return FALSE;
	iters = array_get(&cbox->own_iters, &count);
	for (i = 0; i < count; i++) {
		if (iters[i] == iter) {
			if (remove)
				array_delete(&cbox->own_iters, i, 1);
			return TRUE;
		}
	}
	return FALSE;
}

static const char *
coi_mailbox_attribute_iter_next(struct mailbox_attribute_iter *iter)
{
	struct coi_mailbox *cbox = COI_MAILBOX_CONTEXT(iter->box);

	if (coi_mailbox_attribute_iter_own(cbox, iter, FALSE))
		return NULL;
	return cbox->module_ctx.super.attribute_iter_next(iter);
}

static int
coi_mailbox_attribute_iter_deinit(struct mailbox_attribute_iter *iter)
{
	struct coi_mailbox *cbox = COI_MAILBOX_CONTEXT(iter->box);

	if (coi_mailbox_attribute_iter_own(cbox, iter, TRUE)) {
		i_free(iter);
		return 0;
	}
	return cbox->module_ctx.super.attribute_iter_deinit(iter);
}

static void coi_mailbox_allocated(struct mailbox *box)
{
	struct mail_user *user = mailbox_list_get_user(box->list);
	struct mailbox_vfuncs *v = box->vlast;
	struct coi_mailbox *cbox;
	bool contacts;

	if (COI_USER_CONTEXT(user) == NULL ||
	    box->list->ns->type != MAIL_NAMESPACE_TYPE_PRIVATE)
		return;

	cbox = p_new(box->pool, struct coi_mailbox, 1);
	cbox->module_ctx.super = *v;
	box->vlast = &cbox->module_ctx.super;
	v->create_box = coi_mailbox_create_box;
	v->delete_box = coi_mailbox_delete_box;
	v->rename_box = coi_mailbox_rename_box;
	v->copy = coi_mailbox_copy;
	if ((coi_storage_flags & COI_STORAGE_FLAG_CLIENT) != 0)
		v->save_finish = coi_mailbox_save_finish;
	/* The INBOX holds the server attributes, whose COI entries commit
	   with the transaction (in every process: doveadm sets them too),
	   and Contacts the blocked contacts an IMAP client changes. */
	contacts = (coi_storage_flags & COI_STORAGE_FLAG_CLIENT) != 0 &&
		coi_folders_is_contacts(box);
	if (box->inbox_any || contacts) {
		v->transaction_begin = coi_transaction_begin;
		v->transaction_commit = coi_transaction_commit;
		v->transaction_rollback = coi_transaction_rollback;
	}
	if (box->inbox_any) {
		v->attribute_iter_init = coi_mailbox_attribute_iter_init;
		v->attribute_iter_next = coi_mailbox_attribute_iter_next;
		v->attribute_iter_deinit = coi_mailbox_attribute_iter_deinit;
	}
	MODULE_CONTEXT_SET(box, coi_storage_module, cbox);
}

static void coi_storage_user_created(struct mail_user *user)
{
	struct coi_user *cuser;

	coi_user_created(user);
	if ((cuser = COI_USER_CONTEXT(user)) != NULL &&
	    user->error == NULL)
		coi_state_user_created(cuser);
}

const struct mail_storage_hooks coi_mail_storage_hooks = {
	.mail_user_created = coi_storage_user_created,
	.mail_namespaces_created = coi_user_namespaces_created,
	.mailbox_allocated = coi_mailbox_allocated,
	.mail_allocated = coi_mail_allocated,
};

void coi_storage_init(struct module *module, enum coi_storage_flags flags)
{
	coi_storage_hooks_module = module;
	coi_storage_flags = flags;
	if (module != NULL)
		mail_storage_hooks_add(module, &coi_mail_storage_hooks);
	else
		mail_storage_hooks_add_internal(&coi_mail_storage_hooks);
	coi_config_attributes_register();
	coi_block_attributes_register();
}

void coi_storage_deinit(void)
{
	coi_block_attributes_unregister();
	coi_config_attributes_unregister();
	if (coi_storage_hooks_module != NULL)
		mail_storage_hooks_remove(&coi_mail_storage_hooks);
	else
		mail_storage_hooks_remove_internal(&coi_mail_storage_hooks);
	coi_storage_hooks_module = NULL;
	coi_address_deinit();
}
