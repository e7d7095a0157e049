/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "str-sanitize.h"
#include "mail-storage-private.h"
#include "mailbox-list-private.h"
#include "mail-namespace.h"
#include "coi-common.h"
#include "coi-user.h"

struct event_category event_category_coi = {
	.name = "coi",
};

struct coi_user_module coi_user_module =
	MODULE_CONTEXT_INIT(&mail_user_module_register);

static int coi_user_root_init(struct coi_user *cuser,
			      struct mail_namespace *namespaces,
			      const char **error_r);

static void coi_user_deinit(struct mail_user *user)
{
	struct coi_user *cuser = COI_USER_CONTEXT_REQUIRE(user);

	/* after the base deinit: it waits for the attribute dict, whose
	   pending commits log through cuser->event */
	cuser->module_ctx.super.deinit(user);
	event_unref(&cuser->event);
}

/* The context, without hooking the user: errors go to error_r. */
static struct coi_user *
coi_user_alloc(struct mail_user *user, const char **error_r)
{
	const struct mail_storage_settings *mail_set;
	struct coi_user *cuser;
	const char *error;

	cuser = p_new(user->pool, struct coi_user, 1);
	cuser->user = user;
	MODULE_CONTEXT_SET(user, coi_user_module, cuser);

	cuser->event = event_create(user->event);
	event_add_category(cuser->event, &event_category_coi);
	event_set_append_log_prefix(cuser->event, "coi: ");

	*error_r = NULL;
	if (coi_settings_parse(user, &cuser->set, &error) < 0) {
		*error_r = t_strdup_printf("coi: %s", error);
		return cuser;
	}

	/* Without coi_state_dict, COI's state is kept in the user's mail
	   attributes: without a dict for them, or with one that cannot be
	   iterated, COI can be neither configured nor read. */
	if (*cuser->set.state_dict != '\0')
		return cuser;
	mail_set = mail_user_set_get_storage_set(user);
	if (*mail_set->mail_attribute_dict == '\0') {
		*error_r = "coi: Neither coi_state_dict nor mail_attribute_dict "
			"is set, so COI has nowhere to keep the user's state "
			"(e.g. coi_state_dict = proxy::coi, see docs/sql-dict.md)";
	} else if (coi_state_dict_verify(mail_set->mail_attribute_dict,
					 &error) < 0) {
		*error_r = t_strdup_printf("coi: mail_attribute_dict '%s' "
			"cannot hold COI's state without coi_state_dict: %s",
			str_sanitize(mail_set->mail_attribute_dict, 128),
			error);
	}
	return cuser;
}

void coi_user_created(struct mail_user *user)
{
	struct mail_user_vfuncs *v = user->vlast;
	struct coi_user *cuser;
	const char *error;

	/* Raw users (LMTP's incoming mail) and the owners of shared
	   namespaces are not COI users. */
	if (user->autocreated || COI_USER_CONTEXT(user) != NULL)
		return;

	cuser = coi_user_alloc(user, &error);
	cuser->module_ctx.super = *v;
	user->vlast = &cuser->module_ctx.super;
	v->deinit = coi_user_deinit;
	if (error != NULL)
		user->error = p_strdup(user->pool, error);
}

struct coi_user *coi_user_attach(struct mail_user *user, const char **error_r)
{
	struct coi_user *cuser = COI_USER_CONTEXT(user);

	if (cuser != NULL) {
		*error_r = "COI context already attached";
		return NULL;
	}
	cuser = coi_user_alloc(user, error_r);
	if (*error_r == NULL &&
	    coi_user_root_init(cuser, user->namespaces, error_r) < 0)
		*error_r = t_strdup_printf("coi: %s", *error_r);
	if (*error_r != NULL) {
		coi_user_detach(&cuser);
		return NULL;
	}
	return cuser;
}

void coi_user_detach(struct coi_user **_cuser)
{
	struct coi_user *cuser = *_cuser;

	*_cuser = NULL;
	event_unref(&cuser->event);
	MODULE_CONTEXT_UNSET(cuser->user, coi_user_module);
}

int coi_mailbox_root_resolve(struct mail_namespace *namespaces,
			     const char *setting, struct mail_namespace **ns_r,
			     const char **vname_r, const char **error_r)
{
	struct mail_namespace *ns, *inbox_ns;
	const char *vname = setting, *error;

	inbox_ns = mail_namespace_find_inbox(namespaces);
	ns = mail_namespace_find(namespaces, setting);
	if (ns->prefix_len == 0 && ns != inbox_ns && inbox_ns != NULL) {
		/* no namespace prefix given: relative to the INBOX namespace
		   (whose prefix is e.g. "INBOX.") */
		ns = inbox_ns;
		vname = t_strconcat(ns->prefix, setting, NULL);
	} else if (strncmp(vname, ns->prefix, ns->prefix_len) != 0) {
		/* The namespace matched "inbox.COI" ("INBOX." is
		   case-insensitive), or its prefix without the separator
		   ("INBOX"), which is shorter than prefix_len: spell the
		   prefix as the namespace does. */
		vname = strlen(vname) < ns->prefix_len ? ns->prefix :
			t_strconcat(ns->prefix, vname + ns->prefix_len, NULL);
	}
	if (ns->type != MAIL_NAMESPACE_TYPE_PRIVATE) {
		*error_r = t_strdup_printf(
			"Mailbox root is in the %s namespace '%s', "
			"not in a private one",
			ns->type == MAIL_NAMESPACE_TYPE_SHARED ?
			"shared" : "public", ns->prefix);
		return -1;
	}
	if (coi_mailbox_root_verify(vname + ns->prefix_len,
				    mail_namespace_get_sep(ns), &error) < 0) {
		*error_r = error;
		return -1;
	}
	*ns_r = ns;
	*vname_r = vname;
	return 0;
}

/* The last name the storage accepted in this process, with what it
   depends on: lmtp creates a user per delivery, and asking the storage
   allocates a mailbox each time. */
static char *coi_user_verified_name;

/* Returns 0 if the storage accepts vname (e.g. '.' in a Maildir++ layout
   that uses '/' as separator), or -1 with error_r. */
static int
coi_user_verify_name(struct mail_namespace *ns, const char *vname,
		     const char **error_r)
{
	struct mailbox *box;
	const char *key;
	int ret = 0;

	/* what the name's validity depends on, not the user's paths */
	key = t_strdup_printf("%s\t%s\t%c\t%d\t%d\t%d\t%s",
			      ns->list->name, ns->storage->name,
			      mail_namespace_get_sep(ns),
			      ns->list->set.storage_name_escape_char,
			      ns->list->set.vname_escape_char,
			      ns->list->set.utf8 ? 1 : 0, vname);
	if (null_strcmp(key, coi_user_verified_name) == 0)
		return 0;
	box = mailbox_alloc(ns->list, vname, 0);
	if (mailbox_verify_create_name(box) < 0) {
		*error_r = t_strdup(mailbox_get_last_error(box, NULL));
		ret = -1;
	} else {
		i_free(coi_user_verified_name);
		coi_user_verified_name = i_strdup(key);
	}
	mailbox_free(&box);
	return ret;
}

void coi_user_deinit_process(void)
{
	i_free(coi_user_verified_name);
}

static int coi_user_root_init(struct coi_user *cuser,
			      struct mail_namespace *namespaces,
			      const char **error_r)
{
	struct mail_user *user = cuser->user;
	const char *root, *error;
	char sep;
	int ret = 0;

	if (coi_mailbox_root_resolve(namespaces, cuser->set.mailbox_root,
				     &cuser->root_ns, &root, &error) < 0) {
		*error_r = t_strdup_printf("Invalid %s '%s': %s",
			COI_SETTING_MAILBOX_ROOT,
			str_sanitize(cuser->set.mailbox_root, 128), error);
		return -1;
	}
	sep = mail_namespace_get_sep(cuser->root_ns);
	cuser->root = p_strdup(user->pool, root);
	cuser->chats = p_strdup_printf(user->pool, "%s%c%s",
				       root, sep, COI_MAILBOX_CHATS);
	cuser->contacts = p_strdup_printf(user->pool, "%s%c%s",
					  root, sep, COI_MAILBOX_CONTACTS);

	if (coi_mailbox_root_resolve(namespaces, cuser->set.blocked_mailbox,
				     &cuser->blocked_ns, &root, &error) < 0) {
		*error_r = t_strdup_printf("Invalid %s '%s': %s",
			COI_SETTING_BLOCKED_MAILBOX,
			str_sanitize(cuser->set.blocked_mailbox, 128), error);
		return -1;
	}
	cuser->blocked = p_strdup(user->pool, root);

	/* Let the storage judge the name too. */
	if (coi_user_verify_name(cuser->root_ns, cuser->chats, &error) < 0) {
		*error_r = t_strdup_printf("Invalid %s '%s': "
			"Mailbox name '%s' is not valid: %s",
			COI_SETTING_MAILBOX_ROOT,
			str_sanitize(cuser->set.mailbox_root, 128),
			cuser->chats, error);
		ret = -1;
	}
	if (ret == 0)
		e_debug(cuser->event, "Mailbox root is '%s'", cuser->root);
	return ret;
}

void coi_user_namespaces_created(struct mail_namespace *namespaces)
{
	struct mail_user *user = namespaces->user;
	struct coi_user *cuser = COI_USER_CONTEXT(user);
	const char *error;

	if (cuser == NULL || user->error != NULL)
		return;
	if (coi_user_root_init(cuser, namespaces, &error) < 0)
		user->error = p_strdup_printf(user->pool, "coi: %s", error);
}

bool coi_user_is_chats(struct coi_user *cuser, struct mail_namespace *ns,
		       const char *vname, bool or_parent)
{
	size_t len;

	if (ns != cuser->root_ns)
		return FALSE;
	if (strcmp(vname, cuser->chats) == 0)
		return TRUE;
	if (!or_parent)
		return FALSE;
	len = strlen(vname);
	return strncmp(cuser->chats, vname, len) == 0 &&
		cuser->chats[len] == mail_namespace_get_sep(ns);
}
