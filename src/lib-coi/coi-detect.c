/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "message-id.h"
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
	NULL
};

static const char *const coi_chat_reason_names[] = {
	[COI_CHAT_REASON_NONE] = "none",
	[COI_CHAT_REASON_CHAT_VERSION] = "chat-version",
	[COI_CHAT_REASON_MESSAGE_ID] = "message-id",
	[COI_CHAT_REASON_REFERENCES] = "references",
	[COI_CHAT_REASON_THREAD] = "thread",
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
