#ifndef TEST_WEBPUSH_H
#define TEST_WEBPUSH_H

/* Shared by the test-webpush-* programs. */

#include "test-common.h"

/* Assert what a table row expects of a call that returns 0 or -1 with an
   error: success when expected is NULL, else failure with an error that
   contains expected. Prints the error of an unexpected outcome. */
#define test_assert_result_idx(ret, error, expected, idx) STMT_START { \
	if ((expected) == NULL) { \
		test_assert_idx((ret) == 0, idx); \
		if ((ret) != 0) \
			i_error("#%u: %s", (unsigned int)(idx), (error)); \
	} else { \
		test_assert_idx((ret) < 0 && (error) != NULL && \
				strstr((error), (expected)) != NULL, idx); \
		if ((ret) == 0) \
			i_error("#%u: accepted", (unsigned int)(idx)); \
		else if ((error) == NULL || \
			 strstr((error), (expected)) == NULL) \
			i_error("#%u: %s", (unsigned int)(idx), (error)); \
	} \
	} STMT_END

#endif
