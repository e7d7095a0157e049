/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* WebPush subscriptions: the JSON value a client stores below
   .../webpush/subscriptions/<id>, and the id itself. */

#include "lib.h"
#include "str.h"
#include "webpush-subscription.h"
#include "fuzz-coi-common.h"

static bool fuzz_webpush_error_is_named(const char *error)
{
	static const char *const prefixes[] = {
		"client: ", "device: ", "msgtype: ", "resource: ",
		"resource.endpoint: ", "resource.keys: ",
		"resource.keys.p256dh: ", "resource.keys.auth: ",
		"created: ", "validated: ", "Value ", "Invalid JSON",
	};
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(prefixes); i++) {
		if (str_begins(error, prefixes[i]))
			return TRUE;
	}
	return FALSE;
}

static void
fuzz_webpush_check(const struct webpush_subscription *sub, bool allow_http)
{
	FUZZ_CHECK(strlen(sub->client) <= WEBPUSH_SUBSCRIPTION_CLIENT_MAX_LEN);
	FUZZ_CHECK(strlen(sub->device) <= WEBPUSH_SUBSCRIPTION_DEVICE_MAX_LEN);
	FUZZ_CHECK(strlen(sub->endpoint) <=
		   WEBPUSH_SUBSCRIPTION_ENDPOINT_MAX_LEN);
	FUZZ_CHECK(strlen(sub->p256dh) <= WEBPUSH_SUBSCRIPTION_P256DH_MAX_LEN);
	FUZZ_CHECK(sub->msgtype <= WEBPUSH_MSGTYPE_ALL);
	FUZZ_CHECK(sub->endpoint_https || allow_http);
	FUZZ_CHECK(sub->endpoint_host[0] != '\0' && sub->endpoint_port != 0);
	FUZZ_CHECK(webpush_p256_point_is_valid(sub->keys.p256dh,
					       sizeof(sub->keys.p256dh)));
}

FUZZ_BEGIN_DATA(const unsigned char *data, size_t size)
{
	struct webpush_subscription *sub, *sub_http, *stored;
	const char *error, *error2;
	string_t *json, *json2;
	char *id;
	pool_t pool;
	int ret, ret_http;

	pool = pool_alloconly_create("fuzz webpush", 1024);
	error = NULL;
	ret = webpush_subscription_parse(pool, data, size, 0, &sub, &error);
	error2 = NULL;
	ret_http = webpush_subscription_parse(pool, data, size,
		WEBPUSH_SUBSCRIPTION_PARSE_FLAG_ALLOW_HTTP, &sub_http, &error2);
	/* allowing http only ever accepts more */
	FUZZ_CHECK(ret < 0 || ret_http == 0);
	if (ret < 0)
		FUZZ_CHECK(error != NULL && fuzz_webpush_error_is_named(error));
	if (ret_http < 0)
		FUZZ_CHECK(error2 != NULL &&
			   fuzz_webpush_error_is_named(error2));
	if (ret_http == 0) {
		fuzz_webpush_check(sub_http, TRUE);
		/* the stored form reads back as itself */
		sub_http->created = 1571242457;
		json = t_str_new(512);
		webpush_subscription_write(json, sub_http);
		FUZZ_CHECK(webpush_subscription_parse(pool, str_data(json),
			str_len(json),
			WEBPUSH_SUBSCRIPTION_PARSE_FLAG_STORED |
			WEBPUSH_SUBSCRIPTION_PARSE_FLAG_ALLOW_HTTP,
			&stored, &error) == 0);
		FUZZ_CHECK(stored->created == sub_http->created &&
			   stored->validated == sub_http->validated &&
			   stored->msgtype == sub_http->msgtype &&
			   strcmp(stored->client, sub_http->client) == 0 &&
			   strcmp(stored->endpoint, sub_http->endpoint) == 0);
		json2 = t_str_new(512);
		webpush_subscription_write(json2, stored);
		FUZZ_CHECK(strcmp(str_c(json), str_c(json2)) == 0);
	}
	/* the value as server-stored form: never crashes */
	(void)webpush_subscription_parse(pool, data, size,
		WEBPUSH_SUBSCRIPTION_PARSE_FLAG_STORED, &stored, &error);

	/* the input as a subscription id */
	id = fuzz_coi_strdup(data, size);
	if (webpush_subscription_id_verify(id, &error) == 0) {
		FUZZ_CHECK(strlen(id) >= WEBPUSH_SUBSCRIPTION_ID_MIN_LEN &&
			   strlen(id) <= WEBPUSH_SUBSCRIPTION_ID_MAX_LEN &&
			   strspn(id, "0123456789abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-") ==
			   strlen(id));
	}
	i_free(id);
	pool_unref(&pool);
}
FUZZ_END
