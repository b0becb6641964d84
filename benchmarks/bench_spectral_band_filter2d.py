from _suite import run_case


def test_spectral_band_filter2d(benchmark, shape, path, pass_):
    run_case(benchmark, "spectral_band_filter2d", shape, path, pass_)
