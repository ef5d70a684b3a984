/*
 * hg_prefetch.c
 *    A ring of workspaces between the worker (the consumer, which writes in
 *    attempt order) and n model threads (producers), see hg_prefetch.h.
 *    Deliberately free of PostgreSQL calls: the threads must never touch
 *    palloc, elog or shared state of the backend.
 *
 *    Each thread claims the next attempt index not yet claimed, computes it
 *    into the slot (index mod ring) and marks it done; the consumer takes
 *    slots strictly in index order.  Threads wait on a condition variable
 *    for room in the ring; the consumer waits on an eventfd instead, which a
 *    backend can wait on together with its latch.  The threads also watch
 *    the caller's stop (the worker's cancel and pause flags) themselves, so
 *    that they give up the CPUs as soon as it comes.  Every attempt is a pure
 *    function of (config, seed, index) computed in a workspace of its own,
 *    so neither the bytes nor the numbering depend on the number of threads
 *    or on which thread computed what.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "hg_prefetch.h"

#define MAX_THREADS 16			/* heimdall_gen.model_threads' maximum */
#define MAX_RING (MAX_THREADS * 2 + 2)
#define STEP_ASIDE_NAP_NS 250000	/* a stop is seen within this while stepping aside */

struct HgPrefetch
{
	pthread_mutex_t mutex;
	pthread_cond_t changed;
	const hg_config *cfg;
	uint64_t	seed;
	unsigned	flags;			/* hg_attempt_ex flags: labels only for virtual datasets */
	int			ring;			/* slots: what is computed ahead, plus the one being written */
	int			threads;		/* started, and joined by hg_prefetch_stop */
	size_t		workspace_bytes;	/* what one workspace reserved */
	pthread_t	thread[MAX_THREADS];
	uint64_t	next_to_compute;	/* next attempt index no thread has claimed */
	uint64_t	next_to_consume;	/* the consumer's next attempt index */
	bool		consumer_holds; /* the consumer is using slot next_to_consume */
	bool		consumer_waits; /* for attempt next_to_consume, on wake_fd */
	int			wake_fd;		/* an eventfd, written when that attempt is done */
	bool		stopping;
	int			abandon;		/* stopping, for the model: read without the mutex */
	hg_abandon_fn stop_requested;	/* the caller's own stop, asked by the threads; may be NULL */
	hg_step_aside_fn step_aside;	/* asked by the threads between receivers; may be NULL */
	const void *stop_arg;
	uint64_t	done[MAX_RING]; /* attempt index + 1 of the result a slot holds, 0 if none */
	hg_workspace *ws[MAX_RING];
	hg_sample	samples[MAX_RING];
	hg_outcome	outcomes[MAX_RING];
};

static void
free_prefetch(HgPrefetch *p)
{
	int			k;

	pthread_mutex_destroy(&p->mutex);
	pthread_cond_destroy(&p->changed);
	close(p->wake_fd);
	for (k = 0; k < p->ring; k++)
		hg_workspace_destroy(p->ws[k]);
	free(p);
}

/*
 * Whether the attempts in progress are thrown away: the consumer asked the
 * threads to stop, or the caller's own stop came up, which the threads see
 * between two receivers, without waiting for the consumer to notice it
 * (the worker sees a cancel between two rows it writes, and a row of a
 * large job takes milliseconds: 15 receivers of 262144 samples cancelled
 * in 12.9 ms instead of 14.6 at the median; for the default configuration
 * no change beyond the noise, docs/performance.md).
 */
static bool
abandon_now(const void *arg)
{
	const HgPrefetch *p = arg;

	return __atomic_load_n(&p->abandon, __ATOMIC_RELAXED) != 0 ||
		(p->stop_requested != NULL && p->stop_requested(p->stop_arg));
}

/*
 * What a thread asks between two receivers, outside the mutex: first it
 * steps aside while the caller says so (another worker is stopping and
 * wants the CPUs), then whether to abandon the attempt.
 */
static bool
between_receivers(const void *arg)
{
	const HgPrefetch *p = arg;
	uint64_t	aside;

	while (p->step_aside != NULL && !abandon_now(p) && (aside = p->step_aside(p->stop_arg)) > 0)
	{
		struct timespec nap = {0, (long) (aside < STEP_ASIDE_NAP_NS ? aside : STEP_ASIDE_NAP_NS)};

		nanosleep(&nap, NULL);
	}
	return abandon_now(p);
}

/*
 * A thread at work that sees the caller's stop ends, and wakes those
 * waiting for room in the ring to end too.  Called with the mutex held.
 */
static void
end_all_threads(HgPrefetch *p)
{
	p->stopping = true;
	pthread_cond_broadcast(&p->changed);
}

static void *
producer(void *arg)
{
	HgPrefetch *p = arg;

	pthread_mutex_lock(&p->mutex);
	for (;;)
	{
		int			slot;
		uint64_t	attempt;

		/* room: an index may be claimed while its slot is not the consumer's or still unread */
		while (!p->stopping && p->next_to_compute >= p->next_to_consume + (uint64_t) p->ring)
			pthread_cond_wait(&p->changed, &p->mutex);
		if (p->stopping)
			break;
		if (abandon_now(p))
		{
			end_all_threads(p);
			break;
		}
		attempt = p->next_to_compute++;
		slot = (int) (attempt % (uint64_t) p->ring);
		pthread_mutex_unlock(&p->mutex);

		p->outcomes[slot] = hg_attempt_ex(p->cfg, p->seed, attempt, p->ws[slot], &p->samples[slot], p->flags);

		pthread_mutex_lock(&p->mutex);
		if (abandon_now(p))
		{
			/*
			 * Maybe cut short: never handed out.  The stop stays up, so the
			 * consumer, which must check it before it waits, stops too.
			 */
			end_all_threads(p);
			break;
		}
		p->done[slot] = attempt + 1;
		if (p->consumer_waits && attempt == p->next_to_consume)
		{
			uint64_t	one = 1;

			p->consumer_waits = false;
			/* cannot fail: the counter was read to 0 when the consumer began to wait */
			(void) !write(p->wake_fd, &one, sizeof(one));
		}
	}
	pthread_mutex_unlock(&p->mutex);
	return NULL;
}

/*
 * Threads and ring within the memory budget, once one workspace has shown
 * its size: as many threads as fit with one workspace more, and the ring
 * (2 per thread + 2 at most) as long as the rest allows.
 */
static void
fit_in_budget(HgPrefetch *p, int *threads, size_t memory_budget)
{
	size_t		fit;

	if (memory_budget == 0)
		return;
	fit = memory_budget / p->workspace_bytes;
	if (fit < 2)
		fit = 2;
	if ((size_t) *threads > fit - 1)
		*threads = (int) (fit - 1);
	if ((size_t) p->ring > fit)
		p->ring = (int) fit;
}

HgPrefetch *
hg_prefetch_start(const hg_config *cfg, uint64_t seed, uint64_t first, int threads, size_t memory_budget,
				  unsigned flags, hg_abandon_fn stop_requested, hg_step_aside_fn step_aside, const void *stop_arg)
{
	HgPrefetch *p = calloc(1, sizeof(HgPrefetch));
	sigset_t	all,
				saved;
	int			k;

	if (p == NULL)
		return NULL;
	if (threads < 1)
		threads = 1;
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	p->ring = threads * 2 + 2;
	if ((p->ws[0] = hg_workspace_create(cfg)) == NULL)
	{
		free(p);
		return NULL;
	}
	p->workspace_bytes = hg_workspace_bytes(p->ws[0]);
	fit_in_budget(p, &threads, memory_budget);
	p->cfg = cfg;
	p->seed = seed;
	p->flags = flags;
	p->stop_requested = stop_requested;
	p->step_aside = step_aside;
	p->stop_arg = stop_arg;
	p->next_to_compute = first;
	p->next_to_consume = first;
	for (k = 0; k < p->ring; k++)
	{
		if (p->ws[k] == NULL && (p->ws[k] = hg_workspace_create(cfg)) == NULL)
			goto fail;
		hg_workspace_abandon_when(p->ws[k], between_receivers, p);
	}
	if ((p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		goto fail;
	pthread_mutex_init(&p->mutex, NULL);
	pthread_cond_init(&p->changed, NULL);
	/* the threads inherit this mask: every signal stays with the backend's main thread */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	pthread_mutex_lock(&p->mutex);
	for (k = 0; k < threads; k++)
	{
		if (pthread_create(&p->thread[p->threads], NULL, producer, p) != 0)
			break;
		p->threads++;
	}
	pthread_mutex_unlock(&p->mutex);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (p->threads > 0)
		return p;
	pthread_mutex_destroy(&p->mutex);
	pthread_cond_destroy(&p->changed);
	close(p->wake_fd);
fail:
	for (k = 0; k < p->ring; k++)
		hg_workspace_destroy(p->ws[k]);
	free(p);
	return NULL;
}

int
hg_prefetch_threads(const HgPrefetch *p)
{
	return p->threads;
}

int
hg_prefetch_ring(const HgPrefetch *p)
{
	return p->ring;
}

size_t
hg_prefetch_workspace_bytes(const HgPrefetch *p)
{
	return p->workspace_bytes;
}

bool
hg_prefetch_poll(HgPrefetch *p, hg_sample **sample, hg_outcome *outcome)
{
	int			slot;
	bool		ready;

	pthread_mutex_lock(&p->mutex);
	if (p->consumer_holds)
	{
		/* the previous result is done with: its slot may be refilled */
		p->done[p->next_to_consume % (uint64_t) p->ring] = 0;
		p->consumer_holds = false;
		p->next_to_consume++;
		pthread_cond_broadcast(&p->changed);
	}
	slot = (int) (p->next_to_consume % (uint64_t) p->ring);
	ready = p->done[slot] == p->next_to_consume + 1;
	if (ready)
	{
		p->consumer_holds = true;
		p->consumer_waits = false;
		*outcome = p->outcomes[slot];
		*sample = &p->samples[slot];
	}
	else
	{
		uint64_t	count;

		/* a wake-up left from an earlier wait would end the next one at once */
		(void) !read(p->wake_fd, &count, sizeof(count));
		p->consumer_waits = true;
	}
	pthread_mutex_unlock(&p->mutex);
	return ready;
}

int
hg_prefetch_wait_fd(const HgPrefetch *p)
{
	return p->wake_fd;
}

void
hg_prefetch_request_stop(HgPrefetch *p)
{
	if (p == NULL)
		return;
	/* attempts in progress are cut short: nobody will read them */
	__atomic_store_n(&p->abandon, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&p->mutex);
	p->stopping = true;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->mutex);
}

void
hg_prefetch_stop(HgPrefetch *p)
{
	int			k;

	if (p == NULL)
		return;
	hg_prefetch_request_stop(p);

	/*
	 * Wait for the threads: at most one receiver of the attempt each is in
	 * (the rest is abandoned; about 0.1 ms), usually nothing, as they wait
	 * for room in the ring while the worker writes.  A process that exits
	 * with threads still running pays far more: the kernel must stop each
	 * one, and a thread that waits for a CPU holds up the process's exit,
	 * and so the cancel, by up to a scheduler slice (measured: 5-15 ms per
	 * cancel on 2 busy cores).
	 */
	for (k = 0; k < p->threads; k++)
		pthread_join(p->thread[k], NULL);
	free_prefetch(p);
}
