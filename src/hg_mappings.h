/*
 * hg_mappings.h
 *    Forget the page-table entries of read-only file mappings touched while
 *    the worker started, so that its process ends fast (see hg_mappings.c).
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

#endif							/* HG_MAPPINGS_H */
