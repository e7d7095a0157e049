/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "test-common.h"
#include "coi-block.h"


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

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_block_entry_verify,
		test_coi_block_entry_normalize,
		test_coi_block_entries,
		NULL
	};
	return test_run(test_functions);
}
