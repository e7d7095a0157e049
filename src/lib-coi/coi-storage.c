/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "mail-storage-private.h"
#include "mailbox-list-private.h"
#include "mail-storage-hooks.h"
#include "mail-namespace.h"
#include "coi-user.h"
#include "coi-config.h"
#include "coi-storage.h"

#define COI_MAILBOX_CONTEXT(obj) \
	MODULE_CONTEXT_REQUIRE(obj, coi_storage_module)

static MODULE_CONTEXT_DEFINE_INIT(coi_storage_module,
				  &mail_storage_module_register);

static struct module *coi_storage_hooks_module;

/*
 * Folders
 */

static int
coi_folder_ensure(struct coi_user *cuser, const char *vname,
		  struct mail_storage *error_storage)
{
	struct mailbox *box = mailbox_alloc(cuser->root_ns->list, vname, 0);
	enum mail_error error;
	int ret = 0;

	if (mailbox_create(box, NULL, FALSE) == 0) {
		e_debug(event_create_passthrough(cuser->event)->
			set_name("coi_folder_created")->
			add_str("mailbox", vname)->event(),
			"Created mailbox %s", vname);
	} else {
		(void)mailbox_get_last_error(box, &error);
		if (error != MAIL_ERROR_EXISTS)
			ret = -1;
	}
	if (ret == 0 && mailbox_set_subscribed(box, TRUE) < 0)
		ret = -1;
	if (ret < 0)
		mail_storage_copy_error(error_storage, box->storage);
	mailbox_free(&box);
	return ret;
}

int coi_storage_folders_ensure(struct coi_user *cuser,
			       struct mail_storage *error_storage)
{
	bool creating = cuser->creating_folders;
	int ret;

	cuser->creating_folders = TRUE;
	ret = coi_folder_ensure(cuser, cuser->chats, error_storage);
	if (ret == 0)
		ret = coi_folder_ensure(cuser, cuser->contacts, error_storage);
	cuser->creating_folders = creating;
	return ret;
}

/* Chats may leave only for the Trash: is vname below a mailbox whose
   special_use has \Trash? */
static bool coi_mailbox_is_in_trash(struct mailbox *box)
{
	struct mail_namespace *ns = box->list->ns;
	const struct mailbox_settings *set;
	const char *p;
	char sep = mail_namespace_get_sep(ns);

	for (p = strchr(box->vname, sep); p != NULL; p = strchr(p + 1, sep)) {
		set = mailbox_settings_find(ns, t_strdup_until(box->vname, p));
		if (set != NULL && str_array_icase_find(
			t_strsplit_spaces(set->special_use, " "), "\\Trash"))
			return TRUE;
	}
	return FALSE;
}

static bool coi_chats_exists(struct coi_user *cuser)
{
	struct mailbox *box = mailbox_alloc(cuser->root_ns->list,
					    cuser->chats, 0);
	enum mailbox_existence existence;
	bool exists;

	exists = mailbox_exists(box, FALSE, &existence) == 0 &&
		existence == MAILBOX_EXISTENCE_SELECT;
	mailbox_free(&box);
	return exists;
}

/*
 * Mailbox
 */

static int
coi_mailbox_enable(struct mailbox *box, struct coi_user *cuser, bool enable)
{
	if (coi_config_set_enabled(cuser, enable) < 0) {
		/* already logged */
		mail_storage_set_internal_error(box->storage);
		return -1;
	}
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
	union mailbox_module_context *cbox = COI_MAILBOX_CONTEXT(box);
	struct coi_user *cuser =
		COI_USER_CONTEXT_REQUIRE(mailbox_list_get_user(box->list));

	if (cbox->super.create_box(box, update, directory) < 0)
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
	union mailbox_module_context *cbox = COI_MAILBOX_CONTEXT(box);
	struct coi_user *cuser =
		COI_USER_CONTEXT_REQUIRE(mailbox_list_get_user(box->list));

	if (cbox->super.delete_box(box) < 0)
		return -1;
	if (coi_user_is_chats(cuser, box->list->ns, box->vname, FALSE))
		return coi_mailbox_enable(box, cuser, FALSE);
	return 0;
}

static int coi_mailbox_rename_box(struct mailbox *src, struct mailbox *dest)
{
	union mailbox_module_context *cbox = COI_MAILBOX_CONTEXT(src);
	struct coi_user *cuser =
		COI_USER_CONTEXT_REQUIRE(mailbox_list_get_user(src->list));
	bool moves_chats, makes_chats;

	/* Renaming a parent of Chats moves Chats too, if it exists. */
	moves_chats = coi_user_is_chats(cuser, src->list->ns, src->vname,
					FALSE) ||
		(coi_user_is_chats(cuser, src->list->ns, src->vname, TRUE) &&
		 coi_chats_exists(cuser));
	makes_chats = !moves_chats &&
		coi_user_is_chats(cuser, dest->list->ns, dest->vname, TRUE);

	if (moves_chats && !coi_mailbox_is_in_trash(dest)) {
		mail_storage_set_error(src->storage, MAIL_ERROR_NOTPOSSIBLE,
			t_strdup_printf("%s can only be deleted or moved to "
					"the Trash", cuser->chats));
		return -1;
	}
	if (cbox->super.rename_box(src, dest) < 0)
		return -1;
	if (moves_chats)
		return coi_mailbox_enable(src, cuser, FALSE);
	if (makes_chats && coi_chats_exists(cuser))
		return coi_mailbox_enable(src, cuser, TRUE);
	return 0;
}

static void coi_mailbox_allocated(struct mailbox *box)
{
	struct mail_user *user = mailbox_list_get_user(box->list);
	struct mailbox_vfuncs *v = box->vlast;
	union mailbox_module_context *cbox;

	if (COI_USER_CONTEXT(user) == NULL ||
	    box->list->ns->type != MAIL_NAMESPACE_TYPE_PRIVATE)
		return;

	cbox = p_new(box->pool, union mailbox_module_context, 1);
	cbox->super = *v;
	box->vlast = &cbox->super;
	v->create_box = coi_mailbox_create_box;
	v->delete_box = coi_mailbox_delete_box;
	v->rename_box = coi_mailbox_rename_box;
	MODULE_CONTEXT_SET_SELF(box, coi_storage_module, cbox);
}

const struct mail_storage_hooks coi_mail_storage_hooks = {
	.mail_user_created = coi_user_created,
	.mail_namespaces_created = coi_user_namespaces_created,
	.mailbox_allocated = coi_mailbox_allocated,
};

void coi_storage_init(struct module *module)
{
	coi_storage_hooks_module = module;
	if (module != NULL)
		mail_storage_hooks_add(module, &coi_mail_storage_hooks);
	else
		mail_storage_hooks_add_internal(&coi_mail_storage_hooks);
	coi_config_attributes_register();
}

void coi_storage_deinit(void)
{
	coi_config_attributes_unregister();
	if (coi_storage_hooks_module != NULL)
		mail_storage_hooks_remove(&coi_mail_storage_hooks);
	else
		mail_storage_hooks_remove_internal(&coi_mail_storage_hooks);
	coi_storage_hooks_module = NULL;
}
