/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "ioloop.h"
#include "hex-binary.h"
#include "byteorder.h"
#include "strnum.h"
#include "sha2.h"
#include "mail-storage.h"
#include "coi-settings.h"
#include "coi-config.h"
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
	return t_strdup_printf(COI_THREAD_ATTR_PREFIX"%u",
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

int coi_thread_lookup(struct coi_attrs *attrs, const struct coi_settings *set,
		      const ARRAY_TYPE(const_string) *ids,
		      const char **found_id_r)
{
	ARRAY_TYPE(const_string) keys;
	const char *id, *key, *unused, *value;
	int ret;

	*found_id_r = NULL;
	if (set->thread_index_size == 0)
		return 0;
	/* one dict round trip for all of them */
	t_array_init(&keys, array_count(ids));
	array_foreach_elem(ids, id) {
		coi_thread_entry(set, id, ioloop_time, &key, &unused);
		array_push_back(&keys, &key);
	}
	coi_attrs_prefetch(attrs, &keys);
	array_foreach_elem(ids, id) {
		coi_thread_entry(set, id, ioloop_time, &key, &unused);
		ret = coi_attrs_get(attrs, key, &value);
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

int coi_thread_add(struct coi_attrs *attrs, const struct coi_settings *set,
		   const char *id, dict_transaction_commit_callback_t *callback,
		   void *context)
{
	const char *key, *value;

	if (set->thread_index_size == 0)
		return 0;
	coi_thread_entry(set, id, ioloop_time, &key, &value);
	return coi_attrs_set_internal(attrs, key, value, callback, context);
}
