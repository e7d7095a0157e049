/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "module-dir.h"
#include "mail-storage.h"
#include "mail-user.h"
#include "mail-storage-hooks.h"
#include "mail-deliver.h"
#include "coi-user.h"
#include "coi-storage.h"
#include "coi-deliver.h"
#include "lmtp-coi-plugin.h"

/* Classification and filing hook into lib-lda's deliver_mail chain, which
   both lmtp and dovecot-lda run, and which Sieve's plugin (lda-sieve) is a
   link of. Sieve does not call the hook it replaced, so ours must be set
   after Sieve's: the module loader sorts plugins by name, and lib95_ comes
   after Sieve's lib90_ when both are in the same mail_plugins setting. */

const char *lmtp_coi_plugin_version = DOVECOT_ABI_VERSION;

static struct module *lmtp_coi_module;
static deliver_mail_func_t *next_deliver_mail;
static bool lmtp_coi_order_error_logged;

/* A blocked sender's message goes to the Blocked mailbox and nowhere else:
   Sieve does not run for it, and if that mailbox cannot take it, the
   delivery fails temporarily instead of falling back to the INBOX. */
static int
lmtp_coi_deliver_blocked(struct mail_deliver_context *ctx,
			 struct coi_delivery *delivery,
			 struct mail_storage **storage_r)
{
	if (delivery->blocked_error == NULL &&
	    mail_deliver_save(ctx, ctx->rcpt_default_mailbox, 0, NULL,
			      storage_r) == 0)
		return 1;
	/* Even over quota: anything but a temporary failure would make
	   lib-lda try the INBOX next. */
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

	if (cuser != NULL && cuser->delivery->blocked_by != NULL)
		return lmtp_coi_deliver_blocked(ctx, cuser->delivery,
						storage_r);

	/* Without a next hook, mail_deliver() saves to the default mailbox
	   once we return (and falls back to the INBOX if that fails); the
	   delivery state stays with the recipient's user until then. */
	if (next_deliver_mail == NULL)
		return 0;
	return next_deliver_mail(ctx, storage_r);
}

static void lmtp_coi_mail_user_created(struct mail_user *user)
{
	/* Plugins loaded for a later user (per-user mail_plugins) may have
	   put their hook in front of ours. */
	if (deliver_mail != lmtp_coi_deliver_mail &&
	    !lmtp_coi_order_error_logged) {
		lmtp_coi_order_error_logged = TRUE;
		e_error(user->event, "coi: Another delivery plugin was loaded "
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
}

void lmtp_coi_plugin_deinit(void)
{
	mail_deliver_hook_set(next_deliver_mail);
	mail_storage_hooks_remove(&lmtp_coi_mail_storage_hooks);
	coi_storage_deinit();
}

/* Delivery only, like Sieve's plugin. */
const char lmtp_coi_plugin_binary_dependency[] = "lda lmtp";
