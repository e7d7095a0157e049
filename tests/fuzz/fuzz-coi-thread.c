/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The thread index's slot values ("<unix time> <id hash> <writer>
   [<participant> ...]", or the old "<unix time> <id hash>") and peer
   records ("<last chat> <slots written> <window start>"), read back from
   the state dict. Input: a slot or peer value, LF, a Message-ID. */

#include "lib.h"
#include "array.h"
#include "strnum.h"
#include "coi-settings.h"
#include "coi-detect.h"
#include "coi-thread.h"
#include "fuzz-coi-common.h"

#include <time.h>

FUZZ_BEGIN_DATA(const unsigned char *data, size_t size)
{
	struct coi_settings set = {
		.thread_index_size = 1 + (size == 0 ? 0 : data[0] * 997),
		.thread_index_max_age_secs = 90 * 24 * 3600,
	};
	const time_t now = 1700000000;
	struct coi_detect_headers headers = {
		.from = "Alice <alice@example.org>",
		.to = "\"hidden-recipients\": ;",
		.cc = "bob@example.org",
	};
	struct coi_thread_people alice, bob, mallory;
	struct coi_thread_peer peer, peer2;
	enum coi_thread_add_result result;
	const char *value, *p;
	char *stored, *id;
	unsigned int slot, i;

	fuzz_coi_split(data, size, &stored, &id);
	coi_thread_people_get(&headers, &alice);
	headers.from = "bob@example.org";
	headers.cc = NULL;
	coi_thread_people_get(&headers, &bob);
	headers.from = "mallory@example.com";
	coi_thread_people_get(&headers, &mallory);

	/* whatever is stored: a peer matches whenever a participant does */
	(void)coi_thread_entry_matches(stored, id, now, 0, &mallory, FALSE);
	FUZZ_CHECK(!coi_thread_entry_matches(stored, id, now,
					     set.thread_index_max_age_secs,
					     &bob, FALSE) ||
		   coi_thread_entry_matches(stored, id, now,
					    set.thread_index_max_age_secs,
					    &mallory, TRUE));

	/* a peer record parses back to itself; the share holds */
	if (coi_thread_peer_parse(stored, &peer)) {
		FUZZ_CHECK(coi_thread_peer_parse(coi_thread_peer_value(&peer),
						 &peer2));
		FUZZ_CHECK(peer.last_chat == peer2.last_chat &&
			   peer.count == peer2.count &&
			   peer.window_start == peer2.window_start);
		for (i = 0; i <= coi_thread_share(&set) + 1; i++)
			(void)coi_thread_share_take(&set, &peer, now);
		FUZZ_CHECK(peer.count <= I_MAX(coi_thread_share(&set),
					       peer2.count));
	}

	/* what is written is found again by its people only, until it is
	   too old, and is never taken over */
	p = coi_thread_slot(&set, id);
	FUZZ_CHECK(str_to_uint(p, &slot) == 0 &&
		   slot < set.thread_index_size);
	i_zero(&peer);
	result = coi_thread_add_decide(&set, stored, id, now, &alice,
				       COI_THREAD_SOURCE_CHAT, &peer, &value);
	FUZZ_CHECK((result == COI_THREAD_ADD_WRITE) == (value != NULL));
	if (result == COI_THREAD_ADD_KNOWN)
		FUZZ_CHECK(coi_thread_entry_is_id(stored, id, now,
			set.thread_index_max_age_secs));
	if (value != NULL) {
		FUZZ_CHECK(strlen(value) < 256);
		FUZZ_CHECK(coi_thread_entry_matches(value, id, now,
			set.thread_index_max_age_secs, &alice, FALSE));
		FUZZ_CHECK(coi_thread_entry_matches(value, id, now,
			set.thread_index_max_age_secs, &bob, FALSE));
		FUZZ_CHECK(!coi_thread_entry_matches(value, id, now,
			set.thread_index_max_age_secs, &mallory, FALSE));
		FUZZ_CHECK(!coi_thread_entry_matches(value, id,
			now + set.thread_index_max_age_secs + 1,
			set.thread_index_max_age_secs, &alice, TRUE));
		FUZZ_CHECK(coi_thread_add_decide(&set, value, id, now,
			&mallory, COI_THREAD_SOURCE_CHAT, &peer, &p) ==
			COI_THREAD_ADD_KNOWN);
	}
	i_free(stored);
	i_free(id);
}
FUZZ_END
