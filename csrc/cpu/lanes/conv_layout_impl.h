// The layout-changing lane kernels of the complex convolutions (conv_layout.h), for the ISA of the including
// translation unit (see vec.h).
#pragma once

#include "cpu/lanes/conv_layout.h"
#include "cpu/lanes/vec.h"

namespace specdiff {
namespace SPECDIFF_ISA {
namespace {

template <bool kAdjoint, typename T>
inline void gauss_parts(T re, T im, T& a, T& b, T& c) {
  if constexpr (kAdjoint) {
    a = re, b = re - im, c = re + im;
  } else {
    a = re + im, b = im, c = re;
  }
}

// The pixels [p0, p1) of channels [0, C) split into whole L x L tiles, handed to tile(c0, p), and the rest (the
// pixels past the last whole tile, then the last C % L channels), handed element by element to one(c, p).
template <int L, typename Tile, typename One>
inline void for_tiles(int64_t C, int64_t p0, int64_t p1, const Tile& tile, const One& one) {
  const int64_t cend = C / L * L, pend = p0 + (p1 - p0) / L * L;
  for (int64_t c0 = 0; c0 < cend; c0 += L) {
    for (int64_t p = p0; p < pend; p += L) tile(c0, p);
  }
  for (int64_t p = pend; p < p1; ++p) {
    for (int64_t c = 0; c < cend; ++c) one(c, p);
  }
  for (int64_t p = p0; p < p1; ++p) {
    for (int64_t c = cend; c < C; ++c) one(c, p);
  }
}

template <typename T, bool kAdjoint>
void gauss_split(const T* __restrict in, int64_t C, int64_t P, int64_t p0, int64_t p1, T* __restrict o0,
                 T* __restrict o1, T* __restrict o2) {
  using V = typename VecOf<T>::type;
  constexpr int L = kLanes<T>;
  const T* in_im = in + C * P;
  // A tile: L channel rows in, transposed in registers, L pixel rows of L channels out.
  const auto tile = [&](int64_t c0, int64_t p) {
    V re[L], im[L];
    for (int j = 0; j < L; ++j) {
      __builtin_memcpy(&re[j], in + (c0 + j) * P + p, sizeof(V));
      __builtin_memcpy(&im[j], in_im + (c0 + j) * P + p, sizeof(V));
    }
    transpose_tile<T>(re);
    transpose_tile<T>(im);
    for (int q = 0; q < L; ++q) {
      V a, b, c;
      gauss_parts<kAdjoint>(re[q], im[q], a, b, c);
      const int64_t dst = (p + q) * C + c0;
      __builtin_memcpy(o0 + dst, &a, sizeof(V));
      __builtin_memcpy(o1 + dst, &b, sizeof(V));
      __builtin_memcpy(o2 + dst, &c, sizeof(V));
    }
  };
  const auto one = [&](int64_t c, int64_t p) {
    gauss_parts<kAdjoint>(in[c * P + p], in_im[c * P + p], o0[p * C + c], o1[p * C + c], o2[p * C + c]);
  };
  for_tiles<L>(C, p0, p1, tile, one);
}

template <typename T>
void gauss_merge(const T* __restrict k, const T* __restrict u, const T* __restrict v, int64_t C, int64_t P,
                 int64_t p0, int64_t p1, T* __restrict out) {
  using V = typename VecOf<T>::type;
  constexpr int L = kLanes<T>;
  T* out_im = out + C * P;
  const auto tile = [&](int64_t c0, int64_t p) {
    V re[L], im[L];
    for (int q = 0; q < L; ++q) {
      V vk, vu, vv;
      const int64_t src = (p + q) * C + c0;
      __builtin_memcpy(&vk, k + src, sizeof(V));
      __builtin_memcpy(&vu, u + src, sizeof(V));
      __builtin_memcpy(&vv, v + src, sizeof(V));
      re[q] = vk - vu;
      im[q] = vk - vv;
    }
    transpose_tile<T>(re);
    transpose_tile<T>(im);
    for (int j = 0; j < L; ++j) {
      __builtin_memcpy(out + (c0 + j) * P + p, &re[j], sizeof(V));
      __builtin_memcpy(out_im + (c0 + j) * P + p, &im[j], sizeof(V));
    }
  };
  const auto one = [&](int64_t c, int64_t p) {
    out[c * P + p] = k[p * C + c] - u[p * C + c];
    out_im[c * P + p] = k[p * C + c] - v[p * C + c];
  };
  for_tiles<L>(C, p0, p1, tile, one);
}

// Plane stacks [C][P] to channels_last [P][C] and back (see RelayoutFn in conv_layout.h): a tile loads L rows
// along one layout's contiguous axis, transposes them and stores L rows along the other's.
template <typename T, bool ToChannelsLast>
void relayout(const T* __restrict in, int64_t C, int64_t P, int64_t p0, int64_t p1, T* __restrict out) {
  using V = typename VecOf<T>::type;
  constexpr int L = kLanes<T>;
  const auto planes_at = [&](int64_t c, int64_t p) { return c * P + p; };
  const auto cl_at = [&](int64_t c, int64_t p) { return p * C + c; };
  const auto tile = [&](int64_t c0, int64_t p) {
    V r[L];
    for (int i = 0; i < L; ++i) {
      __builtin_memcpy(&r[i], in + (ToChannelsLast ? planes_at(c0 + i, p) : cl_at(c0, p + i)), sizeof(V));
    }
    transpose_tile<T>(r);
    for (int i = 0; i < L; ++i) {
      __builtin_memcpy(out + (ToChannelsLast ? cl_at(c0, p + i) : planes_at(c0 + i, p)), &r[i], sizeof(V));
    }
  };
  const auto one = [&](int64_t c, int64_t p) {
    if (ToChannelsLast) {
      out[cl_at(c, p)] = in[planes_at(c, p)];
    } else {
      out[planes_at(c, p)] = in[cl_at(c, p)];
    }
  };
  for_tiles<L>(C, p0, p1, tile, one);
}

}  // namespace

extern const ConvLayoutKernels<float> conv_layout_lanes_float{
    .gauss_split_forward = &gauss_split<float, false>,
    .gauss_split_adjoint = &gauss_split<float, true>,
    .gauss_merge = &gauss_merge<float>,
    .planes_to_channels_last = &relayout<float, true>,
    .channels_last_to_planes = &relayout<float, false>,
};
extern const ConvLayoutKernels<double> conv_layout_lanes_double{
    .gauss_split_forward = &gauss_split<double, false>,
    .gauss_split_adjoint = &gauss_split<double, true>,
    .gauss_merge = &gauss_merge<double>,
    .planes_to_channels_last = &relayout<double, true>,
    .channels_last_to_planes = &relayout<double, false>,
};

}  // namespace SPECDIFF_ISA
}  // namespace specdiff
