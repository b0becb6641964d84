"""Exact ring and band membership of the half-spectrum bins (``radius_bins`` / ``ring_index``), against exact
fractions; the bins that lie exactly on an edge are pinned explicitly."""

from fractions import Fraction

import pytest
import torch
from evalutil import exact_rho_squared, exact_ring, fft_indices, ring_edges

from specdiff.eval.spectral import BAND_EDGES, band_masks
from specdiff.ops.frequency import frequency_radius, radius_bins, ring_index


def on_edge(h, w, edges):
    """``{(row, kx): index of the edge}`` of the half-spectrum bins whose exact rho equals an edge."""
    out = {}
    for row, ky in enumerate(fft_indices(h)):
        for kx in range(w // 2 + 1):
            for i, e in enumerate(edges):
                if exact_rho_squared(h, w, ky, kx) == Fraction(e) ** 2:
                    out[(row, kx)] = i
    return out


SIZES = [(1, 1), (1, 7), (2, 3), (5, 5), (8, 8), (9, 12), (12, 9), (16, 11), (16, 16), (32, 32), (64, 64), (30, 45)]


@pytest.mark.parametrize("h, w", SIZES)
def test_ring_index_matches_exact_fractions(h, w):
    for k in sorted({1, 3, 4, 8, max(1, min(h, w) // 2)}):
        got = ring_index(h, w, k)
        assert got.dtype == torch.int64 and got.shape == (h, w // 2 + 1)
        expected = [[min(exact_ring(h, w, ky, kx, ring_edges(k)), k - 1) for kx in range(w // 2 + 1)]
                    for ky in fft_indices(h)]
        assert got.tolist() == expected, k


@pytest.mark.parametrize("h, w", SIZES)
def test_bands_match_exact_fractions(h, w):
    got = radius_bins(h, w, BAND_EDGES)
    expected = [[exact_ring(h, w, ky, kx, BAND_EDGES) for kx in range(w // 2 + 1)] for ky in fft_indices(h)]
    assert got.tolist() == expected
    masks = band_masks(h, w)
    assert sum(m.long() for m in masks.values()).eq(1).all()  # the bands partition the bins
    for i, name in enumerate(("low", "mid", "high")):
        assert torch.equal(masks[name], got == i)


# The bins exactly on a ring edge (rho·K an integer), found with exact fractions: they exist at every
# power-of-two size, and a float rho puts some of them one ring too low.
@pytest.mark.parametrize("h, w, k, count", [(8, 8, 4, 6), (16, 16, 8, 18), (32, 32, 16, 38), (64, 64, 8, 18)])
def test_bins_on_a_ring_edge_belong_to_the_ring_above(h, w, k, count):
    edges = on_edge(h, w, ring_edges(k))
    assert len(edges) == count
    rings = ring_index(h, w, k)
    for (row, kx), i in edges.items():
        assert rings[row, kx].item() == i + 1, (row, kx)


def test_edge_bins_pinned_by_hand():
    # 8x8, K = 4: bin (ky, kx) = (1, 1) has rho² = 2·(1/64 + 1/64) = 1/16, rho·K = 1 exactly; (±3, 3) has
    # rho = 3/4 (rows 3 and 5); (-4, 4) is the diagonal Nyquist corner rho = 1, which stays in the last ring.
    rings = ring_index(8, 8, 4)
    assert [rings[1, 1].item(), rings[2, 2].item(), rings[3, 3].item(), rings[5, 3].item(), rings[4, 4].item()] == [
        1, 2, 3, 3, 3]
    assert rings[1, 0].item() == 0 and rings[0, 4].item() == 2  # rho = 0.177 and 0.707
    # 9x12 bands: (3, 4) has fy = fx = 1/3, rho = 2/3 exactly: on the mid/high edge, so high.
    bands = radius_bins(9, 12, BAND_EDGES)
    assert on_edge(9, 12, BAND_EDGES) == {(3, 4): 1, (6, 4): 1}
    assert bands[3, 4].item() == bands[6, 4].item() == 2
    assert bands[3, 3].item() == 1  # rho² = 2(1/9 + 1/16) = 25/72 < 4/9


def test_radius_bins_of_arbitrary_edges():
    # Float edges are taken at their exact binary value; an edge above 1 is reached by no bin; edge 0 by every bin.
    rho2 = [[exact_rho_squared(16, 16, ky, kx) for kx in range(9)] for ky in fft_indices(16)]
    got = radius_bins(16, 16, [0, 0.25, Fraction(1, 2), 1, 2])
    expected = [[1 + sum(Fraction(e) ** 2 <= r for e in (0.25, Fraction(1, 2), 1)) for r in row] for row in rho2]
    assert got.tolist() == expected
    assert got.max().item() == 4 and (got == 4).sum().item() == 1  # rho = 1 once (the corner), none >= 2
    assert radius_bins(16, 16, []).eq(0).all()


def test_radius_bins_is_consistent_with_the_float_radius_away_from_edges():
    rho = frequency_radius(32, 20, dtype=torch.float64)
    rings = ring_index(32, 20, 10)
    away = ((rho * 10) - (rho * 10).round()).abs() > 1e-9
    assert away.sum() > 0.9 * rho.numel()
    assert torch.equal(rings[away], (rho[away] * 10).floor().long().clamp(max=9))


def test_bad_edges_and_sizes_raise():
    with pytest.raises(ValueError, match="strictly increasing"):
        radius_bins(8, 8, [0.5, 0.25])
    with pytest.raises(ValueError, match="non-negative"):
        radius_bins(8, 8, [-0.1])
    with pytest.raises(ValueError, match="non-negative"):
        radius_bins(8, 8, [float("nan")])
    with pytest.raises(ValueError, match="num_rings"):
        ring_index(8, 8, 0)
    with pytest.raises(ValueError, match=">= 1"):
        ring_index(0, 8, 2)
    with pytest.raises(ValueError, match="lcm"):
        ring_index(65_521, 65_519, 2)  # two primes: lcm ~ 4.3e9


def test_returned_tensors_are_independent_copies():
    a = ring_index(8, 8, 4)
    a.fill_(-1)
    assert ring_index(8, 8, 4).min().item() == 0
