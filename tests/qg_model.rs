//! Known answers of the two-layer QG model (`contrada::models::qg`, docs/science.md §13): linear
//! Rossby waves against their dispersion relation, the Phillips baroclinic instability against its
//! growth rate, the invariants of §13.6 under the conditions that make them invariant, and a
//! spun-up eddying run that levels off. Each test says which broken model it catches.
//!
//! Wave amplitudes and growth are read off the grid values with a direct Fourier projection, not
//! with the model's FFT, so that the checks do not share the model's transform conventions.

use std::f64::consts::TAU;

use contrada::models::Model;
use contrada::models::qg::{QgConfig, QgEnergetics, QgFilter, QgModel};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The complex Fourier coefficient of `field` (one layer, `n x n`, cell-centred) at integer
/// wavenumbers `(m, p)`: `mean f exp(-i (k x + l y))`.
fn coefficient(field: &[f64], n: usize, m: i64, p: i64) -> (f64, f64) {
    let (mut re, mut im) = (0.0, 0.0);
    for j in 0..n {
        for i in 0..n {
            // Phase in cycles of the domain; cell centres at (i + 1/2) / n.
            let phase = TAU * (m as f64 * (i as f64 + 0.5) + p as f64 * (j as f64 + 0.5)) / n as f64;
            let f = field[j * n + i];
            re += f * phase.cos();
            im -= f * phase.sin();
        }
    }
    let nn = (n * n) as f64;
    (re / nn, im / nn)
}

/// `amplitude cos(k x + l y + phase)` on the cell-centred grid, for integer wavenumbers `(m, p)`.
fn plane_wave(n: usize, m: i64, p: i64, amplitude: f64, phase: f64) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for j in 0..n {
        for i in 0..n {
            let arg = TAU * (m as f64 * (i as f64 + 0.5) + p as f64 * (j as f64 + 0.5)) / n as f64;
            out[j * n + i] = amplitude * (arg + phase).cos();
        }
    }
    out
}

/// The PV of the layer streamfunctions `psi1`, `psi2` that are plane waves of total wavenumber
/// squared `k2`, from §13.2 directly: `q1 = -K^2 psi1 + F1 (psi2 - psi1)`, `q2 = -K^2 psi2 + F2 (psi1 - psi2)`.
fn pv_of_plane_waves(cfg: &QgConfig, k2: f64, psi1: &[f64], psi2: &[f64]) -> Vec<f64> {
    let (f1, f2) = cfg.f1_f2();
    let q1 = psi1.iter().zip(psi2).map(|(a, b)| -k2 * a + f1 * (b - a));
    let q2 = psi1.iter().zip(psi2).map(|(a, b)| -k2 * b + f2 * (a - b));
    q1.chain(q2).collect()
}

/// Wavenumber (rad/m) of integer wavenumber `m` in a domain of side `side`.
fn wavenumber(cfg: &QgConfig, m: i64) -> f64 {
    TAU * m as f64 / cfg.side_m
}

/// Least-squares slope of `y` against `x`.
fn slope(x: &[f64], y: &[f64]) -> f64 {
    let nx = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / nx, y.iter().sum::<f64>() / nx);
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    sxy / sxx
}

/// Runs `state` for `steps` steps and returns the frequency `omega` of the wave `(m, p)` in
/// layer `layer` (from `exp(i (k x + l y - omega t))`: the phase of the coefficient falls at
/// `omega`) and the relative change of its amplitude.
fn measure_frequency(model: &mut QgModel, state: &mut [f64], layer: usize, m: i64, p: i64, steps: usize) -> (f64, f64) {
    let n = model.n();
    let n2 = n * n;
    let (mut t, mut phase) = (vec![], vec![]);
    let (c0re, c0im) = coefficient(&state[layer * n2..(layer + 1) * n2], n, m, p);
    let amp0 = c0re.hypot(c0im);
    let mut last = c0im.atan2(c0re);
    let mut unwrapped = last;
    t.push(0.0);
    phase.push(unwrapped);
    let every = 10;
    for s in 1..=steps / every {
        model.integrate(state, every);
        let (re, im) = coefficient(&state[layer * n2..(layer + 1) * n2], n, m, p);
        let a = im.atan2(re);
        let mut d = a - last;
        d -= TAU * (d / TAU).round();
        unwrapped += d;
        last = a;
        t.push((s * every) as f64 * model.dt());
        phase.push(unwrapped);
    }
    let (re, im) = coefficient(&state[layer * n2..(layer + 1) * n2], n, m, p);
    (-slope(&t, &phase), re.hypot(im) / amp0 - 1.0)
}

/// Linear Rossby waves at rest (§13.4): barotropic `omega = -beta k / K^2`, first baroclinic
/// `omega = -beta k / (K^2 + F1 + F2)`, and the barotropic wave in a uniform flow `U` with its
/// Doppler shift `k U`. Single plane waves: their Jacobian vanishes, so the runs are linear at any
/// amplitude, and the amplitude is kept small anyway. Catches: a wrong sign or factor of the beta
/// term (every frequency), a wrong inversion matrix (`K^2 + F1 + F2` in the baroclinic case, or
/// `psi1 = psi2` not giving `q = -K^2 psi`), a wrong sign of the background advection `U dq/dx`
/// (the Doppler case), spurious damping by drag or filter at these scales (the amplitude check).
#[test]
fn rossby_waves_travel_at_the_dispersion_relation_phase_speed() {
    let base = QgConfig { nx: 32, u1_m_s: 0.0, u2_m_s: 0.0, bottom_drag_per_s: 0.0, ..QgConfig::default() };
    let (f1, f2) = base.f1_f2();
    let beta = base.beta_per_m_s;
    // (name, config, (m, p), barotropic?, expected omega), time step and steps per case.
    let uniform = 0.05;
    let cases = [
        ("barotropic", 0.0, 2, 1, true, 7200.0, 900),
        ("baroclinic", 0.0, 3, 2, false, 43200.0, 800),
        ("barotropic in uniform U", uniform, 2, 1, true, 7200.0, 900),
    ];
    for (name, u, m, p, barotropic, dt, steps) in cases {
        let cfg = QgConfig { u1_m_s: u, u2_m_s: u, dt_s: dt, ..base.clone() };
        let (k, l) = (wavenumber(&cfg, m), wavenumber(&cfg, p));
        let k2 = k * k + l * l;
        let expected = if barotropic { k * u - beta * k / k2 } else { k * u - beta * k / (k2 + f1 + f2) };
        let n = cfg.nx;
        let amp = 1.0; // m^2/s: velocities of order 1e-5 m/s
        let psi1 = plane_wave(n, m, p, amp, 0.3);
        // Baroclinic mode: H1 psi1 + H2 psi2 = 0.
        let psi2: Vec<f64> = if barotropic { psi1.clone() } else { psi1.iter().map(|v| -v * cfg.h1_m / cfg.h2_m).collect() };
        let mut state = pv_of_plane_waves(&cfg, k2, &psi1, &psi2);
        let mut model = QgModel::new(&cfg).unwrap();
        // The model's inversion returns the streamfunction the PV was built from.
        let mut fields = model.new_fields();
        model.fields(&state, &mut fields);
        let psi_err = fields.psi(1).iter().zip(&psi2).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(psi_err < 1e-9 * amp, "{name}: inversion error {psi_err:e}");
        let (omega, amp_change) = measure_frequency(&mut model, &mut state, 0, m, p, steps);
        let rel = (omega - expected).abs() / expected.abs();
        eprintln!("{name}: omega {omega:.6e} s^-1, expected {expected:.6e}, relative error {rel:.2e}, amplitude change {amp_change:.1e}");
        assert!(rel < 0.01, "{name}: omega {omega:e}, expected {expected:e} (relative error {rel:e})");
        assert!(amp_change.abs() < 1e-3, "{name}: amplitude changed by {amp_change:e}");
    }
}

/// The imaginary part of the phase speed of wavenumber `(k, l)` from the Phillips dispersion
/// relation of §13.5, `[Qy1 - (U1 - c)(K^2 + F1)] [Qy2 - (U2 - c)(K^2 + F2)] - (U1 - c)(U2 - c) F1 F2 = 0`,
/// written as `A c^2 + B c + C = 0`; 0 when the roots are real.
fn phillips_growth_rate(cfg: &QgConfig, k: f64, l: f64) -> f64 {
    let (f1, f2) = cfg.f1_f2();
    let [qy1, qy2] = cfg.qy();
    let (u1, u2) = (cfg.u1_m_s, cfg.u2_m_s);
    let k2 = k * k + l * l;
    let (a1, a2) = (k2 + f1, k2 + f2);
    let (p1, p2) = (qy1 - a1 * u1, qy2 - a2 * u2);
    let a = a1 * a2 - f1 * f2;
    let b = p1 * a2 + p2 * a1 + f1 * f2 * (u1 + u2);
    let c = p1 * p2 - f1 * f2 * u1 * u2;
    let disc = b * b - 4.0 * a * c;
    if disc >= 0.0 { 0.0 } else { k * (-disc).sqrt() / (2.0 * a) }
}

/// The Phillips baroclinic instability (§13.5): a small perturbation of two plane waves grows at
/// the analytic rate, (a) in the default regime (beta-plane, H1 = 500 m, H2 = 2000 m, U1 = 2.5 cm/s,
/// U2 = 0; drag off, since the formula has none) for the fastest zonal wave and an oblique one, and
/// (b) in the equal-layer, beta = 0, U1 = -U2 case, against the closed form
/// `sigma = k U_s sqrt((2F - K^2) / (2F + K^2))`. Growth is measured over a window that starts once
/// the decaying partner of each mode has faded. Catches: wrong background PV gradients `Qy_i`
/// (e.g. `F1` and `F2` swapped, or the shear term missing), a wrong inversion matrix, a wrong sign
/// of the background advection (the instability needs the right coupling of `U_i` and `Qy_i`).
#[test]
fn phillips_instability_grows_at_the_analytic_rate() {
    let default_regime = QgConfig { bottom_drag_per_s: 0.0, ..QgConfig::default() };
    let symmetric =
        QgConfig { h1_m: 1000.0, h2_m: 1000.0, beta_per_m_s: 0.0, u1_m_s: 0.0125, u2_m_s: -0.0125, bottom_drag_per_s: 0.0, nx: 32, ..QgConfig::default() };
    for (name, cfg) in [("default regime", default_regime), ("equal layers, beta = 0", symmetric)] {
        let n = cfg.nx as i64;
        // The fastest zonal wave (l = 0) among the resolved integer wavenumbers, and an oblique one.
        let fastest = (1..n / 3)
            .max_by(|&a, &b| phillips_growth_rate(&cfg, wavenumber(&cfg, a), 0.0).total_cmp(&phillips_growth_rate(&cfg, wavenumber(&cfg, b), 0.0)))
            .unwrap();
        let modes = [(fastest, 0), (fastest - 2, 3)];
        let mut psi1 = vec![0.0; (n * n) as usize];
        let mut psi2 = vec![0.0; (n * n) as usize];
        let mut q = vec![0.0; 2 * (n * n) as usize];
        for &(m, p) in &modes {
            let (k, l) = (wavenumber(&cfg, m), wavenumber(&cfg, p));
            // Amplitude 1e-3 m^2/s (velocities ~1e-8 m/s): nonlinear terms ~1e-10 of the linear ones.
            let a1 = plane_wave(n as usize, m, p, 1e-3, 0.0);
            let a2 = plane_wave(n as usize, m, p, 0.6e-3, 1.0);
            let qm = pv_of_plane_waves(&cfg, k * k + l * l, &a1, &a2);
            q.iter_mut().zip(&qm).for_each(|(a, b)| *a += b);
            psi1.iter_mut().zip(&a1).for_each(|(a, b)| *a += b);
            psi2.iter_mut().zip(&a2).for_each(|(a, b)| *a += b);
        }
        let sigmas: Vec<f64> = modes.iter().map(|&(m, p)| phillips_growth_rate(&cfg, wavenumber(&cfg, m), wavenumber(&cfg, p))).collect();
        if name.starts_with("equal") {
            // The closed form of §13.5 agrees with the quadratic (checks the test's own formula).
            let (f, _) = cfg.f1_f2();
            for (&(m, p), &s) in modes.iter().zip(&sigmas) {
                let (k, l) = (wavenumber(&cfg, m), wavenumber(&cfg, p));
                let k2 = k * k + l * l;
                let closed = k * cfg.u1_m_s * ((2.0 * f - k2) / (2.0 * f + k2)).sqrt();
                assert!((s - closed).abs() < 1e-9 * closed, "quadratic {s:e} vs closed form {closed:e}");
            }
        }
        let mut model = QgModel::new(&cfg).unwrap();
        let n2 = (n * n) as usize;
        let slowest = sigmas.iter().cloned().fold(f64::INFINITY, f64::min);
        assert!(slowest > 0.0, "{name}: the chosen modes must be unstable");
        // The decaying partner has rate -sigma: after 2.5 e-foldings of the slower mode the
        // contamination is e^-5 of where it started; then measure over 2.5 more.
        let dt = model.dt();
        let start = (2.5 / slowest / dt).round() as usize;
        let window = (2.5 / slowest / dt).round() as usize;
        let every = (window / 50).max(1);
        let amplitude = |state: &[f64], m: i64, p: i64| {
            let (a, b) = coefficient(&state[..n2], n as usize, m, p);
            let (c, d) = coefficient(&state[n2..], n as usize, m, p);
            (a * a + b * b + c * c + d * d).sqrt()
        };
        model.integrate(&mut q, start);
        let (mut t, mut logs) = (vec![], vec![vec![]; modes.len()]);
        for s in 0..=window / every {
            if s > 0 {
                model.integrate(&mut q, every);
            }
            t.push((s * every) as f64 * dt);
            for (i, &(m, p)) in modes.iter().enumerate() {
                logs[i].push(amplitude(&q, m, p).ln());
            }
        }
        for (i, &(m, p)) in modes.iter().enumerate() {
            let measured = slope(&t, &logs[i]);
            let rel = (measured - sigmas[i]).abs() / sigmas[i];
            eprintln!(
                "{name}: mode ({m}, {p}) growth rate {measured:.5e} s^-1, analytic {:.5e} (e-folding {:.1} days), relative error {rel:.2e}; {start} + {window} steps",
                sigmas[i],
                1.0 / sigmas[i] / 86400.0
            );
            assert!(rel < 0.02, "{name}: mode ({m}, {p}) grows at {measured:e}, expected {:e}", sigmas[i]);
        }
    }
}

/// One invariant: its name and how to read it off the energetics.
type Invariant<'a> = (&'a str, fn(&QgEnergetics) -> f64);

/// Relative drift `max |X(t) - X(0)| / |X(0)|` of each invariant over `steps` steps from `state`.
fn invariant_drift(cfg: &QgConfig, q_rms: f64, steps: usize, invariants: &[Invariant]) -> Vec<f64> {
    let mut model = QgModel::new(cfg).unwrap();
    let mut state = model.random_state(&mut StdRng::seed_from_u64(7), q_rms);
    let e0 = model.energetics(&state);
    let mut drift = vec![0.0f64; invariants.len()];
    for _ in 0..steps / 10 {
        model.integrate(&mut state, 10);
        let e = model.energetics(&state);
        for (d, (_, f)) in drift.iter_mut().zip(invariants) {
            *d = d.max((f(&e) - f(&e0)).abs() / f(&e0).abs());
        }
    }
    drift
}

/// Conservation (§13.6) without forcing or dissipation (drag off; the 2/3 rule, a projection under
/// which the pseudo-spectral Jacobian is the exact Galerkin one): (a) `beta = 0`, `U1 = U2 = 0`:
/// energy and the enstrophy of each layer; (b) `beta` of the default regime and a uniform flow
/// `U1 = U2 = 5 cm/s`: energy and the depth-weighted enstrophy (each layer's alone is exchanged
/// through the beta term). A nonlinear random state (RMS PV 1e-6 s^-1, speeds up to 0.13 m/s as in
/// the eddying regime, eddy turnover about 12 days), 32 x 32, 1000 steps of 2 h (83 days).
/// Tolerances, relative, from the initial value: energy 1e-5, enstrophy 1e-4; measured (printed)
/// about 1e-6 and 2e-5: AB3's own damping of the fastest (grid-scale) modes, which shrinks 8x when
/// dt halves (checked: the scheme is third order). Catches: a Jacobian that is not the divergence
/// of a divergence-free flux (e.g. `u = +dpsi/dy`), an inversion matrix whose energy weights do not
/// match (`F1` and `F2` swapped), drag or filter left on, a lower-order time step (the dt check),
/// and aliasing (without the 2/3 rule the same run drifts more; printed for reference).
#[test]
fn energy_and_enstrophy_are_conserved_without_forcing_and_dissipation() {
    type Inv = fn(&QgEnergetics) -> f64;
    let energy: Inv = |e| e.energy;
    let z1: Inv = |e| e.enstrophy[0];
    let z2: Inv = |e| e.enstrophy[1];
    let zt: Inv = |e| e.enstrophy_total;
    let base = QgConfig { nx: 32, bottom_drag_per_s: 0.0, filter: QgFilter::TwoThirds, ..QgConfig::default() };
    let (q_rms, steps) = (1e-6, 1000);
    let at_rest = QgConfig { beta_per_m_s: 0.0, u1_m_s: 0.0, u2_m_s: 0.0, ..base.clone() };
    let uniform = QgConfig { u1_m_s: 0.05, u2_m_s: 0.05, ..base.clone() };
    // (what, invariant, tolerance)
    type Checked<'a> = (&'a str, Inv, f64);
    let cases: [(&str, &QgConfig, Vec<Checked>); 2] = [
        ("beta = 0, U = 0", &at_rest, vec![("energy", energy, 1e-5), ("enstrophy 1", z1, 1e-4), ("enstrophy 2", z2, 1e-4)]),
        ("beta-plane, uniform U", &uniform, vec![("energy", energy, 2e-5), ("depth-weighted enstrophy", zt, 1e-4)]),
    ];
    let mut energy_drift = 0.0;
    for (name, cfg, invariants) in cases {
        let fns: Vec<(&str, Inv)> = invariants.iter().map(|&(w, f, _)| (w, f)).collect();
        let drift = invariant_drift(cfg, q_rms, steps, &fns);
        for ((what, _, tol), d) in invariants.iter().zip(&drift) {
            eprintln!("{name}: {what} drift {d:.2e} over {steps} steps (tolerance {tol:.0e})");
            assert!(d < tol, "{name}: {what} drifted by {d:e} (tolerance {tol:e})");
        }
        if energy_drift == 0.0 {
            energy_drift = drift[0];
        }
    }
    let half_dt = QgConfig { dt_s: at_rest.dt_s / 2.0, ..at_rest.clone() };
    let finer = invariant_drift(&half_dt, q_rms, 2 * steps, &[("energy", energy)])[0];
    eprintln!("half the time step: energy drift {finer:.2e}, {:.1}x smaller", energy_drift / finer);
    assert!((5.0..12.0).contains(&(energy_drift / finer)), "halving dt cut the energy drift {:.1}x, expected ~8x (third order)", energy_drift / finer);
    let aliased = QgConfig { filter: QgFilter::None, ..at_rest };
    let drift = invariant_drift(&aliased, q_rms, steps, &[("energy", energy), ("enstrophy 1", z1)]);
    eprintln!("without dealiasing (reference): energy drift {:.2e}, enstrophy 1 drift {:.2e}", drift[0], drift[1]);
}

/// Spin-up of the default eddying regime (with drag and the exponential filter) on a coarse 32 x 32
/// grid with 6-hour steps, 18 model years (26,280 steps): from a small random perturbation (RMS PV
/// 1e-8 s^-1) the baroclinic instability grows for about five years, the eddies equilibrate
/// against drag and filter, and the domain kinetic energy levels off. Asserted: its mean over the
/// last third (years 12-18) is within 10 % of the mean over the middle third (years 6-12), and more
/// than 1000 times the initial one. Measured (printed): initial 9.8e-8 m^2/s^2, middle third
/// 4.08e-4, last third 4.02e-4 (ratio 0.985), yearly means 3.7e-4 to 4.4e-4 after year 6.
/// Catches: no instability (wrong `Qy` or coupling: KE never grows), no equilibration (drag of the
/// wrong sign, no filter: KE keeps growing or blows up), and a model that is not time-stationary.
#[test]
fn spun_up_run_levels_off() {
    let cfg = QgConfig { nx: 32, dt_s: 21600.0, ..QgConfig::default() };
    let mut model = QgModel::new(&cfg).unwrap();
    let mut state = model.random_state(&mut StdRng::seed_from_u64(11), 1e-8);
    let ke0 = model.energetics(&state).kinetic_total;
    let (years, per_year) = (18, 1460);
    let mut ke = Vec::new();
    for _ in 0..years * 12 {
        model.integrate(&mut state, per_year / 12);
        ke.push(model.energetics(&state).kinetic_total);
    }
    let third = ke.len() / 3;
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let (middle, last) = (mean(&ke[third..2 * third]), mean(&ke[2 * third..]));
    let yearly: Vec<String> = ke.chunks(12).map(|c| format!("{:.2e}", mean(c))).collect();
    eprintln!("spin-up: KE initial {ke0:.2e} m^2/s^2, yearly means {yearly:?}; middle third {middle:.3e}, last third {last:.3e}, ratio {:.3}", last / middle);
    assert!(state.iter().all(|v| v.is_finite()));
    assert!((last / middle - 1.0).abs() < 0.1, "KE not levelled off: middle third {middle:e}, last third {last:e}");
    assert!(last > 1e3 * ke0, "KE did not grow: initial {ke0:e}, last third {last:e}");
}
