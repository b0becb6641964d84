from _suite import run_case


def test_spectral_conv2d(benchmark, shape, path, pass_):
    run_case(benchmark, "spectral_conv2d", shape, path, pass_)
