/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "ioloop.h"
#include "randgen.h"
#include "mail-index.h"
#include "mail-storage-private.h"
#include "mail-namespace.h"
#include "mailbox-list-index.h"
#include "coi-snapshot.h"

/* A new layout of the header gets a new name: an update of a header whose
   size on disk differs would corrupt the list index. */
#define COI_SNAPSHOT_EXT_NAME "coi-state"

/* The header extension, as stored. generation is first: an invalidation
   rewrites it and valid alone. */
struct coi_snapshot_header {
	uint32_t generation;
	uint32_t source;
	uint32_t empty_kinds;
	uint8_t valid;
	uint8_t values_size;
	uint8_t unused[2];
	/* when it was stored (ioloop_time) */
	uint32_t stored;
	unsigned char values[COI_SNAPSHOT_VALUES_MAX];
};

/* The user's mailbox list index, opened, with the extension registered.
   Returns 1, 0 if the user has none on disk (mailbox_list_index = no, or
   an in-memory INDEX), -1 with error_r if it cannot be used now: it failed
   to open, was moved into this process's memory after an error, or this
   process is syncing it. */
static int
coi_snapshot_index(struct mail_user *user, struct mail_index **index_r,
		   uint32_t *ext_id_r, const char **error_r)
{
	struct mail_namespace *ns = mail_namespace_find_inbox(user->namespaces);
	struct mailbox_list_index *ilist;
	const char *dir;

	if (ns == NULL ||
	    (ilist = MODULE_CONTEXT(ns->list,
				    mailbox_list_index_module)) == NULL ||
	    !mailbox_list_get_root_path(ns->list,
					MAILBOX_LIST_PATH_TYPE_LIST_INDEX,
					&dir))
		return 0;
	if (ilist->syncing) {
		*error_r = "The mailbox list index is being synced";
		return -1;
	}
	if (mailbox_list_index_index_open(ns->list) < 0) {
		*error_r = mailbox_list_get_last_internal_error(ns->list, NULL);
		return -1;
	}
	if (mail_index_is_in_memory(ilist->index)) {
		*error_r = "The mailbox list index is in memory";
		return -1;
	}
	*index_r = ilist->index;
	*ext_id_r = mail_index_ext_register(ilist->index, COI_SNAPSHOT_EXT_NAME,
					    sizeof(struct coi_snapshot_header),
					    0, 0);
	return 1;
}

/* Returns the size of the extension's header on disk (0: none yet), and
   the header in hdr_r if it has this version's size (else all zero). */
static size_t
coi_snapshot_header_get(struct mail_index_view *view, uint32_t ext_id,
			struct coi_snapshot_header *hdr_r)
{
	const void *data;
	size_t size;

	i_zero(hdr_r);
	mail_index_get_header_ext(view, ext_id, &data, &size);
	if (size == sizeof(*hdr_r))
		memcpy(hdr_r, data, sizeof(*hdr_r));
	return size;
}

int coi_snapshot_read(struct mail_user *user, struct event *event,
		      uint32_t source, struct coi_snapshot *snapshot_r)
{
	struct coi_snapshot_header hdr;
	struct mail_index_view *view;
	struct mail_index *index;
	const char *error;
	uint32_t ext_id;
	int ret;

	i_zero(snapshot_r);
	if ((ret = coi_snapshot_index(user, &index, &ext_id, &error)) <= 0) {
		if (ret < 0)
			e_debug(event, "No state snapshot: %s", error);
		return -1;
	}
	/* what other processes committed since this one last looked */
	if (mail_index_refresh(index) < 0) {
		e_debug(event, "No state snapshot: %s",
			mail_index_get_error_message(index));
		return -1;
	}
	ret = 0;
	view = mail_index_view_open(index);
	(void)coi_snapshot_header_get(view, ext_id, &hdr);
	/* A snapshot older than COI_SNAPSHOT_MAX_AGE, or from the future,
	   is not trusted: it bounds what a list index restored from a
	   backup, or any change that missed it, can leave behind. */
	if (hdr.valid == 1 && hdr.source == source &&
	    hdr.values_size <= sizeof(hdr.values) &&
	    hdr.stored <= (uint32_t)ioloop_time + 60 &&
	    hdr.stored + COI_SNAPSHOT_MAX_AGE >= (uint32_t)ioloop_time) {
		snapshot_r->empty_kinds = hdr.empty_kinds;
		snapshot_r->values_size = hdr.values_size;
		memcpy(snapshot_r->values, hdr.values, hdr.values_size);
		ret = 1;
	}
	snapshot_r->generation = hdr.generation;
	mail_index_view_close(&view);
	return ret;
}

void coi_snapshot_store(struct mail_user *user, struct event *event,
			uint32_t source, const struct coi_snapshot *snapshot)
{
	struct coi_snapshot_header hdr, current;
	struct mail_index_sync_ctx *sync_ctx;
	struct mail_index_transaction *trans;
	struct mail_index_view *view;
	struct mail_index *index;
	const char *error;
	uint32_t ext_id;
	size_t size;

	i_assert(snapshot->values_size <= sizeof(hdr.values));
	if (coi_snapshot_index(user, &index, &ext_id, &error) <= 0)
		return;
	/* Locked, and at the newest state: a snapshot is stored only over
	   an invalid one, of the generation it was read at (no
	   invalidation, and no other reader's snapshot, came in between:
	   that one may have seen a state this one has not). */
	if (mail_index_sync_begin(index, &sync_ctx, &view, &trans,
				  MAIL_INDEX_SYNC_FLAG_AVOID_FLAG_UPDATES) < 0) {
		e_debug(event, "State snapshot not stored: %s",
			mail_index_get_error_message(index));
		return;
	}
	size = coi_snapshot_header_get(view, ext_id, &current);
	if ((size != 0 && size != sizeof(current)) || current.valid != 0 ||
	    current.generation != snapshot->generation) {
		mail_index_sync_rollback(&sync_ctx);
		return;
	}
	i_zero(&hdr);
	hdr.generation = snapshot->generation;
	hdr.source = source;
	hdr.empty_kinds = snapshot->empty_kinds;
	hdr.valid = 1;
	hdr.stored = ioloop_time;
	hdr.values_size = snapshot->values_size;
	memcpy(hdr.values, snapshot->values, snapshot->values_size);
	mail_index_update_header_ext(trans, ext_id, 0, &hdr, sizeof(hdr));
	if (mail_index_sync_commit(&sync_ctx) < 0) {
		e_debug(event, "State snapshot not stored: %s",
			mail_index_get_error_message(index));
	}
}

int coi_snapshot_invalidate(struct mail_user *user, const char **error_r)
{
	const uint8_t invalid = 0;
	struct mail_index_transaction *trans;
	struct mail_index_view *view;
	struct mail_index *index;
	uint32_t ext_id, generation;
	const char *error;
	int ret;

	if ((ret = coi_snapshot_index(user, &index, &ext_id, &error)) <= 0) {
		if (ret < 0) {
			*error_r = t_strdup_printf("Invalidating the state "
				"snapshot failed: %s", error);
		}
		return ret;
	}
	/* a new generation, which no reader can have seen before */
	do {
		random_fill(&generation, sizeof(generation));
	} while (generation == 0);
	view = mail_index_view_open(index);
	trans = mail_index_transaction_begin(view,
		MAIL_INDEX_TRANSACTION_FLAG_EXTERNAL);
	mail_index_update_header_ext(trans, ext_id,
		offsetof(struct coi_snapshot_header, generation),
		&generation, sizeof(generation));
	mail_index_update_header_ext(trans, ext_id,
		offsetof(struct coi_snapshot_header, valid),
		&invalid, sizeof(invalid));
	ret = mail_index_transaction_commit(&trans);
	mail_index_view_close(&view);
	/* lib-index moves an index it cannot write into memory and reports
	   success: then nobody else sees the invalidation */
	if (ret == 0 && mail_index_is_in_memory(index))
		ret = -1;
	if (ret < 0) {
		*error_r = t_strdup_printf("Invalidating the state snapshot "
			"failed: %s", mail_index_get_error_message(index));
	}
	return ret;
}

int coi_snapshot_value(const struct coi_snapshot *snapshot, const char *name,
		       const char **value_r)
{
	const unsigned char *p = snapshot->values;
	const unsigned char *end = p + snapshot->values_size;
	const char *value;
	size_t name_len, value_len;

	/* pairs of NUL-terminated strings; whatever is not (a damaged
	   index) ends the search */
	while (p < end) {
		name_len = strnlen((const char *)p, end - p);
		if (p + name_len >= end)
			break;
		value = (const char *)p + name_len + 1;
		value_len = strnlen(value, end - (const unsigned char *)value);
		if ((const unsigned char *)value + value_len >= end)
			break;
		if (strcmp((const char *)p, name) == 0) {
			*value_r = value;
			return 1;
		}
		p = (const unsigned char *)value + value_len + 1;
	}
	*value_r = NULL;
	return 0;
}

bool coi_snapshot_add_value(struct coi_snapshot *snapshot, const char *name,
			    const char *value)
{
	size_t name_size = strlen(name) + 1, value_size = strlen(value) + 1;

	if (snapshot->values_size + name_size + value_size >
	    sizeof(snapshot->values))
		return FALSE;
	memcpy(snapshot->values + snapshot->values_size, name, name_size);
	snapshot->values_size += name_size;
	memcpy(snapshot->values + snapshot->values_size, value, value_size);
	snapshot->values_size += value_size;
	return TRUE;
}
