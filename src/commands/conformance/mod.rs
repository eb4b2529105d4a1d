//! `softkey conformance TARGET`: runs the conformance catalog
//! (softkey_conformance::catalog) against a key and reports per check and
//! per family, as text (or JSON), JUnit XML and Markdown. Exit status 1 when
//! a check failed that the expectations file does not name, or a named one
//! passed.

mod report;

use std::io::Write;

use anyhow::{Context, Result, bail};
use softkey_conformance::catalog::{
    self, Expectations, Finding, Outcome, Selection, Session, Target,
};

use crate::cli::ConformanceArgs;

pub fn run(args: &ConformanceArgs) -> Result<()> {
    let target: Target = args
        .target
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let checks = catalog::catalog();
    let selection = Selection {
        only: args.only.clone(),
        skip: args.skip.clone(),
        destructive: args.destructive,
    };
    let unknown = selection.unknown_patterns(&checks);
    if !unknown.is_empty() {
        bail!(
            "no check or family is named {}; `softkey conformance {} --list` shows them",
            unknown.join(", "),
            args.target
        );
    }
    if args.list {
        report::print_list(&checks);
        return Ok(());
    }
    let expectations = match &args.expectations {
        Some(path) => read_expectations(path)?,
        None => Expectations::new(),
    };
    let stray: Vec<&String> = expectations
        .keys()
        .filter(|id| !checks.iter().any(|c| &c.about.id == *id))
        .collect();
    if !stray.is_empty() {
        bail!(
            "the expectations file names checks that do not exist: {}",
            stray
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let destructive = checks
        .iter()
        .filter(|c| c.about.destructive && selection.takes(c).is_ok())
        .count();
    if destructive > 0 {
        eprintln!(
            "softkey conformance: --destructive: {destructive} checks will reset the key and \
             set, change and block its PIN. Everything on it will be lost."
        );
    }
    let mut session = Session::new(target.clone(), |text| {
        eprintln!("softkey conformance: {text}");
    });
    session.ep_rp_id = args.ep_rp_id.clone();
    let json = args.json;
    let outcomes = catalog::run(&mut session, &checks, &selection, &expectations, |o| {
        if !json {
            report::print_line(o);
        }
    });
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report::json(&target, &outcomes))?
        );
    } else {
        report::print_summary(&target, &outcomes);
    }
    if let Some(path) = &args.junit {
        write_file(path, &report::junit(&target, &outcomes))?;
    }
    if let Some(path) = &args.markdown {
        write_file(path, &report::markdown(&target, &outcomes))?;
    }
    if outcomes.iter().any(|o: &Outcome| o.result.fails_run()) {
        std::process::exit(1);
    }
    Ok(())
}

/// `{"check id": "reason", …}`; every reason must say something.
fn read_expectations(path: &std::path::Path) -> Result<Expectations> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let map: Expectations = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a JSON object of check id to reason",
            path.display()
        )
    })?;
    if let Some((id, _)) = map.iter().find(|(_, reason)| reason.trim().is_empty()) {
        bail!("{}: the entry for {id} gives no reason", path.display());
    }
    Ok(map)
}

fn write_file(path: &std::path::Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Whether an outcome is one the text report lists line by line.
fn listed(o: &Outcome) -> bool {
    !matches!(o.result, Finding::NotRun(_))
}
