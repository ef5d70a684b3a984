/*
 * hg_block.h
 *    One allocation that a workspace (or the waveform synthesiser)
 *    carves all its buffers from, so that a large configuration's tens of
 *    megabytes sit on transparent huge pages and come and go in a few
 *    operations instead of tens of thousands of 4 kB pages (see hg_block.c).
 */
#ifndef HG_BLOCK_H
#define HG_BLOCK_H

#include <stddef.h>

/*
 * One buffer of a block: where to store its address, its size in bytes,
 * and whether it must start zeroed (otherwise its contents are undefined,
 * as from malloc).
 */
typedef struct hg_slice
{
	void	  **dst;
	size_t		bytes;
	int			zeroed;
} hg_slice;

/*
 * Allocate one block holding every slice, each 64-byte aligned, and store
 * each slice's address in *dst.  Returns the block (NULL when out of
 * memory: then no *dst is written) and its size in *size, which
 * hg_block_free needs back.
 */
void	   *hg_block_carve(const hg_slice *slices, int n, size_t *size);

/* Give back a block from hg_block_carve (NULL is allowed). */
void		hg_block_free(void *block, size_t size);

/* Whether a block of this size is mapped on its own, 2 MB aligned (else it comes from malloc). */
int			hg_block_is_mapped(size_t size);

#endif							/* HG_BLOCK_H */
