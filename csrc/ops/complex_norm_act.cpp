#include <torch/library.h>

// Batch norm with per-component statistics, optional FiLM and modulus SiLU on the split layout
// x = [B, 2C, H, W] (real half first), in one pass: h = (x - mean) / sqrt(var + eps) * weight + bias per real
// channel (weight, bias, mean, var: [2C]); z = h (1 + s) + shift per complex channel with film = [B, 3C] =
// (s, shift_re, shift_im) if given; y = z sigmoid(|z|). With mean and var given they are used as they are
// (running statistics); else the batch statistics over (B, H, W) are. Returns (y, mean, var): the statistics
// used (var biased). The backward returns (grad_x, grad_weight, grad_bias, grad_film) — grad_film empty without
// film — and differentiates through the batch statistics when batch_stats; output_mask = (x, weight and bias,
// film) skips unneeded ones (returned as zeros).
TORCH_LIBRARY_FRAGMENT(specdiff, m) {
  m.def(
      "complex_norm_act(Tensor x, Tensor weight, Tensor bias, Tensor? mean, Tensor? var, Tensor? film, float eps) "
      "-> (Tensor, Tensor, Tensor)");
  m.def(
      "_complex_norm_act_backward(Tensor grad, Tensor x, Tensor weight, Tensor bias, Tensor mean, Tensor var, "
      "Tensor? film, float eps, bool batch_stats, bool[3] output_mask) -> (Tensor, Tensor, Tensor, Tensor)");
}
