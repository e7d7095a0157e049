/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "ioloop.h"
#include "hex-binary.h"
#include "byteorder.h"
#include "strnum.h"
#include "sha2.h"
#include "coi-settings.h"
#include "coi-state.h"
#include "coi-thread.h"

/* Bytes of the id's SHA-256 kept in a slot to tell ids apart. */
#define COI_THREAD_HASH_LEN 16

static void
coi_thread_hash(const char *id, unsigned char digest[SHA256_RESULTLEN])
{
	sha256_get_digest(id, strlen(id), digest);
}

static const char *
coi_thread_key(const struct coi_settings *set,
	       const unsigned char digest[SHA256_RESULTLEN])
{
	i_assert(set->thread_index_size > 0);
	return t_strdup_printf("%u",
		be32_to_cpu_unaligned(digest) % set->thread_index_size);
}

void coi_thread_entry(const struct coi_settings *set, const char *id,
		      time_t now, const char **key_r, const char **value_r)
{
	unsigned char digest[SHA256_RESULTLEN];

	coi_thread_hash(id, digest);
	*key_r = coi_thread_key(set, digest);
	*value_r = t_strdup_printf("%lld %s", (long long)now,
		binary_to_hex(digest, COI_THREAD_HASH_LEN));
}

bool coi_thread_entry_matches(const char *value, const char *id, time_t now,
			      unsigned int max_age_secs)
{
	unsigned char digest[SHA256_RESULTLEN];
	const char *p;
	uintmax_t stamp;

	if (value == NULL || str_parse_uintmax(value, &stamp, &p) < 0 ||
	    *p != ' ')
		return FALSE;
	coi_thread_hash(id, digest);
	if (strcmp(p + 1, binary_to_hex(digest, COI_THREAD_HASH_LEN)) != 0)
		return FALSE;
	/* max_age 0 keeps entries for ever; an entry from the future
	   (the clock moved back) still counts. */
	return max_age_secs == 0 || now <= 0 ||
		stamp + max_age_secs >= (uintmax_t)now;
}

void coi_thread_read_want(struct coi_state_read *read,
			  const struct coi_settings *set,
			  const ARRAY_TYPE(const_string) *ids)
{
	const char *id, *slot, *unused;

	if (set->thread_index_size == 0)
		return;
	array_foreach_elem(ids, id) {
		coi_thread_entry(set, id, ioloop_time, &slot, &unused);
		coi_state_read_want(read, COI_STATE_THREAD, slot);
	}
}

int coi_thread_lookup(struct coi_state_read *read,
		      const struct coi_settings *set,
		      const ARRAY_TYPE(const_string) *ids,
		      const char **found_id_r, const char **error_r)
{
	const char *id, *slot, *unused, *value;
	int ret;

	*found_id_r = NULL;
	if (set->thread_index_size == 0)
		return 0;
	/* one dict round trip for all of them */
	coi_thread_read_want(read, set, ids);
	coi_state_read_fetch(read);
	array_foreach_elem(ids, id) {
		coi_thread_entry(set, id, ioloop_time, &slot, &unused);
		ret = coi_state_read_get(read, COI_STATE_THREAD, slot, &value,
					 error_r);
		if (ret < 0)
			return -1;
		if (ret > 0 && coi_thread_entry_matches(value, id,
				ioloop_time, set->thread_index_max_age_secs)) {
			*found_id_r = id;
			return 1;
		}
	}
	return 0;
}

void coi_thread_add(struct coi_user *cuser, const struct coi_settings *set,
		    const char *id)
{
	struct coi_state_transaction *trans;
	const char *slot, *value;

	if (set->thread_index_size == 0)
		return;
	coi_thread_entry(set, id, ioloop_time, &slot, &value);
	/* The commit (a disk flush on a SQL dict) runs while the message is
	   saved; the user's deinit waits for it. */
	trans = coi_state_transaction_begin(cuser);
	coi_state_set(trans, COI_STATE_THREAD, slot, value);
	coi_state_transaction_commit_async(&trans);
}
