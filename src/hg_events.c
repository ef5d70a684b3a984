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
 *
 * Also the lookup of a role's channel for the events the extension's own
 * processes send (the launcher, the workers, a cancel or pause of another
 * role's job): they read the channel's row and never make it.  Making it
 * (INSERT ... ON CONFLICT, in _channel_of) waits for any transaction that
 * has inserted the same role's row and not committed, and the role itself
 * can leave one open (BEGIN; SELECT heimdall_gen.event_channel();): an
 * attacker's review stopped the launcher for every role, and pinned her
 * workers in their slots, holding their job rows against an admin's
 * cancel, for as long as she liked.  A role without a committed channel has
 * no listener (its name comes from event_channel()), so nothing is lost by
 * sending it nothing.
 *
 * Also NOTIFY's commit lock, taken first, with a bounded wait, by a
 * background process's commit that must not wait behind another session.
 */
#include "postgres.h"

#include "catalog/pg_database_d.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "hg_events.h"
#include "hg_guc.h"
#include "hg_sql.h"

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

char *
hg_event_channel_of(Oid role, MemoryContext result_context)
{
	Oid			types[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(role)};
	bool		isnull;
	Datum		channel;

	if (hg_spi_as_owner("SELECT c.channel FROM heimdall_gen.event_channels c WHERE c.role_id = $1::pg_catalog.regrole",
						1, types, args, NULL, true) != SPI_OK_SELECT)
		elog(ERROR, "could not read the event channel of role %u", role);
	if (SPI_processed != 1)
		return NULL;
	channel = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return NULL;
	return MemoryContextStrdup(result_context, TextDatumGetCString(channel));
}

void
hg_send_event(Oid role, const char *payload)
{
	char	   *channel;

	if (!hg_event_queue_has_room())
		return;
	channel = hg_event_channel_of(role, CurrentMemoryContext);
	if (channel != NULL)
		Async_Notify(channel, payload);
}

/*
 * PostgreSQL serializes the commits that carry NOTIFYs with a lock on the
 * database class, held from before the commit until after it
 * (PreCommit_Notify, async.c), a wait for a synchronous standby included:
 * one session stuck there holds every notifying commit of the cluster.
 * Taken first, the commit then finds it held.
 *
 * Any role can make a commit stuck so (a NOTIFY and a write, the standby
 * away): every worker's batch commit, which carries a progress
 * event, then waited behind it, and every job stood still for as long (a
 * review of the README's promise that events never stop jobs).  A
 * background process sends a progress event only when it gets the lock at
 * once, and a status event when it gets it within 100 ms: another
 * session's ordinary commit holds it for microseconds (another worker's
 * batch), and a status event ('completed', 'cancelled') is worth a short
 * wait, which no commit stuck on a standby outlasts.
 */
bool
hg_event_commit_lock_within_ms(int ms)
{
	LOCKTAG		tag;

	SET_LOCKTAG_OBJECT(tag, InvalidOid, DatabaseRelationId, InvalidOid, 0);
	return hg_lock_within_ms(&tag, AccessExclusiveLock, ms);
}
