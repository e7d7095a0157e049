/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "str.h"
#include "test-webpush.h"
#include "webpush-subscription.h"

/* RFC 8291 Appendix A's user agent */
#define P256DH "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTB" \
	"Hm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
/* the same point with y changed: off the curve */
#define P256DH_OFF_CURVE "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-" \
	"AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw8"
#define AUTH "BTBZMqHH6r4Tts7J_aSIgg"
#define ENDPOINT "https://push.example.net/p/JzLQ3raZJfFBR0aqvOMsLrt54w4r"

#define KEYS(p256dh, auth) \
	"\"keys\":{\"p256dh\":\"" p256dh "\",\"auth\":\"" auth "\"}"
#define RESOURCE(endpoint, keys) \
	"\"resource\":{\"endpoint\":\"" endpoint "\"," keys "}"
#define SUB(client, device, msgtype, resource) \
	"{\"client\":\"" client "\",\"device\":\"" device "\"," \
	"\"msgtype\":\"" msgtype "\"," resource "}"
#define SUB_ENDPOINT(endpoint) \
	SUB("App", "Phone", "chat", RESOURCE(endpoint, KEYS(P256DH, AUTH)))
#define SUB_KEYS(p256dh, auth) \
	SUB("App", "Phone", "chat", RESOURCE(ENDPOINT, KEYS(p256dh, auth)))
#define VALID SUB_ENDPOINT(ENDPOINT)
/* VALID with more members first */
#define SUB_EXTRA(members) \
	"{" members "\"client\":\"App\",\"device\":\"Phone\"," \
	"\"msgtype\":\"chat\"," RESOURCE(ENDPOINT, KEYS(P256DH, AUTH)) "}"
#define QUOTED SUB("A \\\"quoted\\\" \\/ \\u00e4pp\\n", "Phone", "chat", \
		   RESOURCE(ENDPOINT, KEYS(P256DH, AUTH)))

#define C10 "0123456789"
#define C64 C10 C10 C10 C10 C10 C10 "0123"
#define C128 C64 C64
#define AE8 "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4"
#define AE64 AE8 AE8 AE8 AE8 AE8 AE8 AE8 AE8
/* 491 octets */
#define PATH491 "https://push.example.net/" C128 C128 C128 C64 C10 "01234567"

static const struct {
	const char *json;
	enum webpush_subscription_parse_flags flags;
	const char *error; /* substring; NULL if accepted */
} subscription_tests[] = {
	/* accepted */
	{ VALID, 0, NULL },
	{ SUB("App", "Phone", "mail", RESOURCE(ENDPOINT, KEYS(P256DH, AUTH))),
	  0, NULL },
	{ SUB("App", "Phone", "all", RESOURCE(ENDPOINT, KEYS(P256DH, AUTH))),
	  0, NULL },
	{ SUB("", "", "all", RESOURCE(ENDPOINT, KEYS(P256DH, AUTH))), 0, NULL },
	{ SUB_KEYS(P256DH "=", AUTH "=="), 0, NULL },
	{ SUB_KEYS(P256DH "=", AUTH), 0, NULL },
	{ SUB_ENDPOINT("https://push.example.net:8443/p?x=1"), 0, NULL },
	{ SUB_ENDPOINT("https://127.0.0.1:4430/p"), 0, NULL },
	{ SUB_ENDPOINT("https://[::1]:4430/p"), 0, NULL },
	{ SUB_ENDPOINT("http://push.example.net/p"),
	  WEBPUSH_SUBSCRIPTION_PARSE_FLAG_ALLOW_HTTP, NULL },
	{ SUB_ENDPOINT(PATH491 "123456789012345678901"), 0, NULL },
	{ SUB(C128, C128, "chat", RESOURCE(ENDPOINT, KEYS(P256DH, AUTH))),
	  0, NULL },
	{ SUB(AE64, AE64, "chat", RESOURCE(ENDPOINT, KEYS(P256DH, AUTH))),
	  0, NULL },
	{ QUOTED, 0, NULL },
	/* the spec's layout: whitespace and newlines */
	{ "\r\n {\n    \"client\": \"My awesome WebPush App\",\n"
	  "    \"device\": \"My Favorite Smartphone\",\n"
	  "    \"msgtype\": \"chat\",\n    \"resource\":\n    {\n"
	  "        \"endpoint\": \"" ENDPOINT "\",\n"
	  "        \"keys\": {\n            \"p256dh\": \"" P256DH "\",\n"
	  "            \"auth\": \"" AUTH "\"\n        }\n    }\n}\n\t ",
	  0, NULL },
	/* unknown keys, and what only the server sets, are ignored */
	{ "{\"x\":[1,{\"y\":null}],\"created\":5,\"validated\":\"yes\","
	  "\"validation\":\"abc\"," "\"client\":\"App\",\"device\":\"D\","
	  "\"msgtype\":\"chat\",\"resource\":{\"z\":1,\"endpoint\":\""
	  ENDPOINT "\",\"keys\":{\"p256dh\":\"" P256DH "\",\"auth\":\""
	  AUTH "\",\"k\":true}}}", 0, NULL },

	/* the whole value */
	{ "", 0, "Invalid JSON" },
	{ "   ", 0, "Invalid JSON" },
	{ "abc", 0, "Invalid JSON" },
	{ "{", 0, "Invalid JSON" },
	{ "{\"client\":", 0, "Invalid JSON" },
	{ "null", 0, "null, not a JSON object" },
	{ "[]", 0, "array, not a JSON object" },
	{ "[" VALID "]", 0, "array, not a JSON object" },
	{ "true", 0, "not a JSON object" },
	{ "\"" ENDPOINT "\"", 0, "string, not a JSON object" },
	{ "42 ", 0, "not a JSON object" },
	{ VALID "x", 0, "Invalid JSON" },
	{ VALID VALID, 0, "Invalid JSON" },
	{ VALID ",", 0, "Invalid JSON" },
	{ VALID " null", 0, "Invalid JSON" },
	{ "{'client':'App'}", 0, "Invalid JSON" },
	{ "{\"client\":\"App\",}", 0, "Invalid JSON" },
	{ "{\"client\":NaN}", 0, "Invalid JSON" },
	{ SUB_EXTRA("\"x\":[1,{\"y\":-Infinity}],"), 0, "Invalid JSON" },
	{ SUB_EXTRA("\"x\":NaN,"), 0, "Invalid JSON" },
	{ SUB_EXTRA("\"x\":1.5e3,"), 0, NULL },
	{ SUB("\xff", "Phone", "chat", RESOURCE(ENDPOINT, KEYS(P256DH, AUTH))),
	  0, "Invalid JSON" },

	/* missing */
	{ "{\"device\":\"D\",\"msgtype\":\"chat\"," RESOURCE(ENDPOINT,
	  KEYS(P256DH, AUTH)) "}", 0, "client: missing" },
	{ "{\"client\":\"C\",\"msgtype\":\"chat\"," RESOURCE(ENDPOINT,
	  KEYS(P256DH, AUTH)) "}", 0, "device: missing" },
	{ "{\"client\":\"C\",\"device\":\"D\"," RESOURCE(ENDPOINT,
	  KEYS(P256DH, AUTH)) "}", 0, "msgtype: missing" },
	{ "{\"client\":\"C\",\"device\":\"D\",\"msgtype\":\"chat\"}", 0,
	  "resource: missing" },
	{ SUB("C", "D", "chat", "\"resource\":{" KEYS(P256DH, AUTH) "}"), 0,
	  "resource.endpoint: missing" },
	{ SUB("C", "D", "chat", "\"resource\":{\"endpoint\":\"" ENDPOINT
	  "\"}"), 0, "resource.keys: missing" },
	{ SUB("C", "D", "chat", RESOURCE(ENDPOINT,
	  "\"keys\":{\"auth\":\"" AUTH "\"}")), 0,
	  "resource.keys.p256dh: missing" },
	{ SUB("C", "D", "chat", RESOURCE(ENDPOINT,
	  "\"keys\":{\"p256dh\":\"" P256DH "\"}")), 0,
	  "resource.keys.auth: missing" },

	/* ill-typed */
	{ "{\"client\":5,\"device\":\"D\",\"msgtype\":\"chat\"," RESOURCE(
	  ENDPOINT, KEYS(P256DH, AUTH)) "}", 0, "client: not a string" },
	{ "{\"client\":\"C\",\"device\":null,\"msgtype\":\"chat\"," RESOURCE(
	  ENDPOINT, KEYS(P256DH, AUTH)) "}", 0, "device: not a string" },
	{ "{\"client\":\"C\",\"device\":\"D\",\"msgtype\":[\"chat\"],"
	  RESOURCE(ENDPOINT, KEYS(P256DH, AUTH)) "}", 0,
	  "msgtype: not a string" },
	{ SUB("C", "D", "chat", "\"resource\":\"" ENDPOINT "\""), 0,
	  "resource: not an object" },
	{ SUB("C", "D", "chat", "\"resource\":[]"), 0,
	  "resource: not an object" },
	{ SUB("C", "D", "chat", "\"resource\":{\"endpoint\":1,"
	  KEYS(P256DH, AUTH) "}"), 0, "resource.endpoint: not a string" },
	{ SUB("C", "D", "chat", "\"resource\":{\"endpoint\":\"" ENDPOINT
	  "\",\"keys\":[]}"), 0, "resource.keys: not an object" },
	{ SUB("C", "D", "chat", RESOURCE(ENDPOINT, "\"keys\":{\"p256dh\":true,"
	  "\"auth\":\"" AUTH "\"}")), 0, "resource.keys.p256dh: not a string" },
	{ SUB("C", "D", "chat", RESOURCE(ENDPOINT, "\"keys\":{\"p256dh\":\""
	  P256DH "\",\"auth\":{}}")), 0, "resource.keys.auth: not a string" },

	/* client, device */
	{ SUB(C128 "x", "D", "chat", RESOURCE(ENDPOINT, KEYS(P256DH, AUTH))),
	  0, "client: longer than 128 octets" },
	{ SUB(AE64 "x", "D", "chat", RESOURCE(ENDPOINT, KEYS(P256DH, AUTH))),
	  0, "client: longer than 128 octets" },
	{ SUB("C", C128 "x", "chat", RESOURCE(ENDPOINT, KEYS(P256DH, AUTH))),
	  0, "device: longer than 128 octets" },
	{ SUB("C\\u0000x", "D", "chat", RESOURCE(ENDPOINT,
	  KEYS(P256DH, AUTH))), 0, "client: contains NUL" },

	/* msgtype */
	{ SUB("C", "D", "Chat", RESOURCE(ENDPOINT, KEYS(P256DH, AUTH))), 0,
	  "msgtype: not chat, mail or all" },
	{ SUB("C", "D", "ALL", RESOURCE(ENDPOINT, KEYS(P256DH, AUTH))), 0,
	  "msgtype: not chat, mail or all" },
	{ SUB("C", "D", "any", RESOURCE(ENDPOINT, KEYS(P256DH, AUTH))), 0,
	  "msgtype: not chat, mail or all" },
	{ SUB("C", "D", "email", RESOURCE(ENDPOINT, KEYS(P256DH, AUTH))), 0,
	  "msgtype: not chat, mail or all" },
	{ SUB("C", "D", "chat ", RESOURCE(ENDPOINT, KEYS(P256DH, AUTH))), 0,
	  "msgtype: not chat, mail or all" },
	{ SUB("C", "D", "", RESOURCE(ENDPOINT, KEYS(P256DH, AUTH))), 0,
	  "msgtype: not chat, mail or all" },

	/* resource.endpoint */
	{ SUB_ENDPOINT("http://push.example.net/p"), 0,
	  "resource.endpoint: not an https URL" },
	{ SUB_ENDPOINT(PATH491 "1234567890123456789012"), 0,
	  "resource.endpoint: longer than 512 octets" },
	{ SUB_ENDPOINT("ftp://push.example.net/p"), 0,
	  "resource.endpoint: invalid URL" },
	{ SUB_ENDPOINT("push.example.net/p"), 0,
	  "resource.endpoint: invalid URL" },
	{ SUB_ENDPOINT("/p/1"), 0, "resource.endpoint: invalid URL" },
	{ SUB_ENDPOINT("https://"), 0, "resource.endpoint: invalid URL" },
	{ SUB_ENDPOINT("https:///p"), 0, "resource.endpoint: invalid URL" },
	{ SUB_ENDPOINT("https://user:pw@push.example.net/p"), 0,
	  "resource.endpoint: invalid URL" },
	{ SUB_ENDPOINT("https://push.example.net/p#frag"), 0,
	  "resource.endpoint: invalid URL" },
	{ SUB_ENDPOINT("https://push.example.net:99999/p"), 0,
	  "resource.endpoint: invalid URL" },
	{ SUB_ENDPOINT("https://push example.net/p"), 0,
	  "resource.endpoint: invalid URL" },
	{ SUB_ENDPOINT(""), 0, "resource.endpoint: invalid URL" },

	/* resource.keys.p256dh */
	{ SUB_KEYS(P256DH_OFF_CURVE, AUTH), 0,
	  "resource.keys.p256dh: not a point on P-256" },
	{ SUB_KEYS("BCVxsr7N/eNgVRqvHtD0zTZsEc6+VV+JvLexhqUzORcxaOzi6+AYWXvTBHm"
		   "4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", AUTH), 0,
	  "resource.keys.p256dh: not base64url" },
	{ SUB_KEYS("BCVx sr7N", AUTH), 0,
	  "resource.keys.p256dh: not base64url" },
	{ SUB_KEYS(P256DH "==", AUTH), 0, "resource.keys.p256dh: not base64url" },
	{ SUB_KEYS(AUTH, AUTH), 0, "resource.keys.p256dh: not 65 octets" },
	{ SUB_KEYS("", AUTH), 0, "resource.keys.p256dh: not 65 octets" },
	/* the compressed form of a point */
	{ SUB_KEYS("AiVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcx", AUTH), 0,
	  "resource.keys.p256dh: not 65 octets" },
	{ SUB_KEYS(C128 C128 "A", AUTH), 0,
	  "resource.keys.p256dh: longer than 256 octets" },

	/* resource.keys.auth */
	{ SUB_KEYS(P256DH, "BTBZMqHH6r4Tts7J_aSI"), 0,
	  "resource.keys.auth: not 16 octets" },
	{ SUB_KEYS(P256DH, "BTBZMqHH6r4Tts7J_aSIggAA"), 0,
	  "resource.keys.auth: not 16 octets" },
	{ SUB_KEYS(P256DH, ""), 0, "resource.keys.auth: not 16 octets" },
	{ SUB_KEYS(P256DH, "BTBZMqHH6r4Tts7J/aSIgg"), 0,
	  "resource.keys.auth: not base64url" },
	{ SUB_KEYS(P256DH, "BTBZMqHH6r4Tts7J_aSIgg==="), 0,
	  "resource.keys.auth: longer than 24 octets" },
};

static void test_webpush_subscription_parse(void)
{
	struct webpush_subscription *sub;
	const char *error;
	unsigned int i;
	pool_t pool;
	int ret;

	test_begin("webpush subscription parse");
	pool = pool_alloconly_create("test webpush subscription", 1024);
	for (i = 0; i < N_ELEMENTS(subscription_tests); i++) {
		sub = NULL;
		error = NULL;
		ret = webpush_subscription_parse(pool,
			subscription_tests[i].json,
			strlen(subscription_tests[i].json),
			subscription_tests[i].flags, &sub, &error);
		test_assert_result_idx(ret, error, subscription_tests[i].error,
				       i);
		test_assert_idx(ret < 0 || sub != NULL, i);
		p_clear(pool);
	}
	pool_unref(&pool);
	test_end();
}

static void test_webpush_subscription_fields(void)
{
	static const char spec_value[] =
		"{\"x\":1,\"created\":\"2000-01-01T00:00:00Z\","
		"\"validated\":true,\"validation\":\"abc\","
		"\"client\":\"A \\\"quoted\\\" \\u00e4pp\",\"device\":\"D\","
		"\"msgtype\":\"all\",\"resource\":{\"endpoint\":"
		"\"https://Push.Example.net:8443/p\",\"keys\":{\"p256dh\":\""
		P256DH "=\",\"auth\":\"" AUTH "\"}}}";
	struct webpush_subscription *sub;
	const char *error;
	pool_t pool;

	test_begin("webpush subscription fields");
	pool = pool_alloconly_create("test webpush subscription", 1024);
	test_assert(webpush_subscription_parse(pool, spec_value,
		strlen(spec_value), 0, &sub, &error) == 0);
	test_assert_strcmp(sub->client, "A \"quoted\" \xc3\xa4pp");
	test_assert_strcmp(sub->device, "D");
	test_assert(sub->msgtype == WEBPUSH_MSGTYPE_ALL);
	test_assert_strcmp(sub->endpoint, "https://Push.Example.net:8443/p");
	test_assert_strcmp(sub->endpoint_host, "Push.Example.net");
	test_assert(sub->endpoint_port == 8443);
	test_assert(sub->endpoint_https);
	test_assert_strcmp(sub->p256dh, P256DH "=");
	test_assert_strcmp(sub->auth, AUTH);
	test_assert(sub->keys.p256dh[0] == 0x04 &&
		    sub->keys.p256dh[1] == 0x25 &&
		    sub->keys.p256dh[64] == 0x0e);
	test_assert(sub->keys.auth[0] == 0x05 && sub->keys.auth[15] == 0x82);
	/* the client's created and validated are not taken */
	test_assert(sub->created == 0);
	test_assert(!sub->validated);

	p_clear(pool);
	test_assert(webpush_subscription_parse(pool, VALID, strlen(VALID), 0,
					       &sub, &error) == 0);
	test_assert(sub->endpoint_port == 443);
	test_assert(sub->msgtype == WEBPUSH_MSGTYPE_CHAT);
	pool_unref(&pool);
	test_end();
}

static void test_webpush_subscription_limits(void)
{
	struct webpush_subscription *sub;
	const char *error;
	string_t *json = t_str_new(WEBPUSH_SUBSCRIPTION_MAX_SIZE + 64);
	char nul_value[] = VALID " ";
	pool_t pool;

	test_begin("webpush subscription limits");
	pool = pool_alloconly_create("test webpush subscription", 1024);
	/* as long as allowed, with unknown keys */
	str_append(json, "{\"pad\":\"");
	while (str_len(json) < WEBPUSH_SUBSCRIPTION_MAX_SIZE -
	       strlen(VALID) - 2)
		str_append_c(json, 'x');
	str_append(json, "\",");
	str_append(json, &VALID[1]);
	test_assert(str_len(json) <= WEBPUSH_SUBSCRIPTION_MAX_SIZE);
	while (str_len(json) < WEBPUSH_SUBSCRIPTION_MAX_SIZE)
		str_append_c(json, ' ');
	test_assert(webpush_subscription_parse(pool, str_data(json),
		str_len(json), 0, &sub, &error) == 0);
	/* one octet more */
	str_append_c(json, ' ');
	test_assert(webpush_subscription_parse(pool, str_data(json),
		str_len(json), 0, &sub, &error) < 0 &&
		strstr(error, "longer than 8192") != NULL);
	/* a NUL octet in the value */
	nul_value[sizeof(nul_value) - 2] = '\0';
	test_assert(webpush_subscription_parse(pool, nul_value,
		sizeof(nul_value) - 1, 0, &sub, &error) < 0 &&
		strstr(error, "NUL") != NULL);
	/* deeper than json-c's limit */
	str_truncate(json, 0);
	str_append(json, "{\"x\":");
	while (str_len(json) < 200)
		str_append_c(json, '[');
	test_assert(webpush_subscription_parse(pool, str_data(json),
		str_len(json), 0, &sub, &error) < 0 &&
		strstr(error, "Invalid JSON") != NULL);
	pool_unref(&pool);
	test_end();
}

static void test_webpush_subscription_write(void)
{
	static const char expected[] =
		"{\"created\":\"2019-10-16T16:14:17+00:00\",\"validated\":true,"
		"\"client\":\"App\",\"device\":\"Phone\",\"msgtype\":\"chat\","
		"\"resource\":{\"endpoint\":\"" ENDPOINT "\",\"keys\":{"
		"\"p256dh\":\"" P256DH "\",\"auth\":\"" AUTH "\"}}}";
	static const char unknown[] =
		"{\"x\":1,\"created\":\"1999-01-01T00:00:00Z\","
		"\"validated\":true,\"validation\":\"secret\","
		"\"client\":\"App\",\"device\":\"Phone\",\"msgtype\":\"chat\","
		"\"resource\":{\"y\":2,\"endpoint\":\"" ENDPOINT "\",\"keys\":{"
		"\"z\":3,\"p256dh\":\"" P256DH "\",\"auth\":\"" AUTH "\"}}}";
	struct webpush_subscription *sub, *sub2;
	const char *error;
	string_t *str = t_str_new(512), *str2 = t_str_new(512);
	pool_t pool;

	test_begin("webpush subscription write");
	pool = pool_alloconly_create("test webpush subscription", 2048);
	test_assert(webpush_subscription_parse(pool, unknown, strlen(unknown),
					       0, &sub, &error) == 0);
	sub->created = 1571242457;
	sub->validated = TRUE;
	webpush_subscription_write(str, sub);
	/* only the fields of the spec, and the server's own */
	test_assert_strcmp(str_c(str), expected);

	/* the stored form reads back */
	test_assert(webpush_subscription_parse(pool, str_data(str),
		str_len(str), WEBPUSH_SUBSCRIPTION_PARSE_FLAG_STORED,
		&sub2, &error) == 0);
	test_assert(sub2->created == 1571242457);
	test_assert(sub2->validated);
	webpush_subscription_write(str2, sub2);
	test_assert_strcmp(str_c(str2), str_c(str));

	/* a client's value is not the stored form */
	test_assert(webpush_subscription_parse(pool, VALID, strlen(VALID),
		WEBPUSH_SUBSCRIPTION_PARSE_FLAG_STORED, &sub2, &error) < 0 &&
		strstr(error, "created: missing") != NULL);
	test_assert(webpush_subscription_parse(pool, unknown, strlen(unknown),
		WEBPUSH_SUBSCRIPTION_PARSE_FLAG_STORED, &sub2, &error) == 0 &&
		sub2->validated && sub2->created == 915148800);
	str_truncate(str2, 0);
	str_append(str2, "{\"created\":\"yesterday\",\"validated\":false,");
	str_append(str2, &VALID[1]);
	test_assert(webpush_subscription_parse(pool, str_data(str2),
		str_len(str2), WEBPUSH_SUBSCRIPTION_PARSE_FLAG_STORED, &sub2,
		&error) < 0 && strstr(error, "created: not RFC 3339") != NULL);
	str_truncate(str2, 0);
	str_append(str2, "{\"created\":\"2019-10-16T16:14:17+00:00\","
		   "\"validated\":\"no\",");
	str_append(str2, &VALID[1]);
	test_assert(webpush_subscription_parse(pool, str_data(str2),
		str_len(str2), WEBPUSH_SUBSCRIPTION_PARSE_FLAG_STORED, &sub2,
		&error) < 0 &&
		strstr(error, "validated: not a boolean") != NULL);

	/* escapes are written back as JSON */
	p_clear(pool);
	str_truncate(str, 0);
	str_truncate(str2, 0);
	test_assert(webpush_subscription_parse(pool, QUOTED, strlen(QUOTED), 0,
					       &sub, &error) == 0);
	test_assert_strcmp(sub->client, "A \"quoted\" / \xc3\xa4pp\n");
	webpush_subscription_write(str, sub);
	test_assert(webpush_subscription_parse(pool, str_data(str),
		str_len(str), WEBPUSH_SUBSCRIPTION_PARSE_FLAG_STORED,
		&sub2, &error) == 0);
	test_assert_strcmp(sub2->client, sub->client);
	pool_unref(&pool);
	test_end();
}

static void test_webpush_subscription_id_verify(void)
{
	static const struct {
		const char *id;
		bool valid;
	} tests[] = {
		{ "0123456789", TRUE },
		{ "31754ee7-d3ee-4226-b112-6895ed26fcf8", TRUE },
		{ "abc_DEF-123", TRUE },
		{ "__________", TRUE },
		{ "012345678", FALSE },
		{ "31754ee7-d3ee-4226-b112-6895ed26fcf8a", FALSE },
		{ "", FALSE },
		{ "abc.defghij", FALSE },
		{ "abc/defghij", FALSE },
		{ "abc defghij", FALSE },
		{ "abc*defghij", FALSE },
		{ "\xc3\xa4""bcdefghijk", FALSE },
		{ "123-123-123-123-123123", TRUE },
	};
	const char *error;
	unsigned int i;
	int ret;

	test_begin("webpush subscription id");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		error = NULL;
		ret = webpush_subscription_id_verify(tests[i].id, &error);
		test_assert_idx((ret == 0) == tests[i].valid, i);
		if (!tests[i].valid) {
			test_assert_idx(error != NULL &&
				strstr(error, "10 to 36 characters of "
				       "[0-9A-Za-z_-]") != NULL, i);
		}
	}
	test_end();
}

static void test_webpush_msgtype(void)
{
	enum webpush_msgtype msgtype;

	test_begin("webpush msgtype");
	test_assert(webpush_msgtype_parse("chat", &msgtype) &&
		    msgtype == WEBPUSH_MSGTYPE_CHAT);
	test_assert(webpush_msgtype_parse("mail", &msgtype) &&
		    msgtype == WEBPUSH_MSGTYPE_MAIL);
	test_assert(webpush_msgtype_parse("all", &msgtype) &&
		    msgtype == WEBPUSH_MSGTYPE_ALL);
	test_assert(!webpush_msgtype_parse("Mail", &msgtype));
	test_assert_strcmp(webpush_msgtype_name(WEBPUSH_MSGTYPE_MAIL), "mail");
	test_assert(webpush_msgtype_matches(WEBPUSH_MSGTYPE_CHAT, TRUE));
	test_assert(!webpush_msgtype_matches(WEBPUSH_MSGTYPE_CHAT, FALSE));
	test_assert(!webpush_msgtype_matches(WEBPUSH_MSGTYPE_MAIL, TRUE));
	test_assert(webpush_msgtype_matches(WEBPUSH_MSGTYPE_MAIL, FALSE));
	test_assert(webpush_msgtype_matches(WEBPUSH_MSGTYPE_ALL, TRUE));
	test_assert(webpush_msgtype_matches(WEBPUSH_MSGTYPE_ALL, FALSE));
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_webpush_subscription_parse,
		test_webpush_subscription_fields,
		test_webpush_subscription_limits,
		test_webpush_subscription_write,
		test_webpush_subscription_id_verify,
		test_webpush_msgtype,
		NULL
	};
	return test_run(test_functions);
}
