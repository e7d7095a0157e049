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

#endif
