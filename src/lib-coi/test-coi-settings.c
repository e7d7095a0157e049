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

static void test_coi_policy_action(void)
{
	static const struct {
		const char *value;
		int ret;
		enum coi_policy_action action;
	} tests[] = {
		{ "reject", 0, COI_POLICY_ACTION_REJECT },
		{ "discard", 0, COI_POLICY_ACTION_DISCARD },
		{ "folder", 0, COI_POLICY_ACTION_FOLDER },
		{ "Reject", -1, 0 },
		{ "", -1, 0 },
	};
	enum coi_policy_action action;
	unsigned int i;

	test_begin("coi policy action");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		test_assert_idx(coi_policy_action_parse(tests[i].value,
						&action) == tests[i].ret, i);
		if (tests[i].ret == 0) {
			test_assert_idx(action == tests[i].action, i);
			test_assert_strcmp_idx(coi_policy_action_to_str(action),
					       tests[i].value, i);
		}
	}
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_mailbox_root_verify,
		test_coi_policy_action,
		NULL
	};
	return test_run(test_functions);
}
