/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The classifier over raw header values: the input is taken as the
   Message-ID, the References and the In-Reply-To value. */

#include "lib.h"
#include "array.h"
#include "coi-detect.h"
#include "fuzz-coi-common.h"

static bool id_is_chat(const char *id)
{
	return str_begins(id, "chat$") || str_begins(id, "coi$");
}

FUZZ_BEGIN_DATA(const unsigned char *data, size_t size)
{
	char *value = fuzz_coi_strdup(data, size);
	struct coi_detect_headers headers = {
		.message_id = value,
		.references = value,
		.in_reply_to = value,
	};
	ARRAY_TYPE(const_string) ids;
	const char *id, *const *idp;
	unsigned int i, j, count;
	enum coi_chat_reason reason;

	reason = coi_detect_headers(&headers);
	id = coi_detect_message_id(&headers);
	/* the Message-ID rule and the thread index see the same id */
	FUZZ_CHECK(coi_detect_msgid_is_chat(value) == (id != NULL &&
						       id_is_chat(id)));
	FUZZ_CHECK(reason == (id != NULL && id_is_chat(id) ?
			      COI_CHAT_REASON_MESSAGE_ID :
			      COI_CHAT_REASON_NONE));
	FUZZ_CHECK(id == NULL || *id != '\0');

	t_array_init(&ids, 4);
	coi_detect_parent_ids(&headers, 4, &ids);
	idp = array_get(&ids, &count);
	FUZZ_CHECK(count <= 4 && (count == 0) == (id == NULL));
	for (i = 0; i < count; i++) {
		FUZZ_CHECK(idp[i] != NULL && idp[i][0] != '\0');
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(idp[i], idp[j]) != 0);
	}
	(void)coi_chat_reason_to_str(reason);
	i_free(value);
}
FUZZ_END
