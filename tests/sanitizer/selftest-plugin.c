/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* A test-only mail plugin with deliberate bugs. scripts/build-asan builds
   it with the same sanitizer flags as the real plugins, and
   tests/integration/test_sanitizer_selftest.py loads it into imap, lmtp,
   doveadm and dovecot-lda: a report from each proves that the sanitizer
   runtime is active there and that its reports reach the log directory
   the suite scans. It is never built by make nor shipped. */

#include "lib.h"
#include "mail-user.h"
#include "mail-storage-hooks.h"

#include <limits.h>

const char *coi_sanitizer_selftest_plugin_version = DOVECOT_ABI_VERSION;

void coi_sanitizer_selftest_plugin_init(struct module *module);
void coi_sanitizer_selftest_plugin_deinit(void);

static void *selftest_leaked;

static void coi_sanitizer_selftest_mail_user_created(struct mail_user *user)
{
	const char *bug =
		mail_user_plugin_getenv(user, "coi_sanitizer_selftest");
	volatile int big = INT_MAX;
	volatile unsigned int idx = 8;
	char *buf;

	if (bug == NULL)
		return;
	if (strcmp(bug, "heap-overflow") == 0) {
		/* ASan: heap-buffer-overflow, one byte past the block */
		buf = i_malloc(8);
		i_info("coi sanitizer selftest: read %d", buf[idx]);
		i_free(buf);
	} else if (strcmp(bug, "signed-overflow") == 0) {
		/* UBSan: signed integer overflow */
		i_info("coi sanitizer selftest: sum %d", big + (int)idx);
	} else if (strcmp(bug, "leak") == 0) {
		/* LeakSanitizer at exit, when detect_leaks is on */
		selftest_leaked = i_malloc(64);
		selftest_leaked = NULL;
	}
}

static struct mail_storage_hooks coi_sanitizer_selftest_hooks = {
	.mail_user_created = coi_sanitizer_selftest_mail_user_created,
};

void coi_sanitizer_selftest_plugin_init(struct module *module)
{
	mail_storage_hooks_add(module, &coi_sanitizer_selftest_hooks);
}

void coi_sanitizer_selftest_plugin_deinit(void)
{
	mail_storage_hooks_remove(&coi_sanitizer_selftest_hooks);
}
