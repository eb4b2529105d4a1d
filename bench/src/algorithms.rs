//! `--per-algorithm`: what each credential algorithm costs. For every algorithm softkey
//! signs with, a non-discoverable makeCredential that offers only that algorithm (CTAP 2.1
//! §6.1.2 step 3), its self attestation verified, then getAssertion with that credential
//! in the allowList (§6.2.2), its signature verified. Timed around the USB/IP round trip
//! only, as in [`crate::measure`]; the answer sizes are the CTAP2 response bodies.
//!
//! RS256 and PS256 registrations come back to back, faster than the server's pool of ready
//! RSA keys refills, so their makeCredential figure is the steady state of finding primes on
//! the request path; `--rsa-burst` ([`crate::rsa_burst`]) shows the pool.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use softkey_conformance::ctap2::{Attestation, GetAssertionRequest, command};

use crate::measure::{Key, WARMUP, client_data_hash, get_assertion, mc_request};
use crate::report::{Summary, fmt_duration};

/// Every algorithm `serve --algorithms all` enables, by IANA name and COSE id.
const ALGORITHMS: [(&str, i64); 10] = [
    ("ES256", -7),
    ("EdDSA", -8),
    ("ES384", -35),
    ("ES512", -36),
    ("ES256K", -47),
    ("RS256", -257),
    ("PS256", -37),
    ("ML-DSA-44", -48),
    ("ML-DSA-65", -49),
    ("ML-DSA-87", -50),
];

/// One algorithm's figures.
#[derive(Debug)]
pub struct AlgorithmRow {
    pub name: &'static str,
    pub make_credential: Summary,
    pub get_assertion: Summary,
    /// The makeCredential answer (packed self attestation), in bytes.
    pub make_credential_bytes: usize,
    pub get_assertion_bytes: usize,
}

/// Measures every algorithm, `n` samples of each operation after [`WARMUP`] untimed ones.
pub fn run(key: &mut Key, n: usize, tag: &str) -> Result<Vec<AlgorithmRow>> {
    let mut rows = Vec::new();
    for (name, alg) in ALGORITHMS {
        let rp = format!("{tag}.{}.alg.bench.example", name.to_lowercase());
        let mut make = Vec::with_capacity(n);
        let mut made = None;
        for i in 0..WARMUP + n {
            let user = format!("{name}-{i}");
            let mut req = mc_request(&rp, user.as_bytes(), false)?;
            req.pub_key_cred_params = vec![alg];
            let payload = req.encode();
            let t = Instant::now();
            let body = key
                .command(command::MAKE_CREDENTIAL, &payload)
                .with_context(|| format!("makeCredential with {name}"))?;
            let took = t.elapsed();
            let att = Attestation::parse(&body, &req)
                .with_context(|| format!("{name} makeCredential response"))?;
            ensure!(
                att.public_key().alg() == alg,
                "{name}: the key chose alg {}",
                att.public_key().alg()
            );
            if i >= WARMUP {
                make.push(took);
            }
            made = Some((att, body.len()));
        }
        let (att, make_credential_bytes) = made.context("no makeCredential")?;
        let mut assert = Vec::with_capacity(n);
        let mut get_assertion_bytes = 0;
        for i in 0..WARMUP + n {
            let cdh = client_data_hash()?;
            let mut req = GetAssertionRequest::new(&rp, cdh);
            req.allow_list = vec![att.credential_id().to_vec()];
            let (took, a) = get_assertion(key, &req)?;
            a.verify(att.public_key(), &cdh)
                .with_context(|| format!("{name} assertion signature"))?;
            get_assertion_bytes = a.raw.len();
            if i >= WARMUP {
                assert.push(took);
            }
        }
        rows.push(AlgorithmRow {
            name,
            make_credential: summary(name, &make)?,
            get_assertion: summary(name, &assert)?,
            make_credential_bytes,
            get_assertion_bytes,
        });
    }
    Ok(rows)
}

fn summary(name: &str, samples: &[Duration]) -> Result<Summary> {
    Summary::of(name, samples).with_context(|| format!("no samples for {name}"))
}

/// Medians and p95 per algorithm, and the answer sizes.
pub fn render(rows: &[AlgorithmRow], markdown: bool) -> String {
    let mut s = String::new();
    if markdown {
        let _ = writeln!(
            s,
            "| algorithm | makeCredential median | p95 | answer | getAssertion median | p95 | answer |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
    } else {
        let _ = writeln!(
            s,
            "{:<10} {:>22} {:>10} {:>8} {:>20} {:>10} {:>8}",
            "algorithm",
            "makeCredential median",
            "p95",
            "answer",
            "getAssertion median",
            "p95",
            "answer"
        );
    }
    for r in rows {
        let cells = [
            fmt_duration(r.make_credential.median),
            fmt_duration(r.make_credential.p95),
            format!("{} B", r.make_credential_bytes),
            fmt_duration(r.get_assertion.median),
            fmt_duration(r.get_assertion.p95),
            format!("{} B", r.get_assertion_bytes),
        ];
        if markdown {
            let _ = writeln!(s, "| {} | {} |", r.name, cells.join(" | "));
        } else {
            let _ = writeln!(
                s,
                "{:<10} {:>22} {:>10} {:>8} {:>20} {:>10} {:>8}",
                r.name, cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_render_medians_p95_and_sizes() {
        let us = Duration::from_micros;
        let row = AlgorithmRow {
            name: "ML-DSA-87",
            make_credential: Summary::of("m", &[us(8000), us(9000)]).unwrap(),
            get_assertion: Summary::of("a", &[us(3000)]).unwrap(),
            make_credential_bytes: 7375,
            get_assertion_bytes: 4758,
        };
        let md = render(std::slice::from_ref(&row), true);
        assert!(
            md.contains("| ML-DSA-87 | 8000 µs | 9000 µs | 7375 B | 3000 µs | 3000 µs | 4758 B |"),
            "{md}"
        );
        assert!(render(&[row], false).contains("ML-DSA-87"));
    }
}
