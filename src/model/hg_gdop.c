/*
 * hg_gdop.c
 *    TDOA GDOP of the detected receivers (definition in hg_gdop.h).
 */
#include "hg_gdop.h"

#include <math.h>

double
hg_gdop_from_directions(const double *east, const double *north, int n)
{
	double		me = 0,
				mn = 0,
				see = 0,
				snn = 0,
				sen = 0,
				det;
	int			i;

	if (n < 3)
		return INFINITY;		/* two unknowns need two independent differences */
	for (i = 0; i < n; i++)
	{
		me += east[i];
		mn += north[i];
	}
	me /= n;
	mn /= n;
	for (i = 0; i < n; i++)
	{
		double		e = east[i] - me;
		double		no = north[i] - mn;

		see += e * e;
		snn += no * no;
		sen += e * no;
	}
	det = see * snn - sen * sen;
	if (!(det > 1e-12 * (see + snn) * (see + snn)) || det <= 0)
		return INFINITY;
	/* trace of the inverse of [[see, sen], [sen, snn]] */
	return sqrt((see + snn) / det);
}

int
hg_receivers_collinear(const double *x, const double *y, int n, double rel_tol)
{
	double		mx = 0,
				my = 0,
				sxx = 0,
				syy = 0,
				sxy = 0,
				tr,
				det,
				disc,
				major,
				minor;
	int			i;

	if (n < 3)
		return 1;
	for (i = 0; i < n; i++)
	{
		mx += x[i];
		my += y[i];
	}
	mx /= n;
	my /= n;
	for (i = 0; i < n; i++)
	{
		sxx += (x[i] - mx) * (x[i] - mx);
		syy += (y[i] - my) * (y[i] - my);
		sxy += (x[i] - mx) * (y[i] - my);
	}
	tr = sxx + syy;
	det = sxx * syy - sxy * sxy;
	disc = sqrt(fmax(tr * tr / 4 - det, 0));
	major = tr / 2 + disc;
	minor = tr / 2 - disc;
	return major <= 0 || sqrt(fmax(minor, 0) / major) < rel_tol;
}
