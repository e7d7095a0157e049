#ifndef COI_STORAGE_H
#define COI_STORAGE_H

struct module;
struct mail_storage;
struct coi_user;

/* The hooks every COI plugin installs: user context, mailbox root, and the
   folder semantics of the server spec (CREATE, DELETE and RENAME of Chats
   enable or disable COI). */
extern const struct mail_storage_hooks coi_mail_storage_hooks;

enum coi_storage_flags {
	/* The process serves a client (IMAP): APPENDed chat joins the thread
	   index, and message-filter=seen moves chat that gets \Seen. */
	COI_STORAGE_FLAG_CLIENT = 0x01,
};

/* Install the hooks for users that load module (NULL: for every user, as
   unit tests want) and register the METADATA attributes. */
void coi_storage_init(struct module *module, enum coi_storage_flags flags);
void coi_storage_deinit(void);

/* Create <root>/Chats and <root>/Contacts where missing and subscribe both.
   Returns 0, or -1 with the error copied to error_storage. */
int coi_storage_folders_ensure(struct coi_user *cuser,
			       struct mail_storage *error_storage);

/* The counter of block list entries the transaction added so far (NULL
   for a transaction COI does not track). */
struct mailbox_transaction_context;
unsigned int *
coi_storage_transaction_blocked_added(struct mailbox_transaction_context *t);

/* Make sure <root>/Chats exists, recreating it (and Contacts) for a user
   whose Chats went missing. Returns 0, or -1 with error_r. */
int coi_storage_chats_ensure(struct coi_user *cuser, const char **error_r);

#endif
