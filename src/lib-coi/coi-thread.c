/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "ioloop.h"
#include "hex-binary.h"
#include "byteorder.h"
#include "strnum.h"
#include "sha2.h"
#include "str-sanitize.h"
#include "coi-settings.h"
#include "coi-user.h"
#include "coi-state.h"
#include "coi-address.h"
#include "coi-detect.h"
#include "coi-thread.h"

/* Bytes of the id's SHA-256 kept in a slot to tell ids apart. */
#define COI_THREAD_HASH_LEN 16
/* Bytes of an address's SHA-256 kept for a writer, participant or peer:
   the index needs to tell a user's correspondents apart, not the world's,
   and a slot stays below 200 bytes. */
#define COI_THREAD_ADDRESS_HASH_LEN 8
/* A writer that a delivered chat did not have (no From address). */
#define COI_THREAD_NO_WRITER "-"

/*
 * People
 */

const char *coi_thread_address_hash(const char *normalized)
{
	unsigned char digest[SHA256_RESULTLEN];

	sha256_get_digest(normalized, strlen(normalized), digest);
	return binary_to_hex(digest, COI_THREAD_ADDRESS_HASH_LEN);
}

void coi_thread_people_get(const struct coi_detect_headers *headers,
			   struct coi_thread_people *people_r)
{
	struct coi_senders all;
	const char *const *addresses, *value, *hash;
	unsigned int i, count, from_count;

	i_zero(people_r);
	t_array_init(&people_r->senders, COI_THREAD_MAX_SENDERS);
	t_array_init(&people_r->participants, COI_THREAD_MAX_PARTICIPANTS);

	coi_senders_init(&all);
	if (array_is_created(&headers->from_all)) {
		array_foreach_elem(&headers->from_all, value)
			coi_senders_add_from(&all, value);
	} else {
		coi_senders_add_from(&all, headers->from);
	}
	(void)coi_senders_get(&all, &from_count);
	coi_senders_add_from(&all, headers->to);
	coi_senders_add_from(&all, headers->cc);

	addresses = coi_senders_get(&all, &count);
	for (i = 0; i < count; i++) {
		hash = coi_thread_address_hash(addresses[i]);
		if (i == 0 && from_count > 0)
			people_r->writer = hash;
		if (i < from_count &&
		    array_count(&people_r->senders) < COI_THREAD_MAX_SENDERS)
			array_push_back(&people_r->senders, &hash);
		if (hash != people_r->writer &&
		    array_count(&people_r->participants) <
		    COI_THREAD_MAX_PARTICIPANTS)
			array_push_back(&people_r->participants, &hash);
	}
}

/*
 * Slot values
 */

static void
coi_thread_hash(const char *id, unsigned char digest[SHA256_RESULTLEN])
{
	sha256_get_digest(id, strlen(id), digest);
}

const char *coi_thread_slot(const struct coi_settings *set, const char *id)
{
	unsigned char digest[SHA256_RESULTLEN];

	i_assert(set->thread_index_size > 0);
	coi_thread_hash(id, digest);
	return t_strdup_printf("%u",
		be32_to_cpu_unaligned(digest) % set->thread_index_size);
}

const char *coi_thread_value(const char *id, time_t now,
			     const struct coi_thread_people *people)
{
	unsigned char digest[SHA256_RESULTLEN];
	string_t *str = t_str_new(256);
	const char *hash;

	coi_thread_hash(id, digest);
	str_printfa(str, "%lld %s %s", (long long)now,
		    binary_to_hex(digest, COI_THREAD_HASH_LEN),
		    people->writer != NULL ? people->writer :
		    COI_THREAD_NO_WRITER);
	array_foreach_elem(&people->participants, hash)
		str_printfa(str, " %s", hash);
	return str_c(str);
}

static bool coi_thread_is_live(uintmax_t stamp, time_t now,
			       unsigned int max_age_secs)
{
	/* max_age 0 keeps entries for ever; an entry from the future
	   (the clock moved back) still counts. */
	return max_age_secs == 0 || now <= 0 ||
		stamp + max_age_secs >= (uintmax_t)now;
}

/* The fields of a slot value that records id and is live: time, id hash,
   then (not in the old format) the writer and the participants. NULL
   otherwise. */
static const char *const *
coi_thread_entry_fields(const char *value, const char *id, time_t now,
			unsigned int max_age_secs)
{
	unsigned char digest[SHA256_RESULTLEN];
	const char *const *fields;
	uintmax_t stamp;

	if (value == NULL)
		return NULL;
	fields = t_strsplit(value, " ");
	if (fields[0] == NULL || fields[1] == NULL ||
	    str_to_uintmax(fields[0], &stamp) < 0 ||
	    !coi_thread_is_live(stamp, now, max_age_secs))
		return NULL;
	coi_thread_hash(id, digest);
	if (strcmp(fields[1], binary_to_hex(digest, COI_THREAD_HASH_LEN)) != 0)
		return NULL;
	return fields;
}

bool coi_thread_entry_is_id(const char *value, const char *id, time_t now,
			    unsigned int max_age_secs)
{
	return coi_thread_entry_fields(value, id, now, max_age_secs) != NULL;
}

bool coi_thread_entry_matches(const char *value, const char *id, time_t now,
			      unsigned int max_age_secs,
			      const struct coi_thread_people *reply,
			      bool is_peer)
{
	const char *const *fields, *sender;
	unsigned int i;

	fields = coi_thread_entry_fields(value, id, now, max_age_secs);
	if (fields == NULL)
		return FALSE;
	if (is_peer)
		return TRUE;
	/* an old value (no writer) counts for peers only */
	for (i = 2; fields[i] != NULL; i++) {
		array_foreach_elem(&reply->senders, sender) {
			if (strcmp(fields[i], sender) == 0)
				return TRUE;
		}
	}
	return FALSE;
}

/* Returns TRUE if value was written by writer (live or not). */
static bool coi_thread_entry_is_writer(const char *value, const char *writer)
{
	const char *const *fields;

	if (value == NULL || writer == NULL)
		return FALSE;
	fields = t_strsplit(value, " ");
	return fields[0] != NULL && fields[1] != NULL && fields[2] != NULL &&
		strcmp(fields[2], writer) == 0;
}

/*
 * Peers and the share
 */

bool coi_thread_peer_parse(const char *value, struct coi_thread_peer *peer_r)
{
	const char *const *fields;

	i_zero(peer_r);
	if (value == NULL)
		return FALSE;
	fields = t_strsplit(value, " ");
	if (str_array_length(fields) != 3 ||
	    str_to_uintmax(fields[0], &peer_r->last_chat) < 0 ||
	    str_to_uint(fields[1], &peer_r->count) < 0 ||
	    str_to_uintmax(fields[2], &peer_r->window_start) < 0) {
		i_zero(peer_r);
		return FALSE;
	}
	return TRUE;
}

const char *coi_thread_peer_value(const struct coi_thread_peer *peer)
{
	return t_strdup_printf("%ju %u %ju", peer->last_chat, peer->count,
			       peer->window_start);
}

bool coi_thread_peer_is_live(const struct coi_thread_peer *peer, time_t now,
			     unsigned int max_age_secs)
{
	return peer->last_chat != 0 &&
		coi_thread_is_live(peer->last_chat, now, max_age_secs);
}

unsigned int coi_thread_share(const struct coi_settings *set)
{
	return I_MAX(set->thread_index_size / COI_THREAD_SHARE_DIVISOR, 1U);
}

bool coi_thread_share_take(const struct coi_settings *set,
			   struct coi_thread_peer *peer, time_t now)
{
	unsigned int window = set->thread_index_max_age_secs != 0 ?
		set->thread_index_max_age_secs :
		COI_THREAD_SHARE_WINDOW_FOREVER;

	/* A window from the future (the clock moved back) goes on. */
	if (peer->window_start == 0 ||
	    peer->window_start + window <= (uintmax_t)now) {
		peer->window_start = now;
		peer->count = 0;
	}
	if (peer->count >= coi_thread_share(set))
		return FALSE;
	peer->count++;
	return TRUE;
}

enum coi_thread_add_result
coi_thread_add_decide(const struct coi_settings *set, const char *old_value,
		      const char *id, time_t now,
		      const struct coi_thread_people *people,
		      enum coi_thread_source source,
		      struct coi_thread_peer *peer, const char **value_r)
{
	*value_r = NULL;
	/* nobody takes over an id that is remembered */
	if (coi_thread_entry_is_id(old_value, id, now,
				   set->thread_index_max_age_secs))
		return COI_THREAD_ADD_KNOWN;
	if (source != COI_THREAD_SOURCE_OWN) {
		if (people->writer == NULL)
			return COI_THREAD_ADD_NO_WRITER;
		/* replacing one's own entry evicts nobody else */
		if (!coi_thread_entry_is_writer(old_value, people->writer) &&
		    !coi_thread_share_take(set, peer, now))
			return COI_THREAD_ADD_SHARE_USED;
	}
	*value_r = coi_thread_value(id, now, people);
	return COI_THREAD_ADD_WRITE;
}

/*
 * Lookups and adding, on the state layer
 */

void coi_thread_read_want(struct coi_state_read *read,
			  const struct coi_settings *set,
			  const ARRAY_TYPE(const_string) *ids,
			  const struct coi_thread_people *reply)
{
	const char *id, *sender;

	if (set->thread_index_size == 0)
		return;
	array_foreach_elem(ids, id)
		coi_state_read_want(read, COI_STATE_THREAD,
				    coi_thread_slot(set, id));
	array_foreach_elem(&reply->senders, sender)
		coi_state_read_want(read, COI_STATE_PEER, sender);
}

/* Read hash's peer record. Returns 1 with peer_r, 0 if there is none (or
   a broken one: peer_r is all 0), -1 with error_r. */
static int
coi_thread_peer_read(struct coi_state_read *read, const char *hash,
		     struct coi_thread_peer *peer_r, const char **error_r)
{
	const char *value;
	int ret;

	ret = coi_state_read_get(read, COI_STATE_PEER, hash, &value, error_r);
	if (ret < 0)
		return -1;
	return coi_thread_peer_parse(ret > 0 ? value : NULL, peer_r) ? 1 : 0;
}

/* Is one of the senders a live peer? Returns 1, 0, or -1 with error_r. */
static int
coi_thread_senders_are_peers(struct coi_state_read *read,
			     const struct coi_settings *set,
			     const struct coi_thread_people *reply,
			     const char **error_r)
{
	struct coi_thread_peer peer;
	const char *sender;
	int ret;

	array_foreach_elem(&reply->senders, sender) {
		if ((ret = coi_thread_peer_read(read, sender, &peer,
						error_r)) < 0)
			return -1;
		if (ret > 0 && coi_thread_peer_is_live(&peer, ioloop_time,
					    set->thread_index_max_age_secs))
			return 1;
	}
	return 0;
}

int coi_thread_lookup(struct coi_state_read *read,
		      const struct coi_settings *set,
		      const ARRAY_TYPE(const_string) *ids,
		      const struct coi_thread_people *reply,
		      const char **found_id_r, const char **error_r)
{
	const char *id, *value;
	int ret, is_peer;

	*found_id_r = NULL;
	if (set->thread_index_size == 0 || array_count(ids) == 0)
		return 0;
	/* one dict round trip for all of them */
	coi_thread_read_want(read, set, ids, reply);
	coi_state_read_fetch(read);
	if ((is_peer = coi_thread_senders_are_peers(read, set, reply,
						    error_r)) < 0)
		return -1;
	array_foreach_elem(ids, id) {
		ret = coi_state_read_get(read, COI_STATE_THREAD,
					 coi_thread_slot(set, id), &value,
					 error_r);
		if (ret < 0)
			return -1;
		if (ret > 0 && coi_thread_entry_matches(value, id,
				ioloop_time, set->thread_index_max_age_secs,
				reply, is_peer > 0)) {
			*found_id_r = id;
			return 1;
		}
	}
	return 0;
}

void coi_thread_add_want(struct coi_state_read *read,
			 const struct coi_settings *set, const char *id,
			 const struct coi_thread_people *people,
			 enum coi_thread_source source)
{
	const char *hash;

	if (set->thread_index_size == 0 || id == NULL)
		return;
	coi_state_read_want(read, COI_STATE_THREAD, coi_thread_slot(set, id));
	if (source != COI_THREAD_SOURCE_OWN) {
		if (people->writer != NULL)
			coi_state_read_want(read, COI_STATE_PEER,
					    people->writer);
		return;
	}
	array_foreach_elem(&people->participants, hash)
		coi_state_read_want(read, COI_STATE_PEER, hash);
}

/* The user sent chat to the participants: they become peers. */
static int
coi_thread_add_own_peers(struct coi_state_read *read,
			 struct coi_state_transaction *trans,
			 const struct coi_thread_people *people,
			 const char **error_r)
{
	struct coi_thread_peer peer;
	const char *hash;

	array_foreach_elem(&people->participants, hash) {
		if (coi_thread_peer_read(read, hash, &peer, error_r) < 0)
			return -1;
		peer.last_chat = ioloop_time;
		coi_state_set(trans, COI_STATE_PEER, hash,
			      coi_thread_peer_value(&peer));
	}
	return 0;
}

int coi_thread_add(struct coi_user *cuser, struct coi_state_read *read,
		   const struct coi_settings *set, const char *id,
		   const struct coi_thread_people *people,
		   enum coi_thread_source source, const char **error_r)
{
	static const char *const result_names[] = {
		[COI_THREAD_ADD_WRITE] = "remembered",
		[COI_THREAD_ADD_KNOWN] = "known already, kept as it was",
		[COI_THREAD_ADD_SHARE_USED] =
			"not remembered: the sender used its share of the index",
		[COI_THREAD_ADD_NO_WRITER] =
			"not remembered: the chat has no From address",
	};
	struct coi_state_transaction *trans;
	struct coi_thread_peer peer, old_peer;
	enum coi_thread_add_result result;
	const char *slot, *old, *value;
	int ret;

	if (set->thread_index_size == 0)
		return 0;
	coi_thread_add_want(read, set, id, people, source);
	coi_state_read_fetch(read);
	slot = coi_thread_slot(set, id);
	if ((ret = coi_state_read_get(read, COI_STATE_THREAD, slot, &old,
				      error_r)) < 0)
		return -1;
	i_zero(&peer);
	if (source != COI_THREAD_SOURCE_OWN && people->writer != NULL &&
	    coi_thread_peer_read(read, people->writer, &peer, error_r) < 0)
		return -1;
	old_peer = peer;

	result = coi_thread_add_decide(set, old, id, ioloop_time, people,
				       source, &peer, &value);
	e_debug(cuser->event, "Thread index: <%s> %s", str_sanitize(id, 256),
		result_names[result]);
	/* The commit (a disk flush on a SQL dict) runs while the message is
	   saved; the user's deinit waits for it. */
	trans = coi_state_transaction_begin(cuser);
	if (source == COI_THREAD_SOURCE_OWN &&
	    coi_thread_add_own_peers(read, trans, people, error_r) < 0) {
		coi_state_transaction_rollback(&trans);
		return -1;
	}
	if (source == COI_THREAD_SOURCE_CHAT)
		peer.last_chat = ioloop_time;
	if (source != COI_THREAD_SOURCE_OWN && people->writer != NULL &&
	    (peer.last_chat != old_peer.last_chat ||
	     peer.count != old_peer.count ||
	     peer.window_start != old_peer.window_start))
		coi_state_set(trans, COI_STATE_PEER, people->writer,
			      coi_thread_peer_value(&peer));
	/* last: a failed commit is logged as the thread state's */
	if (result == COI_THREAD_ADD_WRITE)
		coi_state_set(trans, COI_STATE_THREAD, slot, value);
	coi_state_transaction_commit_async(&trans);
	return 0;
}
