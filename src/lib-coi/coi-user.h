#ifndef COI_USER_H
#define COI_USER_H

#include "module-context.h"
#include "mail-user.h"
#include "coi-settings.h"

#define COI_USER_CONTEXT(obj) \
	MODULE_CONTEXT(obj, coi_user_module)
#define COI_USER_CONTEXT_REQUIRE(obj) \
	MODULE_CONTEXT_REQUIRE(obj, coi_user_module)

struct coi_user {
	union mail_user_module_context module_ctx;
	struct mail_user *user;
	/* category "coi", log prefix "coi: " */
	struct event *event;
	struct coi_settings set;

	/* Resolved from coi_mailbox_root once the namespaces exist. The names
	   are complete vnames: namespace prefix and separator included. */
	struct mail_namespace *root_ns;
	const char *root;
	const char *chats;
	const char *contacts;
	struct mail_namespace *blocked_ns;
	const char *blocked;

	/* The delivery to this user in progress, if any (LMTP creates a
	   user per recipient, so this is per recipient). */
	struct coi_delivery *delivery;
	/* lmtp already found the senders of this delivery clear of the
	   provider policy (its DATA stage check), so delivery skips it */
	bool policy_checked:1;

	/* COI is creating its own folders: the mailbox hooks must not read
	   that as the user asking to enable COI again. */
	bool creating_folders:1;
};

extern struct event_category event_category_coi;
extern MODULE_CONTEXT_DEFINE(coi_user_module, &mail_user_module_register);

/* mail_user_created hook: attach the COI context and parse the settings.
   A bad setting becomes user->error, which fails the login or delivery
   with a temporary error. */
void coi_user_created(struct mail_user *user);
/* For tools that do not load the COI hooks (doveadm): attach the context
   to an existing user, for as long as the caller works on it. Returns
   NULL with error_r if COI cannot be used for the user. */
struct coi_user *coi_user_attach(struct mail_user *user, const char **error_r);
void coi_user_detach(struct coi_user **cuser);

/* mail_namespaces_created hook: resolve the mailbox root. */
void coi_user_namespaces_created(struct mail_namespace *namespaces);

/* Resolve the coi_mailbox_root setting to a private namespace and the full
   vname of the root. A name that does not start with a namespace prefix is
   taken relative to the INBOX namespace. Returns 0 on success, -1 with
   error_r when the setting cannot name a usable COI root. */
int coi_mailbox_root_resolve(struct mail_namespace *namespaces,
			     const char *setting, struct mail_namespace **ns_r,
			     const char **vname_r, const char **error_r);

/* Returns TRUE if vname in ns is the user's Chats folder, or (with
   or_parent) one of the mailboxes Chats lives under. */
bool coi_user_is_chats(struct coi_user *cuser, struct mail_namespace *ns,
		       const char *vname, bool or_parent);

/* Free what the process keeps across users (at plugin deinit). */
void coi_user_deinit_process(void);

#endif
