#[path = "support/track.rs"]
mod track;
fn main() {
    let cfg = std::env::args().nth(1).unwrap_or_else(|| "medium".into());
    let reps: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let threads: usize = std::env::args().nth(3).and_then(|a| a.parse().ok()).unwrap_or(2);
    let (obj, eta, _, topts, st0) = track::setup_tol(&cfg, 1e-9);
    selfstab::linalg::set_threads(threads);
    if std::env::var_os("ATTACH").is_some() {
        eprintln!("pid {}", std::process::id());
        std::thread::sleep(std::time::Duration::from_secs(3));
    }
    let mut ms = vec![];
    for _ in 0..reps {
        let mut st = st0.clone();
        let t0 = std::time::Instant::now();
        track::step(&obj, eta, &mut st, &topts);
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    let mut s = ms.clone();
    s.sort_by(f64::total_cmp);
    println!("{cfg} {threads}T first step: median {:.2} ms, min {:.2}", s[s.len() / 2], s[0]);
}
