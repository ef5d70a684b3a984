/*
 * test_gdop.c
 *    Unit tests of the TDOA GDOP: the hand-computed value for symmetric
 *    layouts, invariance to the order of receivers, growth outside the
 *    network, and rejection of degenerate (collinear) geometry.
 */
#include "hg_gdop.h"
#include "hg_test.h"

/* GDOP of receivers at (x, y) metres seen from a transmitter at (tx, ty). */
static double
gdop_at(const double *x, const double *y, int n, double tx, double ty)
{
	double		e[16],
				no[16];
	int			i;

	for (i = 0; i < n; i++)
	{
		double		dx = x[i] - tx,
					dy = y[i] - ty,
					d = sqrt(dx * dx + dy * dy);

		e[i] = dx / d;
		no[i] = dy / d;
	}
	return hg_gdop_from_directions(e, no, n);
}

static void
test_symmetric_layout_hand_value(void)
{
	int			n;

	/* N receivers evenly on a circle, TX at the centre: S = (N/2) I, GDOP = 2/sqrt(N) */
	for (n = 3; n <= 8; n++)
	{
		double		x[8],
					y[8];
		int			i;

		for (i = 0; i < n; i++)
		{
			x[i] = 30000.0 * cos(2 * M_PI * i / n + 0.3);
			y[i] = 30000.0 * sin(2 * M_PI * i / n + 0.3);
		}
		HG_CHECK_NEAR(gdop_at(x, y, n, 0, 0), 2.0 / sqrt((double) n), 1e-9, "circle");
	}
	/* square, worked by hand: g = (+-1, 0), (0, +-1); S = diag(2, 2); GDOP = sqrt(1/2 + 1/2) = 1 */
	{
		const double x[4] = {1000, -1000, 0, 0};
		const double y[4] = {0, 0, 1000, -1000};

		HG_CHECK_NEAR(gdop_at(x, y, 4, 0, 0), 1.0, 1e-12, "square");
	}
}

static void
test_order_invariance_and_growth(void)
{
	const double x[5] = {0, 40000, 10000, -30000, 25000};
	const double y[5] = {0, 5000, 35000, 20000, -30000};
	const double xr[5] = {25000, -30000, 10000, 40000, 0};
	const double yr[5] = {-30000, 20000, 35000, 5000, 0};
	double		inside = gdop_at(x, y, 5, 5000, 8000);
	double		outside = gdop_at(x, y, 5, 300000, 300000);

	HG_CHECK_NEAR(gdop_at(xr, yr, 5, 5000, 8000), inside, 1e-9, "order of receivers");
	HG_CHECK(inside < 3.0, "inside the network: %g", inside);
	HG_CHECK(outside > 5.0 * inside, "far outside (%g) not much worse than inside (%g)", outside, inside);
}

static void
test_degenerate_geometry_rejected(void)
{
	const double x[4] = {0, 10000, 20000, 30000};
	const double y[4] = {0, 10000, 20000, 30000};
	const double ys[4] = {0, 10000, 20000, 30000.5};

	/* TX on the receivers' line: every direction alike, singular */
	HG_CHECK(isinf(gdop_at(x, y, 4, -5000, -5000)), "TX on the line of receivers");
	/* collinear receivers are rejected wherever the TX is (mirror ambiguity) */
	HG_CHECK(hg_receivers_collinear(x, y, 4, 1e-3), "collinear layout not detected");
	HG_CHECK(hg_receivers_collinear(x, ys, 4, 1e-3), "nearly collinear (0.5 m off) not detected");
	{
		const double xs[4] = {0, 10000, 20000, 30000};
		const double yq[4] = {0, 10000, 5000, -2000};

		HG_CHECK(!hg_receivers_collinear(xs, yq, 4, 1e-3), "a proper layout called collinear");
	}
	/* fewer than three receivers */
	HG_CHECK(isinf(gdop_at(x, (const double[4]) {0, 5000, 0, 0}, 2, 3000, 9000)), "two receivers");
}

int
main(void)
{
	HG_RUN(test_symmetric_layout_hand_value);
	HG_RUN(test_order_invariance_and_growth);
	HG_RUN(test_degenerate_geometry_rejected);
	return HG_TEST_SUMMARY();
}
