#ifndef WEBPUSH_VAPID_H
#define WEBPUSH_VAPID_H

/* VAPID (RFC 8292): the server's P-256 key that signs its push requests,
   and the signed JWT of the "Authorization: vapid t=..., k=..." header. */

/* RFC 8292 section 2: exp no further than 24 hours ahead */
#define WEBPUSH_VAPID_MAX_LIFETIME_SECS (24 * 60 * 60)
/* A PEM key file is far smaller than this */
#define WEBPUSH_VAPID_KEY_FILE_MAX_SIZE 16384

struct webpush_vapid_key;

/* Read a P-256 private key from a PEM file (PKCS#8 "PRIVATE KEY" or SEC1
   "EC PRIVATE KEY", not encrypted). Returns 0, or -1 with error_r. */
int webpush_vapid_key_load(const char *path, struct webpush_vapid_key **key_r,
			   const char **error_r);
/* The same from PEM text in memory (a key stored by
   webpush_vapid_key_get_private_pem()). Returns 0, or -1 with error_r. */
int webpush_vapid_key_parse(const void *pem, size_t size,
			    struct webpush_vapid_key **key_r,
			    const char **error_r);
/* A new P-256 key. Returns 0, or -1 with error_r. */
int webpush_vapid_key_generate(struct webpush_vapid_key **key_r,
			       const char **error_r);
void webpush_vapid_key_free(struct webpush_vapid_key **key);

/* Append the private key as PKCS#8 PEM to dest, for storage: never show
   it to a client. Returns 0, or -1 with error_r. */
int webpush_vapid_key_get_private_pem(struct webpush_vapid_key *key,
				      string_t *dest, const char **error_r);
/* The public key as a PEM "PUBLIC KEY" block (SubjectPublicKeyInfo with
   the uncompressed point), LF line ends: what GETMETADATA returns. */
const char *webpush_vapid_key_get_public_pem(struct webpush_vapid_key *key);
/* The public key as base64url (no padding) of the uncompressed point: the
   "k" parameter, and a client's applicationServerKey. */
const char *webpush_vapid_key_get_public_b64url(struct webpush_vapid_key *key);

/* The origin (RFC 6454) of an endpoint URL, the JWT's "aud": scheme://host,
   with :port only when it is not the scheme's default. Returns 0, or -1
   with error_r if endpoint is no http(s) URL. */
int webpush_vapid_audience(const char *endpoint, const char **aud_r,
			   const char **error_r);

/* The signed JWT for a push to endpoint: header {"typ":"JWT","alg":"ES256"},
   claims aud (the endpoint's origin), exp (now + lifetime_secs, at most
   24 h) and sub (a mailto: or https: URI), signed with ES256 (raw r||s).
   Returns 0, or -1 with error_r. */
int webpush_vapid_jwt(struct webpush_vapid_key *key, const char *endpoint,
		      const char *subject, time_t now,
		      unsigned int lifetime_secs, const char **jwt_r,
		      const char **error_r);
/* The value of the Authorization header for a push to endpoint:
   "vapid t=<JWT>, k=<public key>". Returns 0, or -1 with error_r. */
int webpush_vapid_authorization(struct webpush_vapid_key *key,
				const char *endpoint, const char *subject,
				time_t now, unsigned int lifetime_secs,
				const char **value_r, const char **error_r);

#endif
