/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The delivery's one-pass read of the classifier's headers from the header
   block of a message (the input), then the classifier over them. The
   values must be those lib-storage gives for the same header
   (mail_get_first_header()), which the delivery used before. */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "strescape.h"
#include "mail-storage.h"
#include "message-header-parser.h"
#include "coi-address.h"
#include "coi-detect.h"
#include "coi-deliver.h"
#include "fuzz-coi-common.h"

FUZZ_COI_WITH_STORAGE

/* lib-storage keeps a folded value's line breaks (as LF: it drops the CR
   of CRLF), where the delivery's parser turns each [CR]LF+LWSP into one
   space (CLEAN_ONELINE). A value of only LWSP is "" there, and keeps
   some of it here. The id and address parsers after them read all of
   these alike. */
static const char *unfold(const char *value)
{
	string_t *str = t_str_new(strlen(value));
	const char *p;

	for (p = value; *p != '\0'; p++) {
		if (p[0] == '\n' && IS_LWSP(p[1])) {
			str_append_c(str, ' ');
			p++;
		} else {
			str_append_c(str, *p);
		}
	}
	return str_c(str);
}

static void check_like_storage(struct mail *mail,
			       const struct coi_detect_headers *headers)
{
	const char *const values[] = {
		headers->chat_version,
		headers->message_id,
		headers->references,
		headers->in_reply_to,
		headers->from,
		NULL, NULL, NULL, NULL,
		headers->secure_join,
		headers->autocrypt_setup_message,
	};
	const char *value;
	unsigned int i;
	int ret;

	for (i = 0; i < N_ELEMENTS(values); i++) {
		if (i >= 5 && i <= 8)
			continue;	/* check_cut() */
		ret = mail_get_first_header(mail, coi_detect_header_names[i],
					    &value);
		FUZZ_CHECK(ret >= 0);
		if (ret == 0)
			FUZZ_CHECK(values[i] == NULL);
		else if (values[i] == NULL ||
			 strcmp(t_str_trim(values[i], " \t"),
				t_str_trim(unfold(value), " \t")) != 0) {
			i_panic("fuzz invariant failed: %s: delivery read "
				"\"%s\", lib-storage \"%s\"",
				coi_detect_header_names[i],
				values[i] == NULL ? "(none)" :
				str_escape(values[i]), str_escape(value));
		}
	}
}

/* To, Cc, Content-Type and Subject as lib-storage reads their first
   instance, cut to COI_DETECT_ADDRESS_VALUE_MAX octets: a prefix of it. */
static void check_cut(struct mail *mail,
		      const struct coi_detect_headers *headers)
{
	const char *const values[] = {
		headers->to, headers->cc, headers->content_type,
		headers->subject,
	};
	const char *value, *name;
	unsigned int i;
	int ret;

	for (i = 0; i < N_ELEMENTS(values); i++) {
		name = coi_detect_header_names[5 + i];
		ret = mail_get_first_header(mail, name, &value);
		FUZZ_CHECK(ret >= 0);
		if (ret == 0) {
			FUZZ_CHECK(values[i] == NULL);
			continue;
		}
		FUZZ_CHECK(values[i] != NULL);
		FUZZ_CHECK(strlen(values[i]) <= COI_DETECT_ADDRESS_VALUE_MAX);
		if (!str_begins(t_str_trim(unfold(value), " \t"),
				t_str_trim(values[i], " \t"))) {
			i_panic("fuzz invariant failed: %s: delivery read "
				"\"%s\", lib-storage \"%s\"", name,
				str_escape(values[i]), str_escape(value));
		}
	}
}

/* Every From instance, up to COI_SENDERS_MAX, as lib-storage reads them;
   every address of them a sender in its own normal form. */
static void check_from_all(struct mail *mail,
			   const struct coi_detect_headers *headers)
{
	struct coi_senders senders;
	const char *const *values, *const *from_all, *const *addresses;
	unsigned int i, count, value_count = 0;

	if (mail_get_headers(mail, "From", &values) > 0)
		value_count = str_array_length(values);
	from_all = array_get(&headers->from_all, &count);
	FUZZ_CHECK(count == I_MIN(value_count, COI_SENDERS_MAX));
	FUZZ_CHECK(count == 0 || from_all[0] == headers->from);
	coi_senders_init(&senders);
	for (i = 0; i < count; i++) {
		FUZZ_CHECK(strcmp(t_str_trim(from_all[i], " \t"),
				  t_str_trim(unfold(values[i]), " \t")) == 0);
		coi_senders_add_from(&senders, from_all[i]);
	}
	addresses = coi_senders_get(&senders, &count);
	FUZZ_CHECK(count <= COI_SENDERS_MAX);
	for (i = 0; i < count; i++)
		FUZZ_CHECK(strrchr(addresses[i], '@') != NULL);
}

FUZZ_BEGIN_DATA(const unsigned char *data, size_t size)
{
	struct mail *mail = fuzz_coi_mail(data, size);
	struct coi_detect_headers headers;
	ARRAY_TYPE(const_string) ids;
	enum coi_chat_reason reason;

	FUZZ_CHECK(coi_deliver_get_headers(mail, &headers) == 0);
	check_like_storage(mail, &headers);
	check_cut(mail, &headers);
	check_from_all(mail, &headers);
	reason = coi_detect_headers(&headers);
	FUZZ_CHECK((headers.chat_version != NULL) ==
		   (reason == COI_CHAT_REASON_CHAT_VERSION));
	(void)coi_detect_message_id(&headers);
	t_array_init(&ids, 4);
	coi_detect_parent_ids(&headers, 4, &ids);
	FUZZ_CHECK(array_count(&ids) <= 4);
	(void)coi_address_from_header(headers.from);
	fuzz_coi_mail_free(&mail);
}
FUZZ_END
