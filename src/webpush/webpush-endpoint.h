#ifndef WEBPUSH_ENDPOINT_H
#define WEBPUSH_ENDPOINT_H

/* Endpoint safety: which addresses a push may be sent to. A push service
   is named by whoever subscribes, so without this an IMAP user could make
   the server POST to its loopback, its LAN or a cloud metadata address. */

#include "net.h"

/* The admin's exceptions: host names and networks that may be contacted
   even though they are loopback, private, ... (e.g. a test push service on
   127.0.0.1). */
struct webpush_endpoint_allow;

/* Parse an allow-list: host names, IP addresses and CIDR networks separated
   by spaces, tabs or commas ("127.0.0.1/32 ::1 push.test"). Empty is an empty
   list. Returns 0, or -1 with error_r naming the bad entry. */
int webpush_endpoint_allow_parse(pool_t pool, const char *value,
				 struct webpush_endpoint_allow **allow_r,
				 const char **error_r);

/* Why ip is no address of the Internet ("loopback", "private",
   "link-local", "unspecified", "multicast", "shared (CGNAT)", "reserved"),
   looking through IPv4-mapped, NAT64 and 6to4 forms; NULL if it is one. */
const char *webpush_endpoint_ip_class(const struct ip_addr *ip);

/* Decide whether an endpoint's host, which names or resolved to ip, may be
   contacted: a public address always, another one only when allow (may be
   NULL) lists the host name or a network holding ip. Returns 0 if so, or
   -1 with error_r saying why not. */
int webpush_endpoint_check(const struct webpush_endpoint_allow *allow,
			   const char *host, const struct ip_addr *ip,
			   const char **error_r);

#endif
