/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "test-common.h"
#include "coi-settings.h"
#include "coi-detect.h"
#include "coi-address.h"
#include "coi-thread.h"

#define NOW 1000000
#define AGE 3600

static void
test_people(const char *from, const char *to, const char *cc,
	    struct coi_thread_people *people_r)
{
	struct coi_detect_headers headers;

	i_zero(&headers);
	headers.from = from;
	headers.to = to;
	headers.cc = cc;
	coi_thread_people_get(&headers, people_r);
}

static const char *h(const char *address)
{
	return coi_thread_address_hash(address);
}

/* The value as the versions before participants wrote it. */
static const char *test_legacy_value(const char *value)
{
	const char *const *fields = t_strsplit(value, " ");

	return t_strdup_printf("%s %s", fields[0], fields[1]);
}

static void test_coi_thread_people(void)
{
	static const struct {
		const char *from, *to, *cc;
		const char *writer;
		/* the participants, space-separated */
		const char *participants;
	} tests[] = {
		{ "Alice <Alice@Example.ORG>", "bob@x", NULL,
		  "alice@example.org", "bob@x" },
		/* Delta Chat hides the recipients */
		{ "a@x", "\"hidden-recipients\": ;", NULL, "a@x", "" },
		/* the writer is not repeated, duplicates count once */
		{ "a@x", "a@x, b@x", "b@x, c@x", "a@x", "b@x c@x" },
		/* no From address: no writer, the others still count */
		{ NULL, "b@x", NULL, NULL, "b@x" },
		{ "undisclosed-recipients: ;", "b@x", NULL, NULL, "b@x" },
		/* at most COI_THREAD_MAX_PARTICIPANTS */
		{ "a@x", "1@x, 2@x, 3@x, 4@x, 5@x, 6@x, 7@x, 8@x, 9@x",
		  "10@x", "a@x", "1@x 2@x 3@x 4@x 5@x 6@x 7@x 8@x" },
	};
	struct coi_thread_people people;
	const char *const *expected, *got;
	unsigned int i, j;

	test_begin("coi thread people");
	for (i = 0; i < N_ELEMENTS(tests); i++) T_BEGIN {
		test_people(tests[i].from, tests[i].to, tests[i].cc, &people);
		test_assert_idx(tests[i].writer == NULL ?
				people.writer == NULL :
				null_strcmp(people.writer,
					    h(tests[i].writer)) == 0, i);
		test_assert_idx(array_count(&people.senders) ==
				(tests[i].writer == NULL ? 0U : 1U), i);
		expected = t_strsplit_spaces(tests[i].participants, " ");
		test_assert_idx(array_count(&people.participants) ==
				str_array_length(expected), i);
		for (j = 0; expected[j] != NULL &&
			    j < array_count(&people.participants); j++) {
			got = array_idx_elem(&people.participants, j);
			test_assert_idx(strcmp(got, h(expected[j])) == 0, i);
		}
	} T_END;
	test_end();
}

static void test_coi_thread_slot(void)
{
	struct coi_settings set;
	struct coi_thread_people people;
	const char *value, *const *fields;

	test_begin("coi thread slot and value format");
	i_zero(&set);
	set.thread_index_size = 1000;
	/* a slot number below the size, the same for the same id */
	value = coi_thread_slot(&set, "a@x");
	test_assert(value[0] >= '0' && value[0] <= '9' && strlen(value) <= 3);
	test_assert_strcmp(value, coi_thread_slot(&set, "a@x"));
	/* a table of one slot: every id shares it */
	set.thread_index_size = 1;
	test_assert_strcmp(coi_thread_slot(&set, "a@x"), "0");
	test_assert_strcmp(coi_thread_slot(&set, "b@x"), "0");

	/* "<time> <id hash> <writer> <participant> ..." */
	test_people("a@x", "b@x, c@x", NULL, &people);
	value = coi_thread_value("id@x", NOW, &people);
	fields = t_strsplit(value, " ");
	test_assert(str_array_length(fields) == 5);
	test_assert_strcmp(fields[0], "1000000");
	test_assert(strlen(fields[1]) == 32);
	test_assert_strcmp(fields[2], h("a@x"));
	test_assert_strcmp(fields[3], h("b@x"));
	test_assert_strcmp(fields[4], h("c@x"));
	/* bounded: nine hashes at most */
	test_people("a@x", "1@x, 2@x, 3@x, 4@x, 5@x, 6@x, 7@x, 8@x, 9@x",
		    "10@x, 11@x", &people);
	test_assert(strlen(coi_thread_value("id@x", NOW, &people)) < 200);
	/* no writer */
	test_people(NULL, "b@x", NULL, &people);
	fields = t_strsplit(coi_thread_value("id@x", NOW, &people), " ");
	test_assert_strcmp(fields[2], "-");
	test_end();
}

static void test_coi_thread_matches(void)
{
	struct coi_thread_people chat, reply;
	const char *value, *old;
	const struct {
		const char *reply_from;
		bool is_peer;
		time_t now;
		unsigned int max_age;
		bool old_format;
		const char *id;
		bool expected;
	} tests[] = {
		/* the writer, a participant */
		{ "a@x", FALSE, NOW, AGE, FALSE, "id@x", TRUE },
		{ "b@x", FALSE, NOW, AGE, FALSE, "id@x", TRUE },
		{ "Bob <B@X>", FALSE, NOW, AGE, FALSE, "id@x", TRUE },
		/* a third party */
		{ "z@x", FALSE, NOW, AGE, FALSE, "id@x", FALSE },
		{ NULL, FALSE, NOW, AGE, FALSE, "id@x", FALSE },
		/* ... unless it is a peer */
		{ "z@x", TRUE, NOW, AGE, FALSE, "id@x", TRUE },
		/* an old value counts for peers only */
		{ "a@x", FALSE, NOW, AGE, TRUE, "id@x", FALSE },
		{ "z@x", TRUE, NOW, AGE, TRUE, "id@x", TRUE },
		/* the age limit, none, and a clock that went back */
		{ "a@x", FALSE, NOW + AGE, AGE, FALSE, "id@x", TRUE },
		{ "a@x", TRUE, NOW + AGE + 1, AGE, FALSE, "id@x", FALSE },
		{ "a@x", FALSE, NOW * 9, 0, FALSE, "id@x", TRUE },
		{ "a@x", FALSE, 10, AGE, FALSE, "id@x", TRUE },
		/* another id in the same slot */
		{ "a@x", TRUE, NOW, AGE, FALSE, "other@x", FALSE },
		{ "a@x", TRUE, NOW, AGE, TRUE, "other@x", FALSE },
	};
	static const char *const garbage[] = {
		"", "12", "x y", "99999999999999999999999 y", "1  ",
		"1 0123456789abcdef0123456789abcdef",
	};
	unsigned int i;

	test_begin("coi thread entries: who a reply may come from");
	test_people("a@x", "\"hidden-recipients\": ;", "b@x", &chat);
	value = coi_thread_value("id@x", NOW, &chat);
	/* the format before participants: "<time> <id hash>" */
	old = test_legacy_value(value);
	test_assert(strlen(old) == 7 + 1 + 32);
	for (i = 0; i < N_ELEMENTS(tests); i++) T_BEGIN {
		test_people(tests[i].reply_from, NULL, NULL, &reply);
		test_assert_idx(coi_thread_entry_matches(
			tests[i].old_format ? old : value, tests[i].id,
			tests[i].now, tests[i].max_age, &reply,
			tests[i].is_peer) == tests[i].expected, i);
	} T_END;
	test_people("a@x", NULL, NULL, &reply);
	test_assert(!coi_thread_entry_matches(NULL, "id@x", NOW, 0, &reply,
					      TRUE));
	for (i = 0; i < N_ELEMENTS(garbage); i++) {
		test_assert_idx(!coi_thread_entry_matches(garbage[i], "id@x",
			NOW, 0, &reply, TRUE), i);
		test_assert_idx(!coi_thread_entry_is_id(garbage[i], "id@x",
							NOW, 0), i);
	}
	test_end();
}

static void test_coi_thread_peer(void)
{
	static const struct {
		const char *value;
		bool ok;
		uintmax_t last_chat;
		unsigned int count;
		uintmax_t window_start;
	} tests[] = {
		{ "5 2 3", TRUE, 5, 2, 3 },
		{ "0 0 0", TRUE, 0, 0, 0 },
		{ NULL, FALSE, 0, 0, 0 },
		{ "", FALSE, 0, 0, 0 },
		{ "5 2", FALSE, 0, 0, 0 },
		{ "5 2 3 4", FALSE, 0, 0, 0 },
		{ "5 x 3", FALSE, 0, 0, 0 },
		{ "5 99999999999 3", FALSE, 0, 0, 0 },
	};
	struct coi_thread_peer peer;
	unsigned int i;

	test_begin("coi thread peer records");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		test_assert_idx(coi_thread_peer_parse(tests[i].value, &peer) ==
				tests[i].ok, i);
		test_assert_idx(peer.last_chat == tests[i].last_chat &&
				peer.count == tests[i].count &&
				peer.window_start == tests[i].window_start, i);
		if (tests[i].ok) T_BEGIN {
			test_assert_idx(strcmp(coi_thread_peer_value(&peer),
					       tests[i].value) == 0, i);
		} T_END;
	}
	/* a peer for max_age after its last chat; "never" is no peer */
	peer.last_chat = NOW;
	test_assert(coi_thread_peer_is_live(&peer, NOW + AGE, AGE));
	test_assert(!coi_thread_peer_is_live(&peer, NOW + AGE + 1, AGE));
	test_assert(coi_thread_peer_is_live(&peer, NOW * 9, 0));
	peer.last_chat = 0;
	test_assert(!coi_thread_peer_is_live(&peer, NOW, 0));
	test_end();
}

static void test_coi_thread_share(void)
{
	static const struct {
		unsigned int size, share;
	} shares[] = {
		{ 1, 1 }, { 15, 1 }, { 16, 1 }, { 32, 2 }, { 64, 4 },
		{ 1000, 62 }, { 1000000, 62500 },
	};
	/* size 64 (a share of 4), max_age AGE: one sender's slot writes */
	static const struct {
		time_t now;
		bool taken;
		unsigned int count;
	} takes[] = {
		{ NOW, TRUE, 1 }, { NOW, TRUE, 2 }, { NOW + 1, TRUE, 3 },
		{ NOW + 2, TRUE, 4 },
		/* the share of the window is used */
		{ NOW + 3, FALSE, 4 }, { NOW + AGE - 1, FALSE, 4 },
		/* a clock that went back stays in the window */
		{ 10, FALSE, 4 },
		/* a new window */
		{ NOW + AGE, TRUE, 1 },
	};
	struct coi_settings set;
	struct coi_thread_peer peer;
	unsigned int i;

	test_begin("coi thread share of one sender");
	i_zero(&set);
	for (i = 0; i < N_ELEMENTS(shares); i++) {
		set.thread_index_size = shares[i].size;
		test_assert_idx(coi_thread_share(&set) == shares[i].share, i);
	}
	set.thread_index_size = 64;
	set.thread_index_max_age_secs = AGE;
	i_zero(&peer);
	for (i = 0; i < N_ELEMENTS(takes); i++) {
		test_assert_idx(coi_thread_share_take(&set, &peer,
				takes[i].now) == takes[i].taken, i);
		test_assert_idx(peer.count == takes[i].count, i);
	}
	test_assert(peer.window_start == NOW + AGE);
	/* entries that never expire: the window is 90 days */
	set.thread_index_max_age_secs = 0;
	i_zero(&peer);
	for (i = 0; i < 4; i++)
		test_assert_idx(coi_thread_share_take(&set, &peer, NOW), i);
	test_assert(!coi_thread_share_take(&set, &peer,
		NOW + COI_THREAD_SHARE_WINDOW_FOREVER - 1));
	test_assert(coi_thread_share_take(&set, &peer,
		NOW + COI_THREAD_SHARE_WINDOW_FOREVER));
	test_end();
}

static void test_coi_thread_add_decide(void)
{
	struct coi_settings set;
	struct coi_thread_people alice, mallory, nobody;
	struct coi_thread_peer peer;
	const char *alice_id, *value;
	enum {
		OLD_NONE, OLD_ALICE_ID, OLD_ALICE_OTHER, OLD_ALICE_EXPIRED,
		OLD_LEGACY_ID,
	};
	const struct {
		int old;
		struct coi_thread_people *people;
		enum coi_thread_source source;
		/* slots the writer wrote in this window before */
		unsigned int count;
		enum coi_thread_add_result result;
		unsigned int count_after;
	} tests[] = {
		{ OLD_NONE, &mallory, COI_THREAD_SOURCE_CHAT, 0,
		  COI_THREAD_ADD_WRITE, 1 },
		{ OLD_NONE, &mallory, COI_THREAD_SOURCE_REPLY, 3,
		  COI_THREAD_ADD_WRITE, 4 },
		/* the share used: nothing is written, empty slot or not */
		{ OLD_NONE, &mallory, COI_THREAD_SOURCE_CHAT, 4,
		  COI_THREAD_ADD_SHARE_USED, 4 },
		{ OLD_ALICE_OTHER, &mallory, COI_THREAD_SOURCE_CHAT, 4,
		  COI_THREAD_ADD_SHARE_USED, 4 },
		/* a remembered id is never taken over */
		{ OLD_ALICE_ID, &mallory, COI_THREAD_SOURCE_CHAT, 0,
		  COI_THREAD_ADD_KNOWN, 0 },
		{ OLD_ALICE_ID, &alice, COI_THREAD_SOURCE_CHAT, 0,
		  COI_THREAD_ADD_KNOWN, 0 },
		{ OLD_LEGACY_ID, &mallory, COI_THREAD_SOURCE_CHAT, 0,
		  COI_THREAD_ADD_KNOWN, 0 },
		{ OLD_ALICE_ID, &nobody, COI_THREAD_SOURCE_OWN, 0,
		  COI_THREAD_ADD_KNOWN, 0 },
		/* ... unless it expired */
		{ OLD_ALICE_EXPIRED, &mallory, COI_THREAD_SOURCE_CHAT, 0,
		  COI_THREAD_ADD_WRITE, 1 },
		/* one's own entry is replaced for free */
		{ OLD_ALICE_OTHER, &alice, COI_THREAD_SOURCE_CHAT, 4,
		  COI_THREAD_ADD_WRITE, 4 },
		{ OLD_ALICE_EXPIRED, &alice, COI_THREAD_SOURCE_CHAT, 4,
		  COI_THREAD_ADD_WRITE, 4 },
		/* the user's own chat has no share */
		{ OLD_ALICE_OTHER, &nobody, COI_THREAD_SOURCE_OWN, 4,
		  COI_THREAD_ADD_WRITE, 4 },
		/* a delivered chat needs a writer */
		{ OLD_NONE, &nobody, COI_THREAD_SOURCE_CHAT, 0,
		  COI_THREAD_ADD_NO_WRITER, 0 },
	};
	const char *olds[5];
	unsigned int i;

	test_begin("coi thread add: takeover and share");
	i_zero(&set);
	set.thread_index_size = 64;
	set.thread_index_max_age_secs = AGE;
	test_people("alice@x", "user@x", NULL, &alice);
	test_people("mallory@x", "user@x", NULL, &mallory);
	test_people(NULL, "user@x", NULL, &nobody);
	alice_id = "id@x";
	olds[OLD_NONE] = NULL;
	olds[OLD_ALICE_ID] = coi_thread_value(alice_id, NOW - 1, &alice);
	olds[OLD_ALICE_OTHER] = coi_thread_value("other@x", NOW - 1, &alice);
	olds[OLD_ALICE_EXPIRED] = coi_thread_value(alice_id, NOW - AGE - 1,
						   &alice);
	olds[OLD_LEGACY_ID] = test_legacy_value(olds[OLD_ALICE_ID]);
	for (i = 0; i < N_ELEMENTS(tests); i++) T_BEGIN {
		i_zero(&peer);
		peer.count = tests[i].count;
		peer.window_start = NOW - 1;
		test_assert_idx(coi_thread_add_decide(&set,
			olds[tests[i].old], alice_id, NOW, tests[i].people,
			tests[i].source, &peer, &value) == tests[i].result, i);
		test_assert_idx((tests[i].result == COI_THREAD_ADD_WRITE) ==
				(value != NULL), i);
		test_assert_idx(peer.count == tests[i].count_after, i);
		if (value != NULL) {
			test_assert_idx(coi_thread_entry_is_id(value, alice_id,
							       NOW, AGE), i);
		}
	} T_END;
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_thread_people,
		test_coi_thread_slot,
		test_coi_thread_matches,
		test_coi_thread_peer,
		test_coi_thread_share,
		test_coi_thread_add_decide,
		NULL
	};
	int ret;

	ret = test_run(test_functions);
	coi_address_deinit();
	return ret;
}
