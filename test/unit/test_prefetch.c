/*
 * test_prefetch.c
 *    Unit tests of the worker's model threads (src/hg_prefetch.c: glue, but
 *    free of PostgreSQL): whatever the number of threads, the attempts come
 *    out in order and byte-identical to a sequential run; and stopping them,
 *    even right after the start while every thread is mid-attempt, returns
 *    with every thread ended, so that the worker leaves the server as a
 *    single-threaded process (a cancel waits for its exit); a stop only
 *    requested lets them end by themselves, joined later.  Polling without
 *    waiting gives the same attempts, and after a poll that found nothing
 *    the wake-up descriptor becomes readable exactly when the awaited
 *    attempt is ready (the worker waits on it beside its latch).
 */
#include "hg_model.h"
#include "hg_prefetch.h"
#include "hg_test.h"

#include <dirent.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static hg_sample expected;

static void
small_config(hg_config *c)
{
	char		err[HG_ERRMSG_LEN];

	hg_config_init(c);
	if (!hg_config_set(c, "duration_ms", "5", err, sizeof(err)) ||
		!hg_config_set(c, "rx_count_min", "3", err, sizeof(err)) ||
		!hg_config_set(c, "rx_count_max", "5", err, sizeof(err)))
		HG_CHECK(0, "%s", err);
}

/* The next attempt in order, waiting for it on the wake-up descriptor, as the worker does beside its latch. */
static hg_outcome
next_in_order(HgPrefetch *p, hg_sample **sample)
{
	hg_outcome	outcome;

	while (!hg_prefetch_poll(p, sample, &outcome))
	{
		struct pollfd wake = {.fd = hg_prefetch_wait_fd(p),.events = POLLIN};

		(void) poll(&wake, 1, -1);
	}
	return outcome;
}

/* Threads of this process, from /proc/self/task (Linux). */
static int
threads_of_this_process(void)
{
	DIR		   *d = opendir("/proc/self/task");
	struct dirent *e;
	int			n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int
same_sample(const hg_sample *a, const hg_sample *b)
{
	int			k;

	if (a->sample_idx != b->sample_idx || a->n_receivers != b->n_receivers || a->n_iq != b->n_iq ||
		memcmp(&a->tx_lat_deg, &b->tx_lat_deg, sizeof(double)) != 0 ||
		memcmp(&a->gdop, &b->gdop, sizeof(double)) != 0)
		return 0;
	for (k = 0; k < a->n_receivers; k++)
	{
		const hg_reception *x = &a->rx[k];
		const hg_reception *y = &b->rx[k];

		if (x->rx_idx != y->rx_idx || memcmp(&x->delay_s, &y->delay_s, sizeof(double)) != 0 ||
			memcmp(&x->rx_power_dbm, &y->rx_power_dbm, sizeof(double)) != 0 ||
			memcmp(x->iq, y->iq, sizeof(float) * 2 * (size_t) a->n_iq) != 0)
			return 0;
	}
	return 1;
}

static void
test_in_order_and_identical_whatever_the_threads(void)
{
	hg_config	c;
	hg_workspace *ws;
	const int	thread_counts[] = {1, 2, 4};
	const uint64_t first = 7;
	const int	attempts = 30;
	size_t		t;

	small_config(&c);
	ws = hg_workspace_create(&c);
	HG_CHECK(ws != NULL, "workspace");
	if (ws == NULL)
		return;
	for (t = 0; t < sizeof(thread_counts) / sizeof(thread_counts[0]); t++)
	{
		HgPrefetch *p = hg_prefetch_start(&c, 42, first, thread_counts[t], 0);
		int			i;
		int			kept = 0;

		HG_CHECK(p != NULL, "start with %d threads", thread_counts[t]);
		if (p == NULL)
			continue;
		for (i = 0; i < attempts; i++)
		{
			hg_sample  *got;
			hg_outcome	o = next_in_order(p, &got);
			hg_outcome	want = hg_attempt(&c, 42, first + (uint64_t) i, ws, &expected);

			HG_CHECK(o == want, "%d threads, attempt %d: outcome %d, sequential %d",
					 thread_counts[t], i, (int) o, (int) want);
			if (o == HG_KEPT && want == HG_KEPT)
			{
				kept++;
				HG_CHECK(same_sample(got, &expected), "%d threads, attempt %d: sample differs",
						 thread_counts[t], i);
			}
		}
		HG_CHECK(kept > 0, "%d threads: no kept sample in %d attempts", thread_counts[t], attempts);
		hg_prefetch_stop(p);
		HG_CHECK(threads_of_this_process() == 1, "%d threads: %d threads left after stop",
				 thread_counts[t], threads_of_this_process());
	}
	hg_workspace_destroy(ws);
}

static void
test_stop_mid_attempt_ends_every_thread(void)
{
	hg_config	c;
	int			round;

	small_config(&c);
	for (round = 0; round < 20; round++)
	{
		/* stopped at once: the threads are in their first attempts */
		HgPrefetch *p = hg_prefetch_start(&c, 1000 + (uint64_t) round, 0, 4, 0);

		HG_CHECK(p != NULL, "start");
		if (p == NULL)
			return;
		if (round % 2)
		{
			hg_sample  *s;

			(void) next_in_order(p, &s);	/* and with the consumer holding a slot */
		}
		hg_prefetch_stop(p);
		HG_CHECK(threads_of_this_process() == 1, "round %d: %d threads left after stop",
				 round, threads_of_this_process());
	}
}

static void
test_requested_stop_winds_down_without_a_join(void)
{
	hg_config	c;
	int			round;

	small_config(&c);
	for (round = 0; round < 10; round++)
	{
		HgPrefetch *p = hg_prefetch_start(&c, 2000 + (uint64_t) round, 0, 4, 0);
		hg_sample  *s;
		int			waited_ms = 0;

		HG_CHECK(p != NULL, "start");
		if (p == NULL)
			return;
		(void) next_in_order(p, &s);
		hg_prefetch_request_stop(p);
		/* the threads end on their own, each after its attempt: nobody joins them yet */
		while (threads_of_this_process() > 1 && waited_ms < 10000)
		{
			usleep(1000);
			waited_ms++;
		}
		HG_CHECK(threads_of_this_process() == 1, "round %d: %d threads still running %d ms after the request",
				 round, threads_of_this_process(), waited_ms);
		hg_prefetch_stop(p);	/* joins the ended threads and frees */
		HG_CHECK(threads_of_this_process() == 1, "round %d: threads after stop", round);
	}
	hg_prefetch_request_stop(NULL);	/* a job without model threads */
}

static void
test_poll_wakes_when_the_awaited_attempt_is_ready(void)
{
	hg_config	c;
	hg_workspace *ws;
	HgPrefetch *p;
	const int	attempts = 40;
	int			i;
	int			waits = 0;

	small_config(&c);
	ws = hg_workspace_create(&c);
	p = hg_prefetch_start(&c, 77, 3, 1, 0);
	HG_CHECK(ws != NULL && p != NULL, "start");
	if (ws == NULL || p == NULL)
		return;
	for (i = 0; i < attempts; i++)
	{
		hg_sample  *got = NULL;
		hg_outcome	o = HG_KEPT;
		hg_outcome	want = hg_attempt(&c, 77, 3 + (uint64_t) i, ws, &expected);

		/* one thread, a consumer that does nothing else: it is often ahead of the model */
		if (!hg_prefetch_poll(p, &got, &o))
		{
			struct pollfd wake = {.fd = hg_prefetch_wait_fd(p),.events = POLLIN};
			int			ready = poll(&wake, 1, 10000);

			waits++;
			HG_CHECK(ready == 1 && (wake.revents & POLLIN), "attempt %d: no wake-up in 10 s", i);
			HG_CHECK(hg_prefetch_poll(p, &got, &o), "attempt %d: woken, but not ready", i);
		}
		HG_CHECK(o == want, "attempt %d: outcome %d, sequential %d", i, (int) o, (int) want);
		if (o == HG_KEPT && want == HG_KEPT && got != NULL)
			HG_CHECK(same_sample(got, &expected), "attempt %d: sample differs", i);
	}
	HG_CHECK(waits > 0, "the consumer never had to wait in %d attempts", attempts);
	hg_prefetch_stop(p);
	HG_CHECK(threads_of_this_process() == 1, "%d threads left after stop", threads_of_this_process());
	hg_workspace_destroy(ws);
}

int
main(void)
{
	HG_RUN(test_in_order_and_identical_whatever_the_threads);
	HG_RUN(test_stop_mid_attempt_ends_every_thread);
	HG_RUN(test_requested_stop_winds_down_without_a_join);
	HG_RUN(test_poll_wakes_when_the_awaited_attempt_is_ready);
	return HG_TEST_SUMMARY();
}
