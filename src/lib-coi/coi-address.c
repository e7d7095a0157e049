/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "str.h"
#include "hex-binary.h"
#include "unichar.h"
#include "message-address.h"
#include "smtp-address.h"
#include "coi-address.h"

#include <ctype.h>
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

	/* An '@' in the domain (a parser's domain literal can hold one)
	   would make the address split differently once normalized. */
	if (localpart == NULL || domain == NULL || *domain == '\0' ||
	    strchr(domain, '@') != NULL)
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
	if (address == NULL || address->localpart == NULL)
		return NULL;
	return coi_address_normalize(address->localpart, address->domain);
}
