/*
 * heimdall_gen--0.4.0--0.5.0.sql
 *    Update from 0.4.0 to 0.5.0, and the fifth step of every fresh CREATE
 *    EXTENSION (0.1.0, then 0.1.0--0.2.0, 0.2.0--0.3.0, 0.3.0--0.4.0, then
 *    this).
 *
 *    - Events are sent only while the server's NOTIFY queue has room
 *      (below heimdall_gen.event_queue_limit, half of it by default).  A
 *      NOTIFY that finds the queue full fails its transaction's commit, and
 *      any role can fill the queue: with events in every batch's commit, in
 *      the launcher's rounds and in start_job, cancel_job and pause_job, a
 *      full queue stopped every role's jobs.  The library's own events
 *      check the same (src/hg_events.c).
 */
\echo Use "ALTER EXTENSION heimdall_gen UPDATE TO '0.5.0'" to load this file. \quit

-- True while the NOTIFY queue is below heimdall_gen.event_queue_limit, so
-- that job events are sent; else a WARNING (at most every 10 s per session)
-- and false.  Public: the hand status trigger runs as the job's owner, a
-- user who hears no events may ask, and the queue's fill is public anyway
-- (pg_notification_queue_usage()).
CREATE FUNCTION heimdall_gen.event_queue_has_room()
RETURNS boolean LANGUAGE C VOLATILE
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS 'MODULE_PATHNAME', 'hg_event_queue_has_room_sql';
COMMENT ON FUNCTION heimdall_gen.event_queue_has_room() IS
	'Whether job events are being sent: false (with a WARNING saying why) while the server''s NOTIFY queue is over heimdall_gen.event_queue_limit';
GRANT EXECUTE ON FUNCTION heimdall_gen.event_queue_has_room() TO PUBLIC;

-- A JSON event on the channel of a job's owner, when the queue has room.
CREATE OR REPLACE FUNCTION heimdall_gen._notify(owner regrole, payload text)
RETURNS void LANGUAGE sql VOLATILE
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS $$ SELECT pg_catalog.pg_notify(heimdall_gen._channel_of(owner), payload) WHERE heimdall_gen.event_queue_has_room() $$;

-- As in 0.4.0, and no event when the queue has no room: the job owner's
-- hand UPDATE must not fail at its commit for it.
CREATE OR REPLACE FUNCTION heimdall_gen._jobs_hand_status_event()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS $$
DECLARE
	found_channel text;
BEGIN
	IF OLD.status NOT IN ('queued', 'paused') OR NEW.status = OLD.status
	   OR heimdall_gen.current_role_id()::pg_catalog.oid OPERATOR(pg_catalog.=)
		  (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'heimdall_gen') THEN
		RETURN NULL;
	END IF;
	SELECT c.channel INTO found_channel FROM heimdall_gen.event_channels c
	 WHERE c.role_id::pg_catalog.oid OPERATOR(pg_catalog.=) NEW.owner::pg_catalog.oid;
	IF found_channel IS NOT NULL AND heimdall_gen.event_queue_has_room() THEN
		PERFORM pg_catalog.pg_notify(found_channel,
			pg_catalog.format('{"job_id": %s, "event": "status", "status": "%s"}', NEW.job_id, NEW.status));
	END IF;
	RETURN NULL;
END
$$;
