/*
 * test_block.c
 *    Unit tests of src/model/hg_block.c, the one allocation a workspace and
 *    the waveform synthesiser carve their buffers from: every slice is
 *    64-byte aligned, inside the block and apart from the others, and zeroed
 *    when asked (all of a mapped block is); a
 *    large block (a big configuration's workspace) is a mapping of its own,
 *    starting on a 2 MB boundary so that it can sit on huge pages, and is
 *    gone from the address space once freed; a small one comes from malloc.
 */
#include "hg_block.h"
#include "hg_test.h"

#include <stdint.h>
#include <stdlib.h>

#define MB ((size_t) 1024 * 1024)

/* Every slice aligned, within [block, block + size), disjoint from the next, zeroed if asked. */
static void
check_slices(const char *block, size_t size, char **at, const size_t *bytes, const int *zeroed, int n)
{
	int			k;

	for (k = 0; k < n; k++)
	{
		size_t		i;

		HG_CHECK(((uintptr_t) at[k]) % 64 == 0, "slice %d at %p is not 64-byte aligned", k, (void *) at[k]);
		HG_CHECK(at[k] >= block && at[k] + bytes[k] <= block + size, "slice %d outside the block", k);
		if (k > 0)
			HG_CHECK(at[k - 1] + bytes[k - 1] <= at[k], "slice %d overlaps slice %d", k, k - 1);
		for (i = 0; zeroed[k] && i < bytes[k]; i += bytes[k] > 4096 ? 4093 : 1)
			HG_CHECK(at[k][i] == 0, "slice %d byte %zu is %d, not zero", k, i, at[k][i]);
		if (zeroed[k] && bytes[k] > 0)
			HG_CHECK(at[k][bytes[k] - 1] == 0, "slice %d's last byte is not zero", k);
		memset(at[k], 0x5a, bytes[k]);	/* writable to the end (valgrind and ASan watch) */
	}
}

/* Whether /proc/self/maps has a mapping that starts at p (Linux). */
static int
mapping_starts_at(const void *p)
{
	FILE	   *maps = fopen("/proc/self/maps", "r");
	char		line[512];
	int			found = 0;

	if (maps == NULL)
		return -1;
	while (!found && fgets(line, sizeof(line), maps))
	{
		unsigned long start;

		found = sscanf(line, "%lx-", &start) == 1 && start == (unsigned long) (uintptr_t) p;
	}
	fclose(maps);
	return found;
}

#define MAX_SLICES 8

/*
 * Carve a block of n slices (asking for zero where ask_zeroed says) and
 * check them, expecting zero where expect_zeroed says; NULL if it failed.
 */
static char *
carve_and_check(const size_t *bytes, const int *ask_zeroed, const int *expect_zeroed, int n, size_t *size)
{
	char	   *at[MAX_SLICES];
	hg_slice	slices[MAX_SLICES];
	char	   *block;
	int			k;

	for (k = 0; k < n; k++)
		slices[k] = (hg_slice) {(void **) &at[k], bytes[k], ask_zeroed[k]};
	block = hg_block_carve(slices, n, size);
	HG_CHECK(block != NULL, "allocation failed");
	if (block != NULL)
		check_slices(block, *size, at, bytes, expect_zeroed, n);
	return block;
}

static void
test_small_block_slices(void)
{
	size_t		bytes[4] = {3, 100, 1000, 64};
	int			zeroed[4] = {0, 1, 0, 1};
	size_t		size = 0;
	char	   *block;
	char	   *dirty = malloc(32768);
	char	   *fence = malloc(64);
	int			k;

	/*
	 * Memory malloc hands out again is not zero: written, then freed with
	 * a live chunk after it (so that it stays a free chunk rather than
	 * going back to the kernel), it is where the block comes from, and a
	 * slice asked zeroed is zero only if hg_block made it so.  (Under
	 * valgrind, reading a slice that was not zeroed is an error anyway.)
	 */
	HG_CHECK(dirty != NULL && fence != NULL, "allocation failed");
	for (k = 0; dirty != NULL && k < 32768; k++)
		((volatile char *) dirty)[k] = (char) 0xa5;	/* volatile: a memset before free() is optimised away */
	free(dirty);
	block = carve_and_check(bytes, zeroed, zeroed, 4, &size);

	if (block == NULL)
	{
		free(fence);
		return;
	}
	HG_CHECK(size >= 3 + 100 + 1000 + 64, "size %zu is less than the slices", size);
	HG_CHECK(!hg_block_is_mapped(size), "a block of %zu bytes should come from malloc", size);
	hg_block_free(block, size);
	hg_block_free(NULL, 0);		/* allowed, like free(NULL) */
	free(fence);
}

static void
test_large_block_is_an_aligned_mapping(void)
{
	/* the shape of a workspace with 262144-sample receptions: a few 1-2 MB buffers */
	size_t		bytes[5] = {2 * MB + 8, 2 * MB, MB + 100, 41 * 4, 2 * MB};
	int			asked[5] = {0, 1, 0, 1, 0};
#ifdef __linux__
	int			zeroed[5] = {1, 1, 1, 1, 1};	/* a mapping is zero throughout, asked or not */
#else
	int			zeroed[5] = {0, 1, 0, 1, 0};
#endif
	size_t		size = 0;
	char	   *block = carve_and_check(bytes, asked, zeroed, 5, &size);

	if (block == NULL)
		return;
#ifdef __linux__
	HG_CHECK(hg_block_is_mapped(size), "a block of %zu bytes should be a mapping of its own", size);
	HG_CHECK(((uintptr_t) block) % (2 * MB) == 0, "block at %p is not on a 2 MB boundary", (void *) block);
	HG_CHECK(mapping_starts_at(block) == 1, "no mapping starts at the block");
	hg_block_free(block, size);
	HG_CHECK(mapping_starts_at(block) == 0, "the block's mapping is still there after hg_block_free");
#else
	hg_block_free(block, size);
#endif
}

int
main(void)
{
	HG_RUN(test_small_block_slices);
	HG_RUN(test_large_block_is_an_aligned_mapping);
	return HG_TEST_SUMMARY();
}
