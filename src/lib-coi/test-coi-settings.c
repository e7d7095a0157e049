/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "test-common.h"
#include "coi-settings.h"

static void test_coi_mailbox_root_verify(void)
{
	static const struct {
		const char *name;
		char sep;
		const char *error; /* substring, NULL if valid */
	} tests[] = {
		{ "COI", '/', NULL },
		{ "COI", '.', NULL },
		{ "Chat/COI", '/', NULL },
		{ "Chat.COI", '.', NULL },
		{ "Chat.COI", '/', NULL },
		{ "Ch\xc3\xa4ts", '/', NULL },
		{ "", '/', "empty" },
		{ "*", '/', "wildcard '*'" },
		{ "CO%", '/', "wildcard '%'" },
		{ "a*b", '.', "wildcard '*'" },
		{ "/COI", '/', "begins with" },
		{ ".COI", '.', "begins with" },
		{ "COI/", '/', "ends with" },
		{ "/", '/', "begins with" },
		{ "a//b", '/', "doubled" },
		{ "a..b", '.', "doubled" },
		{ "a\tb", '/', "control" },
		{ "a\x7f", '/', "control" },
		{ "\xff\xfe", '/', "UTF-8" },
		{ "\xc3", '/', "UTF-8" },
	};
	const char *error;
	unsigned int i;
	int ret;

	test_begin("coi mailbox root verify");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		error = NULL;
		ret = coi_mailbox_root_verify(tests[i].name, tests[i].sep,
					      &error);
		if (tests[i].error == NULL)
			test_assert_idx(ret == 0, i);
		else {
			test_assert_idx(ret == -1, i);
			test_assert_idx(error != NULL &&
				strstr(error, tests[i].error) != NULL, i);
		}
	}
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_mailbox_root_verify,
		NULL
	};
	return test_run(test_functions);
}
