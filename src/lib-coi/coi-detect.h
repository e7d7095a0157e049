#ifndef COI_DETECT_H
#define COI_DETECT_H

#include "array-decl.h"

/* Why a message is chat (client spec, "COI-specific Message Header Fields";
   server spec, "Configure Message Filtering"). */
enum coi_chat_reason {
	COI_CHAT_REASON_NONE = 0,
	/* A Chat-Version header is present, whatever its value. */
	COI_CHAT_REASON_CHAT_VERSION,
	/* The Message-ID starts with chat$ (or the legacy coi$). */
	COI_CHAT_REASON_MESSAGE_ID,
	/* The first References id starts with chat$ (or coi$). */
	COI_CHAT_REASON_REFERENCES,
	/* In-Reply-To or References names a chat message the user had
	   before (see coi-thread.h). */
	COI_CHAT_REASON_THREAD,
	/* Delta Chat's encrypted form, which hides every other header
	   (Chat-Version too): a <uuid@localhost> Message-ID with
	   multipart/encrypted, Subject "[...]" and To
	   "hidden-recipients": ; */
	COI_CHAT_REASON_DELTACHAT_ENCRYPTED,
	/* Delta Chat's read receipt: a <uuid@localhost> Message-ID with
	   multipart/report; report-type=disposition-notification */
	COI_CHAT_REASON_DELTACHAT_RECEIPT,
	/* A Secure-Join header (Delta Chat's QR-code handshake) */
	COI_CHAT_REASON_SECURE_JOIN,
	/* An Autocrypt-Setup-Message header */
	COI_CHAT_REASON_AUTOCRYPT_SETUP,
};

/* The raw (unfolded) header values the classifier looks at; NULL where the
   header is absent. Only the first instance of each header counts. */
struct coi_detect_headers {
	const char *chat_version;
	const char *message_id;
	const char *references;
	const char *in_reply_to;
	/* not for classification: the sender, for blocking */
	const char *from;
	/* not for classification: who else took part, for the thread index
	   (at most COI_DETECT_ADDRESS_VALUE_MAX bytes of each) */
	const char *to;
	const char *cc;
	/* for Delta Chat's protocol mail (see enum coi_chat_reason); the
	   first two cut like To and Cc */
	const char *content_type;
	const char *subject;
	const char *secure_join;
	const char *autocrypt_setup_message;
	/* every From header's value in order, the first being from (at most
	   COI_SENDERS_MAX of coi-address.h); not created if the values were
	   not read by coi_deliver_get_headers() */
	ARRAY_TYPE(const_string) from_all;
};

/* To, Cc, Content-Type and Subject values are cut to this many bytes: the
   thread index keeps only a few addresses, the classifier looks at the
   start of the others, and a hostile header must not cost more. */
#define COI_DETECT_ADDRESS_VALUE_MAX 4096

/* The header names above, NULL-terminated, for mailbox_header_lookup_init(). */
extern const char *const coi_detect_header_names[];

/* Classify by the headers alone (every rule but the thread one). */
enum coi_chat_reason
coi_detect_headers(const struct coi_detect_headers *headers);

/* Returns TRUE if the first valid id of a Message-ID or References value
   starts with chat$ or coi$. */
bool coi_detect_msgid_is_chat(const char *value);

/* The ids a reply is answering, for the thread lookup: every In-Reply-To id
   first, then the References ids from the last one backwards, at most
   max_ids in all and no duplicates. Allocated from the data stack. */
void coi_detect_parent_ids(const struct coi_detect_headers *headers,
			   unsigned int max_ids,
			   ARRAY_TYPE(const_string) *ids);

/* The first valid id of the Message-ID value (without <>), or NULL. */
const char *coi_detect_message_id(const struct coi_detect_headers *headers);

/* "chat-version", "message-id", "references", "thread",
   "deltachat-encrypted", "deltachat-receipt", "secure-join",
   "autocrypt-setup" or "none": the values of the "reason" event field. */
const char *coi_chat_reason_to_str(enum coi_chat_reason reason);

#endif
