from _suite import run_case


def test_complex_conv2d(benchmark, shape, path, pass_):
    run_case(benchmark, "complex_conv2d", shape, path, pass_)
