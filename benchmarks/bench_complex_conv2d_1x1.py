from _suite import run_case


def test_complex_conv2d_1x1(benchmark, shape, path, pass_):
    run_case(benchmark, "complex_conv2d_1x1", shape, path, pass_)
