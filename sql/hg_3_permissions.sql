-- Who may do what: jobs run as their owner; only the owner, members of
-- heimdall_gen_admin or pg_signal_backend may cancel, pause or resume
-- (others: 42501, also for jobs that row-level security hides from them).
SET client_min_messages = warning;
CREATE ROLE regress_hg_alice LOGIN;
CREATE ROLE regress_hg_bob LOGIN;
CREATE ROLE regress_hg_carol LOGIN IN ROLE heimdall_gen_admin;

CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO PUBLIC;

SET ROLE regress_hg_alice;
-- a paused job from the start: it holds no worker while we test
BEGIN;
SELECT heimdall_gen.start_job('alice_data', 3, 1, '{"duration_ms": 10}') AS alice_job \gset
SELECT heimdall_gen.pause_job(:alice_job);
COMMIT;
SELECT owner, status FROM heimdall_gen.jobs WHERE job_id = :alice_job;

SET ROLE regress_hg_bob;
-- row-level security: bob sees none of alice's rows
SELECT count(*) AS jobs_bob_sees FROM heimdall_gen.jobs;
SELECT count(*) AS datasets_bob_sees FROM heimdall_gen.datasets;
SELECT count(*) AS progress_bob_sees FROM heimdall_gen.job_progress;
-- and may not steer her job: for him it does not exist, as it is hidden from him
SELECT pg_temp.try(format('SELECT heimdall_gen.cancel_job(%s)', :alice_job));
SELECT pg_temp.try(format('SELECT heimdall_gen.resume_job(%s)', :alice_job));
SELECT pg_temp.try(format('SELECT heimdall_gen.pause_job(%s)', :alice_job));
-- nor take her dataset's name: a clear error, not a raw unique violation
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('alice_data', 3, 1, '{"duration_ms": 10}')$$);
SELECT (SELECT count(*) FROM heimdall_gen.datasets) AS datasets_bob_sees,
       (SELECT count(*) FROM heimdall_gen.jobs) AS jobs_bob_sees;
-- a hand-written UPDATE of her row changes nothing for him
UPDATE heimdall_gen.jobs SET status = 'cancelled' WHERE job_id = :alice_job;

SET ROLE regress_hg_alice;
SELECT status FROM heimdall_gen.jobs WHERE job_id = :alice_job;
-- the owner resumes, and the job completes as alice
SELECT heimdall_gen.resume_job(:alice_job);
SELECT heimdall_gen.wait_job(:alice_job, '120 s');
SELECT owner, status, samples_done FROM heimdall_gen.jobs WHERE job_id = :alice_job;
SELECT count(*) AS alice_samples FROM heimdall_gen.samples;

-- an admin may cancel someone else's job
BEGIN;
SELECT heimdall_gen.start_job('alice_more', 3, 2, '{"duration_ms": 10}') AS alice_job2 \gset
SELECT heimdall_gen.pause_job(:alice_job2);
COMMIT;
SET ROLE regress_hg_carol;
SELECT heimdall_gen.cancel_job(:alice_job2);
RESET ROLE;
SELECT owner, status FROM heimdall_gen.jobs WHERE job_id = :alice_job2;

-- ordinary roles get USAGE and EXECUTE on the interface, not on internals,
-- but _own_statement(): the status trigger runs it as whoever updates a job,
-- and it tells only whether the caller's own statement is the library's
SELECT has_schema_privilege('regress_hg_bob', 'heimdall_gen', 'USAGE') AS usage,
       has_function_privilege('regress_hg_bob', 'heimdall_gen.start_job(text, integer, bigint, jsonb)', 'EXECUTE') AS execute;
SELECT p.proname AS internal_executable_by_public FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'heimdall_gen' AND p.proname LIKE '\_%' AND has_function_privilege('regress_hg_bob', p.oid, 'EXECUTE');
-- no SECURITY DEFINER function; every function that runs SQL pins search_path
SELECT p.proname AS definer FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'heimdall_gen' AND p.prosecdef;
SELECT p.proname AS not_pinned FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'heimdall_gen'
   AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, heimdall_gen, pg_temp'], false)
 ORDER BY 1;

SET client_min_messages = warning;
SELECT heimdall_gen.drop_dataset(name) >= 0 FROM heimdall_gen.datasets WHERE owner = 'regress_hg_alice'::regrole ORDER BY name;
DROP ROLE regress_hg_alice, regress_hg_bob, regress_hg_carol;
