/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "guid.h"
#include "message-id.h"
#include "message-address.h"
#include "rfc822-parser.h"
#include "rfc2231-parser.h"
#include "coi-detect.h"

/* A References header can be as long as a hostile sender likes; the parent
   lookup never needs more than this many ids from it. */
#define COI_DETECT_MAX_REFERENCES_SCAN 1000

const char *const coi_detect_header_names[] = {
	"Chat-Version",
	"Message-ID",
	"References",
	"In-Reply-To",
	"From",
	"To",
	"Cc",
	"Content-Type",
	"Subject",
	"Secure-Join",
	"Autocrypt-Setup-Message",
	NULL
};

static const char *const coi_chat_reason_names[] = {
	[COI_CHAT_REASON_NONE] = "none",
	[COI_CHAT_REASON_CHAT_VERSION] = "chat-version",
	[COI_CHAT_REASON_MESSAGE_ID] = "message-id",
	[COI_CHAT_REASON_REFERENCES] = "references",
	[COI_CHAT_REASON_THREAD] = "thread",
	[COI_CHAT_REASON_DELTACHAT_ENCRYPTED] = "deltachat-encrypted",
	[COI_CHAT_REASON_DELTACHAT_RECEIPT] = "deltachat-receipt",
	[COI_CHAT_REASON_SECURE_JOIN] = "secure-join",
	[COI_CHAT_REASON_AUTOCRYPT_SETUP] = "autocrypt-setup",
};

const char *coi_chat_reason_to_str(enum coi_chat_reason reason)
{
	i_assert(reason < N_ELEMENTS(coi_chat_reason_names));
	return coi_chat_reason_names[reason];
}

static bool coi_detect_id_is_chat(const char *id)
{
	return str_begins(id, "chat$") || str_begins(id, "coi$");
}

bool coi_detect_msgid_is_chat(const char *value)
{
	const char *id;

	if (value == NULL)
		return FALSE;
	/* Cheap test first: no '$' means no chat$ id. */
	if (strchr(value, '$') == NULL)
		return FALSE;
	id = message_id_get_next(&value);
	return id != NULL && coi_detect_id_is_chat(id);
}

/* Is the Message-ID Delta Chat's: <uuid@localhost>? */
static bool coi_detect_msgid_is_deltachat(const char *value)
{
	const char *id, *domain;
	guid_128_t guid;

	if (value == NULL || (id = message_id_get_next(&value)) == NULL ||
	    (domain = strrchr(id, '@')) == NULL ||
	    strcasecmp(domain + 1, "localhost") != 0)
		return FALSE;
	return guid_128_from_uuid_string(t_strdup_until(id, domain),
					 guid) == 0;
}

/* Is the Content-Type type/subtype with the parameter param=param_value
   (all case-insensitive)? */
static bool
coi_detect_content_type_is(const char *value, const char *type,
			   const char *param, const char *param_value)
{
	struct rfc822_parser_context parser;
	const char *const *params;
	string_t *str;
	bool found = FALSE;

	if (value == NULL)
		return FALSE;
	rfc822_parser_init(&parser, (const unsigned char *)value,
			   strlen(value), NULL);
	rfc822_skip_lwsp(&parser);
	str = t_str_new(64);
	if (rfc822_parse_content_type(&parser, str) < 0 ||
	    strcasecmp(str_c(str), type) != 0) {
		rfc822_parser_deinit(&parser);
		return FALSE;
	}
	(void)rfc2231_parse(&parser, &params);
	for (; params[0] != NULL && !found; params += 2) {
		found = strcasecmp(params[0], param) == 0 &&
			strcasecmp(params[1], param_value) == 0;
	}
	rfc822_parser_deinit(&parser);
	return found;
}

/* Is the To value Delta Chat's "hidden-recipients": ; (an empty group)? */
static bool coi_detect_to_is_hidden(const char *value)
{
	const struct message_address *addr;

	if (value == NULL)
		return FALSE;
	addr = message_address_parse(pool_datastack_create(),
				     (const unsigned char *)value,
				     strlen(value), 2, 0);
	return addr != NULL && addr->mailbox != NULL &&
		addr->domain == NULL &&
		strcmp(addr->mailbox, "hidden-recipients") == 0 &&
		addr->next != NULL && addr->next->mailbox == NULL &&
		addr->next->next == NULL;
}

/* Delta Chat's protocol mail that carries no Chat-Version: what the server
   can see of it (its encrypted form hides every other header). Classic
   encrypted mail (Thunderbird's Subject "...", real recipients, its own
   Message-IDs) stays mail. */
static enum coi_chat_reason
coi_detect_deltachat(const struct coi_detect_headers *headers)
{
	if (headers->secure_join != NULL)
		return COI_CHAT_REASON_SECURE_JOIN;
	if (headers->autocrypt_setup_message != NULL)
		return COI_CHAT_REASON_AUTOCRYPT_SETUP;
	if (!coi_detect_msgid_is_deltachat(headers->message_id))
		return COI_CHAT_REASON_NONE;
	if (coi_detect_content_type_is(headers->content_type,
				       "multipart/report", "report-type",
				       "disposition-notification"))
		return COI_CHAT_REASON_DELTACHAT_RECEIPT;
	if (headers->subject != NULL &&
	    strcmp(t_str_trim(headers->subject, " \t"), "[...]") == 0 &&
	    coi_detect_to_is_hidden(headers->to) &&
	    coi_detect_content_type_is(headers->content_type,
				       "multipart/encrypted", "protocol",
				       "application/pgp-encrypted"))
		return COI_CHAT_REASON_DELTACHAT_ENCRYPTED;
	return COI_CHAT_REASON_NONE;
}

enum coi_chat_reason
coi_detect_headers(const struct coi_detect_headers *headers)
{
	enum coi_chat_reason reason = COI_CHAT_REASON_NONE;

	if (headers->chat_version != NULL)
		return COI_CHAT_REASON_CHAT_VERSION;
	T_BEGIN {
		if (coi_detect_msgid_is_chat(headers->message_id))
			reason = COI_CHAT_REASON_MESSAGE_ID;
		else if (coi_detect_msgid_is_chat(headers->references))
			reason = COI_CHAT_REASON_REFERENCES;
		else
			reason = coi_detect_deltachat(headers);
	} T_END;
	return reason;
}

const char *coi_detect_message_id(const struct coi_detect_headers *headers)
{
	const char *value = headers->message_id;

	return value == NULL ? NULL : message_id_get_next(&value);
}

static void
coi_detect_add_id(ARRAY_TYPE(const_string) *ids, unsigned int max_ids,
		  const char *id)
{
	if (array_count(ids) < max_ids && !array_lsearch(ids, &id, i_strcmp_p))
		array_push_back(ids, &id);
}

void coi_detect_parent_ids(const struct coi_detect_headers *headers,
			   unsigned int max_ids,
			   ARRAY_TYPE(const_string) *ids)
{
	ARRAY_TYPE(const_string) refs;
	const char *value, *id;
	unsigned int i;

	if ((value = headers->in_reply_to) != NULL) {
		while (array_count(ids) < max_ids &&
		       (id = message_id_get_next(&value)) != NULL)
			coi_detect_add_id(ids, max_ids, id);
	}
	if ((value = headers->references) == NULL ||
	    array_count(ids) >= max_ids)
		return;

	/* The nearest ancestors are at the end of References. */
	t_array_init(&refs, 16);
	while (array_count(&refs) < COI_DETECT_MAX_REFERENCES_SCAN &&
	       (id = message_id_get_next(&value)) != NULL)
		array_push_back(&refs, &id);
	for (i = array_count(&refs); i > 0 && array_count(ids) < max_ids; i--)
		coi_detect_add_id(ids, max_ids, array_idx_elem(&refs, i - 1));
}
