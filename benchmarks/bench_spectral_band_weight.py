from _suite import run_case


def test_spectral_band_weight(benchmark, shape, path, pass_):
    run_case(benchmark, "spectral_band_weight", shape, path, pass_)
