/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "istream.h"
#include "guid.h"
#include "crc32.h"
#include "dict.h"
#include "mail-storage-private.h"
#include "mail-namespace.h"
#include "coi-user.h"
#include "coi-snapshot.h"
#include "coi-state.h"

#define COI_STATE_CONTEXT(obj) \
	MODULE_CONTEXT(obj, coi_state_user_module)
#define COI_STATE_TRANSACTION_CONTEXT(obj) \
	MODULE_CONTEXT(obj, coi_state_storage_module)

/* Where each kind is kept: below priv/coi/ in COI's own dict, and below
   priv/<INBOX GUID>/ in the mail attribute dict (the layout before
   coi_state_dict, kept so that an upgrade finds its state). */
static const struct {
	const char *name;
	const char *legacy_prefix;
} coi_state_kinds[COI_STATE_KIND_COUNT] = {
	[COI_STATE_CONFIG] = { "config",
		MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT_SERVER
		"vendor/vendor.dovecot/coi/config/" },
	[COI_STATE_BLOCKED] = { "blocked",
		MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT_SERVER
		"vendor/vendor.dovecot/coi/blocked/" },
	[COI_STATE_CONTACT] = { "contact",
		MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT "coi/blocked-hash/" },
	[COI_STATE_THREAD] = { "thread",
		MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT "coi/thread/" },
	[COI_STATE_PEER] = { "peer",
		MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT "coi/peer/" },
};
/* The one legacy key outside its kind's prefix. */
#define COI_STATE_LEGACY_CONTACTS_INDEXED \
	MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT "coi/blocked-hash-indexed"

struct coi_state {
	union mail_user_module_context module_ctx;
	struct mail_user *user;
	struct event *event;
	/* coi_state_dict ("": the user's mail attribute dict) */
	const char *uri;

	/* NULL until opened: COI's own dict (deinitialized here), or the
	   user's attribute dict (lib-storage's) */
	struct dict *dict;
	/* "priv/coi/" or "priv/<INBOX GUID>/" */
	const char *prefix;
	/* why the dict cannot be opened, once that failed */
	const char *open_error;

	/* coi_state_snapshot: reads try the snapshot first */
	bool snapshot;
	/* which state a snapshot must be of: a hash of where it is kept */
	uint32_t source;
};

struct coi_state_value {
	enum coi_state_kind kind;
	const char *name;
	const char *value;
	const char *error;
	/* as dict_lookup(); COI_STATE_NOT_READ until read */
	int ret;
};
#define COI_STATE_NOT_READ (-2)

struct coi_state_read {
	struct coi_state *state;
	pool_t pool;
	ARRAY(struct coi_state_value) values;
	/* as coi_snapshot_read(); COI_STATE_NOT_READ until read */
	int snapshot_ret;
	struct coi_snapshot snapshot;
};

struct coi_state_read_ctx {
	struct coi_state_read *read;
	unsigned int idx;
};

struct coi_state_iter {
	struct coi_state *state;
	struct dict_iterate_context *iter;
	char *prefix;
	char *error;
	/* the value of the name coi_state_iter_next() returned, if asked */
	const char *value;
};

struct coi_state_transaction {
	union mailbox_transaction_module_context module_ctx;
	struct coi_state *state;
	struct dict_transaction_context *trans;
	char *error;
	unsigned int counters[COI_STATE_KIND_COUNT];
	/* what the log names when the commit fails: the kind last set */
	enum coi_state_kind kind;
	/* bit (1 << kind): a kind changed */
	uint32_t kinds_changed;
	/* the snapshot was invalidated before the commit, and must be
	   again after it */
	bool invalidated;
};

static MODULE_CONTEXT_DEFINE_INIT(coi_state_user_module,
				  &mail_user_module_register);
static MODULE_CONTEXT_DEFINE_INIT(coi_state_storage_module,
				  &mail_storage_module_register);

/*
 * The user's state
 */

static void coi_state_free(struct coi_state *state)
{
	/* A pending async commit logs through the event and invalidates
	   the snapshot in the user's list index: wait for it while both
	   exist. The attribute dict is lib-storage's, which deinitializes
	   it. */
	if (state->dict != NULL) {
		dict_wait(state->dict);
		if (*state->uri != '\0')
			dict_deinit(&state->dict);
	}
	event_unref(&state->event);
}

static void coi_state_user_deinit(struct mail_user *user)
{
	struct coi_state *state = COI_STATE_CONTEXT(user);

	coi_state_free(state);
	state->module_ctx.super.deinit(user);
}

static struct coi_state *coi_state_alloc(struct coi_user *cuser)
{
	struct mail_user *user = cuser->user;
	struct coi_state *state;

	state = p_new(user->pool, struct coi_state, 1);
	state->user = user;
	state->event = cuser->event;
	event_ref(state->event);
	state->uri = p_strdup(user->pool, cuser->set.state_dict);
	state->snapshot = cuser->set.state_snapshot;
	MODULE_CONTEXT_SET(user, coi_state_user_module, state);
	return state;
}

void coi_state_user_created(struct coi_user *cuser)
{
	struct mail_user *user = cuser->user;
	struct mail_user_vfuncs *v = user->vlast;
	struct coi_state *state = coi_state_alloc(cuser);

	state->module_ctx.super = *v;
	user->vlast = &state->module_ctx.super;
	v->deinit = coi_state_user_deinit;
}

/* The state of cuser's user. A user whose hooks did not run (doveadm's)
   gets it now, and frees it with coi_state_user_detach(). */
static struct coi_state *coi_state_get(struct coi_user *cuser)
{
	struct coi_state *state = COI_STATE_CONTEXT(cuser->user);

	return state != NULL ? state : coi_state_alloc(cuser);
}

void coi_state_user_detach(struct coi_user *cuser)
{
	struct coi_state *state = COI_STATE_CONTEXT(cuser->user);

	if (state == NULL)
		return;
	i_assert(state->module_ctx.super.deinit == NULL);
	coi_state_free(state);
	MODULE_CONTEXT_UNSET(cuser->user, coi_state_user_module);
}

/* The user's attribute dict, opened the way lib-storage opens it on its
   first attribute access (index_storage_get_user_dict()), into the same
   place: lib-storage then uses it too, and deinitializes it. */
static int
coi_state_open_attribute_dict(struct coi_state *state, const char **error_r)
{
	struct mail_user *user = state->user;
	struct mail_namespace *ns = mail_namespace_find_inbox(user->namespaces);
	struct mail_storage *storage = mail_namespace_get_default_storage(ns);
	struct mailbox_metadata metadata;
	struct dict_settings set;
	struct mailbox *box;
	const char *error;
	int ret;

	/* Dovecot keeps server attributes below the INBOX's GUID */
	box = mailbox_alloc(ns->list, "INBOX", MAILBOX_FLAG_IGNORE_ACLS |
			    MAILBOX_FLAG_ATTRIBUTE_SESSION);
	ret = mailbox_get_metadata(box, MAILBOX_METADATA_GUID, &metadata);
	if (ret < 0) {
		*error_r = t_strdup_printf("Cannot get the INBOX GUID: %s",
			mailbox_get_last_internal_error(box, NULL));
	}
	mailbox_free(&box);
	if (ret < 0)
		return -1;
	state->prefix = p_strconcat(user->pool, DICT_PATH_PRIVATE,
		guid_128_to_string(metadata.guid), "/", NULL);

	if (user->_attr_dict != NULL) {
		state->dict = user->_attr_dict;
		return 0;
	}
	if (user->attr_dict_failed) {
		*error_r = "mail_attribute_dict failed to open";
		return -1;
	}
	i_zero(&set);
	set.base_dir = user->set->base_dir;
	set.event_parent = user->event;
	if (dict_init(storage->set->mail_attribute_dict, &set,
		      &user->_attr_dict, &error) < 0) {
		*error_r = t_strdup_printf(
			"mail_attribute_dict: dict_init(%s) failed: %s",
			storage->set->mail_attribute_dict, error);
		user->attr_dict_failed = TRUE;
		return -1;
	}
	state->dict = user->_attr_dict;
	return 0;
}

/* Returns 0 with state->dict and state->prefix set, or -1 with error_r.
   A failure is remembered: one per user is enough to report. */
static int coi_state_open(struct coi_state *state, const char **error_r)
{
	struct dict_settings set;
	const char *error;

	if (state->dict != NULL)
		return 0;
	if (state->open_error != NULL) {
		*error_r = state->open_error;
		return -1;
	}
	if (*state->uri == '\0') {
		if (coi_state_open_attribute_dict(state, &error) == 0)
			return 0;
	} else {
		i_zero(&set);
		set.base_dir = state->user->set->base_dir;
		set.event_parent = state->event;
		if (dict_init(state->uri, &set, &state->dict, &error) == 0) {
			state->prefix = DICT_PATH_PRIVATE"coi/";
			return 0;
		}
		error = t_strdup_printf("coi_state_dict: dict_init(%s) "
					"failed: %s", state->uri, error);
	}
	state->open_error = p_strdup(state->user->pool, error);
	*error_r = state->open_error;
	return -1;
}

static const char *
coi_state_key_prefix(struct coi_state *state, enum coi_state_kind kind)
{
	i_assert(kind < COI_STATE_KIND_COUNT);
	if (*state->uri != '\0') {
		return t_strconcat(state->prefix, coi_state_kinds[kind].name,
				   "/", NULL);
	}
	return t_strconcat(state->prefix, coi_state_kinds[kind].legacy_prefix,
			   NULL);
}

static const char *
coi_state_key(struct coi_state *state, enum coi_state_kind kind,
	      const char *name)
{
	if (*state->uri == '\0' && kind == COI_STATE_CONFIG &&
	    strcmp(name, COI_STATE_CONTACTS_INDEXED) == 0) {
		return t_strconcat(state->prefix,
				   COI_STATE_LEGACY_CONTACTS_INDEXED, NULL);
	}
	return t_strconcat(coi_state_key_prefix(state, kind), name, NULL);
}

/* An error of the dict for the kind, without the key: keys can hold a
   sender's address, and errors go to the log at error level. */
static const char *
coi_state_error(enum coi_state_kind kind, const char *what, const char *error)
{
	return t_strdup_printf("%s of COI's %s state failed: %s", what,
			       coi_state_kinds[kind].name, error);
}

/* The dict URI the state is kept in. */
static const char *coi_state_uri(struct coi_state *state)
{
	struct mail_namespace *ns;

	if (*state->uri != '\0')
		return state->uri;
	ns = mail_namespace_find_inbox(state->user->namespaces);
	return ns == NULL ? "" :
		mail_namespace_get_default_storage(ns)->set->mail_attribute_dict;
}

/* A hash of where the state is kept: a snapshot of another place (the
   admin set or changed coi_state_dict) is not the state's. */
static uint32_t coi_state_source(struct coi_state *state)
{
	if (state->source != 0)
		return state->source;
	state->source = crc32_str(t_strconcat(*state->uri != '\0' ?
		"coi_state_dict=" : "mail_attribute_dict=",
		coi_state_uri(state), NULL));
	if (state->source == 0)
		state->source = 1;
	return state->source;
}

/* No process takes a snapshot of a file dict: that is read in the process
   itself, without a round trip to save, and it is a file an admin may
   restore or edit, which no snapshot would notice (so writes to it need
   not invalidate one either). */
static bool coi_state_in_file_dict(struct coi_state *state)
{
	return str_begins(coi_state_uri(state), "file:");
}

/*
 * Reading
 */

struct coi_state_read *coi_state_read_begin(struct coi_user *cuser)
{
	struct coi_state_read *read;
	pool_t pool;

	pool = pool_alloconly_create("coi state read", 1024);
	read = p_new(pool, struct coi_state_read, 1);
	read->pool = pool;
	read->state = coi_state_get(cuser);
	read->snapshot_ret = COI_STATE_NOT_READ;
	p_array_init(&read->values, pool, 8);
	return read;
}

void coi_state_read_end(struct coi_state_read **_read)
{
	struct coi_state_read *read = *_read;

	*_read = NULL;
	pool_unref(&read->pool);
}

static struct coi_state_value *
coi_state_read_find(struct coi_state_read *read, enum coi_state_kind kind,
		    const char *name)
{
	struct coi_state_value *value;

	array_foreach_modifiable(&read->values, value) {
		if (value->kind == kind && strcmp(value->name, name) == 0)
			return value;
	}
	return NULL;
}

void coi_state_read_want(struct coi_state_read *read, enum coi_state_kind kind,
			 const char *name)
{
	struct coi_state_value *value;

	if (coi_state_read_find(read, kind, name) != NULL)
		return;
	value = array_append_space(&read->values);
	value->kind = kind;
	value->name = p_strdup(read->pool, name);
	value->ret = COI_STATE_NOT_READ;
}

static void
coi_state_read_callback(const struct dict_lookup_result *result,
			struct coi_state_read_ctx *ctx)
{
	struct coi_state_value *value =
		array_idx_modifiable(&ctx->read->values, ctx->idx);

	value->ret = result->ret;
	if (result->ret > 0)
		value->value = p_strdup(ctx->read->pool, result->value);
	else if (result->ret < 0) {
		value->error = p_strdup(ctx->read->pool,
			coi_state_error(value->kind, "Reading",
					result->error));
	}
}

/* Answer what a valid snapshot knows: every config name, and every name of
   a kind it says is empty. */
static void coi_state_read_snapshot(struct coi_state_read *read)
{
	struct coi_state *state = read->state;
	struct coi_state_value *value;
	const char *str;

	if (read->snapshot_ret == COI_STATE_NOT_READ) {
		read->snapshot_ret =
			!state->snapshot || coi_state_in_file_dict(state) ? -1 :
			coi_snapshot_read(state->user, state->event,
					  coi_state_source(state),
					  &read->snapshot);
	}
	if (read->snapshot_ret <= 0)
		return;
	array_foreach_modifiable(&read->values, value) {
		if (value->ret != COI_STATE_NOT_READ)
			continue;
		if (value->kind == COI_STATE_CONFIG) {
			value->ret = coi_snapshot_value(&read->snapshot,
							value->name, &str);
			value->value = p_strdup(read->pool, str);
		} else if ((read->snapshot.empty_kinds &
			    (1U << value->kind)) != 0) {
			value->ret = 0;
		}
	}
}

static struct coi_state_iter *
coi_state_iter_init_flags(struct coi_state *state, enum coi_state_kind kind,
			  enum dict_iterate_flags flags);
static int
coi_state_lookup_state(struct coi_state *state, enum coi_state_kind kind,
		       const char *name, const char **value_r,
		       const char **error_r);

/* The kinds a snapshot holds: those a delivery decides by. The thread
   index and its peers are written by every chat and read only for chat
   and replies, which go to the dict anyway: their writes never touch the
   list index. */
#define COI_STATE_SNAPSHOT_KINDS \
	((1U << COI_STATE_CONFIG) | (1U << COI_STATE_BLOCKED) | \
	 (1U << COI_STATE_CONTACT))

/* Take a new snapshot of the state, after read found none valid: every
   config value, and which of the snapshot's kinds are empty. Nothing is
   stored if a listing fails or the values do not fit. */
static void coi_state_snapshot_take(struct coi_state_read *read)
{
	struct coi_state *state = read->state;
	struct coi_snapshot snapshot;
	struct coi_state_iter *iter;
	enum coi_state_kind kind;
	const char *name, *value, *error;
	bool fits = TRUE;
	int ret;

	i_zero(&snapshot);
	snapshot.generation = read->snapshot.generation;
	for (kind = 0; kind < COI_STATE_KIND_COUNT; kind++) {
		if ((COI_STATE_SNAPSHOT_KINDS & (1U << kind)) == 0)
			continue;
		iter = coi_state_iter_init_flags(state, kind,
			kind == COI_STATE_CONFIG ? 0 :
			DICT_ITERATE_FLAG_NO_VALUE);
		/* one name is enough to know the kind is not empty (COI's
		   own dict has no deeper keys to skip) */
		if (kind != COI_STATE_CONFIG && iter->iter != NULL &&
		    *state->uri != '\0')
			dict_iterate_set_limit(iter->iter, 1);
		if ((name = coi_state_iter_next(iter)) == NULL &&
		    kind != COI_STATE_CONFIG)
			snapshot.empty_kinds |= 1U << kind;
		for (; name != NULL && kind == COI_STATE_CONFIG;
		     name = coi_state_iter_next(iter)) {
			fits = fits && coi_snapshot_add_value(&snapshot, name,
				coi_state_iter_value(iter));
		}
		if (coi_state_iter_deinit(&iter, &error) < 0) {
			e_debug(state->event, "No state snapshot taken: %s",
				error);
			return;
		}
	}
	if (*state->uri == '\0') {
		/* the one legacy config key outside its kind's prefix */
		ret = coi_state_lookup_state(state, COI_STATE_CONFIG,
					     COI_STATE_CONTACTS_INDEXED,
					     &value, &error);
		if (ret < 0) {
			e_debug(state->event, "No state snapshot taken: %s",
				error);
			return;
		}
		if (ret > 0) {
			fits = fits && coi_snapshot_add_value(&snapshot,
				COI_STATE_CONTACTS_INDEXED, value);
		}
	}
	if (fits)
		coi_snapshot_store(state->user, state->event,
				   coi_state_source(state),
				   &snapshot);
}

void coi_state_read_fetch(struct coi_state_read *read)
{
	struct coi_state *state = read->state;
	struct coi_state_read_ctx *ctx;
	struct coi_state_value *value;
	const char *error = NULL;
	unsigned int idx, count = array_count(&read->values);
	bool pending = FALSE, opened = FALSE;

	coi_state_read_snapshot(read);
	for (idx = 0; idx < count; idx++) {
		value = array_idx_modifiable(&read->values, idx);
		if (value->ret != COI_STATE_NOT_READ)
			continue;
		/* the dict is opened only for what the snapshot does not
		   answer */
		if (!opened) {
			opened = TRUE;
			if (coi_state_open(state, &error) < 0)
				error = p_strdup(read->pool, error);
		}
		if (error != NULL) {
			value->ret = -1;
			value->error = error;
			continue;
		}
		/* a dict that answers at once (file) calls back here */
		value->ret = -1;
		value->error = "Lookup not finished";
		ctx = p_new(read->pool, struct coi_state_read_ctx, 1);
		ctx->read = read;
		ctx->idx = idx;
		dict_lookup_async(state->dict,
				  mail_user_get_dict_op_settings(state->user),
				  coi_state_key(state, value->kind,
						value->name),
				  coi_state_read_callback, ctx);
		pending = TRUE;
	}
	if (pending)
		dict_wait(state->dict);
	if (read->snapshot_ret == 0) {
		/* once per read, after everything it wanted is known */
		read->snapshot_ret = -1;
		array_foreach_modifiable(&read->values, value) {
			if (value->ret < 0)
				return;
		}
		T_BEGIN {
			coi_state_snapshot_take(read);
		} T_END;
	}
}

int coi_state_read_get(struct coi_state_read *read, enum coi_state_kind kind,
		       const char *name, const char **value_r,
		       const char **error_r)
{
	struct coi_state_value *value;

	coi_state_read_want(read, kind, name);
	value = coi_state_read_find(read, kind, name);
	if (value->ret == COI_STATE_NOT_READ)
		coi_state_read_fetch(read);
	*value_r = value->value;
	if (value->ret < 0)
		*error_r = value->error;
	return value->ret;
}

int coi_state_lookup(struct coi_user *cuser, enum coi_state_kind kind,
		     const char *name, const char **value_r,
		     const char **error_r)
{
	return coi_state_lookup_state(coi_state_get(cuser), kind, name,
				      value_r, error_r);
}

static int
coi_state_lookup_state(struct coi_state *state, enum coi_state_kind kind,
		       const char *name, const char **value_r,
		       const char **error_r)
{
	/* dict_lookup() reads it even on success */
	const char *error = NULL;
	int ret;

	*value_r = NULL;
	if (coi_state_open(state, error_r) < 0)
		return -1;
	ret = dict_lookup(state->dict,
			  mail_user_get_dict_op_settings(state->user),
			  pool_datastack_create(),
			  coi_state_key(state, kind, name), value_r, &error);
	if (ret < 0)
		*error_r = coi_state_error(kind, "Reading", error);
	return ret;
}

/*
 * Listing
 */

static struct coi_state_iter *
coi_state_iter_init_flags(struct coi_state *state, enum coi_state_kind kind,
			  enum dict_iterate_flags flags)
{
	struct coi_state_iter *iter;
	const char *error;

	iter = i_new(struct coi_state_iter, 1);
	iter->state = state;
	if (coi_state_open(state, &error) < 0) {
		iter->error = i_strdup(error);
		return iter;
	}
	iter->prefix = i_strdup(coi_state_key_prefix(state, kind));
	/* Names have no '/', so a recursive listing is one level deep. It
	   is asked for because Dovecot 2.3.19's dict-sql builds broken SQL
	   for a one-level listing at a map's fixed part with a username
	   ("... NOT LIKE '%/%' username = ?"), and dict-sql cannot list
	   below a map's last variable in any mode. */
	iter->iter = dict_iterate_init(state->dict,
				       mail_user_get_dict_op_settings(state->user),
				       iter->prefix, DICT_ITERATE_FLAG_RECURSE |
				       flags);
	return iter;
}

struct coi_state_iter *
coi_state_iter_init(struct coi_user *cuser, enum coi_state_kind kind)
{
	return coi_state_iter_init_flags(coi_state_get(cuser), kind,
					 DICT_ITERATE_FLAG_NO_VALUE);
}

struct coi_state_iter *
coi_state_iter_init_values(struct coi_user *cuser, enum coi_state_kind kind)
{
	return coi_state_iter_init_flags(coi_state_get(cuser), kind, 0);
}

const char *coi_state_iter_value(struct coi_state_iter *iter)
{
	return iter->value;
}

const char *coi_state_iter_next(struct coi_state_iter *iter)
{
	const char *key, *value;
	size_t prefix_len;

	if (iter->iter == NULL)
		return NULL;
	prefix_len = strlen(iter->prefix);
	while (dict_iterate(iter->iter, &key, &value)) {
		/* the file dict lists deeper keys too: not ours */
		if (strncmp(key, iter->prefix, prefix_len) == 0 &&
		    key[prefix_len] != '\0' &&
		    strchr(key + prefix_len, '/') == NULL) {
			iter->value = value;
			return key + prefix_len;
		}
	}
	iter->value = NULL;
	return NULL;
}

int coi_state_iter_deinit(struct coi_state_iter **_iter, const char **error_r)
{
	struct coi_state_iter *iter = *_iter;
	const char *error;
	int ret = 0;

	*_iter = NULL;
	if (iter->error != NULL) {
		*error_r = t_strdup(iter->error);
		ret = -1;
	} else if (dict_iterate_deinit(&iter->iter, &error) < 0) {
		*error_r = t_strdup_printf("Listing COI's state below %s "
					   "failed: %s", iter->prefix, error);
		ret = -1;
	}
	i_free(iter->error);
	i_free(iter->prefix);
	i_free(iter);
	return ret;
}

/*
 * Writing
 */

struct coi_state_transaction *
coi_state_transaction_begin(struct coi_user *cuser)
{
	struct coi_state_transaction *trans;

	trans = i_new(struct coi_state_transaction, 1);
	trans->state = coi_state_get(cuser);
	return trans;
}

static void coi_state_transaction_free(struct coi_state_transaction **_trans)
{
	struct coi_state_transaction *trans = *_trans;

	*_trans = NULL;
	if (trans->trans != NULL)
		dict_transaction_rollback(&trans->trans);
	i_free(trans->error);
	i_free(trans);
}

void coi_state_set(struct coi_state_transaction *trans,
		   enum coi_state_kind kind, const char *name,
		   const char *value)
{
	struct coi_state *state = trans->state;
	const char *key, *error;

	if (trans->error != NULL)
		return;
	if (trans->trans == NULL) {
		if (coi_state_open(state, &error) < 0) {
			trans->error = i_strdup(error);
			return;
		}
		trans->trans = dict_transaction_begin(state->dict,
			mail_user_get_dict_op_settings(state->user));
	}
	trans->kind = kind;
	trans->kinds_changed |= 1U << kind;
	key = coi_state_key(state, kind, name);
	if (value != NULL)
		dict_set(trans->trans, key, value);
	else
		dict_unset(trans->trans, key);
}

unsigned int *coi_state_transaction_counter(struct coi_state_transaction *trans,
					    enum coi_state_kind kind)
{
	i_assert(kind < COI_STATE_KIND_COUNT);
	return &trans->counters[kind];
}

/* Can the commit make the snapshot wrong? Any write of the kinds the
   snapshot holds can: those are rare, and are always invalidated. */
static bool coi_state_snapshot_affected(struct coi_state_transaction *trans)
{
	return (trans->kinds_changed & COI_STATE_SNAPSHOT_KINDS) != 0 &&
		!coi_state_in_file_dict(trans->state);
}

/* Invalidate the snapshot before a commit that affects it, so that a
   snapshot taken meanwhile is not stored; after the commit it is
   invalidated again (coi_state_snapshot_after_commit()), for readers that
   took theirs from the dict before the commit landed. Returns 0, or -1
   with error_r if the commit must not go on: a snapshot left valid could
   let a newly blocked sender in. */
static int
coi_state_snapshot_before_commit(struct coi_state_transaction *trans,
				 const char **error_r)
{
	const char *error;

	if (trans->trans == NULL || !coi_state_snapshot_affected(trans))
		return 0;
	if (coi_snapshot_invalidate(trans->state->user, &error) < 0) {
		*error_r = coi_state_error(trans->kind, "Writing", error);
		return -1;
	}
	trans->invalidated = TRUE;
	return 0;
}

static void
coi_state_snapshot_after_commit(struct mail_user *user, struct event *event)
{
	const char *error;

	/* The first invalidation went through: only a reader that took
	   its snapshot from the dict between the two is left to stop. */
	if (coi_snapshot_invalidate(user, &error) < 0)
		e_error(event, "%s", error);
}

int coi_state_transaction_commit(struct coi_state_transaction **_trans,
				 const char **error_r)
{
	struct coi_state_transaction *trans = *_trans;
	const char *error;
	int ret = 0;

	if (trans->error != NULL) {
		*error_r = t_strdup(trans->error);
		ret = -1;
	} else if (coi_state_snapshot_before_commit(trans, error_r) < 0) {
		ret = -1;
	} else if (trans->trans != NULL &&
		   dict_transaction_commit(&trans->trans, &error) < 0) {
		*error_r = coi_state_error(trans->kind, "Writing", error);
		ret = -1;
	}
	if (trans->invalidated) {
		coi_state_snapshot_after_commit(trans->state->user,
						trans->state->event);
	}
	coi_state_transaction_free(_trans);
	return ret;
}

struct coi_state_commit_ctx {
	struct mail_user *user;
	struct event *event;
	enum coi_state_kind kind;
	bool invalidated;
};

static void
coi_state_commit_callback(const struct dict_commit_result *result,
			  struct coi_state_commit_ctx *ctx)
{
	if (result->ret < 0) {
		e_error(ctx->event, "%s", coi_state_error(ctx->kind, "Writing",
							  result->error));
	}
	/* the user waits for this in its deinit (coi_state_free()) */
	if (ctx->invalidated)
		coi_state_snapshot_after_commit(ctx->user, ctx->event);
	event_unref(&ctx->event);
	i_free(ctx);
}

void coi_state_transaction_commit_async(struct coi_state_transaction **_trans)
{
	struct coi_state_transaction *trans = *_trans;
	const char *error;

	if (trans->error != NULL)
		e_error(trans->state->event, "%s", trans->error);
	else if (coi_state_snapshot_before_commit(trans, &error) < 0)
		e_error(trans->state->event, "%s", error);
	else if (trans->trans != NULL) {
		struct coi_state_commit_ctx *ctx =
			i_new(struct coi_state_commit_ctx, 1);

		ctx->user = trans->state->user;
		ctx->event = trans->state->event;
		event_ref(ctx->event);
		ctx->kind = trans->kind;
		ctx->invalidated = trans->invalidated;
		dict_transaction_commit_async(&trans->trans,
					      coi_state_commit_callback, ctx);
	}
	coi_state_transaction_free(_trans);
}

void coi_state_transaction_rollback(struct coi_state_transaction **trans)
{
	coi_state_transaction_free(trans);
}

struct coi_state_transaction *
coi_state_mailbox_transaction(struct mailbox_transaction_context *t)
{
	struct coi_state_transaction *trans = COI_STATE_TRANSACTION_CONTEXT(t);
	struct coi_user *cuser;

	if (trans == NULL) {
		cuser = COI_USER_CONTEXT_REQUIRE(
			mailbox_list_get_user(t->box->list));
		trans = coi_state_transaction_begin(cuser);
		MODULE_CONTEXT_SET(t, coi_state_storage_module, trans);
	}
	return trans;
}

int coi_state_mailbox_transaction_commit(struct mailbox_transaction_context *t)
{
	struct coi_state_transaction *trans = COI_STATE_TRANSACTION_CONTEXT(t);
	const char *error;

	if (trans == NULL)
		return 0;
	MODULE_CONTEXT_UNSET(t, coi_state_storage_module);
	if (coi_state_transaction_commit(&trans, &error) < 0) {
		mail_storage_set_critical(t->box->storage, "%s", error);
		return -1;
	}
	return 0;
}

void coi_state_mailbox_transaction_rollback(struct mailbox_transaction_context *t)
{
	struct coi_state_transaction *trans = COI_STATE_TRANSACTION_CONTEXT(t);

	if (trans == NULL)
		return;
	MODULE_CONTEXT_UNSET(t, coi_state_storage_module);
	coi_state_transaction_rollback(&trans);
}

/*
 * Migration from the mail attribute dict
 */

/* Set name in trans unless COI's dict has it already: a second run, after
   users changed their state there, changes nothing back. Returns 1 if set,
   0 if not, -1 with error_r. */
static int
coi_state_migrate_set(struct coi_state *state,
		      struct dict_transaction_context *trans,
		      enum coi_state_kind kind, const char *name,
		      const char *value, const char **error_r)
{
	const char *key = coi_state_key(state, kind, name);
	const char *old, *error = NULL;
	int ret;

	ret = dict_lookup(state->dict,
			  mail_user_get_dict_op_settings(state->user),
			  pool_datastack_create(), key, &old, &error);
	if (ret < 0) {
		*error_r = coi_state_error(kind, "Reading", error);
		return -1;
	}
	if (ret > 0)
		return 0;
	dict_set(trans, key, value);
	return 1;
}

/* Copy one legacy kind into trans: the known config names, or a listing. */
static int
coi_state_migrate_kind(struct coi_state *state, struct coi_state *legacy,
		       enum coi_state_kind kind,
		       struct dict_transaction_context *trans,
		       unsigned int *count_r, const char **error_r)
{
	static const char *const config_names[] = {
		"enabled", "message-filter", COI_STATE_CONTACTS_INDEXED, NULL
	};
	const struct dict_op_settings *set =
		mail_user_get_dict_op_settings(state->user);
	struct dict_iterate_context *iter;
	const char *const *name, *prefix, *key, *value, *error = NULL;
	size_t prefix_len;
	int ret = 0;

	if (kind == COI_STATE_CONFIG) {
		for (name = config_names; *name != NULL; name++) {
			ret = dict_lookup(legacy->dict, set,
					  pool_datastack_create(),
					  coi_state_key(legacy, kind, *name),
					  &value, &error);
			if (ret < 0) {
				*error_r = coi_state_error(kind, "Reading",
							   error);
				return -1;
			}
			if (ret > 0 &&
			    (ret = coi_state_migrate_set(state, trans, kind,
							 *name, value,
							 error_r)) < 0)
				return -1;
			*count_r += ret;
		}
		return 0;
	}
	prefix = coi_state_key_prefix(legacy, kind);
	prefix_len = strlen(prefix);
	/* recursive, as lib-storage listed it (see coi_state_iter_init()) */
	iter = dict_iterate_init(legacy->dict, set, prefix,
				 DICT_ITERATE_FLAG_RECURSE);
	while (dict_iterate(iter, &key, &value)) {
		if (strncmp(key, prefix, prefix_len) != 0 ||
		    key[prefix_len] == '\0' ||
		    strchr(key + prefix_len, '/') != NULL)
			continue;
		if ((ret = coi_state_migrate_set(state, trans, kind,
						 key + prefix_len, value,
						 error_r)) < 0)
			break;
		*count_r += ret;
	}
	if (dict_iterate_deinit(&iter, &error) < 0) {
		*error_r = coi_state_error(kind, "Listing", error);
		return -1;
	}
	return ret < 0 ? -1 : 0;
}

int coi_state_migrate(struct coi_user *cuser, unsigned int *count_r,
		      const char **error_r)
{
	struct coi_state *state = coi_state_get(cuser);
	struct coi_state legacy;
	struct dict_transaction_context *trans;
	enum coi_state_kind kind;
	const char *error;
	int ret = 0;

	*count_r = 0;
	if (*state->uri == '\0') {
		*error_r = "coi_state_dict is not set: the state is in the "
			"mail attributes already";
		return -1;
	}
	i_zero(&legacy);
	legacy.user = state->user;
	legacy.event = state->event;
	legacy.uri = "";
	if (coi_state_open(&legacy, error_r) < 0 ||
	    coi_state_open(state, error_r) < 0)
		return -1;
	trans = dict_transaction_begin(state->dict,
		mail_user_get_dict_op_settings(state->user));
	for (kind = 0; kind < COI_STATE_KIND_COUNT && ret == 0; kind++) {
		ret = coi_state_migrate_kind(state, &legacy, kind, trans,
					     count_r, error_r);
	}
	if (ret == 0 && coi_snapshot_invalidate(state->user, &error) < 0) {
		*error_r = t_strdup_printf("Writing COI's state failed: %s",
					   error);
		ret = -1;
	}
	if (ret < 0) {
		dict_transaction_rollback(&trans);
		return -1;
	}
	ret = dict_transaction_commit(&trans, &error);
	coi_state_snapshot_after_commit(state->user, state->event);
	if (ret < 0) {
		*error_r = t_strdup_printf("Writing COI's state failed: %s",
					   error);
		return -1;
	}
	return 0;
}

int coi_state_refresh(struct coi_user *cuser, const char **error_r)
{
	return coi_snapshot_invalidate(coi_state_get(cuser)->user, error_r);
}

/*
 * METADATA values
 */

int coi_state_attribute_get(struct mailbox *box, enum coi_state_kind kind,
			    const char *name,
			    struct mail_attribute_value *value_r)
{
	struct coi_user *cuser =
		COI_USER_CONTEXT(mailbox_list_get_user(box->list));
	const char *error;
	int ret;

	/* a user without COI has none of its entries */
	if (cuser == NULL)
		return 0;
	ret = coi_state_lookup(cuser, kind, name, &value_r->value, &error);
	if (ret < 0)
		mail_storage_set_critical(box->storage, "%s", error);
	return ret;
}

int coi_state_value_read(struct mail_storage *storage,
			 const struct mail_attribute_value *value,
			 size_t max_len, const char *what, const char **str_r)
{
	uoff_t size;

	/* literals come as streams; validated attributes bypass the
	   attribute quota, so a value longer than any valid one is refused
	   before it is read */
	if (value->value_stream != NULL &&
	    (i_stream_get_size(value->value_stream, TRUE, &size) <= 0 ||
	     size > max_len)) {
		mail_storage_set_error(storage, MAIL_ERROR_PARAMS,
			t_strdup_printf("invalid value for %s: too long", what));
		return -1;
	}
	return mailbox_attribute_value_to_string(storage, value, str_r);
}
