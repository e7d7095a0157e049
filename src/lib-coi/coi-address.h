#ifndef COI_ADDRESS_H
#define COI_ADDRESS_H

#include "sha2.h"

struct mail;
struct smtp_address;

/* Hex digits of a COI-From-Hash (SHA3-256). */
#define COI_ADDRESS_HASH_HEX_LEN 64

/* The normalized form of an address (client spec, "Contact Storage Message
   Headers"): local-part without quotes, "@", domain; in UTF-8, lowercased
   (Unicode simple case mapping, so "ÄLICE@Example.ORG" becomes
   "älice@example.org"). Returns NULL if the address is not valid UTF-8,
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

/* The envelope sender, normalized; NULL for the null sender <>. */
const char *coi_address_from_smtp(const struct smtp_address *address);

#endif
