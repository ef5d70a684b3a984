/*
 * hg_geo.c
 *    Positions on the WGS-84 ellipsoid, the terrain model, and where the
 *    receivers and the transmitter of a sample stand.
 */
#include "hg_geo.h"

#include "hg_gdop.h"
#include "hg_math.h"

#include <math.h>

#define WGS84_A 6378137.0
#define WGS84_E2 6.69437999014e-3
#define DEG (HG_PI / 180.0)
#define METRES_PER_DEG_LAT 111320.0

hg_ecef
hg_geo_to_ecef(double lat_deg, double lon_deg, double alt_m)
{
	double		slat,
				clat,
				slon,
				clon,
				n;
	hg_ecef		p;

	hg_sincos(lat_deg * DEG, &slat, &clat);
	hg_sincos(lon_deg * DEG, &slon, &clon);
	n = WGS84_A / sqrt(1.0 - WGS84_E2 * slat * slat);
	p.x = (n + alt_m) * clat * clon;
	p.y = (n + alt_m) * clat * slon;
	p.z = (n * (1.0 - WGS84_E2) + alt_m) * slat;
	return p;
}

double
hg_geo_distance(hg_ecef a, hg_ecef b)
{
	double		dx = a.x - b.x;
	double		dy = a.y - b.y;
	double		dz = a.z - b.z;

	return sqrt(dx * dx + dy * dy + dz * dz);
}

void
hg_geo_horizontal_direction(double lat_deg, double lon_deg, hg_ecef from, hg_ecef to,
							double *east, double *north)
{
	double		slat,
				clat,
				slon,
				clon;
	double		dx = to.x - from.x,
				dy = to.y - from.y,
				dz = to.z - from.z;
	double		e,
				n,
				h;

	hg_sincos(lat_deg * DEG, &slat, &clat);
	hg_sincos(lon_deg * DEG, &slon, &clon);
	e = -slon * dx + clon * dy;
	n = -slat * clon * dx - slat * slon * dy + clat * dz;
	h = sqrt(e * e + n * n);

	*east = h > 0 ? e / h : 0.0;
	*north = h > 0 ? n / h : 0.0;
}

/*
 * The network is measured in the tangent plane of its first receiver, where
 * a great circle through that receiver is a straight line.  The attempt's
 * own test looks from the transmitter instead, with a tolerance of 1e-3 of
 * the network's extent, and the earth's curvature makes the two views
 * differ by about (span / earth radius)^2 / 6: within 300 km, under 4e-4.
 * So a network answers yes only when it spans at most that and lies on its
 * line within 1e-4 (about a receiver 10 m off a 100 km line): then no
 * attempt can pass, wherever the transmitter stands, and refusing it loses
 * nothing (test_attempt.c runs such networks' attempts to check).
 */
#define LINE_TEST_MAX_SPAN_M 300e3
#define LINE_TEST_REL_TOL 1e-4

bool
hg_config_fixed_network_on_a_line(const hg_config *cfg)
{
	double		east[HG_MAX_FIXED_RECEIVERS];
	double		north[HG_MAX_FIXED_RECEIVERS];
	double		slat,
				clat,
				slon,
				clon;
	hg_ecef		origin;
	int			k;

	if (cfg->n_fixed_rx < 1)
		return false;
	/*
	 * The bound is on the network's extent, any two receivers: measured from
	 * the first one only (at most half of it), a line of 222 km whose first
	 * receiver stood at one end was left to its attempts, which all failed
	 * (a user's review).  A great circle through the first receiver lies on
	 * one line of its tangent plane, however far it goes.
	 */
	for (k = 0; k < cfg->n_fixed_rx; k++)
	{
		hg_ecef		a = hg_geo_to_ecef(cfg->fixed_rx[k].lat_deg, cfg->fixed_rx[k].lon_deg, 0.0);
		int			m;

		for (m = k + 1; m < cfg->n_fixed_rx; m++)
			if (hg_geo_distance(a, hg_geo_to_ecef(cfg->fixed_rx[m].lat_deg, cfg->fixed_rx[m].lon_deg, 0.0)) >
				LINE_TEST_MAX_SPAN_M)
				return false;
	}
	origin = hg_geo_to_ecef(cfg->fixed_rx[0].lat_deg, cfg->fixed_rx[0].lon_deg, 0.0);
	hg_sincos(cfg->fixed_rx[0].lat_deg * DEG, &slat, &clat);
	hg_sincos(cfg->fixed_rx[0].lon_deg * DEG, &slon, &clon);
	for (k = 0; k < cfg->n_fixed_rx; k++)
	{
		hg_ecef		p = hg_geo_to_ecef(cfg->fixed_rx[k].lat_deg, cfg->fixed_rx[k].lon_deg, 0.0);
		double		dx = p.x - origin.x,
					dy = p.y - origin.y,
					dz = p.z - origin.z;

		east[k] = -slon * dx + clon * dy;
		north[k] = -slat * clon * dx - slat * slon * dy + clat * dz;
	}
	return hg_receivers_collinear(east, north, cfg->n_fixed_rx, LINE_TEST_REL_TOL) != 0;
}

/* The smallest latitude and longitude box holding every fixed receiver (at least one). */
static hg_box
fixed_network_box(const hg_config *cfg)
{
	hg_box		b;
	int			k;

	b.lat_min = b.lat_max = cfg->fixed_rx[0].lat_deg;
	b.lon_min = b.lon_max = cfg->fixed_rx[0].lon_deg;
	for (k = 1; k < cfg->n_fixed_rx; k++)
	{
		b.lat_min = fmin(b.lat_min, cfg->fixed_rx[k].lat_deg);
		b.lat_max = fmax(b.lat_max, cfg->fixed_rx[k].lat_deg);
		b.lon_min = fmin(b.lon_min, cfg->fixed_rx[k].lon_deg);
		b.lon_max = fmax(b.lon_max, cfg->fixed_rx[k].lon_deg);
	}
	return b;
}

double
hg_config_fixed_network_lon_span_deg(const hg_config *cfg)
{
	hg_box		b;

	if (cfg->n_fixed_rx < 1)
		return 0.0;
	b = fixed_network_box(cfg);
	return b.lon_max - b.lon_min;
}

double
hg_geo_azimuth(double lat_deg, double lon_deg, hg_ecef from, hg_ecef to)
{
	double		e,
				n,
				az;

	hg_geo_horizontal_direction(lat_deg, lon_deg, from, to, &e, &n);
	az = hg_atan2(e, n) / DEG;
	return az < 0 ? az + 360.0 : az;
}

double
hg_terrain_elevation(double lat_deg, double lon_deg)
{
	/* hills of ~20 and ~7 km wavelength: smooth, bounded to +-80 m */
	double		hills = 50.0 * hg_sin(lat_deg * 17.0) * hg_cos(lon_deg * 13.0) +
		30.0 * hg_sin(lat_deg * 53.0 + lon_deg * 41.0);
	double		h = 200.0 + 300.0 * (lat_deg - 44.0) + hills;

	return h < 50.0 ? 50.0 : h;
}

static void
place_uniform(const hg_config *cfg, hg_rng *rng, int n, double *lat, double *lon)
{
	int			k;

	for (k = 0; k < n; k++)
	{
		lat[k] = hg_rng_range(rng, cfg->area_lat_min, cfg->area_lat_max);
		lon[k] = hg_rng_range(rng, cfg->area_lon_min, cfg->area_lon_max);
	}
}

/*
 * n receivers on a hexagonal grid: the smallest grid of rows x cols >= n
 * covering the area, cells chosen at random without repetition, each point
 * jittered by +-hex_jitter of the spacing.
 */
static void
place_hexagonal(const hg_config *cfg, hg_rng *rng, int n, double *lat, double *lon)
{
	double		height = cfg->area_lat_max - cfg->area_lat_min;
	double		width = cfg->area_lon_max - cfg->area_lon_min;
	int			cols = (int) ceil(sqrt(n * (width > 0 ? width / (height > 0 ? height : 1) : 1)));
	int			rows,
				cells,
				k;
	int			order[HG_MAX_RECEIVERS * 4] = {0};
	double		dx,
				dy;

	if (cols < 1)
		cols = 1;
	rows = (n + cols - 1) / cols;
	cells = rows * cols;
	if (cells > (int) (sizeof(order) / sizeof(order[0])))
		cells = (int) (sizeof(order) / sizeof(order[0]));
	for (k = 0; k < cells; k++)
		order[k] = k;
	/* Fisher-Yates: which cells are used */
	for (k = cells - 1; k > 0; k--)
	{
		int			j = hg_rng_int(rng, 0, k);
		int			t = order[k];

		order[k] = order[j];
		order[j] = t;
	}
	dx = width / cols;
	dy = height / rows;
	for (k = 0; k < n; k++)
	{
		int			r = order[k] / cols;
		int			c = order[k] % cols;
		double		shift = (r % 2) ? 0.25 : -0.25;	/* odd rows offset by half a cell */

		lat[k] = cfg->area_lat_min + (r + 0.5) * dy + hg_rng_range(rng, -1, 1) * cfg->hex_jitter * dy;
		lon[k] = cfg->area_lon_min + (c + 0.5 + shift) * dx + hg_rng_range(rng, -1, 1) * cfg->hex_jitter * dx;
	}
}

int
hg_geo_place_receivers(const hg_config *cfg, hg_rng *rng,
					   double *lat, double *lon, double *height_m)
{
	int			n,
				k;

	if (cfg->rx_layout == HG_LAYOUT_FIXED)
	{
		n = cfg->n_fixed_rx;
		for (k = 0; k < n; k++)
		{
			lat[k] = cfg->fixed_rx[k].lat_deg;
			lon[k] = cfg->fixed_rx[k].lon_deg;
			height_m[k] = cfg->fixed_rx[k].alt_m;
		}
		return n;
	}
	n = hg_rng_int(rng, cfg->rx_count_min, cfg->rx_count_max);
	if (cfg->rx_layout == HG_LAYOUT_HEXAGONAL)
		place_hexagonal(cfg, rng, n, lat, lon);
	else
		place_uniform(cfg, rng, n, lat, lon);
	for (k = 0; k < n; k++)
		height_m[k] = hg_rng_range(rng, cfg->rx_height_min_m, cfg->rx_height_max_m);
	return n;
}

void
hg_geo_place_tx(const hg_config *cfg, hg_rng *rng, hg_box box, double *lat, double *lon)
{
	if (hg_rng_uniform(rng) >= cfg->inside_ratio)
	{
		box.lat_min -= cfg->margin_deg;
		box.lat_max += cfg->margin_deg;
		box.lon_min -= cfg->margin_deg;
		box.lon_max += cfg->margin_deg;
	}
	*lat = hg_rng_range(rng, box.lat_min, box.lat_max);
	*lon = hg_rng_range(rng, box.lon_min, box.lon_max);
}

double
hg_geo_wrap_longitude(double lon_deg)
{
	/* a TX is drawn at most margin_deg (5) past the area, itself within +-180 */
	if (lon_deg > 180.0)
		return lon_deg - 360.0;
	if (lon_deg < -180.0)
		return lon_deg + 360.0;
	return lon_deg;
}

double
hg_geo_max_distance(const hg_config *cfg)
{
	hg_box		b = {cfg->area_lat_min, cfg->area_lat_max, cfg->area_lon_min, cfg->area_lon_max};
	double		dlat,
				dlon,
				coslat;

	if (cfg->rx_layout == HG_LAYOUT_FIXED && cfg->n_fixed_rx > 0)
		b = fixed_network_box(cfg);
	dlat = b.lat_max - b.lat_min + 2 * cfg->margin_deg;
	dlon = b.lon_max - b.lon_min + 2 * cfg->margin_deg;
	/* the widest parallel of the grown box gives the most metres per degree */
	coslat = fmax(hg_cos(fmin(fabs(b.lat_min - cfg->margin_deg), fabs(b.lat_max + cfg->margin_deg)) * DEG), 0.0);
	if ((b.lat_min - cfg->margin_deg) * (b.lat_max + cfg->margin_deg) <= 0)
		coslat = 1.0;			/* the box straddles the equator */
	/* generous: 1 % for the ellipsoid, plus heights up to 5 km */
	dlat *= METRES_PER_DEG_LAT;
	dlon *= METRES_PER_DEG_LAT * coslat;
	return 1.01 * sqrt(dlat * dlat + dlon * dlon) + 5000.0;
}
