/*
 * hg_test.h
 *    A minimal assertion harness for the model's C unit tests.  Each test
 *    binary defines test functions, lists them in main with HG_RUN, and ends
 *    with HG_TEST_SUMMARY, which prints "N passed, N failed" and returns the
 *    process exit status.  A check that fails prints where and why and marks
 *    the current test failed; the test goes on so one run shows every failure.
 */
#ifndef HG_TEST_H
#define HG_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int	hg_test_passed;
static int	hg_test_failed;
static int	hg_test_current_failed;

#define HG_CHECK(cond, ...) \
	do { \
		if (!(cond)) { \
			hg_test_current_failed = 1; \
			fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
		} \
	} while (0)

/* |got - want| <= tol, printing both values when it does not hold. */
#define HG_CHECK_NEAR(got, want, tol, what) \
	do { \
		double hg_g_ = (got), hg_w_ = (want), hg_t_ = (tol); \
		HG_CHECK(fabs(hg_g_ - hg_w_) <= hg_t_, "%s: got %.9g, want %.9g +/- %.3g", \
				 (what), hg_g_, hg_w_, hg_t_); \
	} while (0)

#define HG_RUN(fn) \
	do { \
		hg_test_current_failed = 0; \
		fn(); \
		if (hg_test_current_failed) { hg_test_failed++; printf("not ok - %s\n", #fn); } \
		else { hg_test_passed++; printf("ok - %s\n", #fn); } \
		fflush(stdout); \
	} while (0)

#define HG_TEST_SUMMARY() \
	(printf("%d passed, %d failed\n", hg_test_passed, hg_test_failed), \
	 hg_test_failed == 0 ? 0 : 1)

#endif							/* HG_TEST_H */
