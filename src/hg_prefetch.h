/*
 * hg_prefetch.h
 *    Overlaps the model with the writes and spreads it over cores: model
 *    threads run hg_attempt_ex() for the next attempt indices into spare
 *    workspaces while the worker writes the current sample.  The threads run
 *    only the model (pure C, no PostgreSQL call, all signals blocked), and
 *    results are consumed in attempt order, so the dataset is byte-identical
 *    to a sequential run whatever the number of threads.
 */
#ifndef HG_PREFETCH_H
#define HG_PREFETCH_H

#include <stdbool.h>
#include <stdint.h>

#include "hg_model.h"

typedef struct HgPrefetch HgPrefetch;

/*
 * How long the threads should step aside now, in nanoseconds (0: not at
 * all): asked between receivers, outside any lock of the ring; they sleep
 * in short naps while it stays above 0, unless a stop comes.
 */
typedef uint64_t (*hg_step_aside_fn) (const void *arg);

/*
 * Start threads model threads computing attempts first, first+1, ... with
 * hg_attempt_ex flags; NULL if no thread or not enough memory could be had.
 * stop_requested(stop_arg), unless NULL, is the caller's own stop (a
 * worker's cancel and pause flags), asked by the threads between receivers
 * and called from them (an atomic read): once it is true, a thread at work
 * abandons its attempt, and the threads hand out nothing more and end by
 * themselves (all asleep, the ring full, they end at hg_prefetch_stop).
 * It must stay true, and the consumer must check it before waiting for an
 * attempt (hg_prefetch_wait_fd) and stop, as no attempt not yet done will
 * come.  step_aside(stop_arg), unless NULL, is asked between receivers
 * too (a worker: whether another one is stopping, see hg_shmem.h).
 * memory_budget (bytes, 0: none) bounds the workspaces, one per attempt
 * computed ahead: when an attempt is large, fewer threads and a shorter
 * ring, but never less than one thread and two workspaces (one attempt
 * computed while the caller writes another).  The bytes do not change.
 */
extern HgPrefetch *hg_prefetch_start(const hg_config *cfg, uint64_t seed, uint64_t first,
									 int threads, size_t memory_budget, unsigned flags,
									 hg_abandon_fn stop_requested, hg_step_aside_fn step_aside,
									 const void *stop_arg);

/* What hg_prefetch_start made of its threads and budget: threads, and workspaces. */
extern int	hg_prefetch_threads(const HgPrefetch *p);
extern int	hg_prefetch_ring(const HgPrefetch *p);
extern size_t hg_prefetch_workspace_bytes(const HgPrefetch *p);

/*
 * The next attempt in order, without waiting: true with its outcome and
 * sample (valid until the next call) if it is ready.  If not, false, and
 * the file descriptor of hg_prefetch_wait_fd becomes readable once it is,
 * so that a caller can wait for it and for other events at once (a
 * backend: its latch, which is how a cancel reaches it).  Only a poll after
 * that clears it.
 */
extern bool hg_prefetch_poll(HgPrefetch *p, hg_sample **sample, hg_outcome *outcome);
extern int	hg_prefetch_wait_fd(const HgPrefetch *p);

/*
 * Tell the threads to stop, abandoning the attempt each is in at its next
 * receiver, without waiting: they wind down while the caller does other
 * work (a job's last commit).  hg_prefetch_poll must not be called after
 * it.  NULL is a no-op.
 */
extern void hg_prefetch_request_stop(HgPrefetch *p);

/*
 * Stop the threads (as hg_prefetch_request_stop), discarding attempts
 * computed ahead; returns once they have ended and p is freed.
 */
extern void hg_prefetch_stop(HgPrefetch *p);

#endif							/* HG_PREFETCH_H */
