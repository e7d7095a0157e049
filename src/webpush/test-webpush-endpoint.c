/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "net.h"
#include "test-webpush.h"
#include "webpush-endpoint.h"

static struct ip_addr test_ip(const char *addr)
{
	struct ip_addr ip;

	if (net_addr2ip(addr, &ip) < 0)
		i_panic("test address %s is invalid", addr);
	return ip;
}

static void test_webpush_endpoint_ip_class(void)
{
	static const struct {
		const char *ip;
		const char *class; /* NULL: an Internet address */
	} tests[] = {
		{ "8.8.8.8", NULL },
		{ "1.1.1.1", NULL },
		{ "93.184.216.34", NULL },
		{ "100.63.255.255", NULL },
		{ "100.128.0.0", NULL },
		{ "172.15.255.255", NULL },
		{ "172.32.0.0", NULL },
		{ "192.167.255.255", NULL },
		{ "169.253.255.255", NULL },
		{ "223.255.255.255", NULL },
		{ "11.0.0.1", NULL },
		{ "0.0.0.0", "unspecified" },
		{ "0.1.2.3", "unspecified" },
		{ "127.0.0.1", "loopback" },
		{ "127.255.255.254", "loopback" },
		{ "10.0.0.1", "private" },
		{ "10.255.255.255", "private" },
		{ "172.16.0.1", "private" },
		{ "172.31.255.255", "private" },
		{ "192.168.1.1", "private" },
		{ "169.254.169.254", "link-local" },
		{ "100.64.0.1", "shared (CGNAT)" },
		{ "100.127.255.255", "shared (CGNAT)" },
		{ "224.0.0.1", "multicast" },
		{ "239.255.255.250", "multicast" },
		{ "240.0.0.1", "reserved" },
		{ "255.255.255.255", "reserved" },
		{ "198.18.0.1", "reserved" },
		{ "192.0.0.8", "reserved" },
		{ "2001:4860:4860::8888", NULL },
		{ "2606:4700::1111", NULL },
		{ "::", "unspecified" },
		{ "::1", "loopback" },
		{ "fc00::1", "private" },
		{ "fd12:3456::1", "private" },
		{ "fe80::1", "link-local" },
		{ "febf::1", "link-local" },
		{ "fec0::1", "private" },
		{ "ff02::1", "multicast" },
		{ "ff05::2", "multicast" },
		{ "::7f00:1", "reserved" },
		/* IPv4-mapped forms */
		{ "::ffff:127.0.0.1", "loopback" },
		{ "::ffff:10.1.2.3", "private" },
		{ "::ffff:169.254.169.254", "link-local" },
		{ "::ffff:100.64.1.1", "shared (CGNAT)" },
		{ "::ffff:0.0.0.0", "unspecified" },
		{ "::ffff:224.0.0.1", "multicast" },
		{ "::ffff:8.8.8.8", NULL },
		/* NAT64 and 6to4 */
		{ "64:ff9b::7f00:1", "loopback" },
		{ "64:ff9b::a00:1", "private" },
		{ "64:ff9b::808:808", NULL },
		{ "2002:c0a8:101::1", "private" },
		{ "2002:a9fe:a9fe::", "link-local" },
		{ "2002:808:808::1", NULL },
	};
	struct ip_addr ip;
	const char *class;
	unsigned int i;

	test_begin("webpush endpoint ip class");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		ip = test_ip(tests[i].ip);
		class = webpush_endpoint_ip_class(&ip);
		if (tests[i].class == NULL)
			test_assert_idx(class == NULL, i);
		else
			test_assert_strcmp_idx(class, tests[i].class, i);
	}
	/* no address at all */
	i_zero(&ip);
	test_assert_strcmp(webpush_endpoint_ip_class(&ip), "unspecified");
	test_end();
}

static void test_webpush_endpoint_check(void)
{
	static const struct {
		const char *allow;
		const char *host; /* NULL: an IP literal */
		const char *ip;
		const char *error; /* NULL: allowed */
	} tests[] = {
		{ "", "push.example.net", "93.184.216.34", NULL },
		{ "", NULL, "93.184.216.34", NULL },
		{ "", "push.example.net", "127.0.0.1",
		  "push.example.net has the loopback address 127.0.0.1" },
		{ "", NULL, "10.0.0.1", "10.0.0.1 is a private address" },
		{ "", "10.0.0.1", "10.0.0.1", "10.0.0.1 is a private address" },
		{ "", "[::1]", "::1", "::1 is a loopback address" },
		{ "", "push.test", "::ffff:192.168.0.1",
		  "push.test has the private address ::ffff:192.168.0.1" },
		/* networks */
		{ "127.0.0.1/32", NULL, "127.0.0.1", NULL },
		{ "127.0.0.1/32", "localhost", "127.0.0.1", NULL },
		{ "127.0.0.1/32", NULL, "127.0.0.2", "loopback" },
		{ "127.0.0.0/8", NULL, "127.0.0.2", NULL },
		{ "127.0.0.1", NULL, "127.0.0.1", NULL },
		{ "127.0.0.1", NULL, "::ffff:127.0.0.1", NULL },
		{ "127.0.0.1", NULL, "::1", "loopback" },
		{ "::1", "[::1]", "::1", NULL },
		{ "::1/128, 10.0.0.0/8", NULL, "10.9.9.9", NULL },
		{ "::1/128,10.0.0.0/8", NULL, "10.9.9.9", NULL },
		{ "fd00::/8", NULL, "fd00::5", NULL },
		{ "fd00::/8", NULL, "fc00::5", "private" },
		{ "192.168.0.0/16", NULL, "10.0.0.1", "private" },
		/* host names */
		{ "localhost", "localhost", "127.0.0.1", NULL },
		{ "localhost", "LocalHost.", "::1", NULL },
		{ "localhost.", "localhost", "::1", NULL },
		{ "push.test 10.0.0.0/8", "push.test", "192.168.1.1", NULL },
		{ "push.test", "other.test", "127.0.0.1", "loopback" },
		{ "push.test", "sub.push.test", "127.0.0.1", "loopback" },
		{ "push.test", NULL, "127.0.0.1", "loopback" },
	};
	struct webpush_endpoint_allow *allow;
	struct ip_addr ip;
	const char *error;
	unsigned int i;
	pool_t pool;
	int ret;

	test_begin("webpush endpoint check");
	pool = pool_alloconly_create("test webpush endpoint", 1024);
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		ip = test_ip(tests[i].ip);
		test_assert_idx(webpush_endpoint_allow_parse(pool,
			tests[i].allow, &allow, &error) == 0, i);
		error = NULL;
		ret = webpush_endpoint_check(allow, tests[i].host, &ip,
					     &error);
		test_assert_result_idx(ret, error, tests[i].error, i);
	}
	/* no allow-list at all */
	ip = test_ip("127.0.0.1");
	test_assert(webpush_endpoint_check(NULL, "localhost", &ip,
					   &error) < 0);
	ip = test_ip("8.8.8.8");
	test_assert(webpush_endpoint_check(NULL, "dns.google", &ip,
					   &error) == 0);
	pool_unref(&pool);
	test_end();
}

static void test_webpush_endpoint_allow_parse(void)
{
	static const struct {
		const char *value;
		const char *error; /* NULL: valid */
	} tests[] = {
		{ "", NULL },
		{ "   ", NULL },
		{ "127.0.0.1/32 ::1/128 localhost push-1.test", NULL },
		{ "10.0.0.0/8,\t192.168.0.0/16", NULL },
		{ "127.0.0.1/33", "Invalid network '127.0.0.1/33'" },
		{ "127.0.0.1/", "Invalid network" },
		{ "/8", "Invalid network" },
		{ "::1/129", "Invalid network" },
		{ "300.0.0.1/8", "Invalid network" },
		{ "::g", "Invalid IP address '::g'" },
		{ "push.test bad*name", "Invalid host name 'bad*name'" },
		{ "https://push.test", "Invalid" },
		/* net_addr2ip() takes the URL form too */
		{ "[::1]", NULL },
		{ "[::1", "Invalid" },
	};
	struct webpush_endpoint_allow *allow;
	const char *error;
	unsigned int i;
	pool_t pool;
	int ret;

	test_begin("webpush endpoint allow-list parse");
	pool = pool_alloconly_create("test webpush endpoint", 1024);
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		error = NULL;
		ret = webpush_endpoint_allow_parse(pool, tests[i].value,
						   &allow, &error);
		test_assert_result_idx(ret, error, tests[i].error, i);
	}
	pool_unref(&pool);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_webpush_endpoint_ip_class,
		test_webpush_endpoint_check,
		test_webpush_endpoint_allow_parse,
		NULL
	};
	return test_run(test_functions);
}
