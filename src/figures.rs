//! Figures of a tracking run (reference.md §7, "what the figures plot"): loss, sharpness (with the
//! 2/η line) and deviation panels comparing GD, θ† and the prediction, and the phase portrait.
//! Each figure is written as SVG (with its font embedded as a base64 @font-face) and as PNG
//! (rasterised by resvg with the same embedded font: no system fonts are read).

use std::fmt::Write as _;
use std::path::Path;

use crate::error::Error;
use crate::npy::write_atomic;
use crate::tracking::Row;

/// One curve.
pub(crate) struct Series<'a> {
    pub(crate) name: &'a str,
    pub(crate) color: &'a str,
    pub(crate) dash: bool,
    pub(crate) y: Vec<f64>,
}

fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(hi > lo) {
        return vec![lo];
    }
    let raw = (hi - lo) / n as f64;
    let mag = libm::pow(10.0, libm::log10(raw).floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = vec![];
    // (A step below the spacing of floats at t would never advance it: at most a few ticks here.)
    while t <= hi + 1e-9 * step && out.len() < MAX_TICKS {
        out.push(t);
        if t + step == t {
            break;
        }
        t += step;
    }
    out
}

/// Most ticks an axis gets (a guard: the tick rules give about 5).
const MAX_TICKS: usize = 64;

/// [`nice_ticks`] on an axis of whole steps: no fractional ticks (a 3-step run ticked 0.5, 1.5).
fn step_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let t = nice_ticks(lo, hi, n);
    if tick_step(&t, lo, hi) >= 1.0 {
        return t;
    }
    let mut out = vec![];
    let mut v = lo.ceil();
    // Whole values only below 5 units of range; `v + 1 == v` above 2⁵³ (a constant huge count).
    while v <= hi && out.len() < MAX_TICKS {
        out.push(v);
        if v + 1.0 == v {
            break;
        }
        v += 1.0;
    }
    out
}

/// Ticks of a log axis over log10 values [lo, hi]: whole decades when round exponent ticks fall
/// on them (about 2.5 decades or more), 1, 2 and 5 times the powers of ten over one to about 2.5
/// decades, else round values in value space ([`nice_ticks`] of 10^lo..10^hi, finer when that gives
/// one tick; inside one decade log-spaced ticks fell on 1.07e-1, 1.10e-1, 1.12e-1). Returns (log10
/// positions, labels).
fn log_ticks(lo: f64, hi: f64) -> Vec<(f64, String)> {
    if hi - lo >= 1.0 {
        let t = nice_ticks(lo, hi, 5);
        if tick_step(&t, lo, hi) >= 1.0 {
            return t.into_iter().map(|e| (e, log_tick_text(e))).collect();
        }
        // One to a few decades: 1, 2 and 5 times the powers of ten (half decades ticked 3.16e-1).
        let mut out = vec![];
        for k in (lo.floor() as i32)..=(hi.ceil() as i32) {
            for m in [1.0, 2.0, 5.0] {
                let e = libm::log10(m) + f64::from(k);
                if e >= lo && e <= hi {
                    out.push((e, format!("{m}e{k}")));
                }
            }
        }
        return out;
    }
    let (a, b) = (libm::pow(10.0, lo), libm::pow(10.0, hi));
    let mut t = nice_ticks(a, b, 4);
    if t.len() < 2 {
        t = nice_ticks(a, b, 8);
    }
    let step = tick_step(&t, a, b);
    t.into_iter().filter(|v| *v > 0.0).map(|v| (libm::log10(v), linear_tick_text(v, step))).collect()
}

/// What a panel shows besides its series: title, x-axis label, a horizontal reference line (value,
/// name; drawn over the series and listed in the legend), a second one (`level`, grey, dashed:
/// e.g. the critical level c/η), a log y-axis, vertical markers at given
/// steps (an event: θ†'s switch to k eigenvalues, the prediction's divergence; in the legend),
/// whole-number y ticks (a count), a log x-axis (x > 0, e.g. the batch size) and whole-number x
/// ticks at given values (empty: automatic).
#[derive(Default)]
pub(crate) struct Axes<'a> {
    pub title: &'a str,
    pub xlabel: &'a str,
    pub hline: Option<(f64, &'a str)>,
    pub level: Option<(f64, &'a str)>,
    pub log: bool,
    pub vlines: &'a [(f64, &'a str)],
    pub integer: bool,
    pub logx: bool,
    pub xticks: &'a [f64],
}

/// Width of the legend column at a panel's right, outside the plot area (so that no curve runs
/// under a legend entry).
const LEGEND_WIDTH: f64 = 175.0;

/// Draw one panel at (x0, y0) of size w×h into `svg`: the plot, then its legend in a column to the
/// right of the plot area.
pub(crate) fn panel(svg: &mut String, (x0, y0, w, h): (f64, f64, f64, f64), axes: &Axes, t: &[f64], series: &[Series]) {
    let Axes { title, xlabel, hline, level, log, vlines, integer, logx, xticks } = *axes;
    // Positions on the x-axis: the steps, or log10 of x on a log axis.
    let tx = |v: f64| if logx { libm::log10(v) } else { v };
    let t: &[f64] = &t.iter().map(|&v| tx(v)).collect::<Vec<f64>>();
    let tr = |v: f64| if log { libm::log10(v.max(1e-300)) } else { v };
    // A value the y-axis can show.
    let drawable = |v: f64| v.is_finite() && (!log || v > 0.0);
    let span = |ss: &[&Series]| {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for s in ss {
            for &v in &s.y {
                if drawable(v) {
                    lo = lo.min(tr(v));
                    hi = hi.max(tr(v));
                }
            }
        }
        for (v, _) in hline.into_iter().chain(level) {
            lo = lo.min(tr(v));
            hi = hi.max(tr(v));
        }
        (lo, hi)
    };
    let (mut lo, mut hi) = span(&series.iter().collect::<Vec<_>>());
    // A dashed series (the prediction) that blows up (a diverging run: the predicted loss reached
    // 6.9e10 while GD's stayed below 1e7) would flatten every other curve: on a linear axis the range
    // is then the solid series' (and the reference line's), widened by half, and the dashed ones are
    // drawn where they fit, with "dashed: partly off scale" over the panel.
    let mut clipped = false;
    if !log {
        let solid: Vec<&Series> = series.iter().filter(|s| !s.dash).collect();
        let (slo, shi) = span(&solid);
        if slo.is_finite() && shi > slo && (hi - lo) > 100.0 * (shi - slo) {
            let pad = 0.5 * (shi - slo);
            (lo, hi) = (slo - pad, shi + pad);
            clipped = series.iter().flat_map(|s| &s.y).any(|&v| v.is_finite() && (tr(v) < lo || tr(v) > hi));
        }
    }
    if !lo.is_finite() {
        lo = 0.0;
        hi = 1.0;
    }
    if hi - lo < 1e-12 * (1.0 + hi.abs()) {
        lo -= 0.5;
        hi += 0.5;
    }
    // A count that barely moves still gets its neighbours as ticks (a constant 1 had the one tick 1).
    if integer && hi - lo < 2.0 {
        let mid = 0.5 * (lo + hi);
        (lo, hi) = (mid - 1.0, mid + 1.0);
    }
    let pad = 0.05 * (hi - lo);
    let (lo, hi) = (lo - pad, hi + pad);
    // A log x-axis holds a few values (batch sizes, > 0; others are not drawn): at least a factor 2
    // wide and widened by 5 % of its half-range at each end, so that no point sits on the frame.
    let finite: Vec<f64> = t.iter().copied().filter(|v| v.is_finite()).collect();
    let (t0, t1) = if logx && !finite.is_empty() {
        let (a, b) = (finite[0], finite[finite.len() - 1]);
        let half = (0.5 * (b - a)).max(0.15);
        let mid = 0.5 * (a + b);
        (mid - 1.05 * half, mid + 1.05 * half)
    } else {
        (t.first().cloned().unwrap_or(0.0), t.last().cloned().unwrap_or(1.0).max(t.first().cloned().unwrap_or(0.0) + 1.0))
    };
    let (ml, mr, mt, mb) = (70.0, LEGEND_WIDTH, 28.0, 35.0);
    let px = |tv: f64| x0 + ml + (tv - t0) / (t1 - t0) * (w - ml - mr);
    let py = |v: f64| y0 + mt + (hi - tr(v)) / (hi - lo) * (h - mt - mb);
    let _ = write!(svg, r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#444"/>"##, x0 + ml, y0 + mt, w - ml - mr, h - mt - mb);
    let _ = write!(svg, r##"<text x="{:.1}" y="{:.1}" font-size="14">{title}</text>"##, x0 + ml, y0 + 18.0);
    let xticks: Vec<(f64, String)> = if !xticks.is_empty() {
        xticks.iter().map(|&v| (tx(v), linear_tick_text(v, 1.0))).collect()
    } else if logx {
        log_ticks(t0, t1)
    } else {
        let ticks = step_ticks(t0, t1, 6);
        let xstep = tick_step(&ticks, t0, t1);
        ticks.into_iter().map(|v| (v, linear_tick_text(v, xstep))).collect()
    };
    for (tv, label) in xticks {
        let _ = write!(svg, r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{label}</text>"##, px(tv), y0 + h - mb + 14.0);
    }
    let _ = write!(svg, r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{xlabel}</text>"##, x0 + ml + (w - ml - mr) / 2.0, y0 + h - 6.0);
    let yticks: Vec<(f64, String)> = if log {
        log_ticks(lo, hi)
    } else if integer {
        step_ticks(lo, hi, 5).into_iter().map(|v| (v, linear_tick_text(v, 1.0))).collect()
    } else {
        let t = nice_ticks(lo, hi, 5);
        let step = tick_step(&t, lo, hi);
        t.into_iter().map(|v| (v, linear_tick_text(v, step))).collect()
    };
    for (yv, label) in yticks {
        let yy = y0 + mt + (hi - yv) / (hi - lo) * (h - mt - mb);
        let _ = write!(svg, r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{label}</text><line x1="{:.1}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#eee"/>"##, x0 + ml - 4.0, yy + 3.0, x0 + ml, x0 + w - mr);
    }
    let (lx, ly) = (x0 + w - mr + 12.0, |k: usize| y0 + mt + 12.0 + 14.0 * k as f64);
    // Legend rows in order; a series without a drawable value (a prediction that never started)
    // gets none.
    let mut rows = 0;
    for s in series {
        let mut d = String::new();
        // Runs of consecutive drawable points: a run of one point (a one-row series, or a point
        // between gaps) is drawn as a dot, since a path of one point draws nothing.
        let mut run: Vec<(f64, f64)> = vec![];
        let mut dots: Vec<(f64, f64)> = vec![];
        let flush = |run: &mut Vec<(f64, f64)>, d: &mut String, dots: &mut Vec<(f64, f64)>| {
            match run.len() {
                0 => {}
                1 => dots.push(run[0]),
                _ => {
                    for (i, (x, y)) in run.iter().enumerate() {
                        let _ = write!(d, "{}{x:.2},{y:.2} ", if i == 0 { "M" } else { "L" });
                    }
                }
            }
            run.clear();
        };
        for (tv, &v) in t.iter().zip(&s.y) {
            if drawable(v) && (tr(v) >= lo && tr(v) <= hi) {
                run.push((px(*tv), py(v)));
            } else {
                flush(&mut run, &mut d, &mut dots);
            }
        }
        flush(&mut run, &mut d, &mut dots);
        let dash = if s.dash { r##" stroke-dasharray="5,3""## } else { "" };
        if !d.is_empty() {
            let _ = write!(svg, r##"<path d="{d}" fill="none" stroke="{}" stroke-width="1.3"{dash}/>"##, s.color);
        }
        for (x, y) in dots {
            let _ = write!(svg, r##"<circle cx="{x:.2}" cy="{y:.2}" r="2.5" fill="{}"/>"##, s.color);
        }
        if s.y.iter().any(|&v| drawable(v)) {
            legend_entry(svg, lx, ly(rows), s.color, dash, s.name);
            rows += 1;
        }
    }
    if clipped {
        let _ = write!(svg, r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#d62728">dashed: partly off scale</text>"##, x0 + w - mr, y0 + 18.0);
    }
    // The reference line goes over the series (a curve that sits on it, as θ†'s sharpness sits on
    // 2/η, would hide it otherwise), dotted in black, and into the legend.
    // The second reference line (grey, dashed) likewise.
    for ((v, name), color, dash) in [(hline, "#000", r##" stroke-dasharray="2,2""##), (level, "#777", r##" stroke-dasharray="8,4""##)]
        .into_iter()
        .filter_map(|(l, c, d)| Some((l?, c, d)))
    {
        let _ = write!(svg, r##"<line x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="1.2"{dash}/>"##, px(t0), px(t1), py(v), py(v));
        legend_entry(svg, lx, ly(rows), color, dash, name);
        rows += 1;
    }
    // Event markers: a vertical line at the step, across the plot area, listed in the legend.
    for (k, (tv, name)) in vlines.iter().map(|&(v, name)| (tx(v), name)).filter(|(tv, _)| *tv >= t0 && *tv <= t1).enumerate() {
        let color = VLINE_COLORS[k % VLINE_COLORS.len()];
        let dash = r##" stroke-dasharray="6,3,1,3""##;
        // (At either end of the axis the marker is drawn just inside the frame, not on it.)
        let x = px(tv).clamp(x0 + ml + 1.5, x0 + w - mr - 1.5);
        let _ = write!(svg, r##"<line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="1.2"{dash}/>"##, y0 + mt, y0 + h - mb);
        legend_entry(svg, lx, ly(rows + k), color, dash, name);
    }
}

/// Colours of the event markers ([`Axes::vlines`]), in order.
const VLINE_COLORS: [&str; 3] = ["#e377c2", "#17becf", "#bcbd22"];

/// One legend entry: a short line in the series' colour and dash pattern, then its name.
fn legend_entry(svg: &mut String, lx: f64, ly: f64, color: &str, dash: &str, name: &str) {
    let _ = write!(svg, r##"<line x1="{lx:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}" font-size="11">{name}</text>"##, lx + 18.0, ly - 4.0, ly - 4.0, lx + 22.0, ly);
}

/// DejaVu Sans (Bitstream Vera licence, see `src/assets/DejaVuSans-LICENSE.txt`), subset to Latin-1,
/// Greek and the mathematical symbols the labels use.
const FONT: &[u8] = include_bytes!("assets/DejaVuSans-subset.ttf");

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for ch in bytes.chunks(3) {
        let b = [ch[0], *ch.get(1).unwrap_or(&0), *ch.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= ch.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(crate) fn doc(w: f64, h: f64, body: &str) -> String {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans"><style>@font-face {{ font-family: "DejaVu Sans"; src: url(data:font/ttf;base64,{}) format("truetype"); }}</style><rect width="100%" height="100%" fill="white"/>{body}</svg>"##,
        base64(FONT)
    )
}

/// Whether the font has a glyph for `c`: its Unicode cmap (platform 3 or 0, format 4 over the
/// BMP) maps c to a glyph other than 0 (.notdef, drawn blank).
fn font_has(font: &[u8], c: char) -> bool {
    let u16_at = |o: usize| font.get(o..o + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let u32_at = |o: usize| font.get(o..o + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let Ok(code) = u16::try_from(u32::from(c)) else { return false };
    let lookup = || -> Option<u16> {
        let tables = usize::from(u16_at(4)?);
        let cmap = (0..tables).find(|i| font.get(12 + 16 * i..16 + 16 * i) == Some(b"cmap")).and_then(|i| u32_at(12 + 16 * i + 8))? as usize;
        for r in 0..usize::from(u16_at(cmap + 2)?) {
            let rec = cmap + 4 + 8 * r;
            let sub = cmap + u32_at(rec + 4)? as usize;
            if !matches!(u16_at(rec)?, 0 | 3) || u16_at(sub)? != 4 {
                continue;
            }
            let segs = usize::from(u16_at(sub + 6)?) / 2;
            let (ends, starts) = (sub + 14, sub + 16 + 2 * segs);
            let (deltas, ranges) = (starts + 2 * segs, starts + 4 * segs);
            let k = (0..segs).find(|&k| u16_at(ends + 2 * k).is_some_and(|e| code <= e))?;
            let start = u16_at(starts + 2 * k)?;
            if code < start {
                return Some(0);
            }
            let delta = u16_at(deltas + 2 * k)?;
            let range = usize::from(u16_at(ranges + 2 * k)?);
            if range == 0 {
                return Some(code.wrapping_add(delta));
            }
            let g = u16_at(ranges + 2 * k + range + 2 * usize::from(code - start))?;
            return Some(if g == 0 { 0 } else { g.wrapping_add(delta) });
        }
        None
    };
    lookup().is_some_and(|g| g != 0)
}

/// The characters of the figure's text (its `<text>` elements) that the embedded font has no
/// glyph for, each once: they would be drawn blank (the font is a subset).
pub(crate) fn missing_glyphs(svg: &str) -> Vec<char> {
    let mut missing = vec![];
    for piece in svg.split("<text").skip(1) {
        let body = piece.split_once('>').map_or("", |(_, b)| b);
        let body = body.split("</text>").next().unwrap_or("");
        // Entities (&lt; &amp; …) stand for ASCII characters, which the font has.
        for c in body.chars() {
            if !font_has(FONT, c) && !missing.contains(&c) {
                missing.push(c);
            }
        }
    }
    missing
}

/// Write `stem.svg` and `stem.png` (rasterised with the embedded font at 1.5× scale). In a build
/// with debug assertions (the tests') a label with a character the font lacks is an error, so that
/// a label that would be drawn blank fails the tests that write its figure.
pub(crate) fn write_both(dir: &Path, stem: &str, svg: &str) -> Result<(), Error> {
    let fail = |m: String| Error::Eval(crate::error::EvalError::Other(format!("figure {stem}: {m}")));
    if cfg!(debug_assertions) {
        let missing = missing_glyphs(svg);
        if !missing.is_empty() {
            return Err(fail(format!("its labels use characters the embedded font has no glyph for: {missing:?}")));
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    write_atomic(&dir.join(format!("{stem}.svg")), svg.as_bytes())?;
    let mut opt = resvg::usvg::Options { font_family: "DejaVu Sans".into(), ..Default::default() };
    opt.fontdb_mut().load_font_data(FONT.to_vec());
    let tree = resvg::usvg::Tree::from_str(svg, &opt).map_err(|e| fail(e.to_string()))?;
    let scale = 1.5f32;
    let size = tree.size();
    let (pw, ph) = ((size.width() * scale).ceil() as u32, (size.height() * scale).ceil() as u32);
    let mut pixmap = resvg::tiny_skia::Pixmap::new(pw, ph).ok_or_else(|| fail("empty image".into()))?;
    resvg::render(&tree, resvg::tiny_skia::Transform::from_scale(scale, scale), &mut pixmap.as_mut());
    let png = pixmap.encode_png().map_err(|e| fail(e.to_string()))?;
    write_atomic(&dir.join(format!("{stem}.png")), &png)
}

/// Write `figures/tracking.{svg,png}` (loss, sharpness, deviation) and `figures/phase.{svg,png}`.
/// With `--gf` (`gf` rows, one per tracking step) gradient flow joins the loss, sharpness and
/// deviation panels (reference.md §7's panel (iii): GF's distance from θ†). `marks` are the run's
/// events (step, name), drawn as vertical lines on every panel of the tracking figure.
pub fn write_all(out: &Path, rows: &[Row], gf: Option<&[crate::gd::FlowRow]>, threshold: f64, marks: &[(f64, &str)]) -> Result<(), Error> {
    let dir = out.join("figures");
    let t: Vec<f64> = rows.iter().map(|r| r.t as f64).collect();
    let col = |f: fn(&Row) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let (w, h) = (900.0, 300.0);
    let mut body = String::new();
    let axes = |title, hline, log| Axes { title, xlabel: TRACKING_XLABEL, hline, log, vlines: marks, ..Axes::default() };
    // Gradient flow's column aligned with the rows' steps (NaN where it has no row).
    let gf_col = |f: fn(&crate::gd::FlowRow) -> f64| -> Option<Vec<f64>> { Some(by_step(rows, gf?, |x| x.t, f)) };
    let with_gf = |mut s: Vec<Series<'static>>, f: fn(&crate::gd::FlowRow) -> f64, name: &'static str| {
        if let Some(y) = gf_col(f) {
            s.push(Series { name, color: "#9467bd", dash: false, y });
        }
        s
    };
    let loss = with_gf(vec![
        Series { name: "GD L(θ)", color: "#1f77b4", dash: false, y: col(|r| r.loss_gd) },
        Series { name: "θ† L(θ†)", color: "#2ca02c", dash: false, y: col(|r| r.loss_dagger) },
        Series { name: "pred L(θ†+v)", color: "#d62728", dash: true, y: col(|r| r.loss_pred) },
    ], |g| g.loss, "GF L(θ_gf)");
    panel(&mut body, (0.0, 0.0, w, h), &axes("Loss", None, false), &t, &loss);
    let sharp = with_gf(vec![
        Series { name: "GD S(θ)", color: "#1f77b4", dash: false, y: col(|r| r.sharpness_gd) },
        Series { name: "θ† S(θ†)", color: "#2ca02c", dash: false, y: col(|r| r.sharpness_dagger) },
        Series { name: "pred S(θ†)+∇S·v", color: "#d62728", dash: true, y: col(|r| r.sharpness_pred) },
    ], |g| g.sharpness, "GF S(θ_gf)");
    panel(&mut body, (0.0, h, w, h), &axes("Sharpness", Some((threshold, "2/η")), false), &t, &sharp);
    let dev = with_gf(vec![
        Series { name: "GD ‖θ−θ†‖", color: "#1f77b4", dash: false, y: col(|r| r.dist) },
        Series { name: "pred ‖v‖", color: "#d62728", dash: true, y: col(|r| r.pred_norm) },
        Series { name: "‖θ−θ†−v‖", color: "#7f7f7f", dash: false, y: col(|r| r.tracking_error) },
    ], |g| g.dist_dagger, "GF ‖θ_gf−θ†‖");
    panel(&mut body, (0.0, 2.0 * h, w, h), &axes("Deviation from θ† (log scale)", None, true), &t, &dev);
    write_both(&dir, "tracking", &doc(w, 3.0 * h, &body))?;

    // Phase portrait (x/δ, y/√α) of the prediction and of GD, with the first row's α, δ.
    let mut body = String::new();
    if let Some([(xs, ys), (xg, yg)]) = phase_points(rows) {
        scatter(&mut body, 600.0, 600.0, &[(&xs, &ys, "#d62728", "prediction: u·v, ∇S⊥·v"), (&xg, &yg, "#1f77b4", "GD: u·(θ−θ†), ∇S⊥·(θ−θ†)")]);
    } else {
        body.push_str(r##"<text x="20" y="40" font-size="14">α ≤ 0 at θ₀: no equilibrium scale δ, no phase portrait</text>"##);
    }
    write_both(&dir, "phase", &doc(600.0, 600.0, &body))
}

/// The phase portrait's points in the reduced map's coordinates (x/δ₀, y/√α₀), α₀ and δ₀ of the first
/// row: the prediction's (x, y) = (u·v, ∇S⊥·v) and GD's (x_gd, y_gd) = (u·(θ−θ†), ∇S⊥·(θ−θ†)). `None`
/// when α₀ ≤ 0 or δ₀ ≤ 0 (no equilibrium scale).
fn phase_points(rows: &[Row]) -> Option<[(Vec<f64>, Vec<f64>); 2]> {
    let (a0, d0) = rows.first().map(|r| (r.alpha, r.delta))?;
    if !(a0 > 0.0 && d0 > 0.0) {
        return None;
    }
    let sa = a0.sqrt();
    let pred = (rows.iter().map(|r| r.x / d0).collect(), rows.iter().map(|r| r.y / sa).collect());
    let gd = (rows.iter().map(|r| r.x_gd / d0).collect(), rows.iter().map(|r| r.y_gd / sa).collect());
    Some([pred, gd])
}

/// A column of `side` (rows in increasing `step`, e.g. gf.csv's or multi.csv's) aligned with the
/// tracking rows' steps: `f` of the side row of the same step, NaN where there is none (a binary
/// search per row).
fn by_step<R>(rows: &[Row], side: &[R], step: impl Fn(&R) -> u64, f: impl Fn(&R) -> f64) -> Vec<f64> {
    rows.iter().map(|r| side.binary_search_by_key(&r.t, &step).map_or(f64::NAN, |i| f(&side[i]))).collect()
}

/// The tracking figures' x-axis.
const TRACKING_XLABEL: &str = "tracking step t (GD steps after θ₀)";

/// A `--multi K` run past its switch to the k-eigenvalue projection at step `switched_at`
/// (theory/README.md "Several unstable eigenvalues"): what [`write_multi`] plots.
pub struct MultiFigure<'a> {
    /// The rows of the k-eigenvalue phase (`multi.csv`).
    pub rows: &'a [crate::multi::MultiRow],
    /// K, the eigenpairs solved at θ†.
    pub k: usize,
    /// The step of the switch.
    pub switched_at: u64,
    /// The critical level c/η (λ_i ≥ c/η counts as critical).
    pub critical_level: f64,
}

/// Write `figures/multi.{svg,png}` for a run that switched to the k-eigenvalue projection: the top K
/// eigenvalues of ∇²L(θ†) with 2/η and the critical level c/η (λ₁(θ†) before the switch is θ†'s
/// sharpness of the tracking rows; λ₂..λ_K are solved from the switch on), the critical and active
/// counts, and GD's distance from θ† with its part in the critical eigenspace, √Σ_crit (u_i·(θ−θ†))².
pub fn write_multi(out: &Path, rows: &[Row], m: &MultiFigure, threshold: f64) -> Result<(), Error> {
    // Up to 12 eigenvalues are drawn, each in its own colour (the legend column holds about 16 rows).
    const COLORS: [&str; 12] =
        ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#7f7f7f", "#17becf", "#bcbd22", "#e377c2", "#393b79", "#637939", "#843c39"];
    let sub = |i: usize| i.to_string().chars().map(|d| char::from_u32(0x2080 + d.to_digit(10).unwrap_or(0)).unwrap_or(d)).collect::<String>();
    let names: Vec<String> = (1..=m.k.min(COLORS.len())).map(|i| format!("λ{}(θ†)", sub(i))).collect();
    let t: Vec<f64> = rows.iter().map(|r| r.t as f64).collect();
    // The k-phase value at each tracking row (NaN before the switch or where no row was recorded).
    let at = |f: &dyn Fn(&crate::multi::MultiRow) -> f64| -> Vec<f64> { by_step(rows, m.rows, |x| x.t, f) };
    let mut lambdas: Vec<Series> = (0..names.len())
        .map(|i| Series { name: &names[i], color: COLORS[i], dash: false, y: at(&|r| r.lambdas.get(i).copied().unwrap_or(f64::NAN)) })
        .collect();
    if let Some(l1) = lambdas.first_mut() {
        for (y, r) in l1.y.iter_mut().zip(rows) {
            if r.t < m.switched_at {
                *y = r.sharpness_dagger;
            }
        }
    }
    let switch = [(m.switched_at as f64, "switch to k eigenvalues")];
    let axes = |title, hline, log, integer| Axes { title, xlabel: TRACKING_XLABEL, hline, log, vlines: &switch, integer, ..Axes::default() };
    let (w, h) = (900.0, 300.0);
    let mut body = String::new();
    let drawn = if names.len() < m.k { format!(", the first {} drawn", names.len()) } else { String::new() };
    let title = format!("Top {} eigenvalues of ∇²L(θ†) (λ₂… from the switch on{drawn})", m.k);
    let top = Axes { level: Some((m.critical_level, "critical level c/η")), ..axes(&title, Some((threshold, "2/η")), false, false) };
    panel(&mut body, (0.0, 0.0, w, h), &top, &t, &lambdas);
    // `active` is counted where the last projection step into θ†_t starts (multi.csv), where λ₁ may
    // still exceed 2/η; at θ†_t itself it is pinned to 2/η to rounding.
    panel(&mut body, (0.0, h, w, h), &axes("Eigenvalues of θ† at the edge (count)", None, false, true), &t, &[
        Series { name: "critical: λ_i ≥ c/η", color: "#d62728", dash: false, y: at(&|r| r.critical as f64) },
        Series { name: "active (last proj. step)", color: "#1f77b4", dash: true, y: at(&|r| r.active as f64) },
    ]);
    panel(&mut body, (0.0, 2.0 * h, w, h), &axes("GD's deviation from θ† (log scale)", None, true, false), &t, &[
        Series { name: "‖θ−θ†‖", color: "#1f77b4", dash: false, y: rows.iter().map(|r| r.dist).collect() },
        Series { name: "‖P_crit(θ−θ†)‖", color: "#d62728", dash: false, y: at(&|r| r.osc_critical.sqrt()) },
    ]);
    write_both(&out.join("figures"), "multi", &doc(w, 3.0 * h, &body))
}

fn scatter(svg: &mut String, w: f64, h: f64, sets: &[(&Vec<f64>, &Vec<f64>, &str, &str)]) {
    // The legend sits between the title and the plot, one line per set and one for the time
    // marks, clear of the points.
    let (m, top) = (60.0, 34.0 + 16.0 * (sets.len() + 1) as f64);
    let mut xl = 4.0f64;
    let mut yl = 4.0f64;
    for (xs, ys, _, _) in sets {
        for (&x, &y) in xs.iter().zip(ys.iter()) {
            if x.is_finite() && y.is_finite() {
                xl = xl.max(x.abs() * 1.05);
                yl = yl.max(y.abs() * 1.05);
            }
        }
    }
    let px = |x: f64| m + (x + xl) / (2.0 * xl) * (w - 2.0 * m);
    let py = |y: f64| top + (yl - y) / (2.0 * yl) * (h - top - m);
    let _ = write!(svg, r##"<text x="{m}" y="20" font-size="14">Phase portrait over contours of H = Y² + X² − log X² − 1</text>"##);
    // Contours of H: for each level the closed curve Y = ±√(H − H(X, 0)) between the roots
    // X_in < 1 < X_out of H(X, 0) = H, sampled at X = X_in + (X_out − X_in)(1 − cos πs)/2, which
    // gathers the samples where the curve turns vertical (a uniform X grid left gaps at Y ≈ 0).
    let h0 = |x: f64| crate::reduced_map::energy(&x, &0.0);
    let root = |mut a: f64, mut b: f64, hv: f64| {
        // H(X, 0) − H changes sign on [a, b] (decreasing below X = 1, increasing above).
        for _ in 0..200 {
            let m = 0.5 * (a + b);
            if (h0(m) - hv) * (h0(a) - hv) <= 0.0 { b = m } else { a = m }
        }
        0.5 * (a + b)
    };
    for hv in [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0] {
        let (x_in, x_out) = (root(1e-300, 1.0, hv), root(1.0, 1e3, hv));
        if x_in > xl {
            continue;
        }
        for side in [1.0, -1.0] {
            let n = 400;
            let pts: Vec<(f64, f64)> = (0..=n)
                .map(|i| x_in + (x_out - x_in) * 0.5 * (1.0 - libm::cos(std::f64::consts::PI * i as f64 / n as f64)))
                .map(|x| (x, (hv - h0(x)).max(0.0).sqrt()))
                .collect();
            let upper = pts.iter().map(|&(x, y)| (x, y));
            let lower = pts.iter().rev().map(|&(x, y)| (x, -y));
            let mut d = String::new();
            let mut pen = false;
            for (x, y) in upper.chain(lower) {
                if x <= xl && y.abs() <= yl {
                    let _ = write!(d, "{}{:.1},{:.1} ", if pen { "L" } else { "M" }, px(side * x), py(y));
                    pen = true;
                } else {
                    pen = false;
                }
            }
            let _ = write!(svg, r##"<path d="{d}" fill="none" stroke="#ccc"/>"##);
        }
    }
    let _ = write!(svg, r##"<line x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#999"/><line x1="{:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#999"/>"##, px(-xl), px(xl), py(0.0), py(0.0), px(0.0), px(0.0), py(-yl), py(yl));
    // Frame with ticks and values on the bottom (X = x/δ₀) and left (Y = y/√α₀) edges.
    let (fx0, fx1, fy0, fy1) = (px(-xl), px(xl), py(yl), py(-yl));
    let _ = write!(svg, r##"<rect x="{fx0:.1}" y="{fy0:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#666"/>"##, fx1 - fx0, fy1 - fy0);
    let (xt, yt) = (nice_ticks(-xl, xl, 6), nice_ticks(-yl, yl, 6));
    let (xs, ys) = (tick_step(&xt, -xl, xl), tick_step(&yt, -yl, yl));
    for tv in xt {
        let _ = write!(svg, r##"<line x1="{0:.1}" x2="{0:.1}" y1="{fy1:.1}" y2="{1:.1}" stroke="#666"/><text x="{0:.1}" y="{2:.1}" font-size="10" text-anchor="middle">{3}</text>"##, px(tv), fy1 + 4.0, fy1 + 15.0, linear_tick_text(tv, xs));
    }
    for tv in yt {
        let _ = write!(svg, r##"<line x1="{0:.1}" x2="{fx0:.1}" y1="{1:.1}" y2="{1:.1}" stroke="#666"/><text x="{2:.1}" y="{3:.1}" font-size="10" text-anchor="end">{4}</text>"##, fx0 - 4.0, py(tv), fx0 - 6.0, py(tv) + 3.0, linear_tick_text(tv, ys));
    }
    // Time: each point's opacity grows from 0.2 at the first row to 1 at the last row, and the
    // first and last drawable points are ringed and boxed (a prediction that ends early, at a
    // --multi switch or its divergence, is boxed there; the direction of the orbit is readable).
    for (k, (xs, ys, color, name)) in sets.iter().enumerate() {
        // (A single row is the first and the last: drawn solid.)
        let n = xs.len().saturating_sub(1);
        let pts: Vec<(usize, f64, f64)> =
            xs.iter().zip(ys.iter()).enumerate().filter(|(_, (x, y))| x.is_finite() && y.is_finite()).map(|(i, (&x, &y))| (i, px(x), py(y))).collect();
        for &(i, x, y) in &pts {
            let opacity = if n == 0 { 1.0 } else { 0.2 + 0.8 * i as f64 / n as f64 };
            let _ = write!(svg, r##"<circle cx="{x:.1}" cy="{y:.1}" r="1.6" fill="{color}" fill-opacity="{opacity:.2}"/>"##);
        }
        if let (Some(&(_, x0, y0)), Some(&(_, x1, y1))) = (pts.first(), pts.last()) {
            let _ = write!(svg, r##"<circle cx="{x0:.1}" cy="{y0:.1}" r="4.5" fill="none" stroke="{color}" stroke-width="1.5"/><rect x="{:.1}" y="{:.1}" width="9" height="9" fill="none" stroke="{color}" stroke-width="1.5"/>"##, x1 - 4.5, y1 - 4.5);
        }
        let ly = 38.0 + 16.0 * k as f64;
        let _ = write!(svg, r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{color}"/><text x="{:.1}" y="{:.1}" font-size="12">{name}</text>"##, m + 4.0, ly - 4.0, m + 14.0, ly);
    }
    let ly = 38.0 + 16.0 * sets.len() as f64;
    let _ = write!(
        svg,
        r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="none" stroke="#444" stroke-width="1.5"/><text x="{:.1}" y="{ly:.1}" font-size="12">first point</text><rect x="{:.1}" y="{:.1}" width="8" height="8" fill="none" stroke="#444" stroke-width="1.5"/><text x="{:.1}" y="{ly:.1}" font-size="12">last point (faint to solid: early to late)</text>"##,
        m + 4.0,
        ly - 4.0,
        m + 14.0,
        m + 96.0,
        ly - 8.0,
        m + 110.0
    );
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">X = x/δ₀ (δ₀ = √(2α₀/β₀) at θ†₀)</text><text x="14" y="{:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 14 {:.1})">Y = y/√α₀</text>"##,
        w / 2.0,
        h - 12.0,
        h / 2.0,
        h / 2.0
    );
}

/// A log-scale tick at log10 value `e`: `1e-3` at a whole decade, else the value to 3 significant
/// digits (`3.16e-4`), never the exponent's float noise.
fn log_tick_text(e: f64) -> String {
    // `+ 0.0` turns −0 into 0 (a tick at 10^−0 read "1e-0").
    if (e - e.round()).abs() < 1e-9 { format!("1e{}", e.round() + 0.0) } else { format!("{:.2e}", libm::pow(10.0, e)) }
}

/// A linear-scale tick `v` on an axis with tick spacing `step`: as many decimals as the spacing
/// needs, in scientific notation for very small or large values.
fn linear_tick_text(v: f64, step: f64) -> String {
    let v = if v.abs() < 1e-9 * step.abs() { 0.0 } else { v };
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs().max(step.abs());
    if !(1e-3..1e6).contains(&mag) {
        return format!("{:.2e}", v);
    }
    // The spacing's decimals, read with a little slack: a spacing of 0.1 computed as 0.09999999
    // asked for two.
    let decimals = (-(libm::log10(step.abs()) + 1e-6).floor()).clamp(0.0, 6.0) as usize;
    // A typographic minus, as in the titles (−5, not -5).
    format!("{v:.decimals$}").replacen('-', "−", 1)
}

/// The spacing of ticks from [`nice_ticks`] over [lo, hi] (the range itself when there is one tick).
fn tick_step(ticks: &[f64], lo: f64, hi: f64) -> f64 {
    if ticks.len() >= 2 { ticks[1] - ticks[0] } else { (hi - lo).abs().max(f64::MIN_POSITIVE) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_font_check_finds_the_characters_drawn_blank() {
        // What the labels use is in the subset; angle brackets, the combining macron, dashes other
        // than the minus sign and CJK are not (sgd_seeds' first labels, `⟨gap⟩` and `c̄`, were drawn
        // blank; the subset's cmap was read with fontTools to check this list).
        for c in "Az09 ×·−±≤≥≈√²³¹ΔδηθλσαβγεΣ†‖∇⊥…".chars() {
            assert!(font_has(FONT, c), "{c:?} ({:04X})", u32::from(c));
        }
        for c in ['⟨', '⟩', '\u{304}', '–', '—', '⁻', '中', '\u{1F600}'] {
            assert!(!font_has(FONT, c), "{c:?}");
        }
        let svg = r#"<svg><text x="1">b·⟨gap⟩</text><text>c̄ &amp; ⟩</text></svg>"#;
        assert_eq!(missing_glyphs(svg), vec!['⟨', '⟩', '\u{304}']);
        assert_eq!(missing_glyphs(r#"<text font-size="11">gap 2/η − mean S</text>"#), Vec::<char>::new());
    }

    #[test]
    fn tick_labels_carry_no_float_noise() {
        // A log axis inside one decade: values, not `1e-1.2000000000000002`.
        assert_eq!(log_tick_text(-3.0), "1e-3");
        assert_eq!(log_tick_text(-1.2000000000000002), "6.31e-2");
        // Linear: the decimals the spacing needs; scientific for tiny or huge values.
        assert_eq!(linear_tick_text(0.15000000000000002, 0.05), "0.15");
        assert_eq!(linear_tick_text(8.0, 1.0), "8");
        assert_eq!(linear_tick_text(2e-5, 1e-5), "2.00e-5");
        assert_eq!(linear_tick_text(1e-17, 0.5), "0");
        // Zero, −0 and a spacing a hair under a power of ten (found by the figures review).
        assert_eq!(linear_tick_text(0.0, 2e7), "0");
        assert_eq!(log_tick_text(-0.0), "1e0");
        assert_eq!(linear_tick_text(7.3, 0.09999999999999964), "7.3");
        assert_eq!(linear_tick_text(-5.0, 1.0), "−5");
        // Whole steps only on a short run's axis; round values on a log axis inside one decade.
        assert_eq!(step_ticks(0.0, 3.0, 6), vec![0.0, 1.0, 2.0, 3.0]);
        let lt = log_ticks(libm::log10(0.105), libm::log10(0.114));
        assert!(lt.iter().all(|(_, s)| s.len() <= 5) && lt.len() >= 2, "{lt:?}");
        // One to a few decades: 1-2-5 ticks, not half decades (3.16e-1).
        let labels = |lo: f64, hi: f64| log_ticks(lo, hi).into_iter().map(|(_, s)| s).collect::<Vec<_>>();
        assert_eq!(labels(libm::log10(0.03), libm::log10(1.5)), ["5e-2", "1e-1", "2e-1", "5e-1", "1e0"]);
        assert_eq!(labels(-10.0, -2.0), ["1e-10", "1e-8", "1e-6", "1e-4", "1e-2"]);
        // Just under a decade: more than the one tick "5" (review).
        assert_eq!(labels(0.0, 0.99), ["2", "4", "6", "8"]);
        // A constant count of 1e17 on a whole-number axis: ±0.5 is lost to rounding, and the
        // ticks end (they never advanced: the review's harness ran out of memory).
        assert!(step_ticks(1e17 - 0.5, 1e17 + 0.5, 5).len() <= MAX_TICKS);
        assert!(nice_ticks(1e17, 1e17 + 64.0, 5).len() <= MAX_TICKS);
    }

    /// A one-point series is drawn as a dot (a path of one point drew nothing), and a dashed series
    /// that blows up leaves the solid ones their range, with a note over the panel.
    #[test]
    fn single_points_are_dots_and_a_blown_up_prediction_is_off_scale() {
        let mut svg = String::new();
        let axes = Axes { title: "t", xlabel: "x", ..Axes::default() };
        panel(&mut svg, (0.0, 0.0, 900.0, 300.0), &axes, &[0.0], &[Series { name: "GD", color: "#111111", dash: false, y: vec![1.3] }]);
        assert!(svg.contains("<circle") && !svg.contains(r#"<path d="M"#), "{svg}");
        let mut svg = String::new();
        let t: Vec<f64> = (0..6).map(f64::from).collect();
        panel(&mut svg, (0.0, 0.0, 900.0, 300.0), &axes, &t, &[
            Series { name: "GD", color: "#111111", dash: false, y: vec![1.0, 1.1, 1.2, 1.3, 1.2, 1.1] },
            Series { name: "pred", color: "#222222", dash: true, y: vec![1.0, 1.1, 5.0, 1e6, 7e10, f64::NAN] },
        ]);
        assert!(svg.contains("dashed: partly off scale"), "{svg}");
        // Not when nothing is off scale.
        let mut svg = String::new();
        panel(&mut svg, (0.0, 0.0, 900.0, 300.0), &axes, &t, &[
            Series { name: "GD", color: "#111111", dash: false, y: vec![1.0, 1.1, 1.2, 1.3, 1.2, 1.1] },
            Series { name: "pred", color: "#222222", dash: true, y: vec![1.0, 1.1, 1.5, 1.2, 1.0, 1.1] },
        ]);
        assert!(!svg.contains("off scale"), "{svg}");
    }

    /// The phase portrait draws the prediction at (x/δ₀, y/√α₀) and GD at (x_gd/δ₀, y_gd/√α₀): here
    /// α₀ = 4, δ₀ = 0.5, and GD's deviation differs from the prediction's (mutation audit round 3:
    /// GD drawn at the prediction's x passed every test).
    #[test]
    fn phase_portrait_plots_the_prediction_and_gd_each_at_its_own_coordinates() {
        let row = |x: f64, y: f64, x_gd: f64, y_gd: f64| Row { alpha: 4.0, delta: 0.5, x, y, x_gd, y_gd, ..Row::default() };
        let rows = [row(0.1, 0.2, 0.3, -0.4), row(-0.05, 0.0, 0.25, 1.0)];
        let [(xs, ys), (xg, yg)] = phase_points(&rows).unwrap();
        assert_eq!((xs, ys), (vec![0.2, -0.1], vec![0.1, 0.0]));
        assert_eq!((xg, yg), (vec![0.6, 0.5], vec![-0.2, 0.5]));
        assert!(phase_points(&[Row { alpha: -1.0, delta: 0.5, ..Row::default() }]).is_none());
        assert!(phase_points(&[]).is_none());
    }

    /// The phase portrait shows time: opacity from 0.2 (first row) to 1 (last), the first drawable
    /// point ringed and the last boxed, per set.
    #[test]
    fn phase_points_fade_in_with_time_and_mark_their_ends() {
        let mut svg = String::new();
        let (xs, ys) = (vec![0.5, 1.0, f64::NAN, 1.5, 2.0], vec![0.0, 0.5, 0.0, 1.0, -1.0]);
        scatter(&mut svg, 600.0, 600.0, &[(&xs, &ys, "#d62728", "pred")]);
        let op: Vec<&str> = svg.split(r#"fill-opacity=""#).skip(1).map(|s| &s[..s.find('"').unwrap()]).collect();
        assert_eq!(op, ["0.20", "0.40", "0.80", "1.00"]);
        assert_eq!(svg.matches(r##"r="4.5" fill="none" stroke="#d62728""##).count(), 1);
        assert_eq!(svg.matches(r##"width="9" height="9" fill="none" stroke="#d62728""##).count(), 1);
    }

    /// A series without a drawable value has no legend row (a prediction that never started); the
    /// second reference line is drawn and listed; on a log x-axis a single value sits inside the
    /// frame, not on it.
    #[test]
    fn empty_series_are_not_listed_and_log_x_points_lie_inside_the_frame() {
        let mut svg = String::new();
        let axes = Axes { title: "gap", xlabel: "b", log: true, logx: true, xticks: &[64.0], level: Some((0.5, "level")), ..Axes::default() };
        panel(&mut svg, (0.0, 0.0, 900.0, 300.0), &axes, &[64.0], &[
            Series { name: "measured", color: "#111111", dash: false, y: vec![0.8] },
            Series { name: "never", color: "#222222", dash: true, y: vec![f64::NAN] },
        ]);
        assert!(svg.contains(">measured<") && !svg.contains(">never<") && svg.contains(">level<") && svg.contains(r##"stroke="#777""##), "{svg}");
        let cx: f64 = svg.split(r#"<circle cx=""#).nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
        // The frame spans x = 70 … 725 (900 − 175 of legend): the point is at its middle.
        assert!((cx - 397.5).abs() < 1.0, "cx = {cx}");
    }

    /// A count panel is ticked at whole numbers only (flow's critical count ticked 2.2, 2.4, …), and
    /// an event marker is drawn and listed only when its step lies on the axis.
    #[test]
    fn count_panels_have_whole_ticks_and_markers_lie_on_the_axis() {
        let t: Vec<f64> = (0..50).map(f64::from).collect();
        let counts = Series { name: "count", color: "#000000", dash: false, y: (0..50).map(|i| if i < 20 { 2.0 } else { 3.0 }).collect() };
        let marks = [(20.0, "switch"), (80.0, "later")];
        let mut svg = String::new();
        let axes = Axes { title: "n", xlabel: "t", vlines: &marks, integer: true, ..Axes::default() };
        panel(&mut svg, (0.0, 0.0, 900.0, 300.0), &axes, &t, &[counts]);
        let labels: Vec<&str> = svg.split(r#"text-anchor="end">"#).skip(1).map(|s| &s[..s.find('<').unwrap()]).collect();
        assert_eq!(labels, ["2", "3"], "{svg}");
        assert!(svg.contains(">switch<") && !svg.contains(">later<"), "{svg}");
        assert_eq!(svg.matches("6,3,1,3").count(), 2, "one marker line and its legend entry: {svg}");
        // A constant count gets its neighbours as ticks.
        let mut svg = String::new();
        let one = Series { name: "count", color: "#000000", dash: false, y: vec![1.0; 50] };
        panel(&mut svg, (0.0, 0.0, 900.0, 300.0), &Axes { integer: true, ..Axes::default() }, &t, &[one]);
        let labels: Vec<&str> = svg.split(r#"text-anchor="end">"#).skip(1).map(|s| &s[..s.find('<').unwrap()]).collect();
        assert_eq!(labels, ["0", "1", "2"], "{svg}");
        // A marker at the axis's first step is drawn just inside the frame (x = 70), not on it.
        let mut svg = String::new();
        panel(&mut svg, (0.0, 0.0, 900.0, 300.0), &Axes { vlines: &[(0.0, "start")], ..Axes::default() }, &t, &[]);
        assert!(svg.contains(r#"<line x1="71.5" x2="71.5""#), "{svg}");
    }
}
