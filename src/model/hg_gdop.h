/*
 * hg_gdop.h
 *    Geometric dilution of precision for time-difference-of-arrival (TDOA)
 *    positioning of a transmitter on the ground.
 *
 * Definition.  Receiver i measures the arrival time t_i = t0 + r_i / c + n_i
 * with independent noise of standard deviation sigma (in metres of range
 * once multiplied by c), and the emission time t0 unknown.  Linearised at
 * the true horizontal position p, the range r_i changes by g_i . dp, where
 * g_i is the horizontal unit vector from receiver i towards the
 * transmitter.  Eliminating t0 (equivalently: using the N-1 differences to
 * a reference receiver with their correlated noise covariance
 * sigma^2 (I + 1 1^T)), the Fisher information of the position is
 *      J = (1 / sigma^2) * sum_i (g_i - g_mean)(g_i - g_mean)^T
 * and the GDOP is the position error per unit of range error:
 *      GDOP = sqrt(trace(J^-1)) * sigma = sqrt(trace(S^-1)),
 *      S = sum_i (g_i - g_mean)(g_i - g_mean)^T      (2 x 2).
 * Example: N receivers evenly spaced on a circle around the transmitter
 * give S = (N/2) I, so GDOP = 2 / sqrt(N).  It does not depend on which
 * receiver is the reference.  Horizontal (2-D) because the transmitter's
 * height follows from the terrain; receivers near the ground carry almost no
 * vertical information.
 *
 * Degenerate geometry is infinite GDOP: S singular (all directions alike)
 * or receivers on one straight line, whose fix has a mirror-image twin
 * across that line that no local measure can see.
 */
#ifndef HG_GDOP_H
#define HG_GDOP_H

/* east[i], north[i]: horizontal unit vectors receiver i -> transmitter. */
double		hg_gdop_from_directions(const double *east, const double *north, int n);

/*
 * Are the n receivers (local metres x, y) on one line?  True when the minor
 * axis of their spread is below rel_tol of the major one.
 */
int			hg_receivers_collinear(const double *x, const double *y, int n, double rel_tol);

#endif							/* HG_GDOP_H */
