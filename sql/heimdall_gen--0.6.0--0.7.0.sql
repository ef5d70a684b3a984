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
 *    - drop_dataset names the status of the job that holds the dataset: a
 *      paused job was said to be "writing" it (a user's review).
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

-- As in 0.2.0, the refusal naming the job's status: a paused or queued job
-- holds the dataset without writing it.
CREATE OR REPLACE FUNCTION heimdall_gen._drop_dataset(caller regrole, name text)
RETURNS bigint LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS $$
DECLARE
	me			regrole := caller;
	ds			heimdall_gen.datasets;
	busy		heimdall_gen.jobs;
	removed		bigint;
BEGIN
	SELECT * INTO ds FROM heimdall_gen.datasets d WHERE d.name = _drop_dataset.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'dataset "%" does not exist', _drop_dataset.name
			USING ERRCODE = 'undefined_object';
	END IF;
	IF ds.owner <> me AND NOT pg_catalog.pg_has_role(me, 'heimdall_gen_admin', 'USAGE') THEN
		RAISE EXCEPTION 'permission denied to drop dataset "%"', _drop_dataset.name
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Only the dataset''s owner or a member of heimdall_gen_admin may drop it.';
	END IF;
	SELECT * INTO busy FROM heimdall_gen.jobs j
	 WHERE j.dataset_id = ds.dataset_id AND j.status IN ('queued', 'running', 'paused') ORDER BY j.job_id LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'dataset "%" has a job that is not over: job % is %', _drop_dataset.name, busy.job_id, busy.status
			USING ERRCODE = 'object_in_use',
				  HINT = 'Cancel the job first: SELECT heimdall_gen.cancel_job(' || busy.job_id || ', wait => true);';
	END IF;
	SELECT count(*) INTO removed FROM heimdall_gen.samples s WHERE s.dataset_id = ds.dataset_id;
	DELETE FROM heimdall_gen.receptions r WHERE r.dataset_id = ds.dataset_id;
	DELETE FROM heimdall_gen.samples s WHERE s.dataset_id = ds.dataset_id;
	DELETE FROM heimdall_gen.jobs j WHERE j.dataset_id = ds.dataset_id;
	DELETE FROM heimdall_gen.datasets d WHERE d.dataset_id = ds.dataset_id;
	RETURN removed;
END
$$;
