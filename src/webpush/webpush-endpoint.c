/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "strfuncs.h"
#include "uri-util.h"
#include "webpush-endpoint.h"

struct webpush_endpoint_network {
	struct ip_addr ip;
	unsigned int bits;
};

struct webpush_endpoint_allow {
	ARRAY(const char *) hosts;
	ARRAY(struct webpush_endpoint_network) networks;
};

/* The addresses that are not of the Internet (RFC 6890's registries),
   most specific first where they overlap. */
static const struct {
	const char *network;
	const char *class;
} webpush_endpoint_classes[] = {
	{ "0.0.0.0/8", "unspecified" },
	{ "10.0.0.0/8", "private" },
	{ "100.64.0.0/10", "shared (CGNAT)" },
	{ "127.0.0.0/8", "loopback" },
	{ "169.254.0.0/16", "link-local" },
	{ "172.16.0.0/12", "private" },
	{ "192.0.0.0/24", "reserved" },
	{ "192.168.0.0/16", "private" },
	{ "198.18.0.0/15", "reserved" },
	{ "224.0.0.0/4", "multicast" },
	{ "240.0.0.0/4", "reserved" },
	{ "::/128", "unspecified" },
	{ "::1/128", "loopback" },
	/* IPv4-compatible addresses (deprecated, RFC 4291 2.5.5.1) */
	{ "::/96", "reserved" },
	{ "fc00::/7", "private" },
	{ "fe80::/10", "link-local" },
	{ "fec0::/10", "private" },
	{ "ff00::/8", "multicast" },
};

static const char *
webpush_endpoint_table_class(const struct ip_addr *ip)
{
	struct ip_addr net_ip;
	unsigned int i, bits;

	for (i = 0; i < N_ELEMENTS(webpush_endpoint_classes); i++) {
		if (net_parse_range(webpush_endpoint_classes[i].network,
				    &net_ip, &bits) < 0)
			i_unreached();
		/* this also matches IPv4-mapped addresses against the IPv4
		   networks */
		if (net_is_in_network(ip, &net_ip, bits))
			return webpush_endpoint_classes[i].class;
	}
	return NULL;
}

static bool
webpush_endpoint_embedded_ipv4(const struct ip_addr *ip,
			       struct ip_addr *ip4_r)
{
	static const unsigned char nat64[12] = {
		0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0
	};
	const unsigned char *p = ip->u.ip6.s6_addr;

	if (!IPADDR_IS_V6(ip))
		return FALSE;
	i_zero(ip4_r);
	ip4_r->family = AF_INET;
	if (memcmp(p, nat64, sizeof(nat64)) == 0) {
		/* NAT64's well-known prefix 64:ff9b::/96 (RFC 6052) */
		memcpy(&ip4_r->u.ip4, p + 12, 4);
		return TRUE;
	}
	if (p[0] == 0x20 && p[1] == 0x02) {
		/* 6to4 2002::/16 (RFC 3056) */
		memcpy(&ip4_r->u.ip4, p + 2, 4);
		return TRUE;
	}
	return FALSE;
}

const char *webpush_endpoint_ip_class(const struct ip_addr *ip)
{
	struct ip_addr ip4;
	const char *class;

	if (ip->family != AF_INET && ip->family != AF_INET6)
		return "unspecified";
	class = webpush_endpoint_table_class(ip);
	if (class == NULL && webpush_endpoint_embedded_ipv4(ip, &ip4))
		class = webpush_endpoint_table_class(&ip4);
	return class;
}

/*
 * The allow-list
 */

static bool webpush_endpoint_host_name_is_valid(const char *name)
{
	struct uri_parser parser;
	const char *parsed;

	/* RFC 1123 host name syntax, as lib-http checks a URL's host */
	uri_parser_init(&parser, pool_datastack_create(), name);
	return uri_parse_host_name(&parser, &parsed) > 0 &&
		parser.cur == parser.end;
}

static const char *webpush_endpoint_host_normalize(const char *host)
{
	size_t len = strlen(host);

	if (len > 0 && host[len - 1] == '.')
		host = t_strndup(host, len - 1);
	return t_str_lcase(host);
}

int webpush_endpoint_allow_parse(pool_t pool, const char *value,
				 struct webpush_endpoint_allow **allow_r,
				 const char **error_r)
{
	struct webpush_endpoint_allow *allow;
	struct webpush_endpoint_network *net;
	const char *const *entries, *entry, *host;

	allow = p_new(pool, struct webpush_endpoint_allow, 1);
	p_array_init(&allow->hosts, pool, 4);
	p_array_init(&allow->networks, pool, 4);

	entries = t_strsplit_spaces(value, " \t,");
	for (; *entries != NULL; entries++) {
		entry = *entries;
		if (strchr(entry, '/') != NULL) {
			net = array_append_space(&allow->networks);
			if (net_parse_range(entry, &net->ip, &net->bits) < 0) {
				*error_r = t_strdup_printf(
					"Invalid network '%s'", entry);
				return -1;
			}
		} else if (strchr(entry, ':') != NULL ||
			   is_ipv4_address(entry)) {
			net = array_append_space(&allow->networks);
			if (net_addr2ip(entry, &net->ip) < 0) {
				*error_r = t_strdup_printf(
					"Invalid IP address '%s'", entry);
				return -1;
			}
			net->bits = IPADDR_BITS(&net->ip);
		} else {
			host = webpush_endpoint_host_normalize(entry);
			if (!webpush_endpoint_host_name_is_valid(host)) {
				*error_r = t_strdup_printf(
					"Invalid host name '%s'", entry);
				return -1;
			}
			host = p_strdup(pool, host);
			array_push_back(&allow->hosts, &host);
		}
	}
	*allow_r = allow;
	return 0;
}

static bool
webpush_endpoint_allowed(const struct webpush_endpoint_allow *allow,
			 const char *host, const struct ip_addr *ip)
{
	const struct webpush_endpoint_network *net;
	const char *allowed;

	if (allow == NULL)
		return FALSE;
	if (host != NULL) {
		host = webpush_endpoint_host_normalize(host);
		array_foreach_elem(&allow->hosts, allowed) {
			if (strcmp(allowed, host) == 0)
				return TRUE;
		}
	}
	array_foreach(&allow->networks, net) {
		if (net_is_in_network(ip, &net->ip, net->bits))
			return TRUE;
	}
	return FALSE;
}

int webpush_endpoint_check(const struct webpush_endpoint_allow *allow,
			   const char *host, const struct ip_addr *ip,
			   const char **error_r)
{
	const char *class, *addr;

	class = webpush_endpoint_ip_class(ip);
	if (class == NULL || webpush_endpoint_allowed(allow, host, ip))
		return 0;

	addr = ip->family == 0 ? "no address" : net_ip2addr(ip);
	if (host == NULL || strcmp(host, addr) == 0 ||
	    (host[0] == '[' && strncmp(host + 1, addr, strlen(addr)) == 0))
		*error_r = t_strdup_printf("%s is a %s address", addr, class);
	else {
		*error_r = t_strdup_printf("%s has the %s address %s",
					   host, class, addr);
	}
	return -1;
}
