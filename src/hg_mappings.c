/*
 * hg_mappings.c
 *    The page size of the mapping that holds an address, from
 *    /proc/self/smaps: the launcher tells the admin when the server's shared
 *    memory is in 4 kB pages, which makes a cancel wait for the kernel to
 *    clear an entry per 4 kB of shared_buffers the worker went through.
 *    Linux only, PostgreSQL-free; where it cannot read /proc it says 0.
 */
#include "hg_mappings.h"

#if defined(__linux__)
#include <stdio.h>
#include <string.h>

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

unsigned long
hg_mapping_page_kb(const void *addr)
{
	return 0;
}

#endif
