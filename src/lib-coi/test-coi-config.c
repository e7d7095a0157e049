/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "test-common.h"
#include "coi-common.h"
#include "coi-config.h"

static void test_coi_config_parse_enabled(void)
{
	static const struct {
		const char *value;
		int ret;
		bool enabled;
	} tests[] = {
		{ "yes", 0, TRUE },
		{ NULL, 0, FALSE },
		{ "YES", -1, FALSE },
		{ "Yes", -1, FALSE },
		{ "true", -1, FALSE },
		{ "no", -1, FALSE },
		{ "", -1, FALSE },
		{ "yes ", -1, FALSE },
		{ " yes", -1, FALSE },
		{ "yess", -1, FALSE },
		{ "ye", -1, FALSE },
		{ "NIL", -1, FALSE },
	};
	const char *error;
	bool enabled;
	unsigned int i;

	test_begin("coi config parse enabled");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		error = NULL;
		enabled = !tests[i].enabled;
		test_assert_idx(coi_config_parse_enabled(tests[i].value,
				&enabled, &error) == tests[i].ret, i);
		if (tests[i].ret == 0)
			test_assert_idx(enabled == tests[i].enabled, i);
		else {
			/* the client is told which value was wrong */
			test_assert_idx(error != NULL && strstr(error,
				t_strdup_printf("\"%s\"", tests[i].value)) != NULL, i);
			test_assert_idx(strstr(error, COI_METADATA_PRIVATE_CONFIG
					       COI_CONFIG_ENABLED) != NULL, i);
		}
	}
	test_end();
}

static void test_coi_config_parse_message_filter(void)
{
	static const struct {
		const char *value;
		int ret;
		enum coi_message_filter filter;
	} tests[] = {
		{ "none", 0, COI_MESSAGE_FILTER_NONE },
		{ "active", 0, COI_MESSAGE_FILTER_ACTIVE },
		{ "seen", 0, COI_MESSAGE_FILTER_SEEN },
		{ NULL, 0, COI_MESSAGE_FILTER_NONE },
		{ "inactive", -1, 0 },
		{ "Active", -1, 0 },
		{ "SEEN", -1, 0 },
		{ "", -1, 0 },
		{ "active\r\n", -1, 0 },
		{ "none ", -1, 0 },
		{ "activ", -1, 0 },
	};
	enum coi_message_filter filter;
	const char *error;
	unsigned int i;

	test_begin("coi config parse message-filter");
	for (i = 0; i < N_ELEMENTS(tests); i++) {
		error = NULL;
		filter = COI_MESSAGE_FILTER_SEEN + 1;
		test_assert_idx(coi_config_parse_message_filter(tests[i].value,
				&filter, &error) == tests[i].ret, i);
		if (tests[i].ret == 0) {
			test_assert_idx(filter == tests[i].filter, i);
			test_assert_idx(tests[i].value == NULL ||
				strcmp(coi_message_filter_to_str(filter),
				       tests[i].value) == 0, i);
		} else {
			test_assert_idx(error != NULL && strstr(error,
				COI_METADATA_PRIVATE_CONFIG
				COI_CONFIG_MESSAGE_FILTER) != NULL, i);
			/* control characters never reach the client */
			test_assert_idx(strpbrk(error, "\r\n") == NULL, i);
		}
	}
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_coi_config_parse_enabled,
		test_coi_config_parse_message_filter,
		NULL
	};
	return test_run(test_functions);
}
