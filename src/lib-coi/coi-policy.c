/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

#include "lib.h"
#include "array.h"
#include "hash.h"
#include "str-sanitize.h"
#include "istream.h"
#include "dict.h"
#include "coi-block.h"
#include "coi-policy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Lines longer than this are not addresses. */
#define COI_POLICY_MAX_LINE 1024

static const char *const coi_policy_action_names[] = {
	[COI_POLICY_ACTION_REJECT] = "reject",
	[COI_POLICY_ACTION_DISCARD] = "discard",
	[COI_POLICY_ACTION_FOLDER] = "folder",
};

struct coi_policy_file {
	char *path;
	struct stat st;
	pool_t pool;
	HASH_TABLE(const char *, const char *) entries;
};

static struct coi_policy_file *coi_policy_file = NULL;
static struct dict *coi_policy_dict = NULL;
static char *coi_policy_dict_uri = NULL;

int coi_policy_action_parse(const char *value,
			    enum coi_policy_action *action_r)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(coi_policy_action_names); i++) {
		if (strcmp(value, coi_policy_action_names[i]) == 0) {
			*action_r = (enum coi_policy_action)i;
			return 0;
		}
	}
	return -1;
}

const char *coi_policy_action_to_str(enum coi_policy_action action)
{
	i_assert(action < N_ELEMENTS(coi_policy_action_names));
	return coi_policy_action_names[action];
}

int coi_policy_parse(const char *const *lines, pool_t pool,
		     ARRAY_TYPE(const_string) *entries_r,
		     const char **error_r)
{
	const char *line, *entry, *error;
	unsigned int n;

	for (n = 1; *lines != NULL; lines++, n++) {
		line = t_str_trim(*lines, " \t\r");
		if (*line == '\0' || *line == '#')
			continue;
		if (strlen(line) > COI_POLICY_MAX_LINE) {
			*error_r = t_strdup_printf("line %u: too long", n);
			return -1;
		}
		entry = coi_block_entry_normalize(line);
		if (entry == NULL)
			error = "not an address or @domain";
		else if (coi_block_entry_verify(entry, &error) == 0)
			error = NULL;
		if (error != NULL) {
			*error_r = t_strdup_printf("line %u: %s: %s", n,
				error, str_sanitize(line, 80));
			return -1;
		}
		entry = p_strdup(pool, entry);
		array_push_back(entries_r, &entry);
	}
	return 0;
}

int coi_policy_parse_stream(struct istream *input, pool_t pool,
			    ARRAY_TYPE(const_string) *entries_r,
			    const char **error_r)
{
	const char *name = i_stream_get_name(input);
	ARRAY_TYPE(const_string) lines;
	const char *line;

	t_array_init(&lines, 64);
	/* a last line without LF is an entry too */
	i_stream_set_return_partial_line(input, TRUE);
	while ((line = i_stream_read_next_line(input)) != NULL) {
		line = t_strdup(line);
		array_push_back(&lines, &line);
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
	array_append_zero(&lines);
	if (coi_policy_parse(array_front(&lines), pool, entries_r,
			     error_r) < 0) {
		*error_r = t_strdup_printf("%s %s", name, *error_r);
		return -1;
	}
	return 0;
}

static void coi_policy_file_free(struct coi_policy_file **_file)
{
	struct coi_policy_file *file = *_file;

	if (file == NULL)
		return;
	*_file = NULL;
	hash_table_destroy(&file->entries);
	pool_unref(&file->pool);
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

static int
coi_policy_file_load(const char *path, struct coi_policy_file **file_r,
		     const char **error_r)
{
	struct coi_policy_file *file;
	ARRAY_TYPE(const_string) entries;
	struct istream *input;
	const char *entry;
	int fd, ret;

	fd = open(path, O_RDONLY);
	if (fd == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %m", path);
		return -1;
	}
	file = i_new(struct coi_policy_file, 1);
	if (fstat(fd, &file->st) < 0) {
		*error_r = t_strdup_printf("fstat(%s) failed: %m", path);
		i_close_fd(&fd);
		i_free(file);
		return -1;
	}
	file->path = i_strdup(path);
	file->pool = pool_alloconly_create("coi block policy", 1024);
	hash_table_create(&file->entries, file->pool, 0, str_hash, strcmp);

	input = i_stream_create_fd(fd, COI_POLICY_MAX_LINE * 2);
	i_stream_set_name(input, path);
	t_array_init(&entries, 64);
	ret = coi_policy_parse_stream(input, file->pool, &entries, error_r);
	i_stream_destroy(&input);
	i_close_fd(&fd);
	if (ret == 0) {
		array_foreach_elem(&entries, entry)
			hash_table_update(file->entries, entry, entry);
	}
	if (ret < 0) {
		coi_policy_file_free(&file);
		return -1;
	}
	*file_r = file;
	return 0;
}

/* The policy file as it is now, re-read if it changed. */
static int
coi_policy_file_get(const char *path, struct coi_policy_file **file_r,
		    const char **error_r)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		*error_r = t_strdup_printf("stat(%s) failed: %m", path);
		return -1;
	}
	if (coi_policy_file != NULL &&
	    (strcmp(coi_policy_file->path, path) != 0 ||
	     coi_policy_file_changed(&coi_policy_file->st, &st)))
		coi_policy_file_free(&coi_policy_file);
	if (coi_policy_file == NULL &&
	    coi_policy_file_load(path, &coi_policy_file, error_r) < 0)
		return -1;
	*file_r = coi_policy_file;
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

int coi_policy_check(const char *path, const char *dict_uri,
		     const char *base_dir, const char *const *senders,
		     unsigned int count, const char **entry_r,
		     const char **error_r)
{
	struct coi_policy_file *file = NULL;
	struct dict *dict = NULL;
	struct dict_op_settings set;
	ARRAY_TYPE(const_string) candidates;
	const char *const *entries, *value, *error;
	unsigned int i, j, entry_count;
	int ret;

	*entry_r = NULL;
	if (path != NULL && *path != '\0' &&
	    coi_policy_file_get(path, &file, error_r) < 0)
		return -1;
	if (dict_uri != NULL && *dict_uri != '\0' &&
	    coi_policy_dict_get(dict_uri, base_dir, &dict, error_r) < 0)
		return -1;
	if (file == NULL && dict == NULL)
		return 0;

	i_zero(&set);
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
			if (file != NULL &&
			    hash_table_lookup(file->entries, entries[j]) != NULL) {
				*entry_r = entries[j];
				return 1;
			}
			if (dict == NULL)
				continue;
			ret = dict_lookup(dict, &set, pool_datastack_create(),
				t_strconcat(COI_POLICY_DICT_PREFIX, entries[j],
					    NULL), &value, &error);
			if (ret < 0) {
				*error_r = t_strdup_printf(
					"dict_lookup(%s) failed: %s",
					dict_uri, error);
				return -1;
			}
			if (ret > 0 && value[0] != '\0') {
				*entry_r = entries[j];
				return 1;
			}
		}
	}
	return 0;
}

void coi_policy_deinit(void)
{
	coi_policy_file_free(&coi_policy_file);
	if (coi_policy_dict != NULL)
		dict_deinit(&coi_policy_dict);
	i_free(coi_policy_dict_uri);
}
