-- Bad input: every invalid argument or params key is an ERROR with SQLSTATE
-- 22023 naming the field and the allowed range, and creates nothing.
\set VERBOSITY default
SET client_min_messages = warning;

-- report the SQLSTATE and message of a failing statement
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

SELECT (SELECT count(*) FROM heimdall_gen.datasets) AS datasets_before,
       (SELECT count(*) FROM heimdall_gen.jobs) AS jobs_before \gset

SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 0)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', -5)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', NULL)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job(NULL, 5)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('', 5)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '[1, 2]')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"no_such_key": 1}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"rx_count_max": 16}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"rx_count_max": 7.5}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"rx_count_max": "7"}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"duration_ms": 0}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"noise": 1}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"noise_floor_dbm": null}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"rx_layout": "circle"}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"rx_count_min": 9, "rx_count_max": 6}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"area_lat_min": 47}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"frequency_min_hz": 4.4e8}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"weight_fm": 0}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"rx_layout": "fixed"}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"receiver_network": "empty"}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"fixed_receivers": [{"name": "a", "lat": 95, "lon": 8}]}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"fixed_receivers": [{"name": "a", "lat": 45, "lon": 8, "antenna": "whip"}]}')$$);
-- an area of no extent (every receiver and the transmitter on one spot), unknown
-- or missing receiver keys, two receivers of one name, a layout that fixed receivers would override
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"area_lat_min": 45, "area_lat_max": 45, "area_lon_min": 7, "area_lon_max": 7}')$$);
-- the documented minimum span itself, 0.001 degrees, is allowed (45.001 - 45
-- falls short of 0.001 in binary floating point: a physics review)
SELECT heimdall_gen.resolve_params('{"area_lat_min": 45, "area_lat_max": 45.001, "area_lon_min": 7, "area_lon_max": 7.001}') ->> 'area_lat_max' AS minimum_span_allowed;
SELECT pg_temp.try($$SELECT heimdall_gen.resolve_params('{"area_lat_min": 45, "area_lat_max": 45.0009, "area_lon_min": 7, "area_lon_max": 7.001}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"area_lon_min": 7, "area_lon_max": 7.0000001}')$$);
-- fixed receivers on one line (a meridian) or at one point locate nothing:
-- refused, rather than a job that fails after 20 x num_samples attempts
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"fixed_receivers": [{"name": "a", "lat": 45, "lon": 8}, {"name": "b", "lat": 45.1, "lon": 8}, {"name": "c", "lat": 45.3, "lon": 8}]}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"fixed_receivers": [{"name": "a", "lat": 45, "lon": 8}, {"name": "b", "lat": 45, "lon": 8}, {"name": "c", "lat": 45, "lon": 8}]}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"fixed_receivers": [{"name": "a", "lat": 45, "lon": 8, "altitude_m": 300}, {"name": "b", "lat": 45.1, "lon": 8}, {"name": "c", "lat": 45, "lon": 8.1}]}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"fixed_receivers": [{"name": "a", "lon": 8}, {"name": "b", "lat": 45.1, "lon": 8}, {"name": "c", "lat": 45, "lon": 8.1}]}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"fixed_receivers": [{"lat": 45, "lon": 8}, {"name": "b", "lat": 45.1, "lon": 8}, {"name": "c", "lat": 45, "lon": 8.1}]}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"fixed_receivers": [{"name": "a", "lat": 45, "lon": 8}, {"name": "a", "lat": 45.1, "lon": 8}, {"name": "c", "lat": 45, "lon": 8.1}]}')$$);
-- a network across the antimeridian: the transmitter would be drawn around the globe
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"fixed_receivers": [{"name": "a", "lat": 45, "lon": 179.6}, {"name": "b", "lat": 45.3, "lon": -179.7}, {"name": "c", "lat": 45.1, "lon": -179.8}]}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"rx_layout": "uniform", "fixed_receivers": [{"name": "a", "lat": 45, "lon": 8}, {"name": "b", "lat": 45.1, "lon": 8}, {"name": "c", "lat": 45, "lon": 8.1}]}')$$);
-- a modulation that cannot fit in the channel (2-FSK tones, FM swing)
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"weight_fsk": 1, "fsk_shift_hz": 500000}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"fm_deviation_hz": 100000}')$$);
-- a frequency error that would move the signal past sample_rate_hz/2 (where
-- it wraps around, and freq_offset_hz would lie): CW fills the channel, FM
-- swings 2 x fm_deviation_hz
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"sample_rate_hz": 8000, "channel_bw_hz": 6000, "weight_fm": 0, "weight_cw": 1, "freq_error_max_hz": 5000}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"sample_rate_hz": 12500, "channel_bw_hz": 12500, "freq_error_max_hz": 1300}')$$);
SELECT heimdall_gen.resolve_params('{"sample_rate_hz": 8000, "channel_bw_hz": 6000, "weight_fm": 0, "weight_cw": 1, "freq_error_max_hz": 1000}')
	-> 'freq_error_max_hz' AS largest_error_accepted;
-- a coherence time too short for 64 fading blocks in the reception
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"duration_ms": 2000, "coherence_min_ms": 10}')$$);
SELECT heimdall_gen.resolve_params('{"duration_ms": 2000, "coherence_min_ms": 32.79}') -> 'coherence_min_ms' AS shortest_accepted,
       heimdall_gen.resolve_params('{"duration_ms": 2000, "coherence_min_ms": 10, "block_fading": false}') -> 'coherence_min_ms' AS without_fading;
-- the symbol rate must fit the channel only when BPSK or QPSK is drawn: an
-- FM-only or narrow CW dataset needs no dummy symbol rate
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"weight_qpsk": 1, "symbol_rate_hz": 500000}')$$);
SELECT heimdall_gen.resolve_params('{"symbol_rate_hz": 500000}') -> 'symbol_rate_hz' AS fm_only_symbol_rate,
       heimdall_gen.resolve_params('{"sample_rate_hz": 8000, "channel_bw_hz": 2000, "weight_fm": 0, "weight_cw": 1}') -> 'channel_bw_hz' AS narrow_cw;
-- a fixed network comes from the receivers table or from the params, not both
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"receiver_network": "alps", "fixed_receivers": [{"name": "a", "lat": 45, "lon": 8}, {"name": "b", "lat": 45.1, "lon": 8}, {"name": "c", "lat": 45, "lon": 8.1}]}')$$);
-- local_enu: coordinates that are not coordinates, named
SELECT pg_temp.try($$SELECT heimdall_gen.local_enu(95, 7, 0, 45, 7, 0)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.local_enu(45, 7, 0, 'NaN', 7, 0)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.local_enu(45, 7, 0, 45, 'Infinity', 0)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.local_enu(45, 7, 1e308, 45, 7, 0)$$);
SELECT pg_catalog.round(e::numeric, 3) FROM unnest(heimdall_gen.local_enu(45, 7, 0, 45, 7.001, 10)) e;
SELECT pg_temp.try($$SELECT heimdall_gen.cancel_job(987654)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.pause_job(987654)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.resume_job(987654)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.wait_job(987654)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.wait_job(987654, interval '-1 s')$$);
-- a NULL argument of a command is refused, naming it, not answered with NULL
SELECT pg_temp.try($$SELECT heimdall_gen.cancel_job(NULL)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.cancel_job(987654, NULL)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.pause_job(NULL)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.resume_job(NULL)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.materialize(NULL)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.free_iq(NULL)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.drop_dataset(NULL)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.drop_dataset('no such dataset')$$);

-- nothing was created by any of them
SELECT (SELECT count(*) FROM heimdall_gen.datasets) = :datasets_before AS no_dataset,
       (SELECT count(*) FROM heimdall_gen.jobs) = :jobs_before AS no_job;

-- a fixed network from the receivers table works, and an inconsistent extension is refused
INSERT INTO heimdall_gen.receivers (network, name, lat, lon, alt_m, antenna, azimuth_deg) VALUES
	('alps', 'aosta', 45.74, 7.32, 12, 'omni', 0),
	('alps', 'torino', 45.07, 7.69, 15, 'yagi', 45),
	('alps', 'milano', 45.46, 9.19, 20, 'collinear', 0),
	('alps', 'genova', 44.41, 8.93, 10, 'log_periodic', 300);
SELECT jsonb_array_length(heimdall_gen.resolve_params('{"receiver_network": "alps"}') -> 'fixed_receivers') AS receivers,
       heimdall_gen.resolve_params('{"receiver_network": "alps"}') -> 'rx_layout' AS layout;
-- an empty fixed_receivers (the default resolve_params prints) gives no receiver: it goes with a network
SELECT jsonb_array_length(heimdall_gen.resolve_params('{"fixed_receivers": [], "receiver_network": "alps"}')
                          -> 'fixed_receivers') AS receivers_with_empty_list;
SELECT heimdall_gen.start_job('fixed', 1, 5, '{"receiver_network": "alps", "duration_ms": 10}') > 0 AS queued;
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('fixed', 1, 5, '{"receiver_network": "alps", "duration_ms": 20}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('fixed', 1, 6, '{"receiver_network": "alps", "duration_ms": 10}')$$);
SELECT heimdall_gen.cancel_job(job_id, wait => true) FROM heimdall_gen.jobs j
  JOIN heimdall_gen.datasets d USING (dataset_id) WHERE d.name = 'fixed';
SELECT heimdall_gen.drop_dataset('fixed') >= 0 AS dropped;
-- a bad row of the receivers table is named by its network and the table
INSERT INTO heimdall_gen.receivers (network, name, lat, lon, alt_m, antenna, azimuth_deg) VALUES
	('broken_antenna', 'a', 45, 8, 15, 'bogus', 0), ('broken_antenna', 'b', 45.1, 8, 15, 'omni', 0),
	('broken_antenna', 'c', 45, 8.1, 15, 'omni', 0),
	('broken_lat', 'a', 'NaN', 8, 15, 'omni', 0), ('broken_lat', 'b', 45.1, 8, 15, 'omni', 0),
	('broken_lat', 'c', 45, 8.1, 15, 'omni', 0),
	('broken_azimuth', 'a', 45, 8, 15, 'yagi', 1e300), ('broken_azimuth', 'b', 45.1, 8, 15, 'omni', 0),
	('broken_azimuth', 'c', 45, 8.1, 15, 'omni', 0);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"receiver_network": "broken_antenna"}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"receiver_network": "broken_lat"}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 5, 1, '{"receiver_network": "broken_azimuth"}')$$);
DELETE FROM heimdall_gen.receivers WHERE network LIKE 'broken%';
-- a receiver's name is any text: control characters survive the resolved JSON
SELECT heimdall_gen.resolve_params($${"fixed_receivers": [{"name": "tab\there\n", "lat": 45.1, "lon": 8},
	{"name": "b", "lat": 45.2, "lon": 8}, {"name": "c", "lat": 45.1, "lon": 8.1}]}$$)
	-> 'fixed_receivers' -> 0 ->> 'name' = E'tab\there\n' AS name_round_trips;

-- a read-only transaction may not cancel, pause or resume (they write the
-- job's row): refused before anything is looked at or signalled
BEGIN READ ONLY;
SELECT pg_temp.try($$SELECT heimdall_gen.cancel_job(1, wait => true)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.pause_job(1)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.resume_job(1)$$);
-- nor start a job, drop or materialize a dataset, each named as such
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('ro', 1)$$);
SELECT pg_temp.try($$SELECT heimdall_gen.drop_dataset('ro')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.materialize('ro')$$);
-- nor free a dataset's IQ: named as such, not by the statement inside it
SELECT pg_temp.try($$SELECT heimdall_gen.free_iq('ro')$$);
COMMIT;
-- a role without an event channel cannot have one made in a read-only
-- transaction (a hot standby's): said so, not by the INSERT inside
CREATE ROLE regress_hg_nochannel;
BEGIN READ ONLY;
SET LOCAL ROLE regress_hg_nochannel;
SELECT heimdall_gen.event_channel();
ROLLBACK;
DROP ROLE regress_hg_nochannel;
-- a timeout beyond a century is refused, naming the limit (added to the
-- current time it would overflow); a century itself is taken
SELECT pg_temp.try($$SELECT heimdall_gen.wait_job(1, '1000000 years')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.wait_job(1, '100 years 1 day')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.wait_job(987654, '100 years')$$);
-- each part too (the months of the first overflow, though it sums to nothing),
-- and a negative one is named as such before it is added
SELECT pg_temp.try($$SELECT heimdall_gen.wait_job(1, '12000000 months -360000000 days')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.wait_job(1, '-1000000 years')$$);
-- nor may a REPEATABLE READ or SERIALIZABLE one cancel, pause or wait: the
-- worker updates the job's row at every batch, which such a snapshot would
-- miss; the job (paused here, so that it stays put) is left as it was
BEGIN;
SELECT heimdall_gen.start_job('snapshot_iso', 3, 1, '{"duration_ms": 10}') AS iso_job \gset
SELECT heimdall_gen.pause_job(:iso_job);
COMMIT;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.try(format('SELECT heimdall_gen.cancel_job(%s, wait => true)', :iso_job));
SELECT pg_temp.try(format('SELECT heimdall_gen.pause_job(%s)', :iso_job));
SELECT pg_temp.try(format('SELECT heimdall_gen.wait_job(%s, interval ''1 s'')', :iso_job));
COMMIT;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT pg_temp.try(format('SELECT heimdall_gen.cancel_job(%s)', :iso_job));
COMMIT;
-- paused before any worker ran it, the job says how far it got all the same
SELECT status, message FROM heimdall_gen.jobs WHERE job_id = :iso_job;
-- a dataset whose job is paused is not dropped, and the refusal says paused
SELECT regexp_replace(pg_temp.try($$SELECT heimdall_gen.drop_dataset('snapshot_iso')$$), 'job [0-9]+', 'job N') AS refused;
SELECT heimdall_gen.cancel_job(:iso_job);
SELECT heimdall_gen.drop_dataset('snapshot_iso') >= 0 AS dropped;
-- no sample has a negative index: split_of says so rather than hash one
SELECT pg_temp.try($$SELECT heimdall_gen.split_of(1, -1)$$);
SELECT heimdall_gen.split_of(1, 0) IN ('train', 'val', 'test') AS split_of_0;
-- a value or key too long for a message is cut on a whole character: half
-- a UTF-8 one would fail to convert to a client's encoding (a C review)
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 1, 1, '{"duration_ms": "abééééééééééééééééééééééééé"}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.start_job('bad', 1, 1, '{"fixed_receivers": [{"name": "r1", "lat": 1, "lon": 1, "aééééééééééééééééééééééééé": 1}]}')$$);
SELECT pg_temp.try($$SELECT heimdall_gen.resolve_params('{"aéééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé": 1}')$$);
-- a floor below the thermal noise over the recorded band is warned of, not
-- refused: the bytes are what the params say, only no receiver is that good
SELECT heimdall_gen.resolve_params('{"sample_rate_hz": 1000000}') ->> 'noise_floor_dbm' AS floor_at_1mhz;
SELECT heimdall_gen.resolve_params('{"sample_rate_hz": 1000000, "noise_floor_dbm": -110}') ->> 'noise_floor_dbm' AS floor_nf_4db;
-- without noise too: the labels (snr_db, which samples are kept) still count the floor
SELECT heimdall_gen.resolve_params('{"sample_rate_hz": 1000000, "noise": false}') ->> 'noise' AS no_noise_warned_too;
-- ... in any server encoding: a cut EUC_JP character (which the model's
-- UTF-8 rule cannot see) becomes '?', not a message that fails to convert
\set regress_db :DBNAME
CREATE DATABASE hg_euc_jp ENCODING 'EUC_JP' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c hg_euc_jp
SET client_encoding = 'UTF8';
CREATE EXTENSION heimdall_gen;
SELECT heimdall_gen.resolve_params('{"duration_ms": "ああああああああああああああああああああ漢漢"}');
SELECT heimdall_gen.resolve_params('{"duration_ms": "aああああああああああああああああああああ漢漢"}');
\c :regress_db
DROP DATABASE hg_euc_jp;
