/*
 * hg_geo.h
 *    Geometry of a sample: WGS-84 positions to Earth-centred coordinates
 *    (so distances are true 3-D straight lines between antennas), local
 *    east/north directions for antenna patterns and GDOP, the terrain
 *    elevation model, and the placement of receivers and transmitter.
 */
#ifndef HG_GEO_H
#define HG_GEO_H

#include "hg_model.h"
#include "hg_rng.h"

typedef struct hg_ecef
{
	double		x;
	double		y;
	double		z;
} hg_ecef;

/* Latitude/longitude in degrees and altitude above the ellipsoid in metres. */
hg_ecef		hg_geo_to_ecef(double lat_deg, double lon_deg, double alt_m);
double		hg_geo_distance(hg_ecef a, hg_ecef b);

/* Unit east and north horizontal components of the direction from a to b, seen at a. */
void		hg_geo_horizontal_direction(double lat_deg, double lon_deg, hg_ecef from, hg_ecef to,
										double *east, double *north);

/* Azimuth (degrees clockwise from north, [0, 360)) from a to b, seen at a. */
double		hg_geo_azimuth(double lat_deg, double lon_deg, hg_ecef from, hg_ecef to);

/*
 * Ground elevation in metres: 200 m + 300 m per degree of latitude above 44,
 * plus smooth bounded hills (+-80 m) that depend only on the position, never
 * below 50 m.
 */
double		hg_terrain_elevation(double lat_deg, double lon_deg);

/* Bounding box of a set of positions. */
typedef struct hg_box
{
	double		lat_min;
	double		lat_max;
	double		lon_min;
	double		lon_max;
} hg_box;

/* Place the receivers of one sample (count, positions, heights) per the layout. */
int			hg_geo_place_receivers(const hg_config *cfg, hg_rng *rng,
								   double *lat, double *lon, double *height_m);

/* TX position: inside_ratio inside the receivers' box, else in the box grown by margin_deg. */
void		hg_geo_place_tx(const hg_config *cfg, hg_rng *rng, hg_box rx_box,
							double *lat, double *lon);

/* The same meridian, as a longitude in [-180, 180]. */
double		hg_geo_wrap_longitude(double lon_deg);

/* Largest TX-RX distance any sample of cfg can have, in metres (for buffer sizing). */
double		hg_geo_max_distance(const hg_config *cfg);

#endif							/* HG_GEO_H */
