/*
 * hg_prefetch.c
 *    A four-slot ring between the worker (consumer) and one model thread
 *    (producer), see hg_prefetch.h.  Deliberately free of PostgreSQL calls:
 *    the thread must never touch palloc, elog or shared state of the backend.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "hg_prefetch.h"

/*
 * Slots: the one the worker is writing plus up to three computed ahead.  Two
 * (one ahead) left the writer waiting whenever one attempt was slow to make
 * or the thread lost its core for a moment; four hides that.  Each slot is a
 * workspace of about a megabyte, so memory stays flat.
 */
#define RING 4

struct HgPrefetch
{
	pthread_t	thread;
	pthread_mutex_t mutex;
	pthread_cond_t changed;
	const hg_config *cfg;
	uint64_t	seed;
	uint64_t	next_to_compute;	/* producer's next attempt index */
	uint64_t	next_to_consume;	/* consumer's next attempt index */
	int			ready;			/* slots computed and not yet consumed */
	bool		consumer_holds;		/* the consumer is using the oldest slot */
	bool		stopping;
	hg_workspace *ws[RING];
	hg_sample	samples[RING];
	hg_outcome	outcomes[RING];
};

static void
free_prefetch(HgPrefetch *p)
{
	int			k;

	pthread_mutex_destroy(&p->mutex);
	pthread_cond_destroy(&p->changed);
	for (k = 0; k < RING; k++)
		hg_workspace_destroy(p->ws[k]);
	free(p);
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

		/* room: ready counts every computed slot, the one the consumer holds included */
		while (!p->stopping && p->ready >= RING)
			pthread_cond_wait(&p->changed, &p->mutex);
		if (p->stopping)
			break;
		attempt = p->next_to_compute;
		slot = (int) (attempt % RING);
		pthread_mutex_unlock(&p->mutex);

		p->outcomes[slot] = hg_attempt(p->cfg, p->seed, attempt, p->ws[slot], &p->samples[slot]);

		pthread_mutex_lock(&p->mutex);
		p->next_to_compute++;
		p->ready++;
		pthread_cond_broadcast(&p->changed);
	}
	pthread_mutex_unlock(&p->mutex);
	free_prefetch(p);			/* the consumer let go of it in hg_prefetch_stop */
	return NULL;
}

HgPrefetch *
hg_prefetch_start(const hg_config *cfg, uint64_t seed, uint64_t first)
{
	HgPrefetch *p = calloc(1, sizeof(HgPrefetch));
	sigset_t	all,
				saved;
	int			k,
				rc;

	if (p == NULL)
		return NULL;
	p->cfg = cfg;
	p->seed = seed;
	p->next_to_compute = first;
	p->next_to_consume = first;
	for (k = 0; k < RING; k++)
		if ((p->ws[k] = hg_workspace_create(cfg)) == NULL)
			goto fail;
	pthread_mutex_init(&p->mutex, NULL);
	pthread_cond_init(&p->changed, NULL);
	/* the thread inherits this mask: every signal stays with the backend's main thread */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	rc = pthread_create(&p->thread, NULL, producer, p);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (rc == 0)
		return p;
	pthread_mutex_destroy(&p->mutex);
	pthread_cond_destroy(&p->changed);
fail:
	for (k = 0; k < RING; k++)
		hg_workspace_destroy(p->ws[k]);
	free(p);
	return NULL;
}

hg_outcome
hg_prefetch_next(HgPrefetch *p, hg_sample **sample)
{
	int			slot;
	hg_outcome	outcome;

	pthread_mutex_lock(&p->mutex);
	if (p->consumer_holds)
	{
		/* the previous result is done with: its slot may be refilled */
		p->consumer_holds = false;
		p->ready--;
		p->next_to_consume++;
		pthread_cond_broadcast(&p->changed);
	}
	while (p->ready == 0)
		pthread_cond_wait(&p->changed, &p->mutex);
	slot = (int) (p->next_to_consume % RING);
	p->consumer_holds = true;
	outcome = p->outcomes[slot];
	pthread_mutex_unlock(&p->mutex);
	*sample = &p->samples[slot];
	return outcome;
}

void
hg_prefetch_stop(HgPrefetch *p)
{
	pthread_t	thread;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mutex);
	thread = p->thread;
	p->stopping = true;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->mutex);

	/*
	 * Do not wait for the attempt the thread may be in the middle of: that
	 * is up to a few milliseconds a cancel would pay before the worker frees
	 * its slot.  From here the thread owns p and frees it when that attempt
	 * ends; if the process exits first, the thread ends with it.
	 */
	pthread_detach(thread);
}
