/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "write-full.h"
#include "test-common.h"
#include "coi-block.h"
#include "coi-policy.h"

#include <fcntl.h>
#include <unistd.h>

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
		/* both IDNA forms are entries: senders match in both */
		{ "@xn--mnchen-3ya.example", NULL },
		{ "x@m\xc3\xbcnchen.example", NULL },
		{ "@XN--mnchen-3ya.example", "lowercase" },
		{ "spammer+tag@example.org", NULL },
		/* no sender's address normalizes to a trailing dot */
		{ "@spam.example.", "invalid domain" },
		{ "@spam.example..", "invalid domain" },
	};
	const char *error, *longest;
	unsigned int i;
	int ret;

	test_begin("coi block entry verify");
	/* RFC 5321's longest address, and one octet more */
	longest = t_strconcat(t_strndup("llllllllllllllllllllllllllllllllllll"
		"llllllllllllllllllllllllllll", 64), "@", t_strndup(
		t_strdup_printf("%0189d.example", 0), 189), NULL);
	test_assert(strlen(longest) == COI_BLOCK_ENTRY_MAX_LEN);
	test_assert(coi_block_entry_verify(longest, &error) == 0);
	test_assert(coi_block_entry_verify(t_strconcat("l", longest, NULL),
					   &error) < 0 &&
		    strstr(error, "too long") != NULL);
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
		{ "@Spam.Example.", "@spam.example" },
		{ "<Spammer@example.org.>", "spammer@example.org" },
		{ "@M\xc3\x9cNCHEN.example", "@m\xc3\xbcnchen.example" },
		{ "@.", NULL },
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
	coi_block_entries("@example.org", &entry, &domain);
	test_assert_strcmp(entry, "@example.org");
	test_assert(domain == NULL);
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

static void test_coi_policy_check(void)
{
	static const struct {
		const char *sender, *entry;
	} tests[] = {
		{ "spammer@example.org", "spammer@example.org" },
		{ "spammer+tag@example.org", "spammer@example.org" },
		{ "x@spam.example", "@spam.example" },
		{ "x@xn--mnchen-3ya.example", "@m\xc3\xbcnchen.example" },
		{ "friend@example.org", NULL },
		{ "x@sub.spam.example", NULL },
	};
	const char *policy = "Spammer@Example.ORG\n@spam.example.\n"
		"@M\xc3\x9cNCHEN.example\n";
	const char *path = ".test-coi-block-policy", *entry, *error;
	unsigned int i;
	int fd, ret;

	test_begin("coi policy check");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	test_assert(fd != -1);
	if (fd != -1) {
		test_assert(write_full(fd, policy, strlen(policy)) == 0);
		i_close_fd(&fd);
	}
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		ret = coi_policy_check(path, NULL, ".", &tests[i].sender, 1,
				       &entry, &error);
		test_assert_idx(ret == (tests[i].entry == NULL ? 0 : 1), i);
		test_assert_strcmp_idx(entry, tests[i].entry, i);
	}
	i_unlink(path);
	coi_policy_deinit();
	test_end();
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
		test_coi_policy_check,
		test_coi_policy_action,
		NULL
	};
	return test_run(test_functions);
}
