-- An ordinary role attacks the extension: objects that shadow pg_catalog's
-- (operators, functions) planted in its own schema first on search_path,
-- in pg_temp and in its per-role settings, then every function of the
-- extension called; direct writes to every table, alone and pointing at
-- another role's rows.  Each planted object records into a table when it
-- runs and tries to make its role a superuser: the table must stay empty
-- and no role may gain an attribute.
SET client_min_messages = warning;
CREATE ROLE regress_hg_mallory LOGIN;
CREATE ROLE regress_hg_victim LOGIN;
CREATE ROLE regress_hg_nologin NOLOGIN;
CREATE SCHEMA evil AUTHORIZATION regress_hg_mallory;
GRANT regress_hg_nologin TO regress_hg_mallory;

CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO PUBLIC;

-- the victim's paused job and dataset
SET ROLE regress_hg_victim;
BEGIN;
SELECT heimdall_gen.start_job('victim_data', 3, 1, '{"duration_ms": 10}') AS victim_job \gset
SELECT heimdall_gen.pause_job(:victim_job);
COMMIT;
SELECT dataset_id AS victim_dataset FROM heimdall_gen.datasets \gset
INSERT INTO heimdall_gen.receivers (network, name, lat, lon) VALUES ('net', 'v1', 45, 8), ('net', 'v2', 45.5, 8), ('net', 'v3', 45, 9);

SET ROLE regress_hg_mallory;
CREATE TABLE evil.ran (what text, as_role text);
GRANT INSERT, SELECT ON evil.ran TO PUBLIC;
CREATE FUNCTION evil.trap(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO evil.ran VALUES (what, current_user);
	BEGIN
		EXECUTE 'ALTER ROLE regress_hg_mallory SUPERUSER';
	EXCEPTION WHEN others THEN NULL;
	END;
END
$$;
CREATE FUNCTION evil.eq(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.trap('= bigint'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq);
CREATE FUNCTION evil.eqt(a text, b text) RETURNS boolean LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.trap('= text'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eqt);
CREATE FUNCTION evil.lt(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.trap('<'); RETURN a OPERATOR(pg_catalog.<) b; END $$;
CREATE OPERATOR evil.< (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.lt);
CREATE FUNCTION evil.plus(a bigint, b bigint) RETURNS bigint LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.trap('+'); RETURN a OPERATOR(pg_catalog.+) b; END $$;
CREATE OPERATOR evil.+ (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.plus);
CREATE FUNCTION evil.plusi(a integer, b integer) RETURNS integer LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.trap('+ int'); RETURN a OPERATOR(pg_catalog.+) b; END $$;
CREATE OPERATOR evil.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = evil.plusi);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.trap('now()'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION evil.format(f text, a anyelement, b anyelement) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.trap('format()'); RETURN f; END $$;
CREATE FUNCTION evil.format(f text, a text) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.trap('format(text)'); RETURN f; END $$;
CREATE FUNCTION evil.lower(a text) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.trap('lower()'); RETURN a; END $$;
CREATE FUNCTION evil.coalesce(a bigint, b bigint) RETURNS bigint LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.trap('coalesce'); RETURN a; END $$;
CREATE FUNCTION evil.pg_notify(a text, b text) RETURNS void LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.trap('pg_notify()'); END $$;
CREATE FUNCTION evil.jsonb_typeof(a jsonb) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.trap('jsonb_typeof()'); RETURN 'object'; END $$;
CREATE FUNCTION evil.random() RETURNS double precision LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.trap('random()'); RETURN 0.5; END $$;
-- the same in pg_temp (never searched for functions and operators unless named)
CREATE FUNCTION pg_temp.now() RETURNS timestamptz LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.trap('pg_temp.now()'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION pg_temp.format(f text, a anyelement, b anyelement) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM evil.trap('pg_temp.format()'); RETURN f; END $$;
-- tables that shadow the extension's, in the schemas searched first
CREATE TABLE evil.jobs (job_id bigint, owner regrole, status text);
CREATE TABLE evil.datasets (dataset_id bigint, name text, owner regrole);
CREATE TEMP TABLE jobs (job_id bigint, owner regrole, status text);
CREATE TEMP TABLE datasets (dataset_id bigint, name text, owner regrole);
-- the workers run as this role: its own settings point at the traps too
ALTER ROLE regress_hg_mallory SET search_path = evil, pg_catalog;

-- every function of the extension, under two hostile search_paths
SET search_path = evil, pg_catalog;
BEGIN;
SELECT heimdall_gen.start_job('mallory_data', 2, 7, '{"duration_ms": 10}') AS mallory_job \gset
SELECT heimdall_gen.pause_job(:mallory_job);
COMMIT;
SELECT heimdall_gen.resume_job(:mallory_job);
SELECT heimdall_gen.wait_job(:mallory_job, '120 s');
SELECT count(*) >= 0 AS slots_read FROM heimdall_gen.worker_slots();
SELECT count(*) AS progress_rows FROM heimdall_gen.job_progress;
SELECT heimdall_gen.resolve_params('{"rx_count_max": 7}') -> 'rx_count_max' AS resolved;
SELECT heimdall_gen.event_channel() ~ '^heimdall_gen_[0-9a-f]{32}$' AS private_channel;
SET search_path = pg_temp, evil, pg_catalog;
BEGIN;
SELECT heimdall_gen.start_job('mallory_more', 2, 8, '{"duration_ms": 10}') AS mallory_job2 \gset
COMMIT;
SELECT heimdall_gen.cancel_job(:mallory_job2, wait => true);
SELECT heimdall_gen.drop_dataset('mallory_more');
SELECT heimdall_gen.drop_dataset('mallory_data');
SELECT pg_temp.try(format('SELECT heimdall_gen.cancel_job(%s)', :victim_job));
SELECT pg_temp.try('SELECT heimdall_gen.drop_dataset(''victim_data'')');
RESET search_path;

-- direct writes: none is granted, and none reaches another role's rows
SELECT pg_temp.try(format('INSERT INTO heimdall_gen.jobs (dataset_id, owner, num_samples, start_attempt, next_attempt) '
						  'VALUES (%s, %L, 5, 0, 0)', :victim_dataset, 'regress_hg_mallory'));
SELECT pg_temp.try(format('INSERT INTO heimdall_gen.datasets (name, owner, seed, params, model_version) '
						  'VALUES (%L, %L, 1, %L, 1)', 'planted', 'regress_hg_mallory', '{}'));
SELECT pg_temp.try(format('INSERT INTO heimdall_gen.samples (dataset_id, sample_idx, tx_lat, tx_lon, tx_alt_m, '
						  'tx_power_dbm, frequency_hz, modulation, content, gdop, mean_snr_db, n_receivers, n_detected) '
						  'VALUES (%s, 99, 0, 0, 0, 0, 0, %L, %L, 1, 1, 3, 3)', :victim_dataset, 'fm', 'tone'));
SELECT pg_temp.try(format('UPDATE heimdall_gen.jobs SET owner = %L', 'regress_hg_mallory'));
SELECT pg_temp.try('UPDATE heimdall_gen.jobs SET num_samples = 1');
SELECT pg_temp.try('UPDATE heimdall_gen.datasets SET seed = 0');
SELECT pg_temp.try('DELETE FROM heimdall_gen.jobs');
SELECT pg_temp.try('DELETE FROM heimdall_gen.receptions');
SELECT pg_temp.try('TRUNCATE heimdall_gen.samples');
SELECT pg_temp.try(format('INSERT INTO heimdall_gen.receivers (network, name, lat, lon, owner) '
						  'VALUES (%L, %L, 45, 8, %L)', 'net', 'x', 'regress_hg_victim'));
SELECT pg_temp.try(format('INSERT INTO heimdall_gen.event_channels VALUES (%L, %L)', 'regress_hg_victim', 'mine'));
-- nor a lock that would stall everyone's workers
SELECT pg_temp.try('LOCK heimdall_gen.jobs IN EXCLUSIVE MODE');
SELECT pg_temp.try('LOCK heimdall_gen.datasets IN SHARE MODE');
SELECT pg_temp.try('LOCK heimdall_gen.samples IN SHARE ROW EXCLUSIVE MODE');
SELECT pg_temp.try('LOCK heimdall_gen.receptions IN ACCESS EXCLUSIVE MODE');
-- receivers too, although users hold table-level privileges on it (their own rows)
SELECT pg_temp.try('LOCK heimdall_gen.receivers IN ACCESS EXCLUSIVE MODE');
SELECT pg_temp.try('LOCK heimdall_gen.receivers IN SHARE MODE');
-- nor through a view of its own, which LOCK follows to the tables it reads
-- (with the view owner's privileges: mallory's own, on receivers), however
-- deep: nested, in a sublink, in a CTE, or beside one of its own tables
CREATE VIEW evil.recv AS SELECT * FROM heimdall_gen.receivers;
CREATE VIEW evil.recv_nested AS SELECT * FROM evil.recv;
CREATE VIEW evil.recv_sublink AS SELECT 1 AS x WHERE EXISTS (SELECT 1 FROM heimdall_gen.receivers);
CREATE VIEW evil.recv_cte AS WITH r AS (SELECT * FROM heimdall_gen.receivers) SELECT count(*) FROM r;
CREATE VIEW evil.recv_invoker WITH (security_invoker) AS SELECT * FROM evil.recv_nested;
CREATE VIEW evil.own AS SELECT * FROM evil.ran;
BEGIN;
SELECT pg_temp.try('LOCK evil.recv IN ACCESS EXCLUSIVE MODE');
SELECT pg_temp.try('LOCK evil.recv_nested IN SHARE MODE');
SELECT pg_temp.try('LOCK evil.recv_sublink IN EXCLUSIVE MODE');
SELECT pg_temp.try('LOCK evil.recv_cte IN SHARE ROW EXCLUSIVE MODE');
SELECT pg_temp.try('LOCK evil.recv_invoker IN EXCLUSIVE MODE');
SELECT pg_temp.try('LOCK evil.own, evil.recv IN ACCESS EXCLUSIVE MODE');
-- and nothing stronger than ROW EXCLUSIVE is left held on receivers
SELECT count(*) AS strong_locks_on_receivers FROM pg_catalog.pg_locks
 WHERE relation = 'heimdall_gen.receivers'::regclass AND pid = pg_backend_pid()
   AND mode NOT IN ('AccessShareLock', 'RowShareLock', 'RowExclusiveLock');
-- a weak lock through such a view, or any lock of a view of its own tables, is its business
SELECT pg_temp.try('LOCK evil.recv IN ROW EXCLUSIVE MODE');
SELECT pg_temp.try('LOCK evil.own IN ACCESS EXCLUSIVE MODE');
COMMIT;
-- nor by a statement that PostgreSQL lets wait for a lock on the table
-- before it checks the caller's rights (everyone's use of the table would
-- queue behind that wait): refused before any lock is asked for
CREATE TABLE evil.fk (x bigint);
CREATE TABLE evil.parted (job_id bigint) PARTITION BY LIST (job_id);
CREATE FUNCTION evil.trig() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
SELECT pg_temp.try('CREATE RULE r AS ON INSERT TO heimdall_gen.jobs DO INSTEAD NOTHING');
SELECT pg_temp.try('CREATE TRIGGER t BEFORE INSERT ON heimdall_gen.receivers FOR EACH ROW EXECUTE FUNCTION evil.trig()');
SELECT pg_temp.try('ALTER TABLE evil.fk ADD FOREIGN KEY (x) REFERENCES heimdall_gen.jobs (job_id)');
SELECT pg_temp.try('ALTER TABLE evil.fk ADD COLUMN y bigint REFERENCES heimdall_gen.datasets');
SELECT pg_temp.try('CREATE TABLE evil.fk2 (x bigint, FOREIGN KEY (x) REFERENCES heimdall_gen.datasets (dataset_id))');
SELECT pg_temp.try('CREATE TABLE evil.part PARTITION OF heimdall_gen.jobs FOR VALUES IN (1)');
SELECT pg_temp.try('ALTER TABLE evil.parted ATTACH PARTITION heimdall_gen.jobs FOR VALUES IN (1)');
SELECT pg_temp.try('ALTER INDEX heimdall_gen.jobs_pkey DEPENDS ON EXTENSION plpgsql');
SELECT pg_temp.try('ALTER INDEX heimdall_gen.datasets_name_key NO DEPENDS ON EXTENSION plpgsql');
SELECT pg_temp.try('ALTER TRIGGER status_guard ON heimdall_gen.jobs DEPENDS ON EXTENSION plpgsql');
-- these wait for SHARE UPDATE EXCLUSIVE before the check: behind a VACUUM of
-- the table, which PostgreSQL cancels when an autovacuum blocks someone
SELECT pg_temp.try('COMMENT ON TABLE heimdall_gen.jobs IS ''x''');
SELECT pg_temp.try('COMMENT ON COLUMN heimdall_gen.jobs.status IS ''x''');
SELECT pg_temp.try('COMMENT ON INDEX heimdall_gen.jobs_pkey IS ''x''');
SELECT pg_temp.try('CREATE STATISTICS evil.st ON job_id, status FROM heimdall_gen.jobs');
SELECT pg_temp.try('CREATE TABLE evil.kid () INHERITS (heimdall_gen.jobs)');
SELECT pg_temp.try('ALTER TABLE evil.fk INHERIT heimdall_gen.receptions');
SELECT pg_temp.try('ALTER TABLE evil.fk NO INHERIT heimdall_gen.receptions');
SELECT pg_temp.try('ALTER EXTENSION plpgsql ADD TABLE heimdall_gen.samples');
SELECT pg_temp.try('CREATE PUBLICATION evil_pub FOR TABLE heimdall_gen.jobs');
-- the same statements on its own tables are its business
SELECT pg_temp.try('CREATE TRIGGER t BEFORE INSERT ON evil.fk FOR EACH ROW EXECUTE FUNCTION evil.trig()');
SELECT pg_temp.try('CREATE TABLE evil.part PARTITION OF evil.parted FOR VALUES IN (1)');
CREATE INDEX own_index ON evil.fk (x);
SELECT pg_temp.try('ALTER INDEX evil.own_index DEPENDS ON EXTENSION plpgsql');
SELECT pg_temp.try('COMMENT ON TABLE evil.fk IS ''mine''');
SELECT pg_temp.try('COMMENT ON COLUMN evil.fk.x IS ''mine''');
SELECT pg_temp.try('CREATE TABLE evil.kid (z int) INHERITS (evil.fk)');
SELECT pg_temp.try('CREATE STATISTICS evil.st ON x, z FROM evil.kid');
-- the victim's rows are invisible, and a status UPDATE of them changes nothing
SELECT (SELECT count(*) FROM heimdall_gen.jobs) AS jobs_seen, (SELECT count(*) FROM heimdall_gen.datasets) AS datasets_seen,
	   (SELECT count(*) FROM heimdall_gen.receivers) AS receivers_seen,
	   (SELECT count(*) FROM heimdall_gen.event_channels WHERE role_id <> heimdall_gen.current_role_id()) AS channels_seen;
UPDATE heimdall_gen.jobs SET status = 'cancelled' WHERE job_id = :victim_job;
-- the victim's network is not mallory's
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('stolen_net', 2, 1, '{"receiver_network": "net"}')$$);
-- a role without LOGIN cannot start a job (its worker could never connect)
SET ROLE regress_hg_nologin;
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('nologin_data', 2, 1)$$);
-- nor queue one with materialize(): it says so before it looks for the dataset
SELECT pg_temp.try($$SELECT heimdall_gen.materialize('nologin_data')$$);
RESET ROLE;

-- the hand fallback still works for a job's owner, and only as a stop
SET ROLE regress_hg_mallory;
BEGIN;
SELECT heimdall_gen.start_job('mallory_hand', 2, 9, '{"duration_ms": 10}') AS hand_job \gset
SELECT heimdall_gen.pause_job(:hand_job);
COMMIT;
SELECT pg_temp.try(format('UPDATE heimdall_gen.jobs SET status = %L WHERE job_id = %s', 'running', :hand_job));
SELECT pg_temp.try(format('UPDATE heimdall_gen.jobs SET status = %L WHERE job_id = %s', 'completed', :hand_job));
UPDATE heimdall_gen.jobs SET status = 'cancelled' WHERE job_id = :hand_job;
SELECT status, finished_at IS NOT NULL AS finished FROM heimdall_gen.jobs WHERE job_id = :hand_job;
-- a final status never changes, not even by its owner
UPDATE heimdall_gen.jobs SET status = 'paused' WHERE job_id = :hand_job;
SELECT status FROM heimdall_gen.jobs WHERE job_id = :hand_job;
SELECT heimdall_gen.drop_dataset('mallory_hand');
-- a row of her own network with an antenna of 1 MB (stored compressed: a few
-- kB) is quoted in the refusal cut to 40 bytes, not whole: once in the
-- client's error and twice in the server's log at every call, 600 MB did
-- fill the log's disk (an attacker's review)
INSERT INTO heimdall_gen.receivers (network, name, lat, lon, antenna)
VALUES ('big', 'b1', 45, 8, repeat('y', 1000000)), ('big', 'b2', 45.5, 8, 'omni'), ('big', 'b3', 45, 9, 'omni');
SELECT pg_temp.try($$SELECT heimdall_gen.resolve_params('{"receiver_network": "big", "rx_layout": "fixed"}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('big_antenna', 3, 1, '{"receiver_network": "big"}')$$);
SELECT count(*) AS datasets_made FROM heimdall_gen.datasets WHERE name = 'big_antenna';
DELETE FROM heimdall_gen.receivers WHERE network = 'big';
-- so are the names a call is given: a dataset name no dataset can have
-- (over 200 characters) and a receiver network, of 1 MB each
SELECT pg_temp.try($$SELECT heimdall_gen.drop_dataset(repeat('x', 1000000))$$);
SELECT pg_temp.try($$SELECT heimdall_gen.free_iq(repeat('x', 1000000))$$);
SELECT pg_temp.try($$SELECT heimdall_gen.materialize(repeat('x', 1000000))$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('net_big', 3, 1, jsonb_build_object('receiver_network', repeat('x', 1000000)))$$);
RESET ROLE;

-- nothing planted ever ran, nobody gained anything, the victim's data is intact
SELECT count(*) AS traps_sprung FROM evil.ran;
SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles
 WHERE rolname LIKE 'regress_hg_%' ORDER BY 1;
SELECT status, owner FROM heimdall_gen.jobs WHERE job_id = :victim_job;
SELECT count(*) AS receivers_of_victim FROM heimdall_gen.receivers WHERE owner = 'regress_hg_victim'::regrole;

SET client_min_messages = warning;
SELECT heimdall_gen.cancel_job(:victim_job);
SELECT heimdall_gen.drop_dataset('victim_data');
DELETE FROM heimdall_gen.receivers;
DELETE FROM heimdall_gen.event_channels;
DROP SCHEMA evil CASCADE;
DROP FUNCTION pg_temp.now(), pg_temp.format(text, anyelement, anyelement);
DROP TABLE pg_temp.jobs, pg_temp.datasets;
DROP ROLE regress_hg_mallory, regress_hg_victim, regress_hg_nologin;
