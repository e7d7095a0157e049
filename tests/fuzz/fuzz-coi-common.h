#ifndef FUZZ_COI_COMMON_H
#define FUZZ_COI_COMMON_H

/* Shared by the fuzz targets. Debian's dovecot-dev ships Dovecot's own
   fuzzer.h (FUZZ_BEGIN_DATA, FUZZ_END) and libdovecot.so has its
   fuzzer_init(), so the targets use those as core's do. */

#include "fuzzer.h"

struct mail;
struct mail_user;

/* Stop the run (libFuzzer keeps the input as a crash) when an invariant
   does not hold. Unlike i_assert() it names the target's own check. */
#define FUZZ_CHECK(expr) STMT_START { \
	if (unlikely(!(expr))) \
		i_panic("fuzz invariant failed: %s (%s:%d)", \
			#expr, __FILE__, __LINE__); \
	} STMT_END

/* The input as a NUL-terminated string in memory of its own (up to the
   first NUL), so that AddressSanitizer sees a read past its end; data
   stack strings (FUZZ_BEGIN_STR) sit inside larger blocks. i_free() it. */
char *fuzz_coi_strdup(const unsigned char *data, size_t size);

/* Split data at the first LF: the part before it, and the rest (empty if
   there is no LF). Both are fuzz_coi_strdup()ed. */
void fuzz_coi_split(const unsigned char *data, size_t size,
		    char **first_r, char **rest_r);

/* Targets that use mail storage say so once, at file level: libFuzzer then
   sets it up before the first input (see fuzz_coi_storage_init()). */
#define FUZZ_COI_WITH_STORAGE \
	int LLVMFuzzerInitialize(int *argc, char ***argv); \
	int LLVMFuzzerInitialize(int *argc ATTR_UNUSED, \
				 char ***argv ATTR_UNUSED) \
	{ fuzz_coi_storage_init(); return 0; }

/* Start the master service and the mail users below. It initializes lib
   itself, so this comes before the first fuzzer_init(). */
void fuzz_coi_storage_init(void);

/* A mail user with namespaces (INBOX namespace "INBOX." with separator
   '.', and a public namespace "Public."), made once per process under
   ./.test-home: run each target in a directory of its own. */
struct mail_user *fuzz_coi_user(void);

/* The message as a raw mail, in memory, as lmtp and dovecot-lda see the
   incoming message. The data must stay valid until fuzz_coi_mail_free(). */
struct mail *fuzz_coi_mail(const unsigned char *data, size_t size);
void fuzz_coi_mail_free(struct mail **mail);

/* Is str made of exactly len lowercase hex digits? */
bool fuzz_coi_is_lower_hex(const char *str, size_t len);

#endif
