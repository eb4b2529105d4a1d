//! `--rsa-burst`: how makeCredential with RS256 behaves when registrations come faster than
//! `softkey serve` can find primes. The server keeps a few RSA-2048 keys ready (a
//! background pool); each burst waits for the pool to refill, then sends back-to-back
//! non-discoverable makeCredentials offering only RS256 (CTAP 2.1 §6.1.2 step 3). The report
//! gives, for each position in the burst, the median and slowest latency over all bursts:
//! the first positions are served from the pool, the later ones find their primes on the
//! request path.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use softkey_conformance::ctap2::{Attestation, command};

use crate::measure::{Key, mc_request};
use crate::report::{Summary, fmt_duration};

const RS256: i64 = -257;

/// The latencies at one position of the burst, across bursts.
#[derive(Debug)]
pub struct Position {
    pub index: usize,
    pub latency: Summary,
}

/// `bursts` bursts of `length` registrations, each after `refill` of idle time.
pub fn run(
    key: &mut Key,
    bursts: usize,
    length: usize,
    refill: Duration,
    tag: &str,
) -> Result<Vec<Position>> {
    ensure!(bursts > 0 && length > 0, "empty burst");
    let mut by_position = vec![Vec::with_capacity(bursts); length];
    for burst in 0..bursts {
        std::thread::sleep(refill);
        for (index, samples) in by_position.iter_mut().enumerate() {
            let rp = format!("{tag}.rsa-burst.bench.example");
            let user = format!("{burst}-{index}");
            let mut req = mc_request(&rp, user.as_bytes(), false)?;
            req.pub_key_cred_params = vec![RS256];
            let payload = req.encode();
            let t = Instant::now();
            let body = key
                .command(command::MAKE_CREDENTIAL, &payload)
                .context("makeCredential with RS256")?;
            samples.push(t.elapsed());
            let att = Attestation::parse(&body, &req).context("RS256 makeCredential response")?;
            ensure!(
                att.public_key().alg() == RS256,
                "the key did not choose RS256"
            );
        }
    }
    by_position
        .iter()
        .enumerate()
        .map(|(index, samples)| {
            Ok(Position {
                index: index + 1,
                latency: Summary::of("rsa burst", samples).context("no samples")?,
            })
        })
        .collect()
}

/// One row per position: median and the slowest.
pub fn render(rows: &[Position], bursts: usize, refill: Duration, markdown: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{bursts} bursts of {} back-to-back RS256 registrations, each after {} s idle",
        rows.len(),
        refill.as_secs_f64()
    );
    if markdown {
        let _ = writeln!(s, "\n| in the burst | median | slowest |");
        let _ = writeln!(s, "|---:|---:|---:|");
    }
    for row in rows {
        let (median, max) = (
            fmt_duration(row.latency.median),
            fmt_duration(row.latency.max),
        );
        if markdown {
            let _ = writeln!(s, "| {} | {median} | {max} |", row.index);
        } else {
            let _ = writeln!(
                s,
                "{:>3}  median {median:>10}  slowest {max:>10}",
                row.index
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_render_median_and_slowest() {
        let ms = Duration::from_millis;
        let rows = [Position {
            index: 5,
            latency: Summary::of("x", &[ms(80), ms(120), ms(300)]).unwrap(),
        }];
        let md = render(&rows, 3, Duration::from_secs(5), true);
        assert!(md.contains("| 5 | 120.00 ms | 300.00 ms |"), "{md}");
    }
}
