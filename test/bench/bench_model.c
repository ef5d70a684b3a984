/*
 * bench_model.c
 *    Benchmark of the signal model on one core: default configuration with
 *    7 receivers of 10,000 complex samples each.  Prints receptions/s,
 *    M complex samples/s, and the cost of a rejected attempt and of a
 *    labels-only kept attempt (HG_ATTEMPT_LABELS_ONLY) as fractions of a
 *    full kept one, all measured in this run; the last line is the summary.
 *    Not a test: it asserts nothing about speed.
 */
#include "hg_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double
cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
set(hg_config *c, const char *key, const char *value)
{
	char		err[HG_ERRMSG_LEN];

	if (!hg_config_set(c, key, value, err, sizeof(err)))
	{
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	int			attempts = argc > 1 ? atoi(argv[1]) : 300;
	hg_config	kept_cfg,
				reject_cfg;
	hg_workspace *ws;
	hg_sample  *s = malloc(sizeof(hg_sample));
	double		t0,
				kept_s,
				reject_s,
				labels_s;
	int			kept = 0,
				labels_kept = 0,
				i;
	uint64_t	receptions;

	hg_config_init(&kept_cfg);
	set(&kept_cfg, "rx_count_min", "7");
	set(&kept_cfg, "rx_count_max", "7");
	reject_cfg = kept_cfg;
	set(&reject_cfg, "noise_floor_dbm", "-50");	/* nothing detected: every attempt rejected */

	ws = hg_workspace_create(&kept_cfg);
	(void) hg_attempt(&kept_cfg, 1, 0, ws, s);	/* warm the caches */
	receptions = hg_workspace_receptions_synthesized(ws);
	t0 = cpu_seconds();
	for (i = 0; i < attempts; i++)
		kept += hg_attempt(&kept_cfg, 1, (uint64_t) i + 1, ws, s) == HG_KEPT;
	kept_s = cpu_seconds() - t0;
	receptions = hg_workspace_receptions_synthesized(ws) - receptions;

	t0 = cpu_seconds();
	for (i = 0; i < attempts * 20; i++)
		(void) hg_attempt(&reject_cfg, 1, (uint64_t) i, ws, s);
	reject_s = (cpu_seconds() - t0) / 20.0;

	t0 = cpu_seconds();
	for (i = 0; i < attempts * 20; i++)
		labels_kept += hg_attempt_ex(&kept_cfg, 1, (uint64_t) (i % attempts) + 1, ws, s,
									 HG_ATTEMPT_LABELS_ONLY) == HG_KEPT;
	labels_s = cpu_seconds() - t0;

	{
		double		per_kept = kept_s / (kept ? kept : 1);
		double		per_reject = reject_s / attempts;
		double		per_labels = labels_s / (labels_kept ? labels_kept : 1);
		double		rec_per_s = receptions / kept_s;

		printf("model: %d attempts, %d kept (%llu receptions) in %.3f s CPU\n", attempts, kept,
			   (unsigned long long) receptions, kept_s);
		printf("model: kept attempt %.3f ms, rejected attempt %.2f us, labels-only kept attempt %.2f us\n",
			   per_kept * 1e3, per_reject * 1e6, per_labels * 1e6);
		printf("bench_model: %.0f receptions/s on one core, %.1f M complex samples/s, rejected attempt = %.3f %% of a kept one, labels-only kept attempt = %.3f %% of a full one\n",
			   rec_per_s, rec_per_s * hg_config_iq_length(&kept_cfg) / 1e6, 100.0 * per_reject / per_kept,
			   100.0 * per_labels / per_kept);
	}
	hg_workspace_destroy(ws);
	free(s);
	return 0;
}
