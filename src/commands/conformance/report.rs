//! The forms a conformance run is reported in: a line per check and a
//! summary per family (text), JSON, JUnit XML (each family a test suite;
//! not-applicable and not-run checks are skipped cases) and Markdown.

use serde_json::{Value, json};
use softkey_conformance::catalog::{Check, Family, Finding, Outcome, Summary, Target};

use super::listed;

/// One line to standard output; a reader that went away (`| head`) ends
/// the run quietly instead of a panic.
fn say(line: &str) {
    use std::io::Write;
    if writeln!(std::io::stdout(), "{line}").is_err() {
        std::process::exit(0);
    }
}

pub fn print_list(checks: &[Check]) {
    for c in checks {
        let mut marks = Vec::new();
        if c.about.presence {
            marks.push("touch");
        }
        if c.about.destructive {
            marks.push("destructive");
        }
        let marks = if marks.is_empty() {
            String::new()
        } else {
            format!(" [{}]", marks.join(", "))
        };
        say(&format!(
            "{}{marks}\n    {}\n    sends: {}\n    expects: {}",
            c.about.id, c.about.spec, c.about.sends, c.about.expects
        ));
    }
    say(&format!("{} checks", checks.len()));
}

pub fn print_line(o: &Outcome) {
    if listed(o) {
        say(&format!(
            "{:<15} {}: {}",
            o.result.label(),
            o.about.id,
            o.result.text()
        ));
    }
}

pub fn print_summary(target: &Target, outcomes: &[Outcome]) {
    say(&format!("\nsoftkey conformance against {target}"));
    for family in Family::ALL {
        let s = Summary::of(outcomes.iter().filter(|o| o.about.family == family));
        if s == Summary::default() {
            continue;
        }
        say(&format!("  {:<14} {}", family.name(), counts(&s)));
    }
    let s = Summary::of(outcomes);
    say(&format!("  {:<14} {}", "total", counts(&s)));
    say(&format!(
        "{} passed, {} failed, {} expected failures, {} not applicable, {} not run; {} checks applicable",
        s.passed,
        s.failed,
        s.expected_failures,
        s.not_applicable,
        s.not_run,
        s.applicable()
    ));
}

fn counts(s: &Summary) -> String {
    format!(
        "{} passed, {} failed, {} expected, {} n/a, {} not run",
        s.passed, s.failed, s.expected_failures, s.not_applicable, s.not_run
    )
}

fn result_name(r: &Finding) -> &'static str {
    match r {
        Finding::Passed(_) => "pass",
        Finding::Failed(_) => "fail",
        Finding::ExpectedFailure { .. } => "expected-failure",
        Finding::UnexpectedPass { .. } => "unexpected-pass",
        Finding::NotApplicable(_) => "not-applicable",
        Finding::NotRun(_) => "not-run",
    }
}

pub fn json(target: &Target, outcomes: &[Outcome]) -> Value {
    let s = Summary::of(outcomes);
    json!({
        "target": target.to_string(),
        "summary": {
            "passed": s.passed,
            "failed": s.failed,
            "expectedFailures": s.expected_failures,
            "notApplicable": s.not_applicable,
            "notRun": s.not_run,
            "applicable": s.applicable(),
        },
        "checks": outcomes.iter().map(|o| json!({
            "id": o.about.id,
            "family": o.about.family.name(),
            "spec": o.about.spec,
            "sends": o.about.sends,
            "expects": o.about.expects,
            "presence": o.about.presence,
            "destructive": o.about.destructive,
            "result": result_name(&o.result),
            "detail": o.result.text(),
            "milliseconds": o.elapsed.as_millis() as u64,
        })).collect::<Vec<_>>(),
    })
}

fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no place for other control characters.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

pub fn junit(target: &Target, outcomes: &[Outcome]) -> String {
    let s = Summary::of(outcomes);
    let seconds = |os: &[&Outcome]| os.iter().map(|o| o.elapsed.as_secs_f64()).sum::<f64>();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let all: Vec<&Outcome> = outcomes.iter().collect();
    out.push_str(&format!(
        "<testsuites name=\"softkey conformance {}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">\n",
        xml(&target.to_string()),
        outcomes.len(),
        s.failed,
        s.not_applicable + s.not_run + s.expected_failures,
        seconds(&all)
    ));
    for family in Family::ALL {
        let members: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.about.family == family)
            .collect();
        if members.is_empty() {
            continue;
        }
        let fs = Summary::of(members.iter().copied());
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">\n",
            family.name(),
            members.len(),
            fs.failed,
            fs.not_applicable + fs.not_run + fs.expected_failures,
            seconds(&members)
        ));
        for o in members {
            out.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
                family.name(),
                xml(&o.about.id),
                o.elapsed.as_secs_f64()
            ));
            match &o.result {
                Finding::Passed(_) => {}
                Finding::Failed(t) => out.push_str(&format!(
                    "<failure message=\"{}\">{}; expected {}</failure>",
                    xml(t),
                    xml(&o.about.spec),
                    xml(&o.about.expects)
                )),
                Finding::UnexpectedPass { .. } => {
                    out.push_str(&format!("<failure message=\"{}\"/>", xml(&o.result.text())))
                }
                other => out.push_str(&format!("<skipped message=\"{}\"/>", xml(&other.text()))),
            }
            out.push_str("</testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(target: &Target, outcomes: &[Outcome]) -> String {
    let s = Summary::of(outcomes);
    let mut out = format!(
        "# softkey conformance: {}\n\n{} checks applicable: {} passed, {} failed, {} expected failures; {} not applicable, {} not run.\n\n| family | passed | failed | expected | n/a | not run |\n|---|---:|---:|---:|---:|---:|\n",
        cell(&target.to_string()),
        s.applicable(),
        s.passed,
        s.failed,
        s.expected_failures,
        s.not_applicable,
        s.not_run
    );
    for family in Family::ALL {
        let fs = Summary::of(outcomes.iter().filter(|o| o.about.family == family));
        if fs == Summary::default() {
            continue;
        }
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            family.title(),
            fs.passed,
            fs.failed,
            fs.expected_failures,
            fs.not_applicable,
            fs.not_run
        ));
    }
    out.push_str("\n| check | spec | result | detail |\n|---|---|---|---|\n");
    for o in outcomes.iter().filter(|o| listed(o)) {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            o.about.id,
            cell(&o.about.spec),
            o.result.label(),
            cell(&o.result.text())
        ));
    }
    out
}
