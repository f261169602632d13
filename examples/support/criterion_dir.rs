//! Where criterion writes its results, shared by `benches/engine.rs` (which records its facts
//! there) and `examples/bench_report` (which reads both), so that the two agree.

/// Criterion's output directory, found as criterion finds it: `$CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else the package's `target/criterion`.
pub fn criterion_dir() -> std::path::PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => std::path::PathBuf::from(t).join("criterion"),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("criterion"),
    }
}
