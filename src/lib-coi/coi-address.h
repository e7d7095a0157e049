#ifndef COI_ADDRESS_H
#define COI_ADDRESS_H

#include "array-decl.h"

struct mail;
struct smtp_address;

/* Hex digits of a COI-From-Hash (SHA3-256). */
#define COI_ADDRESS_HASH_HEX_LEN 64

/* The longest address: RFC 5321 4.5.3.1.3 allows a path of 256 octets,
   angle brackets included. A longer sender address yields no lookup key
   (a dict line, a SQL column or a log line would carry it whole). */
#define COI_ADDRESS_MAX_LEN 254
/* The longest domain: 255 octets in DNS wire form (RFC 1035 2.3.4) is 253
   in text without the root's dot. No entry names a longer one. */
#define COI_DOMAIN_MAX_LEN 253
/* Block entry names: an address, or "@" and a domain, both fit in 254. */
#define COI_BLOCK_ENTRY_MAX_LEN COI_ADDRESS_MAX_LEN
/* The most sender addresses one message is checked for (envelope first,
   then the From headers in order); the rest are ignored, so that a From
   with thousands of addresses costs no more than 16 lookups each. */
#define COI_SENDERS_MAX 16

/* The normalized sender addresses of one message, deduplicated, at most
   COI_SENDERS_MAX, allocated from the data stack. */
struct coi_senders {
	ARRAY_TYPE(const_string) addresses;
};

/* The normalized form of an address (client spec, "Contact Storage Message
   Headers"): local-part without quotes, "@", domain; in UTF-8, lowercased
   (Unicode simple case mapping, so "ÄLICE@Example.ORG" becomes
   "älice@example.org"), and the domain without trailing dots (the root's
   label: "example.org." is example.org). Returns NULL if the address is not valid UTF-8,
   has no domain or an '@' in it, since no client could have hashed it the
   same way. */
const char *coi_address_normalize(const char *localpart, const char *domain);

/* Lowercase hex SHA3-256 of a normalized address: its COI-From-Hash.
   Returns NULL if OpenSSL cannot compute it (a broken installation). */
const char *coi_address_hash(const char *normalized);

/* Free what coi_address_normalize() and coi_address_hash() keep for the
   process: from each plugin's deinit. */
void coi_address_deinit(void);

/* Returns TRUE if value is a well-formed COI-From-Hash (64 hex digits, any
   case); hash_r is then its lowercase form. */
bool coi_address_hash_parse(const char *value, const char **hash_r);

/* The first address of a From header value, normalized; NULL if there is
   none usable (group syntax, no domain, broken). */
const char *coi_address_from_header(const char *value);

/* The envelope sender, normalized; NULL for the null sender <>. A broken
   path (lmtp's mail_path_allow_broken) is taken from its raw text. */
const char *coi_address_from_smtp(const struct smtp_address *address);

/* Start an empty sender list on the data stack. */
void coi_senders_init(struct coi_senders *senders);
/* Add the envelope sender (nothing for <> or a broken one). */
void coi_senders_add_smtp(struct coi_senders *senders,
			  const struct smtp_address *address);
/* Add every usable address of a From header value (group members too):
   call it once per From header instance. NULL adds nothing. */
void coi_senders_add_from(struct coi_senders *senders, const char *value);
/* The addresses added so far (count_r of them, in the order added). */
const char *const *
coi_senders_get(const struct coi_senders *senders, unsigned int *count_r);

/* Append to entries the block entries that match a normalized address (or
   an "@domain" entry), skipping those already there: the address, its base
   without "+detail", and its "@domain"; each for the domain as given and
   in its IDNA A-label and U-label forms. An address longer than
   COI_ADDRESS_MAX_LEN has only its "@domain", a domain longer than
   COI_DOMAIN_MAX_LEN has none. */
void coi_address_block_candidates(const char *normalized,
				  ARRAY_TYPE(const_string) *entries);

/*
 * Block entries (the user's list and the provider's policy)
 */

/* Check an entry name below blocked/ (what the client wrote after the
   prefix): a normalized address "local@domain", or "@domain". Returns 0,
   or -1 with error_r fit for the client. */
int coi_block_entry_verify(const char *entry, const char **error_r);

/* Normalize what an admin wrote ("User@Example.ORG", "<user@x>",
   "@Example.ORG.") into an entry; NULL if it is not an address or @domain
   (or not UTF-8). The result still needs coi_block_entry_verify(). */
const char *coi_block_entry_normalize(const char *input);

/* The entries that name address (normalized) literally: itself, and its
   "@domain" (NULL when address is an "@domain"). A sender is matched by
   all of coi_address_block_candidates(). */
void coi_block_entries(const char *address, const char **entry_r,
		       const char **domain_entry_r);

#endif
