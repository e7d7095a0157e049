/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "str.h"
#include "istream.h"
#include "write-full.h"
#include "test-common.h"
#include "coi-policy.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#define TEST_POLICY_PATH ".test-coi-policy"
#define TEST_POLICY_BOM "\xEF\xBB\xBF"

static const char *test_fill(char c, unsigned int n)
{
	string_t *str = t_str_new(n + 1);

	while (n-- > 0)
		str_append_c(str, c);
	return str_c(str);
}

static void test_coi_policy_parse_line(void)
{
	static const struct {
		const char *line;
		int ret;
		const char *result; /* the entry, or a substring of the error */
	} tests[] = {
		{ "", 0, NULL },
		{ " \t\r", 0, NULL },
		{ "# comment", 0, NULL },
		{ "  # indented comment", 0, NULL },
		{ "Spammer@Example.ORG", 1, "spammer@example.org" },
		{ "\t@Spam.Example  ", 1, "@spam.example" },
		{ "x@y.org\r", 1, "x@y.org" },
		{ "<Someone@Example.NET>", 1, "someone@example.net" },
		{ "not an address", -1, "not an address or @domain: not an" },
		{ "a@b@c", -1, "not an address" },
		{ "x@a..b", -1, "invalid domain" },
		{ "x@y.org # not a comment", -1, "not an address" },
	};
	const char *entry, *error;
	unsigned int i;
	int ret;

	test_begin("coi policy parse line");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		entry = error = NULL;
		ret = coi_policy_parse_line(tests[i].line, &entry, &error);
		test_assert_idx(ret == tests[i].ret, i);
		if (tests[i].ret > 0)
			test_assert_strcmp_idx(entry, tests[i].result, i);
		else if (tests[i].ret < 0) {
			test_assert_idx(error != NULL &&
				strstr(error, tests[i].result) != NULL, i);
		}
	}
	/* over COI_POLICY_MAX_LINE, the limit of an address */
	ret = coi_policy_parse_line(t_strconcat("x@",
		test_fill('a', 1100), ".org", NULL), &entry, &error);
	test_assert(ret == -1 && strcmp(error, "too long") == 0);
	test_end();
}

static void test_coi_policy_parse_stream(void)
{
	static const struct {
		const char *text;
		unsigned int max_entries;
		uoff_t max_size;
		/* the error's substring, or NULL and the entries found */
		const char *error;
		const char *entries[3];
	} tests[] = {
		{ "", 10, 100, NULL, { NULL } },
		{ "# only comments\n\n", 10, 100, NULL, { NULL } },
		{ "a@b.org\n", 10, 100, NULL, { "a@b.org" } },
		{ "a@b.org", 10, 100, NULL, { "a@b.org" } },
		{ "a@b.org\r\n@C.org\r\n", 10, 100, NULL,
		  { "a@b.org", "@c.org" } },
		{ TEST_POLICY_BOM "a@b.org\n", 10, 100, NULL, { "a@b.org" } },
		{ TEST_POLICY_BOM "# comment\nc@d.org", 10, 100, NULL,
		  { "c@d.org" } },
		/* only the file's first BOM is skipped */
		{ TEST_POLICY_BOM TEST_POLICY_BOM "a@b.org\n", 10, 100, NULL,
		  { TEST_POLICY_BOM "a@b.org" } },
		{ "a@b.org\n# fine\nnot an address\n", 10, 100,
		  "policy line 3: not an address", { NULL } },
		/* a duplicate takes no memory and does not count */
		{ "a@b.org\nA@B.org\n<a@b.org>\n", 1, 100, NULL,
		  { "a@b.org" } },
		{ "a@b.org\nc@d.org\n", 2, 100, NULL, { "a@b.org", "c@d.org" } },
		{ "a@b.org\nc@d.org\n\ne@f.org\n", 2, 100,
		  "policy line 4: more than 2 entries, the limit", { NULL } },
		{ "a@b.org\nc@d.org\n", 10, 16, NULL, { "a@b.org", "c@d.org" } },
		{ "a@b.org\nc@d.org\n#\n", 10, 16,
		  "policy: more than 16 bytes, the limit", { NULL } },
	};
	HASH_TABLE_TYPE(coi_policy_entries) entries;
	struct istream *input;
	const char *error;
	unsigned int i, j;
	pool_t pool;
	int ret;

	test_begin("coi policy parse stream");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		pool = pool_alloconly_create("test policy", 1024);
		hash_table_create(&entries, pool, 0, str_hash, strcmp);
		input = test_istream_create(tests[i].text);
		i_stream_set_name(input, "policy");
		error = NULL;
		ret = coi_policy_parse_stream(input, pool, entries,
					      tests[i].max_entries,
					      tests[i].max_size, &error);
		if (tests[i].error != NULL) {
			test_assert_idx(ret == -1 && error != NULL &&
				strstr(error, tests[i].error) != NULL, i);
		} else {
			test_assert_idx(ret == 0, i);
			for (j = 0; tests[i].entries[j] != NULL; j++) {
				test_assert_idx(hash_table_lookup(entries,
					tests[i].entries[j]) != NULL, i);
			}
			test_assert_idx(hash_table_count(entries) == j, i);
		}
		i_stream_unref(&input);
		hash_table_destroy(&entries);
		pool_unref(&pool);
	}
	test_end();
}

/* Lines longer than the stream's buffer (as coi_policy_file_read() sets
   it) cannot be read whole. */
static void test_coi_policy_parse_stream_long_line(void)
{
	HASH_TABLE_TYPE(coi_policy_entries) entries;
	const char *text = t_strconcat("a@b.org\n", test_fill('x', 3000),
				       "\n", NULL);
	struct istream *input;
	const char *error;
	pool_t pool;

	test_begin("coi policy parse stream long line");
	pool = pool_alloconly_create("test policy", 1024);
	hash_table_create(&entries, pool, 0, str_hash, strcmp);
	input = test_istream_create(text);
	test_istream_set_max_buffer_size(input, 2048);
	i_stream_set_name(input, "policy");
	test_assert(coi_policy_parse_stream(input, pool, entries, 10, 10000,
					    &error) == -1);
	test_assert(str_begins(error, "read(policy) failed: Line is too long"));
	i_stream_unref(&input);
	hash_table_destroy(&entries);
	pool_unref(&pool);
	test_end();
}

static void test_policy_write(const char *text, off_t size)
{
	const char *tmp = TEST_POLICY_PATH ".tmp";
	int fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1)
		i_fatal("open(%s) failed: %m", tmp);
	if (write_full(fd, text, strlen(text)) < 0)
		i_fatal("write(%s) failed: %m", tmp);
	/* a sparse file: large, but nothing to read */
	if (size > 0 && ftruncate(fd, size) < 0)
		i_fatal("ftruncate(%s) failed: %m", tmp);
	i_close_fd(&fd);
	/* replaced, as the admin guide says: a new inode each time */
	if (rename(tmp, TEST_POLICY_PATH) < 0)
		i_fatal("rename(%s) failed: %m", tmp);
}

/* The file as deliveries read it: cached, re-read after a change, and a
   broken version logged once. */
static void test_coi_policy_check_file(void)
{
	struct coi_policy_settings set = {
		.path = TEST_POLICY_PATH, .dict_uri = "",
	};
	struct event *event = event_create(NULL);
	const char *senders[] = { "spammer@example.org", "x@other.example" };
	const char *entry, *error;

	test_begin("coi policy check file");
	test_policy_write(TEST_POLICY_BOM "spammer@example.org\n", 0);
	test_assert(coi_policy_check(event, &set, "", senders, 2,
				     &entry, &error) == 1);
	test_assert_strcmp(entry, "spammer@example.org");
	test_assert(coi_policy_check(event, &set, "", senders + 1, 1,
				     &entry, &error) == 0);

	test_policy_write("# nobody\n@other.example\n", 0);
	test_assert(coi_policy_check(event, &set, "", senders, 2,
				     &entry, &error) == 1);
	test_assert_strcmp(entry, "@other.example");

	/* over the size limit: refused without reading, once in the log */
	test_policy_write("spammer@example.org\n", COI_POLICY_MAX_SIZE + 1);
	test_expect_error_string("more than 33554432, the limit");
	test_assert(coi_policy_check(event, &set, "", senders, 2,
				     &entry, &error) == -1);
	test_assert(entry == NULL && strstr(error, "bytes, more than") != NULL);
	test_expect_no_more_errors();
	test_assert(coi_policy_check(event, &set, "", senders, 2,
				     &entry, &error) == -1);
	test_assert(strstr(error, "bytes, more than") != NULL);

	/* a missing file is logged once too, until it is back */
	i_unlink(TEST_POLICY_PATH);
	test_expect_error_string("No such file or directory");
	test_assert(coi_policy_check(event, &set, "", senders, 2,
				     &entry, &error) == -1);
	test_expect_no_more_errors();
	test_assert(coi_policy_check(event, &set, "", senders, 2,
				     &entry, &error) == -1);
	test_assert(strstr(error, "stat(") != NULL);

	test_policy_write("a@b.org\n", 0);
	test_assert(coi_policy_check(event, &set, "", senders, 2,
				     &entry, &error) == 0);
	i_unlink(TEST_POLICY_PATH);
	coi_policy_deinit();
	event_unref(&event);
	test_end();
}

/* Every candidate entry of a sender is looked up: the +detail base and both
   forms of an IDN domain too. */
static void test_coi_policy_check_candidates(void)
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
	struct coi_policy_settings set = {
		.path = TEST_POLICY_PATH, .dict_uri = "",
	};
	struct event *event = event_create(NULL);
	const char *entry, *error;
	unsigned int i;
	int ret;

	test_begin("coi policy check candidates");
	test_policy_write("Spammer@Example.ORG\n@spam.example.\n"
			  "@M\xc3\x9cNCHEN.example\n", 0);
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		ret = coi_policy_check(event, &set, "", &tests[i].sender, 1,
				       &entry, &error);
		test_assert_idx(ret == (tests[i].entry == NULL ? 0 : 1), i);
		test_assert_strcmp_idx(entry, tests[i].entry, i);
	}
	i_unlink(TEST_POLICY_PATH);
	coi_policy_deinit();
	event_unref(&event);
	test_end();
}

/* The limits the admin guide promises. */
static void test_coi_policy_limits(void)
{
	test_begin("coi policy limits");
	test_assert(COI_POLICY_MAX_ENTRIES >= 1000000);
	test_assert(COI_POLICY_MAX_SIZE >= 30 * 1000 * 1000);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_policy_parse_line,
		test_coi_policy_parse_stream,
		test_coi_policy_parse_stream_long_line,
		test_coi_policy_check_file,
		test_coi_policy_check_candidates,
		test_coi_policy_limits,
		NULL
	};
	return test_run(test_functions);
}
