//! Your own loss through the library (README "Using the crate as a library"): implement
//! [`Objective`] once, generic over the scalar; check its derivatives; find the first unstable GD
//! iterate; track GD, θ† and the predicted dynamics; write `series.csv` and the figures.
//!
//! The loss is L(x, y, z) = ½·e^y·x² − γ·y + ½·z²: the sharpness is ≈ e^y, GD on y sharpens it
//! (−∂L/∂y = γ at x = 0) and the oscillation along x pulls it back (∂L/∂y grows with x²), so θ†
//! settles at y = ln(2/η) with x = 0, and the theory's constants are α = γ·S, β = S² at θ†, so
//! δ = √(2α/β) = √(γη) (reference.md §1–§4). With γ = 0.001, η = 0.5 and GD from (0.01, 1.38, 0.3)
//! the sharpness first reaches 2/η at step 16 and then oscillates within 2 % of it while |x| stays
//! of the size of δ ≈ 0.022. A start where x has time to die out first gives no such regime: with
//! γ = 0.01 from (0.2, 1.3, ·), x has fallen to 2.8e-4 when S reaches 2/η (step 36), and S then
//! swings between 2.3 and 5.3 over the next 300 steps, where a cubic prediction cannot follow; from
//! y₀ = 0.5 (γ = 0.001) x underflows to 0 in f64 before the edge, and S rises past 2/η unchecked.
//!
//! `cargo run --release --example custom_objective -- [f64|BITS] [OUT]` (default f64, out_custom)

use selfstab::error::EvalError;
use selfstab::sharpness::EigenOpts;
use selfstab::taylor_check::{check_derivatives, direction};
use selfstab::tracking::{self, TrackOpts};
use selfstab::{Objective, Scalar};

/// L(x, y, z) = ½·e^y·x² − γ·y + ½·z², at any precision (γ parsed at the working precision).
pub struct ExpSharp<S: Scalar> {
    gamma: S,
}

impl<S: Scalar> ExpSharp<S> {
    /// The loss with the given γ.
    pub fn new(gamma: S) -> Self {
        ExpSharp { gamma }
    }
    fn half(&self) -> S {
        S::one(self.gamma.ctx()) / &S::from_i64(2, self.gamma.ctx())
    }
}

impl<S: Scalar> Objective<S> for ExpSharp<S> {
    fn dim(&self) -> usize {
        3
    }
    fn ctx(&self) -> S::Ctx {
        self.gamma.ctx()
    }
    fn describe(&self) -> String {
        "½e^y x² − γy + ½z²".into()
    }
    fn value(&self, th: &[S]) -> Result<S, EvalError> {
        let (x, y, z) = (&th[0], &th[1], &th[2]);
        let e = y.exp();
        Ok(self.half() * &e * x * x - &(self.gamma.clone() * y) + &(self.half() * z * z))
    }
    fn grad(&self, th: &[S], g: &mut [S]) -> Result<S, EvalError> {
        let (x, z) = (&th[0], &th[2]);
        let e = th[1].exp();
        g[0] = e.clone() * x;
        g[1] = self.half() * &e * x * x - &self.gamma;
        g[2] = z.clone();
        self.value(th)
    }
    fn hvp(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        let x = &th[0];
        let e = th[1].exp();
        // H = [[e, e·x, 0], [e·x, ½e·x², 0], [0, 0, 1]].
        out[0] = e.clone() * &v[0] + &(e.clone() * x * &v[1]);
        out[1] = e.clone() * x * &v[0] + &(self.half() * &e * x * x * &v[1]);
        out[2] = v[2].clone();
        Ok(())
    }
    fn d3(&self, th: &[S], v: &[S], w: &[S], out: &mut [S]) -> Result<(), EvalError> {
        // L_xxy = e, L_xyy = e·x, L_yyy = ½e·x²; every other third derivative is 0.
        let x = &th[0];
        let e = th[1].exp();
        let mixed = v[0].clone() * &w[1] + &(v[1].clone() * &w[0]);
        out[0] = e.clone() * &mixed + &(e.clone() * x * &v[1] * &w[1]);
        out[1] = e.clone() * &v[0] * &w[0] + &(e.clone() * x * &mixed) + &(self.half() * &e * x * x * &v[1] * &w[1]);
        out[2] = S::zero(self.ctx());
        Ok(())
    }
    fn d4(&self, th: &[S], v: &[S], out: &mut [S]) -> Result<(), EvalError> {
        // L_xxyy = e, L_xyyy = e·x, L_yyyy = ½e·x²: (∇⁴L[v,v,v])_i = Σ L_iabc v_a v_b v_c.
        let x = &th[0];
        let e = th[1].exp();
        let c = self.ctx();
        let three = S::from_i64(3, c);
        let (a, b) = (&v[0], &v[1]);
        out[0] = three.clone() * &e * a * b * b + &(e.clone() * x * b * b * b);
        out[1] = three.clone() * &e * a * a * b + &(three * &e * x * a * b * b) + &(self.half() * &e * x * x * b * b * b);
        out[2] = S::zero(c);
        Ok(())
    }
}

/// What the run found (tests/user_objectives.rs checks it against the theory).
pub struct Summary {
    /// First GD step with S ≥ 2/η.
    pub unstable_step: u64,
    /// Tracking steps taken.
    pub steps: usize,
    /// y of θ† after the last step (the theory: ln(2/η) = ln 4).
    pub y_dagger: f64,
    /// S(θ†) after the last step (2/η).
    pub s_dagger: f64,
    /// δ at θ† after the last step (√(γη)).
    pub delta: f64,
    /// GD's mean sharpness over the tracking steps.
    pub mean_s: f64,
    /// max over the steps of ‖θ − θ† − v‖/‖θ − θ†‖.
    pub worst_ratio: f64,
}

/// The whole job at precision `c`, writing into `out`.
pub fn run<S: Scalar>(c: S::Ctx, out: &std::path::Path) -> Result<Summary, Box<dyn std::error::Error>> {
    let obj = ExpSharp::new(S::parse("0.001", c)?);
    let eta = S::parse("0.5", c)?;
    let theta_init: Vec<S> = ["0.01", "1.38", "0.3"].iter().map(|s| S::parse(s, c)).collect::<Result<_, _>>()?;

    // 1. The derivatives against central differences (rate 2) and their symmetries.
    let report = check_derivatives(&obj, &theta_init, &direction::<S>(3, 1, c), &direction::<S>(3, 2, c))?;
    print!("{}", report.summary());
    if !report.passed() {
        return Err("a derivative failed its check".into());
    }

    // 2. GD until S(θ_t) ≥ 2/η.
    let tol = EigenOpts::default_tol::<S>(c);
    let inst = selfstab::gd::find_instability(&obj, &eta, &theta_init, 100_000, tol, &mut [])?;
    println!("first unstable iterate: GD step {}, S = {} (2/η = 4)", inst.step, inst.sharpness.to_f64());

    // 3. GD, θ† and the predicted dynamics in lockstep.
    let opts = TrackOpts { projection_steps: 3, gap_every: 0, gap_threshold: None, eig_tol: tol, chain_tol: None };
    let mut st = tracking::start(&obj, &eta, &inst.theta, Some(&inst.u), &opts)?;
    let mut rows = Vec::new();
    for _ in 0..300 {
        let (row, stop) = tracking::step(&obj, &eta, &mut st, &opts)?;
        // A step whose GD loss is non-finite measured nothing (`Row::measured`).
        if row.measured() {
            rows.push(row);
        }
        if let Some(s) = stop {
            println!("stopped: {}", s.message());
            break;
        }
    }
    let n = rows.len() as f64;
    let mean_s = rows.iter().map(|r| r.sharpness_gd).sum::<f64>() / n;
    let worst = rows.iter().map(|r| r.tracking_error / r.dist.max(f64::MIN_POSITIVE)).fold(0.0, f64::max);
    let last = rows.last().ok_or("no tracking step")?;
    println!(
        "{} steps: y(θ†) = {} (ln 4 = {}), S(θ†) = {}, δ = {} (√(γη) = {}); GD's mean S = {mean_s:.4} (2/η = 4), \
         ‖θ − θ† − v‖ ≤ {worst:.2e}·‖θ − θ†‖",
        rows.len(),
        st.dagger.theta[1].to_f64(),
        libm::log(4.0),
        last.sharpness_dagger,
        last.delta,
        libm::sqrt(0.0005),
    );

    // 4. The outputs `selfstab run` writes for its own models.
    std::fs::create_dir_all(out)?;
    selfstab::commands::write_series(out, &rows)?;
    selfstab::figures::write_all(out, &rows, None, 4.0, &[])?;
    println!("wrote {}/series.csv and {}/figures/", out.display(), out.display());
    Ok(Summary {
        unstable_step: inst.step,
        steps: rows.len(),
        y_dagger: st.dagger.theta[1].to_f64(),
        s_dagger: last.sharpness_dagger,
        delta: last.delta,
        mean_s,
        worst_ratio: worst,
    })
}

fn main() {
    let prec = std::env::args().nth(1).unwrap_or_else(|| "f64".into());
    let out = std::path::PathBuf::from(std::env::args().nth(2).unwrap_or_else(|| "out_custom".into()));
    let result = match prec.as_str() {
        "f64" => run::<f64>((), &out).map(|_| ()),
        bits => match bits.parse::<u32>() {
            Ok(b) => run::<rug::Float>(b, &out).map(|_| ()),
            Err(_) => Err(format!("precision must be f64 or a number of bits, got {bits}").into()),
        },
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
