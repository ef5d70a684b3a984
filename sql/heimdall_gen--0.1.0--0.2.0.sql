/*
 * heimdall_gen--0.1.0--0.2.0.sql
 *    Update from 0.1.0 to 0.2.0, and (since there is no 0.2.0 install
 *    script) the second half of every fresh CREATE EXTENSION, which runs
 *    heimdall_gen--0.1.0.sql and then this: a fresh install and an upgrade
 *    are the same schema by construction.
 *
 *    0.2.0 closes the holes an ordinary role had (issue 8): tables are
 *    written only by the extension's functions and workers (PUBLIC keeps no
 *    INSERT, UPDATE or DELETE but the hand cancel of its own jobs and its own
 *    receiver networks); owners become role OIDs (regrole), so renaming a
 *    role keeps its jobs and a new role of a dropped role's name gets none of
 *    them; every function pins its search_path and uses qualified names;
 *    events go to a private channel per role.  It also registers the tables
 *    for pg_dump and records the model version of every dataset.
 */
\echo Use "ALTER EXTENSION heimdall_gen UPDATE TO '0.2.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- The admin role.  Members may cancel, pause and resume every job and see
-- every job.  heimdall_gen--0.1.0.sql created it if it was missing.  A role
-- of that name that existed before, with members or powers of its own, was
-- made by someone else for something else: silently handing it control
-- over every job would be a hole, so a fresh CREATE EXTENSION refuses.  An
-- upgrade keeps whatever the installation already had (with a warning).
-- The role made or adopted here is marked, and the module's utility hook
-- drops it with the extension.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
	r			record;
	marker		constant text := 'heimdall_gen: created by CREATE EXTENSION heimdall_gen';
	fresh_install boolean;
	made_now	boolean;
BEGIN
	SELECT a.oid, a.rolcanlogin OR a.rolsuper OR a.rolcreaterole OR a.rolcreatedb OR a.rolreplication
				  OR a.rolbypassrls AS powers,
		   EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m WHERE m.roleid = a.oid) AS has_members,
		   pg_catalog.shobj_description(a.oid, 'pg_authid') AS comment,
		   a.xmin::text::bigint AS xmin
	  INTO r FROM pg_catalog.pg_authid a WHERE a.rolname = 'heimdall_gen_admin';
	IF NOT FOUND THEN
		CREATE ROLE heimdall_gen_admin NOLOGIN;
		EXECUTE pg_catalog.format('COMMENT ON ROLE heimdall_gen_admin IS %L', marker);
		RETURN;
	END IF;
	IF r.comment IS NOT DISTINCT FROM marker THEN
		RETURN;					-- ours (made for another database of this cluster)
	END IF;
	-- made by heimdall_gen--0.1.0.sql in this very transaction?
	made_now := r.xmin = (pg_catalog.pg_current_xact_id()::text::bigint & 4294967295);
	SELECT e.xmin::text::bigint = (pg_catalog.pg_current_xact_id()::text::bigint & 4294967295)
	  INTO fresh_install FROM pg_catalog.pg_extension e WHERE e.extname = 'heimdall_gen';
	IF made_now OR NOT (r.powers OR r.has_members) THEN
		EXECUTE pg_catalog.format('COMMENT ON ROLE heimdall_gen_admin IS %L', marker);
	ELSIF fresh_install THEN
		RAISE EXCEPTION 'role "heimdall_gen_admin" already exists and was not created by heimdall_gen'
			USING ERRCODE = 'duplicate_object',
				  DETAIL = 'It has members or attributes of its own; members of heimdall_gen_admin may '
						   'cancel, pause and resume every job, so heimdall_gen will not adopt it.',
				  HINT = 'Rename or drop that role (or remove its members and attributes), then create the extension again.';
	ELSE
		RAISE WARNING 'role "heimdall_gen_admin" existed before heimdall_gen and has members or attributes'
			USING DETAIL = 'Its members may cancel, pause and resume every job; it is kept when the extension is dropped.';
	END IF;
END
$$;

-- ---------------------------------------------------------------------------
-- Owners by OID
-- ---------------------------------------------------------------------------

-- The role the current statement runs as (current_user), as an OID: what
-- owner columns hold and policies compare with.
CREATE FUNCTION heimdall_gen.current_role_id()
RETURNS regrole LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'hg_current_role_id';

-- The old policies compare owner names; they go before the columns change.
DROP POLICY own_datasets ON heimdall_gen.datasets;
DROP POLICY own_jobs ON heimdall_gen.jobs;
DROP POLICY own_samples ON heimdall_gen.samples;
DROP POLICY own_receptions ON heimdall_gen.receptions;
DROP POLICY read_receivers ON heimdall_gen.receivers;
DROP POLICY own_receivers ON heimdall_gen.receivers;
DROP VIEW heimdall_gen.job_progress;

-- A row whose role was dropped under 0.1.0 belongs to no role (OID 0,
-- shown as "-"): visible to superusers and admins, run by nobody.
CREATE FUNCTION heimdall_gen._role_of_name(role_name name) RETURNS regrole
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT coalesce((SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = role_name), 0)::regrole $$;
ALTER TABLE heimdall_gen.datasets ALTER COLUMN owner DROP DEFAULT,
	ALTER COLUMN owner TYPE regrole USING heimdall_gen._role_of_name(owner);
ALTER TABLE heimdall_gen.jobs ALTER COLUMN owner DROP DEFAULT,
	ALTER COLUMN owner TYPE regrole USING heimdall_gen._role_of_name(owner);
ALTER TABLE heimdall_gen.receivers DROP CONSTRAINT receivers_pkey,
	ALTER COLUMN owner DROP DEFAULT,
	ALTER COLUMN owner TYPE regrole USING heimdall_gen._role_of_name(owner),
	ALTER COLUMN owner SET DEFAULT heimdall_gen.current_role_id(),
	ADD PRIMARY KEY (owner, network, name);
DROP FUNCTION heimdall_gen._role_of_name(name);
COMMENT ON TABLE heimdall_gen.receivers IS 'Fixed receiver networks, each role its own; start_job(params => {"receiver_network": "<network>"}) uses one';
COMMENT ON TABLE heimdall_gen.jobs IS 'Generation jobs; its owner may UPDATE status to cancelled or paused, which the worker honours within 10 samples';

-- The model version whose bytes a dataset holds: a dataset is extended,
-- resumed or regenerated only by the same model version.  0.1.0 had model 1.
ALTER TABLE heimdall_gen.datasets ADD COLUMN model_version integer NOT NULL DEFAULT 1;
ALTER TABLE heimdall_gen.datasets ALTER COLUMN model_version DROP DEFAULT;

-- What a job does: generate samples, or fill the IQ of a virtual dataset.
ALTER TABLE heimdall_gen.jobs ADD COLUMN kind text NOT NULL DEFAULT 'generate'
	CHECK (kind IN ('generate', 'materialize'));


-- One private NOTIFY channel per role: an unguessable name that only the
-- role itself (through event_channel()) and the extension can read, so a
-- LISTEN of another role hears nothing of its jobs.
CREATE TABLE heimdall_gen.event_channels (
	role_id		regrole PRIMARY KEY,
	channel		text NOT NULL UNIQUE
);

-- pg_dump keeps the users' data (and the identity counters, so that ids
-- continue past the restored ones); see README, "Dump, restore, move".
SELECT pg_catalog.pg_extension_config_dump('heimdall_gen.datasets', '');
SELECT pg_catalog.pg_extension_config_dump('heimdall_gen.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('heimdall_gen.samples', '');
SELECT pg_catalog.pg_extension_config_dump('heimdall_gen.receptions', '');
SELECT pg_catalog.pg_extension_config_dump('heimdall_gen.receivers', '');
SELECT pg_catalog.pg_extension_config_dump('heimdall_gen.datasets_dataset_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('heimdall_gen.jobs_job_id_seq', '');

-- ---------------------------------------------------------------------------
-- Functions implemented in C.  Each pins search_path: a function that runs
-- SQL (some of it as the extension's owner) must never resolve a name, an
-- operator or a cast through a schema a user controls.
-- ---------------------------------------------------------------------------

ALTER FUNCTION heimdall_gen.resolve_params(jsonb) SET search_path = pg_catalog, heimdall_gen, pg_temp;
ALTER FUNCTION heimdall_gen._wake_launcher() SET search_path = pg_catalog, heimdall_gen, pg_temp;
ALTER FUNCTION heimdall_gen.cancel_job(bigint, boolean) SET search_path = pg_catalog, heimdall_gen, pg_temp;
ALTER FUNCTION heimdall_gen.pause_job(bigint) SET search_path = pg_catalog, heimdall_gen, pg_temp;
ALTER FUNCTION heimdall_gen.resume_job(bigint) SET search_path = pg_catalog, heimdall_gen, pg_temp;
ALTER FUNCTION heimdall_gen.wait_job(bigint, interval) SET search_path = pg_catalog, heimdall_gen, pg_temp;
ALTER FUNCTION heimdall_gen.worker_slots() SET search_path = pg_catalog, heimdall_gen, pg_temp;
COMMENT ON FUNCTION heimdall_gen.worker_slots() IS
	'Live progress of the running jobs of this database: the caller''s own, or every job for heimdall_gen_admin';

-- Refuses when this library does not serve the installed SQL version.
CREATE FUNCTION heimdall_gen._check_library()
RETURNS void LANGUAGE C VOLATILE
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS 'MODULE_PATHNAME', 'hg_check_library';

-- ---------------------------------------------------------------------------
-- Events
-- ---------------------------------------------------------------------------

-- The channel of a role, made on first use (for the extension's own code).
CREATE FUNCTION heimdall_gen._channel_of(for_role regrole)
RETURNS text LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS $$
DECLARE
	found_channel text;
BEGIN
	SELECT c.channel INTO found_channel FROM heimdall_gen.event_channels c WHERE c.role_id = for_role;
	IF found_channel IS NULL THEN
		INSERT INTO heimdall_gen.event_channels AS c (role_id, channel)
		VALUES (for_role, 'heimdall_gen_' || pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''))
		ON CONFLICT ON CONSTRAINT event_channels_pkey DO NOTHING;
		SELECT c.channel INTO found_channel FROM heimdall_gen.event_channels c WHERE c.role_id = for_role;
	END IF;
	RETURN found_channel;
END
$$;

-- A JSON event on the channel of a job's owner.
CREATE FUNCTION heimdall_gen._notify(owner regrole, payload text)
RETURNS void LANGUAGE sql VOLATILE
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS $$ SELECT pg_catalog.pg_notify(heimdall_gen._channel_of(owner), payload) $$;

CREATE FUNCTION heimdall_gen.event_channel()
RETURNS text LANGUAGE C VOLATILE
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS 'MODULE_PATHNAME', 'hg_event_channel';
COMMENT ON FUNCTION heimdall_gen.event_channel() IS
	'The caller''s private NOTIFY channel: LISTEN to it for a JSON event on every status change of one''s jobs and a few progress events a second';

-- ---------------------------------------------------------------------------
-- start_job, drop_dataset.  Users do not write the tables themselves: the
-- public functions are C wrappers that note the caller (a SECURITY DEFINER
-- function could not: inside it current_user is the definer), switch to
-- the extension's owner and call the internal function with the caller as
-- an argument.  Internal functions are not executable by PUBLIC; every name
-- in them is qualified, every row checked for its owner.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION heimdall_gen.start_job(dataset text, num_samples integer,
												  seed bigint DEFAULT NULL, params jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE C VOLATILE
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS 'MODULE_PATHNAME', 'hg_start_job';

-- The model version this library generates (datasets.model_version).
CREATE FUNCTION heimdall_gen.model_version()
RETURNS integer LANGUAGE C IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'hg_sql_model_version';

CREATE FUNCTION heimdall_gen._start_job(caller regrole, dataset text, num_samples integer,
										seed bigint, params jsonb)
RETURNS bigint LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS $$
DECLARE
	me			regrole := caller;
	resolved	jsonb;
	ds			heimdall_gen.datasets;
	busy		bigint;
	first_attempt bigint := 0;
	differing	text;
	new_job		bigint;
BEGIN
	IF dataset IS NULL OR dataset !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$' THEN
		RAISE EXCEPTION 'dataset name must be 1 to 100 characters from A-Z a-z 0-9 _ . - starting with a letter or digit, not %',
						coalesce(pg_catalog.quote_literal(pg_catalog.left(dataset, 120)), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Dataset names become file names when a dataset is exported.';
	END IF;
	IF num_samples IS NULL OR num_samples NOT BETWEEN 1 AND 10000000 THEN
		RAISE EXCEPTION 'num_samples must be between 1 and 10000000, not %', coalesce(num_samples::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF params IS NULL OR pg_catalog.jsonb_typeof(params) <> 'object' THEN
		RAISE EXCEPTION 'params must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass for example ''{"rx_count_min": 7}''::jsonb, or omit it for the defaults.';
	END IF;
	IF NOT coalesce((SELECT r.rolcanlogin FROM pg_catalog.pg_roles r WHERE r.oid = me), false) THEN
		RAISE EXCEPTION 'role % cannot log in', me
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'A job''s worker connects as the role that started it.',
				  HINT = 'Start the job as a role with LOGIN (SET ROLE to a login role, or ALTER ROLE ... LOGIN).';
	END IF;
	-- as the caller: a receiver_network is looked up among the caller's own networks
	resolved := heimdall_gen._resolve_as(me, params);

	SELECT * INTO ds FROM heimdall_gen.datasets d WHERE d.name = dataset FOR UPDATE;
	IF FOUND AND ds.owner <> me THEN
		RAISE EXCEPTION 'dataset name "%" is already taken', dataset
			USING ERRCODE = 'duplicate_object',
				  DETAIL = 'Dataset names are unique across all roles; this dataset is not visible to you.',
				  HINT = 'Choose another dataset name.';
	ELSIF FOUND THEN
		IF seed IS NOT NULL AND seed <> ds.seed THEN
			RAISE EXCEPTION 'dataset "%" exists with seed %, not %', dataset, ds.seed, seed
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Omit the seed to extend the dataset, or choose another dataset name.';
		END IF;
		IF ds.model_version <> heimdall_gen.model_version() THEN
			RAISE EXCEPTION 'dataset "%" was generated by model version %, this server runs model version %',
							dataset, ds.model_version, heimdall_gen.model_version()
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = 'Extending it would mix the bytes of two models in one dataset.',
					  HINT = 'Generate into a new dataset name.';
		END IF;
		IF resolved <> ds.params THEN
			SELECT pg_catalog.string_agg(pg_catalog.format('%s (%s, not %s)', k, coalesce(ds.params -> k, 'null'),
												 coalesce(resolved -> k, 'null')), ', ' ORDER BY k)
			  INTO differing
			  FROM (SELECT pg_catalog.jsonb_object_keys(ds.params)
					UNION SELECT pg_catalog.jsonb_object_keys(resolved)) AS keys(k)
			 WHERE ds.params -> k IS DISTINCT FROM resolved -> k;
			RAISE EXCEPTION 'dataset "%" exists with other parameters: %', dataset, differing
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Extending a dataset needs the same parameters; choose another dataset name.';
		END IF;
		SELECT j.job_id INTO busy FROM heimdall_gen.jobs j
		 WHERE j.dataset_id = ds.dataset_id AND j.status IN ('queued', 'running', 'paused')
		 LIMIT 1;
		IF busy IS NOT NULL THEN
			RAISE EXCEPTION 'dataset "%" is being written by job %', dataset, busy
				USING ERRCODE = 'object_in_use',
					  HINT = 'Wait for that job to end, or cancel it, before extending the dataset.';
		END IF;
		SELECT coalesce(max(j.next_attempt), 0) INTO first_attempt
		  FROM heimdall_gen.jobs j WHERE j.dataset_id = ds.dataset_id;
	ELSE
		BEGIN
			INSERT INTO heimdall_gen.datasets (name, owner, seed, params, model_version)
			VALUES (dataset, me, coalesce(seed, (pg_catalog.floor(pg_catalog.random() * 9.2e18) - 4.6e18)::bigint),
					resolved, heimdall_gen.model_version())
			RETURNING * INTO ds;
		EXCEPTION WHEN unique_violation THEN
			-- a concurrent start_job of another role just took the name
			RAISE EXCEPTION 'dataset name "%" is already taken', dataset
				USING ERRCODE = 'duplicate_object',
					  DETAIL = 'Dataset names are unique across all roles.',
					  HINT = 'Choose another dataset name.';
		END;
	END IF;

	INSERT INTO heimdall_gen.jobs (dataset_id, owner, num_samples, start_attempt, next_attempt)
	VALUES (ds.dataset_id, me, num_samples, first_attempt, first_attempt)
	RETURNING job_id INTO new_job;
	PERFORM heimdall_gen._notify(me, pg_catalog.json_build_object('job_id', new_job, 'event', 'status',
																   'status', 'queued', 'dataset', dataset)::text);
	PERFORM heimdall_gen._wake_launcher();
	RETURN new_job;
END
$$;
COMMENT ON FUNCTION heimdall_gen.start_job(text, integer, bigint, jsonb) IS
	'Queues a job that generates num_samples kept samples into the dataset (created, or extended at its next attempt index)';

-- resolve_params as a given role: the owner's privileges are dropped
-- while the caller's receiver networks are read.
CREATE FUNCTION heimdall_gen._resolve_as(role_id regrole, params jsonb)
RETURNS jsonb LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS 'MODULE_PATHNAME', 'hg_resolve_params_as';

CREATE OR REPLACE FUNCTION heimdall_gen.drop_dataset(name text)
RETURNS bigint LANGUAGE C VOLATILE
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS 'MODULE_PATHNAME', 'hg_drop_dataset';

CREATE FUNCTION heimdall_gen._drop_dataset(caller regrole, name text)
RETURNS bigint LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS $$
DECLARE
	me			regrole := caller;
	ds			heimdall_gen.datasets;
	busy		bigint;
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
	SELECT j.job_id INTO busy FROM heimdall_gen.jobs j
	 WHERE j.dataset_id = ds.dataset_id AND j.status IN ('queued', 'running', 'paused') LIMIT 1;
	IF busy IS NOT NULL THEN
		RAISE EXCEPTION 'dataset "%" is being written by job %', _drop_dataset.name, busy
			USING ERRCODE = 'object_in_use',
				  HINT = 'Cancel the job first: SELECT heimdall_gen.cancel_job(' || busy || ', wait => true);';
	END IF;
	SELECT count(*) INTO removed FROM heimdall_gen.samples s WHERE s.dataset_id = ds.dataset_id;
	DELETE FROM heimdall_gen.receptions r WHERE r.dataset_id = ds.dataset_id;
	DELETE FROM heimdall_gen.samples s WHERE s.dataset_id = ds.dataset_id;
	DELETE FROM heimdall_gen.jobs j WHERE j.dataset_id = ds.dataset_id;
	DELETE FROM heimdall_gen.datasets d WHERE d.dataset_id = ds.dataset_id;
	RETURN removed;
END
$$;
COMMENT ON FUNCTION heimdall_gen.drop_dataset(text) IS
	'Removes a dataset with all its samples, receptions and jobs; returns the number of samples removed';

-- ---------------------------------------------------------------------------
-- The hand cancel: a job's owner may set its status to 'cancelled' or
-- 'paused' with a plain UPDATE (the worker reads its status row every 10
-- samples).  This trigger keeps such an UPDATE honest: a final status never
-- changes, no other column moves, and a final status gets its finish time.
-- ---------------------------------------------------------------------------
CREATE FUNCTION heimdall_gen._jobs_status_guard()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS $$
BEGIN
	IF OLD.status IN ('completed', 'failed', 'cancelled') AND NEW.status <> OLD.status THEN
		RAISE EXCEPTION 'job % is %: a final status never changes', OLD.job_id, OLD.status
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF NEW.status IN ('completed', 'failed', 'cancelled') AND NEW.finished_at IS NULL THEN
		NEW.finished_at := pg_catalog.now();
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER status_guard BEFORE UPDATE OF status ON heimdall_gen.jobs
	FOR EACH ROW EXECUTE FUNCTION heimdall_gen._jobs_status_guard();

-- ---------------------------------------------------------------------------
-- Live progress
-- ---------------------------------------------------------------------------

CREATE VIEW heimdall_gen.job_progress WITH (security_invoker = true) AS
SELECT j.job_id,
	   d.name AS dataset,
	   j.owner,
	   j.kind,
	   j.status,
	   s.pid,
	   coalesce(s.samples_done, j.samples_done) AS samples_done,
	   j.num_samples,
	   round(100.0 * coalesce(s.samples_done, j.samples_done) / j.num_samples, 1) AS percent,
	   round(r.rate::numeric, 1) AS samples_per_s,
	   CASE WHEN r.rate > 0
			THEN make_interval(secs => ceil((j.num_samples - coalesce(s.samples_done, j.samples_done)) / r.rate))
	   END AS eta,
	   '[' || repeat('#', (40 * coalesce(s.samples_done, j.samples_done) / j.num_samples)::int)
		   || repeat('.', 40 - (40 * coalesce(s.samples_done, j.samples_done) / j.num_samples)::int) || ']' AS bar,
	   coalesce(s.attempts, j.attempts) AS attempts,
	   j.restarts,
	   j.message,
	   j.error
  FROM heimdall_gen.jobs j
  JOIN heimdall_gen.datasets d USING (dataset_id)
  LEFT JOIN heimdall_gen.worker_slots() s ON s.job_id = j.job_id
  LEFT JOIN LATERAL (
	SELECT (s.samples_done - s.samples_at_start)
		   / nullif(extract(epoch FROM clock_timestamp() - s.run_started_at), 0) AS rate
  ) r ON true;
COMMENT ON VIEW heimdall_gen.job_progress IS 'Jobs with live figures from shared memory; try SELECT * FROM heimdall_gen.job_progress \watch 1';

-- ---------------------------------------------------------------------------
-- Virtual datasets and splits.  A dataset whose params say
-- "iq_storage": "virtual" stores only labels: receptions.iq stays NULL and
-- iq() regenerates the bytes, identical to what a stored job writes,
-- provided the model version is the dataset's.  Each sample's split
-- (train / val / test) is a hash of (seed, sample_idx) and the ratios.
-- ---------------------------------------------------------------------------

-- The split of a sample, as the worker writes it into samples.split.
CREATE FUNCTION heimdall_gen.split_of(seed bigint, sample_idx bigint, ratios jsonb DEFAULT '[0.8, 0.1, 0.1]')
RETURNS text LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS 'MODULE_PATHNAME', 'hg_split_of_sql';
COMMENT ON FUNCTION heimdall_gen.split_of(bigint, bigint, jsonb) IS
	'train, val or test: a hash of (seed, sample_idx) against the cumulative ratios';

-- 0.1.0 let every role INSERT and UPDATE its own datasets rows: their params
-- are checked before they are used below, so that a row a role wrote by
-- hand (params not an object, split_ratios not three ratios) is named, with
-- its owner and the way out, rather than failing the update with an error
-- that names neither (an attacker's review).
DO $check$
DECLARE
	d record;
	problem text;
BEGIN
	FOR d IN SELECT x.dataset_id, x.name, x.owner, x.params FROM heimdall_gen.datasets x ORDER BY x.dataset_id LOOP
		problem := NULL;
		IF pg_catalog.jsonb_typeof(d.params) OPERATOR(pg_catalog.<>) 'object' THEN
			problem := pg_catalog.format('its params are a JSON %s, not an object', pg_catalog.jsonb_typeof(d.params));
		ELSIF d.params OPERATOR(pg_catalog.?) 'split_ratios' THEN
			BEGIN
				PERFORM heimdall_gen.split_of(0, 0, d.params OPERATOR(pg_catalog.->) 'split_ratios');
			EXCEPTION WHEN invalid_parameter_value THEN
				GET STACKED DIAGNOSTICS problem = MESSAGE_TEXT;
			END;
		END IF;
		IF problem IS NOT NULL THEN
			RAISE EXCEPTION 'dataset "%" (id %) of role "%" cannot be updated: %', d.name, d.dataset_id, d.owner, problem
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = '0.1.0 let each role write its own datasets rows; this one was not written by start_job.',
					  HINT = pg_catalog.format('As a superuser, correct its params (UPDATE heimdall_gen.datasets SET params = ... '
											   'WHERE dataset_id = %s) or delete it, then run ALTER EXTENSION heimdall_gen UPDATE again.',
											   d.dataset_id);
		END IF;
	END LOOP;
END
$check$;

-- 0.1.0 datasets are resolved again with the keys that exist now (their
-- bytes do not change: neither key changes what an attempt computes).
UPDATE heimdall_gen.datasets SET params = '{"iq_storage": "stored", "split_ratios": [0.8, 0.1, 0.1]}'::jsonb || params;
ALTER TABLE heimdall_gen.samples ADD COLUMN split text;
UPDATE heimdall_gen.samples s SET split = heimdall_gen.split_of(d.seed, s.sample_idx, d.params -> 'split_ratios')
  FROM heimdall_gen.datasets d WHERE d.dataset_id = s.dataset_id;
ALTER TABLE heimdall_gen.samples ALTER COLUMN split SET NOT NULL,
	ADD CHECK (split IN ('train', 'val', 'test'));
CREATE INDEX ON heimdall_gen.samples (dataset_id, split, sample_idx);
ALTER TABLE heimdall_gen.receptions ALTER COLUMN iq DROP NOT NULL;
COMMENT ON COLUMN heimdall_gen.receptions.iq IS
	'cf32_le; NULL in a virtual dataset: read any dataset through heimdall_gen.iq(dataset_id, sample_idx, rx_idx)';

CREATE FUNCTION heimdall_gen.iq(dataset_id bigint, sample_idx bigint, rx_idx integer)
RETURNS bytea LANGUAGE C STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS 'MODULE_PATHNAME', 'hg_iq';
COMMENT ON FUNCTION heimdall_gen.iq(bigint, bigint, integer) IS
	'A reception''s cf32_le IQ: the stored bytes, or regenerated to the byte for a virtual dataset';

CREATE FUNCTION heimdall_gen.free_iq(dataset text)
RETURNS bigint LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS 'MODULE_PATHNAME', 'hg_free_iq';
COMMENT ON FUNCTION heimdall_gen.free_iq(text) IS
	'Drops the stored IQ of a dataset after checking, reception by reception, that regeneration gives the same bytes';

CREATE FUNCTION heimdall_gen.materialize(dataset text)
RETURNS bigint LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS 'MODULE_PATHNAME', 'hg_materialize';
COMMENT ON FUNCTION heimdall_gen.materialize(text) IS
	'Queues a cancellable, resumable job that stores the regenerated IQ of a virtual dataset; returns its id';

CREATE FUNCTION heimdall_gen._materialize(caller regrole, dataset text)
RETURNS bigint LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS $$
DECLARE
	ds			heimdall_gen.datasets;
	busy		bigint;
	missing		bigint;
	first_idx	bigint;
	new_job		bigint;
BEGIN
	SELECT * INTO ds FROM heimdall_gen.datasets d WHERE d.name = dataset AND d.owner = caller FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'dataset "%" does not exist', dataset USING ERRCODE = 'undefined_object';
	END IF;
	IF ds.model_version <> heimdall_gen.model_version() THEN
		RAISE EXCEPTION 'dataset "%" was generated by model version %, this server runs model version %',
						dataset, ds.model_version, heimdall_gen.model_version()
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Its IQ cannot be regenerated to the byte by another model.';
	END IF;
	SELECT j.job_id INTO busy FROM heimdall_gen.jobs j
	 WHERE j.dataset_id = ds.dataset_id AND j.status IN ('queued', 'running', 'paused') LIMIT 1;
	IF busy IS NOT NULL THEN
		RAISE EXCEPTION 'dataset "%" is being written by job %', dataset, busy
			USING ERRCODE = 'object_in_use',
				  HINT = 'Wait for that job to end, or cancel it.';
	END IF;
	SELECT count(DISTINCT r.sample_idx), coalesce(min(r.sample_idx), 0) INTO missing, first_idx
	  FROM heimdall_gen.receptions r WHERE r.dataset_id = ds.dataset_id AND r.iq IS NULL;
	IF missing = 0 THEN
		RAISE EXCEPTION 'dataset "%" has no reception without IQ', dataset
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Its IQ is stored already.';
	END IF;
	INSERT INTO heimdall_gen.jobs (dataset_id, owner, kind, num_samples, start_attempt, next_attempt)
	VALUES (ds.dataset_id, caller, 'materialize', missing, first_idx, first_idx)
	RETURNING job_id INTO new_job;
	PERFORM heimdall_gen._notify(caller, pg_catalog.json_build_object('job_id', new_job, 'event', 'status',
																	   'status', 'queued', 'dataset', dataset)::text);
	PERFORM heimdall_gen._wake_launcher();
	RETURN new_job;
END
$$;

-- ---------------------------------------------------------------------------
-- Row-level security and grants.  Users read their own rows; members of
-- heimdall_gen_admin read every job and dataset row (not the samples).
-- Writes go through the functions above, run by the extension's owner.
-- ---------------------------------------------------------------------------

ALTER TABLE heimdall_gen.datasets ENABLE ROW LEVEL SECURITY;
ALTER TABLE heimdall_gen.jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE heimdall_gen.samples ENABLE ROW LEVEL SECURITY;
ALTER TABLE heimdall_gen.receptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE heimdall_gen.receivers ENABLE ROW LEVEL SECURITY;
ALTER TABLE heimdall_gen.event_channels ENABLE ROW LEVEL SECURITY;

CREATE POLICY own_datasets ON heimdall_gen.datasets FOR SELECT
	USING (owner = heimdall_gen.current_role_id());
CREATE POLICY admin_datasets ON heimdall_gen.datasets FOR SELECT TO heimdall_gen_admin USING (true);
CREATE POLICY own_jobs ON heimdall_gen.jobs FOR SELECT
	USING (owner = heimdall_gen.current_role_id());
CREATE POLICY admin_jobs ON heimdall_gen.jobs FOR SELECT TO heimdall_gen_admin USING (true);
CREATE POLICY hand_stop_own_jobs ON heimdall_gen.jobs FOR UPDATE
	USING (owner = heimdall_gen.current_role_id() AND status IN ('queued', 'running', 'paused'))
	WITH CHECK (owner = heimdall_gen.current_role_id() AND status IN ('cancelled', 'paused'));
CREATE POLICY own_samples ON heimdall_gen.samples FOR SELECT USING (EXISTS (
	SELECT 1 FROM heimdall_gen.datasets d
	 WHERE d.dataset_id = samples.dataset_id AND d.owner = heimdall_gen.current_role_id()));
CREATE POLICY own_receptions ON heimdall_gen.receptions FOR SELECT USING (EXISTS (
	SELECT 1 FROM heimdall_gen.datasets d
	 WHERE d.dataset_id = receptions.dataset_id AND d.owner = heimdall_gen.current_role_id()));
CREATE POLICY own_receivers ON heimdall_gen.receivers FOR ALL
	USING (owner = heimdall_gen.current_role_id())
	WITH CHECK (owner = heimdall_gen.current_role_id());
CREATE POLICY own_channel ON heimdall_gen.event_channels FOR SELECT
	USING (role_id = heimdall_gen.current_role_id());

REVOKE ALL ON ALL TABLES IN SCHEMA heimdall_gen FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA heimdall_gen FROM PUBLIC;
GRANT USAGE ON SCHEMA heimdall_gen TO PUBLIC;
GRANT SELECT ON heimdall_gen.datasets, heimdall_gen.jobs, heimdall_gen.samples, heimdall_gen.receptions,
	heimdall_gen.receivers, heimdall_gen.event_channels, heimdall_gen.job_progress TO PUBLIC;
GRANT UPDATE (status) ON heimdall_gen.jobs TO PUBLIC;
GRANT INSERT, UPDATE, DELETE ON heimdall_gen.receivers TO PUBLIC;
GRANT EXECUTE ON FUNCTION heimdall_gen.current_role_id(), heimdall_gen.model_version(), heimdall_gen.resolve_params(jsonb),
	heimdall_gen.cancel_job(bigint, boolean), heimdall_gen.pause_job(bigint), heimdall_gen.resume_job(bigint),
	heimdall_gen.wait_job(bigint, interval), heimdall_gen.worker_slots(), heimdall_gen.event_channel(),
	heimdall_gen.start_job(text, integer, bigint, jsonb), heimdall_gen.drop_dataset(text),
	heimdall_gen.split_of(bigint, bigint, jsonb), heimdall_gen.iq(bigint, bigint, integer),
	heimdall_gen.free_iq(text), heimdall_gen.materialize(text) TO PUBLIC;

-- a launcher that started before the extension existed picks it up now
SELECT heimdall_gen._wake_launcher();
