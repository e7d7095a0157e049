/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "buffer.h"
#include "str.h"
#include "base64.h"
#include "iso8601-date.h"
#include "http-url.h"
#include "webpush-subscription.h"

#include <ctype.h>
#include <math.h>
#include <json-c/json.h>

static const char *const webpush_msgtype_names[] = {
	[WEBPUSH_MSGTYPE_CHAT] = "chat",
	[WEBPUSH_MSGTYPE_MAIL] = "mail",
	[WEBPUSH_MSGTYPE_ALL] = "all",
};

const char *webpush_msgtype_name(enum webpush_msgtype msgtype)
{
	i_assert(msgtype < N_ELEMENTS(webpush_msgtype_names));
	return webpush_msgtype_names[msgtype];
}

bool webpush_msgtype_parse(const char *name, enum webpush_msgtype *msgtype_r)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(webpush_msgtype_names); i++) {
		/* case-sensitive, as the spec recommends */
		if (strcmp(name, webpush_msgtype_names[i]) == 0) {
			*msgtype_r = i;
			return TRUE;
		}
	}
	return FALSE;
}

bool webpush_msgtype_matches(enum webpush_msgtype msgtype, bool is_chat)
{
	switch (msgtype) {
	case WEBPUSH_MSGTYPE_CHAT:
		return is_chat;
	case WEBPUSH_MSGTYPE_MAIL:
		return !is_chat;
	case WEBPUSH_MSGTYPE_ALL:
		return TRUE;
	}
	i_unreached();
}

int webpush_subscription_id_verify(const char *id, const char **error_r)
{
	const char *p;
	size_t len = strlen(id);

	for (p = id; *p != '\0'; p++) {
		if (!i_isalnum(*p) && *p != '-' && *p != '_')
			break;
	}
	if (*p != '\0' || len < WEBPUSH_SUBSCRIPTION_ID_MIN_LEN ||
	    len > WEBPUSH_SUBSCRIPTION_ID_MAX_LEN) {
		*error_r = t_strdup_printf(
			"Subscription id must be %u to %u characters of "
			"[0-9A-Za-z_-]", WEBPUSH_SUBSCRIPTION_ID_MIN_LEN,
			WEBPUSH_SUBSCRIPTION_ID_MAX_LEN);
		return -1;
	}
	return 0;
}

/*
 * Parsing
 */

struct webpush_parse_ctx {
	pool_t pool;
	enum webpush_subscription_parse_flags flags;
	struct webpush_subscription *sub;
	const char *error;
};

static bool
webpush_parse_error(struct webpush_parse_ctx *ctx, const char *field,
		    const char *error)
{
	ctx->error = t_strdup_printf("%s: %s", field, error);
	return FALSE;
}

/* The member key of obj, which must be there and of the type. */
static bool
webpush_parse_member(struct webpush_parse_ctx *ctx, struct json_object *obj,
		     const char *key, const char *field, enum json_type type,
		     struct json_object **value_r)
{
	static const char *const type_names[] = {
		[json_type_boolean] = "a boolean",
		[json_type_object] = "an object",
		[json_type_string] = "a string",
	};

	i_assert(type < N_ELEMENTS(type_names) && type_names[type] != NULL);
	if (!json_object_object_get_ex(obj, key, value_r))
		return webpush_parse_error(ctx, field, "missing");
	if (!json_object_is_type(*value_r, type)) {
		return webpush_parse_error(ctx, field, t_strconcat(
			"not ", type_names[type], NULL));
	}
	return TRUE;
}

static bool
webpush_parse_string(struct webpush_parse_ctx *ctx, struct json_object *obj,
		     const char *key, const char *field, size_t max_len,
		     const char **value_r)
{
	struct json_object *value;
	const char *str;
	size_t len;

	if (!webpush_parse_member(ctx, obj, key, field, json_type_string,
				  &value))
		return FALSE;
	str = json_object_get_string(value);
	len = (size_t)json_object_get_string_len(value);
	if (len > max_len) {
		return webpush_parse_error(ctx, field, t_strdup_printf(
			"longer than %zu octets", max_len));
	}
	if (strlen(str) != len)
		return webpush_parse_error(ctx, field, "contains NUL");
	*value_r = p_strndup(ctx->pool, str, len);
	return TRUE;
}

static bool
webpush_parse_endpoint(struct webpush_parse_ctx *ctx,
		       struct json_object *resource)
{
	struct webpush_subscription *sub = ctx->sub;
	struct http_url *url;
	const char *error;

	if (!webpush_parse_string(ctx, resource, "endpoint",
				  "resource.endpoint",
				  WEBPUSH_SUBSCRIPTION_ENDPOINT_MAX_LEN,
				  &sub->endpoint))
		return FALSE;
	/* no user:password@ and no #fragment: neither has a place in a push
	   resource (RFC 8030 section 4) */
	if (http_url_parse(sub->endpoint, NULL, 0, pool_datastack_create(),
			   &url, &error) < 0) {
		return webpush_parse_error(ctx, "resource.endpoint",
			t_strconcat("invalid URL: ", error, NULL));
	}
	if (!url->have_ssl &&
	    (ctx->flags & WEBPUSH_SUBSCRIPTION_PARSE_FLAG_ALLOW_HTTP) == 0) {
		return webpush_parse_error(ctx, "resource.endpoint",
					   "not an https URL");
	}
	sub->endpoint_https = url->have_ssl;
	sub->endpoint_host = p_strdup(ctx->pool, url->host.name);
	sub->endpoint_port = url->port != 0 ? url->port :
		(url->have_ssl ? HTTPS_DEFAULT_PORT : HTTP_DEFAULT_PORT);
	return TRUE;
}

/* base64url, padded or not, of exactly size octets */
static bool
webpush_parse_key(struct webpush_parse_ctx *ctx, struct json_object *keys,
		  const char *key, const char *field, size_t max_len,
		  unsigned char *dest, size_t size, const char **value_r)
{
	buffer_t *decoded;

	if (!webpush_parse_string(ctx, keys, key, field, max_len, value_r))
		return FALSE;
	decoded = t_buffer_create(MAX_BASE64_DECODED_SIZE(strlen(*value_r)));
	if (base64url_decode(BASE64_DECODE_FLAG_IGNORE_PADDING |
			     BASE64_DECODE_FLAG_NO_WHITESPACE, *value_r,
			     strlen(*value_r), decoded) < 0)
		return webpush_parse_error(ctx, field, "not base64url");
	if (decoded->used != size) {
		return webpush_parse_error(ctx, field, t_strdup_printf(
			"not %zu octets (%zu)", size, decoded->used));
	}
	memcpy(dest, decoded->data, size);
	return TRUE;
}

static bool
webpush_parse_resource(struct webpush_parse_ctx *ctx,
		       struct json_object *root)
{
	struct webpush_subscription *sub = ctx->sub;
	struct json_object *resource, *keys;

	if (!webpush_parse_member(ctx, root, "resource", "resource",
				  json_type_object, &resource) ||
	    !webpush_parse_endpoint(ctx, resource) ||
	    !webpush_parse_member(ctx, resource, "keys", "resource.keys",
				  json_type_object, &keys))
		return FALSE;
	if (!webpush_parse_key(ctx, keys, "p256dh", "resource.keys.p256dh",
			       WEBPUSH_SUBSCRIPTION_P256DH_MAX_LEN,
			       sub->keys.p256dh, sizeof(sub->keys.p256dh),
			       &sub->p256dh))
		return FALSE;
	if (!webpush_p256_point_is_valid(sub->keys.p256dh,
					 sizeof(sub->keys.p256dh))) {
		return webpush_parse_error(ctx, "resource.keys.p256dh",
					   "not a point on P-256");
	}
	return webpush_parse_key(ctx, keys, "auth", "resource.keys.auth",
				 WEBPUSH_SUBSCRIPTION_AUTH_MAX_LEN,
				 sub->keys.auth, sizeof(sub->keys.auth),
				 &sub->auth);
}

static bool
webpush_parse_stored(struct webpush_parse_ctx *ctx, struct json_object *root)
{
	struct webpush_subscription *sub = ctx->sub;
	struct json_object *validated;
	const char *created;
	int tz;

	if (!webpush_parse_string(ctx, root, "created", "created", 64,
				  &created))
		return FALSE;
	if (!iso8601_date_parse((const unsigned char *)created,
				strlen(created), &sub->created, &tz))
		return webpush_parse_error(ctx, "created", "not RFC 3339");
	if (!webpush_parse_member(ctx, root, "validated", "validated",
				  json_type_boolean, &validated))
		return FALSE;
	sub->validated = json_object_get_boolean(validated) != 0;
	return TRUE;
}

static bool
webpush_parse_object(struct webpush_parse_ctx *ctx, struct json_object *root)
{
	struct webpush_subscription *sub = ctx->sub;
	const char *msgtype;

	if ((ctx->flags & WEBPUSH_SUBSCRIPTION_PARSE_FLAG_STORED) != 0 &&
	    !webpush_parse_stored(ctx, root))
		return FALSE;
	if (!webpush_parse_string(ctx, root, "client", "client",
				  WEBPUSH_SUBSCRIPTION_CLIENT_MAX_LEN,
				  &sub->client) ||
	    !webpush_parse_string(ctx, root, "device", "device",
				  WEBPUSH_SUBSCRIPTION_DEVICE_MAX_LEN,
				  &sub->device) ||
	    !webpush_parse_string(ctx, root, "msgtype", "msgtype", 16,
				  &msgtype))
		return FALSE;
	if (!webpush_msgtype_parse(msgtype, &sub->msgtype)) {
		return webpush_parse_error(ctx, "msgtype",
					   "not chat, mail or all");
	}
	return webpush_parse_resource(ctx, root);
}

/* json-c reads NaN and Infinity even in strict mode: they are no JSON
   (RFC 8259 section 6), wherever they are. */
static bool webpush_json_is_finite(struct json_object *obj)
{
	size_t i, count;

	switch (json_object_get_type(obj)) {
	case json_type_double:
		return isfinite(json_object_get_double(obj)) != 0;
	case json_type_array:
		count = json_object_array_length(obj);
		for (i = 0; i < count; i++) {
			if (!webpush_json_is_finite(
				json_object_array_get_idx(obj, i)))
				return FALSE;
		}
		return TRUE;
	case json_type_object: {
		json_object_object_foreach(obj, key, value) {
			(void)key;
			if (!webpush_json_is_finite(value))
				return FALSE;
		}
		return TRUE;
	}
	default:
		return TRUE;
	}
}

/* The JSON value, which must be an object with nothing after it; the caller
   json_object_put()s it. */
static struct json_object *
webpush_json_parse_object(const void *data, size_t size, const char **error_r)
{
	struct json_tokener *tok;
	struct json_object *root;
	enum json_tokener_error jerr;
	const unsigned char *p = data;
	size_t end;

	tok = json_tokener_new();
	if (tok == NULL)
		i_fatal_status(FATAL_OUTOFMEM, "json_tokener_new() failed");
	/* strict: no single quotes, NaN, trailing commas or garbage */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
			       JSON_TOKENER_VALIDATE_UTF8);
	/* with its NUL, so that json-c knows where the value ends (it has
	   none inside, the caller checked) */
	root = json_tokener_parse_ex(tok, t_strndup(data, size),
				     (int)size + 1);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);

	if (root == NULL) {
		if (jerr == json_tokener_success)
			*error_r = "Value is null, not a JSON object";
		else if (jerr == json_tokener_continue)
			*error_r = "Invalid JSON: incomplete";
		else {
			*error_r = t_strdup_printf("Invalid JSON at offset "
				"%zu: %s", end, json_tokener_error_desc(jerr));
		}
		return NULL;
	}
	/* strict mode refuses trailing characters already: this keeps the
	   promise whatever json-c's version does */
	while (end < size && (p[end] == ' ' || p[end] == '\t' ||
			      p[end] == '\r' || p[end] == '\n'))
		end++;
	if (end != size) {
		*error_r = "Invalid JSON: data after the value";
		json_object_put(root);
		return NULL;
	}
	if (!webpush_json_is_finite(root)) {
		*error_r = "Invalid JSON: NaN or Infinity";
		json_object_put(root);
		return NULL;
	}
	if (!json_object_is_type(root, json_type_object)) {
		*error_r = t_strdup_printf("Value is %s, not a JSON object",
			json_type_to_name(json_object_get_type(root)));
		json_object_put(root);
		return NULL;
	}
	return root;
}

int webpush_subscription_parse(pool_t pool, const void *data, size_t size,
			       enum webpush_subscription_parse_flags flags,
			       struct webpush_subscription **sub_r,
			       const char **error_r)
{
	struct webpush_parse_ctx ctx;
	struct json_object *root;
	bool ret;

	if (size > WEBPUSH_SUBSCRIPTION_MAX_SIZE) {
		*error_r = t_strdup_printf("Value is longer than %u octets",
					   WEBPUSH_SUBSCRIPTION_MAX_SIZE);
		return -1;
	}
	if (memchr(data, '\0', size) != NULL) {
		*error_r = "Value contains NUL";
		return -1;
	}
	root = webpush_json_parse_object(data, size, error_r);
	if (root == NULL)
		return -1;

	i_zero(&ctx);
	ctx.pool = pool;
	ctx.flags = flags;
	ctx.sub = p_new(pool, struct webpush_subscription, 1);
	ret = webpush_parse_object(&ctx, root);
	json_object_put(root);
	if (!ret) {
		*error_r = ctx.error;
		return -1;
	}
	*sub_r = ctx.sub;
	return 0;
}

/*
 * Writing
 */

static void
webpush_json_add_string(struct json_object *obj, const char *key,
			const char *value)
{
	json_object_object_add(obj, key,
			       json_object_new_string_len(value,
							  (int)strlen(value)));
}

void webpush_subscription_write(string_t *dest,
				const struct webpush_subscription *sub)
{
	struct json_object *root, *resource, *keys;
	struct tm *tm;

	root = json_object_new_object();
	resource = json_object_new_object();
	keys = json_object_new_object();
	if (root == NULL || resource == NULL || keys == NULL)
		i_fatal_status(FATAL_OUTOFMEM, "json_object_new() failed");

	/* RFC 3339 in UTC, as the spec's example shows it */
	tm = gmtime(&sub->created);
	i_assert(tm != NULL);
	webpush_json_add_string(root, "created",
				iso8601_date_create_tm(tm, 0));
	json_object_object_add(root, "validated",
			       json_object_new_boolean(sub->validated ? 1 : 0));
	webpush_json_add_string(root, "client", sub->client);
	webpush_json_add_string(root, "device", sub->device);
	webpush_json_add_string(root, "msgtype",
				webpush_msgtype_name(sub->msgtype));
	webpush_json_add_string(resource, "endpoint", sub->endpoint);
	webpush_json_add_string(keys, "p256dh", sub->p256dh);
	webpush_json_add_string(keys, "auth", sub->auth);
	json_object_object_add(resource, "keys", keys);
	json_object_object_add(root, "resource", resource);

	str_append(dest, json_object_to_json_string_ext(root,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}
