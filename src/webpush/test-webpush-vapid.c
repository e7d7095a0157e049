/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "buffer.h"
#include "str.h"
#include "base64.h"
#include "unlink-directory.h"
#include "test-webpush.h"
#include "webpush-crypto.h"
#include "webpush-vapid.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>

/* RFC 8292 section 2.4's example: its header and claims parts */
#define RFC8292_JWT_HEADER "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9"
#define RFC8292_JWT_CLAIMS \
	"eyJhdWQiOiJodHRwczovL3B1c2guZXhhbXBsZS5uZXQiLCJleHAiOjE0NTM1MjM3" \
	"NjgsInN1YiI6Im1haWx0bzpwdXNoQGV4YW1wbGUuY29tIn0"
#define RFC8292_EXP 1453523768

static const char *test_dir = ".test-webpush-vapid";

static buffer_t *b64(const char *str)
{
	buffer_t *buf = t_buffer_create(128);

	if (base64url_decode(BASE64_DECODE_FLAG_NO_PADDING, str,
			     strlen(str), buf) < 0)
		return NULL;
	return buf;
}

/* Verify a JWT's ES256 signature against an uncompressed point, with
   OpenSSL alone: r||s goes back to DER for EVP_DigestVerify(). */
static bool test_jwt_verify(const char *jwt, EVP_PKEY *pub)
{
	const char *dot = strrchr(jwt, '.');
	buffer_t *sig;
	ECDSA_SIG *ecsig;
	unsigned char *der = NULL;
	EVP_MD_CTX *ctx;
	int der_size, ret;

	if (dot == NULL || (sig = b64(dot + 1)) == NULL || sig->used != 64)
		return FALSE;
	ecsig = ECDSA_SIG_new();
	i_assert(ecsig != NULL);
	if (ECDSA_SIG_set0(ecsig, BN_bin2bn(sig->data, 32, NULL),
			   BN_bin2bn(CONST_PTR_OFFSET(sig->data, 32), 32,
				     NULL)) != 1)
		i_unreached();
	der_size = i2d_ECDSA_SIG(ecsig, &der);
	ECDSA_SIG_free(ecsig);
	i_assert(der_size > 0);

	ctx = EVP_MD_CTX_new();
	i_assert(ctx != NULL);
	ret = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1 ?
		EVP_DigestVerify(ctx, der, der_size,
				 (const unsigned char *)jwt, dot - jwt) : -1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ret == 1;
}

static bool test_str_ends(const char *str, const char *suffix)
{
	size_t len = strlen(str), suffix_len = strlen(suffix);

	return len >= suffix_len &&
		strcmp(str + len - suffix_len, suffix) == 0;
}

static struct json_object *test_json_part(const char *part)
{
	buffer_t *json = b64(part);
	struct json_tokener *tok;
	struct json_object *obj;

	if (json == NULL)
		return NULL;
	tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, json->data, json->used);
	if (obj != NULL && json_tokener_get_parse_end(tok) != json->used) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

static const char *
test_json_get_string(struct json_object *obj, const char *key)
{
	struct json_object *value;

	if (!json_object_object_get_ex(obj, key, &value) ||
	    !json_object_is_type(value, json_type_string))
		return NULL;
	return t_strdup(json_object_get_string(value));
}

static void test_webpush_vapid_audience(void)
{
	static const struct {
		const char *endpoint;
		const char *aud; /* NULL: error */
	} tests[] = {
		{ "https://push.example.net/p/JzLQ3raZJfFBR0aqvOMsLrt54w4r",
		  "https://push.example.net" },
		{ "https://push.example.net", "https://push.example.net" },
		{ "https://push.example.net:443/x",
		  "https://push.example.net" },
		{ "https://push.example.net:8443/x",
		  "https://push.example.net:8443" },
		{ "https://push.example.net:80/x",
		  "https://push.example.net:80" },
		{ "http://push.example.net:80/x", "http://push.example.net" },
		{ "http://push.example.net:443/x",
		  "http://push.example.net:443" },
		{ "https://PUSH.Example.NET/x?a=b",
		  "https://push.example.net" },
		{ "https://127.0.0.1:4430/x", "https://127.0.0.1:4430" },
		{ "https://[::1]:4430/x", "https://[::1]:4430" },
		{ "https://[::1]/x", "https://[::1]" },
		{ "ftp://push.example.net/x", NULL },
		{ "push.example.net/x", NULL },
		{ "https://", NULL },
		{ "", NULL },
	};
	const char *aud, *error;
	unsigned int i;
	int ret;

	test_begin("webpush vapid audience");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		aud = NULL;
		ret = webpush_vapid_audience(tests[i].endpoint, &aud, &error);
		if (tests[i].aud == NULL)
			test_assert_idx(ret < 0, i);
		else {
			test_assert_idx(ret == 0, i);
			test_assert_strcmp_idx(aud, tests[i].aud, i);
		}
	}
	test_end();
}

static void test_webpush_vapid_jwt(void)
{
	struct webpush_vapid_key *key;
	struct json_object *header, *claims, *exp;
	const char *jwt, *error, *const *parts, *pem, *auth;
	unsigned char point[WEBPUSH_P256_POINT_SIZE];
	buffer_t *k;
	EVP_PKEY *pub, *pem_pub;
	BIO *bio;
	char *broken;

	test_begin("webpush vapid jwt");
	test_assert(webpush_vapid_key_generate(&key, &error) == 0);
	test_assert(webpush_vapid_jwt(key,
		"https://push.example.net:8443/p/abc", "mailto:postmaster@host",
		1700000000, 12 * 3600, &jwt, &error) == 0);
	parts = t_strsplit(jwt, ".");
	test_assert(str_array_length(parts) == 3);

	header = test_json_part(parts[0]);
	test_assert(header != NULL);
	test_assert(json_object_object_length(header) == 2);
	test_assert_strcmp(test_json_get_string(header, "typ"), "JWT");
	test_assert_strcmp(test_json_get_string(header, "alg"), "ES256");
	json_object_put(header);

	claims = test_json_part(parts[1]);
	test_assert(claims != NULL);
	test_assert(json_object_object_length(claims) == 3);
	test_assert_strcmp(test_json_get_string(claims, "aud"),
			   "https://push.example.net:8443");
	test_assert_strcmp(test_json_get_string(claims, "sub"),
			   "mailto:postmaster@host");
	test_assert(json_object_object_get_ex(claims, "exp", &exp) &&
		    json_object_is_type(exp, json_type_int) &&
		    json_object_get_int64(exp) == 1700000000 + 12 * 3600);
	json_object_put(claims);

	/* the signature verifies against "k", and against the PEM */
	k = b64(webpush_vapid_key_get_public_b64url(key));
	test_assert(k != NULL && k->used == WEBPUSH_P256_POINT_SIZE);
	test_assert(webpush_p256_public_from_raw(k->data, k->used, &pub,
						 &error) == 0);
	test_assert(test_jwt_verify(jwt, pub));
	pem = webpush_vapid_key_get_public_pem(key);
	test_assert(str_begins(pem, "-----BEGIN PUBLIC KEY-----\n"));
	test_assert(test_str_ends(pem, "\n-----END PUBLIC KEY-----\n"));
	bio = BIO_new_mem_buf(pem, -1);
	pem_pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	test_assert(pem_pub != NULL);
	test_assert(EVP_PKEY_eq(pub, pem_pub) == 1);
	test_assert(webpush_p256_public_to_raw(pem_pub, point, &error) == 0 &&
		    memcmp(point, k->data, sizeof(point)) == 0);
	test_assert(test_jwt_verify(jwt, pem_pub));

	/* a changed claim or signature does not verify */
	broken = t_strdup_noconst(jwt);
	broken[strlen(parts[0]) + 3] ^= 0x01;
	test_assert(!test_jwt_verify(broken, pub));
	broken = t_strdup_noconst(jwt);
	broken[strlen(broken) - 5] = broken[strlen(broken) - 5] == 'A' ?
		'B' : 'A';
	test_assert(!test_jwt_verify(broken, pub));

	/* the header */
	test_assert(webpush_vapid_authorization(key, "https://h.example/x",
		"mailto:postmaster@host", 1700000000, 60, &auth, &error) == 0);
	test_assert(str_begins(auth, "vapid t=ey"));
	test_assert(test_str_ends(auth, t_strconcat(", k=",
		webpush_vapid_key_get_public_b64url(key), NULL)));
	jwt = t_strcut(auth + strlen("vapid t="), ',');
	test_assert(test_jwt_verify(jwt, pub));
	EVP_PKEY_free(pub);
	EVP_PKEY_free(pem_pub);
	webpush_vapid_key_free(&key);
	test_assert(key == NULL);
	test_end();
}

static void test_webpush_vapid_jwt_rfc8292(void)
{
	struct webpush_vapid_key *key;
	const char *jwt, *error;

	/* RFC 8292's example token: ours has the same header and claims,
	   byte for byte (the signature differs, ECDSA being randomized) */
	test_begin("webpush vapid jwt: RFC 8292 example");
	test_assert(webpush_vapid_key_generate(&key, &error) == 0);
	test_assert(webpush_vapid_jwt(key,
		"https://push.example.net/p/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV",
		"mailto:push@example.com", RFC8292_EXP - 3600, 3600,
		&jwt, &error) == 0);
	test_assert(str_begins(jwt, RFC8292_JWT_HEADER "."
			       RFC8292_JWT_CLAIMS "."));
	webpush_vapid_key_free(&key);
	test_end();
}

static void test_webpush_vapid_jwt_errors(void)
{
	static const struct {
		const char *endpoint, *subject;
		unsigned int lifetime;
		const char *error;
	} tests[] = {
		{ "https://h.example/", "mailto:a@h", 86400, NULL },
		{ "https://h.example/", "https://h.example/contact", 1, NULL },
		{ "https://h.example/", "mailto:a@h", 86401, "24 h" },
		{ "https://h.example/", "mailto:a@h", 0, "24 h" },
		{ "https://h.example/", "a@h", 60, "mailto:" },
		{ "https://h.example/", "mailto:", 60, "mailto:" },
		{ "https://h.example/", "", 60, "mailto:" },
		{ "ftp://h.example/", "mailto:a@h", 60, "endpoint" },
	};
	struct webpush_vapid_key *key;
	const char *jwt, *error;
	unsigned int i;
	int ret;

	test_begin("webpush vapid jwt errors");
	test_assert(webpush_vapid_key_generate(&key, &error) == 0);
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		error = NULL;
		ret = webpush_vapid_jwt(key, tests[i].endpoint,
					tests[i].subject, 1700000000,
					tests[i].lifetime, &jwt, &error);
		test_assert_result_idx(ret, error, tests[i].error, i);
	}
	webpush_vapid_key_free(&key);
	test_end();
}

static void test_write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd == -1 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		i_fatal("write(%s) failed: %m", path);
	i_close_fd(&fd);
}

static const char *test_other_curve_pem(void)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp384r1");
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;
	const char *pem;

	i_assert(pkey != NULL && bio != NULL);
	if (PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0,
				     NULL, NULL) != 1)
		i_unreached();
	len = BIO_get_mem_data(bio, &data);
	pem = t_strndup(data, len);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return pem;
}

static void test_webpush_vapid_key_pem(void)
{
	struct webpush_vapid_key *key, *key2;
	const char *error, *path;
	string_t *pem = t_str_new(256);

	test_begin("webpush vapid key: PEM storage and files");
	test_assert(webpush_vapid_key_generate(&key, &error) == 0);
	test_assert(webpush_vapid_key_get_private_pem(key, pem, &error) == 0);
	test_assert(str_begins(str_c(pem), "-----BEGIN PRIVATE KEY-----\n"));
	/* stored and read back: the same key */
	test_assert(webpush_vapid_key_parse(str_data(pem), str_len(pem),
					    &key2, &error) == 0);
	test_assert_strcmp(webpush_vapid_key_get_public_b64url(key),
			   webpush_vapid_key_get_public_b64url(key2));
	test_assert_strcmp(webpush_vapid_key_get_public_pem(key),
			   webpush_vapid_key_get_public_pem(key2));
	webpush_vapid_key_free(&key2);

	/* from a file */
	(void)mkdir(test_dir, 0700);
	path = t_strconcat(test_dir, "/vapid.pem", NULL);
	test_write_file(path, str_c(pem));
	test_assert(webpush_vapid_key_load(path, &key2, &error) == 0);
	test_assert_strcmp(webpush_vapid_key_get_public_b64url(key),
			   webpush_vapid_key_get_public_b64url(key2));
	webpush_vapid_key_free(&key2);

	/* what is no P-256 private key */
	test_write_file(path, webpush_vapid_key_get_public_pem(key));
	test_assert(webpush_vapid_key_load(path, &key2, &error) < 0 &&
		    strstr(error, path) != NULL &&
		    strstr(error, "No PEM private key") != NULL);
	test_write_file(path, test_other_curve_pem());
	test_assert(webpush_vapid_key_load(path, &key2, &error) < 0 &&
		    strstr(error, "P-256") != NULL);
	test_write_file(path, "");
	test_assert(webpush_vapid_key_load(path, &key2, &error) < 0);
	test_assert(webpush_vapid_key_parse("garbage", 7, &key2, &error) < 0);
	/* too long */
	str_append_c(pem, '\n');
	while (str_len(pem) <= WEBPUSH_VAPID_KEY_FILE_MAX_SIZE)
		str_append(pem, "# padding padding padding padding\n");
	test_write_file(path, str_c(pem));
	test_assert(webpush_vapid_key_load(path, &key2, &error) < 0 &&
		    strstr(error, "longer") != NULL);
	test_assert(webpush_vapid_key_load(t_strconcat(test_dir,
		"/missing.pem", NULL), &key2, &error) < 0 &&
		strstr(error, "open(") != NULL);
	webpush_vapid_key_free(&key);
	if (unlink_directory(test_dir, UNLINK_DIRECTORY_FLAG_RMDIR,
			     &error) < 0)
		i_error("%s", error);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_webpush_vapid_audience,
		test_webpush_vapid_jwt,
		test_webpush_vapid_jwt_rfc8292,
		test_webpush_vapid_jwt_errors,
		test_webpush_vapid_key_pem,
		NULL
	};
	return test_run(test_functions);
}
