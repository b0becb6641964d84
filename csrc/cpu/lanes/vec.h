// The lane vector of an ISA and the register-level helpers every lane kernel family uses. Part of the per-ISA
// translation units (lanes/isa_<isa>.cpp), which include it inside their `#pragma GCC target` region with
// SPECDIFF_ISA naming the namespace and SPECDIFF_VEC_BYTES the register width.
//
// A lane vector V holds one value of kLanes<T> planes (or channels): one register of the ISA, as a GCC vector
// extension type, so arithmetic on V compiles to whole-register SIMD for the including file's ISA. Everything
// here has internal linkage (the unnamed namespace), so the per-ISA copies never meet at link time.
#pragma once

#include "cpu/simd_exp.h"

// The register-tile transposes below are forced inline: GCC left some calls out of line, which passes the tile
// through memory (the spectral_filter2d forward 6-11% slower, one thread, Intel Xeon model 106).
#define SPECDIFF_TILE_INLINE inline __attribute__((always_inline))
#define SPECDIFF_TILE_INLINE_LAMBDA __attribute__((always_inline))

namespace specdiff {
namespace SPECDIFF_ISA {
namespace {

template <typename T>
struct VecOf;
template <>
struct VecOf<float> {
  typedef float type __attribute__((vector_size(SPECDIFF_VEC_BYTES)));
};
template <>
struct VecOf<double> {
  typedef double type __attribute__((vector_size(SPECDIFF_VEC_BYTES)));
};
template <typename T>
constexpr int kLanes = SPECDIFF_VEC_BYTES / static_cast<int>(sizeof(T));
// Shuffle index vectors: integers of the element's width.
template <typename T>
struct IndexVecOf;
template <>
struct IndexVecOf<float> {
  typedef int type __attribute__((vector_size(SPECDIFF_VEC_BYTES)));
};
template <>
struct IndexVecOf<double> {
  typedef long long type __attribute__((vector_size(SPECDIFF_VEC_BYTES)));
};

// One round of an in-register P x P transpose: swaps the off-diagonal s x s sub-blocks of every 2s x 2s
// block (rows i and i + s exchange the halves selected by bit s of the column). log2(P) rounds with
// s = P/2 .. 1 transpose the whole tile.
template <typename T, int s>
SPECDIFF_TILE_INLINE void transpose_round(typename VecOf<T>::type* r) {
  using I = typename IndexVecOf<T>::type;
  constexpr int P = kLanes<T>;
  if constexpr (s < P) {
    I lo, hi;
    for (int j = 0; j < P; ++j) {
      lo[j] = (j & s) ? P + j - s : j;
      hi[j] = (j & s) ? P + j : j + s;
    }
    for (int i = 0; i < P; ++i) {
      if (i & s) continue;
      const typename VecOf<T>::type a = r[i], b = r[i + s];
      r[i] = __builtin_shuffle(a, b, lo);
      r[i + s] = __builtin_shuffle(a, b, hi);
    }
  }
}

template <typename T>
SPECDIFF_TILE_INLINE void transpose_tile(typename VecOf<T>::type* r) {
  transpose_round<T, 8>(r);
  transpose_round<T, 4>(r);
  transpose_round<T, 2>(r);
  transpose_round<T, 1>(r);
}

// Stores v at p (aligned to the vector size) past the caches: a streaming store does not read the line it
// writes first.
template <typename T>
inline void stream_vector(T* p, typename VecOf<T>::type v) {
#if defined(__x86_64__) && SPECDIFF_VEC_BYTES == 64
  if constexpr (sizeof(T) == 4) _mm512_stream_ps(reinterpret_cast<float*>(p), reinterpret_cast<__m512>(v));
  else _mm512_stream_pd(reinterpret_cast<double*>(p), reinterpret_cast<__m512d>(v));
#elif defined(__x86_64__) && SPECDIFF_VEC_BYTES == 32
  if constexpr (sizeof(T) == 4) _mm256_stream_ps(reinterpret_cast<float*>(p), reinterpret_cast<__m256>(v));
  else _mm256_stream_pd(reinterpret_cast<double*>(p), reinterpret_cast<__m256d>(v));
#elif defined(__x86_64__) && SPECDIFF_VEC_BYTES == 16
  if constexpr (sizeof(T) == 4) _mm_stream_ps(reinterpret_cast<float*>(p), reinterpret_cast<__m128>(v));
  else _mm_stream_pd(reinterpret_cast<double*>(p), reinterpret_cast<__m128d>(v));
#else
  __builtin_memcpy(p, &v, sizeof(v));
#endif
}

inline void stream_fence() {
#if defined(__x86_64__)
  _mm_sfence();
#endif
}

// Stores v at p: a streaming store (p aligned to the vector size) or an ordinary one.
template <typename T, bool kStream>
inline void store_vector(T* p, typename VecOf<T>::type v) {
  if constexpr (kStream) stream_vector<T>(p, v);
  else __builtin_memcpy(p, &v, sizeof(v));
}

// The first element from which y + j is vector-aligned (at most m): streaming stores start there.
template <typename T>
inline int64_t aligned_head(const T* y, int64_t m) {
  const int64_t misaligned = static_cast<int64_t>(reinterpret_cast<uintptr_t>(y) % SPECDIFF_VEC_BYTES);
  return std::min<int64_t>(m, misaligned == 0 ? 0 : (SPECDIFF_VEC_BYTES - misaligned) / sizeof(T));
}

// The m <= kLanes<T> values at p as a lane vector whose lanes from m on are zero, and the first m lanes of v
// stored at p: a loop over n values in whole vectors ends with one part vector instead of a scalar copy of its body.
template <typename T>
inline typename VecOf<T>::type load_lanes(const T* p, int64_t m) {
  typename VecOf<T>::type v{};
  if (m == kLanes<T>) __builtin_memcpy(&v, p, sizeof(v));
  else __builtin_memcpy(&v, p, static_cast<size_t>(m) * sizeof(T));
  return v;
}

template <typename T>
inline void store_lanes(T* p, typename VecOf<T>::type v, int64_t m) {
  if (m == kLanes<T>) __builtin_memcpy(p, &v, sizeof(v));
  else __builtin_memcpy(p, &v, static_cast<size_t>(m) * sizeof(T));
}

// body(j, m) for j = 0, L, 2L, ... below n (L = kLanes<T>) with m = min(L, n - j): the whole vectors in a loop
// where m is the constant L (their loads and stores stay in registers), then the part vector.
template <typename T, typename Body>
SPECDIFF_TILE_INLINE void for_each_vector(int64_t n, Body&& body) {
  int64_t j = 0;
  for (; j + kLanes<T> <= n; j += kLanes<T>) body(j, int64_t{kLanes<T>});
  if (j < n) body(j, n - j);
}

template <typename T>
inline T lane_sum(typename VecOf<T>::type v) {
  T s = 0;
  for (int l = 0; l < kLanes<T>; ++l) s += v[l];
  return s;
}

// 1 / d per lane. For float, the ISA's reciprocal estimate (12 bits; 14 with AVX-512) refined by one Newton step,
// within a few units in the last place, in place of a division (the slowest instruction of a sigmoid's lane loop;
// docs/cpu_kernels.md). The estimate is 0 where 1 / d is below float's normal range.
template <typename T>
inline typename VecOf<T>::type reciprocal(typename VecOf<T>::type d) {
  using V = typename VecOf<T>::type;
#if defined(__x86_64__)
  if constexpr (sizeof(T) == 4) {
#if SPECDIFF_VEC_BYTES == 64
    const V r = reinterpret_cast<V>(_mm512_rcp14_ps(reinterpret_cast<__m512>(d)));
#elif SPECDIFF_VEC_BYTES == 32
    const V r = reinterpret_cast<V>(_mm256_rcp_ps(reinterpret_cast<__m256>(d)));
#else
    const V r = reinterpret_cast<V>(_mm_rcp_ps(reinterpret_cast<__m128>(d)));
#endif
    return r + r * (T(1) - d * r);
  }
#endif
  return T(1) / d;
}

// σ(u) = 1 / (1 + e^-u) per lane.
template <typename T>
inline typename VecOf<T>::type sigmoid(typename VecOf<T>::type u) {
  using V = typename VecOf<T>::type;
  return reciprocal<T>(T(1) + cpu::exp_lanes<T, V, typename IndexVecOf<T>::type>(-u));
}

}  // namespace
}  // namespace SPECDIFF_ISA
}  // namespace specdiff
