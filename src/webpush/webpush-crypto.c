/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "buffer.h"
#include "str.h"
#include "byteorder.h"
#include "safe-memset.h"
#include "webpush-crypto.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#define WEBPUSH_P256_GROUP "prime256v1"
#define WEBPUSH_CEK_SIZE 16
#define WEBPUSH_NONCE_SIZE 12
#define WEBPUSH_ECDH_SECRET_SIZE 32
#define WEBPUSH_IKM_SIZE 32
/* The delimiter that ends the last record's plaintext (RFC 8188 2) */
#define WEBPUSH_PAD_DELIMITER_LAST 0x02

/* RFC 8291 section 3.3 and RFC 8188 section 2.2: the info strings,
   NUL included */
static const char webpush_key_info_prefix[] = "WebPush: info";
static const char webpush_cek_info[] = "Content-Encoding: aes128gcm";
static const char webpush_nonce_info[] = "Content-Encoding: nonce";

const char *webpush_openssl_error(const char *func)
{
	unsigned long err = ERR_get_error();
	char buf[256];

	if (err == 0)
		return t_strdup_printf("%s failed", func);
	ERR_error_string_n(err, buf, sizeof(buf));
	/* the first error says what went wrong; drop the rest */
	ERR_clear_error();
	return t_strdup_printf("%s failed: %s", func, buf);
}

/*
 * P-256 keys
 */

bool webpush_p256_key_is_p256(EVP_PKEY *key)
{
	char name[64];
	size_t len;

	if (!EVP_PKEY_is_a(key, "EC"))
		return FALSE;
	if (EVP_PKEY_get_group_name(key, name, sizeof(name), &len) != 1)
		return FALSE;
	return strcmp(name, WEBPUSH_P256_GROUP) == 0;
}

int webpush_p256_key_generate(EVP_PKEY **key_r, const char **error_r)
{
	*key_r = EVP_PKEY_Q_keygen(NULL, NULL, "EC", WEBPUSH_P256_GROUP);
	if (*key_r == NULL) {
		*error_r = webpush_openssl_error("EVP_PKEY_Q_keygen(P-256)");
		return -1;
	}
	return 0;
}

static int
webpush_p256_fromdata(OSSL_PARAM *params, int selection,
		      EVP_PKEY **key_r, const char **error_r)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *key = NULL;
	int ret;

	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &key, selection, params) <= 0) {
		*error_r = webpush_openssl_error("EVP_PKEY_fromdata(P-256)");
		EVP_PKEY_CTX_free(ctx);
		return -1;
	}
	EVP_PKEY_CTX_free(ctx);

	/* fromdata decodes the point, which already refuses one that is not
	   on the curve: check it (and the pair) explicitly all the same */
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	if (ctx == NULL)
		ret = -1;
	else if (selection == EVP_PKEY_PUBLIC_KEY)
		ret = EVP_PKEY_public_check(ctx) == 1 ? 0 : -1;
	else
		ret = EVP_PKEY_pairwise_check(ctx) == 1 ? 0 : -1;
	EVP_PKEY_CTX_free(ctx);
	if (ret < 0) {
		*error_r = webpush_openssl_error("EVP_PKEY check(P-256)");
		EVP_PKEY_free(key);
		return -1;
	}
	*key_r = key;
	return 0;
}

int webpush_p256_public_from_raw(const unsigned char *point, size_t size,
				 EVP_PKEY **key_r, const char **error_r)
{
	unsigned char point_copy[WEBPUSH_P256_POINT_SIZE];
	char group[] = WEBPUSH_P256_GROUP;
	OSSL_PARAM params[3];
	int ret;

	if (size != WEBPUSH_P256_POINT_SIZE || point[0] != 0x04) {
		*error_r = t_strdup_printf(
			"not an uncompressed P-256 point (%zu octets)", size);
		return -1;
	}
	memcpy(point_copy, point, sizeof(point_copy));
	params[0] = OSSL_PARAM_construct_utf8_string(
		OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(
		OSSL_PKEY_PARAM_PUB_KEY, point_copy, sizeof(point_copy));
	params[2] = OSSL_PARAM_construct_end();
	ret = webpush_p256_fromdata(params, EVP_PKEY_PUBLIC_KEY,
				    key_r, error_r);
	if (ret < 0) {
		/* OpenSSL's text says little to a client */
		*error_r = "not a point on P-256";
	}
	return ret;
}

bool webpush_p256_point_is_valid(const unsigned char *point, size_t size)
{
	EVP_PKEY *key;
	const char *error;

	if (webpush_p256_public_from_raw(point, size, &key, &error) < 0)
		return FALSE;
	EVP_PKEY_free(key);
	return TRUE;
}

int webpush_p256_key_from_raw(const unsigned char *priv, size_t priv_size,
			      const unsigned char *point, size_t point_size,
			      EVP_PKEY **key_r, const char **error_r)
{
	OSSL_PARAM_BLD *bld;
	OSSL_PARAM *params = NULL;
	BIGNUM *bn;
	int ret = -1;

	if (priv_size != WEBPUSH_P256_PRIVATE_SIZE) {
		*error_r = t_strdup_printf(
			"P-256 private key is not %u octets (%zu)",
			WEBPUSH_P256_PRIVATE_SIZE, priv_size);
		return -1;
	}
	if (point_size != WEBPUSH_P256_POINT_SIZE || point[0] != 0x04) {
		*error_r = "not an uncompressed P-256 point";
		return -1;
	}
	bn = BN_secure_new();
	bld = OSSL_PARAM_BLD_new();
	if (bn == NULL || bld == NULL ||
	    BN_bin2bn(priv, (int)priv_size, bn) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					    WEBPUSH_P256_GROUP, 0) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bn) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
					     point, point_size) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		*error_r = webpush_openssl_error("OSSL_PARAM_BLD");
	else {
		ret = webpush_p256_fromdata(params, EVP_PKEY_KEYPAIR,
					    key_r, error_r);
	}
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(bn);
	return ret;
}

int webpush_p256_public_to_raw(EVP_PKEY *key,
			       unsigned char point_r[WEBPUSH_P256_POINT_SIZE],
			       const char **error_r)
{
	size_t len = 0;

	if (!webpush_p256_key_is_p256(key)) {
		*error_r = "not a P-256 key";
		return -1;
	}
	/* a key read from a file may prefer compressed points */
	if (EVP_PKEY_set_utf8_string_param(key,
			OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
			"uncompressed") != 1 ||
	    EVP_PKEY_get_octet_string_param(key,
			OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point_r,
			WEBPUSH_P256_POINT_SIZE, &len) != 1) {
		*error_r = webpush_openssl_error(
			"EVP_PKEY_get_octet_string_param(public key)");
		return -1;
	}
	if (len != WEBPUSH_P256_POINT_SIZE || point_r[0] != 0x04) {
		*error_r = "public key is not an uncompressed point";
		return -1;
	}
	return 0;
}

/*
 * Key derivation (RFC 8291 section 3.4)
 */

static int
webpush_hkdf(const unsigned char *salt, size_t salt_size,
	     const unsigned char *ikm, size_t ikm_size,
	     const void *info, size_t info_size,
	     unsigned char *out, size_t out_size, const char **error_r)
{
	char digest[] = "SHA256";
	EVP_KDF *kdf;
	EVP_KDF_CTX *ctx = NULL;
	OSSL_PARAM params[5];
	int ret = -1;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						     digest, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
		(void *)salt, salt_size);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
		(void *)ikm, ikm_size);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
		(void *)info, info_size);
	params[4] = OSSL_PARAM_construct_end();

	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (kdf != NULL)
		ctx = EVP_KDF_CTX_new(kdf);
	if (ctx == NULL || EVP_KDF_derive(ctx, out, out_size, params) != 1)
		*error_r = webpush_openssl_error("EVP_KDF_derive(HKDF)");
	else
		ret = 0;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ret;
}

static int
webpush_ecdh(EVP_PKEY *own, EVP_PKEY *peer,
	     unsigned char secret_r[WEBPUSH_ECDH_SECRET_SIZE],
	     const char **error_r)
{
	EVP_PKEY_CTX *ctx;
	size_t len = WEBPUSH_ECDH_SECRET_SIZE;
	int ret = -1;

	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, own, NULL);
	if (ctx == NULL || EVP_PKEY_derive_init(ctx) <= 0 ||
	    EVP_PKEY_derive_set_peer(ctx, peer) <= 0 ||
	    EVP_PKEY_derive(ctx, secret_r, &len) <= 0)
		*error_r = webpush_openssl_error("EVP_PKEY_derive(ECDH)");
	else if (len != WEBPUSH_ECDH_SECRET_SIZE)
		*error_r = "ECDH secret has an unexpected size";
	else
		ret = 0;
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

/* The content encryption key and nonce of a message, from either side's
   view: own is our private key, peer the other side's public key. */
static int
webpush_derive(EVP_PKEY *own, EVP_PKEY *peer,
	       const unsigned char ua_public[WEBPUSH_P256_POINT_SIZE],
	       const unsigned char as_public[WEBPUSH_P256_POINT_SIZE],
	       const unsigned char auth[WEBPUSH_AUTH_SECRET_SIZE],
	       const unsigned char salt[WEBPUSH_SALT_SIZE],
	       unsigned char cek_r[WEBPUSH_CEK_SIZE],
	       unsigned char nonce_r[WEBPUSH_NONCE_SIZE],
	       const char **error_r)
{
	unsigned char ecdh_secret[WEBPUSH_ECDH_SECRET_SIZE];
	unsigned char ikm[WEBPUSH_IKM_SIZE];
	unsigned char key_info[sizeof(webpush_key_info_prefix) +
			       2 * WEBPUSH_P256_POINT_SIZE];
	int ret;

	/* key_info = "WebPush: info" || 0x00 || ua_public || as_public */
	memcpy(key_info, webpush_key_info_prefix,
	       sizeof(webpush_key_info_prefix));
	memcpy(key_info + sizeof(webpush_key_info_prefix), ua_public,
	       WEBPUSH_P256_POINT_SIZE);
	memcpy(key_info + sizeof(webpush_key_info_prefix) +
	       WEBPUSH_P256_POINT_SIZE, as_public, WEBPUSH_P256_POINT_SIZE);

	ret = webpush_ecdh(own, peer, ecdh_secret, error_r);
	if (ret == 0) {
		ret = webpush_hkdf(auth, WEBPUSH_AUTH_SECRET_SIZE,
				   ecdh_secret, sizeof(ecdh_secret),
				   key_info, sizeof(key_info),
				   ikm, sizeof(ikm), error_r);
	}
	if (ret == 0) {
		ret = webpush_hkdf(salt, WEBPUSH_SALT_SIZE, ikm, sizeof(ikm),
				   webpush_cek_info, sizeof(webpush_cek_info),
				   cek_r, WEBPUSH_CEK_SIZE, error_r);
	}
	if (ret == 0) {
		ret = webpush_hkdf(salt, WEBPUSH_SALT_SIZE, ikm, sizeof(ikm),
				   webpush_nonce_info,
				   sizeof(webpush_nonce_info),
				   nonce_r, WEBPUSH_NONCE_SIZE, error_r);
	}
	safe_memset(ecdh_secret, 0, sizeof(ecdh_secret));
	safe_memset(ikm, 0, sizeof(ikm));
	return ret;
}

/*
 * Encryption
 */

static int
webpush_aes128gcm_seal(const unsigned char cek[WEBPUSH_CEK_SIZE],
		       const unsigned char nonce[WEBPUSH_NONCE_SIZE],
		       const void *plaintext, size_t plaintext_size,
		       size_t pad_size, buffer_t *body, const char **error_r)
{
	/* the record's plaintext: the data, the delimiter, the padding */
	size_t record_size = plaintext_size + 1 + pad_size;
	unsigned char *record, *out;
	EVP_CIPHER_CTX *ctx;
	int len, total = 0, ret = -1;

	record = t_malloc0(record_size);
	memcpy(record, plaintext, plaintext_size);
	record[plaintext_size] = WEBPUSH_PAD_DELIMITER_LAST;

	/* GCM writes as much as it reads, then the tag */
	out = buffer_append_space_unsafe(body, record_size + WEBPUSH_TAG_SIZE);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL ||
	    EVP_EncryptInit_ex2(ctx, EVP_aes_128_gcm(), cek, nonce,
				NULL) != 1 ||
	    EVP_EncryptUpdate(ctx, out, &len, record,
			      (int)record_size) != 1 ||
	    (total = len,
	     EVP_EncryptFinal_ex(ctx, out + total, &len)) != 1 ||
	    (total += len,
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, WEBPUSH_TAG_SIZE,
				 out + total)) != 1)
		*error_r = webpush_openssl_error("EVP_Encrypt(AES-128-GCM)");
	else if ((size_t)total != record_size)
		*error_r = "AES-128-GCM wrote an unexpected size";
	else
		ret = 0;
	EVP_CIPHER_CTX_free(ctx);
	safe_memset(record, 0, record_size);
	return ret;
}

static const char *webpush_too_large_error(size_t plaintext_size)
{
	return t_strdup_printf("Payload of %zu octets does not fit into a "
			       "%u-octet body (at most %u octets)",
			       plaintext_size, WEBPUSH_BODY_MAX_SIZE,
			       WEBPUSH_PLAINTEXT_MAX_SIZE);
}

int webpush_encrypt_with(const struct webpush_keys *keys, EVP_PKEY *as_key,
			 const unsigned char salt[WEBPUSH_SALT_SIZE],
			 size_t pad_size,
			 const void *plaintext, size_t plaintext_size,
			 buffer_t *body, const char **error_r)
{
	unsigned char as_public[WEBPUSH_P256_POINT_SIZE];
	unsigned char cek[WEBPUSH_CEK_SIZE], nonce[WEBPUSH_NONCE_SIZE];
	unsigned char rs[4];
	const unsigned char idlen = WEBPUSH_P256_POINT_SIZE;
	EVP_PKEY *ua_key;
	size_t orig_size = body->used;
	int ret;

	if (plaintext_size > WEBPUSH_PLAINTEXT_MAX_SIZE ||
	    pad_size > WEBPUSH_PLAINTEXT_MAX_SIZE - plaintext_size) {
		*error_r = webpush_too_large_error(plaintext_size + pad_size);
		return -1;
	}
	if (webpush_p256_public_to_raw(as_key, as_public, error_r) < 0)
		return -1;
	if (webpush_p256_public_from_raw(keys->p256dh, sizeof(keys->p256dh),
					 &ua_key, error_r) < 0) {
		*error_r = t_strconcat("p256dh: ", *error_r, NULL);
		return -1;
	}
	ret = webpush_derive(as_key, ua_key, keys->p256dh, as_public,
			     keys->auth, salt, cek, nonce, error_r);
	EVP_PKEY_free(ua_key);
	if (ret < 0)
		return -1;

	/* header: salt || rs || idlen || keyid (RFC 8188 section 2.1) */
	cpu32_to_be_unaligned(WEBPUSH_RECORD_SIZE, rs);
	buffer_append(body, salt, WEBPUSH_SALT_SIZE);
	buffer_append(body, rs, sizeof(rs));
	buffer_append(body, &idlen, 1);
	buffer_append(body, as_public, sizeof(as_public));
	/* one record: a single record is also the last, so its plaintext
	   ends with the delimiter 0x02 (and the padding, if any) */
	ret = webpush_aes128gcm_seal(cek, nonce, plaintext, plaintext_size,
				     pad_size, body, error_r);
	safe_memset(cek, 0, sizeof(cek));
	if (ret < 0) {
		buffer_set_used_size(body, orig_size);
		return -1;
	}
	i_assert(body->used - orig_size <= WEBPUSH_BODY_MAX_SIZE);
	return 0;
}

int webpush_encrypt(const struct webpush_keys *keys,
		    const void *plaintext, size_t plaintext_size,
		    buffer_t *body, const char **error_r)
{
	unsigned char salt[WEBPUSH_SALT_SIZE];
	EVP_PKEY *as_key;
	int ret;

	if (plaintext_size > WEBPUSH_PLAINTEXT_MAX_SIZE) {
		/* before a key is made for nothing */
		*error_r = webpush_too_large_error(plaintext_size);
		return -1;
	}
	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		*error_r = webpush_openssl_error("RAND_bytes(salt)");
		return -1;
	}
	/* a fresh key per message, discarded after it (RFC 8291 2) */
	if (webpush_p256_key_generate(&as_key, error_r) < 0)
		return -1;
	ret = webpush_encrypt_with(keys, as_key, salt, 0, plaintext,
				   plaintext_size, body, error_r);
	EVP_PKEY_free(as_key);
	return ret;
}

/*
 * Decryption
 */

static int
webpush_aes128gcm_open(const unsigned char cek[WEBPUSH_CEK_SIZE],
		       const unsigned char nonce[WEBPUSH_NONCE_SIZE],
		       const unsigned char *record, size_t record_size,
		       buffer_t *plaintext, const char **error_r)
{
	const unsigned char *tag = record + record_size - WEBPUSH_TAG_SIZE;
	size_t cipher_size = record_size - WEBPUSH_TAG_SIZE;
	unsigned char tag_copy[WEBPUSH_TAG_SIZE];
	EVP_CIPHER_CTX *ctx;
	unsigned char *out;
	int len, total = 0, ret = -1;

	memcpy(tag_copy, tag, sizeof(tag_copy));
	out = buffer_get_space_unsafe(plaintext, 0, cipher_size);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL ||
	    EVP_DecryptInit_ex2(ctx, EVP_aes_128_gcm(), cek, nonce,
				NULL) != 1 ||
	    EVP_DecryptUpdate(ctx, out, &len, record,
			      (int)cipher_size) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, WEBPUSH_TAG_SIZE,
				tag_copy) != 1)
		*error_r = webpush_openssl_error("EVP_Decrypt(AES-128-GCM)");
	else if ((total = len,
		  EVP_DecryptFinal_ex(ctx, out + total, &len)) != 1) {
		ERR_clear_error();
		*error_r = "Record does not decrypt (authentication failed)";
	} else {
		total += len;
		buffer_set_used_size(plaintext, total);
		ret = 0;
	}
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

int webpush_decrypt(EVP_PKEY *ua_key,
		    const unsigned char auth[WEBPUSH_AUTH_SECRET_SIZE],
		    const void *body, size_t body_size,
		    buffer_t *plaintext, const char **error_r)
{
	const unsigned char *data = body, *salt, *keyid, *record, *p;
	unsigned char ua_public[WEBPUSH_P256_POINT_SIZE];
	unsigned char cek[WEBPUSH_CEK_SIZE], nonce[WEBPUSH_NONCE_SIZE];
	size_t record_size, size;
	uint32_t rs;
	EVP_PKEY *as_key;
	buffer_t *record_plain;
	int ret;

	/* RFC 8188's header is a fixed binary layout that no library reads
	   (OpenSSL has no aes128gcm content coding): read it here */
	if (body_size < WEBPUSH_HEADER_SIZE + 1 + WEBPUSH_TAG_SIZE) {
		*error_r = t_strdup_printf("Body too short (%zu octets)",
					   body_size);
		return -1;
	}
	salt = data;
	rs = be32_to_cpu_unaligned(data + WEBPUSH_SALT_SIZE);
	if (data[WEBPUSH_SALT_SIZE + 4] != WEBPUSH_P256_POINT_SIZE) {
		*error_r = t_strdup_printf(
			"keyid is not a P-256 point (idlen %u)",
			data[WEBPUSH_SALT_SIZE + 4]);
		return -1;
	}
	keyid = data + WEBPUSH_SALT_SIZE + 5;
	record = data + WEBPUSH_HEADER_SIZE;
	record_size = body_size - WEBPUSH_HEADER_SIZE;
	if (rs < 1 + WEBPUSH_TAG_SIZE + 1) {
		*error_r = t_strdup_printf("Invalid record size %u", rs);
		return -1;
	}
	if (record_size > rs) {
		*error_r = "More than one record (not supported)";
		return -1;
	}
	if (webpush_p256_public_from_raw(keyid, WEBPUSH_P256_POINT_SIZE,
					 &as_key, error_r) < 0) {
		*error_r = t_strconcat("keyid: ", *error_r, NULL);
		return -1;
	}
	if (webpush_p256_public_to_raw(ua_key, ua_public, error_r) < 0) {
		EVP_PKEY_free(as_key);
		return -1;
	}
	ret = webpush_derive(ua_key, as_key, ua_public, keyid, auth, salt,
			     cek, nonce, error_r);
	EVP_PKEY_free(as_key);
	if (ret < 0)
		return -1;

	record_plain = t_buffer_create(record_size);
	ret = webpush_aes128gcm_open(cek, nonce, record, record_size,
				     record_plain, error_r);
	safe_memset(cek, 0, sizeof(cek));
	if (ret < 0)
		return -1;

	/* padding: the delimiter, then zeros (RFC 8188 section 2) */
	p = record_plain->data;
	size = record_plain->used;
	while (size > 0 && p[size - 1] == 0x00)
		size--;
	if (size == 0 || p[size - 1] != WEBPUSH_PAD_DELIMITER_LAST) {
		*error_r = "Record is not padded as the last record";
		return -1;
	}
	buffer_append(plaintext, p, size - 1);
	return 0;
}
