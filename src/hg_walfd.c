/*
 * hg_walfd.c
 *    Letting go of a removed WAL segment.
 *
 *    A backend keeps the WAL segment it last wrote open until it writes WAL
 *    again.  A worker writes WAL itself only when the WAL buffers are full,
 *    so after a while of writing it may hold a segment the checkpointer has
 *    long removed (2 GB behind the insert position, seen).  The last close
 *    of such a file frees it, and on ext4 mounted with `discard` that is a
 *    synchronous discard of its 16 MB: 3-28 ms, measured (perf: __fput ->
 *    ext4_evict_inode -> blkdev_issue_discard -> submit_bio_wait).  At a
 *    cancel that close comes in the worker's exit, which
 *    cancel_job(wait => true) waits for.  Released here, in the worker's
 *    loop, the exit no longer pays it.
 *
 *    Safe because PostgreSQL never writes a removed segment again: it
 *    removes only segments before the last checkpoint's redo point, and
 *    its next WAL write from this backend finds that the open segment is
 *    not the one to write, closes the descriptor and opens the right
 *    segment.  The descriptor stands in the meantime for a harmless
 *    regular file opened read-only, not /dev/null: a change of
 *    wal_sync_method fsyncs the open segment's descriptor, and an fsync of
 *    /dev/null fails, which PostgreSQL would take for a PANIC; a write, if
 *    one ever came, would fail rather than land anywhere.  A segment
 *    recycled by renaming keeps a link and is left alone.  Free of
 *    PostgreSQL (POSIX and Linux's /proc).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hg_walfd.h"

#define DELETED_SUFFIX " (deleted)"
#define SEGMENT_NAME_LEN 24		/* timeline, log and segment: 3 x 8 hex digits */

/* ".../pg_wal/000000010000001900000073 (deleted)": a removed WAL segment's link */
static int
names_removed_segment(const char *target)
{
	size_t		len = strlen(target);
	size_t		suffix = strlen(DELETED_SUFFIX);
	const char *name;
	size_t		k;

	if (len < suffix + SEGMENT_NAME_LEN + strlen("/pg_wal/") ||
		strcmp(target + len - suffix, DELETED_SUFFIX) != 0)
		return 0;
	name = target + len - suffix - SEGMENT_NAME_LEN;
	if (strncmp(name - strlen("/pg_wal/"), "/pg_wal/", strlen("/pg_wal/")) != 0)
		return 0;
	for (k = 0; k < SEGMENT_NAME_LEN; k++)
		if (!((name[k] >= '0' && name[k] <= '9') || (name[k] >= 'A' && name[k] <= 'F')))
			return 0;
	return 1;
}

int
hg_release_removed_wal_segments(const char *stand_in)
{
	DIR		   *dir = opendir("/proc/self/fd");
	struct dirent *entry;
	int			replacement;
	int			released = 0;

	if (dir == NULL)
		return -1;
	replacement = open(stand_in, O_RDONLY | O_CLOEXEC);
	if (replacement < 0)
	{
		closedir(dir);
		return -1;
	}
	while ((entry = readdir(dir)) != NULL)
	{
		char		path[64];
		char		target[4096];
		ssize_t		n;
		struct stat st;
		char	   *end;
		long		fd = strtol(entry->d_name, &end, 10);

		if (*end != '\0' || end == entry->d_name || fd == dirfd(dir) || fd == replacement)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%ld", fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		/* the name says so, and the file itself: a regular file with no link left */
		if (names_removed_segment(target) && fstat((int) fd, &st) == 0 &&
			S_ISREG(st.st_mode) && st.st_nlink == 0 && dup2(replacement, (int) fd) >= 0)
			released++;
	}
	close(replacement);
	closedir(dir);
	return released;
}
