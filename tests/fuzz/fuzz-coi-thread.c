/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* The thread index's slot values ("<unix time> <hash>", read back from the
   attribute dict). Input: a slot value, LF, a Message-ID. */

#include "lib.h"
#include "strnum.h"
#include "coi-settings.h"
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
	const char *key, *value, *p;
	char *stored, *id;
	unsigned int slot;

	fuzz_coi_split(data, size, &stored, &id);
	(void)coi_thread_entry_matches(stored, id, now,
				       set.thread_index_max_age_secs);
	(void)coi_thread_entry_matches(stored, id, now, 0);

	/* what is written is found again, until it is too old */
	coi_thread_entry(&set, id, now, &key, &value);
	p = key;
	FUZZ_CHECK(str_to_uint(p, &slot) == 0 &&
		   slot < set.thread_index_size);
	FUZZ_CHECK(coi_thread_entry_matches(value, id, now,
					    set.thread_index_max_age_secs));
	FUZZ_CHECK(!coi_thread_entry_matches(value, id,
		now + set.thread_index_max_age_secs + 1,
		set.thread_index_max_age_secs));
	i_free(stored);
	i_free(id);
}
FUZZ_END
