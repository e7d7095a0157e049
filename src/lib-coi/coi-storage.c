/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "seq-range-array.h"
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
#include "coi-seen-move.h"
#include "coi-storage.h"

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
	/* blocking hashes the saved contacts add (held to the limit) */
	unsigned int contacts_added;
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

/* A contact the user's client stores must fit under the limit of blocked
   contacts (APPEND, COPY and MOVE into Contacts). Returns 0, or -1 with
   the error set on the box. */
static int
coi_contacts_saving_check(struct mail_save_context *ctx, struct mail *mail)
{
	struct coi_transaction *ct = COI_TRANSACTION_CONTEXT(ctx->transaction);
	struct mailbox *box = ctx->transaction->box;
	struct coi_user *cuser =
		COI_USER_CONTEXT(mailbox_list_get_user(box->list));
	int ret;

	if (ct == NULL || box->inbox_user || cuser == NULL ||
	    cuser->delivery != NULL || mail == NULL ||
	    !coi_folders_is_contacts(box))
		return 0;
	T_BEGIN {
		ret = coi_contacts_limit_check(cuser, mail,
					       &ct->contacts_added,
					       box->storage);
	} T_END;
	return ret;
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

/* A chat meant for Chats goes to the INBOX instead: logged once, as the
   event admins count. */
static void
coi_chat_fallback(struct coi_user *cuser, const char *mailbox,
		  const char *error)
{
	e_error(event_create_passthrough(cuser->event)->
		set_name("coi_chat_fallback")->
		add_str("mailbox", mailbox)->
		add_str("error", error)->event(),
		"Cannot file chat into %s, delivering to INBOX instead: %s",
		mailbox, error);
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
		if (coi_contacts_saving_check(ctx, mail) < 0 ||
		    cbox->module_ctx.super.copy(ctx, mail) < 0)
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
		coi_chat_fallback(cuser, box->vname, errstr);
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
	/* a COPY was checked by coi_mailbox_copy() */
	if (!ctx->copying_or_moving &&
	    coi_contacts_saving_check(ctx, dest_mail) < 0)
		return -1;
	coi_contacts_mark_saved(ctx);
	if (cuser->delivery == NULL && !ctx->copying_or_moving &&
	    dest_mail != NULL) T_BEGIN {
		coi_deliver_remember_saved(cuser, dest_mail);
	} T_END;
	return 0;
}

/*
 * Transactions: COI's state, the seen move and contacts after a commit
 */

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

/*
 * Mail: \Seen on chat of the INBOX, expunged contacts
 */

/* A chat of the INBOX that gets \Seen: the commit hands it to the seen
   move. */
static void
coi_mail_update_flags(struct mail *_mail, enum modify_type modify_type,
		      enum mail_flags flags)
{
	struct mail_private *mail = (struct mail_private *)_mail;
	union mail_module_context *cmail = COI_MAIL_CONTEXT(mail);
	struct coi_transaction *ct = COI_TRANSACTION_CONTEXT(_mail->transaction);

	cmail->super.update_flags(_mail, modify_type, flags);

	if ((flags & MAIL_SEEN) == 0 || modify_type == MODIFY_REMOVE ||
	    ct == NULL || !coi_seen_move_is_chat(_mail))
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

/* A delivery meant for Chats opens it without asking first whether it
   exists (mailbox_exists() refreshes the whole list index: the most
   expensive part of filing a chat). A Chats that is gone is created again
   here, once per delivery. If it cannot be opened, the error becomes one
   after which lib-lda saves into the INBOX (with $Chat), as in
   coi_mailbox_copy(): a Chats that cannot take chat must not hold it up
   for ever. Only the delivery's own opens (lib-lda and Sieve open with
   MAILBOX_FLAG_POST_SESSION) are handled, not, say, a list index sync
   asking for the mailbox's GUID. */
static int coi_mailbox_open(struct mailbox *box)
{
	struct coi_mailbox *cbox = COI_MAILBOX_CONTEXT(box);
	struct coi_user *cuser =
		COI_USER_CONTEXT_REQUIRE(mailbox_list_get_user(box->list));
	struct coi_delivery *delivery = cuser->delivery;
	enum mail_error error;
	const char *errstr;

	if (cbox->module_ctx.super.open(box) == 0)
		return 0;
	if (delivery == NULL || !delivery->to_chats ||
	    (box->flags & MAILBOX_FLAG_POST_SESSION) == 0 ||
	    cuser->creating_folders || box->list != cuser->root_ns->list ||
	    strcmp(box->vname, cuser->chats) != 0)
		return -1;
	(void)mailbox_get_last_error(box, &error);
	if (error == MAIL_ERROR_NOTFOUND && !delivery->chats_failed) {
		e_warning(cuser->event, "%s is missing: creating it again",
			  cuser->chats);
		if (coi_folders_ensure(cuser, box->storage) == 0) {
			mailbox_close(box);
			if (cbox->module_ctx.super.open(box) == 0)
				return 0;
		}
	}
	errstr = t_strdup(mailbox_get_last_error(box, NULL));
	if (!delivery->chats_failed) {
		/* once per delivery (Sieve's fileinto, its implicit keep
		   and lib-lda's own save may each try) */
		delivery->chats_failed = TRUE;
		coi_chat_fallback(cuser, cuser->chats,
				  mailbox_get_last_internal_error(box, NULL));
	}
	mail_storage_set_error(box->storage, MAIL_ERROR_NOTPOSSIBLE, errstr);
	return -1;
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
	v->open = coi_mailbox_open;
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
	coi_user_deinit_process();
}
