/*
 * test_mappings.c
 *    hg_mapping_page_kb (src/hg_mappings.c): the page size of the mapping
 *    holding an address, and 0 for an address in no mapping.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "hg_test.h"
#include "hg_mappings.h"

/* The page size of a shared anonymous mapping (PostgreSQL's shared memory without huge pages), and of no mapping. */
static void
test_page_size_of_a_mapping(void)
{
	size_t		page = (size_t) sysconf(_SC_PAGESIZE);
	unsigned char *shared = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	HG_CHECK(shared != MAP_FAILED, "a shared mapping of three pages");
	if (shared == MAP_FAILED)
		return;
	shared[0] = 1;
	HG_CHECK(hg_mapping_page_kb(shared) == page / 1024, "its first page: %lu kB", hg_mapping_page_kb(shared));
	HG_CHECK(hg_mapping_page_kb(shared + 3 * page - 1) == page / 1024, "its last byte: %lu kB",
			 hg_mapping_page_kb(shared + 3 * page - 1));
	/* the middle page unmapped: a hole between two mappings */
	munmap(shared + page, page);
	HG_CHECK(hg_mapping_page_kb(shared + page + 100) == 0, "an address in no mapping: %lu",
			 hg_mapping_page_kb(shared + page + 100));
	HG_CHECK(hg_mapping_page_kb(shared + 2 * page) == page / 1024, "the mapping after the hole: %lu kB",
			 hg_mapping_page_kb(shared + 2 * page));
	munmap(shared, page);
	munmap(shared + 2 * page, page);
}

int
main(void)
{
	HG_RUN(test_page_size_of_a_mapping);
	return HG_TEST_SUMMARY();
}
