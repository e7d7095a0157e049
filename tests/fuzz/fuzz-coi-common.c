/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "istream.h"
#include "path-util.h"
#include "master-service.h"
#include "mail-storage-private.h"
#include "raw-storage.h"
#include "test-mail-storage-common.h"
#include "fuzz-coi-common.h"

#include <unistd.h>

static struct test_mail_storage_ctx *fuzz_storage_ctx = NULL;
static struct mail_user *fuzz_raw_user = NULL;

char *fuzz_coi_strdup(const unsigned char *data, size_t size)
{
	return i_strndup(data, size);
}

void fuzz_coi_split(const unsigned char *data, size_t size,
		    char **first_r, char **rest_r)
{
	const unsigned char *lf = memchr(data, '\n', size);

	if (lf == NULL) {
		*first_r = fuzz_coi_strdup(data, size);
		*rest_r = i_strdup("");
	} else {
		*first_r = fuzz_coi_strdup(data, lf - data);
		*rest_r = fuzz_coi_strdup(lf + 1, size - (lf - data) - 1);
	}
}

bool fuzz_coi_is_lower_hex(const char *str, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (!((str[i] >= '0' && str[i] <= '9') ||
		      (str[i] >= 'a' && str[i] <= 'f')))
			return FALSE;
	}
	return str[i] == '\0';
}

void fuzz_coi_storage_init(void)
{
	static char *argv_buf[] = { "fuzz-coi", NULL };
	char **argv = argv_buf;
	int argc = 1;
	const char *const extra[] = {
		"namespace=inbox public",
		"namespace/inbox/prefix=INBOX.",
		"namespace/inbox/separator=.",
		"namespace/public/type=public",
		"namespace/public/prefix=Public.",
		"namespace/public/separator=.",
		"namespace/public/location=maildir:~/public",
		NULL
	};
	struct test_mail_storage_settings set = {
		.driver = "maildir",
		.driver_opts = "",
		.extra_input = extra,
	};

	if (fuzz_storage_ctx != NULL)
		return;
	master_service = master_service_init("fuzz-coi",
		MASTER_SERVICE_FLAG_STANDALONE |
		MASTER_SERVICE_FLAG_DONT_SEND_STATS |
		MASTER_SERVICE_FLAG_NO_CONFIG_SETTINGS |
		MASTER_SERVICE_FLAG_NO_SSL_INIT |
		MASTER_SERVICE_FLAG_NO_INIT_DATASTACK_FRAME,
		&argc, &argv, "");
	fuzz_storage_ctx = test_mail_storage_init();
	T_BEGIN {
		const char *cwd, *error;

		/* the user's init changes into its home: come back, so that
		   relative corpus paths keep working */
		if (t_get_working_dir(&cwd, &error) < 0)
			i_fatal("%s", error);
		test_mail_storage_init_user(fuzz_storage_ctx, &set);
		if (chdir(cwd) < 0)
			i_fatal("chdir(%s) failed: %m", cwd);
	} T_END;
	fuzz_raw_user = raw_storage_create_from_set(
		fuzz_storage_ctx->user->set_info,
		fuzz_storage_ctx->user->unexpanded_set);
}

struct mail_user *fuzz_coi_user(void)
{
	return fuzz_storage_ctx->user;
}

struct mail *fuzz_coi_mail(const unsigned char *data, size_t size)
{
	struct mailbox_transaction_context *t;
	struct mailbox *box;
	struct istream *input;
	struct mail *mail;

	input = i_stream_create_from_data(data, size);
	i_stream_set_name(input, "(fuzz input)");
	if (raw_mailbox_alloc_stream(fuzz_raw_user, input, (time_t)-1,
				     "sender@example.org", &box) < 0) {
		i_panic("Can't open the fuzz input as a mail: %s",
			mailbox_get_last_internal_error(box, NULL));
	}
	i_stream_unref(&input);
	t = mailbox_transaction_begin(box, 0, __func__);
	mail = mail_alloc(t, 0, NULL);
	mail_set_seq(mail, 1);
	return mail;
}

void fuzz_coi_mail_free(struct mail **_mail)
{
	struct mail *mail = *_mail;
	struct mailbox_transaction_context *t = mail->transaction;
	struct mailbox *box = mail->box;

	*_mail = NULL;
	mail_free(&mail);
	mailbox_transaction_rollback(&t);
	mailbox_free(&box);
}
