/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "hash.h"
#include "str-sanitize.h"
#include "istream.h"
#include "dict.h"
#include "array.h"
#include "coi-address.h"
#include "coi-policy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Lines longer than this are not addresses. */
#define COI_POLICY_MAX_LINE 1024
/* Some editors on Windows start a UTF-8 file with it. */
#define COI_POLICY_UTF8_BOM "\xEF\xBB\xBF"

/* One version of the policy file: its entries, or why it cannot be used.
   A broken version is kept too, so that it is read and logged once. */
struct coi_policy_file {
	char *path;
	/* of the version read; zero when stat() failed */
	struct stat st;
	pool_t pool;
	HASH_TABLE_TYPE(coi_policy_entries) entries;
	/* NULL if the entries are the policy */
	char *error;
};

static struct coi_policy_file *coi_policy_file = NULL;
static struct dict *coi_policy_dict = NULL;
static char *coi_policy_dict_uri = NULL;

int coi_policy_parse_line(const char *line, const char **entry_r,
			  const char **error_r)
{
	const char *entry, *error;

	line = t_str_trim(line, " \t\r");
	if (*line == '\0' || *line == '#')
		return 0;
	if (strlen(line) > COI_POLICY_MAX_LINE) {
		*error_r = "too long";
		return -1;
	}
	entry = coi_block_entry_normalize(line);
	if (entry == NULL)
		error = "not an address or @domain";
	else if (coi_block_entry_verify(entry, &error) == 0) {
		*entry_r = entry;
		return 1;
	}
	*error_r = t_strdup_printf("%s: %s", error, str_sanitize(line, 80));
	return -1;
}

/* Add line number n to entries, unless it is already there. */
static int
coi_policy_add_line(const char *line, unsigned int n, pool_t pool,
		    HASH_TABLE_TYPE(coi_policy_entries) entries,
		    unsigned int max_entries, const char **error_r)
{
	const char *entry, *error;
	int ret;

	ret = coi_policy_parse_line(line, &entry, &error);
	if (ret < 0) {
		*error_r = t_strdup_printf("line %u: %s", n, error);
		return -1;
	}
	if (ret == 0 || hash_table_lookup(entries, entry) != NULL)
		return 0;
	if (hash_table_count(entries) >= max_entries) {
		*error_r = t_strdup_printf(
			"line %u: more than %u entries, the limit", n,
			max_entries);
		return -1;
	}
	entry = p_strdup(pool, entry);
	hash_table_insert(entries, entry, entry);
	return 0;
}

int coi_policy_parse_stream(struct istream *input, pool_t pool,
			    HASH_TABLE_TYPE(coi_policy_entries) entries,
			    unsigned int max_entries, uoff_t max_size,
			    const char **error_r)
{
	const char *name = i_stream_get_name(input);
	const char *line, *error = NULL;
	unsigned int n = 0;
	int ret = 0;

	/* a last line without LF is an entry too */
	i_stream_set_return_partial_line(input, TRUE);
	while (ret == 0 && (line = i_stream_read_next_line(input)) != NULL) {
		if (++n == 1 && str_begins(line, COI_POLICY_UTF8_BOM))
			line += strlen(COI_POLICY_UTF8_BOM);
		if (input->v_offset > max_size) {
			/* a file that grew after its size was checked */
			*error_r = t_strdup_printf(
				"%s: more than %s bytes, the limit",
				name, dec2str(max_size));
			return -1;
		}
		/* Each line's garbage goes with its frame: the data stack
		   never holds more than one line. */
		T_BEGIN {
			ret = coi_policy_add_line(line, n, pool, entries,
						  max_entries, &error);
		} T_END_PASS_STR_IF(ret < 0, &error);
	}
	if (ret < 0) {
		*error_r = t_strdup_printf("%s %s", name, error);
		return -1;
	}
	if (input->stream_errno != 0) {
		*error_r = t_strdup_printf("read(%s) failed: %s", name,
					   i_stream_get_error(input));
		return -1;
	}
	if (!input->eof) {
		*error_r = t_strdup_printf("%s: a line is too long", name);
		return -1;
	}
	return 0;
}

static void coi_policy_file_free_entries(struct coi_policy_file *file)
{
	if (hash_table_is_created(file->entries))
		hash_table_destroy(&file->entries);
	pool_unref(&file->pool);
}

static void coi_policy_file_free(struct coi_policy_file **_file)
{
	struct coi_policy_file *file = *_file;

	if (file == NULL)
		return;
	*_file = NULL;
	coi_policy_file_free_entries(file);
	i_free(file->error);
	i_free(file->path);
	i_free(file);
}

static bool coi_policy_file_changed(const struct stat *a, const struct stat *b)
{
	return a->st_ino != b->st_ino || a->st_dev != b->st_dev ||
		a->st_size != b->st_size ||
		a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
		a->st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
		a->st_ctim.tv_sec != b->st_ctim.tv_sec ||
		a->st_ctim.tv_nsec != b->st_ctim.tv_nsec;
}

/* Read the file's entries into file->pool and file->entries. */
static int
coi_policy_file_read(struct coi_policy_file *file, const char **error_r)
{
	struct istream *input;
	int fd, ret;

	fd = open(file->path, O_RDONLY);
	if (fd == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %m", file->path);
		return -1;
	}
	if (fstat(fd, &file->st) < 0) {
		*error_r = t_strdup_printf("fstat(%s) failed: %m", file->path);
		i_close_fd(&fd);
		return -1;
	}
	if (file->st.st_size > COI_POLICY_MAX_SIZE) {
		/* refused before reading it */
		*error_r = t_strdup_printf(
			"%s: %s bytes, more than %u, the limit",
			file->path, dec2str(file->st.st_size),
			COI_POLICY_MAX_SIZE);
		i_close_fd(&fd);
		return -1;
	}
	/* The entries take about the file's size (most of a line is its
	   entry), and the hash table's overflow nodes come from the same
	   pool, so that one pool_unref() frees the version. */
	file->pool = pool_alloconly_create("coi block policy",
					   1024 + file->st.st_size);
	hash_table_create(&file->entries, file->pool, 0, str_hash, strcmp);

	input = i_stream_create_fd(fd, COI_POLICY_MAX_LINE * 2);
	i_stream_set_name(input, file->path);
	ret = coi_policy_parse_stream(input, file->pool, file->entries,
				      COI_POLICY_MAX_ENTRIES,
				      COI_POLICY_MAX_SIZE, error_r);
	i_stream_destroy(&input);
	i_close_fd(&fd);
	return ret;
}

/* The policy file as it is now, re-read if it changed. Returns 0, or -1
   with error_r, and repeated_r TRUE if this error was already returned for
   the same version of the file. */
static int
coi_policy_file_get(const char *path, struct coi_policy_file **file_r,
		    bool *repeated_r, const char **error_r)
{
	struct coi_policy_file *file = coi_policy_file;
	const char *stat_error = NULL, *error;
	struct stat st;

	if (stat(path, &st) < 0) {
		/* a missing file is a version too, kept until it changes */
		stat_error = t_strdup_printf("stat(%s) failed: %m", path);
		i_zero(&st);
	}
	*repeated_r = file != NULL && strcmp(file->path, path) == 0 &&
		!coi_policy_file_changed(&file->st, &st) &&
		(stat_error == NULL ||
		 null_strcmp(file->error, stat_error) == 0);
	if (!*repeated_r) {
		coi_policy_file_free(&coi_policy_file);
		file = coi_policy_file = i_new(struct coi_policy_file, 1);
		file->path = i_strdup(path);
		file->st = st;
		if (stat_error != NULL)
			file->error = i_strdup(stat_error);
		else if (coi_policy_file_read(file, &error) < 0) {
			/* only the error is kept of a broken version */
			file->error = i_strdup(error);
			coi_policy_file_free_entries(file);
		}
	}
	if (file->error != NULL) {
		*error_r = t_strdup(file->error);
		return -1;
	}
	*repeated_r = FALSE;
	*file_r = file;
	return 0;
}

static int
coi_policy_dict_get(const char *uri, const char *base_dir,
		    struct dict **dict_r, const char **error_r)
{
	struct dict_settings set;
	const char *error;

	if (coi_policy_dict != NULL && strcmp(coi_policy_dict_uri, uri) != 0) {
		dict_deinit(&coi_policy_dict);
		i_free(coi_policy_dict_uri);
	}
	if (coi_policy_dict == NULL) {
		/* Cached for the process: no user's event as its parent. */
		i_zero(&set);
		set.base_dir = base_dir;
		if (dict_init(uri, &set, &coi_policy_dict, &error) < 0) {
			*error_r = t_strdup_printf("dict_init(%s) failed: %s",
						   uri, error);
			return -1;
		}
		coi_policy_dict_uri = i_strdup(uri);
	}
	*dict_r = coi_policy_dict;
	return 0;
}

/* Is entry in the file or the dict (either may be NULL)? */
static int
coi_policy_lookup(struct coi_policy_file *file, struct dict *dict,
		  const char *dict_uri, const char *entry,
		  const char **error_r)
{
	struct dict_op_settings set;
	const char *value, *error = NULL;
	int ret;

	if (file != NULL && hash_table_lookup(file->entries, entry) != NULL)
		return 1;
	if (dict == NULL)
		return 0;
	i_zero(&set);
	ret = dict_lookup(dict, &set, pool_datastack_create(),
			  t_strconcat(COI_POLICY_DICT_PREFIX, entry, NULL),
			  &value, &error);
	if (ret < 0) {
		*error_r = t_strdup_printf("dict_lookup(%s) failed: %s",
					   dict_uri, error);
		return -1;
	}
	return ret > 0 && value[0] != '\0' ? 1 : 0;
}

static int
coi_policy_check_senders(const struct coi_policy_settings *set,
			 const char *base_dir, const char *const *senders,
			 unsigned int count, const char **entry_r,
			 bool *repeated_r, const char **error_r)
{
	struct coi_policy_file *file = NULL;
	struct dict *dict = NULL;
	ARRAY_TYPE(const_string) candidates;
	const char *const *entries;
	unsigned int i, j, entry_count;
	int ret;

	*repeated_r = FALSE;
	if (set->path[0] != '\0' &&
	    coi_policy_file_get(set->path, &file, repeated_r, error_r) < 0)
		return -1;
	if (set->dict_uri[0] != '\0' &&
	    coi_policy_dict_get(set->dict_uri, base_dir, &dict, error_r) < 0)
		return -1;
	if (file == NULL && dict == NULL)
		return 0;

	t_array_init(&candidates, 8);
	for (i = 0; i < count; i++) {
		if (senders[i] == NULL)
			continue;
		array_clear(&candidates);
		coi_address_block_candidates(senders[i], &candidates);
		entries = array_get(&candidates, &entry_count);
		for (j = 0; j < entry_count; j++) {
			if (entries[j] == NULL)
				continue;
			ret = coi_policy_lookup(file, dict, set->dict_uri,
						entries[j], error_r);
			if (ret != 0) {
				*entry_r = entries[j];
				return ret;
			}
		}
	}
	return 0;
}

int coi_policy_check(struct event *event,
		     const struct coi_policy_settings *set,
		     const char *base_dir, const char *const *senders,
		     unsigned int count, const char **entry_r,
		     const char **error_r)
{
	bool repeated;
	int ret;

	*entry_r = NULL;
	ret = coi_policy_check_senders(set, base_dir, senders, count, entry_r,
				       &repeated, error_r);
	if (ret < 0) {
		*entry_r = NULL;
		/* A broken file stays broken for every delivery until it is
		   replaced: one error line per version is enough. */
		if (repeated) {
			e_debug(event, "Provider block policy cannot be read, "
				"delivery fails temporarily: %s", *error_r);
		} else {
			e_error(event, "Provider block policy cannot be read, "
				"delivery fails temporarily: %s", *error_r);
		}
	}
	return ret;
}

void coi_policy_deinit(void)
{
	coi_policy_file_free(&coi_policy_file);
	if (coi_policy_dict != NULL)
		dict_deinit(&coi_policy_dict);
	i_free(coi_policy_dict_uri);
}
