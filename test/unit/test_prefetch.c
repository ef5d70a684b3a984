/*
 * test_prefetch.c
 *    Unit tests of the worker's model threads (src/hg_prefetch.c: glue, but
 *    free of PostgreSQL): whatever the number of threads, the attempts come
 *    out in order and byte-identical to a sequential run; and stopping them,
 *    even right after the start while every thread is mid-attempt, returns
 *    with every thread ended, so that the worker leaves the server as a
 *    single-threaded process (a cancel waits for its exit); a stop only
 *    requested lets them end by themselves, joined later, and so does the
 *    caller's own stop, which they watch themselves, handing out nothing
 *    cut short after it.  Polling without
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
#include <stdio.h>
#include <stdlib.h>
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

/*
 * The model threads of a running HgPrefetch, by kernel thread id, and which
 * of them can still run code (Linux /proc).
 *
 * Two races of /proc make a plain count of /proc/self/task wrong while
 * threads end, and both were seen on a loaded CI machine.  pthread_join
 * returns when the kernel clears the thread's id, as the thread lets go of
 * the process's memory, a moment before its task leaves the list ("2
 * threads left" right after a join).  And a listing stops short at a task
 * that leaves the list while it is being read, so a live thread after it
 * goes unseen.  So the threads are listed once, while none can be ending
 * (the process's thread count says that the threads of earlier rounds are
 * gone), and each is then looked up by its id: gone, or without a memory
 * map (no VmSize in its status), it runs nothing of ours any more.
 */
typedef struct ModelThreads
{
	pid_t		tid[64];
	int			n;
} ModelThreads;

#define STATUS_LINE_LEN 256

/* The value after "key" (with its colon) in a /proc status file, into value; false if absent or unreadable. */
static int
status_field(const char *path, const char *key, char *value, size_t value_len)
{
	FILE	   *status = fopen(path, "r");
	char		line[STATUS_LINE_LEN];
	size_t		key_len = strlen(key);
	int			found = 0;

	if (status == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), status) != NULL)
		if (strncmp(line, key, key_len) == 0)
		{
			snprintf(value, value_len, "%s", line + key_len);
			found = 1;
		}
	fclose(status);
	return found;
}

/* The "Threads:" figure of /proc/self/status: every task not yet removed, ending or not. */
static int
tasks_of_this_process(void)
{
	char		value[STATUS_LINE_LEN];

	return status_field("/proc/self/status", "Threads:", value, sizeof(value)) ? atoi(value) : -1;
}

/* Lists the threads other than this one, once the process has exactly `started` of them (waits up to 10 s). */
static int
list_model_threads(int started, ModelThreads *m)
{
	DIR		   *d;
	struct dirent *e;
	int			waited_ms;

	m->n = 0;
	for (waited_ms = 0; tasks_of_this_process() != started + 1 && waited_ms < 10000; waited_ms++)
		usleep(1000);
	if ((d = opendir("/proc/self/task")) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL && m->n < (int) (sizeof(m->tid) / sizeof(m->tid[0])))
	{
		pid_t		tid = (pid_t) atoi(e->d_name);

		if (tid > 0 && tid != getpid())
			m->tid[m->n++] = tid;
	}
	closedir(d);
	return m->n;
}

/* How many of the listed threads still have the process's memory: not yet ended. */
static int
still_running(const ModelThreads *m)
{
	int			k;
	int			n = 0;

	for (k = 0; k < m->n; k++)
	{
		char		path[64];
		char		value[STATUS_LINE_LEN];

		snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int) m->tid[k]);
		n += status_field(path, "VmSize:", value, sizeof(value));	/* removed, or no memory map: ended */
	}
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

		if (x->rx_idx != y->rx_idx || x->iq == NULL || y->iq == NULL ||	/* an attempt cut short may lack IQ */
			memcmp(&x->delay_s, &y->delay_s, sizeof(double)) != 0 ||
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
		HgPrefetch *p = hg_prefetch_start(&c, 42, first, thread_counts[t], 0, 0, NULL, NULL, NULL);
		ModelThreads threads;
		int			i;
		int			kept = 0;

		HG_CHECK(p != NULL, "start with %d threads", thread_counts[t]);
		if (p == NULL)
			continue;
		HG_CHECK(list_model_threads(thread_counts[t], &threads) == thread_counts[t],
				 "%d threads asked for, %d found", thread_counts[t], threads.n);
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
		HG_CHECK(still_running(&threads) == 0, "%d threads: %d still running after stop",
				 thread_counts[t], still_running(&threads));
	}
	hg_workspace_destroy(ws);
}

/*
 * A memory budget shrinks the threads and the ring to what fits, never
 * below one thread and two workspaces, and the attempts stay the same.
 */
static void
test_memory_budget_fits_threads_and_ring(void)
{
	hg_config	c;
	hg_workspace *ws;
	size_t		one;
	const struct
	{
		double		workspaces;	/* the budget, in workspaces; 0: none */
		int			threads;	/* expected */
		int			ring;
	}			cases[] = {{0, 4, 10}, {5.5, 4, 5}, {3.9, 2, 3}, {2.5, 1, 2}, {0.5, 1, 2}};
	size_t		k;

	small_config(&c);
	ws = hg_workspace_create(&c);
	HG_CHECK(ws != NULL, "workspace");
	if (ws == NULL)
		return;
	one = hg_workspace_bytes(ws);
	HG_CHECK(one > (size_t) 8 * hg_config_iq_length(&c) * c.rx_count_max, "a workspace holds every receiver's IQ: %zu bytes",
			 one);
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
	{
		HgPrefetch *p = hg_prefetch_start(&c, 42, 0, 4, (size_t) (cases[k].workspaces * (double) one), 0,
										  NULL, NULL, NULL);
		ModelThreads threads;
		int			i;

		HG_CHECK(p != NULL, "start with a budget of %.1f workspaces", cases[k].workspaces);
		if (p == NULL)
			continue;
		HG_CHECK(hg_prefetch_workspace_bytes(p) == one, "workspace bytes %zu, not %zu", hg_prefetch_workspace_bytes(p), one);
		HG_CHECK(hg_prefetch_threads(p) == cases[k].threads && hg_prefetch_ring(p) == cases[k].ring,
				 "a budget of %.1f workspaces: %d threads and %d workspaces, not %d and %d", cases[k].workspaces,
				 hg_prefetch_threads(p), hg_prefetch_ring(p), cases[k].threads, cases[k].ring);
		HG_CHECK(list_model_threads(cases[k].threads, &threads) == cases[k].threads,
				 "%d threads running, not %d", threads.n, cases[k].threads);
		for (i = 0; i < 12; i++)
		{
			hg_sample  *got;
			hg_outcome	o = next_in_order(p, &got);
			hg_outcome	want = hg_attempt(&c, 42, (uint64_t) i, ws, &expected);

			HG_CHECK(o == want && (o != HG_KEPT || same_sample(got, &expected)),
					 "a budget of %.1f workspaces, attempt %d: not what a sequential run gives", cases[k].workspaces, i);
		}
		hg_prefetch_stop(p);
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
		HgPrefetch *p = hg_prefetch_start(&c, 1000 + (uint64_t) round, 0, 4, 0, 0, NULL, NULL, NULL);
		ModelThreads threads;

		HG_CHECK(p != NULL, "start");
		if (p == NULL)
			return;
		HG_CHECK(list_model_threads(4, &threads) == 4, "round %d: %d threads found", round, threads.n);
		if (round % 2)
		{
			hg_sample  *s;

			(void) next_in_order(p, &s);	/* and with the consumer holding a slot */
		}
		hg_prefetch_stop(p);
		HG_CHECK(still_running(&threads) == 0, "round %d: %d threads still running after stop",
				 round, still_running(&threads));
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
		HgPrefetch *p = hg_prefetch_start(&c, 2000 + (uint64_t) round, 0, 4, 0, 0, NULL, NULL, NULL);
		ModelThreads threads;
		hg_sample  *s;
		int			waited_ms = 0;

		HG_CHECK(p != NULL, "start");
		if (p == NULL)
			return;
		HG_CHECK(list_model_threads(4, &threads) == 4, "round %d: %d threads found", round, threads.n);
		(void) next_in_order(p, &s);
		hg_prefetch_request_stop(p);
		/* the threads end on their own, each after its attempt: nobody joins them yet */
		while (still_running(&threads) > 0 && waited_ms < 10000)
		{
			usleep(1000);
			waited_ms++;
		}
		HG_CHECK(still_running(&threads) == 0, "round %d: %d threads still running %d ms after the request",
				 round, still_running(&threads), waited_ms);
		hg_prefetch_stop(p);	/* joins the ended threads and frees */
		HG_CHECK(still_running(&threads) == 0, "round %d: threads after stop", round);
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
	ModelThreads threads;

	small_config(&c);
	ws = hg_workspace_create(&c);
	p = hg_prefetch_start(&c, 77, 3, 1, 0, 0, NULL, NULL, NULL);
	HG_CHECK(ws != NULL && p != NULL, "start");
	if (ws == NULL || p == NULL)
		return;
	HG_CHECK(list_model_threads(1, &threads) == 1, "%d threads found", threads.n);
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
	HG_CHECK(still_running(&threads) == 0, "%d threads still running after stop", still_running(&threads));
	hg_workspace_destroy(ws);
}

/* The configuration of the stop tests: attempts of 7 receivers. */
static void
seven_receivers(hg_config *c)
{
	char		err[HG_ERRMSG_LEN];

	hg_config_init(c);
	if (!hg_config_set(c, "rx_count_min", "7", err, sizeof(err)) ||
		!hg_config_set(c, "rx_count_max", "7", err, sizeof(err)))
		HG_CHECK(0, "%s", err);
}

/*
 * A caller's stop that comes up at the nth time the threads ask it, so
 * from a model thread at work: between two receivers, before an attempt
 * or after one.
 */
typedef struct StopAtLook
{
	int			nth;
	int		   *armed;			/* looks count once the test has listed the threads */
	int		   *looks;
	int		   *up;
} StopAtLook;

static bool
up_from_nth_look(const void *arg)
{
	const StopAtLook *s = arg;

	if (__atomic_load_n(s->armed, __ATOMIC_SEQ_CST) && __atomic_add_fetch(s->looks, 1, __ATOMIC_SEQ_CST) >= s->nth)
		__atomic_store_n(s->up, 1, __ATOMIC_SEQ_CST);
	return __atomic_load_n(s->up, __ATOMIC_SEQ_CST) != 0;
}

/*
 * The caller's own stop (the worker's cancel and pause flags): the threads
 * see it by themselves, with no hg_prefetch_request_stop; the one at work
 * abandons its attempt, and every thread ends, those waiting for room in
 * the ring too.  Nothing handed out, before or after it, is cut short: it
 * is byte-identical to a sequential run.  The consumer checks the stop
 * before it waits, as the worker does.  Attempts of 7 receivers.
 */
static void
test_callers_stop_ends_the_threads_and_hands_out_nothing_cut_short(void)
{
	hg_config	c;
	hg_workspace *ws;
	int			round;

	seven_receivers(&c);
	ws = hg_workspace_create(&c);
	HG_CHECK(ws != NULL, "workspace");
	if (ws == NULL)
		return;
	for (round = 0; round < 10; round++)
	{
		uint64_t	seed = 3000 + (uint64_t) round;
		int			armed = 0;
		int			looks = 0;
		int			up = 0;
		StopAtLook	stop = {.nth = 3 + 11 * round,.armed = &armed,.looks = &looks,.up = &up};
		HgPrefetch *p = hg_prefetch_start(&c, seed, 0, 2, 0, 0, up_from_nth_look, NULL, &stop);
		ModelThreads threads;
		uint64_t	next = 0;
		int			waited_ms = 0;

		HG_CHECK(p != NULL, "start");
		if (p == NULL)
			break;
		HG_CHECK(list_model_threads(2, &threads) == 2, "round %d: %d threads found", round, threads.n);
		__atomic_store_n(&armed, 1, __ATOMIC_SEQ_CST);
		/* consume until the stop, then what is left without waiting: all of it whole */
		while (next < 200)
		{
			hg_sample  *got = NULL;
			hg_outcome	o = HG_KEPT;
			hg_outcome	want;

			if (!hg_prefetch_poll(p, &got, &o))
			{
				struct pollfd wake = {.fd = hg_prefetch_wait_fd(p),.events = POLLIN};

				if (__atomic_load_n(&up, __ATOMIC_SEQ_CST) && still_running(&threads) == 0)
					break;
				(void) poll(&wake, 1, 10);
				continue;
			}
			want = hg_attempt(&c, seed, next, ws, &expected);
			HG_CHECK(o == want, "round %d, attempt %d: outcome %d, sequential %d", round, (int) next, (int) o,
					 (int) want);
			if (o == HG_KEPT && want == HG_KEPT)
				HG_CHECK(same_sample(got, &expected), "round %d, attempt %d: handed out cut short", round,
						 (int) next);
			next++;
		}
		HG_CHECK(__atomic_load_n(&up, __ATOMIC_SEQ_CST), "round %d: the threads never asked the caller's stop", round);
		while (still_running(&threads) > 0 && waited_ms < 10000)
		{
			usleep(1000);
			waited_ms++;
		}
		HG_CHECK(still_running(&threads) == 0, "round %d: %d threads still running %d ms after the caller's stop",
				 round, still_running(&threads), waited_ms);
		hg_prefetch_stop(p);
	}
	hg_workspace_destroy(ws);
}

/* Another worker's stop, as the threads see it: step aside for a second at every look while it is up. */
typedef struct AsideWhileUp
{
	int			up;
	int			looks;
} AsideWhileUp;

static uint64_t
aside_while_up(const void *arg)
{
	AsideWhileUp *a = (AsideWhileUp *) arg;

	(void) __atomic_add_fetch(&a->looks, 1, __ATOMIC_SEQ_CST);
	return __atomic_load_n(&a->up, __ATOMIC_SEQ_CST) ? UINT64_C(1000000000) : 0;
}

/*
 * Threads asked to step aside (another worker is stopping) hand out
 * nothing meanwhile, go on where they were once it ends, byte-identical
 * to a sequential run, and still end at once when stopped while they
 * step aside (they must not wait out the step aside, which here would
 * never end).
 */
static void
test_threads_step_aside_and_a_stop_ends_it(void)
{
	hg_config	c;
	hg_workspace *ws;
	AsideWhileUp aside = {.up = 1};
	HgPrefetch *p;
	ModelThreads threads;
	uint64_t	next;
	int			waited_ms = 0;

	seven_receivers(&c);
	ws = hg_workspace_create(&c);
	HG_CHECK(ws != NULL, "workspace");
	if (ws == NULL)
		return;
	p = hg_prefetch_start(&c, 4000, 0, 2, 0, 0, NULL, aside_while_up, &aside);
	HG_CHECK(p != NULL, "start");
	if (p == NULL)
	{
		hg_workspace_destroy(ws);
		return;
	}
	HG_CHECK(list_model_threads(2, &threads) == 2, "%d threads found", threads.n);
	/* an attempt takes about a millisecond: none comes in 200 ms while the threads step aside */
	for (waited_ms = 0; waited_ms < 200; waited_ms++)
	{
		hg_sample  *got = NULL;
		hg_outcome	o = HG_KEPT;

		HG_CHECK(!hg_prefetch_poll(p, &got, &o), "attempt handed out after %d ms of stepping aside", waited_ms);
		usleep(1000);
	}
	HG_CHECK(__atomic_load_n(&aside.looks, __ATOMIC_SEQ_CST) > 0, "the threads never asked whether to step aside");
	__atomic_store_n(&aside.up, 0, __ATOMIC_SEQ_CST);
	for (next = 0; next < 20; next++)
	{
		hg_sample  *got = NULL;
		hg_outcome	o = next_in_order(p, &got);
		hg_outcome	want = hg_attempt(&c, 4000, next, ws, &expected);

		HG_CHECK(o == want, "attempt %d: outcome %d, sequential %d", (int) next, (int) o, (int) want);
		if (o == HG_KEPT && want == HG_KEPT)
			HG_CHECK(same_sample(got, &expected), "attempt %d differs from a sequential run", (int) next);
	}
	/*
	 * Aside again, with room in the ring (what is ready taken) so that the
	 * threads are inside attempts, then stopped: they end without waiting
	 * for the step aside to end.
	 */
	__atomic_store_n(&aside.up, 1, __ATOMIC_SEQ_CST);
	for (;;)
	{
		hg_sample  *got = NULL;
		hg_outcome	o = HG_KEPT;

		if (!hg_prefetch_poll(p, &got, &o))
			break;
	}
	usleep(20000);
	hg_prefetch_request_stop(p);
	for (waited_ms = 0; still_running(&threads) > 0 && waited_ms < 10000; waited_ms++)
		usleep(1000);
	HG_CHECK(still_running(&threads) == 0, "%d threads still stepping aside %d ms after the stop",
			 still_running(&threads), waited_ms);
	hg_prefetch_stop(p);
	hg_workspace_destroy(ws);
}

int
main(void)
{
	HG_RUN(test_in_order_and_identical_whatever_the_threads);
	HG_RUN(test_memory_budget_fits_threads_and_ring);
	HG_RUN(test_stop_mid_attempt_ends_every_thread);
	HG_RUN(test_requested_stop_winds_down_without_a_join);
	HG_RUN(test_poll_wakes_when_the_awaited_attempt_is_ready);
	HG_RUN(test_callers_stop_ends_the_threads_and_hands_out_nothing_cut_short);
	HG_RUN(test_threads_step_aside_and_a_stop_ends_it);
	return HG_TEST_SUMMARY();
}
