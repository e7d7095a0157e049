/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "buffer.h"
#include "str.h"
#include "base64.h"
#include "safe-memset.h"
#include "http-url.h"
#include "webpush-crypto.h"
#include "webpush-vapid.h"

#include <fcntl.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>

/* ES256's signature: r and s, 32 octets each (RFC 7518 section 3.4) */
#define WEBPUSH_VAPID_SIGNATURE_HALF_SIZE 32

struct webpush_vapid_key {
	EVP_PKEY *pkey;
	char *public_pem;
	char *public_b64url;
};

/* RFC 8292 section 2: the JWS header, fixed */
static const char webpush_vapid_jwt_header[] =
	"{\"typ\":\"JWT\",\"alg\":\"ES256\"}";

static const char *webpush_b64url(const void *data, size_t size)
{
	/* JWS and RFC 8292's "k" use base64url without padding */
	return str_c(t_base64url_encode(BASE64_ENCODE_FLAG_NO_PADDING,
					SIZE_MAX, data, size));
}

/*
 * The key
 */

static int
webpush_vapid_key_init(EVP_PKEY *pkey, struct webpush_vapid_key **key_r,
		       const char **error_r)
{
	struct webpush_vapid_key *key;
	unsigned char point[WEBPUSH_P256_POINT_SIZE];
	BIO *bio;
	char *data;
	long len;

	if (!webpush_p256_key_is_p256(pkey)) {
		*error_r = "Not a P-256 (prime256v1) key";
		EVP_PKEY_free(pkey);
		return -1;
	}
	if (webpush_p256_public_to_raw(pkey, point, error_r) < 0) {
		EVP_PKEY_free(pkey);
		return -1;
	}
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL || PEM_write_bio_PUBKEY(bio, pkey) != 1 ||
	    (len = BIO_get_mem_data(bio, &data)) <= 0) {
		*error_r = webpush_openssl_error("PEM_write_bio_PUBKEY");
		BIO_free(bio);
		EVP_PKEY_free(pkey);
		return -1;
	}

	key = i_new(struct webpush_vapid_key, 1);
	key->pkey = pkey;
	key->public_pem = i_strndup(data, (size_t)len);
	key->public_b64url = i_strdup(webpush_b64url(point, sizeof(point)));
	BIO_free(bio);
	*key_r = key;
	return 0;
}

static int
webpush_vapid_no_password(char *buf ATTR_UNUSED, int size ATTR_UNUSED,
			  int rwflag ATTR_UNUSED, void *context ATTR_UNUSED)
{
	/* never ask on a terminal: an encrypted key file just fails */
	return -1;
}

int webpush_vapid_key_parse(const void *pem, size_t size,
			    struct webpush_vapid_key **key_r,
			    const char **error_r)
{
	EVP_PKEY *pkey;
	BIO *bio;

	if (size > WEBPUSH_VAPID_KEY_FILE_MAX_SIZE) {
		*error_r = t_strdup_printf("PEM key is longer than %u octets",
					   WEBPUSH_VAPID_KEY_FILE_MAX_SIZE);
		return -1;
	}
	bio = BIO_new_mem_buf(pem, (int)size);
	if (bio == NULL) {
		*error_r = webpush_openssl_error("BIO_new_mem_buf");
		return -1;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, webpush_vapid_no_password,
				       NULL);
	BIO_free(bio);
	if (pkey == NULL) {
		*error_r = t_strconcat("No PEM private key: ",
			webpush_openssl_error("PEM_read_bio_PrivateKey"),
			NULL);
		return -1;
	}
	return webpush_vapid_key_init(pkey, key_r, error_r);
}

int webpush_vapid_key_load(const char *path, struct webpush_vapid_key **key_r,
			   const char **error_r)
{
	unsigned char buf[WEBPUSH_VAPID_KEY_FILE_MAX_SIZE + 1];
	size_t size = 0;
	ssize_t ret;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %m", path);
		return -1;
	}
	/* one more octet than allowed tells a file that is too long */
	while (size < sizeof(buf) &&
	       (ret = read(fd, buf + size, sizeof(buf) - size)) != 0) {
		if (ret < 0) {
			*error_r = t_strdup_printf("read(%s) failed: %m",
						   path);
			i_close_fd(&fd);
			return -1;
		}
		size += (size_t)ret;
	}
	i_close_fd(&fd);
	ret = webpush_vapid_key_parse(buf, size, key_r, error_r);
	safe_memset(buf, 0, size);
	if (ret < 0) {
		*error_r = t_strdup_printf("%s: %s", path, *error_r);
		return -1;
	}
	return 0;
}

int webpush_vapid_key_generate(struct webpush_vapid_key **key_r,
			       const char **error_r)
{
	EVP_PKEY *pkey;

	if (webpush_p256_key_generate(&pkey, error_r) < 0)
		return -1;
	return webpush_vapid_key_init(pkey, key_r, error_r);
}

void webpush_vapid_key_free(struct webpush_vapid_key **_key)
{
	struct webpush_vapid_key *key = *_key;

	if (key == NULL)
		return;
	*_key = NULL;
	EVP_PKEY_free(key->pkey);
	i_free(key->public_pem);
	i_free(key->public_b64url);
	i_free(key);
}

int webpush_vapid_key_get_private_pem(struct webpush_vapid_key *key,
				      string_t *dest, const char **error_r)
{
	BIO *bio;
	char *data;
	long len;

	bio = BIO_new(BIO_s_secmem());
	if (bio == NULL ||
	    PEM_write_bio_PrivateKey(bio, key->pkey, NULL, NULL, 0,
				     NULL, NULL) != 1 ||
	    (len = BIO_get_mem_data(bio, &data)) <= 0) {
		*error_r = webpush_openssl_error("PEM_write_bio_PrivateKey");
		BIO_free(bio);
		return -1;
	}
	str_append_data(dest, data, (size_t)len);
	BIO_free(bio);
	return 0;
}

const char *webpush_vapid_key_get_public_pem(struct webpush_vapid_key *key)
{
	return key->public_pem;
}

const char *webpush_vapid_key_get_public_b64url(struct webpush_vapid_key *key)
{
	return key->public_b64url;
}

/*
 * The JWT
 */

int webpush_vapid_audience(const char *endpoint, const char **aud_r,
			   const char **error_r)
{
	struct http_url *url;
	in_port_t default_port;
	const char *error;
	string_t *aud;

	if (http_url_parse(endpoint, NULL, 0, pool_datastack_create(),
			   &url, &error) < 0) {
		*error_r = t_strconcat("Invalid endpoint URL: ", error, NULL);
		return -1;
	}
	default_port = url->have_ssl ? HTTPS_DEFAULT_PORT : HTTP_DEFAULT_PORT;
	aud = t_str_new(128);
	str_append(aud, url->have_ssl ? "https://" : "http://");
	/* an origin's host is in lowercase (RFC 6454 section 6.2) */
	str_append(aud, t_str_lcase(url->host.name));
	if (url->port != 0 && url->port != default_port)
		str_printfa(aud, ":%u", url->port);
	*aud_r = str_c(aud);
	return 0;
}

static int webpush_vapid_subject_verify(const char *subject,
					const char **error_r)
{
	/* RFC 8292 section 2.1 */
	if ((!str_begins(subject, "mailto:") &&
	     !str_begins(subject, "https:")) ||
	    strlen(subject) <= strlen("mailto:")) {
		*error_r = t_strdup_printf(
			"VAPID subject '%s' is not a mailto: or https: URI",
			subject);
		return -1;
	}
	return 0;
}

static const char *
webpush_vapid_claims(const char *aud, time_t exp, const char *subject)
{
	struct json_object *claims;
	const char *json;

	claims = json_object_new_object();
	if (claims == NULL)
		i_fatal_status(FATAL_OUTOFMEM, "json_object_new() failed");
	json_object_object_add(claims, "aud", json_object_new_string(aud));
	json_object_object_add(claims, "exp",
			       json_object_new_int64((int64_t)exp));
	json_object_object_add(claims, "sub", json_object_new_string(subject));
	json = t_strdup(json_object_to_json_string_ext(claims,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(claims);
	return json;
}

/* Sign input with ES256, and append the signature as JWS wants it: r||s,
   not OpenSSL's DER ECDSA-Sig-Value. */
static int
webpush_vapid_sign(EVP_PKEY *pkey, const char *input, buffer_t *sig_r,
		   const char **error_r)
{
	EVP_MD_CTX *ctx;
	ECDSA_SIG *sig = NULL;
	const BIGNUM *r, *s;
	const unsigned char *p;
	unsigned char *der = NULL, *out;
	size_t der_size = 0;
	int ret = -1;

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL ||
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &der_size,
			   (const unsigned char *)input, strlen(input)) != 1 ||
	    (der = OPENSSL_malloc(der_size)) == NULL ||
	    EVP_DigestSign(ctx, der, &der_size,
			   (const unsigned char *)input, strlen(input)) != 1) {
		*error_r = webpush_openssl_error("EVP_DigestSign(ES256)");
		goto out;
	}
	p = der;
	sig = d2i_ECDSA_SIG(NULL, &p, (long)der_size);
	if (sig == NULL) {
		*error_r = webpush_openssl_error("d2i_ECDSA_SIG");
		goto out;
	}
	ECDSA_SIG_get0(sig, &r, &s);
	out = buffer_append_space_unsafe(sig_r,
		2 * WEBPUSH_VAPID_SIGNATURE_HALF_SIZE);
	if (BN_bn2binpad(r, out, WEBPUSH_VAPID_SIGNATURE_HALF_SIZE) < 0 ||
	    BN_bn2binpad(s, out + WEBPUSH_VAPID_SIGNATURE_HALF_SIZE,
			 WEBPUSH_VAPID_SIGNATURE_HALF_SIZE) < 0) {
		*error_r = "ECDSA signature does not fit into 64 octets";
		goto out;
	}
	ret = 0;
out:
	ECDSA_SIG_free(sig);
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	return ret;
}

int webpush_vapid_jwt(struct webpush_vapid_key *key, const char *endpoint,
		      const char *subject, time_t now,
		      unsigned int lifetime_secs, const char **jwt_r,
		      const char **error_r)
{
	const char *aud, *claims;
	string_t *jwt;
	buffer_t *sig;

	if (lifetime_secs == 0 ||
	    lifetime_secs > WEBPUSH_VAPID_MAX_LIFETIME_SECS) {
		*error_r = t_strdup_printf(
			"VAPID JWT lifetime %u s is not 1 s to 24 h",
			lifetime_secs);
		return -1;
	}
	if (webpush_vapid_subject_verify(subject, error_r) < 0 ||
	    webpush_vapid_audience(endpoint, &aud, error_r) < 0)
		return -1;
	claims = webpush_vapid_claims(aud, now + lifetime_secs, subject);

	jwt = t_str_new(512);
	str_append(jwt, webpush_b64url(webpush_vapid_jwt_header,
				       strlen(webpush_vapid_jwt_header)));
	str_append_c(jwt, '.');
	str_append(jwt, webpush_b64url(claims, strlen(claims)));

	sig = t_buffer_create(2 * WEBPUSH_VAPID_SIGNATURE_HALF_SIZE);
	if (webpush_vapid_sign(key->pkey, str_c(jwt), sig, error_r) < 0)
		return -1;
	str_append_c(jwt, '.');
	str_append(jwt, webpush_b64url(sig->data, sig->used));
	*jwt_r = str_c(jwt);
	return 0;
}

int webpush_vapid_authorization(struct webpush_vapid_key *key,
				const char *endpoint, const char *subject,
				time_t now, unsigned int lifetime_secs,
				const char **value_r, const char **error_r)
{
	const char *jwt;

	if (webpush_vapid_jwt(key, endpoint, subject, now, lifetime_secs,
			      &jwt, error_r) < 0)
		return -1;
	*value_r = t_strdup_printf("vapid t=%s, k=%s", jwt,
				   key->public_b64url);
	return 0;
}
