/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "module-dir.h"
#include "smtp-server.h"
#include "mail-storage.h"
#include "mail-user.h"
#include "mail-storage-hooks.h"
#include "mail-deliver.h"
#include "lmtp-common.h"
#include "lmtp-recipient.h"
#include "coi-user.h"
#include "coi-storage.h"
#include "coi-address.h"
#include "coi-policy.h"
#include "coi-deliver.h"
#include "lmtp-coi-plugin.h"

/* The LMTP hooks exist only in the lmtp binary: in dovecot-lda these are
   NULL, and the plugin works through the deliver_mail hook alone. */
#pragma weak lmtp_client_created_hook_set
#pragma weak lmtp_module_register

/* Classification and filing hook into lib-lda's deliver_mail chain, which
   both lmtp and dovecot-lda run, and which Sieve's plugin (lda-sieve) is a
   link of. Sieve does not call the hook it replaced, so ours must be set
   after Sieve's: the module loader sorts plugins by name, and lib95_ comes
   after Sieve's lib90_ when both are in the same mail_plugins setting. */

const char *lmtp_coi_plugin_version = DOVECOT_ABI_VERSION;

#define LMTP_COI_CONTEXT(obj) \
	MODULE_CONTEXT_REQUIRE(obj, lmtp_coi_client_module)

struct lmtp_coi_client {
	union lmtp_module_context module_ctx;
};

static MODULE_CONTEXT_DEFINE_INIT(lmtp_coi_client_module,
				  &lmtp_module_register);

static struct module *lmtp_coi_module;
static deliver_mail_func_t *next_deliver_mail;
static lmtp_client_created_func_t *next_hook_client_created;
static bool lmtp_coi_order_error_logged;

/* A blocked sender's message goes to the Blocked mailbox and nowhere else:
   Sieve does not run for it, and if that mailbox cannot take it, the
   delivery fails temporarily instead of falling back to the INBOX. Over
   quota, it fails as it would without COI. */
static int
lmtp_coi_deliver_blocked(struct mail_deliver_context *ctx,
			 struct coi_delivery *delivery,
			 struct mail_storage **storage_r)
{
	enum mail_error error;

	if (delivery->blocked_error == NULL &&
	    mail_deliver_save(ctx, ctx->rcpt_default_mailbox, 0, NULL,
			      storage_r) == 0)
		return 1;
	if (*storage_r != NULL) {
		(void)mail_storage_get_last_error(*storage_r, &error);
		if (error == MAIL_ERROR_NOQUOTA) {
			/* lib-lda saves into the INBOX after a failed save
			   into any other default mailbox. With the INBOX
			   named as the default one, already tried, it
			   answers with this quota error instead, as plain
			   Dovecot does (552 5.2.2, or 452 with
			   quota_full_tempfail). */
			ctx->rcpt_default_mailbox = "INBOX";
			return -1;
		}
	}
	/* Anything but a temporary failure would make lib-lda try the
	   INBOX next. */
	ctx->tempfail_error = *storage_r == NULL ?
		"Temporary internal error" :
		p_strdup(ctx->pool, mail_storage_get_last_error(*storage_r,
								NULL));
	return -1;
}

static int
lmtp_coi_deliver_mail(struct mail_deliver_context *ctx,
		      struct mail_storage **storage_r)
{
	struct coi_user *cuser = COI_USER_CONTEXT(ctx->rcpt_user);
	struct coi_detect_headers headers;
	struct coi_delivery *delivery;

	if (cuser != NULL) T_BEGIN {
		if (coi_deliver_get_headers(ctx->src_mail, &headers) < 0) {
			e_error(cuser->event, "Failed to read the headers, "
				"delivering like mail: %s",
				mailbox_get_last_internal_error(
					ctx->src_mail->box, NULL));
			coi_deliver_begin(cuser, NULL, ctx->mail_from,
					  &ctx->rcpt_default_mailbox);
		} else {
			coi_deliver_begin(cuser, &headers, ctx->mail_from,
					  &ctx->rcpt_default_mailbox);
		}
	} T_END;

	delivery = cuser == NULL ? NULL : cuser->delivery;
	if (delivery != NULL && (delivery->policy_error != NULL ||
				 delivery->state_error != NULL)) {
		/* logged by COI; the MTA retries */
		ctx->tempfail_error = "Temporary internal error";
		return -1;
	}
	if (delivery != NULL && delivery->policy_entry != NULL) {
		switch ((enum coi_policy_action)delivery->policy_action) {
		case COI_POLICY_ACTION_DISCARD:
			/* accepted, and dropped */
			return 1;
		case COI_POLICY_ACTION_REJECT:
			/* lmtp rejects in its RCPT and DATA stages (see
			   below). What reaches this point is dovecot-lda, or
			   an lmtp connection accepted before the plugin was
			   loaded (only when a userdb adds lmtp_coi to
			   mail_plugins): tempfail, so that the MTA's retry
			   meets the rejection. */
			ctx->tempfail_error = "Sender blocked by policy";
			return -1;
		case COI_POLICY_ACTION_FOLDER:
			break;
		}
	}
	if (delivery != NULL && delivery->blocked_by != NULL)
		return lmtp_coi_deliver_blocked(ctx, delivery, storage_r);

	/* Without a next hook, mail_deliver() saves to the default mailbox
	   once we return (and falls back to the INBOX if that fails); the
	   delivery state stays with the recipient's user until then. */
	if (next_deliver_mail == NULL)
		return 0;
	return next_deliver_mail(ctx, storage_r);
}

/*
 * LMTP: the provider policy's reject action
 */

/* Reject the recipient with 550 5.7.1 if the policy blocks one of the
   senders, or fail it with 451 4.3.0 if the policy cannot be read. Returns 1
   if it replied, 0 if not. */
static int
lmtp_coi_policy_reject(struct client *client, struct smtp_server_recipient *rcpt,
		       const struct coi_policy_settings *set,
		       const char *const *senders, unsigned int count)
{
	struct event *event;
	const char *entry, *error;
	int ret;

	/* a child of the recipient's event: no COI user exists here, but
	   category=coi filters see it like COI's other events */
	event = event_create(rcpt->event);
	event_add_category(event, &event_category_coi);
	event_set_append_log_prefix(event, "coi: ");
	ret = coi_policy_check(event, set, client->user_set->base_dir,
			       senders, count, &entry, &error);
	if (ret < 0) {
		smtp_server_recipient_reply(rcpt, 451, "4.3.0",
					    "Temporary internal error");
	} else if (ret > 0) {
		e_debug(event_create_passthrough(event)->
			set_name("coi_blocked")->add_str("source", "policy")->
			add_str("action", "reject")->event(),
			"Sender blocked by the provider policy entry %s", entry);
		smtp_server_recipient_reply(rcpt, 550, "5.7.1",
			"Delivery not authorized, sender blocked");
	}
	event_unref(&event);
	return ret == 0 ? 0 : 1;
}

/* Can the RCPT stage reject with these server-wide settings? Not without a
   policy, and not when a %variable in it needs the recipient's user, which
   does not exist at RCPT TO: such a policy is checked after DATA only. */
static bool lmtp_coi_policy_rejects(const struct coi_policy_settings *set)
{
	return set->action == COI_POLICY_ACTION_REJECT &&
		(set->path[0] != '\0' || set->dict_uri[0] != '\0') &&
		strchr(set->path, '%') == NULL &&
		strchr(set->dict_uri, '%') == NULL;
}

/* RCPT TO: the envelope sender, with the server-wide plugin settings (the
   recipient's user does not exist yet). */
static int
lmtp_coi_cmd_rcpt(struct client *client, struct smtp_server_cmd_ctx *cmd,
		  struct lmtp_recipient *lrcpt)
{
	struct lmtp_coi_client *lcclient = LMTP_COI_CONTEXT(client);
	struct smtp_server_transaction *trans =
		smtp_server_connection_get_transaction(cmd->conn);
	struct coi_policy_settings set;
	const char *sender, *error;
	int ret = 0;

	if (trans != NULL) T_BEGIN {
		/* The same parser as the user's settings. An invalid value is
		   left to the delivery: the user's settings (a userdb may
		   override it) fail it loudly after DATA. */
		if (coi_policy_settings_parse(client->user_set,
					      pool_datastack_create(), &set,
					      &error) == 0 &&
		    lmtp_coi_policy_rejects(&set) &&
		    (sender = coi_address_from_smtp(trans->mail_from)) != NULL) {
			ret = lmtp_coi_policy_reject(client, lrcpt->rcpt, &set,
						     &sender, 1);
		}
	} T_END;
	if (ret > 0)
		return -1;
	return lcclient->module_ctx.super.cmd_rcpt(client, cmd, lrcpt);
}

/* After DATA: the From header (and the envelope, for the recipient's own
   settings). */
static int
lmtp_coi_local_deliver(struct client *client, struct lmtp_recipient *lrcpt,
		       struct smtp_server_cmd_ctx *cmd,
		       struct smtp_server_transaction *trans,
		       struct lmtp_local_deliver_context *lldctx)
{
	struct lmtp_coi_client *lcclient = LMTP_COI_CONTEXT(client);
	struct coi_user *cuser = COI_USER_CONTEXT(lldctx->rcpt_user);
	struct coi_senders senders;
	const char *const *froms, *const *sender_list;
	unsigned int sender_count;
	int ret = 0;

	if (cuser != NULL &&
	    cuser->set.policy.action == COI_POLICY_ACTION_REJECT &&
	    (cuser->set.policy.path[0] != '\0' ||
	     cuser->set.policy.dict_uri[0] != '\0')) T_BEGIN {
		/* the senders coi_deliver_begin() checks: every From */
		coi_senders_init(&senders);
		coi_senders_add_smtp(&senders, trans->mail_from);
		if (mail_get_headers(lldctx->src_mail, "From", &froms) > 0) {
			for (; *froms != NULL; froms++)
				coi_senders_add_from(&senders, *froms);
		}
		sender_list = coi_senders_get(&senders, &sender_count);
		ret = lmtp_coi_policy_reject(client, lrcpt->rcpt,
					     &cuser->set.policy,
					     sender_list, sender_count);
	} T_END;
	if (ret > 0)
		return -1;
	if (cuser != NULL &&
	    cuser->set.policy.action == COI_POLICY_ACTION_REJECT) {
		/* checked above, or nothing to check: the same senders,
		   settings and policy the delivery would look at */
		cuser->policy_checked = TRUE;
	}
	return lcclient->module_ctx.super.local_deliver(client, lrcpt, cmd,
							trans, lldctx);
}

static void lmtp_coi_client_created(struct client **clientp)
{
	struct client *client = *clientp;
	struct lmtp_coi_client *lcclient;

	lcclient = p_new(client->pool, struct lmtp_coi_client, 1);
	lcclient->module_ctx.super = client->v;
	client->v.cmd_rcpt = lmtp_coi_cmd_rcpt;
	client->v.local_deliver = lmtp_coi_local_deliver;
	MODULE_CONTEXT_SET(client, lmtp_coi_client_module, lcclient);

	if (next_hook_client_created != NULL)
		next_hook_client_created(clientp);
}

static void lmtp_coi_mail_user_created(struct mail_user *user)
{
	/* Plugins loaded for a later user (per-user mail_plugins) may have
	   put their hook in front of ours. */
	if (deliver_mail != lmtp_coi_deliver_mail &&
	    !lmtp_coi_order_error_logged) {
		lmtp_coi_order_error_logged = TRUE;
		e_error(event_create_passthrough(user->event)->
			add_category(&event_category_coi)->event(),
			"coi: Another delivery plugin was loaded "
			"after lmtp_coi, so chat is not filed: load lmtp_coi "
			"in the same mail_plugins setting as sieve");
	}
}

static const struct mail_storage_hooks lmtp_coi_mail_storage_hooks = {
	.mail_user_created = lmtp_coi_mail_user_created,
};

void lmtp_coi_plugin_init(struct module *module)
{
	lmtp_coi_module = module;
	coi_storage_init(module, 0);
	mail_storage_hooks_add(module, &lmtp_coi_mail_storage_hooks);
	next_deliver_mail = mail_deliver_hook_set(lmtp_coi_deliver_mail);
	/* lmtp loads the mail_plugins of protocol lmtp when it creates a
	   client, before calling this hook for it. */
	if (lmtp_client_created_hook_set != NULL) {
		next_hook_client_created =
			lmtp_client_created_hook_set(lmtp_coi_client_created);
	}
}

void lmtp_coi_plugin_deinit(void)
{
	if (lmtp_client_created_hook_set != NULL)
		lmtp_client_created_hook_set(next_hook_client_created);
	mail_deliver_hook_set(next_deliver_mail);
	mail_storage_hooks_remove(&lmtp_coi_mail_storage_hooks);
	coi_storage_deinit();
	coi_policy_deinit();
}

/* Delivery only, like Sieve's plugin. */
const char lmtp_coi_plugin_binary_dependency[] = "lda lmtp";
