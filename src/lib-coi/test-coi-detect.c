/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "test-common.h"
#include "coi-detect.h"

#define CV COI_CHAT_REASON_CHAT_VERSION
#define MID COI_CHAT_REASON_MESSAGE_ID
#define REF COI_CHAT_REASON_REFERENCES
#define NONE COI_CHAT_REASON_NONE
#define DCE COI_CHAT_REASON_DELTACHAT_ENCRYPTED
#define DCR COI_CHAT_REASON_DELTACHAT_RECEIPT
#define SJ COI_CHAT_REASON_SECURE_JOIN
#define ASM COI_CHAT_REASON_AUTOCRYPT_SETUP

#define DC_ID "<3b7a1f5e-8d2c-4a5e-9f1b-2c3d4e5f6a7b@localhost>"
#define DC_ENC "multipart/encrypted;\r\n protocol=\"application/pgp-encrypted\";" \
	" boundary=\"x\""
#define DC_HIDDEN "\"hidden-recipients\": ;"
#define MDN "multipart/report; report-type=disposition-notification;" \
	" boundary=\"y\""

static void test_coi_detect_rules(void)
{
	static const struct {
		struct coi_detect_headers hdr;
		enum coi_chat_reason reason;
	} tests[] = {
		/* Chat-Version: present is enough, whatever the value */
		{ { .chat_version = "1.0" }, CV },
		{ { .chat_version = "1.0;name=value" }, CV },
		{ { .chat_version = "" }, CV },
		{ { .chat_version = "\xff\xfe garbage" }, CV },
		/* Delta Chat: Chat-Version and a <uuid@localhost> id */
		{ { .chat_version = "1.0",
		    .message_id = "<3b7a1f5e-8d2c-4a5e-9f1b-2c3d4e5f6a7b@localhost>" },
		  CV },
		{ { .message_id = "<3b7a1f5e@localhost>" }, NONE },
		/* Message-ID */
		{ { .message_id = "<chat$1234@example.org>" }, MID },
		{ { .message_id = "<coi$1234@example.org>" }, MID },
		{ { .message_id = "  <chat$group.abc.def@example.org>  " }, MID },
		{ { .message_id = "(comment) <chat$x@example.org>" }, MID },
		{ { .message_id = "<Chat$1234@example.org>" }, NONE },
		{ { .message_id = "<xchat$1234@example.org>" }, NONE },
		{ { .message_id = "<1234.chat$@example.org>" }, NONE },
		{ { .message_id = "chat$1234@example.org" }, NONE },
		{ { .message_id = "<chat$>" }, NONE },
		/* Dovecot's parser takes "<chat$a@b" as the id */
		{ { .message_id = "<<chat$a@b>" }, NONE },
		{ { .message_id = "" }, NONE },
		/* References: only the first id counts */
		{ { .references = "<chat$1@example.org> <x@example.org>" }, REF },
		{ { .references = "<coi$1@example.org>" }, REF },
		{ { .references = "<x@example.org> <chat$1@example.org>" }, NONE },
		{ { .references = "\r\n\t<chat$1@example.org>" }, REF },
		{ { .references = "<broken <chat$1@example.org>" }, NONE },
		/* Delta Chat's encrypted form: everything else hidden */
		{ { .message_id = DC_ID, .content_type = DC_ENC,
		    .subject = "[...]", .to = DC_HIDDEN }, DCE },
		{ { .message_id = "<3B7A1F5E-8D2C-4A5E-9F1B-2C3D4E5F6A7B@LocalHost>",
		    .content_type = "Multipart/Encrypted; "
		    "Protocol=\"Application/PGP-Encrypted\"",
		    .subject = " [...] ", .to = " \"hidden-recipients\":;" },
		  DCE },
		/* ... and not: each part missing or different */
		{ { .content_type = DC_ENC, .subject = "[...]",
		    .to = DC_HIDDEN }, NONE },
		{ { .message_id = "<1234@example.org>", .content_type = DC_ENC,
		    .subject = "[...]", .to = DC_HIDDEN }, NONE },
		{ { .message_id = "<3b7a1f5e-8d2c-4a5e-9f1b@localhost>",
		    .content_type = DC_ENC, .subject = "[...]",
		    .to = DC_HIDDEN }, NONE },
		{ { .message_id = "<3b7a1f5e-8d2c-4a5e-9f1b-2c3d4e5f6a7b"
		    "@localhost.example.org>", .content_type = DC_ENC,
		    .subject = "[...]", .to = DC_HIDDEN }, NONE },
		{ { .message_id = DC_ID, .subject = "[...]", .to = DC_HIDDEN },
		  NONE },
		{ { .message_id = DC_ID, .content_type = "multipart/encrypted",
		    .subject = "[...]", .to = DC_HIDDEN }, NONE },
		{ { .message_id = DC_ID, .content_type = "multipart/mixed; "
		    "protocol=\"application/pgp-encrypted\"",
		    .subject = "[...]", .to = DC_HIDDEN }, NONE },
		{ { .message_id = DC_ID, .content_type = DC_ENC,
		    .to = DC_HIDDEN }, NONE },
		{ { .message_id = DC_ID, .content_type = DC_ENC,
		    .subject = "...", .to = DC_HIDDEN }, NONE },
		{ { .message_id = DC_ID, .content_type = DC_ENC,
		    .subject = "[...]" }, NONE },
		{ { .message_id = DC_ID, .content_type = DC_ENC,
		    .subject = "[...]", .to = "bob@example.org" }, NONE },
		{ { .message_id = DC_ID, .content_type = DC_ENC,
		    .subject = "[...]",
		    .to = "\"hidden-recipients\": bob@example.org;" }, NONE },
		{ { .message_id = DC_ID, .content_type = DC_ENC,
		    .subject = "[...]", .to = "\"other\": ;" }, NONE },
		/* Thunderbird's protected headers: mail */
		{ { .message_id = "<a1b2c3d4-1111-2222-3333-444455556666"
		    "@example.org>", .content_type = DC_ENC,
		    .subject = "...", .to = "Bob <bob@example.org>" }, NONE },
		/* Delta Chat's read receipt */
		{ { .message_id = DC_ID, .content_type = MDN }, DCR },
		{ { .message_id = DC_ID, .content_type = "multipart/report; "
		    "report-type=\"Disposition-Notification\"" }, DCR },
		{ { .message_id = "<1234@example.org>", .content_type = MDN },
		  NONE },
		{ { .message_id = DC_ID, .content_type = "multipart/report; "
		    "report-type=delivery-status" }, NONE },
		{ { .message_id = DC_ID, .content_type = "text/plain" }, NONE },
		{ { .message_id = DC_ID, .content_type = "" }, NONE },
		{ { .message_id = DC_ID, .content_type = ";;;==" }, NONE },
		/* visible protocol headers */
		{ { .secure_join = "vc-request" }, SJ },
		{ { .secure_join = "" }, SJ },
		{ { .autocrypt_setup_message = "v1" }, ASM },
		/* Chat-Version first */
		{ { .chat_version = "1.0", .secure_join = "vg-member-added" },
		  CV },
		/* In-Reply-To alone is the thread rule's business */
		{ { .in_reply_to = "<chat$1@example.org>" }, NONE },
		{ { .message_id = "<a@b>", .references = "<c@d>" }, NONE },
		{ { 0 }, NONE },
	};
	unsigned int i;

	test_begin("coi detect rules");
	for (i = 0; i < N_ELEMENTS(tests); i++)
		test_assert_idx(coi_detect_headers(&tests[i].hdr) ==
				tests[i].reason, i);
	test_end();
}

static void test_coi_detect_hostile(void)
{
	struct coi_detect_headers hdr;
	string_t *refs = t_str_new(1024*1024);
	ARRAY_TYPE(const_string) ids;
	unsigned int i;

	test_begin("coi detect hostile input");
	/* a References header with 50,000 ids, the chat one last */
	for (i = 0; i < 50000; i++)
		str_printfa(refs, "<id%u@example.org> ", i);
	str_append(refs, "<chat$last@example.org>");
	i_zero(&hdr);
	hdr.references = str_c(refs);
	test_assert(coi_detect_headers(&hdr) == NONE);
	t_array_init(&ids, 4);
	coi_detect_parent_ids(&hdr, 4, &ids);
	test_assert(array_count(&ids) == 4);

	/* no '<' at all, unterminated ids, NULs cannot occur (C strings) */
	hdr.references = "chat$a@b chat$c@d";
	hdr.message_id = "<chat$unterminated@example.org";
	test_assert(coi_detect_headers(&hdr) == NONE);
	hdr.message_id = "<\x80\x81$@\xff>";
	test_assert(coi_detect_headers(&hdr) == NONE);
	test_end();
}

static void test_coi_detect_parent_ids(void)
{
	struct coi_detect_headers hdr;
	ARRAY_TYPE(const_string) ids;

	test_begin("coi detect parent ids");
	i_zero(&hdr);
	hdr.in_reply_to = "<p@x>";
	hdr.references = "<r1@x> <r2@x> <p@x> <r3@x>";
	t_array_init(&ids, 8);
	coi_detect_parent_ids(&hdr, 3, &ids);
	/* In-Reply-To first, then References from the end, no duplicate */
	test_assert(array_count(&ids) == 3);
	test_assert_strcmp(array_idx_elem(&ids, 0), "p@x");
	test_assert_strcmp(array_idx_elem(&ids, 1), "r3@x");
	test_assert_strcmp(array_idx_elem(&ids, 2), "r2@x");

	array_clear(&ids);
	i_zero(&hdr);
	coi_detect_parent_ids(&hdr, 3, &ids);
	test_assert(array_count(&ids) == 0);

	hdr.message_id = " <own@x> ";
	test_assert_strcmp(coi_detect_message_id(&hdr), "own@x");
	hdr.message_id = "no id here";
	test_assert(coi_detect_message_id(&hdr) == NULL);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_detect_rules,
		test_coi_detect_hostile,
		test_coi_detect_parent_ids,
		NULL
	};
	return test_run(test_functions);
}
