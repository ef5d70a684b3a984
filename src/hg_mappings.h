/*
 * hg_mappings.h
 *    Forget the page-table entries of read-only file mappings touched while
 *    the worker started, so that its process ends fast, and tell the page
 *    size of a mapping (see hg_mappings.c).
 */
#ifndef HG_MAPPINGS_H
#define HG_MAPPINGS_H

#include <stddef.h>

/*
 * Drop this process's page-table entries of private, read-only file
 * mappings that hold no private page (the code and read-only data of the
 * server and its libraries).  Returns the bytes of address space so
 * advised, 0 where it cannot read /proc/self/smaps.  Never fails; the next
 * access maps a page again from the page cache.
 */
extern size_t hg_forget_startup_mappings(void);

/*
 * The size of the pages the kernel maps addr's mapping with, in kB (4, or
 * 2048 for huge pages), from /proc/self/smaps; 0 if addr is in no
 * mapping or that cannot be read.
 */
extern unsigned long hg_mapping_page_kb(const void *addr);

#endif							/* HG_MAPPINGS_H */
