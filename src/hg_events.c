/*
 * hg_events.c
 *    The room left in the server's NOTIFY queue, checked before a job's
 *    event is queued; and its SQL face, heimdall_gen.event_queue_has_room(),
 *    for the events the SQL functions and triggers send.
 *
 * Why.  A NOTIFY is added to the server-wide queue at its transaction's
 * commit, and when the queue is full that commit fails ("too many
 * notifications in the NOTIFY queue").  Any role can fill it: one session
 * LISTENs and stays inside a transaction, so that nothing read after it is
 * ever removed, and others notify 8 GB.  Events went out in the commits of
 * a worker's batches, of the launcher's rounds, of start_job, cancel_job
 * and pause_job: a full queue stopped every role's jobs (each batch failed
 * and its worker exited), made the launcher fail every round, and refused
 * every call.  Events are hints, the jobs table is the truth, so they are
 * dropped instead, long before the queue is full: the check is made
 * milliseconds before the commit, and filling the other half of the queue
 * takes tens of seconds.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "hg_events.h"
#include "hg_guc.h"

#define WARNING_INTERVAL_MS 10000

bool
hg_event_queue_has_room(void)
{
	static TimestampTz last_warning = 0;
	LOCAL_FCINFO(fcinfo, 0);
	double		usage;

	/* pg_notification_queue_usage() first moves the tail past what every listener has read */
	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	usage = DatumGetFloat8(pg_notification_queue_usage(fcinfo));
	if (usage < hg_event_queue_limit)
		return true;
	if (TimestampDifferenceExceeds(last_warning, GetCurrentTimestamp(), WARNING_INTERVAL_MS))
	{
		last_warning = GetCurrentTimestamp();
		ereport(WARNING,
				(errmsg("heimdall_gen sends no job events while the NOTIFY queue is %.1f%% full",
						usage * 100.0),
				 errdetail("heimdall_gen.event_queue_limit is %.1f%%; jobs run on, and their status "
						   "is in heimdall_gen.jobs.", hg_event_queue_limit * 100.0),
				 errhint("A session that is listening and stays in a transaction keeps the queue "
						 "from emptying: see pg_notification_queue_usage() and pg_stat_activity.")));
	}
	return false;
}

PG_FUNCTION_INFO_V1(hg_event_queue_has_room_sql);

/* heimdall_gen.event_queue_has_room(): for _notify(), the hand status trigger, and users. */
Datum
hg_event_queue_has_room_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(hg_event_queue_has_room());
}
