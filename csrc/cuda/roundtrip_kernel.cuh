// The fused round trip  out = irfft2(weight * rfft2(in))  with each plane read once and written once:
// a block loads a batch of planes into shared memory, transforms, weights, transforms back and stores,
// with no spectrum in global memory and no cuFFT plan. Normalization: unnormalized transforms both ways
// and a 1 / (H W) on the weight, i.e. the product of the two "ortho" transforms.
//
// The forward real transform packs two image rows into one complex row (z = a + i b, then
// A[k] = (Z[k] + conj Z[-k]) / 2, B[k] = (Z[k] - conj Z[-k]) / 2i) and runs the column FFTs on the
// W/2+1 spectrum columns; the inverse undoes this and, like pocketfft, MKL and cuFFT, ignores the
// imaginary parts of the DC and Nyquist columns. This is the CPU engine's algorithm (csrc/cpu), so
// both backends agree in the conventions that matter for non-Hermitian weights.
//
// The weight is a policy with
//   begin(slice, split, splits, acc)  per-block setup for the block's slice (acc: shared scratch),
//   apply(h, k, g, c, valid)      returns g times the weight of bin (h, k) and, for valid planes,
//                                 accumulates the correlation c of that bin (see launch.h); a bin is
//                                 always applied by the same thread,
//   finish(scratch, slice, split, splits)   writes the block's partial reduction.
#pragma once

#include "cuda/block_fft.cuh"

namespace specdiff::cuda {

// An explicit weight tensor; the grad_weight reduction accumulates c per bin in shared memory (or, when
// three plane buffers leave no room, in the block's own row of the global partial sums), each bin by the
// one thread that owns it.
template <typename T>
struct ExplicitWeight {
  const T* weight;
  bool complex, conj;
  T* partial;
  int H, Wf;
  bool acc_in_global;
  const T* w;  // the block's slice
  T* acc;

  ExplicitWeight(const ExplicitWeightArgs& a, const RoundTripArgs& r)
      : weight(static_cast<const T*>(a.weight)),
        complex(a.complex),
        conj(a.conj),
        partial(static_cast<T*>(a.grad_partial)),
        H(r.H),
        Wf(r.W / 2 + 1),
        acc_in_global(r.acc_in_global),
        w(nullptr),
        acc(nullptr) {}

  __device__ int bin_values() const { return H * Wf * (complex ? 2 : 1); }

  __device__ void begin(int64_t slice, int64_t split, int64_t splits, T* acc_smem) {
    w = weight + slice * bin_values();
    acc = acc_in_global && partial ? partial + (slice * splits + split) * bin_values() : acc_smem;
    if (partial) {
      for (int i = threadIdx.x; i < bin_values(); i += blockDim.x) acc[i] = T(0);
    }
  }

  __device__ Cx<T> apply(int h, int k, Cx<T> g, Cx<T> c, bool valid) {
    const int i = h * Wf + k;
    if (partial && valid) {  // bin i belongs to this thread (roundtrip_kernel's weighting loop)
      if (complex) {
        acc[2 * i] += c.re;
        acc[2 * i + 1] += c.im;
      } else {
        acc[i] += c.re;
      }
    }
    const Cx<T> wv = complex ? Cx<T>{w[2 * i], conj ? -w[2 * i + 1] : w[2 * i + 1]} : Cx<T>{w[i], T(0)};
    return cmul(g, wv);
  }

  __device__ void finish(T*, int64_t slice, int64_t split, int64_t splits) {
    if (!partial || acc_in_global) return;
    __syncthreads();
    T* dst = partial + (slice * splits + split) * bin_values();
    for (int i = threadIdx.x; i < bin_values(); i += blockDim.x) dst[i] = acc[i];
  }
};

// Rows 2hp and 2hp + 1 of a batch of planes -> complex rows z = a + i b, [P][Hp][W] (the index i).
template <typename T, typename S>
__device__ __forceinline__ void load_row_pairs(const S* base, const int64_t* plane_off, const int64_t* stride, int count, int P,
                               int H, int W, Cx<T>* z) {
  const int Hp = (H + 1) / 2;
  for (int i = threadIdx.x; i < P * Hp * W; i += blockDim.x) {
    const int p = i / (Hp * W), rem = i - p * Hp * W, hp = rem / W, w = rem - hp * W;
    const int h0 = 2 * hp;
    Cx<T> v{T(0), T(0)};
    if (p < count) {
      const S* plane = base + plane_off[p] + w * stride[3];
      v.re = static_cast<T>(load_real(plane + h0 * stride[2]));
      if (h0 + 1 < H) v.im = static_cast<T>(load_real(plane + (h0 + 1) * stride[2]));
    }
    z[i] = v;
  }
}

// Transformed row pairs [P][Hp][W] -> the two real rows' half spectra, stored column-major [P][Wf][Hs].
template <typename T>
__device__ __forceinline__ void split_row_pairs(const Cx<T>* z, Cx<T>* spec, int P, int H, int W) {
  const int Hp = (H + 1) / 2, Wf = W / 2 + 1, Hs = H | 1;
  for (int i = threadIdx.x; i < P * Hp * Wf; i += blockDim.x) {
    const int p = i / (Hp * Wf), rem = i - p * Hp * Wf, hp = rem / Wf, k = rem - hp * Wf;
    const Cx<T>* row = z + (p * Hp + hp) * W;
    const Cx<T> zk = row[k], zm = row[k == 0 ? 0 : W - k];
    Cx<T>* col = spec + (p * Wf + k) * Hs + 2 * hp;
    col[0] = {T(0.5) * (zk.re + zm.re), T(0.5) * (zk.im - zm.im)};
    if (2 * hp + 1 < H) col[1] = {T(0.5) * (zk.im + zm.im), T(0.5) * (zm.re - zk.re)};
  }
}

// Inverse of split_row_pairs before the inverse row FFTs: rows 2hp, 2hp + 1 of the spectrum -> z = A + i B
// over all W bins, using Hermitian symmetry for k >= Wf and dropping Im at the DC and Nyquist columns.
template <typename T>
__device__ __forceinline__ void merge_row_pairs(const Cx<T>* spec, Cx<T>* z, int P, int H, int W) {
  const int Hp = (H + 1) / 2, Wf = W / 2 + 1, Hs = H | 1;
  for (int i = threadIdx.x; i < P * Hp * W; i += blockDim.x) {
    const int p = i / (Hp * W), rem = i - p * Hp * W, hp = rem / W, k = rem - hp * W;
    const bool pair = 2 * hp + 1 < H;
    const Cx<T>* col = spec + (p * Wf + (k < Wf ? k : W - k)) * Hs + 2 * hp;
    Cx<T> a = col[0];
    Cx<T> b = pair ? col[1] : Cx<T>{T(0), T(0)};
    if (k < Wf) {
      if (k == 0 || 2 * k == W) {
        a.im = T(0);
        b.im = T(0);
      }
      z[i] = {a.re - b.im, a.im + b.re};
    } else {
      z[i] = {a.re + b.im, b.re - a.im};
    }
  }
}

template <typename T, typename S>
__device__ __forceinline__ void store_row_pairs(const Cx<T>* z, S* out, const int64_t* plane_off, int count, int P, int H, int W) {
  const int Hp = (H + 1) / 2;
  for (int i = threadIdx.x; i < P * Hp * W; i += blockDim.x) {
    const int p = i / (Hp * W), rem = i - p * Hp * W, hp = rem / W, w = rem - hp * W;
    if (p >= count) continue;
    S* row = out + plane_off[p] + 2 * hp * W + w;
    store_real(row, z[i].re);
    if (2 * hp + 1 < H) store_real(row + W, z[i].im);
  }
}

// rfft2 of a batch of planes: returns the buffer (a or b) holding the unnormalized half spectra [P][Wf][Hs].
// KH, KW: H and W when fixed at compile time (powers of two), else 0.
template <typename T, typename S, int KH, int KW>
__device__ __forceinline__ Cx<T>* forward_spectra(const S* base, const int64_t* plane_off, const int64_t* stride, int count, int P,
                                  int H, int W, const FftFactors& fh, const FftFactors& fw, const Cx<T>* tw_h,
                                  const Cx<T>* tw_w, Cx<T>* a, Cx<T>* b) {
  load_row_pairs<T, S>(base, plane_off, stride, count, P, H, W, a);
  __syncthreads();
  Cx<T>* rows = fft_sized<T, false, KW>(fw, a, b, P * ((H + 1) / 2), W, tw_w);
  Cx<T>* spec = rows == a ? b : a;
  split_row_pairs<T>(rows, spec, P, H, W);
  __syncthreads();
  return fft_sized<T, false, KH>(fh, spec, rows, P * (W / 2 + 1), H | 1, tw_h);
}

// KH, KW: the plane size when the launcher fixed it at compile time (powers of two; 0 = any size).
template <typename T, typename S, class Weight, int KH = 0, int KW = 0>
__global__ void __launch_bounds__(kBlockThreads)
    roundtrip_kernel(const __grid_constant__ RoundTripArgs a, const __grid_constant__ FftFactors fh,
                     const __grid_constant__ FftFactors fw, const Weight weight) {
  const int H = KH ? KH : a.H, W = KW ? KW : a.W, Wf = W / 2 + 1, Hs = H | 1, P = a.planes_per_block;
  const int64_t buffer = P * a.plane_elems;
  Cx<T>* buf[3] = {dynamic_smem<Cx<T>>(), dynamic_smem<Cx<T>>() + buffer, dynamic_smem<Cx<T>>() + 2 * buffer};
  Cx<T>* tw_w = dynamic_smem<Cx<T>>(a.smem_tw);
  Cx<T>* tw_h = tw_w + W;
  int64_t* in_off = dynamic_smem<int64_t>(a.smem_offsets);
  int64_t* src_off = in_off + P;
  int64_t* out_off = src_off + P;
  const S* in = static_cast<const S*>(a.in);
  const S* src = static_cast<const S*>(a.src);
  S* out = static_cast<S*>(a.out);

  fill_roots(tw_w, W);
  fill_roots(tw_h, H);
  const int64_t slice = blockIdx.x / a.splits, split = blockIdx.x % a.splits;
  Weight wt = weight;
  wt.begin(slice, split, a.splits, dynamic_smem<T>(a.smem_acc));

  // Plane m of the slice is (b, c) = (m / nc, m % nc) along the broadcast dims, the slice's own b or c otherwise.
  const int64_t nc = a.slices_c == 1 ? a.C : 1;
  const int64_t slice_b = slice / a.slices_c, slice_c = slice % a.slices_c;
  const int64_t per_slice = a.planes_per_slice();
  const int64_t batches = (per_slice + P - 1) / P;
  const int64_t batch_end = batches * (split + 1) / a.splits;
  const T scale = T(1) / static_cast<T>(H * W);
  for (int64_t batch = batches * split / a.splits; batch < batch_end; ++batch) {
    const int64_t m0 = batch * P;
    const int count = static_cast<int>(per_slice - m0 < P ? per_slice - m0 : P);
    for (int p = threadIdx.x; p < count; p += blockDim.x) {
      const int64_t m = m0 + p;
      const int64_t b = a.slices_b == 1 ? m / nc : slice_b;
      const int64_t c = a.slices_c == 1 ? m % nc : slice_c;
      in_off[p] = b * a.in_stride[0] + c * a.in_stride[1];
      src_off[p] = b * a.src_stride[0] + c * a.src_stride[1];
      out_off[p] = (b * a.C + c) * H * W;
    }
    __syncthreads();

    Cx<T>* X = nullptr;
    Cx<T>* free0 = buf[0];
    Cx<T>* free1 = buf[1];
    if (src) {
      X = forward_spectra<T, S, KH, KW>(src, src_off, a.src_stride, count, P, H, W, fh, fw, tw_h, tw_w, buf[0], buf[1]);
      free0 = X == buf[0] ? buf[1] : buf[0];
      free1 = buf[2];
    }
    Cx<T>* G = forward_spectra<T, S, KH, KW>(in, in_off, a.in_stride, count, P, H, W, fh, fw, tw_h, tw_w, free0, free1);
    Cx<T>* other = G == free0 ? free1 : free0;
    if (a.self_correlate) X = G;

    // A thread owns bins (h, k) and walks the batch's planes, so the weight's reduction needs no atomics.
    for (int i = threadIdx.x; i < H * Wf; i += blockDim.x) {
      const int h = i / Wf, k = i - h * Wf;
      const T f = ((k == 0 || 2 * k == W) ? T(1) : T(2)) * scale;
      for (int p = 0; p < P; ++p) {
        const int64_t e = static_cast<int64_t>(p * Wf + k) * Hs + h;
        const Cx<T> g = G[e];
        Cx<T> c{T(0), T(0)};
        if (X) {
          const Cx<T> x = X[e];
          c = {f * (g.re * x.re + g.im * x.im), f * (g.im * x.re - g.re * x.im)};
        }
        const Cx<T> y = wt.apply(h, k, g, c, p < count);
        G[e] = {y.re * scale, y.im * scale};
      }
    }
    __syncthreads();

    if (out) {
      Cx<T>* cols = fft_sized<T, true, KH>(fh, G, other, P * Wf, Hs, tw_h);
      Cx<T>* rows = cols == G ? other : G;
      merge_row_pairs<T>(cols, rows, P, H, W);
      __syncthreads();
      Cx<T>* res = fft_sized<T, true, KW>(fw, rows, cols, P * ((H + 1) / 2), W, tw_w);
      store_row_pairs<T, S>(res, out, out_off, count, P, H, W);
      __syncthreads();
    }
  }
  wt.finish(dynamic_smem<T>(), slice, split, a.splits);
}

// The kernel that runs planes of H x W: the compile-time specialization for the sizes has_fixed_size_kernel names
// (constant index arithmetic, radix-8 stages), else the any-size kernel. roundtrip_launch.cuh launches it; the
// native test runs the same choice under CPU emulation.
template <typename T, typename S, class Weight>
auto roundtrip_kernel_for(int H, int W) -> decltype(&roundtrip_kernel<T, S, Weight>) {
  switch (has_fixed_size_kernel(H, W) ? H : 0) {
    case 16:
      return roundtrip_kernel<T, S, Weight, 16, 16>;
    case 32:
      return roundtrip_kernel<T, S, Weight, 32, 32>;
    case 64:
      return roundtrip_kernel<T, S, Weight, 64, 64>;
    case 128:
      return roundtrip_kernel<T, S, Weight, 128, 128>;
    default:
      return roundtrip_kernel<T, S, Weight>;
  }
}

}  // namespace specdiff::cuda
