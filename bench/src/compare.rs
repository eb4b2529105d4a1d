//! `--target`: the same operations against any USB/IP FIDO key, softkey or
//! not, and with several targets (`--compare`) interleaved in one run, so
//! that every key sees the same machine load, with the ratio of each key's
//! median to the first one's.
//!
//! A target is `[LABEL=]HOST:PORT[/BUSID]` (bus id `1-1` when left out).
//! Peers must approve presence on their own (an auto-approve mode): the
//! client cannot touch them.

use std::fmt::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use softkey_conformance::ctap2::Ctap2;
use softkey_transport::DEFAULT_BUS_ID;

use crate::measure::{Fixtures, Key, Plan, WrongAnswer, retry_hid_errors};
use crate::report::{Summary, fmt_duration};

/// Samples one target takes in a row before the next target's turn.
const CHUNK: usize = 10;

/// One key to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub label: String,
    pub addr: SocketAddr,
    pub bus_id: String,
    /// A key named with `--target` (not the softkey this run started): packets it sends on
    /// other channels are dropped and counted instead of stopping the run.
    pub peer: bool,
}

impl std::str::FromStr for Target {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        let (label, rest) = match text.split_once('=') {
            Some((label, rest)) if !label.is_empty() => (Some(label), rest),
            _ => (None, text),
        };
        let (host_port, bus_id) = match rest.split_once('/') {
            Some((hp, bus)) if !bus.is_empty() => (hp, bus.to_owned()),
            Some(_) => bail!("`{text}`: the bus id after `/` is empty"),
            None => (rest, DEFAULT_BUS_ID.to_owned()),
        };
        let addr = host_port
            .to_socket_addrs()
            .with_context(|| format!("`{text}`: not HOST:PORT"))?
            .next()
            .ok_or_else(|| anyhow!("`{text}`: {host_port} resolves to no address"))?;
        Ok(Target {
            label: label.map_or_else(|| rest.to_owned(), str::to_owned),
            addr,
            bus_id,
            peer: true,
        })
    }
}

/// Every target's summaries, in [`crate::measure::OPS`] order.
#[derive(Debug)]
pub struct Comparison {
    pub targets: Vec<Target>,
    /// `rows[op][target]`: None where the target does not support the operation.
    pub rows: Vec<Vec<Option<Summary>>>,
    /// Per target, the operations it does not support and why.
    pub unsupported: Vec<Vec<(&'static str, String)>>,
    /// Responses that failed verification (their times are still in `rows`).
    pub wrong: Vec<Wrong>,
    /// Requests answered with CTAPHID_ERROR and sent again, per target (not timed).
    pub hid_errors: Vec<usize>,
    /// Packets on other channels dropped while awaiting replies, per target.
    pub skipped: Vec<u64>,
}

/// The wrong answers of one target on one operation.
#[derive(Debug)]
pub struct Wrong {
    pub target: String,
    pub op: &'static str,
    pub count: usize,
    pub samples: usize,
    /// Why the first one was wrong.
    pub first: String,
}

/// Attaches every target, registers the fixtures on each, then takes the
/// samples of each operation in turns of [`CHUNK`] per target.
/// `declared` holds (label, text) pairs: operations whose name contains the text are
/// not sent to that target.
pub fn run(
    targets: &[Target],
    plan: &Plan,
    declared: &[(String, String)],
    tag: &str,
) -> Result<Comparison> {
    let mut keys: Vec<(Key, Fixtures)> = Vec::new();
    for target in targets {
        let mut key = Ctap2::connect(target.addr, &target.bus_id)
            .with_context(|| format!("attaching {} ({})", target.label, target.addr))?;
        key.hid().set_skip_other_channels(target.peer);
        eprintln!(
            "softkey-bench: registering the fixtures on {}…",
            target.label
        );
        let lacks: Vec<&str> = declared
            .iter()
            .filter(|(label, _)| *label == target.label)
            .map(|(_, text)| text.as_str())
            .collect();
        let fixtures = Fixtures::prepare(&mut key, tag, &lacks, target.peer)
            .with_context(|| format!("preparing {}", target.label))?;
        keys.push((key, fixtures));
    }
    let (mut rows, mut wrong) = (Vec::new(), Vec::new());
    let mut hid_errors: Vec<usize> = keys.iter().map(|(_, f)| f.refused).collect();
    for (op, n) in plan.ops() {
        let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(n); keys.len()];
        let mut wrongs: Vec<Vec<WrongAnswer>> = (0..keys.len()).map(|_| Vec::new()).collect();
        let mut done = 0;
        while done < n {
            let take = CHUNK.min(n - done);
            let per_target = keys.iter_mut().zip(&mut samples).zip(&mut wrongs);
            for ((((key, fixtures), out), bad), refused) in per_target.zip(&mut hid_errors) {
                if !fixtures.supports(op) {
                    continue;
                }
                for i in done..done + take {
                    let sample =
                        retry_hid_errors(fixtures.lenient, refused, || (op.run)(key, fixtures, i));
                    match sample {
                        Ok(took) => out.push(took),
                        Err(e) if !fixtures.lenient => return Err(e.context(op.name)),
                        Err(e) => match e.downcast::<WrongAnswer>() {
                            Ok(w) => {
                                out.push(w.took);
                                bad.push(w);
                            }
                            Err(e) => return Err(e.context(op.name)),
                        },
                    }
                }
            }
            done += take;
        }
        for (target, bad) in targets.iter().zip(&wrongs) {
            if let Some(first) = bad.first() {
                wrong.push(Wrong {
                    target: target.label.clone(),
                    op: op.name,
                    count: bad.len(),
                    samples: n,
                    first: first.to_string(),
                });
            }
        }
        rows.push(samples.iter().map(|s| Summary::of(op.name, s)).collect());
    }
    let skipped = keys
        .iter_mut()
        .map(|(k, _)| k.hid().skipped_packets())
        .collect();
    Ok(Comparison {
        skipped,
        targets: targets.to_vec(),
        rows,
        unsupported: keys.into_iter().map(|(_, f)| f.unsupported).collect(),
        wrong,
        hid_errors,
    })
}

/// Median of each target and its ratio to the first target's median.
pub fn render(c: &Comparison, markdown: bool) -> String {
    let mut s = String::new();
    let first = c.targets.first().map_or("", |t| t.label.as_str());
    if markdown {
        let _ = write!(s, "| operation (median) |");
        for t in &c.targets {
            let _ = write!(s, " {} |", t.label);
        }
        for t in c.targets.iter().skip(1) {
            let _ = write!(s, " {} ÷ {first} |", t.label);
        }
        let _ = writeln!(s);
        let columns = c.targets.len() * 2 - 1;
        let _ = writeln!(s, "|---|{}", "---:|".repeat(columns));
    } else {
        let _ = writeln!(s, "medians; ratios are each key's median over {first}'s\n");
    }
    for row in &c.rows {
        let Some(name) = row.iter().flatten().next().map(|r| r.name.as_str()) else {
            continue;
        };
        let base = row.first().and_then(Option::as_ref);
        let medians: Vec<String> = row
            .iter()
            .map(|r| {
                r.as_ref()
                    .map_or_else(|| "—".into(), |r| fmt_duration(r.median))
            })
            .collect();
        let ratios: Vec<String> = row
            .iter()
            .skip(1)
            .map(|r| match (r, base) {
                (Some(r), Some(base)) => {
                    format!("{:.2}×", r.median.as_secs_f64() / base.median.as_secs_f64())
                }
                _ => "n/a".into(),
            })
            .collect();
        if markdown {
            let _ = writeln!(
                s,
                "| {} | {} |{}",
                name,
                medians.join(" | "),
                ratios.iter().map(|r| format!(" {r} |")).collect::<String>()
            );
        } else {
            let _ = writeln!(
                s,
                "{:<50} {}   {}",
                name,
                medians
                    .iter()
                    .map(|m| format!("{m:>10}"))
                    .collect::<String>(),
                ratios.join("  ")
            );
        }
    }
    for (target, missing) in c.targets.iter().zip(&c.unsupported) {
        for (op, why) in missing {
            let _ = writeln!(s, "\n{}: {op} not supported ({why})", target.label);
        }
    }
    for (target, &skipped) in c.targets.iter().zip(&c.skipped) {
        if skipped > 0 {
            let _ = writeln!(
                s,
                "\n{}: {skipped} packets on other channels dropped (e.g. empty reports)",
                target.label
            );
        }
    }
    for (target, &refused) in c.targets.iter().zip(&c.hid_errors) {
        if refused > 0 {
            let _ = writeln!(
                s,
                "\n{}: {refused} requests answered CTAPHID_ERROR and sent again (not timed)",
                target.label
            );
        }
    }
    if !c.wrong.is_empty() {
        let _ = writeln!(s, "\nwrong answers (timed, but failed verification):");
        for w in &c.wrong {
            let _ = writeln!(
                s,
                "{}- {}, {}: {} of {} (first: {})",
                if markdown { "" } else { "  " },
                w.target,
                w.op,
                w.count,
                w.samples,
                w.first
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_and_without_label_and_bus_id() {
        let t: Target = "127.0.0.1:3240".parse().unwrap();
        assert_eq!(t.addr, "127.0.0.1:3240".parse().unwrap());
        assert_eq!(
            (t.label.as_str(), t.bus_id.as_str()),
            ("127.0.0.1:3240", "1-1")
        );
        let t: Target = "trussed=127.0.0.1:3241/1-2".parse().unwrap();
        assert_eq!((t.label.as_str(), t.bus_id.as_str()), ("trussed", "1-2"));
        assert!("127.0.0.1:3240/".parse::<Target>().is_err());
        assert!("no-port".parse::<Target>().is_err());
    }

    #[test]
    fn a_missing_operation_shows_as_n_a_and_wrong_answers_are_listed() {
        let us = Duration::from_micros;
        let targets: Vec<Target> = ["a=127.0.0.1:1", "b=127.0.0.1:2"]
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        let c = Comparison {
            targets,
            rows: vec![
                vec![
                    Summary::of("op1", &[us(100)]),
                    Summary::of("op1", &[us(250)]),
                ],
                vec![Summary::of("op2", &[us(80)]), None],
            ],
            unsupported: vec![vec![], vec![("op2", "declared".into())]],
            wrong: vec![Wrong {
                target: "b".into(),
                op: "op1",
                count: 1,
                samples: 1,
                first: "COSE key y is not 32 bytes".into(),
            }],
            hid_errors: vec![0, 3],
            skipped: vec![0, 1],
        };
        let text = render(&c, true);
        assert!(text.contains("| op1 | 100 µs | 250 µs | 2.50× |"), "{text}");
        assert!(text.contains("| op2 | 80 µs | — | n/a |"), "{text}");
        assert!(text.contains("b: op2 not supported (declared)"), "{text}");
        assert!(text.contains("b, op1: 1 of 1 (first: COSE key y is not 32 bytes)"));
        assert!(text.contains("b: 3 requests answered CTAPHID_ERROR"));
        assert!(text.contains("b: 1 packets on other channels dropped"));
    }
}
