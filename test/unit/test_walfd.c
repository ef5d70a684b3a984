/*
 * test_walfd.c
 *    hg_release_removed_wal_segments (src/hg_walfd.c): a descriptor of a
 *    removed WAL segment is pointed at a read-only stand-in, which can be
 *    fsynced and closed;
 *    a segment still linked, a removed file that is not a segment, and a
 *    segment-named file outside pg_wal are left alone.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hg_test.h"
#include "hg_walfd.h"

static int
open_new_file(const char *path)
{
	char		block[4096];
	int			fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int			k;

	memset(block, 7, sizeof(block));
	for (k = 0; fd >= 0 && k < 64; k++)
		if (write(fd, block, sizeof(block)) != (ssize_t) sizeof(block))
			return -1;
	return fd;
}

static int
refers_to(int fd, const char *file)
{
	char		path[64];
	char		target[256];
	ssize_t		n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = '\0';
	return strcmp(target, file) == 0;
}

static void
test_only_removed_segments_are_released(void)
{
	char		dir[] = "/tmp/hg_walfd_XXXXXX";
	char		wal[128],
				stand_in[160],
				removed[160],
				kept[160],
				other[160],
				outside[160];
	int			fd_removed,
				fd_kept,
				fd_other,
				fd_outside;
	struct stat st;

	HG_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(wal, sizeof(wal), "%s/pg_wal", dir);
	HG_CHECK(mkdir(wal, 0700) == 0, "mkdir pg_wal");
	snprintf(stand_in, sizeof(stand_in), "%s/PG_VERSION", dir);
	close(open_new_file(stand_in));
	snprintf(removed, sizeof(removed), "%s/000000010000001900000073", wal);
	snprintf(kept, sizeof(kept), "%s/0000000100000019000000F1", wal);
	snprintf(other, sizeof(other), "%s/xlogtemp.123", wal);
	snprintf(outside, sizeof(outside), "%s/000000010000001900000074", dir);
	fd_removed = open_new_file(removed);
	fd_kept = open_new_file(kept);
	fd_other = open_new_file(other);
	fd_outside = open_new_file(outside);
	HG_CHECK(fd_removed >= 0 && fd_kept >= 0 && fd_other >= 0 && fd_outside >= 0, "files created");
	unlink(removed);
	unlink(other);
	unlink(outside);

	HG_CHECK(hg_release_removed_wal_segments("/no/such/file") == -1, "no stand-in: nothing done");
	HG_CHECK(!refers_to(fd_removed, stand_in), "and the descriptor kept");
	HG_CHECK(hg_release_removed_wal_segments(stand_in) == 1, "exactly one descriptor released");
	HG_CHECK(refers_to(fd_removed, stand_in), "the removed segment's descriptor is the stand-in now");
	HG_CHECK(fsync(fd_removed) == 0, "which can be fsynced (a change of wal_sync_method does)");
	HG_CHECK(write(fd_removed, "x", 1) < 0, "and not written: it is read-only");
	HG_CHECK(close(fd_removed) == 0, "and closed like the segment it replaced");
	HG_CHECK(fstat(fd_kept, &st) == 0 && st.st_nlink == 1 && !refers_to(fd_kept, stand_in),
			 "a segment still linked is left alone");
	HG_CHECK(!refers_to(fd_other, stand_in), "a removed file that is not a segment is left alone");
	HG_CHECK(!refers_to(fd_outside, stand_in), "a segment-named file outside pg_wal is left alone");
	HG_CHECK(hg_release_removed_wal_segments(stand_in) == 0, "nothing left to release");

	close(fd_kept);
	close(fd_other);
	close(fd_outside);
	unlink(kept);
	unlink(stand_in);
	rmdir(wal);
	rmdir(dir);
}

int
main(void)
{
	HG_RUN(test_only_removed_segments_are_released);
	return HG_TEST_SUMMARY();
}
