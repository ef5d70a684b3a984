/*
 * hg_gdop.c
 *    TDOA GDOP of the detected receivers (definition in hg_gdop.h).
 */
#include "hg_gdop.h"

#include <math.h>

/* Scatter matrix [[sxx, sxy], [sxy, syy]] of n points around their mean. */
static void
scatter_2x2(const double *x, const double *y, int n, double *sxx, double *syy, double *sxy)
{
	double		mx = 0,
				my = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		mx += x[i];
		my += y[i];
	}
	mx /= n;
	my /= n;
	*sxx = *syy = *sxy = 0;
	for (i = 0; i < n; i++)
	{
		*sxx += (x[i] - mx) * (x[i] - mx);
		*syy += (y[i] - my) * (y[i] - my);
		*sxy += (x[i] - mx) * (y[i] - my);
	}
}

double
hg_gdop_from_directions(const double *east, const double *north, int n)
{
	double		see,
				snn,
				sen,
				det;

	if (n < 3)
		return INFINITY;		/* two unknowns need two independent differences */
	scatter_2x2(east, north, n, &see, &snn, &sen);
	det = see * snn - sen * sen;
	if (!(det > 1e-12 * (see + snn) * (see + snn)) || det <= 0)
		return INFINITY;
	/* trace of the inverse of [[see, sen], [sen, snn]] */
	return sqrt((see + snn) / det);
}

int
hg_receivers_collinear(const double *x, const double *y, int n, double rel_tol)
{
	double		sxx,
				syy,
				sxy,
				tr,
				det,
				disc,
				major,
				minor;

	if (n < 3)
		return 1;
	scatter_2x2(x, y, n, &sxx, &syy, &sxy);
	tr = sxx + syy;
	det = sxx * syy - sxy * sxy;
	disc = sqrt(fmax(tr * tr / 4 - det, 0));
	major = tr / 2 + disc;
	minor = tr / 2 - disc;
	return major <= 0 || sqrt(fmax(minor, 0) / major) < rel_tol;
}
