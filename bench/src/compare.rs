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

use crate::measure::{Fixtures, Key, Plan};
use crate::report::{Summary, fmt_duration};

/// Samples one target takes in a row before the next target's turn.
const CHUNK: usize = 10;

/// One key to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub label: String,
    pub addr: SocketAddr,
    pub bus_id: String,
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
        })
    }
}

/// Every target's summaries, in [`crate::measure::OPS`] order.
#[derive(Debug)]
pub struct Comparison {
    pub targets: Vec<Target>,
    /// `rows[op][target]`.
    pub rows: Vec<Vec<Summary>>,
}

/// Attaches every target, registers the fixtures on each, then takes the
/// samples of each operation in turns of [`CHUNK`] per target.
pub fn run(targets: &[Target], plan: &Plan, tag: &str) -> Result<Comparison> {
    let mut keys: Vec<(Key, Fixtures)> = Vec::new();
    for target in targets {
        let mut key = Ctap2::connect(target.addr, &target.bus_id)
            .with_context(|| format!("attaching {} ({})", target.label, target.addr))?;
        eprintln!(
            "softkey-bench: registering the fixtures on {}…",
            target.label
        );
        let fixtures = Fixtures::prepare(&mut key, tag)
            .with_context(|| format!("preparing {}", target.label))?;
        keys.push((key, fixtures));
    }
    let mut rows = Vec::new();
    for (op, n) in plan.ops() {
        let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(n); keys.len()];
        let mut done = 0;
        while done < n {
            let take = CHUNK.min(n - done);
            for ((key, fixtures), out) in keys.iter_mut().zip(&mut samples) {
                for i in done..done + take {
                    out.push((op.run)(key, fixtures, i).with_context(|| op.name.to_owned())?);
                }
            }
            done += take;
        }
        let summaries = samples
            .iter()
            .filter_map(|s| Summary::of(op.name, s))
            .collect();
        rows.push(summaries);
    }
    Ok(Comparison {
        targets: targets.to_vec(),
        rows,
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
        let Some(base) = row.first() else { continue };
        let medians: Vec<String> = row.iter().map(|r| fmt_duration(r.median)).collect();
        let ratios: Vec<String> = row
            .iter()
            .skip(1)
            .map(|r| format!("{:.2}×", r.median.as_secs_f64() / base.median.as_secs_f64()))
            .collect();
        if markdown {
            let _ = writeln!(
                s,
                "| {} | {} |{}",
                base.name,
                medians.join(" | "),
                ratios.iter().map(|r| format!(" {r} |")).collect::<String>()
            );
        } else {
            let _ = writeln!(
                s,
                "{:<50} {}   {}",
                base.name,
                medians
                    .iter()
                    .map(|m| format!("{m:>10}"))
                    .collect::<String>(),
                ratios.join("  ")
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
}
