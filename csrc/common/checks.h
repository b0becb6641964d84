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

inline void check_same_device(const at::Tensor& a, const char* an, const at::Tensor& b, const char* bn) {
  TORCH_CHECK(a.device() == b.device(), "specdiff: ", bn, " is on ", b.device(), " but ", an, " is on ", a.device());
}

}  // namespace specdiff
