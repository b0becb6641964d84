from _suite import run_case


def test_complex_norm_act(benchmark, shape, path, pass_):
    run_case(benchmark, "complex_norm_act", shape, path, pass_)
