/*
 * heimdall_gen--0.3.0--0.4.0.sql
 *    Update from 0.3.0 to 0.4.0, and the fourth step of every fresh CREATE
 *    EXTENSION (0.1.0, then 0.1.0--0.2.0, 0.2.0--0.3.0, then this).
 *
 *    - A hand UPDATE of the status of a job no worker runs (queued or
 *      paused) is an event like any other status change, and says how far
 *      the job got.  A running job's worker sees such an UPDATE and sends
 *      the event itself; the extension's own functions send theirs.
 *    - local_enu() refuses coordinates that are not coordinates (NaN,
 *      infinities, a latitude beyond a pole) instead of returning numbers
 *      or PostgreSQL's "input is out of range", which names no argument.
 */
\echo Use "ALTER EXTENSION heimdall_gen UPDATE TO '0.4.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Hand status changes of jobs without a worker
-- ---------------------------------------------------------------------------

-- A hand UPDATE of a job no worker runs: no worker will say how far it got.
CREATE FUNCTION heimdall_gen._jobs_hand_status_message()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS $$
BEGIN
	IF OLD.status IN ('queued', 'paused') AND NEW.status IN ('cancelled', 'paused')
	   AND NEW.status <> OLD.status AND NEW.message IS NOT DISTINCT FROM OLD.message THEN
		NEW.message := pg_catalog.format('%s at %s of %s samples', NEW.status, NEW.samples_done, NEW.num_samples);
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER hand_status_message BEFORE UPDATE OF status ON heimdall_gen.jobs
	FOR EACH ROW EXECUTE FUNCTION heimdall_gen._jobs_hand_status_message();
REVOKE ALL ON FUNCTION heimdall_gen._jobs_hand_status_message() FROM PUBLIC;

-- Runs as whoever updates the row.  The extension's own statements run as
-- its owner and send their events themselves; anyone else is the job's
-- owner (row-level security lets no other role update a job), whose own
-- channel it may read and notify.
CREATE FUNCTION heimdall_gen._jobs_hand_status_event()
RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS $$
DECLARE
	found_channel text;
BEGIN
	IF OLD.status NOT IN ('queued', 'paused') OR NEW.status = OLD.status
	   OR heimdall_gen.current_role_id()::pg_catalog.oid OPERATOR(pg_catalog.=)
		  (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'heimdall_gen') THEN
		RETURN NULL;
	END IF;
	SELECT c.channel INTO found_channel FROM heimdall_gen.event_channels c
	 WHERE c.role_id::pg_catalog.oid OPERATOR(pg_catalog.=) NEW.owner::pg_catalog.oid;
	IF found_channel IS NOT NULL THEN
		PERFORM pg_catalog.pg_notify(found_channel,
			pg_catalog.format('{"job_id": %s, "event": "status", "status": "%s"}', NEW.job_id, NEW.status));
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER hand_status_event AFTER UPDATE OF status ON heimdall_gen.jobs
	FOR EACH ROW EXECUTE FUNCTION heimdall_gen._jobs_hand_status_event();
REVOKE ALL ON FUNCTION heimdall_gen._jobs_hand_status_event() FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- local_enu: the same computation, its arguments checked first
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION heimdall_gen.local_enu(lat0 double precision, lon0 double precision, h0 double precision,
										  lat double precision, lon double precision, h double precision)
RETURNS double precision[] LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, heimdall_gen, pg_temp
AS $$
DECLARE
	names CONSTANT text[] := ARRAY['lat0', 'lon0', 'h0', 'lat', 'lon', 'h'];
	vals CONSTANT double precision[] := ARRAY[lat0, lon0, h0, lat, lon, h];
	-- latitudes to the poles, longitudes once around either way, heights from the deepest mine to beyond GEO
	lo CONSTANT double precision[] := ARRAY[-90, -360, -1e5, -90, -360, -1e5];
	hi CONSTANT double precision[] := ARRAY[90, 360, 1e8, 90, 360, 1e8];
	i integer;
BEGIN
	FOR i IN 1 .. 6 LOOP
		IF NOT (vals[i] >= lo[i] AND vals[i] <= hi[i]) THEN
			RAISE EXCEPTION 'local_enu: % must be between % and %, not %', names[i], lo[i], hi[i], vals[i]
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END LOOP;
	RETURN (
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
	  FROM d);
END
$$;
