#ifndef WEBPUSH_SUBSCRIPTION_H
#define WEBPUSH_SUBSCRIPTION_H

/* A WebPush subscription: the JSON value a client stores below
   /private/vendor/vendor.dovecot/webpush/subscriptions/<id> (webpush-spec.md
   "Subscribe"), and the form the server stores and echoes in GETMETADATA. */

#include "net.h"
#include "webpush-crypto.h"

#define WEBPUSH_SUBSCRIPTION_ID_MIN_LEN 10
#define WEBPUSH_SUBSCRIPTION_ID_MAX_LEN 36
#define WEBPUSH_SUBSCRIPTION_CLIENT_MAX_LEN 128
#define WEBPUSH_SUBSCRIPTION_DEVICE_MAX_LEN 128
#define WEBPUSH_SUBSCRIPTION_ENDPOINT_MAX_LEN 512
#define WEBPUSH_SUBSCRIPTION_P256DH_MAX_LEN 256
/* base64url of 16 octets is 22 characters, 24 with padding */
#define WEBPUSH_SUBSCRIPTION_AUTH_MAX_LEN 24
/* A bound on the whole value, checked before it is parsed: the fields'
   limits, JSON escaping (6 octets a character) and room for keys we drop */
#define WEBPUSH_SUBSCRIPTION_MAX_SIZE 8192

enum webpush_msgtype {
	WEBPUSH_MSGTYPE_CHAT = 0,
	WEBPUSH_MSGTYPE_MAIL,
	WEBPUSH_MSGTYPE_ALL,
};

enum webpush_subscription_parse_flags {
	/* Accept http:// endpoints too (webpush_allow_http = yes) */
	WEBPUSH_SUBSCRIPTION_PARSE_FLAG_ALLOW_HTTP = BIT(0),
	/* The server's stored form: "created" and "validated" are read
	   (and required) instead of ignored */
	WEBPUSH_SUBSCRIPTION_PARSE_FLAG_STORED = BIT(1),
};

struct webpush_subscription {
	const char *client;
	const char *device;
	enum webpush_msgtype msgtype;
	/* resource.endpoint, and the host and port to connect to */
	const char *endpoint;
	const char *endpoint_host;
	in_port_t endpoint_port;
	bool endpoint_https;
	/* resource.keys as the client wrote them, and decoded */
	const char *p256dh;
	const char *auth;
	struct webpush_keys keys;

	/* Set by the server */
	time_t created;
	bool validated;
};

/* The name of a msgtype ("chat", "mail", "all"). */
const char *webpush_msgtype_name(enum webpush_msgtype msgtype);
/* Parse a msgtype, case-sensitively. Returns TRUE if it is one. */
bool webpush_msgtype_parse(const char *name, enum webpush_msgtype *msgtype_r);
/* Returns TRUE if a subscription of msgtype wants a push for a message
   that is (or is not) chat. */
bool webpush_msgtype_matches(enum webpush_msgtype msgtype, bool is_chat);

/* Check a subscription id ([0-9A-Za-z_-], 10 to 36 characters). Returns 0,
   or -1 with error_r stating the rule. */
int webpush_subscription_id_verify(const char *id, const char **error_r);

/* Parse a subscription value of size octets (not NUL-terminated). Keys that
   are not the spec's are dropped, and without FLAG_STORED so are
   "created", "validated" and "validation": created is then 0 and validated
   FALSE. Returns 0, or -1 with error_r starting with the field at fault
   ("resource.keys.auth: ..."). */
int webpush_subscription_parse(pool_t pool, const void *data, size_t size,
			       enum webpush_subscription_parse_flags flags,
			       struct webpush_subscription **sub_r,
			       const char **error_r);

/* Append the stored form of sub to dest: a JSON object of "created"
   (RFC 3339, UTC), "validated" and the fields the client gave. */
void webpush_subscription_write(string_t *dest,
				const struct webpush_subscription *sub);

#endif
