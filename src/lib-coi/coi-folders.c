/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "mail-storage-private.h"
#include "mailbox-list-private.h"
#include "mail-namespace.h"
#include "coi-user.h"
#include "coi-contacts.h"
#include "coi-folders.h"

/* Create vname (if missing) and subscribe it. Returns 1 if it was created,
   0 if it existed, -1 with the failure copied to error_storage (if not
   NULL) with its error code, and to error_r. */
static int
coi_folder_ensure(struct coi_user *cuser, struct mail_namespace *ns,
		  const char *vname, bool subscribe_new_only,
		  struct mail_storage *error_storage, const char **error_r)
{
	struct mailbox *box = mailbox_alloc(ns->list, vname, 0);
	enum mail_error error;
	bool created = FALSE;
	int ret = 0;

	if (mailbox_create(box, NULL, FALSE) == 0) {
		created = TRUE;
		e_debug(event_create_passthrough(cuser->event)->
			set_name("coi_folder_created")->
			add_str("mailbox", vname)->event(),
			"Created mailbox %s", vname);
	} else {
		(void)mailbox_get_last_error(box, &error);
		if (error != MAIL_ERROR_EXISTS)
			ret = -1;
	}
	if (ret == 0 && (created || !subscribe_new_only) &&
	    mailbox_set_subscribed(box, TRUE) < 0)
		ret = -1;
	if (ret < 0) {
		*error_r = t_strdup(mailbox_get_last_internal_error(box, NULL));
		if (error_storage != NULL)
			mail_storage_copy_error(error_storage, box->storage);
	}
	mailbox_free(&box);
	return ret < 0 ? -1 : (created ? 1 : 0);
}

int coi_folders_ensure(struct coi_user *cuser,
		       struct mail_storage *error_storage)
{
	bool creating = cuser->creating_folders;
	const char *error;
	int ret;

	/* the mailbox hooks must not take this for the user enabling COI */
	cuser->creating_folders = TRUE;
	ret = coi_folder_ensure(cuser, cuser->root_ns, cuser->chats, FALSE,
				error_storage, &error);
	if (ret >= 0) {
		ret = coi_folder_ensure(cuser, cuser->root_ns, cuser->contacts,
					FALSE, error_storage, &error);
	}
	/* A new Contacts holds no contacts: its index is complete, and no
	   delivery has to build it. */
	if (ret > 0)
		coi_contacts_folder_created(cuser);
	cuser->creating_folders = creating;
	return ret < 0 ? -1 : 0;
}

bool coi_folders_chats_exists(struct coi_user *cuser)
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

int coi_folders_chats_ensure(struct coi_user *cuser, const char **error_r)
{
	struct mailbox *box;
	enum mailbox_existence existence;
	int ret = 0;

	box = mailbox_alloc(cuser->root_ns->list, cuser->chats, 0);
	if (mailbox_exists(box, FALSE, &existence) < 0) {
		*error_r = t_strdup(mailbox_get_last_internal_error(box, NULL));
		ret = -1;
	} else if (existence != MAILBOX_EXISTENCE_SELECT) {
		e_warning(cuser->event, "%s is missing: creating it again",
			  cuser->chats);
		if (coi_folders_ensure(cuser, box->storage) < 0) {
			*error_r = t_strdup(
				mailbox_get_last_internal_error(box, NULL));
			ret = -1;
		}
	}
	mailbox_free(&box);
	return ret;
}

int coi_folders_blocked_ensure(struct coi_user *cuser, const char **error_r)
{
	return coi_folder_ensure(cuser, cuser->blocked_ns, cuser->blocked,
				 TRUE, NULL, error_r) < 0 ? -1 : 0;
}

bool coi_folders_is_in_trash(struct mailbox *box)
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

bool coi_folders_is_contacts(struct mailbox *box)
{
	struct coi_user *cuser =
		COI_USER_CONTEXT(mailbox_list_get_user(box->list));

	return cuser != NULL && cuser->root_ns == box->list->ns &&
		strcmp(box->vname, cuser->contacts) == 0;
}
