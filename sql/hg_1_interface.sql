-- The SQL interface: create the extension, run a small job to completion,
-- read its rows back, check the labels' definitions and the resolved params.
CREATE EXTENSION heimdall_gen;
SET client_min_messages = warning;

-- every default written out, and a known key's default
SELECT jsonb_typeof(heimdall_gen.resolve_params()) AS resolved,
       heimdall_gen.resolve_params() -> 'sample_rate_hz' AS sample_rate_hz,
       heimdall_gen.resolve_params('{"rx_count_max": 7}') -> 'rx_count_max' AS rx_count_max,
       (SELECT count(*) FROM jsonb_object_keys(heimdall_gen.resolve_params())) > 60 AS many_keys;

SELECT heimdall_gen.start_job('small', 4, 12345, '{"duration_ms": 10, "rx_count_min": 4, "rx_count_max": 6}') AS job \gset
SELECT status FROM heimdall_gen.jobs WHERE job_id = :job;
-- the launcher picks the job up; wait for it
SELECT heimdall_gen.wait_job(:job, '120 s');
SELECT status, samples_done, num_samples, attempts >= 4 AS attempted, error IS NULL AS no_error,
       started_at IS NOT NULL AS started, finished_at >= started_at AS finished
  FROM heimdall_gen.jobs WHERE job_id = :job;

-- the dataset keeps the seed and the fully resolved parameters
SELECT name, seed, params -> 'duration_ms' AS duration_ms, params -> 'noise_floor_dbm' AS floor,
       params = heimdall_gen.resolve_params('{"duration_ms": 10, "rx_count_min": 4, "rx_count_max": 6}') AS resolved
  FROM heimdall_gen.datasets WHERE name = 'small';

-- new datasets are the newest model version; the older ones are still generated
SELECT d.model_version = heimdall_gen.model_version() AS newest, heimdall_gen.model_version() AS model_version,
       heimdall_gen.model_versions() AS generated
  FROM heimdall_gen.datasets d WHERE d.name = 'small';

-- samples and receptions agree with each other and with the definitions
SELECT count(*) AS samples, bool_and(n_receivers BETWEEN 4 AND 6) AS rx_count,
       bool_and(n_detected >= 3) AS detected, bool_and(gdop > 0 AND gdop <= 10) AS gdop
  FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d USING (dataset_id) WHERE d.name = 'small';
SELECT bool_and(length(iq) = 8 * 500) AS iq_is_cf32_500,
       bool_and(delay_s = distance_m / 299792458) AS delay_definition,
       bool_and(abs(snr_db - (rx_power_dbm + 120)) < 1e-9) AS snr_definition,
       bool_and(signal_present = (snr_db >= 3)) AS presence,
       bool_and(abs(freq_offset_hz) <= 50) AS offset_range,
       count(*) = (SELECT sum(n_receivers) FROM heimdall_gen.samples) AS one_row_per_receiver
  FROM heimdall_gen.receptions;
SELECT s.sample_idx, s.n_detected = count(*) FILTER (WHERE r.signal_present) AS n_detected_matches
  FROM heimdall_gen.samples s JOIN heimdall_gen.receptions r USING (dataset_id, sample_idx)
 GROUP BY s.sample_idx, s.n_detected ORDER BY 1;

-- sigmf()'s labels are full precision whatever the caller's extra_float_digits
SELECT heimdall_gen.sigmf('small', min(sample_idx))::text AS sigmf_default FROM heimdall_gen.samples \gset
SET extra_float_digits = -15;
SELECT heimdall_gen.sigmf('small', min(sample_idx))::text = :'sigmf_default' AS sigmf_same_with_fewer_digits
  FROM heimdall_gen.samples;
RESET extra_float_digits;

-- the iq column is stored uncompressed, out of line
SELECT attstorage FROM pg_attribute WHERE attrelid = 'heimdall_gen.receptions'::regclass AND attname = 'iq';

-- progress view of a finished job
SELECT status, pid, samples_done, percent, bar FROM heimdall_gen.job_progress WHERE job_id = :job;

-- status transitions: a finished job cannot be cancelled, paused or resumed
SET client_min_messages = notice;
SELECT heimdall_gen.cancel_job(:job);
SELECT heimdall_gen.pause_job(:job);
SELECT heimdall_gen.resume_job(:job);
SELECT status FROM heimdall_gen.jobs WHERE job_id = :job;

-- a queued job that is cancelled before it starts never runs
BEGIN;
SELECT heimdall_gen.start_job('never', 5, 1, '{"duration_ms": 10}') AS never_job \gset
SELECT heimdall_gen.cancel_job(:never_job);
COMMIT;
SELECT pg_sleep(0.5);
SELECT status, samples_done, attempts, started_at IS NULL AS never_started
  FROM heimdall_gen.jobs WHERE job_id = :never_job;

-- a rolled-back start_job leaves nothing
BEGIN;
SELECT heimdall_gen.start_job('rolled_back', 5) > 0 AS queued;
ROLLBACK;
SELECT count(*) FROM heimdall_gen.datasets WHERE name = 'rolled_back';

-- extending a dataset continues at its next attempt index
SELECT heimdall_gen.start_job('small', 2, NULL, '{"duration_ms": 10, "rx_count_min": 4, "rx_count_max": 6}') AS job2 \gset
SELECT heimdall_gen.wait_job(:job2, '120 s');
SELECT j.start_attempt = (SELECT next_attempt FROM heimdall_gen.jobs WHERE job_id = :job) AS continues,
       (SELECT count(*) FROM heimdall_gen.samples s WHERE s.dataset_id = j.dataset_id) AS samples
  FROM heimdall_gen.jobs j WHERE j.job_id = :job2;

-- drop_dataset removes every row
SELECT heimdall_gen.drop_dataset('small');
SELECT (SELECT count(*) FROM heimdall_gen.datasets WHERE name = 'small') AS datasets,
       (SELECT count(*) FROM heimdall_gen.samples) AS samples,
       (SELECT count(*) FROM heimdall_gen.receptions) AS receptions;
