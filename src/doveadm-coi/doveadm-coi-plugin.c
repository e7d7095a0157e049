/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "module-dir.h"
#include "mail-storage.h"
#include "mail-namespace.h"
#include "doveadm-print.h"
#include "doveadm-mail.h"
#include "coi-user.h"
#include "coi-config.h"
#include "coi-address.h"
#include "coi-block.h"
#include "coi-contacts.h"

#include <sysexits.h>

/* doveadm coi block add|remove|list|check|rebuild -u USER [ADDRESS]

   doveadm does not load imap_coi or lmtp_coi, so the commands attach the
   COI user context to the one user they work on themselves, and write the
   block list attributes directly: an admin is not held to the client's
   limit, and may block addresses that METADATA entry names cannot carry
   (non-ASCII). */

const char *doveadm_coi_plugin_version = DOVECOT_ABI_VERSION;

void doveadm_coi_plugin_init(struct module *module);
void doveadm_coi_plugin_deinit(void);

enum coi_block_cmd {
	COI_BLOCK_CMD_ADD,
	COI_BLOCK_CMD_REMOVE,
	COI_BLOCK_CMD_LIST,
	COI_BLOCK_CMD_CHECK,
	COI_BLOCK_CMD_REBUILD,
};

struct coi_block_cmd_context {
	struct doveadm_mail_cmd_context ctx;
	enum coi_block_cmd cmd;
	/* normalized: an address or "@domain" */
	const char *entry;
};

static int
coi_block_cmd_set(struct coi_block_cmd_context *ctx, struct mailbox *inbox)
{
	return coi_attribute_set(inbox,
		t_strconcat(COI_ATTR_BLOCKED_PREFIX, ctx->entry, NULL),
		ctx->cmd == COI_BLOCK_CMD_ADD ? "yes" : NULL);
}

static int coi_block_cmd_list(struct mailbox *inbox)
{
	struct mailbox_attribute_iter *iter;
	const char *key;

	iter = mailbox_attribute_iter_init(inbox, MAIL_ATTRIBUTE_TYPE_PRIVATE,
					   COI_ATTR_BLOCKED_PREFIX);
	while ((key = mailbox_attribute_iter_next(iter)) != NULL) {
		doveadm_print(key);
		doveadm_print("metadata");
	}
	if (mailbox_attribute_iter_deinit(&iter) < 0)
		return -1;

	iter = mailbox_attribute_iter_init(inbox, MAIL_ATTRIBUTE_TYPE_PRIVATE,
					   COI_CONTACTS_ATTR_HASH_PREFIX);
	while ((key = mailbox_attribute_iter_next(iter)) != NULL) {
		doveadm_print(t_strconcat("COI-From-Hash:", key, NULL));
		doveadm_print("contact");
	}
	return mailbox_attribute_iter_deinit(&iter);
}

static int
coi_block_cmd_check(struct coi_block_cmd_context *ctx, struct coi_user *cuser,
		    struct mailbox *inbox)
{
	const char *senders[1] = { ctx->entry }, *entry;
	struct coi_attrs attrs;
	int ret;

	coi_attrs_init(&attrs, inbox);
	ret = coi_block_lookup(&attrs, senders, 1, &entry);
	if (ret == 0) {
		ret = coi_contacts_lookup(cuser, &attrs, senders, 1, &entry);
		if (ret > 0)
			entry = t_strconcat("COI-From-Hash:", entry, NULL);
	}
	coi_attrs_deinit(&attrs);
	if (ret < 0)
		return -1;
	doveadm_print(ctx->entry);
	doveadm_print(ret > 0 ? "yes" : "no");
	doveadm_print(ret > 0 ? entry : "");
	return 0;
}

static int
cmd_coi_block_run(struct doveadm_mail_cmd_context *_ctx,
		  struct mail_user *user)
{
	struct coi_block_cmd_context *ctx =
		container_of(_ctx, struct coi_block_cmd_context, ctx);
	struct coi_user *cuser;
	struct mailbox *inbox;
	enum mail_error error;
	const char *errstr;
	int ret = 0;

	if ((cuser = coi_user_attach(user, &errstr)) == NULL) {
		i_error("%s", errstr);
		doveadm_mail_failed_error(_ctx, MAIL_ERROR_TEMP);
		return -1;
	}
	inbox = coi_config_inbox_alloc(cuser);
	switch (ctx->cmd) {
	case COI_BLOCK_CMD_ADD:
	case COI_BLOCK_CMD_REMOVE:
		ret = coi_block_cmd_set(ctx, inbox);
		break;
	case COI_BLOCK_CMD_LIST:
		ret = coi_block_cmd_list(inbox);
		break;
	case COI_BLOCK_CMD_CHECK:
		ret = coi_block_cmd_check(ctx, cuser, inbox);
		break;
	case COI_BLOCK_CMD_REBUILD:
		/* after contacts were changed outside IMAP (doveadm expunge,
		   dsync, autoexpunge): logged by COI if it fails */
		if (coi_contacts_rebuild(cuser) < 0) {
			doveadm_mail_failed_error(_ctx, MAIL_ERROR_TEMP);
			mailbox_free(&inbox);
			coi_user_detach(&cuser);
			return -1;
		}
		break;
	}
	if (ret < 0) {
		i_error("coi block: %s",
			mailbox_get_last_internal_error(inbox, &error));
		doveadm_mail_failed_error(_ctx, error);
	}
	mailbox_free(&inbox);
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
	if (cmd == COI_BLOCK_CMD_LIST || cmd == COI_BLOCK_CMD_CHECK)
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

static struct doveadm_cmd_ver2 coi_commands[] = {
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
}
