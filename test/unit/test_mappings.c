/*
 * test_mappings.c
 *    hg_forget_startup_mappings (src/hg_mappings.c): the page-table entries
 *    of a private read-only file mapping are dropped, and its bytes read
 *    back the same; a read-only mapping holding a private copy of a page
 *    (as ld.so's relocated pages are) and a writable mapping keep theirs.
 *    hg_mapping_page_kb: the page size of the mapping holding an address.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hg_test.h"
#include "hg_mappings.h"

#define PAGES 64

/* Rss of the mapping that starts at addr, in kB, from /proc/self/smaps; -1 if not found. */
static long
rss_kb(const void *addr)
{
	FILE	   *smaps = fopen("/proc/self/smaps", "r");
	char		line[512];
	int			in_mapping = 0;
	long		rss = -1;

	if (smaps == NULL)
		return -1;
	while (fgets(line, sizeof(line), smaps) != NULL)
	{
		unsigned long from,
					to;

		if (sscanf(line, "%lx-%lx ", &from, &to) == 2 && strchr(line, '-') < strchr(line, ' '))
			in_mapping = from == (unsigned long) addr;
		else if (in_mapping && sscanf(line, "Rss: %ld kB", &rss) == 1)
			break;
	}
	fclose(smaps);
	return rss;
}

static void
touch(const volatile unsigned char *p, size_t bytes)
{
	size_t		k;
	unsigned	sum = 0;

	for (k = 0; k < bytes; k += 4096)
		sum += p[k];
	(void) sum;
}

static void
test_read_only_file_pages_are_forgotten_and_private_copies_kept(void)
{
	char		path[] = "/tmp/hg_mappings_XXXXXX";
	int			fd = mkstemp(path);
	long		page = sysconf(_SC_PAGESIZE);
	size_t		bytes = (size_t) PAGES * (size_t) page;
	unsigned char *content = malloc(bytes);
	unsigned char *code,
			   *relocated,
			   *writable;
	size_t		k;
	size_t		forgotten;
	long		relocated_rss,
				writable_rss;

	HG_CHECK(fd >= 0 && content != NULL, "a temporary file");
	if (fd < 0 || content == NULL)
		return;
	for (k = 0; k < bytes; k++)
		content[k] = (unsigned char) (k * 7 + k / 4096);
	HG_CHECK(write(fd, content, bytes) == (ssize_t) bytes, "written");

	/* like a library's code: private, read-only, every page the file's */
	code = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
	/* like ld.so's relocated pages: written, then made read-only */
	relocated = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	/* like a library's data: private and writable */
	writable = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	HG_CHECK(code != MAP_FAILED && relocated != MAP_FAILED && writable != MAP_FAILED, "mapped");
	if (code == MAP_FAILED || relocated == MAP_FAILED || writable == MAP_FAILED)
		return;
	touch(code, bytes);
	touch(relocated, bytes);
	relocated[5] = 0x55;
	HG_CHECK(mprotect(relocated, bytes, PROT_READ) == 0, "made read-only");
	touch(writable, bytes);

	HG_CHECK(rss_kb(code) == (long) (bytes / 1024), "all its pages mapped before: %ld kB", rss_kb(code));
	relocated_rss = rss_kb(relocated);
	writable_rss = rss_kb(writable);
	HG_CHECK(relocated_rss > 0 && writable_rss > 0, "the others' pages mapped: %ld, %ld kB", relocated_rss,
			 writable_rss);

	forgotten = hg_forget_startup_mappings();
	HG_CHECK(forgotten >= bytes, "it says what it advised: %zu bytes", forgotten);
	HG_CHECK(rss_kb(code) == 0, "no page of the read-only file mapping is left mapped: %ld kB", rss_kb(code));
	HG_CHECK(memcmp(code, content, bytes) == 0, "and its bytes read back the file's");
	HG_CHECK(rss_kb(relocated) == relocated_rss, "a read-only mapping with a private copy is left alone: %ld kB",
			 rss_kb(relocated));
	HG_CHECK(relocated[5] == 0x55, "and its private copy kept");
	HG_CHECK(rss_kb(writable) == writable_rss, "a writable mapping is left alone: %ld kB", rss_kb(writable));

	munmap(code, bytes);
	munmap(relocated, bytes);
	munmap(writable, bytes);
	close(fd);
	unlink(path);
	free(content);
}

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
	HG_RUN(test_read_only_file_pages_are_forgotten_and_private_copies_kept);
	HG_RUN(test_page_size_of_a_mapping);
	return HG_TEST_SUMMARY();
}
