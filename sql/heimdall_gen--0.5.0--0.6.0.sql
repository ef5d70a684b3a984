/*
 * heimdall_gen--0.5.0--0.6.0.sql
 *    Update from 0.5.0 to 0.6.0, and the sixth step of every fresh CREATE
 *    EXTENSION (0.1.0, then each update script in turn, then this).
 *
 *    - The job commands refuse a NULL argument (22023, naming it), as
 *      start_job and wait_job do: STRICT, cancel_job(1, NULL) returned NULL
 *      and did nothing, which reads like a call that worked.  The library
 *      checks each argument.
 */
\echo Use "ALTER EXTENSION heimdall_gen UPDATE TO '0.6.0'" to load this file. \quit

ALTER FUNCTION heimdall_gen.cancel_job(bigint, boolean) CALLED ON NULL INPUT;
ALTER FUNCTION heimdall_gen.pause_job(bigint) CALLED ON NULL INPUT;
ALTER FUNCTION heimdall_gen.resume_job(bigint) CALLED ON NULL INPUT;
ALTER FUNCTION heimdall_gen.materialize(text) CALLED ON NULL INPUT;
ALTER FUNCTION heimdall_gen.free_iq(text) CALLED ON NULL INPUT;
