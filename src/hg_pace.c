/*
 * hg_pace.c
 *    Back-pressure from the kernel's dirty page figures (see hg_pace.h).
 *    The figures come from /proc/meminfo (heimdall_gen.meminfo_file), read
 *    at most every CHECK_EVERY_MS while far from the limit (~20 us a read),
 *    the limits from /proc/sys/vm/dirty_* once per process.  Without them
 *    (another kernel) it never waits.
 */
#include "postgres.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "utils/timestamp.h"

#include "hg_guc.h"
#include "hg_latch.h"
#include "hg_pace.h"

#define CHECK_EVERY_MS 10		/* while below the limit */
#define WAIT_STEP_MS 5			/* while above it */
#define MARGIN 0.90				/* wait from 90 % of the kernel's freerun point */

/*
 * The figures are the whole machine's: another writer (a backup, a file
 * copy, another tenant's temporary files) can hold them above the limit for
 * as long as it writes, and the kernel then shares the disk between all
 * writers.  A worker that waited until the figures fell made no progress at
 * all meanwhile (a review: 0 samples in 70 s, its batch's snapshot held).
 * So it waits at most MAX_WAIT_MS at a time, then writes for WRITE_WINDOW_MS
 * as any other writer does, throttled by the kernel.  Measured with dd
 * holding the dirty pages at the kernel's limit: waiting without end 1.4
 * samples/s, never waiting 20 samples/s (and one cancel of 15 took 3.5 s,
 * in the kernel), this 11 samples/s with cancels of 5-36 ms.
 */
#define MAX_WAIT_MS 100
#define WRITE_WINDOW_MS 20

static bool limits_read = false;
static bool have_proc = true;
static double dirty_bytes,
			dirty_ratio,
			background_bytes,
			background_ratio;
static TimestampTz next_check = 0;
static double waited_ms = 0;

static double
read_number(const char *path)
{
	FILE	   *f = fopen(path, "r");
	double		v = 0;

	if (f == NULL)
	{
		have_proc = false;
		return 0;
	}
	if (fscanf(f, "%lf", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static void
read_limits(void)
{
	dirty_bytes = read_number("/proc/sys/vm/dirty_bytes");
	dirty_ratio = read_number("/proc/sys/vm/dirty_ratio");
	background_bytes = read_number("/proc/sys/vm/dirty_background_bytes");
	background_ratio = read_number("/proc/sys/vm/dirty_background_ratio");
	limits_read = true;
}

/*
 * The meminfo file's first MEMINFO_MAX_BYTES (/proc/meminfo is ~1.5 kB) into
 * buf, NUL-terminated; false unless it is a regular file (procfs files are).
 * Not through stdio: the file is a setting, and a FIFO there blocked the
 * worker in open(), /dev/zero kept it in an endless read, both out of reach
 * of a cancel and of a fast shutdown (a review).
 */
#define MEMINFO_MAX_BYTES 16384

static bool
read_meminfo(char *buf)
{
	int			fd = open(hg_meminfo_file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	size_t		len = 0;
	bool		ok;

	if (fd < 0)
		return false;
	ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	while (ok && len < MEMINFO_MAX_BYTES - 1)
	{
		ssize_t		n = read(fd, buf + len, MEMINFO_MAX_BYTES - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			ok = n == 0;
			break;
		}
		len += (size_t) n;
	}
	close(fd);
	buf[len] = '\0';
	return ok;
}

/* Dirty + Writeback, and the point where the kernel starts throttling, in bytes. */
static bool
read_figures(double *dirty, double *freerun)
{
	char		buf[MEMINFO_MAX_BYTES];
	char	   *line;
	char	   *next;
	double		free_kb = 0,
				file_kb = 0,
				dirty_kb = 0,
				writeback_kb = 0,
				v;
	double		dirtyable,
				thresh,
				bg;

	if (!read_meminfo(buf))
		return false;
	for (line = buf; *line != '\0'; line = next)
	{
		next = strchr(line, '\n');
		next = next != NULL ? next + 1 : line + strlen(line);
		if (sscanf(line, "MemFree: %lf", &v) == 1)
			free_kb = v;
		else if (sscanf(line, "Active(file): %lf", &v) == 1 || sscanf(line, "Inactive(file): %lf", &v) == 1)
			file_kb += v;
		else if (sscanf(line, "Dirty: %lf", &v) == 1)
			dirty_kb = v;
		else if (sscanf(line, "Writeback: %lf", &v) == 1)
			writeback_kb = v;
	}
	/* the kernel's global_dirtyable_memory(), near enough: free plus file pages */
	dirtyable = (free_kb + file_kb) * 1024.0;
	thresh = dirty_bytes > 0 ? dirty_bytes : dirty_ratio / 100.0 * dirtyable;
	bg = background_bytes > 0 ? background_bytes : background_ratio / 100.0 * dirtyable;
	if (bg >= thresh)
		bg = thresh / 2;		/* as domain_dirty_limits() does */
	*dirty = (dirty_kb + writeback_kb) * 1024.0;
	*freerun = (thresh + bg) / 2;
	return thresh > 0;
}

bool
hg_pace_wait(bool (*stop_requested) (void *arg), void *arg)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz started = 0;
	int			next_check_ms = CHECK_EVERY_MS;

	if (!limits_read)
		read_limits();
	if (!have_proc || now < next_check)
		return true;
	for (;;)
	{
		double		dirty,
					freerun;

		if (!read_figures(&dirty, &freerun) || dirty < MARGIN * freerun)
			break;
		if (started == 0)
			started = now;
		else if (TimestampDifferenceExceeds(started, GetCurrentTimestamp(), MAX_WAIT_MS))
		{
			next_check_ms = WRITE_WINDOW_MS;	/* still behind: write a while, as any writer does */
			break;
		}
		hg_latch_nap(WAIT_STEP_MS);
		if (stop_requested(arg))
		{
			waited_ms += (double) (GetCurrentTimestamp() - started) / 1000.0;
			return false;
		}
	}
	now = GetCurrentTimestamp();
	if (started != 0)
		waited_ms += (double) (now - started) / 1000.0;
	next_check = TimestampTzPlusMilliseconds(now, next_check_ms);
	return true;
}

double
hg_pace_waited_ms(void)
{
	return waited_ms;
}
