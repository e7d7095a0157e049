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
#include "mail-namespace.h"
#include "coi-common.h"
#include "coi-user.h"
#include "coi-config.h"
#include "coi-folders.h"
#include "coi-seen-move.h"

/* How long a seen-move waits for another one of the same user. */
#define COI_SEEN_LOCK_SECS 30

bool coi_seen_move_is_chat(struct mail *mail)
{
	return str_array_icase_find(mail_get_keywords(mail), COI_KEYWORD_CHAT);
}

/*
 * The lock and the journal
 */

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

/*
 * Finishing an interrupted move
 */

/* Mark the entries of moved whose copies reached dest: only UIDs from the
   journal's UIDNEXT on can be the copies. Returns 0, or -1 with
   error_r. */
static int
coi_seen_find_copies(struct mailbox *dest, uint32_t uidvalidity,
		     uint32_t uidnext, ARRAY_TYPE(coi_seen_moved) *moved,
		     const char **error_r)
{
	HASH_TABLE(const char *, struct coi_seen_moved *) guids;
	struct mailbox_transaction_context *t;
	struct mailbox_status status;
	struct coi_seen_moved *m;
	struct mail *mail;
	const char *guid;
	uint32_t seq, seq1, seq2;

	if (mailbox_sync(dest, 0) < 0) {
		*error_r = t_strdup(mailbox_get_last_internal_error(dest, NULL));
		return -1;
	}
	hash_table_create(&guids, default_pool, 0, str_hash, strcmp);
	array_foreach_modifiable(moved, m)
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
	return 0;
}

/* Expunge the originals in src of the entries whose copies reached Chats,
   if they are still the same messages. Returns 0 with count_r, or -1 with
   error_r. */
static int
coi_seen_expunge_originals(struct mailbox *src,
			   const ARRAY_TYPE(coi_seen_moved) *moved,
			   unsigned int *count_r, const char **error_r)
{
	struct mailbox_transaction_context *t;
	const struct coi_seen_moved *m;
	struct mail *mail;
	const char *guid;
	unsigned int count = 0;

	t = mailbox_transaction_begin(src, 0, __func__);
	mail = mail_alloc(t, 0, NULL);
	array_foreach(moved, m) {
		if (m->in_chats && mail_set_uid(mail, m->uid) &&
		    mail_get_special(mail, MAIL_FETCH_GUID, &guid) == 0 &&
		    strcmp(guid, m->guid) == 0) {
			mail_expunge(mail);
			count++;
		}
	}
	mail_free(&mail);
	*count_r = count;
	if (mailbox_transaction_commit(&t) < 0 ||
	    (count > 0 && mailbox_sync(src, 0) < 0)) {
		*error_r = t_strdup(mailbox_get_last_internal_error(src, NULL));
		return -1;
	}
	return 0;
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
	uint32_t uidvalidity, uidnext;
	unsigned int count;
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
	if (coi_seen_find_copies(dest, uidvalidity, uidnext, &moved,
				 error_r) < 0 ||
	    coi_seen_expunge_originals(src, &moved, &count, error_r) < 0)
		return -1;
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

/*
 * The move
 */

/* Move what is still a \Seen chat of uids, the copies in dest_t and the
   expunges in src_t, adding those with a GUID to moved. Returns 0, or -1
   with error_r. */
static int
coi_seen_move_mails(struct mailbox_transaction_context *src_t,
		    struct mailbox_transaction_context *dest_t,
		    const ARRAY_TYPE(seq_range) *uids,
		    ARRAY_TYPE(coi_seen_moved) *moved, unsigned int *count_r,
		    const char **error_r)
{
	struct mailbox *src = mailbox_transaction_get_mailbox(src_t);
	struct mailbox *dest = mailbox_transaction_get_mailbox(dest_t);
	struct mail_save_context *save_ctx;
	struct coi_seen_moved *m;
	struct seq_range_iter iter;
	struct mail *mail;
	const char *guid;
	unsigned int n = 0;
	uint32_t uid;
	int ret = 0;

	mail = mail_alloc(src_t, 0, NULL);
	seq_range_array_iter_init(&iter, uids);
	while (ret == 0 && seq_range_array_iter_nth(&iter, n++, &uid)) {
		/* Gone already, or changed again since: leave it. */
		if (!mail_set_uid(mail, uid) ||
		    (mail_get_flags(mail) & MAIL_SEEN) == 0 ||
		    !coi_seen_move_is_chat(mail))
			continue;
		if (mail_get_special(mail, MAIL_FETCH_GUID, &guid) < 0)
			guid = "";
		guid = t_strdup(guid);
		save_ctx = mailbox_save_alloc(dest_t);
		mailbox_save_copy_flags(save_ctx, mail);
		if (mailbox_move(&save_ctx, mail) == 0) {
			*count_r += 1;
			if (*guid != '\0') {
				m = array_append_space(moved);
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
								    NULL));
		ret = -1;
	}
	mail_free(&mail);
	return ret;
}

/* Commit the copies, then the expunges, with the journal naming the
   copies in between. Returns 0, or -1 with error_r. */
static int
coi_seen_move_commit(struct coi_user *cuser,
		     struct mailbox_transaction_context **src_t,
		     struct mailbox_transaction_context **dest_t,
		     const ARRAY_TYPE(coi_seen_moved) *moved,
		     const char *journal, const char **error_r)
{
	struct mailbox *src = mailbox_transaction_get_mailbox(*src_t);
	struct mailbox *dest = mailbox_transaction_get_mailbox(*dest_t);

	if (coi_seen_journal_write(journal, src, dest, moved, error_r) < 0) {
		mailbox_transaction_rollback(dest_t);
		mailbox_transaction_rollback(src_t);
		return -1;
	}
	if (mailbox_transaction_commit(dest_t) < 0) {
		*error_r = t_strdup(mailbox_get_last_internal_error(dest, NULL));
		mailbox_transaction_rollback(src_t);
		i_unlink_if_exists(journal);
		return -1;
	}
	if (mailbox_transaction_commit(src_t) < 0) {
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
	ARRAY_TYPE(coi_seen_moved) moved;
	int ret;

	*count_r = 0;
	t_array_init(&moved, 8);
	/* Not external: the expunges are requests that the storage still has
	   to carry out (for Maildir: unlink the file). */
	src_t = mailbox_transaction_begin(src, 0, __func__);
	dest_t = mailbox_transaction_begin(dest,
		MAILBOX_TRANSACTION_FLAG_EXTERNAL, __func__);
	ret = coi_seen_move_mails(src_t, dest_t, uids, &moved, count_r,
				  error_r);
	if (ret < 0 || *count_r == 0) {
		mailbox_transaction_rollback(&dest_t);
		mailbox_transaction_rollback(&src_t);
		return ret;
	}
	return coi_seen_move_commit(cuser, &src_t, &dest_t, &moved, journal,
				    error_r);
}

/* Lock, finish an interrupted move, then move uids from src to dest.
   Returns 0 with count_r, or -1 with error_r. */
static int
coi_seen_move_boxes(struct coi_user *cuser, struct mailbox *src,
		    struct mailbox *dest, const ARRAY_TYPE(seq_range) *uids,
		    unsigned int *count_r, const char **error_r)
{
	struct file_lock *lock;
	const char *journal;
	int ret;

	if (mailbox_open(src) < 0) {
		*error_r = t_strdup(mailbox_get_last_internal_error(src, NULL));
		return -1;
	}
	if (mailbox_open(dest) < 0) {
		*error_r = t_strdup(mailbox_get_last_internal_error(dest, NULL));
		return -1;
	}
	if (coi_seen_lock(src, &lock, error_r) < 0)
		return -1;
	journal = coi_seen_journal_path(lock);
	/* Under the lock: what another move took is gone now. */
	if (mailbox_sync(src, 0) < 0) {
		*error_r = t_strdup(mailbox_get_last_internal_error(src, NULL));
		ret = -1;
	} else if (coi_seen_recover(cuser, src, dest, journal, error_r) < 0) {
		ret = -1;
	} else {
		ret = coi_seen_move_locked(cuser, src, dest, uids, journal,
					   count_r, error_r);
	}
	file_lock_free(&lock);
	return ret;
}

void coi_seen_move(struct coi_user *cuser, struct mailbox *inbox,
		   const ARRAY_TYPE(seq_range) *uids)
{
	struct mailbox *src, *dest;
	struct coi_config config;
	const char *error = NULL;
	unsigned int count = 0;

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
	if (coi_seen_move_boxes(cuser, src, dest, uids, &count, &error) < 0) {
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
