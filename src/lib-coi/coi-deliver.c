/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "str-sanitize.h"
#include "istream.h"
#include "message-size.h"
#include "message-header-parser.h"
#include "mail-storage-private.h"
#include "mail-namespace.h"
#include "coi-user.h"
#include "coi-state.h"
#include "coi-folders.h"
#include "coi-config.h"
#include "coi-thread.h"
#include "coi-address.h"
#include "coi-block.h"
#include "coi-contacts.h"
#include "coi-policy.h"
#include "coi-deliver.h"

int coi_deliver_get_headers(struct mail *mail,
			    struct coi_detect_headers *headers_r)
{
	const char **values[] = {
		&headers_r->chat_version,
		&headers_r->message_id,
		&headers_r->references,
		&headers_r->in_reply_to,
		&headers_r->from,
		&headers_r->to,
		&headers_r->cc,
		&headers_r->content_type,
		&headers_r->subject,
		&headers_r->secure_join,
		&headers_r->autocrypt_setup_message,
	};
	struct message_header_parser_ctx *parser;
	struct message_header_line *hdr;
	struct message_size hdr_size;
	struct istream *input;
	const char *value;
	unsigned int i;
	int ret;

	i_zero(headers_r);
	t_array_init(&headers_r->from_all, 2);
	/* One pass over the header block, whatever index-mail has cached:
	   asking it for each field can parse the header again per field. */
	if (mail_get_hdr_stream(mail, &hdr_size, &input) < 0)
		return -1;
	parser = message_parse_header_init(input, NULL,
		MESSAGE_HEADER_PARSER_FLAG_SKIP_INITIAL_LWSP |
		MESSAGE_HEADER_PARSER_FLAG_CLEAN_ONELINE);
	/* every From instance is a sender to check: the whole header block
	   is read */
	while ((ret = message_parse_header_next(parser, &hdr)) > 0) {
		if (hdr->eoh)
			break;
		for (i = 0; i < N_ELEMENTS(values); i++) {
			if (strcasecmp(hdr->name, coi_detect_header_names[i]) == 0)
				break;
		}
		/* only the first instance of each counts, but all of From */
		if (i == N_ELEMENTS(values) ||
		    (values[i] == &headers_r->from ?
		     array_count(&headers_r->from_all) >= COI_SENDERS_MAX :
		     *values[i] != NULL))
			continue;
		if (hdr->continues) {
			hdr->use_full_value = TRUE;
			continue;
		}
		/* NULs become U+FFFD, as in mail_get_first_header() */
		value = message_header_strdup(pool_datastack_create(),
			hdr->full_value, hdr->full_value_len);
		if (values[i] == &headers_r->from)
			array_push_back(&headers_r->from_all, &value);
		else if ((values[i] == &headers_r->to ||
			  values[i] == &headers_r->cc ||
			  values[i] == &headers_r->content_type ||
			  values[i] == &headers_r->subject) &&
			 strlen(value) > COI_DETECT_ADDRESS_VALUE_MAX)
			value = t_strndup(value, COI_DETECT_ADDRESS_VALUE_MAX);
		if (*values[i] == NULL)
			*values[i] = value;
	}
	message_parse_header_deinit(&parser);
	if (input->stream_errno != 0) {
		mail_set_critical(mail, "read(%s) failed: %s",
				  i_stream_get_name(input),
				  i_stream_get_error(input));
		i_zero(headers_r);
		return -1;
	}
	return 0;
}

/* The thread rule, and remembering chat ids for it. Failures only cost the
   thread rule, so they are logged and delivery goes on. */
static void
coi_deliver_thread(struct coi_user *cuser, struct coi_delivery *delivery,
		   struct coi_state_read *read,
		   const struct coi_detect_headers *headers,
		   const ARRAY_TYPE(const_string) *parent_ids,
		   const struct coi_thread_people *people)
{
	enum coi_thread_source source = COI_THREAD_SOURCE_CHAT;
	const char *id, *found, *error;

	if (cuser->set.thread_index_size == 0)
		return;
	if (delivery->reason == COI_CHAT_REASON_NONE &&
	    array_count(parent_ids) > 0) {
		if (coi_thread_lookup(read, &cuser->set, parent_ids, people,
				      &found, &error) < 0) {
			e_error(cuser->event,
				"Failed to read the thread index: %s", error);
		} else if (found != NULL) {
			delivery->reason = COI_CHAT_REASON_THREAD;
			source = COI_THREAD_SOURCE_REPLY;
			e_debug(cuser->event, "Reply to chat message <%s>",
				str_sanitize(found, 256));
		}
	}
	if (delivery->reason != COI_CHAT_REASON_NONE &&
	    (id = coi_detect_message_id(headers)) != NULL &&
	    coi_thread_add(cuser, read, &cuser->set, id, people, source,
			   &error) < 0)
		e_error(cuser->event, "Failed to read the thread index: %s",
			error);
}

/* Is the sender blocked for everyone (the provider's policy)? Sets
   delivery->policy_entry (and blocked_by when the policy's action is the
   Blocked mailbox), or delivery->policy_error. */
static void
coi_deliver_policy_check(struct coi_user *cuser, struct coi_delivery *delivery,
			 const char *const *senders, unsigned int count)
{
	const char *entry, *error;
	int ret;

	ret = coi_policy_check(cuser->event, &cuser->set.policy,
			       cuser->user->set->base_dir,
			       senders, count, &entry, &error);
	if (ret < 0) {
		/* An unknown policy is no policy to deliver under. */
		delivery->policy_error = p_strdup(cuser->user->pool, error);
	} else if (ret > 0) {
		delivery->policy_entry = p_strdup(cuser->user->pool, entry);
		delivery->policy_action = cuser->set.policy.action;
		e_debug(event_create_passthrough(cuser->event)->
			set_name("coi_blocked")->
			add_str("source", "policy")->
			add_str("action", coi_policy_action_to_str(
				delivery->policy_action))->event(),
			"Sender blocked by the provider policy entry %s (%s)",
			entry, coi_policy_action_to_str(delivery->policy_action));
		if (delivery->policy_action == COI_POLICY_ACTION_FOLDER) {
			delivery->blocked_by = p_strconcat(cuser->user->pool,
				"policy:", entry, NULL);
		}
	}
}

/* Is the sender on the user's block list, or a blocked contact? Sets
   delivery->blocked_by. Returns 0, or -1 with error_r. */
static int
coi_deliver_block_check(struct coi_user *cuser, struct coi_delivery *delivery,
			struct coi_state_read *read,
			const char *const *senders, unsigned int count,
			const char **error_r)
{
	const char *entry;
	int ret;

	ret = coi_block_lookup(read, senders, count, &entry, error_r);
	if (ret == 0) {
		ret = coi_contacts_lookup(cuser, read, senders, count, &entry,
					  error_r);
		if (ret > 0)
			entry = t_strconcat("contact:", entry, NULL);
	}
	if (ret > 0) {
		delivery->blocked_by = p_strdup(cuser->user->pool, entry);
		e_debug(event_create_passthrough(cuser->event)->
			set_name("coi_blocked")->
			add_str("source", str_begins(entry, "contact:") ?
				"contact" : "metadata")->event(),
			"Sender blocked by the user's entry %s", entry);
	}
	return ret < 0 ? -1 : 0;
}

/* The user's state could not be read: a block list that cannot be read
   must not let a blocked sender in, so the delivery fails temporarily and
   the MTA retries, unless the admin chose coi_state_failure = deliver. */
static void
coi_deliver_state_failed(struct coi_user *cuser, struct coi_delivery *delivery,
			 const char *what, const char *error)
{
	bool deliver = cuser->set.state_failure_deliver;

	e_error(event_create_passthrough(cuser->event)->
		set_name("coi_state_failed")->
		add_str("action", deliver ? "deliver" : "tempfail")->event(),
		"Failed to read the %s, %s: %s", what, deliver ?
		"delivering as if COI were off (coi_state_failure = deliver)" :
		"delivery fails temporarily", error);
	if (!deliver) {
		delivery->state_error = p_strdup_printf(cuser->user->pool,
			"Failed to read the %s", what);
	}
}

/* Read what the delivery needs of the user's state in one round trip and
   decide: blocked, chat, or neither. */
static void
coi_deliver_decide(struct coi_user *cuser, struct coi_delivery *delivery,
		   const struct coi_detect_headers *headers,
		   const char *const *senders, unsigned int sender_count)
{
	struct coi_state_read *read = coi_state_read_begin(cuser);
	ARRAY_TYPE(const_string) parent_ids;
	struct coi_thread_people people;
	const char *error;

	i_zero(&people);
	coi_config_read_want(read);
	if (delivery->blocked_by == NULL) {
		coi_block_read_want(read, senders, sender_count);
		coi_contacts_read_want(read, senders, sender_count);
	}
	/* what the thread rule needs, in the same round trip: the slots and
	   peer records a reply is checked against, and the message's own
	   slot and its writer's record, for remembering a chat */
	t_array_init(&parent_ids, COI_THREAD_MAX_LOOKUPS);
	if (headers != NULL) {
		coi_thread_people_get(headers, &people);
		if ((delivery->reason = coi_detect_headers(headers)) ==
		    COI_CHAT_REASON_NONE) {
			coi_detect_parent_ids(headers, COI_THREAD_MAX_LOOKUPS,
					      &parent_ids);
			coi_thread_read_want(read, &cuser->set, &parent_ids,
					     &people);
		}
		if (delivery->reason != COI_CHAT_REASON_NONE ||
		    array_count(&parent_ids) > 0) {
			coi_thread_add_want(read, &cuser->set,
				coi_detect_message_id(headers), &people,
				COI_THREAD_SOURCE_CHAT);
		}
	}
	coi_state_read_fetch(read);

	/* Blocks hold whether or not the user enabled COI. */
	if (delivery->blocked_by == NULL && sender_count > 0 &&
	    coi_deliver_block_check(cuser, delivery, read, senders,
				    sender_count, &error) < 0)
		coi_deliver_state_failed(cuser, delivery, "block list", error);
	else if (delivery->blocked_by == NULL &&
		 coi_config_read_from(cuser, read, &delivery->config,
				      &error) < 0)
		coi_deliver_state_failed(cuser, delivery, "COI configuration",
					 error);
	else if (delivery->blocked_by == NULL && delivery->config.enabled &&
		 headers != NULL)
		coi_deliver_thread(cuser, delivery, read, headers, &parent_ids,
				   &people);
	if (!delivery->config.enabled || delivery->blocked_by != NULL)
		delivery->reason = COI_CHAT_REASON_NONE;
	coi_state_read_end(&read);
}

/* The senders to check: the envelope's, then every address of every From
   header, normalized and deduplicated (see coi_senders_add_from()). */
static const char *const *
coi_deliver_senders(const struct coi_detect_headers *headers,
		    const struct smtp_address *mail_from,
		    unsigned int *count_r)
{
	struct coi_senders senders;
	const char *value;

	coi_senders_init(&senders);
	coi_senders_add_smtp(&senders, mail_from);
	if (headers != NULL && array_is_created(&headers->from_all)) {
		array_foreach_elem(&headers->from_all, value)
			coi_senders_add_from(&senders, value);
	} else if (headers != NULL) {
		coi_senders_add_from(&senders, headers->from);
	}
	return coi_senders_get(&senders, count_r);
}

void coi_deliver_begin(struct coi_user *cuser,
		       const struct coi_detect_headers *headers,
		       const struct smtp_address *mail_from,
		       const char **default_mailbox)
{
	struct coi_delivery *delivery;
	const char *const *senders, *error;
	unsigned int sender_count;

	delivery = p_new(cuser->user->pool, struct coi_delivery, 1);
	cuser->delivery = delivery;

	/* Only the user's own clients store contacts: a +detail naming
	   Contacts (lmtp_save_to_detail_mailbox) goes to the INBOX. */
	if (strcmp(*default_mailbox, cuser->contacts) == 0) {
		e_debug(cuser->event, "Delivering to INBOX instead of %s",
			cuser->contacts);
		*default_mailbox = "INBOX";
	}
	delivery->default_mailbox = *default_mailbox;

	senders = coi_deliver_senders(headers, mail_from, &sender_count);
	if (sender_count > 0 && !cuser->policy_checked) {
		coi_deliver_policy_check(cuser, delivery, senders,
					 sender_count);
		if (delivery->policy_error != NULL ||
		    (delivery->policy_entry != NULL &&
		     delivery->blocked_by == NULL))
			return;
	}

	coi_deliver_decide(cuser, delivery, headers, senders, sender_count);
	if (delivery->state_error != NULL)
		return;

	if (delivery->blocked_by != NULL) {
		if (coi_folders_blocked_ensure(cuser, &error) < 0) {
			delivery->blocked_error = p_strdup_printf(
				cuser->user->pool, "Cannot create %s: %s",
				cuser->blocked, error);
			e_error(cuser->event, "%s", delivery->blocked_error);
		}
		delivery->default_mailbox = cuser->blocked;
		*default_mailbox = cuser->blocked;
		return;
	}
	if (delivery->reason == COI_CHAT_REASON_NONE)
		return;

	delivery->chat = TRUE;
	/* Only the INBOX delivery is filed: an explicit +detail mailbox
	   (lmtp_save_to_detail_mailbox) is the sender's choice. A missing
	   Chats is created again when the save opens it (coi-storage.c). */
	if (delivery->config.filter == COI_MESSAGE_FILTER_ACTIVE &&
	    strcmp(*default_mailbox, "INBOX") == 0) {
		delivery->to_chats = TRUE;
		delivery->default_mailbox =
			p_strdup(cuser->user->pool, cuser->chats);
		*default_mailbox = delivery->default_mailbox;
	}
	e_debug(event_create_passthrough(cuser->event)->
		set_name("coi_chat_detected")->
		add_str("reason", coi_chat_reason_to_str(delivery->reason))->
		add_str("filter",
			coi_message_filter_to_str(delivery->config.filter))->
		add_str("mailbox", delivery->default_mailbox)->event(),
		"Chat message (%s): default mailbox %s",
		coi_chat_reason_to_str(delivery->reason),
		delivery->default_mailbox);
}

void coi_deliver_remember_saved(struct coi_user *cuser, struct mail *mail)
{
	struct coi_detect_headers headers;
	struct coi_thread_people people;
	struct coi_state_read *read;
	struct coi_config config;
	const char *id, *error;

	if (cuser->set.thread_index_size == 0 ||
	    coi_deliver_get_headers(mail, &headers) < 0 ||
	    coi_detect_headers(&headers) == COI_CHAT_REASON_NONE ||
	    (id = coi_detect_message_id(&headers)) == NULL)
		return;
	/* the configuration, the slot and the recipients' peer records in
	   one round trip */
	coi_thread_people_get(&headers, &people);
	read = coi_state_read_begin(cuser);
	coi_config_read_want(read);
	coi_thread_add_want(read, &cuser->set, id, &people,
			    COI_THREAD_SOURCE_OWN);
	coi_state_read_fetch(read);
	if (coi_config_read_from(cuser, read, &config, &error) < 0) {
		e_error(cuser->event, "Failed to read the COI configuration: "
			"%s", error);
	} else if (config.enabled &&
		   coi_thread_add(cuser, read, &cuser->set, id, &people,
				  COI_THREAD_SOURCE_OWN, &error) < 0) {
		e_error(cuser->event, "Failed to read the thread index: %s",
			error);
	}
	coi_state_read_end(&read);
}
