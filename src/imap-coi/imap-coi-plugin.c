/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "imap-common.h"
#include "imap-client.h"
#include "coi-storage.h"
#include "imap-coi-plugin.h"

#define IMAP_COI_CAPABILITY "COI"

const char *imap_coi_plugin_version = DOVECOT_ABI_VERSION;

static struct module *imap_coi_module;
static imap_client_created_func_t *next_hook_client_created;

static void imap_coi_client_created(struct client **clientp)
{
	struct client *client = *clientp;

	/* imap-login never loads mail plugins, so this is post-login only:
	   CAPABILITY and the [CAPABILITY ...] of the LOGIN reply. */
	if (mail_user_is_plugin_loaded(client->user, imap_coi_module))
		client_add_capability(client, IMAP_COI_CAPABILITY);

	if (next_hook_client_created != NULL)
		next_hook_client_created(clientp);
}

void imap_coi_plugin_init(struct module *module)
{
	imap_coi_module = module;
	coi_storage_init(module, COI_STORAGE_FLAG_CLIENT);
	next_hook_client_created =
		imap_client_created_hook_set(imap_coi_client_created);
}

void imap_coi_plugin_deinit(void)
{
	imap_client_created_hook_set(next_hook_client_created);
	coi_storage_deinit();
}

const char imap_coi_plugin_binary_dependency[] = "imap";
