"""Milliseconds per time step of pyqg's two-layer QGModel (pyqg 0.7.2) in its default eddying
regime at 64 x 64 and 128 x 128, for benches/qg_step.rs: one JSON line per grid. Single threaded
(OMP_NUM_THREADS=1; pyfftw with one thread, ntd=1, if pyqg was built with it, numpy.fft otherwise). Best of 5 timed runs after 100 steps from
a small random state, as the Rust benchmark does."""

import json
import time
import warnings

import numpy as np

# pyqg's compiled kernel decides at build time whether it uses pyfftw, and says so when imported.
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import pyqg
FFTW = not any("No pyfftw" in str(w.message) for w in caught)

for n, steps in [(64, 2000), (128, 500)]:
    m = pyqg.QGModel(nx=n, dt=7200.0, tmax=1e12, twrite=10**9, log_level=0, ntd=1)
    rng = np.random.default_rng(1)
    m.set_q1q2(1e-6 * rng.standard_normal((n, n)), 1e-6 * rng.standard_normal((n, n)))
    for _ in range(100):
        m._step_forward()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(steps):
            m._step_forward()
        best = min(best, (time.perf_counter() - t) * 1e3 / steps)
    assert np.all(np.isfinite(m.q))
    print(json.dumps({"n": n, "ms_per_step": best, "rounds": 5, "steps": steps, "fftw": FFTW}))
