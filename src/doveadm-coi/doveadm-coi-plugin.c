/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "module-dir.h"
#include "mail-storage.h"
#include "mail-namespace.h"
#include "doveadm-print.h"
#include "doveadm-mail.h"
#include "coi-user.h"
#include "coi-state.h"
#include "coi-config.h"
#include "coi-address.h"
#include "coi-block.h"
#include "coi-contacts.h"

#include <sysexits.h>

/* doveadm coi block add|remove|list|check|rebuild -u USER [ADDRESS]
   doveadm coi migrate -u USER
   doveadm coi state refresh -u USER
   doveadm coi config set -u USER enabled|message-filter VALUE
   doveadm coi config get -u USER

   doveadm does not load imap_coi or lmtp_coi, so the commands attach the
   COI user context to the one user they work on themselves, and write the
   block list through the state layer directly: an admin is not held to
   the client's limit, and may block addresses that METADATA entry names
   cannot carry (non-ASCII). migrate copies a user's state from the mail
   attributes (where it was before coi_state_dict) into coi_state_dict.
   state refresh drops the user's state snapshot, after the dict was
   changed behind COI's back (SQL written directly, a backup restored). */

const char *doveadm_coi_plugin_version = DOVECOT_ABI_VERSION;

void doveadm_coi_plugin_init(struct module *module);
void doveadm_coi_plugin_deinit(void);

enum coi_block_cmd {
	COI_BLOCK_CMD_ADD,
	COI_BLOCK_CMD_REMOVE,
	COI_BLOCK_CMD_LIST,
	COI_BLOCK_CMD_CHECK,
	COI_BLOCK_CMD_REBUILD,
	COI_CMD_MIGRATE,
	COI_CMD_STATE_REFRESH,
	COI_CMD_CONFIG_SET,
	COI_CMD_CONFIG_GET,
};

struct coi_block_cmd_context {
	struct doveadm_mail_cmd_context ctx;
	enum coi_block_cmd cmd;
	/* normalized: an address or "@domain" */
	const char *entry;
	/* coi config set: the name and value ("": remove) */
	const char *name, *value;
};

static int
coi_block_cmd_set(struct coi_block_cmd_context *ctx, struct coi_user *cuser,
		  const char **error_r)
{
	struct coi_state_transaction *trans;

	trans = coi_state_transaction_begin(cuser);
	coi_state_set(trans, COI_STATE_BLOCKED, ctx->entry,
		      ctx->cmd == COI_BLOCK_CMD_ADD ? "yes" : NULL);
	return coi_state_transaction_commit(&trans, error_r);
}

static int
coi_block_cmd_list_kind(struct coi_user *cuser, enum coi_state_kind kind,
			const char *name_prefix, const char *source,
			const char **error_r)
{
	struct coi_state_iter *iter;
	const char *name;

	iter = coi_state_iter_init(cuser, kind);
	while ((name = coi_state_iter_next(iter)) != NULL) {
		doveadm_print(t_strconcat(name_prefix, name, NULL));
		doveadm_print(source);
	}
	return coi_state_iter_deinit(&iter, error_r);
}

static int coi_block_cmd_list(struct coi_user *cuser, const char **error_r)
{
	if (coi_block_cmd_list_kind(cuser, COI_STATE_BLOCKED, "", "metadata",
				    error_r) < 0)
		return -1;
	return coi_block_cmd_list_kind(cuser, COI_STATE_CONTACT,
				       "COI-From-Hash:", "contact", error_r);
}

static int
coi_block_cmd_check(struct coi_block_cmd_context *ctx, struct coi_user *cuser,
		    const char **error_r)
{
	const char *senders[1] = { ctx->entry }, *entry;
	struct coi_state_read *read;
	int ret;

	read = coi_state_read_begin(cuser);
	coi_block_read_want(read, senders, 1);
	coi_contacts_read_want(read, senders, 1);
	coi_state_read_fetch(read);
	ret = coi_block_lookup(read, senders, 1, &entry, error_r);
	if (ret == 0) {
		ret = coi_contacts_lookup(cuser, read, senders, 1, &entry,
					  error_r);
		if (ret > 0)
			entry = t_strconcat("COI-From-Hash:", entry, NULL);
	}
	if (ret >= 0) {
		doveadm_print(ctx->entry);
		doveadm_print(ret > 0 ? "yes" : "no");
		doveadm_print(ret > 0 ? entry : "");
	} else {
		*error_r = t_strdup(*error_r);
	}
	coi_state_read_end(&read);
	return ret < 0 ? -1 : 0;
}

static int
coi_block_cmd_rebuild(struct coi_user *cuser, const char **error_r)
{
	/* after contacts were changed outside IMAP (doveadm expunge, dsync,
	   autoexpunge): logged by COI if it fails */
	if (coi_contacts_rebuild(cuser) < 0) {
		*error_r = "Rebuilding the blocked contacts failed";
		return -1;
	}
	return 0;
}

static int coi_cmd_migrate(struct coi_user *cuser, const char **error_r)
{
	unsigned int count;

	if (coi_state_migrate(cuser, &count, error_r) < 0)
		return -1;
	/* doveadm adds the username for -A and -F */
	doveadm_print(dec2str(count));
	return 0;
}

static int
coi_cmd_config_set(struct coi_block_cmd_context *ctx, struct coi_user *cuser,
		   const char **error_r)
{
	struct mail_namespace *ns =
		mail_namespace_find_inbox(cuser->user->namespaces);
	struct mail_storage *storage = mail_namespace_get_default_storage(ns);

	if (coi_config_set(cuser, ctx->name,
			   ctx->value[0] == '\0' ? NULL : ctx->value,
			   storage) < 0) {
		*error_r = t_strdup(mail_storage_get_last_error(storage, NULL));
		return -1;
	}
	return 0;
}

static int coi_cmd_config_get(struct coi_user *cuser, const char **error_r)
{
	struct coi_config config;

	if (coi_config_read(cuser, &config, error_r) < 0)
		return -1;
	doveadm_print(config.enabled ? "yes" : "no");
	doveadm_print(coi_message_filter_to_str(config.filter));
	return 0;
}

static int
cmd_coi_block_run(struct doveadm_mail_cmd_context *_ctx,
		  struct mail_user *user)
{
	struct coi_block_cmd_context *ctx =
		container_of(_ctx, struct coi_block_cmd_context, ctx);
	struct coi_user *cuser;
	const char *error;
	int ret = 0;

	if ((cuser = coi_user_attach(user, &error)) == NULL) {
		i_error("%s", error);
		doveadm_mail_failed_error(_ctx, MAIL_ERROR_TEMP);
		return -1;
	}
	switch (ctx->cmd) {
	case COI_BLOCK_CMD_ADD:
	case COI_BLOCK_CMD_REMOVE:
		ret = coi_block_cmd_set(ctx, cuser, &error);
		break;
	case COI_BLOCK_CMD_LIST:
		ret = coi_block_cmd_list(cuser, &error);
		break;
	case COI_BLOCK_CMD_CHECK:
		ret = coi_block_cmd_check(ctx, cuser, &error);
		break;
	case COI_BLOCK_CMD_REBUILD:
		ret = coi_block_cmd_rebuild(cuser, &error);
		break;
	case COI_CMD_MIGRATE:
		ret = coi_cmd_migrate(cuser, &error);
		break;
	case COI_CMD_STATE_REFRESH:
		ret = coi_state_refresh(cuser, &error);
		break;
	case COI_CMD_CONFIG_SET:
		ret = coi_cmd_config_set(ctx, cuser, &error);
		break;
	case COI_CMD_CONFIG_GET:
		ret = coi_cmd_config_get(cuser, &error);
		break;
	}
	if (ret < 0) {
		i_error("coi: %s", error);
		doveadm_mail_failed_error(_ctx, MAIL_ERROR_TEMP);
	}
	coi_state_user_detach(cuser);
	coi_user_detach(&cuser);
	return ret;
}

static void
cmd_coi_block_init(struct doveadm_mail_cmd_context *_ctx,
		   const char *const args[])
{
	struct coi_block_cmd_context *ctx =
		container_of(_ctx, struct coi_block_cmd_context, ctx);
	const char *error;

	if (ctx->cmd == COI_BLOCK_CMD_REBUILD) {
		if (args[0] != NULL)
			doveadm_mail_help_name("coi block rebuild");
		return;
	}
	if (ctx->cmd == COI_CMD_CONFIG_GET) {
		if (args[0] != NULL)
			doveadm_mail_help_name("coi config get");
		doveadm_print_header("enabled", "enabled", 0);
		doveadm_print_header("message-filter", "message-filter", 0);
		return;
	}
	if (ctx->cmd == COI_CMD_CONFIG_SET) {
		if (args[0] == NULL || args[1] == NULL || args[2] != NULL ||
		    (strcmp(args[0], COI_CONFIG_ENABLED) != 0 &&
		     strcmp(args[0], COI_CONFIG_MESSAGE_FILTER) != 0))
			doveadm_mail_help_name("coi config set");
		ctx->name = p_strdup(_ctx->pool, args[0]);
		ctx->value = p_strdup(_ctx->pool, args[1]);
		return;
	}
	if (ctx->cmd == COI_CMD_STATE_REFRESH) {
		if (args[0] != NULL)
			doveadm_mail_help_name("coi state refresh");
		return;
	}
	if (ctx->cmd == COI_CMD_MIGRATE) {
		if (args[0] != NULL)
			doveadm_mail_help_name("coi migrate");
		doveadm_print_header("keys", "keys", 0);
		return;
	}
	if (ctx->cmd == COI_BLOCK_CMD_LIST) {
		if (args[0] != NULL)
			doveadm_mail_help_name("coi block list");
		doveadm_print_header("entry", "entry", 0);
		doveadm_print_header("source", "source", 0);
		return;
	}
	if (args[0] == NULL || args[1] != NULL) {
		doveadm_mail_help_name(ctx->cmd == COI_BLOCK_CMD_ADD ?
				       "coi block add" :
				       ctx->cmd == COI_BLOCK_CMD_REMOVE ?
				       "coi block remove" : "coi block check");
	}
	ctx->entry = p_strdup(_ctx->pool, coi_block_entry_normalize(args[0]));
	if (ctx->entry == NULL ||
	    (ctx->cmd == COI_BLOCK_CMD_CHECK && ctx->entry[0] == '@')) {
		i_fatal_status(EX_USAGE, "Not an address%s: %s",
			       ctx->cmd == COI_BLOCK_CMD_CHECK ? "" :
			       " or @domain", args[0]);
	}
	if (ctx->cmd != COI_BLOCK_CMD_CHECK &&
	    coi_block_entry_verify(ctx->entry, &error) < 0)
		i_fatal_status(EX_USAGE, "Invalid entry %s: %s", args[0], error);
	if (ctx->cmd == COI_BLOCK_CMD_CHECK) {
		doveadm_print_header("address", "address", 0);
		doveadm_print_header("blocked", "blocked", 0);
		doveadm_print_header("entry", "entry", 0);
	}
}

static struct doveadm_mail_cmd_context *
cmd_coi_block_alloc(enum coi_block_cmd cmd)
{
	struct coi_block_cmd_context *ctx;

	ctx = doveadm_mail_cmd_alloc(struct coi_block_cmd_context);
	ctx->cmd = cmd;
	ctx->ctx.v.init = cmd_coi_block_init;
	ctx->ctx.v.run = cmd_coi_block_run;
	if (cmd == COI_BLOCK_CMD_LIST || cmd == COI_BLOCK_CMD_CHECK ||
	    cmd == COI_CMD_MIGRATE || cmd == COI_CMD_CONFIG_GET)
		doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	return &ctx->ctx;
}

static struct doveadm_mail_cmd_context *cmd_coi_block_add_alloc(void)
{
	return cmd_coi_block_alloc(COI_BLOCK_CMD_ADD);
}

static struct doveadm_mail_cmd_context *cmd_coi_block_remove_alloc(void)
{
	return cmd_coi_block_alloc(COI_BLOCK_CMD_REMOVE);
}

static struct doveadm_mail_cmd_context *cmd_coi_block_list_alloc(void)
{
	return cmd_coi_block_alloc(COI_BLOCK_CMD_LIST);
}

static struct doveadm_mail_cmd_context *cmd_coi_block_check_alloc(void)
{
	return cmd_coi_block_alloc(COI_BLOCK_CMD_CHECK);
}

static struct doveadm_mail_cmd_context *cmd_coi_block_rebuild_alloc(void)
{
	return cmd_coi_block_alloc(COI_BLOCK_CMD_REBUILD);
}

static struct doveadm_mail_cmd_context *cmd_coi_migrate_alloc(void)
{
	return cmd_coi_block_alloc(COI_CMD_MIGRATE);
}

static struct doveadm_mail_cmd_context *cmd_coi_state_refresh_alloc(void)
{
	return cmd_coi_block_alloc(COI_CMD_STATE_REFRESH);
}

static struct doveadm_mail_cmd_context *cmd_coi_config_set_alloc(void)
{
	return cmd_coi_block_alloc(COI_CMD_CONFIG_SET);
}

static struct doveadm_mail_cmd_context *cmd_coi_config_get_alloc(void)
{
	return cmd_coi_block_alloc(COI_CMD_CONFIG_GET);
}

static struct doveadm_cmd_ver2 coi_commands[] = {
	{
		.name = "coi config set",
		.mail_cmd = cmd_coi_config_set_alloc,
		.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX
			"enabled|message-filter <value>",
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('\0', "name", CMD_PARAM_STR, CMD_PARAM_FLAG_POSITIONAL)
DOVEADM_CMD_PARAM('\0', "value", CMD_PARAM_STR, CMD_PARAM_FLAG_POSITIONAL)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "coi config get",
		.mail_cmd = cmd_coi_config_get_alloc,
		.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "coi migrate",
		.mail_cmd = cmd_coi_migrate_alloc,
		.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "coi state refresh",
		.mail_cmd = cmd_coi_state_refresh_alloc,
		.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "coi block add",
		.mail_cmd = cmd_coi_block_add_alloc,
		.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX "<address|@domain>",
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('\0', "address", CMD_PARAM_STR, CMD_PARAM_FLAG_POSITIONAL)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "coi block remove",
		.mail_cmd = cmd_coi_block_remove_alloc,
		.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX "<address|@domain>",
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('\0', "address", CMD_PARAM_STR, CMD_PARAM_FLAG_POSITIONAL)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "coi block list",
		.mail_cmd = cmd_coi_block_list_alloc,
		.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "coi block rebuild",
		.mail_cmd = cmd_coi_block_rebuild_alloc,
		.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "coi block check",
		.mail_cmd = cmd_coi_block_check_alloc,
		.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX "<address>",
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('\0', "address", CMD_PARAM_STR, CMD_PARAM_FLAG_POSITIONAL)
DOVEADM_CMD_PARAMS_END
	},
};

void doveadm_coi_plugin_init(struct module *module ATTR_UNUSED)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(coi_commands); i++)
		doveadm_cmd_register_ver2(&coi_commands[i]);
}

void doveadm_coi_plugin_deinit(void)
{
	coi_address_deinit();
	coi_user_deinit_process();
}
