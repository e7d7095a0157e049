#ifndef COI_COMMON_H
#define COI_COMMON_H

#include "mailbox-attribute.h"

/*
 * Mailboxes
 */

#define COI_MAILBOX_ROOT_DEFAULT "COI"
#define COI_MAILBOX_CHATS "Chats"
#define COI_MAILBOX_CONTACTS "Contacts"

/*
 * Keywords
 */

#define COI_KEYWORD_CHAT "$Chat"

/*
 * METADATA (server spec, "Getting COI Namespace Configuration")
 */

/* What the client writes after /private/ */
#define COI_METADATA_CONFIG "vendor/vendor.dovecot/coi/config/"
#define COI_METADATA_PRIVATE_CONFIG "/private/"COI_METADATA_CONFIG

#define COI_CONFIG_ENABLED "enabled"
#define COI_CONFIG_MAILBOX_ROOT "mailbox-root"
#define COI_CONFIG_MESSAGE_FILTER "message-filter"

/* Where Dovecot keeps a server ("") attribute: the INBOX's private
   attributes, below the pvt/server/ prefix. */
#define COI_ATTR_CONFIG_PREFIX \
	MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT_SERVER COI_METADATA_CONFIG
#define COI_ATTR_ENABLED COI_ATTR_CONFIG_PREFIX COI_CONFIG_ENABLED
#define COI_ATTR_MAILBOX_ROOT COI_ATTR_CONFIG_PREFIX COI_CONFIG_MAILBOX_ROOT
#define COI_ATTR_MESSAGE_FILTER COI_ATTR_CONFIG_PREFIX COI_CONFIG_MESSAGE_FILTER

#endif
