//! `--lab N,N,…`: `softkey lab serve` with N authenticators in one process.
//! For each N, a fresh lab; N authenticators added with `softkey lab add`
//! and all attached over USB/IP at once; the resident memory before and
//! after, per authenticator; one non-discoverable credential each; then
//! getAssertion (allowList of one) round-robin over the N keys from one
//! client — the latency of each and the operations per second of the run —
//! and from one client thread per key (up to 8) at once.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use softkey_conformance::ctap2::{Attestation, Ctap2, GetAssertionRequest};

use crate::measure::{Key, client_data_hash, get_assertion, make_credential, mc_request};
use crate::report::{Summary, fmt_duration};
use crate::server::Memory;

/// Threads of the concurrent run at most (the machine has few cores).
const MAX_THREADS: usize = 8;
/// How long the concurrent run lasts.
const CONCURRENT_RUN: Duration = Duration::from_secs(3);

/// One lab size's figures.
#[derive(Debug)]
pub struct LabRow {
    pub authenticators: usize,
    pub latency: Summary,
    pub ops_per_second: f64,
    pub concurrent_threads: usize,
    pub concurrent_ops_per_second: f64,
    pub kib_per_authenticator: f64,
}

/// A running `softkey lab serve`, stopped on drop.
struct LabProcess {
    child: Child,
    usbip: SocketAddr,
    api: String,
    token_file: std::path::PathBuf,
}

impl LabProcess {
    fn start(softkey: &Path, dir: &Path) -> Result<Self> {
        // The lab writes its token only into a directory of ours that
        // nobody else may write to.
        let private = dir.join(format!("softkey-bench-lab-{}", std::process::id()));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&private)
            .with_context(|| format!("cannot create {}", private.display()))?;
        let token_file = private.join("lab-token");
        let mut child = Command::new(softkey)
            .args([
                "lab",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--api",
                "127.0.0.1:0",
            ])
            .arg("--token-file")
            .arg(&token_file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start softkey lab serve")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("no stdout")?).read_line(&mut line)?;
        // "softkey lab: USB/IP on ADDR, API on http://ADDR"
        let usbip = line
            .split("USB/IP on ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("unexpected first line from softkey lab: {line:?}"))?;
        let api = line
            .split("API on http://")
            .nth(1)
            .map(|a| a.trim().to_owned())
            .with_context(|| format!("unexpected first line from softkey lab: {line:?}"))?;
        Ok(LabProcess {
            child,
            usbip,
            api,
            token_file,
        })
    }

    /// `softkey lab add`: the new authenticator's id.
    fn add(&self, softkey: &Path) -> Result<String> {
        let out = Command::new(softkey)
            .args(["lab", "add", "--api", &self.api])
            .arg("--token-file")
            .arg(&self.token_file)
            .output()
            .context("cannot run softkey lab add")?;
        if !out.status.success() {
            bail!("softkey lab add: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn memory(&self) -> Result<Memory> {
        Memory::of_pid(self.child.id())
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.token_file);
        if let Some(private) = self.token_file.parent() {
            let _ = std::fs::remove_dir(private);
        }
    }
}

/// Measures each lab size with `samples` round-robin getAssertions.
pub fn run(softkey: &Path, dir: &Path, sizes: &[usize], samples: usize) -> Result<Vec<LabRow>> {
    let mut rows = Vec::new();
    for &n in sizes {
        ensure!(n > 0, "a lab of no authenticators measures nothing");
        let lab = LabProcess::start(softkey, dir)?;
        std::thread::sleep(Duration::from_millis(200));
        let before = lab.memory()?;
        let ids = (0..n)
            .map(|_| lab.add(softkey))
            .collect::<Result<Vec<_>>>()?;
        let mut keys = Vec::with_capacity(n);
        for id in &ids {
            let key = Ctap2::connect(lab.usbip, id).with_context(|| format!("attaching {id}"))?;
            keys.push(key);
        }
        let after = lab.memory()?;
        let mut fleet = Vec::with_capacity(n);
        for (mut key, id) in keys.into_iter().zip(&ids) {
            let rp = format!("{id}.lab.bench.example");
            let (_, att) = make_credential(&mut key, &mc_request(&rp, b"lab user", false)?)?;
            fleet.push((key, rp, att));
        }
        let mut latencies = Vec::with_capacity(samples);
        let started = Instant::now();
        for _ in 0..samples.div_ceil(n) {
            for (key, rp, att) in fleet.iter_mut() {
                if latencies.len() == samples {
                    break;
                }
                latencies.push(assert_once(key, rp, att)?);
            }
        }
        let elapsed = started.elapsed();
        let threads = n.min(MAX_THREADS);
        let concurrent = concurrent_ops(fleet, threads)?;
        rows.push(LabRow {
            authenticators: n,
            latency: Summary::of("lab getAssertion", &latencies).context("no samples")?,
            ops_per_second: samples as f64 / elapsed.as_secs_f64(),
            concurrent_threads: threads,
            concurrent_ops_per_second: concurrent,
            kib_per_authenticator: after.rss_kib.saturating_sub(before.rss_kib) as f64 / n as f64,
        });
    }
    Ok(rows)
}

fn assert_once(key: &mut Key, rp: &str, att: &Attestation) -> Result<Duration> {
    let cdh = client_data_hash()?;
    let mut req = GetAssertionRequest::new(rp, cdh);
    req.allow_list = vec![att.credential_id().to_vec()];
    let (took, assertion) = get_assertion(key, &req)?;
    assertion.verify(att.public_key(), &cdh)?;
    Ok(took)
}

/// getAssertions from `threads` client threads, each on its share of the
/// keys, for [`CONCURRENT_RUN`]: operations per second in all.
fn concurrent_ops(fleet: Vec<(Key, String, Attestation)>, threads: usize) -> Result<f64> {
    let mut shares: Vec<Vec<(Key, String, Attestation)>> =
        (0..threads).map(|_| Vec::new()).collect();
    for (i, member) in fleet.into_iter().enumerate() {
        if let Some(share) = shares.get_mut(i % threads) {
            share.push(member);
        }
    }
    let deadline = Instant::now() + CONCURRENT_RUN;
    let started = Instant::now();
    let handles: Vec<_> = shares
        .into_iter()
        .map(|mut share| {
            std::thread::spawn(move || -> Result<usize> {
                let mut done = 0usize;
                while Instant::now() < deadline {
                    for (key, rp, att) in share.iter_mut() {
                        assert_once(key, rp, att)?;
                        done += 1;
                    }
                }
                Ok(done)
            })
        })
        .collect();
    let mut total = 0usize;
    for handle in handles {
        total += handle
            .join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// One row per lab size.
pub fn render(rows: &[LabRow], markdown: bool) -> String {
    let mut s = String::new();
    if markdown {
        let _ = writeln!(
            s,
            "| authenticators | getAssertion median | p95 | ops/s, one client | ops/s, threads | memory per authenticator |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|");
    }
    for r in rows {
        let cells = [
            fmt_duration(r.latency.median),
            fmt_duration(r.latency.p95),
            format!("{:.0}", r.ops_per_second),
            format!(
                "{:.0} ({} threads)",
                r.concurrent_ops_per_second, r.concurrent_threads
            ),
            format!("{:.0} KiB", r.kib_per_authenticator),
        ];
        if markdown {
            let _ = writeln!(s, "| {} | {} |", r.authenticators, cells.join(" | "));
        } else {
            let _ = writeln!(
                s,
                "{:>4} authenticators  {}",
                r.authenticators,
                cells.join("  ")
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_render() {
        let us = Duration::from_micros;
        let row = LabRow {
            authenticators: 10,
            latency: Summary::of("x", &[us(300), us(400)]).unwrap(),
            ops_per_second: 3000.4,
            concurrent_threads: 8,
            concurrent_ops_per_second: 5000.0,
            kib_per_authenticator: 123.4,
        };
        let md = render(&[row], true);
        assert!(
            md.contains("| 10 | 300 µs | 400 µs | 3000 | 5000 (8 threads) | 123 KiB |"),
            "{md}"
        );
    }
}
