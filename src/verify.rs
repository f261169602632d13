//! `selfstab verify`: run every claim's tests and report, per claim of `theory/claims.toml`, its
//! verdict (holds / finding / open / not-built, decisions §1) and its status (pass / fail /
//! not-built). The claim checks are the test suite itself (`tests/claim_*`), so `verify` drives
//! `cargo test` in the source tree this binary was built from and maps test outcomes to claims.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::{Error, EvalError, InputError};
use crate::npy::write_atomic;

/// The registry, as compiled into the binary.
pub const REGISTRY: &str = include_str!("../theory/claims.toml");

/// One claim of the registry.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Claim {
    /// Number, as in claims.md.
    pub id: u32,
    /// Short statement.
    pub title: String,
    /// holds | finding | open | not-built.
    pub verdict: String,
    /// Setting.
    #[serde(default)]
    pub setting: String,
    /// Bound (and the last measured values).
    #[serde(default)]
    pub bound: String,
    /// Tests that check it.
    pub tests: Vec<String>,
    /// Tests of the claim's setting, not of the claim (the run it needs reaches its start, the
    /// sampler it uses draws as stated, the CLI that produces it writes its outputs): a failure
    /// fails the claim, but they do not count as its checks.
    #[serde(default)]
    pub setting_tests: Vec<String>,
}

#[derive(Deserialize)]
struct Registry {
    claim: Vec<Claim>,
}

/// Parse the registry text.
pub fn registry(text: &str) -> Result<Vec<Claim>, InputError> {
    toml::from_str::<Registry>(text)
        .map(|r| r.claim)
        .map_err(|e| InputError::File { path: "theory/claims.toml".into(), msg: e.message().to_string() })
}

/// One line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Record {
    /// Claim number.
    pub id: u32,
    /// Verdict from the registry (shown first).
    pub verdict: String,
    /// pass | fail | not-built.
    pub status: String,
    /// Tests passed / run (the setting checks apart), and which failed.
    pub measured: String,
    /// Bound and recorded measurements.
    pub bound: String,
    /// Setting.
    pub setting: String,
    /// Statement.
    pub title: String,
    /// Outcome of each test.
    pub tests: BTreeMap<String, String>,
    /// Outcome of each setting check.
    pub setting_tests: BTreeMap<String, String>,
}

/// Test outcomes from `cargo test` output lines `test NAME ... ok|FAILED|ignored` (ANSI colour
/// codes removed). A name is the last `::` segment; a name that appears more than once (the same
/// name in two test binaries, two concatenated runs) keeps its worst outcome: FAILED over ok over
/// ignored, so a later `ok` never hides a failure.
pub fn parse_outcomes(output: &str) -> BTreeMap<String, String> {
    let rank = |o: &str| match o {
        "FAILED" => 2,
        "ok" => 1,
        _ => 0,
    };
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for line in strip_ansi(output).lines() {
        let Some(rest) = without_timestamp(line).strip_prefix("test ") else { continue };
        let Some((name, outcome)) = rest.rsplit_once(" ... ") else { continue };
        let name = name.rsplit("::").next().unwrap_or(name).trim().to_string();
        let outcome = outcome.trim();
        let o = if outcome.starts_with("ok") {
            "ok"
        } else if outcome.starts_with("FAILED") {
            "FAILED"
        } else if outcome.starts_with("ignored") {
            "ignored"
        } else {
            continue;
        };
        let e = out.entry(name).or_insert_with(|| o.to_string());
        if rank(o) > rank(e) {
            *e = o.to_string();
        }
    }
    out
}

/// `line` without the timestamp a CI runner may put before it (GitHub Actions' raw logs:
/// `2026-12-05T17:20:18.1234567Z test …`): an RFC 3339 date and time ending in `Z`, then a space.
fn without_timestamp(line: &str) -> &str {
    let b = line.as_bytes();
    let stamped = b.len() > 20
        && b[..10].iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
        && b[10] == b'T';
    if !stamped {
        return line;
    }
    match line[11..].split_once("Z ") {
        Some((time, rest)) if time.bytes().all(|c| c.is_ascii_digit() || c == b':' || c == b'.') => rest,
        _ => line,
    }
}

/// `text` without ANSI escape sequences (`ESC [ … letter`), as a coloured terminal log has them.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Outcome of each of `names` in `outcomes`: `not run` when the log does not name it.
fn outcomes_of(names: &[String], outcomes: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    names.iter().map(|t| (t.clone(), outcomes.get(t).cloned().unwrap_or_else(|| "not run".into()))).collect()
}

/// Map test outcomes to claim records. A claim passes when each of its tests and setting checks is
/// named `ok` (or `ignored`) and at least one of its own tests ran: setting checks alone never pass a
/// claim, and they are counted apart.
pub fn records(claims: &[Claim], outcomes: &BTreeMap<String, String>) -> Vec<Record> {
    let count = |m: &BTreeMap<String, String>, o: &str| m.values().filter(|v| *v == o).count();
    claims
        .iter()
        .map(|c| {
            let tests = outcomes_of(&c.tests, outcomes);
            let setting_tests = outcomes_of(&c.setting_tests, outcomes);
            let (ok, failed_n) = (count(&tests, "ok"), count(&tests, "FAILED"));
            let ran = ok + failed_n;
            let names = |o: &str| -> String {
                tests.iter().chain(&setting_tests).filter(|(_, v)| *v == o).map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            };
            // Ignored tests (the full studies in quick mode) are listed by cargo as `ignored`; a
            // test the log does not name at all did not run (a truncated log, a crashed binary).
            let (any_failed, any_missing) = (names("FAILED"), names("not run"));
            let settings = if c.setting_tests.is_empty() {
                String::new()
            } else {
                let sok = count(&setting_tests, "ok");
                format!("; setting checks {sok}/{} pass", sok + count(&setting_tests, "FAILED"))
            };
            let (status, measured) = if c.verdict == "not-built" {
                ("not-built".to_string(), "—".to_string())
            } else if !any_failed.is_empty() {
                ("fail".into(), format!("{ok}/{ran} tests pass{settings}; failed: {any_failed}"))
            } else if ran == 0 {
                ("fail".into(), "no test of this claim ran".into())
            } else if !any_missing.is_empty() {
                ("fail".into(), format!("{ok}/{ran} tests pass{settings}; missing from the test output: {any_missing}"))
            } else {
                ("pass".into(), format!("{ok}/{ran} tests pass ({} ignored in this mode){settings}", tests.len() - ran))
            };
            Record {
                id: c.id,
                verdict: c.verdict.clone(),
                status,
                measured,
                bound: c.bound.clone(),
                setting: c.setting.clone(),
                title: c.title.clone(),
                tests,
                setting_tests,
            }
        })
        .collect()
}

/// The Markdown table.
pub fn markdown(recs: &[Record]) -> String {
    let mut s = String::from("| claim | verdict | status | statement | setting | bound (recorded measurements) | measured |\n|---|---|---|---|---|---|---|\n");
    for r in recs {
        let esc = |t: &str| t.replace('|', "\\|");
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.id,
            r.verdict,
            r.status,
            esc(&r.title),
            esc(&r.setting),
            esc(&r.bound),
            esc(&r.measured)
        ));
    }
    s
}

/// Run the suite in `src_dir` (`--quick`: the default test set, as in CI; otherwise also the
/// `#[ignore]`d full-horizon studies), write `verify.md` and `verify.json` into `out`, and return the
/// records.
pub fn verify(src_dir: &Path, quick: bool, out: &Path) -> Result<Vec<Record>, Error> {
    verify_with(src_dir, quick, None, out)
}

/// As [`verify`], or from the saved output of an earlier `cargo test` run (`from_log`, e.g. CI's).
pub fn verify_with(src_dir: &Path, quick: bool, from_log: Option<&Path>, out: &Path) -> Result<Vec<Record>, Error> {
    if let Some(log) = from_log {
        // A log may hold stray bytes that are not UTF-8 (a test's binary output): they are replaced,
        // not a reason to refuse the whole log.
        // Only a regular file: a device (`/dev/zero`) would be read until memory ran out.
        if std::fs::metadata(log).is_ok_and(|m| !m.is_file()) {
            return Err(InputError::File { path: log.to_path_buf(), msg: "not a regular file: --from-log takes a saved cargo test log".into() }.into());
        }
        let bytes = std::fs::read(log).map_err(|source| Error::Io { path: log.to_path_buf(), source })?;
        let text = String::from_utf8_lossy(&bytes);
        let outcomes = parse_outcomes(&text);
        if outcomes.is_empty() {
            return Err(InputError::File { path: log.to_path_buf(), msg: "no `test NAME ... ok|FAILED` lines: not a cargo test log".into() }.into());
        }
        return write_report(&outcomes, out);
    }
    if !src_dir.join("Cargo.toml").exists() {
        return Err(InputError::File {
            path: src_dir.to_path_buf(),
            msg: "verify runs the claim tests from the selfstab source tree, which is not there (set --src)".into(),
        }
        .into());
    }
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(src_dir).args(["test", "--no-fail-fast", "--color", "never", "--", "--color", "never"]);
    if !quick {
        cmd.arg("--include-ignored");
    }
    eprintln!("verify: running the claim tests in {} ({} mode) …", src_dir.display(), if quick { "quick" } else { "full" });
    let output = cmd.output().map_err(|source| Error::Io { path: PathBuf::from("cargo"), source })?;
    let text = String::from_utf8_lossy(&output.stdout);
    let outcomes = parse_outcomes(&text);
    if outcomes.is_empty() {
        let err = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        return Err(EvalError::Other(format!("cargo test ran no test: {}", tail.into_iter().rev().collect::<Vec<_>>().join(" / "))).into());
    }
    write_report(&outcomes, out)
}

fn write_report(outcomes: &BTreeMap<String, String>, out: &Path) -> Result<Vec<Record>, Error> {
    let claims = registry(REGISTRY)?;
    let recs = records(&claims, outcomes);
    crate::npy::create_out_dir(out)?;
    write_atomic(&out.join("verify.md"), markdown(&recs).as_bytes())?;
    write_atomic(&out.join("verify.json"), serde_json::to_string_pretty(&recs).unwrap().as_bytes())?;
    Ok(recs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_with_bytes_that_are_not_utf8_is_still_read() {
        let dir = std::env::temp_dir().join(format!("selfstab_verify_bytes_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("ci.log");
        let mut bytes = b"noise \xff\xfe from a test\ntest claim_01_something ... ok\n".to_vec();
        bytes.extend_from_slice(b"test result: ok. 1 passed; 0 failed; 0 ignored\n");
        std::fs::write(&log, &bytes).unwrap();
        let recs = verify_with(Path::new(env!("CARGO_MANIFEST_DIR")), false, Some(&log), &dir.join("out")).unwrap();
        assert!(!recs.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A raw GitHub Actions log puts a timestamp before every line; a device is not read.
    #[test]
    fn timestamped_lines_are_read_and_a_device_is_refused() {
        let o = parse_outcomes("2026-12-05T17:20:18.1234567Z test a::claim_13_toy_c_prediction_exact_f64 ... ok\n2026-12-05T17:20:19Z test claim_02_x ... FAILED\n");
        assert_eq!((o["claim_13_toy_c_prediction_exact_f64"].as_str(), o["claim_02_x"].as_str()), ("ok", "FAILED"));
        assert_eq!(without_timestamp("2026-12-05T17:20:18Z"), "2026-12-05T17:20:18Z");
        assert_eq!(without_timestamp("test x ... ok"), "test x ... ok");
        let e = verify_with(Path::new("."), false, Some(Path::new("/dev/zero")), Path::new("/nonexistent-out")).unwrap_err().to_string();
        assert!(e.contains("/dev/zero") && e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn outcomes_map_to_claim_statuses() {
        let claims = registry(REGISTRY).unwrap();
        assert_eq!(claims.len(), 36);
        let out = "test claim_13_toy_c_prediction_exact_f64 ... ok\ntest claim_13_toy_c_prediction_exact_mpfr256 ... FAILED\ntest a::b::claim_03_projection_overshoot_and_newton_ratio_f64 ... ok\n";
        let o = parse_outcomes(out);
        let recs = records(&claims, &o);
        let r13 = &recs[12];
        assert_eq!((r13.id, r13.status.as_str()), (13, "fail"));
        assert!(r13.measured.contains("claim_13_toy_c_prediction_exact_mpfr256"));
        assert_eq!(recs[0].status, "fail", "a built claim none of whose tests ran is not a pass");
        // Every test of a claim named in the log, ignored ones included: pass; one not named: fail.
        let c3 = &claims[2];
        let all: String = c3.tests.iter().enumerate().map(|(i, t)| format!("test {t} ... {}\n", if i == 0 { "ok" } else { "ignored" })).collect();
        assert_eq!(records(&claims, &parse_outcomes(&all))[2].status, "pass");
        if c3.tests.len() > 1 {
            let r = &records(&claims, &o)[2];
            assert_eq!(r.status, "fail", "tests missing from the log are not a pass: {}", r.measured);
            assert!(r.measured.contains("missing"), "{}", r.measured);
        }
        for r in recs.iter().filter(|r| r.verdict == "not-built") {
            assert_eq!(r.status, "not-built");
        }
    }

    /// Setting checks are counted apart: they fail a claim when they fail or are missing, and
    /// never pass it alone.
    #[test]
    fn setting_checks_fail_a_claim_but_never_pass_it_alone() {
        let claim = Claim {
            id: 1,
            title: "t".into(),
            verdict: "holds".into(),
            setting: "s".into(),
            bound: "b".into(),
            tests: vec!["claim_01_a".into(), "claim_01_study".into()],
            setting_tests: vec!["claim_01_setup".into()],
        };
        let rec = |log: &str| records(std::slice::from_ref(&claim), &parse_outcomes(log)).remove(0);
        let r = rec("test claim_01_a ... ok\ntest claim_01_study ... ignored\ntest claim_01_setup ... ok\n");
        assert_eq!((r.status.as_str(), r.measured.as_str()), ("pass", "1/1 tests pass (1 ignored in this mode); setting checks 1/1 pass"));
        assert_eq!(r.setting_tests["claim_01_setup"], "ok");
        let r = rec("test claim_01_a ... ok\ntest claim_01_study ... ignored\ntest claim_01_setup ... FAILED\n");
        assert_eq!((r.status.as_str(), r.measured.as_str()), ("fail", "1/1 tests pass; setting checks 0/1 pass; failed: claim_01_setup"));
        let r = rec("test claim_01_a ... ok\ntest claim_01_study ... ignored\n");
        assert_eq!(r.status, "fail");
        assert!(r.measured.ends_with("missing from the test output: claim_01_setup"), "{}", r.measured);
        let r = rec("test claim_01_a ... ignored\ntest claim_01_study ... ignored\ntest claim_01_setup ... ok\n");
        assert_eq!((r.status.as_str(), r.measured.as_str()), ("fail", "no test of this claim ran"));
    }

    #[test]
    fn a_later_ok_does_not_hide_a_failure_and_colour_codes_are_ignored() {
        let o = parse_outcomes("test claim_13_toy_c_prediction_exact_f64 ... FAILED\ntest m::claim_13_toy_c_prediction_exact_f64 ... ok\n");
        assert_eq!(o["claim_13_toy_c_prediction_exact_f64"], "FAILED");
        let o = parse_outcomes("test x::claim_13_a ... \u{1b}[32mok\u{1b}[0m\ntest claim_13_b ... \u{1b}[31mFAILED\u{1b}[0m\n");
        assert_eq!((o["claim_13_a"].as_str(), o["claim_13_b"].as_str()), ("ok", "FAILED"));
    }
}
