/*
 * hg_heap.c
 *    Puts the worker's heap on transparent huge pages, for one reason: a
 *    cancel waits until the worker's process is gone, and the kernel ends a
 *    process by unmapping every page it touched.  The worker's heap holds
 *    the model's workspaces and the rows of a sample, 10-15 MB; in 4 kB
 *    pages that is 3000-4000 entries to tear down, a millisecond on a VM,
 *    against a few dozen 2 MB entries.  (Measured on the 2-core VM of the
 *    README: from the worker's _exit to the postmaster's reap, median
 *    5.0-5.3 ms before, 4.2-4.9 ms after.)
 *
 *    The heap grows with brk; a new stretch would not inherit MADV_HUGEPAGE
 *    (the kernel makes it a separate mapping), so the heap is first grown
 *    by a reserve, untouched, and the advice given over that reserve: the
 *    worker's allocations are then served from it and faulted in as huge
 *    pages.  glibc only, PostgreSQL-free.
 */
#include <stdlib.h>				/* defines __GLIBC__ with glibc */

#include "hg_heap.h"

#if defined(__GLIBC__) && defined(__linux__)
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define HEAP_RESERVE (32 * 1024 * 1024)	/* twice the heap a worker uses */
#define DEFAULT_TOP_PAD (128 * 1024)	/* glibc's M_TOP_PAD */

void
hg_heap_on_huge_pages(void)
{
	void	   *first;
	uintptr_t	from,
				to;

	/* an allocation from the top of the heap grows it by the reserve too */
	mallopt(M_TOP_PAD, HEAP_RESERVE);
	first = malloc(2 * 1024 * 1024);
	mallopt(M_TOP_PAD, DEFAULT_TOP_PAD);
	if (first == NULL)
		return;
	from = (uintptr_t) first & ~(uintptr_t) (sysconf(_SC_PAGESIZE) - 1);
	to = (uintptr_t) sbrk(0);
	free(first);				/* back into the reserve, which M_TRIM_THRESHOLD keeps */
	if (to > from)
		(void) madvise((void *) from, to - from, MADV_HUGEPAGE);
}

#else

void
hg_heap_on_huge_pages(void)
{
}

#endif
