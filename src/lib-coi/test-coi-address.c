/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "str.h"
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
		/* the root's label: the same domain */
		{ "Spammer", "Example.ORG.", "spammer@example.org" },
		{ "spammer", "example.org..", "spammer@example.org" },
		{ "spammer", ".", NULL },
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
	/* broken, as smtp_address_parse_path() leaves it */
	addr.raw = "X@Spam.Example.";
	test_assert_strcmp(coi_address_from_smtp(&addr), "x@spam.example");
	addr.raw = "";
	test_assert(coi_address_from_smtp(&addr) == NULL);
	test_end();
}

static const char *test_repeat(const char *chr, size_t count)
{
	char *str = t_malloc_no0(count + 1);

	memset(str, chr[0], count);
	str[count] = '\0';
	return str;
}

/* "a b c" for an array of strings */
static const char *test_join(const char *const *strs, unsigned int count)
{
	string_t *str = t_str_new(128);
	unsigned int i;

	for (i = 0; i < count; i++) {
		if (i > 0)
			str_append_c(str, ' ');
		str_append(str, strs[i]);
	}
	return str_c(str);
}

static void test_coi_senders(void)
{
	static const struct {
		const char *from[2];
		const char *senders;
	} tests[] = {
		{ { "spammer@example.org.", NULL }, "spammer@example.org" },
		{ { "G: spammer@example.org;", NULL }, "spammer@example.org" },
		{ { "a@good.example, Spammer <spammer@example.org>", NULL },
		  "a@good.example spammer@example.org" },
		{ { "a@good.example", "spammer@example.org" },
		  "a@good.example spammer@example.org" },
		{ { "G: a@x.example, b@y.example;, c@z.example", "H:;" },
		  "a@x.example b@y.example c@z.example" },
		{ { "A@X.example, a@x.example.", "a@x.example" },
		  "a@x.example" },
		{ { "undisclosed-recipients:;", "" }, "" },
		{ { "\xff@example.org, b@example.org", NULL },
		  "b@example.org" },
		{ { NULL, NULL }, "" },
	};
	struct coi_senders senders;
	struct smtp_address smtp;
	const char *const *addresses;
	string_t *many;
	unsigned int i, j, count;

	test_begin("coi senders");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		coi_senders_init(&senders);
		for (j = 0; j < N_ELEMENTS(tests[i].from); j++)
			coi_senders_add_from(&senders, tests[i].from[j]);
		addresses = coi_senders_get(&senders, &count);
		test_assert_strcmp_idx(test_join(addresses, count),
				       tests[i].senders, i);
	}

	/* the envelope first, deduplicated against the From */
	coi_senders_init(&senders);
	smtp_address_init(&smtp, "X", "spam.example.");
	coi_senders_add_smtp(&senders, &smtp);
	coi_senders_add_smtp(&senders, NULL);
	coi_senders_add_from(&senders, "x@spam.example, y@spam.example");
	addresses = coi_senders_get(&senders, &count);
	test_assert_strcmp(test_join(addresses, count),
			   "x@spam.example y@spam.example");

	/* bounded: the first COI_SENDERS_MAX only */
	many = t_str_new(1024);
	for (i = 0; i < COI_SENDERS_MAX + 4; i++)
		str_printfa(many, "%sa%u@example.org", i == 0 ? "" : ", ", i);
	coi_senders_init(&senders);
	coi_senders_add_from(&senders, str_c(many));
	coi_senders_add_from(&senders, "late@example.org");
	addresses = coi_senders_get(&senders, &count);
	test_assert(count == COI_SENDERS_MAX);
	test_assert_strcmp(addresses[COI_SENDERS_MAX - 1], "a15@example.org");
	test_end();
}

#define MUENCHEN_U "m\xc3\xbcnchen.example"
#define MUENCHEN_A "xn--mnchen-3ya.example"

static void test_coi_address_block_candidates(void)
{
	static const struct {
		const char *address, *candidates;
	} tests[] = {
		{ "spammer@example.org",
		  "spammer@example.org @example.org" },
		{ "spammer+tag@example.org",
		  "spammer+tag@example.org spammer@example.org @example.org" },
		{ "a+b+c@example.org", "a+b+c@example.org a@example.org "
		  "@example.org" },
		/* no base: "+tag" is not an address of anyone */
		{ "+tag@example.org", "+tag@example.org @example.org" },
		{ "@example.org", "@example.org" },
		{ "x@"MUENCHEN_A, "x@"MUENCHEN_A" @"MUENCHEN_A" "
		  "x@"MUENCHEN_U" @"MUENCHEN_U },
		{ "x@"MUENCHEN_U, "x@"MUENCHEN_U" @"MUENCHEN_U" "
		  "x@"MUENCHEN_A" @"MUENCHEN_A },
		{ "@"MUENCHEN_U, "@"MUENCHEN_U" @"MUENCHEN_A },
		{ "x+y@mail."MUENCHEN_U, "x+y@mail."MUENCHEN_U" "
		  "x@mail."MUENCHEN_U" @mail."MUENCHEN_U" "
		  "x+y@mail."MUENCHEN_A" x@mail."MUENCHEN_A" "
		  "@mail."MUENCHEN_A },
		/* not punycode: matched as it is */
		{ "x@xn--.example", "x@xn--.example @xn--.example" },
		{ "nodomain", "" },
		{ "x@", "" },
	};
	ARRAY_TYPE(const_string) entries;
	const char *const *entry, *domain, *address;
	unsigned int i, count;

	test_begin("coi address block candidates");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		t_array_init(&entries, 8);
		coi_address_block_candidates(tests[i].address, &entries);
		entry = array_get(&entries, &count);
		test_assert_strcmp_idx(test_join(entry, count),
				       tests[i].candidates, i);
	}

	/* the longest address still has its key, a longer one only its
	   domain (a From local part of 66,000 bytes must not make a key
	   longer than the dict protocol's line) */
	domain = t_strdup_printf("%s.example", test_repeat("d", 240));
	address = t_strdup_printf("%s@%s", test_repeat("l",
		COI_ADDRESS_MAX_LEN - 1 - strlen(domain)), domain);
	test_assert(strlen(address) == COI_ADDRESS_MAX_LEN);
	t_array_init(&entries, 8);
	coi_address_block_candidates(address, &entries);
	test_assert(array_count(&entries) == 2);
	array_clear(&entries);
	coi_address_block_candidates(t_strconcat("l", address, NULL),
				     &entries);
	test_assert(array_count(&entries) == 1 &&
		    strcmp(array_idx_elem(&entries, 0),
			   t_strconcat("@", domain, NULL)) == 0);
	array_clear(&entries);
	coi_address_block_candidates(t_strdup_printf("%s+x@spam.example",
		test_repeat("a", 66000)), &entries);
	test_assert(array_count(&entries) == 1 &&
		    strcmp(array_idx_elem(&entries, 0), "@spam.example") == 0);
	/* a domain no entry can name has no key at all */
	array_clear(&entries);
	coi_address_block_candidates(t_strdup_printf("a@%s.example",
		test_repeat("d", COI_DOMAIN_MAX_LEN)), &entries);
	test_assert(array_count(&entries) == 0);

	/* appends, skipping what is there */
	array_clear(&entries);
	coi_address_block_candidates("a+x@example.org", &entries);
	coi_address_block_candidates("a@example.org", &entries);
	coi_address_block_candidates("b@example.org", &entries);
	entry = array_get(&entries, &count);
	test_assert_strcmp(test_join(entry, count), "a+x@example.org "
			   "a@example.org @example.org b@example.org");
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
		test_coi_senders,
		test_coi_address_block_candidates,
		test_coi_address_deinit,
		NULL
	};
	return test_run(test_functions);
}
