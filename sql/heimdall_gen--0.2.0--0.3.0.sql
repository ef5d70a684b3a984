/*
 * heimdall_gen--0.2.0--0.3.0.sql
 *    Update from 0.2.0 to 0.3.0, and the third step of every fresh CREATE
 *    EXTENSION (0.1.0, then 0.1.0--0.2.0, then this).
 *
 *    0.3.0 adds sigmf(dataset, sample_idx): a sample as SigMF 1.2 metadata,
 *    one .sigmf-meta document per reception and the .sigmf-collection that
 *    ties them together (issue 11).  The fields it writes are those of the
 *    core specification, of the canonical `spatial` (v1.1.0) and `signal`
 *    (v1.0.0) extensions, and of the `heimdall_gen` extension namespace
 *    documented in docs/heimdall_gen.sigmf-ext.md.
 *
 *    sigmf() runs as its caller: row-level security decides which datasets
 *    it sees, and another role's dataset does not exist for it.
 */
\echo Use "ALTER EXTENSION heimdall_gen UPDATE TO '0.3.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- local_enu: east, north, up (metres) of a point seen from a reference point,
-- both given as WGS-84 latitude, longitude (degrees) and height (metres):
-- exact, through earth-centred earth-fixed coordinates.
-- ---------------------------------------------------------------------------
CREATE FUNCTION heimdall_gen.local_enu(lat0 double precision, lon0 double precision, h0 double precision,
								  lat double precision, lon double precision, h double precision)
RETURNS double precision[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS $$
	WITH k AS (SELECT 6378137.0::float8 AS a,
					  (1.0 / 298.257223563)::float8 * (2.0 - 1.0 / 298.257223563) AS e2),
	p AS (
		SELECT pg_catalog.radians(lat0) AS f0, pg_catalog.radians(lon0) AS l0,
			   pg_catalog.radians(lat) AS f1, pg_catalog.radians(lon) AS l1, k.a, k.e2
		  FROM k),
	n AS (
		SELECT p.*, p.a / pg_catalog.sqrt(1.0 - p.e2 * pg_catalog.sin(p.f0) ^ 2) AS n0,
			   p.a / pg_catalog.sqrt(1.0 - p.e2 * pg_catalog.sin(p.f1) ^ 2) AS n1
		  FROM p),
	d AS (
		SELECT n.*,
			   (n.n1 + h) * pg_catalog.cos(n.f1) * pg_catalog.cos(n.l1)
				 - (n.n0 + h0) * pg_catalog.cos(n.f0) * pg_catalog.cos(n.l0) AS dx,
			   (n.n1 + h) * pg_catalog.cos(n.f1) * pg_catalog.sin(n.l1)
				 - (n.n0 + h0) * pg_catalog.cos(n.f0) * pg_catalog.sin(n.l0) AS dy,
			   (n.n1 * (1.0 - n.e2) + h) * pg_catalog.sin(n.f1)
				 - (n.n0 * (1.0 - n.e2) + h0) * pg_catalog.sin(n.f0) AS dz
		  FROM n)
	SELECT ARRAY[-pg_catalog.sin(d.l0) * d.dx + pg_catalog.cos(d.l0) * d.dy,
				 -pg_catalog.sin(d.f0) * pg_catalog.cos(d.l0) * d.dx
				   - pg_catalog.sin(d.f0) * pg_catalog.sin(d.l0) * d.dy + pg_catalog.cos(d.f0) * d.dz,
				 pg_catalog.cos(d.f0) * pg_catalog.cos(d.l0) * d.dx
				   + pg_catalog.cos(d.f0) * pg_catalog.sin(d.l0) * d.dy + pg_catalog.sin(d.f0) * d.dz]
	  FROM d
$$;
COMMENT ON FUNCTION heimdall_gen.local_enu(double precision, double precision, double precision,
									  double precision, double precision, double precision) IS
	'East, north, up in metres of (lat, lon, h) seen from (lat0, lon0, h0), WGS-84, exact through ECEF';

-- ---------------------------------------------------------------------------
-- sigmf(dataset, sample_idx)
-- ---------------------------------------------------------------------------
CREATE FUNCTION heimdall_gen.sigmf(dataset text, sample_idx bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS $$
DECLARE
	sigmf_version constant text := '1.2.5';
	ds			heimdall_gen.datasets;
	smp			heimdall_gen.samples;
	r			record;
	ext_version	text;
	recorder	text;
	sample_rate	double precision;
	channel_bw	double precision;
	n_iq		bigint;
	t0			text;
	ref			record;
	base		text;
	extensions	jsonb;
	provenance	jsonb;
	transmission jsonb;
	emitter		jsonb;
	detail		jsonb;
	split		text;
	enu			double precision[];
	meta		jsonb;
	recordings	jsonb := '[]';
	streams		jsonb := '[]';
	geometry	jsonb := '[]';
	iq_bytes	bytea;
BEGIN
	SELECT d.* INTO ds FROM heimdall_gen.datasets d WHERE d.name = sigmf.dataset;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'dataset "%" does not exist', sigmf.dataset
			USING ERRCODE = 'undefined_object';
	END IF;
	SELECT s.* INTO smp FROM heimdall_gen.samples s
	 WHERE s.dataset_id = ds.dataset_id AND s.sample_idx = sigmf.sample_idx;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'dataset "%" has no sample with sample_idx %', sigmf.dataset, coalesce(sigmf.sample_idx::text, 'NULL')
			USING ERRCODE = 'undefined_object',
				  DETAIL = 'sample_idx is the attempt index that produced a kept sample: the indices of a dataset have gaps.',
				  HINT = pg_catalog.format('SELECT sample_idx FROM heimdall_gen.samples WHERE dataset_id = %s lists them.',
										   ds.dataset_id);
	END IF;

	SELECT e.extversion INTO ext_version FROM pg_catalog.pg_extension e WHERE e.extname = 'heimdall_gen';
	recorder := pg_catalog.format('heimdall_gen %s (model version %s)', ext_version, ds.model_version);
	sample_rate := (ds.params ->> 'sample_rate_hz')::double precision;
	channel_bw := (ds.params ->> 'channel_bw_hz')::double precision;
	-- the split column arrived with 0.2.0's splits; read it through the row
	-- so that this function does not depend on the column's position
	split := pg_catalog.to_jsonb(smp) ->> 'split';
	-- the common time reference: sample 0 of every reception of the sample
	-- is the same instant; a synthetic dataset's instant is its creation
	t0 := pg_catalog.to_char(ds.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
	base := pg_catalog.format('%s-s%s', ds.name, smp.sample_idx);
	extensions := '[{"name": "spatial", "version": "1.1.0", "optional": true},
					{"name": "signal", "version": "1.0.0", "optional": true},
					{"name": "heimdall_gen", "version": "0.3.0", "optional": true}]';
	provenance := pg_catalog.jsonb_build_object(
		'heimdall_gen:extension_version', ext_version,
		'heimdall_gen:model_version', ds.model_version,
		'heimdall_gen:dataset', ds.name,
		'heimdall_gen:seed', ds.seed,
		'heimdall_gen:sample_idx', smp.sample_idx,
		'heimdall_gen:attempt', smp.sample_idx,
		'heimdall_gen:split', split);
	emitter := pg_catalog.jsonb_build_object(
		'power_tx', smp.tx_power_dbm,
		'geolocation', pg_catalog.jsonb_build_object('type', 'Point', 'coordinates', pg_catalog.jsonb_build_array(smp.tx_lon, smp.tx_lat, smp.tx_alt_m)));
	-- the signal extension's words for the model's modulations
	detail := pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
		'type', CASE WHEN smp.modulation IN ('fm', 'am') THEN 'analog' ELSE 'digital' END,
		'mod_class', CASE smp.modulation WHEN 'fm' THEN 'fm' WHEN 'am' THEN 'am' WHEN 'cw' THEN 'ook'
										 WHEN 'fsk' THEN 'fsk' WHEN 'bpsk' THEN 'psk' WHEN 'qpsk' THEN 'psk' END,
		'carrier_variant', CASE WHEN smp.modulation = 'am' THEN 'with_carrier' ELSE 'single_carrier' END,
		'order', CASE smp.modulation WHEN 'cw' THEN 2 WHEN 'fsk' THEN 2 WHEN 'bpsk' THEN 2 WHEN 'qpsk' THEN 4 END,
		'channel_bw', channel_bw));
	transmission := pg_catalog.jsonb_build_object(
		'frequency_hz', smp.frequency_hz,
		'modulation', smp.modulation,
		'content', smp.content,
		'tx_power_dbm', smp.tx_power_dbm,
		'tx_location', pg_catalog.jsonb_build_object('type', 'Point', 'coordinates', pg_catalog.jsonb_build_array(smp.tx_lon, smp.tx_lat, smp.tx_alt_m)),
		'gdop', smp.gdop,
		'mean_snr_db', smp.mean_snr_db,
		'n_receivers', smp.n_receivers,
		'n_detected', smp.n_detected,
		'datetime', t0);

	-- the origin of spatial:element_geometry: the first receiver's antenna
	SELECT r0.rx_lat, r0.rx_lon, r0.rx_alt_m INTO ref FROM heimdall_gen.receptions r0
	 WHERE r0.dataset_id = ds.dataset_id AND r0.sample_idx = smp.sample_idx
	 ORDER BY r0.rx_idx LIMIT 1;

	FOR r IN
		SELECT rc.*
		  FROM heimdall_gen.receptions rc
		 WHERE rc.dataset_id = ds.dataset_id AND rc.sample_idx = smp.sample_idx
		 ORDER BY rc.rx_idx
	LOOP
		iq_bytes := coalesce(r.iq, heimdall_gen.iq(r.dataset_id, r.sample_idx, r.rx_idx));
		n_iq := pg_catalog.octet_length(iq_bytes) / 8;
		enu := heimdall_gen.local_enu(r.rx_lat, r.rx_lon, r.rx_alt_m, smp.tx_lat, smp.tx_lon, smp.tx_alt_m);
		meta := pg_catalog.jsonb_build_object(
			'global', pg_catalog.jsonb_build_object(
				'core:datatype', 'cf32_le',
				'core:sample_rate', sample_rate,
				'core:version', sigmf_version,
				'core:num_channels', 1,
				'core:sha512', pg_catalog.encode(pg_catalog.sha512(iq_bytes), 'hex'),
				'core:recorder', recorder,
				'core:description', pg_catalog.format('heimdall_gen synthetic reception: dataset %s, sample %s, receiver %s (%s)',
													  ds.name, smp.sample_idx, r.rx_idx, r.rx_name),
				'core:collection', base,
				'core:geolocation', pg_catalog.jsonb_build_object('type', 'Point', 'coordinates', pg_catalog.jsonb_build_array(r.rx_lon, r.rx_lat, r.rx_alt_m)),
				'core:extensions', extensions,
				'spatial:num_elements', smp.n_receivers,
				'spatial:channel_index', r.rx_idx)
			|| provenance
			|| pg_catalog.jsonb_build_object(
				'heimdall_gen:rx_idx', r.rx_idx,
				'heimdall_gen:rx_name', r.rx_name,
				'heimdall_gen:antenna', r.antenna,
				'heimdall_gen:antenna_gain_dbi', r.antenna_gain_dbi,
				'heimdall_gen:distance_m', r.distance_m,
				'heimdall_gen:delay_s', r.delay_s,
				'heimdall_gen:rx_power_dbm', r.rx_power_dbm,
				'heimdall_gen:snr_db', r.snr_db,
				'heimdall_gen:noise_floor_dbm', r.rx_power_dbm - r.snr_db,
				'heimdall_gen:freq_offset_hz', r.freq_offset_hz,
				'heimdall_gen:signal_present', r.signal_present,
				'heimdall_gen:transmission', transmission),
			'captures', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
				'core:sample_start', 0,
				'core:frequency', smp.frequency_hz,
				'core:datetime', t0,
				'core:geolocation', pg_catalog.jsonb_build_object('type', 'Point', 'coordinates', pg_catalog.jsonb_build_array(r.rx_lon, r.rx_lat, r.rx_alt_m)),
				'spatial:aperture_azimuth', 0.0,
				'spatial:emitter_bearing', pg_catalog.jsonb_build_object(
					'azimuth', pg_catalog.mod((pg_catalog.degrees(pg_catalog.atan2(enu[1], enu[2])) + 360.0)::numeric, 360.0)::double precision,
					'elevation', pg_catalog.degrees(pg_catalog.atan2(enu[3], pg_catalog.sqrt(enu[1] ^ 2 + enu[2] ^ 2))),
					'range', r.distance_m))),
			'annotations', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
				'core:sample_start', 0,
				'core:sample_count', n_iq,
				'core:freq_lower_edge', smp.frequency_hz + r.freq_offset_hz - channel_bw / 2,
				'core:freq_upper_edge', smp.frequency_hz + r.freq_offset_hz + channel_bw / 2,
				'core:label', smp.modulation,
				'core:generator', recorder,
				'signal:detail', detail,
				'signal:emitter', emitter,
				'spatial:emitter_location', pg_catalog.jsonb_build_object('type', 'Point', 'coordinates', pg_catalog.jsonb_build_array(smp.tx_lon, smp.tx_lat, smp.tx_alt_m)),
				'heimdall_gen:modulation', smp.modulation,
				'heimdall_gen:content', smp.content,
				'heimdall_gen:signal_present', r.signal_present)));
		recordings := recordings || pg_catalog.jsonb_build_array(meta);
		-- the hash is that of the .sigmf-meta file, whose bytes are this
		-- document's text form (what an export writes)
		streams := streams || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
			'name', pg_catalog.format('%s-rx%s', base, r.rx_idx),
			'hash', pg_catalog.encode(pg_catalog.sha512(pg_catalog.convert_to(meta::text, 'UTF8')), 'hex')));
		enu := heimdall_gen.local_enu(ref.rx_lat, ref.rx_lon, ref.rx_alt_m, r.rx_lat, r.rx_lon, r.rx_alt_m);
		-- spatial CRS with the boresight (x) at true north: x north, y west, z up
		geometry := geometry || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
			'point', pg_catalog.jsonb_build_array(enu[2], -enu[1], enu[3])));
	END LOOP;

	RETURN pg_catalog.jsonb_build_object(
		'collection', pg_catalog.jsonb_build_object('collection',
			pg_catalog.jsonb_build_object(
				'core:version', sigmf_version,
				'core:description', pg_catalog.format('heimdall_gen synthetic transmission: dataset %s, sample %s, %s receivers',
													  ds.name, smp.sample_idx, smp.n_receivers),
				'core:extensions', extensions,
				'core:streams', streams,
				'spatial:element_geometry', geometry)
			|| provenance
			|| pg_catalog.jsonb_build_object(
				'heimdall_gen:name', base,
				'heimdall_gen:reference_point', pg_catalog.jsonb_build_object('type', 'Point', 'coordinates', pg_catalog.jsonb_build_array(ref.rx_lon, ref.rx_lat, ref.rx_alt_m)),
				'heimdall_gen:transmission', transmission,
				'heimdall_gen:params', ds.params)),
		'recordings', recordings);
END
$$;
COMMENT ON FUNCTION heimdall_gen.sigmf(text, bigint) IS
	'A sample as SigMF 1.2 metadata: {"collection": <.sigmf-collection>, "recordings": [<.sigmf-meta per reception, rx_idx order>]}';

GRANT EXECUTE ON FUNCTION heimdall_gen.sigmf(text, bigint),
	heimdall_gen.local_enu(double precision, double precision, double precision,
						   double precision, double precision, double precision) TO PUBLIC;
