/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "test-common.h"
#include "coi-block.h"
#include "coi-policy.h"

static void test_coi_block_entry_verify(void)
{
	static const struct {
		const char *entry;
		const char *error; /* substring, NULL if valid */
	} tests[] = {
		{ "spammer@example.org", NULL },
		{ "@example.org", NULL },
		{ "a.b+c@sub.example.org", NULL },
		{ "\xc3\xa4lice@example.org", NULL },
		{ "", "empty" },
		{ "nodomain", "not an address" },
		{ "a@b@c", "not an address" },
		{ "x@", "not an address" },
		{ "@", "not an address" },
		{ "a b@example.org", "not an address" },
		{ "a/b@example.org", "not an address" },
		{ "a*@example.org", "not an address" },
		/* found by fuzz-coi-block: normalize would change them */
		{ "<spammer@example.org>", "not an address" },
		{ "<spammer@example.org", "not an address" },
		{ "@example.org>", "not an address" },
		{ "@>", "not an address" },
		{ "@<", "not an address" },
		{ ">a@example.org", "not an address" },
		{ "a<b>c@example.org", NULL },
		{ "x@.example.org", "invalid domain" },
		{ "x@example.org.", "invalid domain" },
		{ "x@example..org", "invalid domain" },
		{ "X@example.org", "lowercase" },
		{ "x@EXAMPLE.org", "lowercase" },
		{ "\xc3\x84lice@example.org", "lowercase" },
		{ "\xff@example.org", "UTF-8" },
	};
	const char *error;
	unsigned int i;
	int ret;

	test_begin("coi block entry verify");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		error = NULL;
		ret = coi_block_entry_verify(tests[i].entry, &error);
		if (tests[i].error == NULL)
			test_assert_idx(ret == 0, i);
		else {
			test_assert_idx(ret == -1 && error != NULL &&
					strstr(error, tests[i].error) != NULL, i);
		}
	}
	test_end();
}

static void test_coi_block_entry_normalize(void)
{
	static const struct {
		const char *input, *output;
	} tests[] = {
		{ "User@Example.ORG", "user@example.org" },
		{ "<user@example.org>", "user@example.org" },
		{ "  @Example.ORG ", "@example.org" },
		{ "\xc3\x84LICE@example.org", "\xc3\xa4lice@example.org" },
		{ "nodomain", NULL },
		{ "@\xff", NULL },
	};
	unsigned int i;

	test_begin("coi block entry normalize");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		test_assert_strcmp_idx(coi_block_entry_normalize(tests[i].input),
				       tests[i].output, i);
	}
	test_end();
}

static void test_coi_block_entries(void)
{
	const char *entry, *domain;

	test_begin("coi block entries");
	coi_block_entries("a@example.org", &entry, &domain);
	test_assert_strcmp(entry, "a@example.org");
	test_assert_strcmp(domain, "@example.org");
	test_end();
}

static void test_coi_policy_parse(void)
{
	static const char *const good[] = {
		"# comment", "", "   ", "Spammer@Example.ORG",
		"\t@Spam.Example  ", "x@y.org\r", NULL
	};
	static const char *const bad_line[] = {
		"a@b.org", "# fine", "not an address", NULL
	};
	static const char *const bad_upper_domain[] = { "x@a..b", NULL };
	ARRAY_TYPE(const_string) entries;
	const char *error;
	pool_t pool = pool_alloconly_create("test", 1024);

	test_begin("coi policy parse");
	t_array_init(&entries, 8);
	test_assert(coi_policy_parse(good, pool, &entries, &error) == 0);
	test_assert(array_count(&entries) == 3);
	test_assert_strcmp(array_idx_elem(&entries, 0), "spammer@example.org");
	test_assert_strcmp(array_idx_elem(&entries, 1), "@spam.example");
	test_assert_strcmp(array_idx_elem(&entries, 2), "x@y.org");

	array_clear(&entries);
	test_assert(coi_policy_parse(bad_line, pool, &entries, &error) < 0);
	test_assert(strstr(error, "line 3:") != NULL);
	test_assert(coi_policy_parse(bad_upper_domain, pool, &entries,
				     &error) < 0);
	test_assert(strstr(error, "line 1: invalid domain") != NULL);
	test_end();
	pool_unref(&pool);
}

static void test_coi_policy_action(void)
{
	enum coi_policy_action action;

	test_begin("coi policy action");
	test_assert(coi_policy_action_parse("reject", &action) == 0 &&
		    action == COI_POLICY_ACTION_REJECT);
	test_assert(coi_policy_action_parse("discard", &action) == 0 &&
		    action == COI_POLICY_ACTION_DISCARD);
	test_assert(coi_policy_action_parse("folder", &action) == 0 &&
		    action == COI_POLICY_ACTION_FOLDER);
	test_assert(coi_policy_action_parse("Reject", &action) < 0);
	test_assert(coi_policy_action_parse("", &action) < 0);
	test_assert_strcmp(coi_policy_action_to_str(COI_POLICY_ACTION_FOLDER),
			   "folder");
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_block_entry_verify,
		test_coi_block_entry_normalize,
		test_coi_block_entries,
		test_coi_policy_parse,
		test_coi_policy_action,
		NULL
	};
	return test_run(test_functions);
}
