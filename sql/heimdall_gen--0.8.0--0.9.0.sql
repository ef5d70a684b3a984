/*
 * heimdall_gen--0.8.0--0.9.0.sql
 *    Update from 0.8.0 to 0.9.0, and the ninth step of every fresh CREATE
 *    EXTENSION (0.1.0, then each update script in turn, then this).
 *
 *    - start_job and drop_dataset locked a dataset's row by its name before
 *      they looked at whose it was.  Names are one namespace for all roles,
 *      so any role could lock another role's dataset row: for an instant as
 *      a rule (the call then failed), but for as long as it liked with a
 *      client that does not read the error the server sends before it ends
 *      the transaction (an attacker's review).  That lock stalled the other
 *      role's workers (their batches take a key-share lock on it), its
 *      cancels and its own calls on the dataset.  Each now locks the row
 *      only if the caller may change it (its owner; for drop_dataset also a
 *      member of heimdall_gen_admin), and reads it without a lock otherwise,
 *      to refuse as before.  Both functions are written out again whole, as
 *      an update script must; only that read changed.
 */
\echo Use "ALTER EXTENSION heimdall_gen UPDATE TO '0.9.0'" to load this file. \quit

CREATE OR REPLACE FUNCTION heimdall_gen._start_job(caller regrole, dataset text, num_samples integer,
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
	refusal		text;
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

	-- the row is locked only if it is the caller's: a lock on another role's
	-- row, held while the error is sent to a client that does not read it,
	-- stalled that role's workers, cancels and start_job (an attacker's review)
	SELECT * INTO ds FROM heimdall_gen.datasets d WHERE d.name = dataset AND d.owner = me FOR UPDATE;
	IF NOT FOUND THEN
		SELECT * INTO ds FROM heimdall_gen.datasets d WHERE d.name = dataset;
	END IF;
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
		refusal := heimdall_gen._model_version_refusal(ds.model_version);
		IF refusal IS NOT NULL THEN
			RAISE EXCEPTION 'dataset "%" %', dataset, refusal
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
	-- locked only if the caller may drop it (see _start_job)
	SELECT * INTO ds FROM heimdall_gen.datasets d
	 WHERE d.name = _drop_dataset.name
	   AND (d.owner = me OR pg_catalog.pg_has_role(me, 'heimdall_gen_admin', 'USAGE'))
	   FOR UPDATE;
	IF NOT FOUND THEN
		SELECT * INTO ds FROM heimdall_gen.datasets d WHERE d.name = _drop_dataset.name;
	END IF;
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
