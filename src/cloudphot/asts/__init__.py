"""Artificial star tests: fakes over a reduced field's CMD, injected and measured as
DOLPHOT's fake-star mode does, fanned out in chunks (run_asts), and the completeness
and bias they give (see :mod:`.engine`, :mod:`.steps`, :mod:`.completeness`)."""
