/*
 * hg_mappings.c
 *    Forgets the worker's page-table entries of the server's code and
 *    read-only data touched while it started, for one reason: a cancel
 *    waits until the worker's process is gone, and the kernel ends a
 *    process by clearing every page-table entry it holds.  Starting (the
 *    connection, the catalogs, the plans, OpenSSL seeding its random
 *    generator) maps about 18 MB in 4 kB pages, 12 MB of it code and
 *    read-only data of the server and its ~80 libraries; the loop that
 *    writes samples runs in part of it.  Dropped before the loop, the
 *    worker holds 24 MB instead of 30 MB while it writes, and the kernel's
 *    exit (exit_group to the postmaster's SIGCHLD, 25 cancels x 3
 *    alternating runs on the README's VM) takes 1.70, 1.53, 1.89 ms at the
 *    median instead of 1.98, 1.87, 2.01 ms.  The pages stay in the page
 *    cache; the code the loop runs is mapped again at its first fault.
 *
 *    Only private, read-only mappings of files whose pages are all the
 *    file's: MADV_DONTNEED throws a private copy away (the pages ld.so
 *    relocated and then made read-only, a debugger's breakpoints), and a
 *    mapping holding one is left whole.  A page that is the file's own the
 *    kernel may drop and read again at any time anyway, under memory
 *    pressure.  A mapping the kernel refuses (sealed) is skipped.
 *    Linux only, PostgreSQL-free; where it cannot read /proc it does
 *    nothing.
 */
#include "hg_mappings.h"

#if defined(__linux__)
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

size_t
hg_forget_startup_mappings(void)
{
	FILE	   *smaps = fopen("/proc/self/smaps", "r");
	char		line[512];
	unsigned long start = 0,
				end = 0;
	int			candidate = 0;
	size_t		forgotten = 0;

	if (smaps == NULL)
		return 0;
	while (fgets(line, sizeof(line), smaps) != NULL)
	{
		unsigned long from,
					to;
		char		perms[5];
		unsigned long anonymous_kb;
		int			path_at = 0;

		if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &from, &to, perms, &path_at) == 3)
		{
			/* a mapping's first line: private, not writable, of a file */
			start = from;
			end = to;
			candidate = perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p' &&
				path_at > 0 && line[path_at] == '/';
			continue;
		}
		if (candidate && sscanf(line, "Anonymous: %lu kB", &anonymous_kb) == 1)
		{
			candidate = 0;
			if (anonymous_kb == 0 && madvise((void *) start, end - start, MADV_DONTNEED) == 0)
				forgotten += end - start;
		}
	}
	fclose(smaps);
	return forgotten;
}

unsigned long
hg_mapping_page_kb(const void *addr)
{
	FILE	   *smaps = fopen("/proc/self/smaps", "r");
	char		line[512];
	int			inside = 0;
	unsigned long page_kb = 0;

	if (smaps == NULL)
		return 0;
	while (fgets(line, sizeof(line), smaps) != NULL)
	{
		unsigned long from,
					to;
		char		perms[5];

		/* a mapping's first line; the others are "Name: value" */
		if (sscanf(line, "%lx-%lx %4s", &from, &to, perms) == 3)
		{
			if (inside)
				break;			/* it had no KernelPageSize line */
			inside = (unsigned long) addr >= from && (unsigned long) addr < to;
		}
		else if (inside && sscanf(line, "KernelPageSize: %lu kB", &page_kb) == 1)
			break;
	}
	fclose(smaps);
	return page_kb;
}

#else

size_t
hg_forget_startup_mappings(void)
{
	return 0;
}

unsigned long
hg_mapping_page_kb(const void *addr)
{
	return 0;
}

#endif
