//! The claims registry (theory/claims.toml) and the tests agree: every claim 1–36 is listed once
//! (1–35 from claims.md, 36 this project's own),
//! every listed test exists, every `claim_NN_*` test is listed under claim NN (as a test of the
//! claim or of its setting, not both), claims with a verdict
//! other than `not-built` have at least one test, and not-built claims list none (so none is ever
//! shown as passing).

use std::collections::{BTreeMap, BTreeSet};

#[derive(serde::Deserialize)]
struct Registry {
    claim: Vec<Claim>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Claim {
    id: u32,
    title: String,
    verdict: String,
    #[serde(default)]
    setting: String,
    #[serde(default)]
    bound: String,
    tests: Vec<String>,
    #[serde(default)]
    setting_tests: Vec<String>,
}

/// Names of every `fn` marked #[test] under tests/ and src/.
fn test_functions() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack = vec![root.join("tests"), root.join("src")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                let mut marked = false;
                for line in text.lines() {
                    let l = line.trim();
                    if l.starts_with("#[test]") {
                        marked = true;
                    } else if marked && (l.starts_with("fn ") || l.starts_with("pub fn ")) {
                        let name = l.trim_start_matches("pub ").trim_start_matches("fn ");
                        out.insert(name.split('(').next().unwrap().trim().to_string());
                        marked = false;
                    }
                }
            }
        }
    }
    out
}

#[test]
fn registry_lists_every_claim_and_every_claim_test() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/theory/claims.toml")).unwrap();
    let reg: Registry = toml::from_str(&text).expect("theory/claims.toml parses");
    let ids: Vec<u32> = reg.claim.iter().map(|c| c.id).collect();
    assert_eq!(ids, (1..=36).collect::<Vec<_>>(), "claims 1–36, each once, in order");
    let tests = test_functions();
    let mut listed: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for c in &reg.claim {
        assert!(["holds", "finding", "open", "not-built"].contains(&c.verdict.as_str()), "claim {}: verdict `{}`", c.id, c.verdict);
        if c.verdict == "not-built" {
            assert!(c.tests.is_empty() && c.setting_tests.is_empty(), "claim {} is not built but lists tests", c.id);
        } else {
            assert!(!c.tests.is_empty(), "claim {} ({}) has no test", c.id, c.verdict);
            assert!(!c.bound.is_empty() && !c.setting.is_empty(), "claim {} lacks its setting or bound", c.id);
        }
        for t in c.tests.iter().chain(&c.setting_tests) {
            assert!(tests.contains(t), "claim {} lists `{t}`, which is not a test function", c.id);
            assert!(!(c.tests.contains(t) && c.setting_tests.contains(t)), "claim {} lists `{t}` both as a test and as a setting check", c.id);
            listed.entry(t.clone()).or_default().insert(c.id);
        }
    }
    for t in &tests {
        // claim_NN_… and claims_NN_MM_…: the number(s) in the name must list the test.
        let nums: Vec<u32> = if let Some(rest) = t.strip_prefix("claim_") {
            rest.split('_').next().and_then(|n| n.parse().ok()).into_iter().collect()
        } else if let Some(rest) = t.strip_prefix("claims_") {
            rest.split('_').map_while(|n| n.parse().ok()).collect()
        } else {
            continue;
        };
        for n in nums {
            assert!(listed.get(t).is_some_and(|s| s.contains(&n)), "test `{t}` is not listed under claim {n} in theory/claims.toml");
        }
    }
}
