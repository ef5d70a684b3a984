/*
 * heimdall_gen--0.6.0--0.7.0.sql
 *    Update from 0.6.0 to 0.7.0, and the seventh step of every fresh CREATE
 *    EXTENSION (0.1.0, then each update script in turn, then this).
 *
 *    - A hand UPDATE of a queued or paused job's status sends its event
 *      whoever writes it, the role that owns the extension included.  The
 *      trigger used to tell the extension's own statements (which send
 *      their events themselves) by the role they run as, the extension's
 *      owner; so the owner's own hand UPDATE, the usual case where one role
 *      does everything, was announced to nobody, and a watcher waited for
 *      its next re-read of the row.  The library now says which statements
 *      are its own.
 *    - sigmf() writes its labels at full precision whatever the caller's
 *      extra_float_digits (a session, role or database setting below 0
 *      rounded delay_s to one digit; an attacker's review).
 */
\echo Use "ALTER EXTENSION heimdall_gen UPDATE TO '0.7.0'" to load this file. \quit

-- Whether the statement running is the extension's own (the library's
-- statements run as the extension's owner, and every statement of a
-- worker or a launcher).  Reveals nothing of anyone's data: every role
-- that may update a job's row runs the trigger below, which asks it.
CREATE FUNCTION heimdall_gen._own_statement()
RETURNS boolean LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'hg_own_statement_sql';
GRANT EXECUTE ON FUNCTION heimdall_gen._own_statement() TO PUBLIC;

-- As in 0.5.0, the extension's own statements told by the library, not
-- by the role they run as.
CREATE OR REPLACE FUNCTION heimdall_gen._jobs_hand_status_event()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS $$
DECLARE
	found_channel text;
BEGIN
	IF OLD.status NOT IN ('queued', 'paused') OR NEW.status = OLD.status OR heimdall_gen._own_statement() THEN
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

-- jsonb_build_object writes a double precision as float8out does, to the
-- caller's extra_float_digits: the function sets its own
ALTER FUNCTION heimdall_gen.sigmf(text, bigint) SET extra_float_digits = 3;
