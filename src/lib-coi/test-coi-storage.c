/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Storage-level tests: a real maildir user in ./.test-home with the COI
   hooks installed, no running Dovecot. */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "dict.h"
#include "istream.h"
#include "unichar.h"
#include "write-full.h"
#include "master-service.h"
#include "mail-namespace.h"
#include "mailbox-list-private.h"
#include "mail-storage-private.h"
#include "test-common.h"
#include "test-mail-storage-common.h"
#include "coi-common.h"
#include "coi-user.h"
#include "coi-config.h"
#include "coi-block.h"
#include "coi-state.h"
#include "coi-snapshot.h"
#include "coi-storage.h"
#include "coi-deliver.h"
#include "coi-seen-move.h"

static struct test_mail_storage_ctx *ctx;

static void test_user_init(const char *prefix, const char *sep,
			   const char *root)
{
	const char *const extra[] = {
		t_strdup_printf("mail_attribute_dict=file:%sattributes",
				ctx->home_root),
		t_strdup_printf("namespace/inbox/prefix=%s", prefix),
		"namespace/inbox/mailbox=Trash",
		"namespace/inbox/mailbox/Trash/name=Trash",
		"namespace/inbox/mailbox/Trash/special_use=\\Trash",
		root == NULL ? NULL :
			t_strdup_printf("plugin/coi_mailbox_root=%s", root),
		NULL
	};
	struct test_mail_storage_settings set = {
		.driver = "maildir",
		.driver_opts = "",
		.hierarchy_sep = sep,
		.extra_input = extra,
	};

	test_mail_storage_init_user(ctx, &set);
}

static struct coi_user *test_cuser(void)
{
	return COI_USER_CONTEXT_REQUIRE(ctx->user);
}

static struct mailbox *test_box(const char *vname)
{
	struct mail_namespace *ns =
		mail_namespace_find(ctx->user->namespaces, vname);

	return mailbox_alloc(ns->list, vname, 0);
}

/* Set a server attribute the way IMAP SETMETADATA does with
   imap_metadata = no (validated only). Returns the mail_error, or
   MAIL_ERROR_NONE on success; error_r gets the client-visible text. */
static enum mail_error
test_attr_set(const char *key, const char *value, const char **error_r)
{
	struct mailbox *box = test_box("INBOX");
	struct mailbox_transaction_context *t;
	struct mail_attribute_value avalue;
	enum mail_error error = MAIL_ERROR_NONE;

	*error_r = NULL;
	i_zero(&avalue);
	avalue.value = value;
	test_assert(mailbox_open(box) == 0);
	t = mailbox_transaction_begin(box, MAILBOX_TRANSACTION_FLAG_EXTERNAL,
				      __func__);
	if (mailbox_attribute_set(t, MAIL_ATTRIBUTE_TYPE_PRIVATE |
				  MAIL_ATTRIBUTE_TYPE_FLAG_VALIDATED,
				  key, &avalue) < 0) {
		*error_r = t_strdup(mailbox_get_last_error(box, &error));
		mailbox_transaction_rollback(&t);
	} else if (mailbox_transaction_commit(&t) < 0) {
		*error_r = t_strdup(mailbox_get_last_error(box, &error));
	}
	mailbox_free(&box);
	return error;
}

static const char *test_attr_get(const char *key)
{
	struct mailbox *box = test_box("INBOX");
	struct mail_attribute_value value;
	const char *ret = NULL;

	test_assert(mailbox_attribute_get(box, MAIL_ATTRIBUTE_TYPE_PRIVATE |
					  MAIL_ATTRIBUTE_TYPE_FLAG_VALIDATED,
					  key, &value) >= 0);
	ret = t_strdup(value.value);
	mailbox_free(&box);
	return ret;
}

/* Returns 1 if the mailbox exists and is subscribed, 0 if it exists
   unsubscribed, -1 if it does not exist. */
static int test_mailbox_state(const char *vname)
{
	struct mailbox *box = test_box(vname);
	enum mailbox_existence existence;
	int ret;

	test_assert(mailbox_exists(box, FALSE, &existence) == 0);
	if (existence != MAILBOX_EXISTENCE_SELECT)
		ret = -1;
	else {
		test_assert(mailbox_list_iter_subscriptions_refresh(box->list) == 0);
		ret = mailbox_is_subscribed(box) ? 1 : 0;
	}
	mailbox_free(&box);
	return ret;
}

static int test_mailbox_op(const char *op, const char *vname,
			   const char *dest_vname, enum mail_error *error_r)
{
	struct mailbox *box = test_box(vname), *dest = NULL;
	int ret;

	*error_r = MAIL_ERROR_NONE;
	if (strcmp(op, "create") == 0)
		ret = mailbox_create(box, NULL, FALSE);
	else if (strcmp(op, "delete") == 0)
		ret = mailbox_delete(box);
	else if (strcmp(op, "unsubscribe") == 0)
		ret = mailbox_set_subscribed(box, FALSE);
	else {
		dest = test_box(dest_vname);
		ret = mailbox_rename(box, dest);
	}
	if (ret < 0)
		(void)mailbox_get_last_error(box, error_r);
	if (dest != NULL)
		mailbox_free(&dest);
	mailbox_free(&box);
	return ret;
}

static void test_coi_storage_root(void)
{
	static const struct {
		const char *prefix, *sep, *setting;
		const char *root, *chats, *contacts;
	} tests[] = {
		{ "", "/", NULL, "COI", "COI/Chats", "COI/Contacts" },
		{ "", ".", NULL, "COI", "COI.Chats", "COI.Contacts" },
		{ "INBOX.", ".", NULL,
		  "INBOX.COI", "INBOX.COI.Chats", "INBOX.COI.Contacts" },
		{ "INBOX.", ".", "INBOX.Chat",
		  "INBOX.Chat", "INBOX.Chat.Chats", "INBOX.Chat.Contacts" },
		{ "", "/", "Apps/Chat",
		  "Apps/Chat", "Apps/Chat/Chats", "Apps/Chat/Contacts" },
		/* found by fuzz-coi-settings: INBOX is case-insensitive */
		{ "INBOX.", ".", "inbox.Chat",
		  "INBOX.Chat", "INBOX.Chat.Chats", "INBOX.Chat.Contacts" },
	};
	struct coi_user *cuser;
	unsigned int i;

	test_begin("coi storage mailbox root");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		test_user_init(tests[i].prefix, tests[i].sep,
			       tests[i].setting);
		cuser = test_cuser();
		test_assert_strcmp_idx(cuser->root, tests[i].root, i);
		test_assert_strcmp_idx(cuser->chats, tests[i].chats, i);
		test_assert_strcmp_idx(cuser->contacts, tests[i].contacts, i);
		/* the METADATA entry shows what the client must use */
		test_assert_strcmp_idx(test_attr_get(COI_ATTR_MAILBOX_ROOT),
				       tests[i].root, i);
		test_mail_storage_deinit_user(ctx);
	}
	test_end();
}

static void test_coi_storage_root_invalid(void)
{
	static const struct {
		const char *prefix, *sep, *setting, *error;
	} tests[] = {
		{ "", "/", "", "empty" },
		{ "", "/", "*", "wildcard" },
		{ "", "/", "%", "wildcard" },
		{ "", "/", "/COI", "begins with" },
		{ "", "/", "a//b", "doubled" },
		{ "", "/", "COI/", "ends with" },
		{ "INBOX.", ".", "INBOX.", "empty" },
		{ "INBOX.", ".", ".COI", "begins with" },
		{ "INBOX.", ".", "INBOX..COI", "begins with" },
		/* found by fuzz-coi-settings: the prefix without its
		   separator was read past its end */
		{ "INBOX.", ".", "INBOX", "empty" },
		{ "INBOX.", ".", "inbox", "empty" },
	};
	struct mail_namespace *ns;
	const char *vname, *error;
	unsigned int i;

	test_begin("coi storage mailbox root invalid");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		test_user_init(tests[i].prefix, tests[i].sep, NULL);
		error = NULL;
		test_assert_idx(coi_mailbox_root_resolve(ctx->user->namespaces,
				tests[i].setting, &ns, &vname, &error) < 0, i);
		test_assert_idx(error != NULL &&
				strstr(error, tests[i].error) != NULL, i);
		test_mail_storage_deinit_user(ctx);
	}
	test_end();
}

static void test_coi_storage_enable(void)
{
	const char *error;

	test_begin("coi storage enable creates and subscribes folders");
	test_user_init("", "/", NULL);
	test_assert(test_mailbox_state("COI/Chats") == -1);
	test_assert(test_mailbox_state("COI/Contacts") == -1);

	test_assert(test_attr_set(COI_ATTR_ENABLED, "yes", &error) ==
		    MAIL_ERROR_NONE);
	test_assert_strcmp(test_attr_get(COI_ATTR_ENABLED), "yes");
	test_assert(test_mailbox_state("COI/Chats") == 1);
	test_assert(test_mailbox_state("COI/Contacts") == 1);

	/* idempotent, and it repairs a lost subscription */
	enum mail_error merror;
	test_assert(test_mailbox_op("unsubscribe", "COI/Chats", NULL,
				    &merror) == 0);
	test_assert(test_mailbox_state("COI/Chats") == 0);
	test_assert(test_attr_set(COI_ATTR_ENABLED, "yes", &error) ==
		    MAIL_ERROR_NONE);
	test_assert(test_mailbox_state("COI/Chats") == 1);
	test_assert(test_mailbox_state("COI/Contacts") == 1);

	/* disabling keeps the folders */
	test_assert(test_attr_set(COI_ATTR_ENABLED, NULL, &error) ==
		    MAIL_ERROR_NONE);
	test_assert(test_attr_get(COI_ATTR_ENABLED) == NULL);
	test_assert(test_mailbox_state("COI/Chats") == 1);
	test_mail_storage_deinit_user(ctx);
	test_end();
}

static void test_coi_storage_invalid_values(void)
{
	static const struct {
		const char *key, *value, *error;
	} tests[] = {
		{ COI_ATTR_ENABLED, "true",
		  "invalid value for /private/vendor/vendor.dovecot/coi/"
		  "config/enabled: \"true\"" },
		{ COI_ATTR_ENABLED, "YES", "\"YES\"" },
		{ COI_ATTR_ENABLED, "", "\"\"" },
		{ COI_ATTR_MESSAGE_FILTER, "inactive",
		  "invalid value for /private/vendor/vendor.dovecot/coi/"
		  "config/message-filter: \"inactive\"" },
		{ COI_ATTR_MESSAGE_FILTER, "Active", "\"Active\"" },
		{ COI_ATTR_MAILBOX_ROOT, "myroot",
		  "unable to set /private/vendor/vendor.dovecot/coi/"
		  "config/mailbox-root" },
		{ COI_ATTR_MAILBOX_ROOT, NULL, "unable to set" },
	};
	const char *error;
	unsigned int i;

	test_begin("coi storage invalid METADATA values");
	test_user_init("", "/", NULL);
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		test_assert_idx(test_attr_set(tests[i].key, tests[i].value,
					      &error) == MAIL_ERROR_PARAMS, i);
		test_assert_idx(error != NULL &&
				strstr(error, tests[i].error) != NULL, i);
	}
	/* nothing was stored, nothing was created */
	test_assert(test_attr_get(COI_ATTR_ENABLED) == NULL);
	test_assert(test_attr_get(COI_ATTR_MESSAGE_FILTER) == NULL);
	test_assert_strcmp(test_attr_get(COI_ATTR_MAILBOX_ROOT), "COI");
	test_assert(test_mailbox_state("COI/Chats") == -1);
	test_mail_storage_deinit_user(ctx);
	test_end();
}

/* A user with the file attribute dict and coi_state_dict = state_dict
   (NULL: none, the state is in the attributes). */
static void test_state_user_init(const char *state_dict)
{
	const char *const extra[] = {
		t_strdup_printf("mail_attribute_dict=file:%sattributes",
				ctx->home_root),
		state_dict == NULL ? NULL :
			t_strconcat("plugin/coi_state_dict=", state_dict, NULL),
		NULL
	};
	struct test_mail_storage_settings set = {
		.driver = "maildir",
		.driver_opts = "",
		.hierarchy_sep = "/",
		.extra_input = extra,
	};

	test_mail_storage_init_user(ctx, &set);
}

/* Returns TRUE if the file holds str. */
static bool test_file_has(const char *path, const char *str)
{
	struct istream *input = i_stream_create_file(path, SIZE_MAX);
	string_t *text = t_str_new(1024);
	const unsigned char *data;
	size_t size;

	while (i_stream_read_more(input, &data, &size) > 0) {
		str_append_data(text, data, size);
		i_stream_skip(input, size);
	}
	i_stream_unref(&input);
	return strstr(str_c(text), str) != NULL;
}

static void test_coi_storage_state(void)
{
	static const struct {
		bool own_dict;
		const char *file, *thread_key;
	} layouts[] = {
		{ TRUE, "coi-state", "priv/coi/thread/5" },
		{ FALSE, "attributes", "vendor/vendor.dovecot/pvt/coi/thread/5" },
	};
	struct coi_state_read *read;
	struct coi_state_transaction *trans;
	struct coi_state_iter *iter;
	const char *value, *error, *name;
	unsigned int i, count;

	for (i = 0; i < N_ELEMENTS(layouts); i++) {
		test_begin(t_strdup_printf("coi storage state (%s)",
					   layouts[i].file));
		test_state_user_init(!layouts[i].own_dict ? NULL :
			t_strconcat("file:", ctx->home_root, "coi-state",
				    NULL));
		test_assert_idx(test_attr_set(COI_ATTR_ENABLED, "yes",
					      &error) == MAIL_ERROR_NONE, i);

		read = coi_state_read_begin(test_cuser());
		coi_state_read_want(read, COI_STATE_CONFIG, "enabled");
		coi_state_read_want(read, COI_STATE_CONFIG, "message-filter");
		coi_state_read_want(read, COI_STATE_THREAD, "5");
		coi_state_read_fetch(read);
		test_assert_idx(coi_state_read_get(read, COI_STATE_CONFIG,
			"enabled", &value, &error) == 1 &&
			null_strcmp(value, "yes") == 0, i);
		test_assert_idx(coi_state_read_get(read, COI_STATE_CONFIG,
			"message-filter", &value, &error) == 0 &&
			value == NULL, i);

		/* a write shows in the next read, not in this one */
		trans = coi_state_transaction_begin(test_cuser());
		coi_state_set(trans, COI_STATE_THREAD, "5", "1 x");
		coi_state_transaction_commit_async(&trans);
		test_assert_idx(coi_state_read_get(read, COI_STATE_THREAD,
			"5", &value, &error) == 0, i);
		coi_state_read_end(&read);
		test_assert_idx(coi_state_lookup(test_cuser(),
			COI_STATE_THREAD, "5", &value, &error) == 1 &&
			null_strcmp(value, "1 x") == 0, i);

		/* listing: one level, names only */
		test_assert_idx(test_attr_set(COI_ATTR_BLOCKED_PREFIX
			"a@example.org", "yes", &error) == MAIL_ERROR_NONE, i);
		test_assert_idx(test_attr_set(COI_ATTR_BLOCKED_PREFIX
			"@example.net", "yes", &error) == MAIL_ERROR_NONE, i);
		count = 0;
		iter = coi_state_iter_init(test_cuser(), COI_STATE_BLOCKED);
		while ((name = coi_state_iter_next(iter)) != NULL) {
			test_assert_idx(strcmp(name, "a@example.org") == 0 ||
					strcmp(name, "@example.net") == 0, i);
			count++;
		}
		test_assert_idx(coi_state_iter_deinit(&iter, &error) == 0, i);
		test_assert_idx(count == 2, i);
		test_mail_storage_deinit_user(ctx);

		/* where it went: the layout of coi-state.h */
		test_assert_idx(test_file_has(t_strconcat(ctx->home_root,
			layouts[i].file, NULL), layouts[i].thread_key), i);
		test_end();
	}
}

/* A state dict that cannot be opened fails reads, listings and writes
   with an error that does not name the key. */
static void test_coi_storage_state_broken(void)
{
	struct coi_state_transaction *trans;
	struct coi_state_read *read;
	const char *value, *error;

	test_begin("coi storage state broken");
	test_state_user_init("proxy:/nonexistent/socket:coi");
	read = coi_state_read_begin(test_cuser());
	coi_state_read_want(read, COI_STATE_BLOCKED, "secret@example.org");
	coi_state_read_fetch(read);
	test_assert(coi_state_read_get(read, COI_STATE_BLOCKED,
		"secret@example.org", &value, &error) == -1);
	test_assert(strstr(error, "secret") == NULL);
	coi_state_read_end(&read);
	trans = coi_state_transaction_begin(test_cuser());
	coi_state_set(trans, COI_STATE_BLOCKED, "secret@example.org", "yes");
	test_assert(coi_state_transaction_commit(&trans, &error) == -1);
	test_assert(strstr(error, "secret") == NULL);
	test_mail_storage_deinit_user(ctx);
	test_end();
}

static void test_coi_storage_config_read(void)
{
	struct coi_config config;
	const char *error;

	test_begin("coi storage config read");
	test_user_init("", "/", NULL);
	test_assert(coi_config_read(test_cuser(), &config, &error) == 0);
	test_assert(!config.enabled);
	test_assert(config.filter == COI_MESSAGE_FILTER_NONE);

	test_assert(test_attr_set(COI_ATTR_ENABLED, "yes", &error) ==
		    MAIL_ERROR_NONE);
	test_assert(test_attr_set(COI_ATTR_MESSAGE_FILTER, "seen", &error) ==
		    MAIL_ERROR_NONE);
	test_assert(coi_config_read(test_cuser(), &config, &error) == 0);
	test_assert(config.enabled);
	test_assert(config.filter == COI_MESSAGE_FILTER_SEEN);

	/* NIL means none */
	test_assert(test_attr_set(COI_ATTR_MESSAGE_FILTER, NULL, &error) ==
		    MAIL_ERROR_NONE);
	test_assert(coi_config_read(test_cuser(), &config, &error) == 0);
	test_assert(config.filter == COI_MESSAGE_FILTER_NONE);
	test_mail_storage_deinit_user(ctx);

	/* a filter alone creates Chats (server spec) without enabling */
	test_user_init("", "/", NULL);
	test_assert(test_attr_set(COI_ATTR_MESSAGE_FILTER, "active", &error) ==
		    MAIL_ERROR_NONE);
	test_assert(test_mailbox_state("COI/Chats") == 1);
	test_assert(test_attr_get(COI_ATTR_ENABLED) == NULL);
	test_mail_storage_deinit_user(ctx);
	test_end();
}

static void test_coi_storage_indirect(void)
{
	enum mail_error error;

	test_begin("coi storage indirect enable and disable");
	test_user_init("", "/", NULL);

	/* CREATE Chats enables, and brings Contacts along */
	test_assert(test_mailbox_op("create", "COI/Chats", NULL, &error) == 0);
	test_assert_strcmp(test_attr_get(COI_ATTR_ENABLED), "yes");
	test_assert(test_mailbox_state("COI/Chats") == 1);
	test_assert(test_mailbox_state("COI/Contacts") == 1);

	/* other folders change nothing */
	test_assert(test_mailbox_op("create", "COI/Other", NULL, &error) == 0);
	test_assert(test_mailbox_op("delete", "COI/Other", NULL, &error) == 0);
	test_assert(test_mailbox_op("delete", "COI/Contacts", NULL,
				    &error) == 0);
	test_assert_strcmp(test_attr_get(COI_ATTR_ENABLED), "yes");

	/* DELETE Chats disables, and nothing brings it back */
	test_assert(test_mailbox_op("delete", "COI/Chats", NULL, &error) == 0);
	test_assert(test_attr_get(COI_ATTR_ENABLED) == NULL);
	test_assert(test_mailbox_state("COI/Chats") == -1);
	test_assert(test_mailbox_state("COI/Contacts") == -1);

	/* RENAME onto Chats enables */
	test_assert(test_mailbox_op("create", "Old", NULL, &error) == 0);
	test_assert(test_mailbox_op("rename", "Old", "COI/Chats", &error) == 0);
	test_assert_strcmp(test_attr_get(COI_ATTR_ENABLED), "yes");
	test_assert(test_mailbox_state("COI/Chats") == 1);

	/* RENAME of Chats, or of its parent, anywhere but the Trash: NO */
	test_assert(test_mailbox_op("rename", "COI/Chats", "Elsewhere",
				    &error) < 0);
	test_assert(error == MAIL_ERROR_NOTPOSSIBLE);
	test_assert(test_mailbox_op("rename", "COI", "COI2", &error) < 0);
	test_assert(error == MAIL_ERROR_NOTPOSSIBLE);
	test_assert(test_mailbox_op("rename", "COI/Chats", "Trash", &error) < 0);
	test_assert(error == MAIL_ERROR_NOTPOSSIBLE);
	test_assert(test_mailbox_state("COI/Chats") == 1);
	test_assert_strcmp(test_attr_get(COI_ATTR_ENABLED), "yes");

	/* RENAME into the \Trash special-use mailbox disables */
	test_assert(test_mailbox_op("create", "Trash", NULL, &error) == 0);
	test_assert(test_mailbox_op("rename", "COI/Chats", "Trash/Chats",
				    &error) == 0);
	test_assert(test_attr_get(COI_ATTR_ENABLED) == NULL);
	test_assert(test_mailbox_state("COI/Chats") == -1);
	test_assert(test_mailbox_state("Trash/Chats") >= 0);
	test_mail_storage_deinit_user(ctx);
	test_end();
}

/* Found by fuzz-coi-headers: the delivery's one-pass header read must
   give the values lib-storage gives (a NUL is U+FFFD there, not the end
   of the value). Folded lines become one, which the parsers read alike. */
static void test_coi_storage_deliver_headers(void)
{
	static const char msg[] =
		"Message-ID: <chat$a\0b@example.org>\n"
		"References: <r1@example.org>\n\t<r2@example.org>\n"
		"From: Alice <alice\0@example.org>\n"
		"\n"
		"body\n";
	struct mailbox_transaction_context *t;
	struct mail_save_context *save;
	struct coi_detect_headers headers;
	struct istream *input;
	struct mailbox *box;
	struct mail *mail;
	const char *value;

	test_begin("coi deliver headers like lib-storage");
	test_user_init("", "/", NULL);
	box = test_box("INBOX");
	test_assert(mailbox_open(box) == 0);
	t = mailbox_transaction_begin(box, MAILBOX_TRANSACTION_FLAG_EXTERNAL,
				      __func__);
	save = mailbox_save_alloc(t);
	input = i_stream_create_from_data(msg, sizeof(msg) - 1);
	test_assert(mailbox_save_begin(&save, input) == 0);
	do {
		test_assert(mailbox_save_continue(save) == 0);
	} while (i_stream_read(input) > 0);
	test_assert(mailbox_save_finish(&save) == 0);
	test_assert(mailbox_transaction_commit(&t) == 0);
	i_stream_unref(&input);

	test_assert(mailbox_sync(box, 0) == 0);
	t = mailbox_transaction_begin(box, 0, __func__);
	mail = mail_alloc(t, 0, NULL);
	mail_set_seq(mail, 1);
	test_assert(coi_deliver_get_headers(mail, &headers) == 0);
	test_assert_strcmp(headers.message_id,
			   "<chat$a"UNICODE_REPLACEMENT_CHAR_UTF8"b@example.org>");
	test_assert(mail_get_first_header(mail, "Message-ID", &value) > 0);
	test_assert_strcmp(headers.message_id, value);
	test_assert_strcmp(headers.references,
			   "<r1@example.org> <r2@example.org>");
	test_assert_strcmp(headers.from,
		"Alice <alice"UNICODE_REPLACEMENT_CHAR_UTF8"@example.org>");
	test_assert(headers.chat_version == NULL &&
		    headers.in_reply_to == NULL);
	mail_free(&mail);
	mailbox_transaction_rollback(&t);
	mailbox_free(&box);
	test_mail_storage_deinit_user(ctx);
	test_end();
}

/* Save a chat message (with $Chat) into box; returns its UID. */
static uint32_t test_save_chat(struct mailbox *box, const char *msgid)
{
	static const char *const chat_keyword[] = { COI_KEYWORD_CHAT, NULL };
	struct mailbox_transaction_context *t;
	struct mail_transaction_commit_changes changes;
	struct mail_save_context *save;
	struct mail_keywords *kw;
	struct istream *input;
	const char *data;
	uint32_t uid = 0;

	data = t_strdup_printf("Message-ID: <%s>\r\nChat-Version: 1.0\r\n"
			       "\r\nhello\r\n", msgid);
	input = i_stream_create_from_data(data, strlen(data));
	t = mailbox_transaction_begin(box, MAILBOX_TRANSACTION_FLAG_EXTERNAL |
				      MAILBOX_TRANSACTION_FLAG_ASSIGN_UIDS,
				      __func__);
	kw = mailbox_keywords_create_valid(box, chat_keyword);
	save = mailbox_save_alloc(t);
	mailbox_save_set_flags(save, 0, kw);
	test_assert(mailbox_save_begin(&save, input) == 0);
	do {
		test_assert(mailbox_save_continue(save) == 0);
	} while (i_stream_read(input) > 0);
	test_assert(mailbox_save_finish(&save) == 0);
	mailbox_keywords_unref(&kw);
	i_stream_unref(&input);
	test_assert(mailbox_transaction_commit_get_changes(&t, &changes) == 0);
	if (array_count(&changes.saved_uids) > 0) {
		const struct seq_range *range =
			array_front(&changes.saved_uids);
		uid = range->seq1;
	}
	pool_unref(&changes.pool);
	return uid;
}

static unsigned int test_messages(struct mailbox *box)
{
	struct mailbox_status status;

	test_assert(mailbox_sync(box, 0) == 0);
	mailbox_get_open_status(box, STATUS_MESSAGES, &status);
	return status.messages;
}

static void test_coi_storage_seen_move_recovery(void)
{
	struct mailbox *inbox, *chats;
	struct mailbox_transaction_context *t, *src_t;
	struct mail_save_context *save;
	struct mailbox_status status;
	struct mail *mail;
	const char *error, *guid, *dir, *journal, *data;
	uint32_t copied_uid, uncopied_uid, seen_uid;
	int fd;

	test_begin("coi storage seen move completes an interrupted one");
	test_user_init("", "/", NULL);
	test_assert(test_attr_set(COI_ATTR_ENABLED, "yes", &error) ==
		    MAIL_ERROR_NONE);
	test_assert(test_attr_set(COI_ATTR_MESSAGE_FILTER, "seen", &error) ==
		    MAIL_ERROR_NONE);
	inbox = test_box("INBOX");
	chats = test_box("COI/Chats");
	test_assert(mailbox_open(inbox) == 0 && mailbox_open(chats) == 0);
	copied_uid = test_save_chat(inbox, "copied@example.org");
	uncopied_uid = test_save_chat(inbox, "uncopied@example.org");
	seen_uid = test_save_chat(inbox, "seen@example.org");

	/* A move killed after committing its copy of copied_uid, before the
	   expunge: the copy is in Chats, the journal names both messages it
	   was moving (uncopied_uid's copy never got committed). */
	test_assert(mailbox_sync(inbox, 0) == 0);
	test_assert(mailbox_sync(chats, 0) == 0);
	mailbox_get_open_status(chats, STATUS_UIDVALIDITY | STATUS_UIDNEXT,
				&status);
	src_t = mailbox_transaction_begin(inbox, 0, __func__);
	t = mailbox_transaction_begin(chats, MAILBOX_TRANSACTION_FLAG_EXTERNAL,
				      __func__);
	mail = mail_alloc(src_t, 0, NULL);
	test_assert(mail_set_uid(mail, copied_uid));
	test_assert(mail_get_special(mail, MAIL_FETCH_GUID, &guid) == 0);
	guid = t_strdup(guid);
	save = mailbox_save_alloc(t);
	mailbox_save_copy_flags(save, mail);
	test_assert(mailbox_copy(&save, mail) == 0);
	mail_free(&mail);
	test_assert(mailbox_transaction_commit(&t) == 0);
	mailbox_transaction_rollback(&src_t);

	test_assert(mailbox_get_path_to(inbox, MAILBOX_LIST_PATH_TYPE_INDEX,
					&dir) > 0);
	journal = t_strconcat(dir, "/" COI_SEEN_JOURNAL_FNAME, NULL);
	/* with a line that is no entry, and a last one cut short */
	data = t_strdup_printf("%u %u\n%u %s\nnot an entry\n%u 0123abcd\n%u",
			       status.uidvalidity, status.uidnext, copied_uid,
			       guid, uncopied_uid, seen_uid);
	fd = open(journal, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	test_assert(fd != -1);
	test_assert(write_full(fd, data, strlen(data)) == 0);
	i_close_fd(&fd);
	test_assert(test_messages(inbox) == 3 && test_messages(chats) == 1);

	/* the next seen move, for another message */
	test_expect_error_string("An interrupted move had copied 1 seen chat");
	t = mailbox_transaction_begin(inbox, 0, __func__);
	mail = mail_alloc(t, 0, NULL);
	test_assert(mail_set_uid(mail, seen_uid));
	mail_update_flags(mail, MODIFY_ADD, MAIL_SEEN);
	mail_free(&mail);
	test_assert(mailbox_transaction_commit(&t) == 0);
	test_expect_no_more_errors();

	/* copied_uid is expunged, uncopied_uid stays, seen_uid moved */
	test_assert(test_messages(chats) == 2);
	test_assert(test_messages(inbox) == 1);
	t = mailbox_transaction_begin(inbox, 0, __func__);
	mail = mail_alloc(t, 0, NULL);
	test_assert(mail_set_uid(mail, uncopied_uid));
	mail_free(&mail);
	mailbox_transaction_rollback(&t);
	test_assert(access(journal, F_OK) < 0 && errno == ENOENT);

	mailbox_free(&chats);
	mailbox_free(&inbox);
	test_mail_storage_deinit_user(ctx);
	test_end();
}

/* The snapshot in the user's (real) mailbox list index: stored only for
   the generation it was read at, gone after an invalidation, of one
   source only; values that do not fit or do not parse are refused. */
static void test_coi_storage_snapshot(void)
{
	struct coi_snapshot snapshot, read, other;
	const char *value, *error;
	uint32_t old_generation;
	unsigned int i;

	test_begin("coi storage snapshot");
	test_state_user_init(NULL);
	test_assert(coi_snapshot_read(ctx->user, ctx->user->event, 7, &read) == 0);
	test_assert(read.generation == 0);

	i_zero(&snapshot);
	snapshot.generation = read.generation;
	snapshot.empty_kinds = 1U << COI_STATE_BLOCKED;
	test_assert(coi_snapshot_add_value(&snapshot, "enabled", "yes"));
	test_assert(coi_snapshot_add_value(&snapshot, "message-filter", ""));
	coi_snapshot_store(ctx->user, ctx->user->event, 7, &snapshot);
	test_assert(coi_snapshot_read(ctx->user, ctx->user->event, 7, &read) == 1);
	test_assert(read.empty_kinds == 1U << COI_STATE_BLOCKED);
	test_assert(coi_snapshot_value(&read, "enabled", &value) == 1 &&
		    strcmp(value, "yes") == 0);
	test_assert(coi_snapshot_value(&read, "message-filter", &value) == 1 &&
		    strcmp(value, "") == 0);
	test_assert(coi_snapshot_value(&read, "contacts-indexed",
				       &value) == 0 && value == NULL);
	/* another place's state */
	test_assert(coi_snapshot_read(ctx->user, ctx->user->event, 8, &read) == 0);

	/* invalidated: a new generation, and a snapshot read before it is
	   not stored */
	old_generation = snapshot.generation;
	test_assert(coi_snapshot_invalidate(ctx->user, &error) == 0);
	test_assert(coi_snapshot_read(ctx->user, ctx->user->event, 7, &read) == 0);
	test_assert(read.generation != old_generation);
	coi_snapshot_store(ctx->user, ctx->user->event, 7, &snapshot);
	test_assert(coi_snapshot_read(ctx->user, ctx->user->event, 7, &read) == 0);
	snapshot.generation = read.generation;
	coi_snapshot_store(ctx->user, ctx->user->event, 7, &snapshot);
	test_assert(coi_snapshot_read(ctx->user, ctx->user->event, 7, &read) == 1);
	/* another reader of the same generation, who may have seen an
	   older state, does not replace it */
	other = snapshot;
	other.empty_kinds = 0;
	coi_snapshot_store(ctx->user, ctx->user->event, 7, &other);
	test_assert(coi_snapshot_read(ctx->user, ctx->user->event, 7, &read) == 1 &&
		    read.empty_kinds == 1U << COI_STATE_BLOCKED);
	test_mail_storage_deinit_user(ctx);

	/* values: bounded, and damaged data ends the search */
	i_zero(&snapshot);
	for (i = 0; coi_snapshot_add_value(&snapshot, "name", "value"); i++) ;
	test_assert(i == COI_SNAPSHOT_VALUES_MAX / 11);
	test_assert(snapshot.values_size <= COI_SNAPSHOT_VALUES_MAX);
	i_zero(&snapshot);
	memcpy(snapshot.values, "enabled\0yes", 11);
	snapshot.values_size = 11;
	test_assert(coi_snapshot_value(&snapshot, "enabled", &value) == 0);
	snapshot.values_size = 7;
	test_assert(coi_snapshot_value(&snapshot, "enabled", &value) == 0);
	test_end();
}

int main(int argc, char **argv)
{
	static void (*const test_functions[])(void) = {
		test_coi_storage_root,
		test_coi_storage_root_invalid,
		test_coi_storage_enable,
		test_coi_storage_invalid_values,
		test_coi_storage_config_read,
		test_coi_storage_state,
		test_coi_storage_state_broken,
		test_coi_storage_snapshot,
		test_coi_storage_indirect,
		test_coi_storage_deliver_headers,
		test_coi_storage_seen_move_recovery,
		NULL
	};
	int ret;

	master_service = master_service_init("test-coi-storage",
		MASTER_SERVICE_FLAG_STANDALONE |
		MASTER_SERVICE_FLAG_DONT_SEND_STATS |
		MASTER_SERVICE_FLAG_NO_CONFIG_SETTINGS |
		MASTER_SERVICE_FLAG_NO_SSL_INIT |
		MASTER_SERVICE_FLAG_NO_INIT_DATASTACK_FRAME,
		&argc, &argv, "");
	ctx = test_mail_storage_init();
	coi_storage_init(NULL, COI_STORAGE_FLAG_CLIENT);

	ret = test_run(test_functions);

	coi_storage_deinit();
	test_mail_storage_deinit(&ctx);
	master_service_deinit(&master_service);
	return ret;
}
