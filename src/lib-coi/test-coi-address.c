/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "test-common.h"
#include "smtp-address.h"
#include "coi-address.h"

static void test_coi_address_normalize(void)
{
	static const struct {
		const char *localpart, *domain, *output;
	} tests[] = {
		{ "alice", "example.org", "alice@example.org" },
		{ "Alice", "Example.ORG", "alice@example.org" },
		{ "\"john doe\"", "example.org", "john doe@example.org" },
		{ "\xc3\x84LICE", "EXAMPLE.ORG", "\xc3\xa4lice@example.org" },
		/* Greek, with an accented capital */
		{ "\xce\x94\xce\x9f\xce\x9a\xce\x99\xce\x9c\xce\x89",
		  "\xce\xa0\xce\x91\xce\xa1\xce\x86\xce\x94\xce\x95\xce\x99"
		  "\xce\x93\xce\x9c\xce\x91.\xce\x95\xce\x9b",
		  "\xce\xb4\xce\xbf\xce\xba\xce\xb9\xce\xbc\xce\xae@"
		  "\xcf\x80\xce\xb1\xcf\x81\xce\xac\xce\xb4\xce\xb5\xce\xb9"
		  "\xce\xb3\xce\xbc\xce\xb1.\xce\xb5\xce\xbb" },
		/* not UTF-8, no domain: nothing a client could hash */
		{ "\xff\xfe", "example.org", NULL },
		{ "alice", "\xc3", NULL },
		{ "alice", "", NULL },
		/* an '@' in the domain: "@[<" "\"e\"@x]" would split
		   differently as "@[<\"e\"@x]" (found by fuzzing) */
		{ "@[<", "\"E\"@x]", NULL },
		{ "a@b", "example.org", "a@b@example.org" },
		{ "alice", NULL, NULL },
	};
	unsigned int i;

	test_begin("coi address normalize");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		const char *output = coi_address_normalize(tests[i].localpart,
							   tests[i].domain);
		test_assert_strcmp_idx(output, tests[i].output, i);
	}
	test_end();
}

static void test_coi_address_hash(void)
{
	/* Python: hashlib.sha3_256(address.encode()).hexdigest() */
	static const struct {
		const char *input, *hash;
	} tests[] = {
		{ "alice@example.org",
		  "c40c678d0b4562282dd676a80725b000eedd59e6fd1a8bc24d737618e59d1f23" },
		{ "\xc3\xa4lice@example.org",
		  "83fff340731f7663c80a1a0f31dcf9ce9639382bf1b9381767e479f1ceb64f00" },
		{ "john doe@example.org",
		  "773685744af10051d8de8b6407ebccf6162b4965ceccdb63f69f70513a45f241" },
		{ "\xce\xb4\xce\xbf\xce\xba\xce\xb9\xce\xbc\xce\xae@"
		  "\xcf\x80\xce\xb1\xcf\x81\xce\xac\xce\xb4\xce\xb5\xce\xb9"
		  "\xce\xb3\xce\xbc\xce\xb1.\xce\xb5\xce\xbb",
		  "d71b30c5d037d710b02ef147c4e6a461c8e0a644421457e584067c19c1302156" },
	};
	const char *hash;
	unsigned int i;

	test_begin("coi address hash");
	for (i = 0; i < N_ELEMENTS(tests); i++)
		test_assert_strcmp_idx(coi_address_hash(tests[i].input),
				       tests[i].hash, i);
	/* the same address twice in a row (the last hash is kept), then
	   another one, then back */
	for (i = 0; i < N_ELEMENTS(tests) * 2; i++) {
		unsigned int j = i / 2 % 2;

		test_assert_strcmp_idx(coi_address_hash(tests[j].input),
				       tests[j].hash, i);
	}

	test_assert(coi_address_hash_parse(tests[0].hash, &hash) &&
		    strcmp(hash, tests[0].hash) == 0);
	test_assert(coi_address_hash_parse(t_str_ucase(tests[0].hash), &hash) &&
		    strcmp(hash, tests[0].hash) == 0);
	test_assert(!coi_address_hash_parse("", &hash));
	test_assert(!coi_address_hash_parse("c40c", &hash));
	test_assert(!coi_address_hash_parse(t_strconcat(tests[0].hash, "0",
							NULL), &hash));
	test_assert(!coi_address_hash_parse(t_strconcat(" ", tests[0].hash,
							NULL), &hash));
	test_assert(!coi_address_hash_parse(
		"g40c678d0b4562282dd676a80725b000eedd59e6fd1a8bc24d737618e59d1f23",
		&hash));
	test_end();
}

static void test_coi_address_from_header(void)
{
	static const struct {
		const char *input, *output;
	} tests[] = {
		{ "Alice <Alice@Example.org>", "alice@example.org" },
		{ "alice@example.org", "alice@example.org" },
		{ "\"Doe, John\" <\"john doe\"@example.org>",
		  "john doe@example.org" },
		{ "=?utf-8?q?Al=C3=AFce?= <alice@example.org>",
		  "alice@example.org" },
		{ "a@example.org, b@example.org", "a@example.org" },
		{ "undisclosed-recipients:;", NULL },
		{ "no address here", NULL },
		{ "<@>", NULL },
		{ "", NULL },
		{ "\xff <\xff@example.org>", NULL },
	};
	unsigned int i;

	test_begin("coi address from header");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		test_assert_strcmp_idx(coi_address_from_header(tests[i].input),
				       tests[i].output, i);
	}
	test_assert(coi_address_from_header(NULL) == NULL);
	test_end();
}

static void test_coi_address_from_smtp(void)
{
	struct smtp_address addr;

	test_begin("coi address from smtp");
	smtp_address_init(&addr, "Bob", "Example.ORG");
	test_assert_strcmp(coi_address_from_smtp(&addr), "bob@example.org");
	smtp_address_init(&addr, NULL, NULL);
	test_assert(coi_address_from_smtp(&addr) == NULL);
	test_assert(coi_address_from_smtp(NULL) == NULL);
	test_end();
}

static void test_coi_address_deinit(void)
{
	unsigned int i;

	/* The plugins' deinit frees the lowercasing locale and the SHA3
	   (LeakSanitizer saw the locale lost at exit); a later use sets them
	   up again. */
	test_begin("coi address deinit");
	for (i = 0; i < 2; i++) {
		test_assert_strcmp_idx(coi_address_normalize("\xc3\x84LICE",
							     "example.org"),
				       "\xc3\xa4lice@example.org", i);
		test_assert_idx(coi_address_hash("alice@example.org") != NULL,
				i);
		coi_address_deinit();
	}
	coi_address_deinit();
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_address_normalize,
		test_coi_address_hash,
		test_coi_address_from_header,
		test_coi_address_from_smtp,
		test_coi_address_deinit,
		NULL
	};
	return test_run(test_functions);
}
