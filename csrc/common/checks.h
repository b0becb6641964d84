// Input checks shared by the op kernels: one clear message naming the argument and what is allowed.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

namespace specdiff {

inline void check_real_image(const at::Tensor& x, const char* name) {
  TORCH_CHECK(x.dim() == 4, "specdiff: ", name, " must be a 4-D tensor [B, C, H, W], got shape ", x.sizes());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, "specdiff: ", name,
              " must be float32 or float64, got ", x.scalar_type());
}

// Every size of t >= 1; with empty_batch the first may be 0. A ValueError in Python, as in the public wrappers
// (specdiff/ops/_checks.py check_not_empty), which apply the same rule before routing.
inline void check_not_empty(const at::Tensor& t, const char* name, const char* layout, bool empty_batch = false) {
  bool ok = true;
  for (int64_t d = empty_batch ? 1 : 0; d < t.dim(); ++d) ok = ok && t.size(d) > 0;
  TORCH_CHECK_VALUE(ok, "specdiff: ", name, " must not be empty: ", layout, " = ", t.sizes(), ", but ",
                    empty_batch ? "C, H, W must be >= 1 (B may be 0)" : "every size must be >= 1");
}

inline void check_same_device(const at::Tensor& a, const char* an, const at::Tensor& b, const char* bn) {
  TORCH_CHECK(a.device() == b.device(), "specdiff: ", bn, " is on ", b.device(), " but ", an, " is on ", a.device());
}

}  // namespace specdiff
