//! Running the catalog and what a run found: one [`Outcome`] per check and
//! a [`Summary`] per family. An expectations file (check id → the reason
//! the key is known to fail it) turns a known failure into an expected one;
//! a check it names that passes fails the run, so the file stays true (as
//! rustls keeps BoGo's).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{About, Check, Selection, Session, Verdict};

/// Check id → why the key fails it.
pub type Expectations = BTreeMap<String, String>;

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Passed(String),
    /// Failed: what the key answered.
    Failed(String),
    /// Failed as the expectations file says, for this reason.
    ExpectedFailure {
        observed: String,
        reason: String,
    },
    /// Passed although the expectations file says it fails.
    UnexpectedPass {
        detail: String,
        reason: String,
    },
    /// Does not apply: the getInfo fact.
    NotApplicable(String),
    /// Left out of this run (selection, or destructive without leave).
    NotRun(String),
}

impl Finding {
    /// Whether this outcome fails the run.
    pub fn fails_run(&self) -> bool {
        matches!(self, Finding::Failed(_) | Finding::UnexpectedPass { .. })
    }

    pub fn label(&self) -> &'static str {
        match self {
            Finding::Passed(_) => "pass",
            Finding::Failed(_) => "FAIL",
            Finding::ExpectedFailure { .. } => "expected-fail",
            Finding::UnexpectedPass { .. } => "UNEXPECTED-PASS",
            Finding::NotApplicable(_) => "n/a",
            Finding::NotRun(_) => "not-run",
        }
    }

    /// The text that goes with the label.
    pub fn text(&self) -> String {
        match self {
            Finding::Passed(t)
            | Finding::Failed(t)
            | Finding::NotApplicable(t)
            | Finding::NotRun(t) => t.clone(),
            Finding::ExpectedFailure { observed, reason } => {
                format!("{observed} (known: {reason})")
            }
            Finding::UnexpectedPass { detail, reason } => format!(
                "{detail}; the expectations file says it fails ({reason}): remove that entry"
            ),
        }
    }
}

/// One check's outcome, with what it was.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub about: About,
    pub result: Finding,
    pub elapsed: Duration,
}

/// Counts per family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub expected_failures: usize,
    pub not_applicable: usize,
    pub not_run: usize,
}

impl Summary {
    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Self {
        let mut s = Summary::default();
        for o in outcomes {
            match &o.result {
                Finding::Passed(_) => s.passed += 1,
                Finding::Failed(_) | Finding::UnexpectedPass { .. } => s.failed += 1,
                Finding::ExpectedFailure { .. } => s.expected_failures += 1,
                Finding::NotApplicable(_) => s.not_applicable += 1,
                Finding::NotRun(_) => s.not_run += 1,
            }
        }
        s
    }

    /// Checks that applied to the key and ran.
    pub fn applicable(&self) -> usize {
        self.passed + self.failed + self.expected_failures
    }
}

/// Runs `checks` on `session`; `before` is told each check as it starts
/// (a report line, or a prompt for a touch), `after` each outcome.
pub fn run(
    session: &mut Session,
    checks: &[Check],
    selection: &Selection,
    expectations: &Expectations,
    mut after: impl FnMut(&Outcome),
) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(checks.len());
    for check in checks {
        let started = Instant::now();
        let result = match selection.takes(check) {
            Err(why) => Finding::NotRun(why.into()),
            Ok(()) => {
                session.disconnect();
                session.prompt_before_first_request(check.about.presence.then(|| {
                    format!(
                        "{}: touch the key when it asks ({})",
                        check.about.id, check.about.sends
                    )
                }));
                let verdict = match check
                    .about
                    .family
                    .speaks_ctap2()
                    .then(|| session.offers_cbor())
                {
                    Some(Ok(false)) => {
                        Verdict::NotApplicable("CTAPHID_INIT offers no CBOR: a U2F-only key".into())
                    }
                    Some(Err(e)) => Verdict::Fail(e.to_string()),
                    _ => (check.body)(session).unwrap_or_else(|e| Verdict::Fail(e.to_string())),
                };
                session.prompt_before_first_request(None);
                match (verdict, expectations.get(&check.about.id)) {
                    (Verdict::Pass(detail), Some(reason)) => Finding::UnexpectedPass {
                        detail,
                        reason: reason.clone(),
                    },
                    (Verdict::Pass(detail), None) => Finding::Passed(detail),
                    (Verdict::Fail(observed), Some(reason)) => Finding::ExpectedFailure {
                        observed,
                        reason: reason.clone(),
                    },
                    (Verdict::Fail(observed), None) => Finding::Failed(observed),
                    (Verdict::NotApplicable(why), _) => Finding::NotApplicable(why),
                }
            }
        };
        let outcome = Outcome {
            about: check.about.clone(),
            result,
            elapsed: started.elapsed(),
        };
        after(&outcome);
        outcomes.push(outcome);
    }
    session.disconnect();
    outcomes
}
