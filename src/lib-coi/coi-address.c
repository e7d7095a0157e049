/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "hex-binary.h"
#include "unichar.h"
#include "message-address.h"
#include "smtp-address.h"
#include "coi-address.h"

#include <ctype.h>
#include <idn2.h>
#include <openssl/evp.h>
#include <locale.h>
#include <wctype.h>

/* Unicode lowercasing with glibc's C.UTF-8 locale, without touching the
   process locale. */
static locale_t coi_utf8_locale = (locale_t)0;
static bool coi_utf8_locale_failed = FALSE;

static unichar_t coi_unichar_lcase(unichar_t chr)
{
	if (chr < 0x80)
		return i_tolower(chr);
	if (coi_utf8_locale == (locale_t)0 && !coi_utf8_locale_failed) {
		/* Debian's libc6 ships C.UTF-8; a system without it cannot
		   hash non-ASCII addresses as clients do. */
		coi_utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8",
					    (locale_t)0);
		if (coi_utf8_locale == (locale_t)0) {
			coi_utf8_locale_failed = TRUE;
			i_warning("coi: newlocale(C.UTF-8) failed: %m - "
				  "non-ASCII addresses are not lowercased");
		}
	}
	if (coi_utf8_locale_failed)
		return chr;
	return towlower_l(chr, coi_utf8_locale);
}

static bool coi_utf8_lcase_append(string_t *dest, const char *src)
{
	unichar_t chr;
	int len;

	while (*src != '\0') {
		if ((unsigned char)*src < 0x80) {
			str_append_c(dest, i_tolower(*src));
			src++;
			continue;
		}
		len = uni_utf8_get_char(src, &chr);
		if (len <= 0)
			return FALSE;
		uni_ucs4_to_utf8_c(coi_unichar_lcase(chr), dest);
		src += len;
	}
	return TRUE;
}

const char *coi_address_normalize(const char *localpart, const char *domain)
{
	string_t *str;
	const char *p;
	size_t len;

	if (localpart == NULL || domain == NULL)
		return NULL;
	/* "example.org." is the same domain (the root's empty label): both
	   parsers let it through, and it must not escape a block */
	len = strlen(domain);
	while (len > 0 && domain[len - 1] == '.')
		len--;
	if (domain[len] != '\0')
		domain = t_strndup(domain, len);
	/* An '@' in the domain (a parser's domain literal can hold one)
	   would make the address split differently once normalized. */
	if (*domain == '\0' || strchr(domain, '@') != NULL)
		return NULL;
	/* The parsers give the local-part unquoted already; what is left of
	   quotes is the spec's "removing quotes". */
	if (strchr(localpart, '"') != NULL) {
		str = t_str_new(strlen(localpart));
		for (p = localpart; *p != '\0'; p++) {
			if (*p != '"')
				str_append_c(str, *p);
		}
		localpart = str_c(str);
	}
	str = t_str_new(strlen(localpart) + strlen(domain) + 2);
	if (!coi_utf8_lcase_append(str, localpart))
		return NULL;
	str_append_c(str, '@');
	if (!coi_utf8_lcase_append(str, domain))
		return NULL;
	return str_c(str);
}

static EVP_MD *coi_address_sha3;
/* the last address hashed, and its hash: a delivery names the keys it
   prefetches, then looks them up, hashing the same sender twice */
static char *coi_address_hash_last_input;
static char coi_address_hash_last[COI_ADDRESS_HASH_HEX_LEN + 1];

const char *coi_address_hash(const char *normalized)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int len;

	if (coi_address_hash_last_input != NULL &&
	    strcmp(coi_address_hash_last_input, normalized) == 0)
		return t_strdup(coi_address_hash_last);
	/* On every delivery with a sender: OpenSSL's SHA3 costs a sixth of
	   lib's, and fetching the algorithm once per process (instead of on
	   every EVP_sha3_256() call) halves it again. */
	if (coi_address_sha3 == NULL) {
		coi_address_sha3 = EVP_MD_fetch(NULL, "SHA3-256", NULL);
		if (coi_address_sha3 == NULL)
			return NULL;
	}
	if (EVP_Digest(normalized, strlen(normalized), digest, &len,
		       coi_address_sha3, NULL) != 1)
		return NULL;
	i_assert(len * 2 == COI_ADDRESS_HASH_HEX_LEN);
	i_free(coi_address_hash_last_input);
	coi_address_hash_last_input = i_strdup(normalized);
	memcpy(coi_address_hash_last, binary_to_hex(digest, len),
	       COI_ADDRESS_HASH_HEX_LEN + 1);
	return t_strdup(coi_address_hash_last);
}

void coi_address_deinit(void)
{
	/* not at lib_atexit(): the plugin is unloaded by then */
	EVP_MD_free(coi_address_sha3);
	coi_address_sha3 = NULL;
	i_free(coi_address_hash_last_input);
	if (coi_utf8_locale != (locale_t)0) {
		freelocale(coi_utf8_locale);
		coi_utf8_locale = (locale_t)0;
	}
}

bool coi_address_hash_parse(const char *value, const char **hash_r)
{
	size_t i;

	for (i = 0; i < COI_ADDRESS_HASH_HEX_LEN; i++) {
		if (!i_isxdigit(value[i]))
			return FALSE;
	}
	if (value[i] != '\0')
		return FALSE;
	*hash_r = t_str_lcase(value);
	return TRUE;
}

const char *coi_address_from_header(const char *value)
{
	struct message_address *addr;

	if (value == NULL)
		return NULL;
	addr = message_address_parse(pool_datastack_create(),
				     (const unsigned char *)value,
				     strlen(value), 1, 0);
	if (addr == NULL || addr->mailbox == NULL || addr->domain == NULL)
		return NULL;
	return coi_address_normalize(addr->mailbox, addr->domain);
}

const char *coi_address_from_smtp(const struct smtp_address *address)
{
	const char *at;

	if (address == NULL)
		return NULL;
	if (address->localpart != NULL)
		return coi_address_normalize(address->localpart,
					     address->domain);
	/* A broken path that lmtp let through as <> (its parser refuses
	   "x@spam.example." for one): the raw text is all there is of the
	   sender, and is good enough to look up. */
	if (address->raw == NULL || (at = strrchr(address->raw, '@')) == NULL)
		return NULL;
	return coi_address_normalize(t_strdup_until(address->raw, at), at + 1);
}

/*
 * Senders
 */

void coi_senders_init(struct coi_senders *senders)
{
	t_array_init(&senders->addresses, 4);
}

static void coi_senders_add(struct coi_senders *senders, const char *address)
{
	const char *old;

	if (address == NULL ||
	    array_count(&senders->addresses) >= COI_SENDERS_MAX)
		return;
	array_foreach_elem(&senders->addresses, old) {
		if (strcmp(old, address) == 0)
			return;
	}
	array_push_back(&senders->addresses, &address);
}

void coi_senders_add_smtp(struct coi_senders *senders,
			  const struct smtp_address *address)
{
	coi_senders_add(senders, coi_address_from_smtp(address));
}

/* Add the addresses of a From value; returns TRUE if one was broken. */
static bool coi_senders_add_parsed(struct coi_senders *senders,
				   const char *value)
{
	struct message_address *addr;
	bool broken = FALSE;

	/* a group counts as one address here, and its members follow it;
	   the list stops at COI_SENDERS_MAX anyway */
	addr = message_address_parse(pool_datastack_create(),
				     (const unsigned char *)value,
				     strlen(value), COI_SENDERS_MAX, 0);
	for (; addr != NULL; addr = addr->next) {
		if (addr->invalid_syntax)
			broken = TRUE;
		/* group start and end have no domain; a broken address is
		   still checked: a parse error must not skip a block */
		if (addr->mailbox != NULL && addr->domain != NULL) {
			coi_senders_add(senders, coi_address_normalize(
				addr->mailbox, addr->domain));
		}
	}
	return broken;
}

static bool coi_from_is_delimiter(char c)
{
	return c == '\0' || strchr("<>,;:\"()[] \t\r\n", c) != NULL;
}

/* value without the dots that end a domain ("x@example.org." and
   "<x@example.org.>"): message_address_parse() gives such an address an
   empty domain, which would escape every block. */
static const char *coi_from_strip_root_dots(const char *value)
{
	string_t *str = t_str_new(strlen(value));
	bool in_domain = FALSE;
	const char *p, *end;

	for (p = value; *p != '\0'; p++) {
		if (*p == '.' && in_domain) {
			for (end = p; *end == '.'; end++) ;
			if (coi_from_is_delimiter(*end)) {
				p = end - 1;
				continue;
			}
		} else if (*p == '@') {
			in_domain = TRUE;
		} else if (coi_from_is_delimiter(*p)) {
			in_domain = FALSE;
		}
		str_append_c(str, *p);
	}
	return str_c(str);
}

void coi_senders_add_from(struct coi_senders *senders, const char *value)
{
	if (value == NULL ||
	    array_count(&senders->addresses) >= COI_SENDERS_MAX)
		return;
	/* Only a broken value gets the second parse: a well-formed one
	   has no domain with a trailing dot. */
	if (coi_senders_add_parsed(senders, value))
		(void)coi_senders_add_parsed(senders,
					     coi_from_strip_root_dots(value));
}

const char *const *
coi_senders_get(const struct coi_senders *senders, unsigned int *count_r)
{
	return array_get(&senders->addresses, count_r);
}

/*
 * Block candidates
 */

static bool coi_domain_has_alabel(const char *domain)
{
	return str_begins(domain, "xn--") || strstr(domain, ".xn--") != NULL;
}

static bool coi_str_is_ascii(const char *str)
{
	for (; *str != '\0'; str++) {
		if ((unsigned char)*str >= 0x80)
			return FALSE;
	}
	return TRUE;
}

/* The IDNA forms of a normalized domain that differ from it: all A-labels
   (what DNS and an SMTP client without SMTPUTF8 use) and all U-labels (what
   a client shows). Entries of either form are valid (METADATA takes only
   ASCII names, a policy file is often written in Unicode), so instead of
   converting the entries to one canonical form, which would orphan those
   already stored, a sender is matched in both forms: only IDN domains pay
   for it. NULL where there is no other form, or libidn2 refuses it. */
static void coi_domain_idn_forms(const char *domain, const char **alabel_r,
				 const char **ulabel_r)
{
	uint8_t *alabel;
	char *ulabel;
	string_t *str;

	*alabel_r = *ulabel_r = NULL;
	if (coi_str_is_ascii(domain) && !coi_domain_has_alabel(domain))
		return;
	/* UTS #46 non-transitional processing, what browsers and mail
	   clients do; it also validates the A-labels given */
	if (idn2_lookup_u8((const uint8_t *)domain, &alabel,
			   IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) != IDN2_OK)
		return;
	/* libidn2 allocates with malloc() */
	*alabel_r = t_str_lcase((const char *)alabel);
	idn2_free(alabel);
	if (idn2_to_unicode_8z8z(*alabel_r, &ulabel, 0) == IDN2_OK) {
		str = t_str_new(strlen(ulabel) + 1);
		if (coi_utf8_lcase_append(str, ulabel))
			*ulabel_r = str_c(str);
		idn2_free(ulabel);
	}
	if (strcmp(*alabel_r, domain) == 0)
		*alabel_r = NULL;
	if (*ulabel_r != NULL && strcmp(*ulabel_r, domain) == 0)
		*ulabel_r = NULL;
}

static void
coi_candidates_add(ARRAY_TYPE(const_string) *entries, const char *entry)
{
	const char *old;

	/* a few dozen at most: COI_SENDERS_MAX times six */
	array_foreach_elem(entries, old) {
		if (strcmp(old, entry) == 0)
			return;
	}
	array_push_back(entries, &entry);
}

static void
coi_candidates_add_domain(ARRAY_TYPE(const_string) *entries,
			  const char *localpart, const char *base,
			  const char *domain)
{
	if (domain == NULL || strlen(domain) > COI_DOMAIN_MAX_LEN)
		return;
	if (localpart != NULL && strlen(localpart) + 1 + strlen(domain) <=
	    COI_ADDRESS_MAX_LEN) {
		coi_candidates_add(entries,
			t_strconcat(localpart, "@", domain, NULL));
		if (base != NULL) {
			coi_candidates_add(entries,
				t_strconcat(base, "@", domain, NULL));
		}
	}
	coi_candidates_add(entries, t_strconcat("@", domain, NULL));
}

void coi_address_block_candidates(const char *normalized,
				  ARRAY_TYPE(const_string) *entries)
{
	const char *at, *localpart = NULL, *base = NULL, *plus;
	const char *alabel, *ulabel;

	at = strrchr(normalized, '@');
	if (at == NULL || at[1] == '\0')
		return;
	if (at != normalized) {
		localpart = t_strdup_until(normalized, at);
		/* Dovecot's default recipient_delimiter: "spammer+tag" is
		   spammer's mailbox, as the MTA delivers it */
		plus = strchr(localpart, '+');
		if (plus != NULL && plus != localpart)
			base = t_strdup_until(localpart, plus);
	}
	coi_domain_idn_forms(at + 1, &alabel, &ulabel);
	coi_candidates_add_domain(entries, localpart, base, at + 1);
	coi_candidates_add_domain(entries, localpart, base, alabel);
	coi_candidates_add_domain(entries, localpart, base, ulabel);
}

/*
 * Block entries
 */

static bool coi_block_name_char_ok(char c)
{
	return (unsigned char)c > 0x20 && c != 0x7f && c != '/' &&
		c != '*' && c != '%' && c != '"';
}

int coi_block_entry_verify(const char *entry, const char **error_r)
{
	const char *at, *p, *normalized;

	if (*entry == '\0') {
		*error_r = "empty address";
		return -1;
	}
	if (strlen(entry) > COI_BLOCK_ENTRY_MAX_LEN) {
		*error_r = "address too long";
		return -1;
	}
	at = strrchr(entry, '@');
	if (at == NULL || at[1] == '\0') {
		*error_r = "not an address (local@domain) or @domain";
		return -1;
	}
	for (p = entry; *p != '\0'; p++) {
		if (!coi_block_name_char_ok(*p) || (*p == '@' && p != at)) {
			*error_r = "not an address (local@domain) or @domain";
			return -1;
		}
	}
	/* coi_block_entry_normalize() (doveadm, the policy file) strips
	   these from both ends ("<a@b>"): such an entry could never be named
	   there, and no sender's address normalizes to it. */
	if (entry[0] == '<' || entry[0] == '>' ||
	    p[-1] == '<' || p[-1] == '>') {
		*error_r = "not an address (local@domain) or @domain";
		return -1;
	}
	/* a trailing dot is normalized away from senders, so an entry with
	   one could never match */
	if (at[1] == '.' || p[-1] == '.' || strstr(at, "..") != NULL) {
		*error_r = "invalid domain";
		return -1;
	}
	/* The key must be what a sender's address normalizes to, or it
	   could never match. */
	normalized = coi_address_normalize(at == entry ? "x" :
					   t_strdup_until(entry, at), at + 1);
	if (normalized == NULL) {
		*error_r = "not valid UTF-8";
		return -1;
	}
	if (strcmp(at == entry ? normalized + 1 : normalized, entry) != 0) {
		*error_r = "not in lowercase";
		return -1;
	}
	return 0;
}

const char *coi_block_entry_normalize(const char *input)
{
	const char *at, *domain;

	input = t_str_trim(input, " \t<>");
	at = strrchr(input, '@');
	if (at == NULL)
		return NULL;
	if (at == input) {
		/* "@domain": normalize the domain as an address would be */
		domain = coi_address_normalize("x", at + 1);
		return domain == NULL ? NULL : domain + 1;
	}
	return coi_address_normalize(t_strdup_until(input, at), at + 1);
}

void coi_block_entries(const char *address, const char **entry_r,
		       const char **domain_entry_r)
{
	const char *at = strrchr(address, '@');

	*entry_r = address;
	*domain_entry_r = at == NULL || at == address ? NULL : at;
}
