#!/usr/bin/env python3
"""Runs DAPPER's Lorenz-96 `sakov2008` twin experiment with the configurations that contrada's
Kalman baselines are validated against, and prints one JSON line per experiment:
{"method", "n", "infl", "radius", "rmse_a", "spread_a", "seconds"}.

The set-up is DAPPER's `dapper.mods.Lorenz96.sakov2008` unchanged (40 variables, F = 8, one RK4
step of 0.05 between observations of every variable with unit noise variance, initial ensemble
N(x0, 0.001 I)), with the experiment length set to `--cycles` analysed cycles after a burn-in of
`--burn-in` cycles. DAPPER's time averages skip observation times t <= BurnIn, exactly as contrada's
cycling driver skips its first `burn_in` analyses. Timings cover `xp.assimilate` only (not the truth
simulation), with one BLAS thread (the caller sets OPENBLAS_NUM_THREADS=1).

Usage: python scripts/dapper_l96.py [--cycles 5000] [--burn-in 400] [--seed 3000] [--only etkf40,letkf10]
Run it through scripts/bench_dapper.sh, which makes the virtual environment (dapper==1.7.1).
"""

import argparse
import json
import time

import dapper as dpr
import dapper.tools.progressbar as progressbar
import dapper.da_methods as da
import dapper.mods as modelling

# name: (constructor, ensemble size, inflation, localisation radius)
EXPERIMENTS = {
    "etkf40": (lambda: da.EnKF("Sqrt", N=40, infl=1.02), 40, 1.02, None),
    "enkf40": (lambda: da.EnKF("PertObs", N=40, infl=1.06), 40, 1.06, None),
    "letkf10": (lambda: da.LETKF(N=10, infl=1.04, loc_rad=6), 10, 1.04, 6),
    "etkf20": (lambda: da.EnKF("Sqrt", N=20, infl=1.04), 20, 1.04, None),
    # 3D-Var with B = 0.02 x climatological covariance: what contrada's EnOI (alpha 0.02, static
    # ensemble from a free run) approximates.
    "var3d": (lambda: da.Var3D(xB=0.02), 1, 1.0, None),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=5000, help="analysed cycles after the burn-in")
    parser.add_argument("--burn-in", type=int, default=400, help="cycles left out of the averages")
    parser.add_argument("--seed", type=int, default=3000)
    parser.add_argument("--only", default=",".join(EXPERIMENTS), help="comma-separated experiment names")
    args = parser.parse_args()
    # Progress bars cost time on every cycle and clutter the output.
    progressbar.disable_progbar = True

    from dapper.mods.Lorenz96.sakov2008 import HMM

    dto = HMM.tseq.dto
    # Observation k (1-based) is at t = k * dto; DAPPER averages over t > BurnIn.
    HMM.tseq = modelling.Chronology(HMM.tseq.dt, dko=HMM.tseq.dko, Ko=args.cycles + args.burn_in - 1, BurnIn=args.burn_in * dto + 1e-9)

    for name in args.only.split(","):
        make, n, infl, radius = EXPERIMENTS[name]
        dpr.set_seed(args.seed)
        xx, yy = HMM.simulate()
        xp = make()
        start = time.perf_counter()
        xp.assimilate(HMM, xx, yy)
        seconds = time.perf_counter() - start
        xp.stats.average_in_time()
        avrgs = xp.avrgs
        print(json.dumps({
            "method": name,
            "n": n,
            "infl": infl,
            "radius": radius,
            "rmse_a": float(getattr(avrgs, "rmse.a").val),
            "spread_a": float(getattr(avrgs, "rmv.a").val),
            "seconds": seconds,
        }), flush=True)


if __name__ == "__main__":
    main()
