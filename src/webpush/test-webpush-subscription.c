/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "test-common.h"

int main(void)
{
	static void (*const test_functions[])(void) = {
		NULL
	};
	return test_run(test_functions);
}
