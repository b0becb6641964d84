#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <array>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/plane_weight.h"
#include "cpu/roundtrip.h"

// Autograd of the ops whose backward is one op, registered in C++ for every device. Such an op takes its
// differentiable tensors first and then other arguments; its backward op _<name>_backward takes the upstream
// gradient, those tensors, the other arguments and a bool[n] output_mask (after the tensors or at the end), and
// returns the n tensors' gradients (those the mask skips are ignored).
//
// These ops take a few hundred microseconds to a few milliseconds. A Python autograd formula
// (torch.library.register_autograd) added 0.06 to 0.5 ms to each fwd+bwd in interpreter time and garbage collection
// of the graph's Python objects (scripts/autograd_ab.py, docs/performance.md); here the graph node is C++. The ops
// whose backward needs more than this pattern keep their formulas in Python (the complex convolutions and
// complex_norm_act), but for group_norm_silu, which SpectralUNet calls in every block: its own Function below.
namespace specdiff {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// spectral_filter2d on the CPU, when the weight needs its gradient, x has one filter per channel and the grid is large
// enough (cpu::roundtrip_keeps_spectra): the forward keeps x's spectrum for the backward
// (_spectral_filter2d_saving), which then transforms only the upstream gradient (_spectral_filter2d_backward_saved)
// instead of it and x again. rest[0] is the op's `s`.
// Reads only x's dims and sizes (no numel: symbolic under torch.compile's dynamic shapes); inputs the op rejects
// (empty x, a malformed `s`) reach either op's own checks.
// The transform grid of an op whose first tensor is x and whose first other argument is its `s` (None: x's H, W).
std::vector<int64_t> transform_grid(const at::Tensor& x, const std::vector<c10::IValue>& rest) {
  return rest[0].isNone() ? std::vector<int64_t>{x.size(2), x.size(3)} : rest[0].toIntVector();
}

bool filter_saves_spectra(at::TensorList tensors, const std::vector<c10::IValue>& rest) {
  const at::Tensor &x = tensors[0], &weight = tensors[1];
  if (!at::GradMode::is_enabled() || !weight.requires_grad() || !x.device().is_cpu() || x.dim() != 4 ||
      filter_responses(x, weight) != 1) {
    return false;
  }
  const std::vector<int64_t> s = transform_grid(x, rest);
  return s.size() == 2 && cpu::roundtrip_keeps_spectra(s[0], s[1]);
}

// spectral_conv2d on the CPU, when the bases or the taps need their gradient and the lane FFT computes the grid: the
// forward keeps x's spectra, which its first phase writes to memory anyway (_spectral_conv2d_saving), and the backward
// (_spectral_conv2d_backward_saved) transforms only the upstream gradient. x's gradient alone needs no spectrum of x.
bool conv_saves_spectra(at::TensorList tensors, const std::vector<c10::IValue>& rest) {
  const at::Tensor &x = tensors[0], &basis = tensors[1], &taps = tensors[2];
  if (!at::GradMode::is_enabled() || !(basis.requires_grad() || taps.requires_grad()) || !x.device().is_cpu() ||
      x.dim() != 4) {
    return false;
  }
  const std::vector<int64_t> s = transform_grid(x, rest);
  return s.size() == 2 && cpu::roundtrip_fused(s[0], s[1]);
}

struct Formula {
  const char* name;
  size_t tensors;  // the leading tensor arguments: saved for, and differentiated by, the backward op
  bool mask_last;  // output_mask after the other arguments (else right after the tensors)
  // When it says so, the forward calls _<name>_saving, which returns the output and a tensor the backward
  // _<name>_backward_saved takes in place of the first tensor argument.
  bool (*saves)(at::TensorList tensors, const std::vector<c10::IValue>& rest) = nullptr;
};

const Formula kFormulas[] = {
    {"spectral_filter2d", 2, false, &filter_saves_spectra},
    {"spectral_conv2d", 3, false, &conv_saves_spectra},
    {"spectral_band_weight", 4, true},
    {"spectral_band_filter2d", 4, true},
    {"spectral_band_mse", 4, true},
};

c10::OperatorHandle specdiff_op(const char* name, const char* suffix) {
  return c10::Dispatcher::singleton().findSchemaOrThrow((std::string("specdiff::_") + name + suffix).c_str(), "");
}

class OpFunction : public torch::autograd::Function<OpFunction> {
 public:
  // `tensors` are the op's leading arguments (the graph's inputs), `rest` its other arguments.
  static at::Tensor forward(AutogradContext* ctx, at::TensorList tensors, const c10::OperatorHandle* op,
                            const Formula* formula, std::vector<c10::IValue> rest, bool saving) {
    at::AutoDispatchBelowADInplaceOrView guard;
    torch::jit::Stack stack(tensors.begin(), tensors.end());
    stack.insert(stack.end(), rest.begin(), rest.end());
    if (saving) {
      specdiff_op(formula->name, "_saving").callBoxed(&stack);
      std::vector<at::Tensor> kept = tensors.vec();
      kept[0] = stack[1].toTensor();
      ctx->save_for_backward(kept);
    } else {
      op->callBoxed(&stack);
      ctx->save_for_backward(tensors.vec());
    }
    c10::impl::GenericList saved(c10::AnyType::get());
    for (auto& value : rest) saved.push_back(std::move(value));
    ctx->saved_data["rest"] = std::move(saved);
    ctx->saved_data["formula"] = static_cast<int64_t>(formula - kFormulas);
    ctx->saved_data["saving"] = saving;
    return stack[0].toTensor();
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    c10::List<bool> need;
    for (size_t i = 0; i < saved.size(); ++i) need.push_back(ctx->needs_input_grad(i));
    const Formula& formula = kFormulas[ctx->saved_data["formula"].toInt()];
    torch::jit::Stack stack{grads[0]};
    stack.insert(stack.end(), saved.begin(), saved.end());
    if (!formula.mask_last) stack.emplace_back(need);
    for (const c10::IValue& value : ctx->saved_data["rest"].toList()) stack.push_back(value);
    if (formula.mask_last) stack.emplace_back(need);
    specdiff_op(formula.name, ctx->saved_data["saving"].toBool() ? "_backward_saved" : "_backward").callBoxed(&stack);
    variable_list out(saved.size() + 4);  // one per forward argument after ctx: the tensors, op, formula, rest, saving
    for (size_t i = 0; i < saved.size(); ++i) {
      if (need[i]) out[i] = stack[i].toTensor();
    }
    return out;
  }
};

// The Autograd kernel of one op: its arguments off the stack, through OpFunction, its output back on.
class AutogradKernel final : public c10::OperatorKernel {
 public:
  explicit AutogradKernel(const Formula& formula) : formula_(formula) {}

  void operator()(const c10::OperatorHandle& op, c10::DispatchKeySet, torch::jit::Stack* stack) const {
    const size_t n = op.schema().arguments().size();
    std::vector<at::Tensor> tensors;
    for (size_t i = 0; i < formula_.tensors; ++i) tensors.push_back((stack->end() - n + i)->toTensor());
    std::vector<c10::IValue> rest(stack->end() - n + formula_.tensors, stack->end());
    torch::jit::drop(*stack, n);
    const bool saving = formula_.saves && formula_.saves(tensors, rest);
    stack->emplace_back(OpFunction::apply(at::TensorList(tensors), &op, &formula_, std::move(rest), saving));
  }

 private:
  const Formula& formula_;
};

// group_norm_silu returns (y, mean, rstd): the statistics are saved for the backward and not differentiable;
// the backward's mask is (x, weight or bias).
class GroupNormSiluFunction : public torch::autograd::Function<GroupNormSiluFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                               const at::Tensor& bias, int64_t groups, double eps) {
    at::AutoDispatchBelowADInplaceOrView guard;
    static const auto op = c10::Dispatcher::singleton()
                               .findSchemaOrThrow("specdiff::group_norm_silu", "")
                               .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
                                   const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, double)>();
    auto [y, mean, rstd] = op.call(x, weight, bias, groups, eps);
    ctx->save_for_backward({x, weight, bias, mean, rstd});
    ctx->saved_data["groups"] = groups;
    ctx->mark_non_differentiable({mean, rstd});
    return {y, mean, rstd};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    static const auto op = c10::Dispatcher::singleton()
                               .findSchemaOrThrow("specdiff::_group_norm_silu_backward", "")
                               .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
                                   const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                   const at::Tensor&, const at::Tensor&, int64_t, std::array<bool, 2>)>();
    const variable_list saved = ctx->get_saved_variables();
    const bool need_x = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1), need_b = ctx->needs_input_grad(2);
    auto [gx, gw, gb] = op.call(grads[0], saved[0], saved[1], saved[2], saved[3], saved[4],
                                ctx->saved_data["groups"].toInt(), {need_x, need_w || need_b});
    return {need_x ? gx : at::Tensor(), need_w ? gw : at::Tensor(), need_b ? gb : at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor> group_norm_silu_autograd(const at::Tensor& x, const at::Tensor& weight,
                                                                        const at::Tensor& bias, int64_t groups,
                                                                        double eps) {
  const variable_list out = GroupNormSiluFunction::apply(x, weight, bias, groups, eps);
  return {out[0], out[1], out[2]};
}

}  // namespace

TORCH_LIBRARY_IMPL(specdiff, Autograd, m) {
  for (const Formula& formula : kFormulas) {
    m.impl(formula.name, torch::CppFunction::makeFromBoxedFunctor(std::make_unique<AutogradKernel>(formula)));
  }
  m.impl("group_norm_silu", &group_norm_silu_autograd);
}

}  // namespace specdiff
