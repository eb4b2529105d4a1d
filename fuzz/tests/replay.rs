//! Replays every committed input of every fuzz target (`corpus/TARGET/`, the
//! minimised corpora of the fuzzing runs, and `regressions/TARGET/`, inputs
//! that once found a bug) through the same entry points libFuzzer calls, on
//! the stable toolchain, in every CI run. A target without a corpus fails:
//! each parser keeps its coverage on record.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

use std::path::Path;

#[test]
fn every_committed_input_of_every_target_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut total = 0usize;
    for (name, target) in softkey_fuzz::TARGETS {
        let mut seen = 0usize;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
            paths.sort();
            for path in paths {
                let input = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| target(&input));
                assert!(outcome.is_ok(), "{name}: {} panicked", path.display());
                seen += 1;
            }
        }
        assert!(
            seen > 0,
            "fuzz target {name} has no corpus in fuzz/corpus/{name}"
        );
        total += seen;
    }
    eprintln!(
        "replayed {total} fuzz inputs over {} targets",
        softkey_fuzz::TARGETS.len()
    );
}
