/*
 * hg_walfd.h
 *    Letting go of a removed WAL segment the worker still holds open (see
 *    hg_walfd.c).  Free of PostgreSQL: unit-tested without a server.
 */
#ifndef HG_WALFD_H
#define HG_WALFD_H

/*
 * Points every descriptor of this process that refers to a removed WAL
 * segment (a file named like one, in a directory named pg_wal, with no
 * link left) at stand_in, a regular file opened read-only, which frees the
 * segment now.  Returns how many it released, or -1 when /proc/self/fd or
 * stand_in cannot be opened.
 */
extern int	hg_release_removed_wal_segments(const char *stand_in);

#endif							/* HG_WALFD_H */
