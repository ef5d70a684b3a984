/*
 * hg_block.c
 *    Blocks of buffers (see hg_block.h).  Why: with 15 receivers of 262144
 *    samples a workspace holds ~40 MB and the waveform's buffers ~8 MB, and
 *    a worker keeps a ring of six workspaces.  Allocated buffer by buffer
 *    from malloc, that heap grows past any region the server advised for
 *    huge pages and is faulted in 4 kB at a time; giving it back (a cancel
 *    frees the ring before the process exits) then cleared ~70000
 *    page-table entries: 13-21 ms of a 35 ms cancel, measured on the 2-core
 *    VM of the README.  So a block of HUGE_FROM or more is its own mapping,
 *    aligned to 2 MB and advised for transparent huge pages: zeroed by the
 *    kernel, faulted in 2 MB at a time, unmapped in a few dozen entries.
 *    Smaller blocks (the default configuration's, ~1.5 MB) come from malloc
 *    as before.  Without Linux's madvise every block comes from malloc.
 */
#include "hg_block.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <sys/mman.h>
#define HAVE_HUGE_BLOCKS 1
#endif

#define SLICE_ALIGN 64			/* a cache line, and any vector load */
/*
 * Five cache lines between slices, so that buffers a loop reads and writes
 * together (y_re, y_im, noise, iq) do not all start at the same offset
 * within a 4 kB page, where loads can falsely wait on stores (4K
 * aliasing).  bench-model, four alternating runs: 7140-7500 receptions/s
 * staggered, 6840-7090 without, 6910-7380 with the former separate mallocs.
 */
#define STAGGER 320
#define BLOCK_GRAIN 4096		/* sizes in whole pages, as munmap takes them */
#define HUGE_PAGE ((size_t) 2 * 1024 * 1024)
#define HUGE_FROM ((size_t) 4 * 1024 * 1024)	/* smaller blocks would waste most of a huge page */

static size_t
round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

int
hg_block_is_mapped(size_t size)
{
#ifdef HAVE_HUGE_BLOCKS
	return size >= HUGE_FROM;
#else
	(void) size;
	return 0;
#endif
}

#ifdef HAVE_HUGE_BLOCKS
/* A mapping of size bytes starting on a 2 MB boundary: over-map, then unmap the slack either side. */
static void *
map_aligned(size_t size)
{
	size_t		span = size + HUGE_PAGE;
	char	   *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char	   *start;
	size_t		head,
				tail;

	if (raw == MAP_FAILED)
		return NULL;
	start = (char *) round_up((size_t) (uintptr_t) raw, HUGE_PAGE);
	head = (size_t) (start - raw);
	tail = span - head - size;
	if (head > 0)
		(void) munmap(raw, head);
	if (tail > 0)
		(void) munmap(start + size, tail);
	/* advice only: without transparent huge pages the block is in 4 kB pages, as before */
	(void) madvise(start, size, MADV_HUGEPAGE);
	return start;
}
#endif

void *
hg_block_carve(const hg_slice *slices, int n, size_t *size)
{
	size_t		total = 0;
	int			mapped;
	char	   *block;
	char	   *at;
	int			k;

	for (k = 0; k < n; k++)
		total += round_up(slices[k].bytes, SLICE_ALIGN) + STAGGER;
	total = round_up(total > 0 ? total : 1, BLOCK_GRAIN);
	mapped = hg_block_is_mapped(total);
#ifdef HAVE_HUGE_BLOCKS
	if (mapped)
		block = map_aligned(total);
	else
#endif
	{
		void	   *p = NULL;

		block = posix_memalign(&p, SLICE_ALIGN, total) == 0 ? p : NULL;
	}
	if (block == NULL)
		return NULL;
	at = block;
	for (k = 0; k < n; k++)
	{
		*slices[k].dst = at;
		/* a mapping is zero already; from malloc, only what must be (the rest is never touched before use) */
		if (slices[k].zeroed && !mapped)
			memset(at, 0, slices[k].bytes);
		at += round_up(slices[k].bytes, SLICE_ALIGN) + STAGGER;
	}
	*size = total;
	return block;
}

void
hg_block_free(void *block, size_t size)
{
	if (block == NULL)
		return;
#ifdef HAVE_HUGE_BLOCKS
	if (hg_block_is_mapped(size))
	{
		(void) munmap(block, size);
		return;
	}
#endif
	free(block);
}
