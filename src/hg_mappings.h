/*
 * hg_mappings.h
 *    The page size of a mapping of this process (see hg_mappings.c).
 */
#ifndef HG_MAPPINGS_H
#define HG_MAPPINGS_H

/*
 * The size of the pages the kernel maps addr's mapping with, in kB (4, or
 * 2048 for huge pages), from /proc/self/smaps; 0 if addr is in no
 * mapping or that cannot be read.
 */
extern unsigned long hg_mapping_page_kb(const void *addr);

#endif							/* HG_MAPPINGS_H */
