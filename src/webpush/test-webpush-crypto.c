/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "buffer.h"
#include "str.h"
#include "base64.h"
#include "test-common.h"
#include "webpush-crypto.h"

/* RFC 8291 Appendix A, with the line breaks removed */
#define RFC8291_PLAINTEXT "When I grow up, I want to be a watermelon"
#define RFC8291_AS_PRIVATE "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
#define RFC8291_AS_PUBLIC \
	"BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS" \
	"6TlzAC8wEqKK6PBru3jl7A8"
#define RFC8291_UA_PRIVATE "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
#define RFC8291_UA_PUBLIC \
	"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyP" \
	"js7Vd8pZGH6SRpkNtoIAiw4"
#define RFC8291_SALT "DGv6ra1nlYgDCS1FRnbzlw"
#define RFC8291_AUTH "BTBZMqHH6r4Tts7J_aSIgg"
#define RFC8291_BODY \
	"DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml" \
	"mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT" \
	"pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"

static const buffer_t *b64(const char *str)
{
	buffer_t *buf = t_buffer_create(128);

	if (base64url_decode(BASE64_DECODE_FLAG_IGNORE_PADDING, str,
			     strlen(str), buf) < 0)
		i_panic("test vector is not base64url: %s", str);
	return buf;
}

static EVP_PKEY *test_key(const char *priv, const char *pub)
{
	const buffer_t *d = b64(priv), *q = b64(pub);
	EVP_PKEY *key;
	const char *error;

	if (webpush_p256_key_from_raw(d->data, d->used, q->data, q->used,
				      &key, &error) < 0)
		i_panic("test key: %s", error);
	return key;
}

static void test_keys(struct webpush_keys *keys_r)
{
	const buffer_t *p256dh = b64(RFC8291_UA_PUBLIC);
	const buffer_t *auth = b64(RFC8291_AUTH);

	i_assert(p256dh->used == sizeof(keys_r->p256dh) &&
		 auth->used == sizeof(keys_r->auth));
	memcpy(keys_r->p256dh, p256dh->data, p256dh->used);
	memcpy(keys_r->auth, auth->data, auth->used);
}

static void test_webpush_encrypt_rfc8291(void)
{
	struct webpush_keys keys;
	const buffer_t *salt = b64(RFC8291_SALT), *expected = b64(RFC8291_BODY);
	buffer_t *body = t_buffer_create(256);
	EVP_PKEY *as_key;
	const char *error;

	test_begin("webpush encrypt: RFC 8291 Appendix A");
	test_keys(&keys);
	as_key = test_key(RFC8291_AS_PRIVATE, RFC8291_AS_PUBLIC);
	/* the body is appended */
	buffer_append(body, "x", 1);
	test_assert(webpush_encrypt_with(&keys, as_key, salt->data, 0,
		RFC8291_PLAINTEXT, strlen(RFC8291_PLAINTEXT),
		body, &error) == 0);
	test_assert(body->used == 1 + expected->used);
	test_assert(body->used == 1 + expected->used &&
		    memcmp(CONST_PTR_OFFSET(body->data, 1), expected->data,
			   expected->used) == 0);
	test_assert(((const unsigned char *)body->data)[0] == 'x');
	EVP_PKEY_free(as_key);
	test_end();
}

static void test_webpush_decrypt_rfc8291(void)
{
	struct webpush_keys keys;
	const buffer_t *body = b64(RFC8291_BODY);
	buffer_t *plain = t_buffer_create(64), *broken;
	unsigned char *data;
	EVP_PKEY *ua_key;
	const char *error;
	size_t i;

	test_begin("webpush decrypt: RFC 8291 Appendix A");
	test_keys(&keys);
	ua_key = test_key(RFC8291_UA_PRIVATE, RFC8291_UA_PUBLIC);
	test_assert(webpush_decrypt(ua_key, keys.auth, body->data, body->used,
				    plain, &error) == 0);
	test_assert(plain->used == strlen(RFC8291_PLAINTEXT) &&
		    memcmp(plain->data, RFC8291_PLAINTEXT, plain->used) == 0);

	/* any flipped octet of the record or the salt breaks it */
	for (i = 0; i < body->used; i++) {
		if (i >= 16 && i < WEBPUSH_HEADER_SIZE)
			continue;
		broken = t_buffer_create(body->used);
		buffer_append_buf(broken, body, 0, SIZE_MAX);
		data = buffer_get_modifiable_data(broken, NULL);
		data[i] ^= 0x01;
		buffer_set_used_size(plain, 0);
		test_assert_idx(webpush_decrypt(ua_key, keys.auth,
			broken->data, broken->used, plain, &error) < 0, i);
	}
	/* a wrong auth secret */
	keys.auth[0] ^= 0x80;
	test_assert(webpush_decrypt(ua_key, keys.auth, body->data, body->used,
				    plain, &error) < 0);
	/* truncated */
	keys.auth[0] ^= 0x80;
	test_assert(webpush_decrypt(ua_key, keys.auth, body->data,
				    WEBPUSH_HEADER_SIZE + 16, plain,
				    &error) < 0 &&
		    strstr(error, "too short") != NULL);
	EVP_PKEY_free(ua_key);
	test_end();
}

static void test_webpush_decrypt_header(void)
{
	static const struct {
		unsigned int offset;
		unsigned char value;
		const char *error;
	} tests[] = {
		/* idlen */
		{ 20, 64, "idlen" },
		{ 20, 0, "idlen" },
		/* rs below 18 */
		{ 18, 0x00, "record size" },
		/* rs 36: smaller than the record */
		{ 18, 0x00, "More than one record" },
		/* keyid not uncompressed */
		{ 21, 0x02, "keyid" },
		/* keyid off the curve */
		{ 60, 0x55, "keyid" },
	};
	struct webpush_keys keys;
	const buffer_t *body = b64(RFC8291_BODY);
	buffer_t *broken, *plain = t_buffer_create(64);
	unsigned char *data;
	EVP_PKEY *ua_key;
	const char *error;
	unsigned int i;

	test_begin("webpush decrypt: invalid headers");
	test_keys(&keys);
	ua_key = test_key(RFC8291_UA_PRIVATE, RFC8291_UA_PUBLIC);
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		broken = t_buffer_create(body->used);
		buffer_append_buf(broken, body, 0, SIZE_MAX);
		data = buffer_get_modifiable_data(broken, NULL);
		data[tests[i].offset] = tests[i].value;
		if (i == 2)
			data[19] = 17;
		else if (i == 3)
			data[19] = 36;
		error = "";
		test_assert_idx(webpush_decrypt(ua_key, keys.auth,
			broken->data, broken->used, plain, &error) < 0 &&
			strstr(error, tests[i].error) != NULL, i);
	}
	EVP_PKEY_free(ua_key);
	test_end();
}

static void test_webpush_encrypt_roundtrip(void)
{
	static const size_t sizes[] = {
		0, 1, 15, 16, 17, 1000, WEBPUSH_PLAINTEXT_MAX_SIZE
	};
	struct webpush_keys keys;
	unsigned char point[WEBPUSH_P256_POINT_SIZE];
	unsigned char plaintext[WEBPUSH_PLAINTEXT_MAX_SIZE + 1];
	buffer_t *body, *body2, *plain;
	EVP_PKEY *ua_key;
	const char *error;
	unsigned int i;

	test_begin("webpush encrypt: fresh key and salt, round trip");
	for (i = 0; i < sizeof(plaintext); i++)
		plaintext[i] = (unsigned char)(i * 7);
	test_assert(webpush_p256_key_generate(&ua_key, &error) == 0);
	test_assert(webpush_p256_public_to_raw(ua_key, point, &error) == 0);
	memcpy(keys.p256dh, point, sizeof(point));
	memset(keys.auth, 0x42, sizeof(keys.auth));

	for (i = 0; i < N_ELEMENTS(sizes); i++) {
		body = t_buffer_create(WEBPUSH_BODY_MAX_SIZE);
		body2 = t_buffer_create(WEBPUSH_BODY_MAX_SIZE);
		plain = t_buffer_create(WEBPUSH_BODY_MAX_SIZE);
		test_assert_idx(webpush_encrypt(&keys, plaintext, sizes[i],
						body, &error) == 0, i);
		test_assert_idx(body->used == WEBPUSH_HEADER_SIZE +
				sizes[i] + 1 + WEBPUSH_TAG_SIZE, i);
		test_assert_idx(body->used <= WEBPUSH_BODY_MAX_SIZE, i);
		test_assert_idx(webpush_decrypt(ua_key, keys.auth, body->data,
			body->used, plain, &error) == 0, i);
		test_assert_idx(plain->used == sizes[i] &&
			memcmp(plain->data, plaintext, sizes[i]) == 0, i);
		/* a second message: another salt and another key */
		test_assert_idx(webpush_encrypt(&keys, plaintext, sizes[i],
						body2, &error) == 0, i);
		test_assert_idx(memcmp(body->data, body2->data,
				       WEBPUSH_SALT_SIZE) != 0, i);
		test_assert_idx(memcmp(CONST_PTR_OFFSET(body->data, 21),
				       CONST_PTR_OFFSET(body2->data, 21),
				       WEBPUSH_P256_POINT_SIZE) != 0, i);
	}

	/* one octet more does not fit, and leaves the body alone */
	body = t_buffer_create(16);
	buffer_append(body, "ab", 2);
	test_assert(webpush_encrypt(&keys, plaintext, sizeof(plaintext),
				    body, &error) < 0 &&
		    strstr(error, "4096") != NULL);
	test_assert(body->used == 2);

	/* an invalid p256dh */
	keys.p256dh[40] ^= 0x01;
	test_assert(webpush_encrypt(&keys, plaintext, 10, body,
				    &error) < 0 &&
		    strstr(error, "p256dh") != NULL);
	test_assert(body->used == 2);
	EVP_PKEY_free(ua_key);
	test_end();
}

static void test_webpush_encrypt_padding(void)
{
	static const struct {
		size_t plaintext_size, pad_size;
		bool fits;
	} tests[] = {
		{ 0, 0, TRUE },
		{ 0, 1, TRUE },
		{ 41, 200, TRUE },
		{ 0, WEBPUSH_PLAINTEXT_MAX_SIZE, TRUE },
		{ 1000, WEBPUSH_PLAINTEXT_MAX_SIZE - 1000, TRUE },
		{ 1000, WEBPUSH_PLAINTEXT_MAX_SIZE - 999, FALSE },
		{ 0, WEBPUSH_PLAINTEXT_MAX_SIZE + 1, FALSE },
		{ 1, SIZE_MAX, FALSE },
	};
	struct webpush_keys keys;
	const buffer_t *salt = b64(RFC8291_SALT);
	unsigned char plaintext[WEBPUSH_PLAINTEXT_MAX_SIZE];
	buffer_t *body, *plain;
	EVP_PKEY *as_key, *ua_key;
	const char *error;
	unsigned int i;
	int ret;

	test_begin("webpush encrypt: padding");
	test_keys(&keys);
	as_key = test_key(RFC8291_AS_PRIVATE, RFC8291_AS_PUBLIC);
	ua_key = test_key(RFC8291_UA_PRIVATE, RFC8291_UA_PUBLIC);
	memset(plaintext, 0, sizeof(plaintext));
	memcpy(plaintext, RFC8291_PLAINTEXT, strlen(RFC8291_PLAINTEXT));
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		body = t_buffer_create(WEBPUSH_BODY_MAX_SIZE);
		plain = t_buffer_create(WEBPUSH_BODY_MAX_SIZE);
		ret = webpush_encrypt_with(&keys, as_key, salt->data,
			tests[i].pad_size, plaintext, tests[i].plaintext_size,
			body, &error);
		if (!tests[i].fits) {
			test_assert_idx(ret < 0 && body->used == 0, i);
			continue;
		}
		test_assert_idx(ret == 0 && body->used ==
			WEBPUSH_HEADER_SIZE + tests[i].plaintext_size + 1 +
			tests[i].pad_size + WEBPUSH_TAG_SIZE, i);
		test_assert_idx(body->used <= WEBPUSH_BODY_MAX_SIZE, i);
		/* the padding is gone, the plaintext's own zeros are not */
		test_assert_idx(webpush_decrypt(ua_key, keys.auth, body->data,
			body->used, plain, &error) == 0, i);
		test_assert_idx(plain->used == tests[i].plaintext_size &&
			memcmp(plain->data, plaintext, plain->used) == 0, i);
	}
	EVP_PKEY_free(as_key);
	EVP_PKEY_free(ua_key);
	test_end();
}

static void test_webpush_p256_point_is_valid(void)
{
	const buffer_t *ua = b64(RFC8291_UA_PUBLIC);
	unsigned char point[WEBPUSH_P256_POINT_SIZE];
	unsigned char zero[WEBPUSH_P256_POINT_SIZE];
	const char *error;
	EVP_PKEY *key;

	test_begin("webpush P-256 point validation");
	test_assert(webpush_p256_point_is_valid(ua->data, ua->used));
	test_assert(webpush_p256_point_is_valid(b64(RFC8291_AS_PUBLIC)->data,
						WEBPUSH_P256_POINT_SIZE));
	/* wrong sizes */
	test_assert(!webpush_p256_point_is_valid(ua->data, ua->used - 1));
	test_assert(!webpush_p256_point_is_valid(ua->data, 33));
	/* compressed form of the same key */
	memcpy(point, ua->data, sizeof(point));
	point[0] = 0x02 | (point[64] & 1);
	test_assert(!webpush_p256_point_is_valid(point, 33));
	test_assert(!webpush_p256_point_is_valid(point, sizeof(point)));
	/* y changed: off the curve */
	memcpy(point, ua->data, sizeof(point));
	point[64] ^= 0x01;
	test_assert(!webpush_p256_point_is_valid(point, sizeof(point)));
	/* x changed */
	memcpy(point, ua->data, sizeof(point));
	point[1] ^= 0x01;
	test_assert(!webpush_p256_point_is_valid(point, sizeof(point)));
	/* (0, 0) */
	memset(zero, 0, sizeof(zero));
	zero[0] = 0x04;
	test_assert(!webpush_p256_point_is_valid(zero, sizeof(zero)));
	/* coordinates above the field prime */
	memset(zero + 1, 0xff, sizeof(zero) - 1);
	test_assert(!webpush_p256_point_is_valid(zero, sizeof(zero)));

	/* the key pair's check: a private key that is not the public one's */
	test_assert(webpush_p256_key_from_raw(b64(RFC8291_AS_PRIVATE)->data,
		WEBPUSH_P256_PRIVATE_SIZE, ua->data, ua->used,
		&key, &error) < 0);
	test_assert(webpush_p256_key_from_raw(b64(RFC8291_AS_PRIVATE)->data,
		31, ua->data, ua->used, &key, &error) < 0);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_webpush_encrypt_rfc8291,
		test_webpush_decrypt_rfc8291,
		test_webpush_decrypt_header,
		test_webpush_encrypt_roundtrip,
		test_webpush_encrypt_padding,
		test_webpush_p256_point_is_valid,
		NULL
	};
	return test_run(test_functions);
}
