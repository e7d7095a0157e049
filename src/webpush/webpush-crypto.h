#ifndef WEBPUSH_CRYPTO_H
#define WEBPUSH_CRYPTO_H

/* RFC 8291 message encryption ("aes128gcm" content coding, RFC 8188) and
   the P-256 key handling that it and VAPID share. Everything goes through
   OpenSSL 3's EVP: EVP_PKEY keys, EVP_PKEY_derive() for ECDH, EVP_KDF
   "HKDF" and AES-128-GCM. */

#include <openssl/evp.h>

/* An uncompressed P-256 point: 0x04 || X || Y */
#define WEBPUSH_P256_POINT_SIZE 65
/* A P-256 private key, the big-endian scalar */
#define WEBPUSH_P256_PRIVATE_SIZE 32
#define WEBPUSH_AUTH_SECRET_SIZE 16
#define WEBPUSH_SALT_SIZE 16
#define WEBPUSH_TAG_SIZE 16
/* The record size we announce, as RFC 8291's example does */
#define WEBPUSH_RECORD_SIZE 4096
/* salt, rs, idlen, keyid (the sender's public key) */
#define WEBPUSH_HEADER_SIZE \
	(WEBPUSH_SALT_SIZE + 4 + 1 + WEBPUSH_P256_POINT_SIZE)
/* What every push service accepts (RFC 8030 section 7.2) */
#define WEBPUSH_BODY_MAX_SIZE 4096
/* 3993: the body less the header, the padding delimiter and the tag */
#define WEBPUSH_PLAINTEXT_MAX_SIZE \
	(WEBPUSH_BODY_MAX_SIZE - WEBPUSH_HEADER_SIZE - 1 - WEBPUSH_TAG_SIZE)

/* A subscription's keys (RFC 8291 section 2): the user agent's public key
   ("p256dh") and its authentication secret ("auth"). */
struct webpush_keys {
	unsigned char p256dh[WEBPUSH_P256_POINT_SIZE];
	unsigned char auth[WEBPUSH_AUTH_SECRET_SIZE];
};

/* The OpenSSL error queue as text after func failed, and the queue
   emptied. */
const char *webpush_openssl_error(const char *func);

/* Returns TRUE if point is an uncompressed point on P-256. */
bool webpush_p256_point_is_valid(const unsigned char *point, size_t size);

/* A fresh P-256 key pair. Returns 0, or -1 with error_r. */
int webpush_p256_key_generate(EVP_PKEY **key_r, const char **error_r);
/* The key pair of a private scalar and its uncompressed public point (as
   RFC 8291's examples give them). Returns 0, or -1 with error_r. */
int webpush_p256_key_from_raw(const unsigned char *priv, size_t priv_size,
			      const unsigned char *point, size_t point_size,
			      EVP_PKEY **key_r, const char **error_r);
/* The public key of an uncompressed point, which must be on the curve.
   Returns 0, or -1 with error_r. */
int webpush_p256_public_from_raw(const unsigned char *point, size_t size,
				 EVP_PKEY **key_r, const char **error_r);
/* Returns TRUE if key is a P-256 key. */
bool webpush_p256_key_is_p256(EVP_PKEY *key);
/* Write key's public key as an uncompressed point. Returns 0, or -1 with
   error_r. */
int webpush_p256_public_to_raw(EVP_PKEY *key,
			       unsigned char point_r[WEBPUSH_P256_POINT_SIZE],
			       const char **error_r);

/* Encrypt plaintext for the subscription's keys with a fresh ephemeral key
   and a random salt, and append the complete aes128gcm body (header and one
   record) to body. Returns 0, or -1 with error_r (also when the body would
   exceed WEBPUSH_BODY_MAX_SIZE). */
int webpush_encrypt(const struct webpush_keys *keys,
		    const void *plaintext, size_t plaintext_size,
		    buffer_t *body, const char **error_r);
/* webpush_encrypt() with the given ephemeral key pair and salt, and
   pad_size zero octets of padding after the delimiter (RFC 8188 section 2;
   they count against the body's size): for tests only, a sender must never
   reuse a key or a salt. */
int webpush_encrypt_with(const struct webpush_keys *keys, EVP_PKEY *as_key,
			 const unsigned char salt[WEBPUSH_SALT_SIZE],
			 size_t pad_size,
			 const void *plaintext, size_t plaintext_size,
			 buffer_t *body, const char **error_r);

/* The user agent's side: decrypt a single-record aes128gcm body with the
   subscription's private key and auth secret, and append the plaintext
   (without padding) to plaintext. Returns 0, or -1 with error_r. */
int webpush_decrypt(EVP_PKEY *ua_key,
		    const unsigned char auth[WEBPUSH_AUTH_SECRET_SIZE],
		    const void *body, size_t body_size,
		    buffer_t *plaintext, const char **error_r);

#endif
