/*
 * heimdall_gen--0.1.0.sql
 *    Install script: the tables a dataset lives in, the job table the
 *    background workers are driven by, the SQL interface of design.md
 *    section 2, row-level security and grants.
 */
\echo Use "CREATE EXTENSION heimdall_gen" to load this file. \quit

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'heimdall_gen_admin') THEN
		CREATE ROLE heimdall_gen_admin NOLOGIN;
	END IF;
END
$$;

-- ---------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------

CREATE TABLE heimdall_gen.datasets (
	dataset_id	bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name		text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
	owner		name NOT NULL DEFAULT current_user,
	seed		bigint NOT NULL,
	params		jsonb NOT NULL,		-- fully resolved: every default written out
	created_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE heimdall_gen.datasets IS 'One generated dataset: its name, seed and fully resolved generator parameters';

CREATE TABLE heimdall_gen.jobs (
	job_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	dataset_id	bigint NOT NULL REFERENCES heimdall_gen.datasets ON DELETE CASCADE,
	owner		name NOT NULL DEFAULT current_user,
	status		text NOT NULL DEFAULT 'queued'
		CHECK (status IN ('queued', 'running', 'paused', 'completed', 'failed', 'cancelled')),
	num_samples	integer NOT NULL CHECK (num_samples > 0),
	samples_done integer NOT NULL DEFAULT 0,
	attempts	bigint NOT NULL DEFAULT 0,
	start_attempt bigint NOT NULL,	-- first attempt index of this job
	next_attempt bigint NOT NULL,	-- committed with every batch: where a resume continues
	rejected_too_few_detected bigint NOT NULL DEFAULT 0,
	rejected_low_mean_snr bigint NOT NULL DEFAULT 0,
	rejected_gdop bigint NOT NULL DEFAULT 0,
	restarts	integer NOT NULL DEFAULT 0,	-- crash or shutdown resumptions
	restart_point integer,			-- samples_done at the last restart
	restarts_at_point integer NOT NULL DEFAULT 0,
	message		text,
	error		text,
	created_at	timestamptz NOT NULL DEFAULT now(),
	started_at	timestamptz,
	finished_at timestamptz
);
CREATE INDEX ON heimdall_gen.jobs (status, job_id);
CREATE INDEX ON heimdall_gen.jobs (dataset_id);
COMMENT ON TABLE heimdall_gen.jobs IS 'Generation jobs; UPDATE status to cancelled or paused is honoured by the worker within 10 samples';

CREATE TABLE heimdall_gen.samples (
	dataset_id	bigint NOT NULL REFERENCES heimdall_gen.datasets ON DELETE CASCADE,
	sample_idx	bigint NOT NULL,	-- the attempt index: reproducible from (seed, sample_idx)
	tx_lat		double precision NOT NULL,
	tx_lon		double precision NOT NULL,
	tx_alt_m	double precision NOT NULL,
	tx_power_dbm double precision NOT NULL,
	frequency_hz double precision NOT NULL,
	modulation	text NOT NULL,
	content		text NOT NULL,
	gdop		double precision NOT NULL,
	mean_snr_db double precision NOT NULL,
	n_receivers integer NOT NULL,
	n_detected	integer NOT NULL,
	PRIMARY KEY (dataset_id, sample_idx)
);

CREATE TABLE heimdall_gen.receptions (
	dataset_id	bigint NOT NULL,
	sample_idx	bigint NOT NULL,
	rx_idx		integer NOT NULL,
	rx_name		text NOT NULL,
	rx_lat		double precision NOT NULL,
	rx_lon		double precision NOT NULL,
	rx_alt_m	double precision NOT NULL,
	antenna		text NOT NULL,
	antenna_gain_dbi double precision NOT NULL,
	distance_m	double precision NOT NULL,	-- 3-D straight line, TX antenna to RX antenna
	delay_s		double precision NOT NULL,	-- distance_m / 299792458
	rx_power_dbm double precision NOT NULL,
	snr_db		double precision NOT NULL,
	freq_offset_hz double precision NOT NULL,
	signal_present boolean NOT NULL,
	iq			bytea NOT NULL,			-- cf32_le: interleaved little-endian float32 I, Q
	PRIMARY KEY (dataset_id, sample_idx, rx_idx),
	FOREIGN KEY (dataset_id, sample_idx) REFERENCES heimdall_gen.samples ON DELETE CASCADE
);
-- random noise does not compress: store it out of line, uncompressed
ALTER TABLE heimdall_gen.receptions ALTER COLUMN iq SET STORAGE EXTERNAL;

CREATE TABLE heimdall_gen.receivers (
	network		text NOT NULL,
	name		text NOT NULL CHECK (length(name) BETWEEN 1 AND 31),
	lat			double precision NOT NULL,
	lon			double precision NOT NULL,
	alt_m		double precision NOT NULL DEFAULT 15,	-- antenna height above ground
	antenna		text NOT NULL DEFAULT 'omni',
	azimuth_deg double precision NOT NULL DEFAULT 0,
	owner		name NOT NULL DEFAULT current_user,
	PRIMARY KEY (network, name)
);
COMMENT ON TABLE heimdall_gen.receivers IS 'Fixed receiver networks; start_job(params => {"receiver_network": "<network>"}) uses one';

-- ---------------------------------------------------------------------------
-- Functions implemented in C
-- ---------------------------------------------------------------------------

CREATE FUNCTION heimdall_gen.resolve_params(params jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'hg_resolve_params';
COMMENT ON FUNCTION heimdall_gen.resolve_params(jsonb) IS
	'Validates generator parameters and returns them fully resolved (every default written out)';

CREATE FUNCTION heimdall_gen._wake_launcher()
RETURNS void LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'hg_wake_launcher';

CREATE FUNCTION heimdall_gen.cancel_job(job_id bigint, wait boolean DEFAULT false)
RETURNS boolean LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'hg_cancel_job';

CREATE FUNCTION heimdall_gen.pause_job(job_id bigint)
RETURNS boolean LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'hg_pause_job';

CREATE FUNCTION heimdall_gen.resume_job(job_id bigint)
RETURNS boolean LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'hg_resume_job';

CREATE FUNCTION heimdall_gen.wait_job(job_id bigint, timeout interval DEFAULT NULL)
RETURNS text LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'hg_wait_job';

CREATE FUNCTION heimdall_gen.worker_slots(
	OUT job_id bigint, OUT pid integer, OUT samples_done bigint, OUT attempts bigint,
	OUT samples_at_start bigint, OUT run_started_at timestamptz,
	OUT cancel_requested boolean, OUT pause_requested boolean)
RETURNS SETOF record LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'hg_worker_slots';
COMMENT ON FUNCTION heimdall_gen.worker_slots() IS 'The shared-memory worker slots: live progress of running jobs';

-- ---------------------------------------------------------------------------
-- start_job, drop_dataset
-- ---------------------------------------------------------------------------

CREATE FUNCTION heimdall_gen.start_job(dataset text, num_samples integer,
									   seed bigint DEFAULT NULL, params jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	resolved	jsonb;
	ds			heimdall_gen.datasets;
	busy		bigint;
	first_attempt bigint := 0;
	differing	text;
	new_job		bigint;
BEGIN
	IF dataset IS NULL OR length(dataset) NOT BETWEEN 1 AND 200 THEN
		RAISE EXCEPTION 'dataset name must be 1 to 200 characters, not %', coalesce(quote_literal(dataset), 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF num_samples IS NULL OR num_samples < 1 THEN
		RAISE EXCEPTION 'num_samples must be between 1 and 2147483647, not %', coalesce(num_samples::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF params IS NULL OR jsonb_typeof(params) <> 'object' THEN
		RAISE EXCEPTION 'params must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass for example ''{"rx_count_min": 7}''::jsonb, or omit it for the defaults.';
	END IF;
	resolved := heimdall_gen.resolve_params(params);

	SELECT * INTO ds FROM heimdall_gen.datasets d WHERE d.name = dataset FOR UPDATE;
	IF FOUND THEN
		IF seed IS NOT NULL AND seed <> ds.seed THEN
			RAISE EXCEPTION 'dataset "%" exists with seed %, not %', dataset, ds.seed, seed
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Omit the seed to extend the dataset, or choose another dataset name.';
		END IF;
		IF resolved <> ds.params THEN
			SELECT string_agg(format('%s (%s, not %s)', k, coalesce(ds.params -> k, 'null'),
									 coalesce(resolved -> k, 'null')), ', ' ORDER BY k)
			  INTO differing
			  FROM (SELECT jsonb_object_keys(ds.params) UNION SELECT jsonb_object_keys(resolved)) AS keys(k)
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
			INSERT INTO heimdall_gen.datasets (name, seed, params)
			VALUES (dataset, coalesce(seed, (floor(random() * 9.2e18) - 4.6e18)::bigint), resolved)
			RETURNING * INTO ds;
		EXCEPTION WHEN unique_violation THEN
			-- row-level security hid it: another role's dataset, or one a concurrent start_job just made
			RAISE EXCEPTION 'dataset name "%" is already taken', dataset
				USING ERRCODE = 'duplicate_object',
					  DETAIL = 'Dataset names are unique across all roles; this dataset is not visible to you.',
					  HINT = 'Choose another dataset name.';
		END;
	END IF;

	INSERT INTO heimdall_gen.jobs (dataset_id, num_samples, start_attempt, next_attempt)
	VALUES (ds.dataset_id, num_samples, first_attempt, first_attempt)
	RETURNING job_id INTO new_job;
	PERFORM pg_notify('heimdall_gen', json_build_object('job_id', new_job, 'event', 'status',
														'status', 'queued', 'dataset', dataset)::text);
	PERFORM heimdall_gen._wake_launcher();
	RETURN new_job;
END
$$;
COMMENT ON FUNCTION heimdall_gen.start_job(text, integer, bigint, jsonb) IS
	'Queues a job that generates num_samples kept samples into the dataset (created, or extended at its next attempt index)';

CREATE FUNCTION heimdall_gen.drop_dataset(name text)
RETURNS bigint LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ds			heimdall_gen.datasets;
	busy		bigint;
	removed		bigint;
BEGIN
	SELECT * INTO ds FROM heimdall_gen.datasets d WHERE d.name = drop_dataset.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'dataset "%" does not exist', drop_dataset.name
			USING ERRCODE = 'undefined_object';
	END IF;
	SELECT j.job_id INTO busy FROM heimdall_gen.jobs j
	 WHERE j.dataset_id = ds.dataset_id AND j.status IN ('queued', 'running', 'paused') LIMIT 1;
	IF busy IS NOT NULL THEN
		RAISE EXCEPTION 'dataset "%" is being written by job %', drop_dataset.name, busy
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
-- Live progress
-- ---------------------------------------------------------------------------

CREATE VIEW heimdall_gen.job_progress WITH (security_invoker = true) AS
SELECT j.job_id,
	   d.name AS dataset,
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
-- Row-level security and grants: users see and write their own rows;
-- workers run as the job's owner.
-- ---------------------------------------------------------------------------

ALTER TABLE heimdall_gen.datasets ENABLE ROW LEVEL SECURITY;
ALTER TABLE heimdall_gen.jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE heimdall_gen.samples ENABLE ROW LEVEL SECURITY;
ALTER TABLE heimdall_gen.receptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE heimdall_gen.receivers ENABLE ROW LEVEL SECURITY;

CREATE POLICY own_datasets ON heimdall_gen.datasets USING (owner = current_user);
CREATE POLICY own_jobs ON heimdall_gen.jobs USING (owner = current_user);
CREATE POLICY own_samples ON heimdall_gen.samples USING (EXISTS (
	SELECT 1 FROM heimdall_gen.datasets d WHERE d.dataset_id = samples.dataset_id AND d.owner = current_user));
CREATE POLICY own_receptions ON heimdall_gen.receptions USING (EXISTS (
	SELECT 1 FROM heimdall_gen.datasets d WHERE d.dataset_id = receptions.dataset_id AND d.owner = current_user));
CREATE POLICY read_receivers ON heimdall_gen.receivers FOR SELECT USING (true);
CREATE POLICY own_receivers ON heimdall_gen.receivers FOR ALL USING (owner = current_user);

GRANT USAGE ON SCHEMA heimdall_gen TO PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON heimdall_gen.datasets, heimdall_gen.jobs,
	heimdall_gen.samples, heimdall_gen.receptions, heimdall_gen.receivers TO PUBLIC;
GRANT SELECT ON heimdall_gen.job_progress TO PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA heimdall_gen TO PUBLIC;

-- a launcher that started before the extension existed picks it up now
SELECT heimdall_gen._wake_launcher();
