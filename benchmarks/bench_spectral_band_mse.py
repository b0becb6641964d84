from _suite import run_case


def test_spectral_band_mse(benchmark, shape, path, pass_):
    run_case(benchmark, "spectral_band_mse", shape, path, pass_)
