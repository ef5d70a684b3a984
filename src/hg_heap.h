/*
 * hg_heap.h
 *    The worker's heap on transparent huge pages, so that its process ends
 *    fast (see hg_heap.c).
 */
#ifndef HG_HEAP_H
#define HG_HEAP_H

/*
 * Grow the heap by a reserve the next allocations are served from, and ask
 * for transparent huge pages there.  Call once, early, after setting
 * M_TRIM_THRESHOLD high enough that the heap never shrinks.  Without glibc
 * or transparent huge pages it does nothing; it never fails.
 */
extern void hg_heap_on_huge_pages(void);

#endif							/* HG_HEAP_H */
