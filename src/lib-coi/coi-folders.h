#ifndef COI_FOLDERS_H
#define COI_FOLDERS_H

struct mailbox;
struct mail_storage;
struct coi_user;

/* COI's folders: <root>/Chats and <root>/Contacts, which COI keeps in place
   while it is enabled, and the Blocked mailbox, created on demand. */

/* Create <root>/Chats and <root>/Contacts where missing and subscribe both.
   Returns 0, or -1 with the error copied to error_storage. */
int coi_folders_ensure(struct coi_user *cuser,
		       struct mail_storage *error_storage);

/* Make sure <root>/Chats exists, recreating it (and Contacts) for a user
   whose Chats went missing. Returns 0, or -1 with error_r. */
int coi_folders_chats_ensure(struct coi_user *cuser, const char **error_r);

/* Returns TRUE if <root>/Chats exists and can be selected. */
bool coi_folders_chats_exists(struct coi_user *cuser);

/* Create the Blocked mailbox on demand (subscribed, so clients show it).
   Returns 0 if it exists now, -1 with error_r. */
int coi_folders_blocked_ensure(struct coi_user *cuser, const char **error_r);

/* Returns TRUE if box is below a mailbox whose special_use has \Trash:
   the only place Chats may be renamed to. */
bool coi_folders_is_in_trash(struct mailbox *box);

/* Returns TRUE if box is the user's <root>/Contacts. */
bool coi_folders_is_contacts(struct mailbox *box);

#endif
