/*
 * hg_simd.h
 *    How the model asks for vector code.  HG_AVX2_CLONES on a function makes
 *    GCC emit an AVX2 clone and a baseline one, chosen at load time; both
 *    run the same IEEE operations in the same order (no FMA: the model is
 *    built with -ffp-contract=off), so they give the same bytes.  Building
 *    with -DHG_SCALAR_ONLY drops every clone and intrinsic path: `make unit`
 *    runs the golden test in such a build too, which proves that equality
 *    for the pinned attempts.
 */
#ifndef HG_SIMD_H
#define HG_SIMD_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(HG_SCALAR_ONLY)
#define HG_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define HG_AVX2_CLONES
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(HG_SCALAR_ONLY)
#define HG_HAVE_AVX2_INTRINSICS 1
#endif

#endif							/* HG_SIMD_H */
