#ifndef COI_DELIVER_H
#define COI_DELIVER_H

#include "coi-detect.h"
#include "coi-config.h"

struct mail;
struct smtp_address;
struct coi_user;

/* What COI decided for one recipient of one message. */
struct coi_delivery {
	struct coi_config config;
	enum coi_chat_reason reason;
	/* The mailbox the message goes to unless Sieve says otherwise. */
	const char *default_mailbox;
	/* The block list entry that matched the sender (the message then goes
	   to the Blocked mailbox, and Sieve does not run), and why that
	   mailbox cannot take it, if so. */
	const char *blocked_by;
	const char *blocked_error;
	/* The provider policy entry that matched, and its action; or why the
	   policy could not be read (the delivery must then tempfail). */
	const char *policy_entry;
	unsigned int policy_action;
	const char *policy_error;
	/* The user's state (block list, configuration) could not be read and
	   coi_state_failure = tempfail: the delivery fails temporarily. */
	const char *state_error;
	/* Every copy saved during this delivery gets $Chat. */
	bool chat:1;
	/* The message is meant for Chats (message-filter=active). */
	bool to_chats:1;
	/* Chats could not be opened (or created again) for it. */
	bool chats_failed:1;
};

/* Fetch the classifier's headers of mail (one header parse). Returns 0, or
   -1 if the mail could not be read (headers_r is then all NULL). Values
   are allocated from the data stack. */
int coi_deliver_get_headers(struct mail *mail,
			    struct coi_detect_headers *headers_r);

/* Decide for cuser's delivery of a message with these headers from the
   envelope sender mail_from (NULL if none): check the user's block list,
   read the user's configuration, classify, keep the thread index, and make sure
   Chats exists if the message is filed there. *default_mailbox is where
   the delivery would save the message; it is changed to Chats when the
   message is filed there. From then on every copy the delivery saves gets
   $Chat if the message is chat: Sieve's, and the INBOX fallback Dovecot
   saves after the deliver_mail hooks returned. The state stays with the
   recipient's mail_user, which delivers one message only (LMTP creates a
   user per recipient). headers may be NULL if they could not be read: the
   message is then delivered like mail. */
void coi_deliver_begin(struct coi_user *cuser,
		       const struct coi_detect_headers *headers,
		       const struct smtp_address *mail_from,
		       const char **default_mailbox);

/* A client stored mail (APPEND): if it is chat by its headers and COI is
   enabled, remember its Message-ID in the thread index, so that replies to
   it count as chat (e.g. the user's own sent chat messages). */
void coi_deliver_remember_saved(struct coi_user *cuser, struct mail *mail);

#endif
