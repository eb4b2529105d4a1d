//! The measured operations, each timed around the client call that crosses USB/IP
//! (CTAPHID PING, CTAP 2.1 §6.4 getInfo, §6.1 makeCredential, §6.2 getAssertion), and
//! the idle measurement with an interrupt-IN URB pending.
//!
//! Requests are encoded before the clock starts; responses are parsed and verified
//! after it stops, so a figure is the host-visible round trip: CTAPHID framing,
//! USB/IP URBs over loopback TCP and the server's work, not the client's CBOR decoding
//! or signature checks. Every response is still checked, so a fast wrong answer fails.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use softkey_conformance::ctap2::{
    Assertion, Attestation, Ctap2, GetAssertionRequest, Info, MakeCredentialRequest, UserEntity,
    command,
};
use softkey_conformance::usbip::UsbipDevice;

use crate::report::{Idle, Summary};
use crate::server::{CpuSample, ServerProcess};

/// Relying parties of the benchmark's credentials (with a run tag, so that
/// several runs, or several keys compared, never share one).
const RP_NON_RK: &str = "bench.example";
const RP_RK: &str = "rk.bench.example";
/// Accounts on the RP of each username-less variant.
pub const ACCOUNTS: [u64; 4] = [1, 10, 200, 1000];
/// Untimed rounds of each operation before measuring (caches, allocator, TCP).
pub const WARMUP: usize = 20;

pub type Key = Ctap2<UsbipDevice>;

/// Sample counts of one run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub iterations: usize,
    pub rk_iterations: usize,
    /// Only the operations whose name contains this text (for a profile of
    /// one operation).
    pub only: Option<String>,
}

impl Plan {
    /// The operations this run measures, with how many samples each.
    pub fn ops(&self) -> impl Iterator<Item = (&'static Op, usize)> + '_ {
        OPS.iter()
            .filter(|op| {
                self.only
                    .as_deref()
                    .is_none_or(|only| op.name.contains(only))
            })
            .map(|op| {
                let n = if op.stores {
                    self.rk_iterations
                } else {
                    self.iterations
                };
                (op, n)
            })
    }
}

/// A response that arrived but failed verification: how long it took, and why it is wrong.
/// Against a peer (a lenient run) these are counted instead of stopping the run, so that a
/// peer's defect does not hide its timings; softkey's first one stops the run.
#[derive(Debug)]
pub struct WrongAnswer {
    pub took: Duration,
    pub why: anyhow::Error,
}

impl std::fmt::Display for WrongAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.why)
    }
}

impl std::error::Error for WrongAnswer {}

/// Turns a verification error of a response that took `took` into a [`WrongAnswer`].
fn wrong(took: Duration) -> impl FnOnce(anyhow::Error) -> anyhow::Error {
    move |why| WrongAnswer { took, why }.into()
}

/// Attempts at an RP's accounts when the newest account's attestation is wrong.
const FIXTURE_ATTEMPTS: usize = 3;

/// Times a request answered with CTAPHID_ERROR is sent again before giving up.
pub const HID_ERROR_RETRIES: usize = 10;

/// Whether `e` is a CTAPHID_ERROR answer (CTAP 2.1 §11.2.9.1.6): the key refused the
/// framing of a request (a peer that reorders the reports of one message does this
/// now and then), not its content, so sending it again is fair.
pub fn is_hid_error(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<softkey_conformance::Error>()
            .is_some_and(|e| e.hid_error().is_some())
    })
}

/// Whether `e` is a [`WrongAnswer`].
pub fn is_wrong(e: &anyhow::Error) -> bool {
    e.downcast_ref::<WrongAnswer>().is_some()
}

/// `f()`; when `lenient`, sent again while the key answers CTAPHID_ERROR (at most
/// [`HID_ERROR_RETRIES`] times), each retry counted in `refused`.
pub fn retry_hid_errors<T>(
    lenient: bool,
    refused: &mut usize,
    mut f: impl FnMut() -> Result<T>,
) -> Result<T> {
    let mut tries = 0;
    loop {
        match f() {
            Err(e) if lenient && is_hid_error(&e) && tries < HID_ERROR_RETRIES => {
                tries += 1;
                *refused += 1;
            }
            done => return done,
        }
    }
}

/// What the operations need on the key before they are timed: a
/// non-discoverable credential, and RPs with 1, 10, 200 and 1,000 accounts.
#[derive(Debug)]
pub struct Fixtures {
    tag: String,
    non_rk: Attestation,
    /// The RP id of each count of [`ACCOUNTS`].
    rps: Vec<String>,
    /// The newest account of each RP of [`ACCOUNTS`], whose key signs the
    /// first username-less response.
    newest: Vec<Attestation>,
    ping16: Vec<u8>,
    ping1000: Vec<u8>,
    /// A peer's run: CTAPHID errors are retried, wrong answers counted, and operations
    /// that fail in warm-up left out. softkey's own runs are strict.
    pub lenient: bool,
    /// Requests answered with CTAPHID_ERROR and sent again while preparing.
    pub refused: usize,
    /// Operations whose warm-up failed (not with a wrong answer), and why: a peer
    /// without getNextAssertion, say. A comparison leaves them out for this key.
    pub unsupported: Vec<(&'static str, String)>,
}

impl Fixtures {
    pub fn supports(&self, op: &Op) -> bool {
        !self.unsupported.iter().any(|(name, _)| *name == op.name)
    }

    /// Registers the credentials on `key`; `tag` keeps their RP ids apart
    /// from any earlier run's. Operations whose name contains a text of `lacks` are
    /// declared unsupported and never sent. Only a `lenient` (peer) run tolerates
    /// CTAPHID errors, wrong answers and failing operations.
    pub fn prepare(key: &mut Key, tag: &str, lacks: &[&str], lenient: bool) -> Result<Self> {
        let mut refused = 0;
        let attempts = if lenient { FIXTURE_ATTEMPTS } else { 1 };
        let mut non_rk = None;
        for attempt in 0..attempts {
            let user = format!("bench-nd-{attempt}");
            let req = mc_request(&rp(tag, RP_NON_RK), user.as_bytes(), false)?;
            match retry_hid_errors(lenient, &mut refused, || make_credential(key, &req)) {
                Err(e) if lenient && is_wrong(&e) => non_rk = Some(Err(e)),
                made => {
                    non_rk = Some(made);
                    break;
                }
            }
        }
        let non_rk = non_rk
            .context("no non-resident fixture attempted")?
            .context("the non-resident fixture attestation was wrong on every attempt")?
            .1;
        let (mut rps, mut newest) = (Vec::new(), Vec::new());
        for accounts in ACCOUNTS {
            let (rp, last) = accounts_fixture(key, tag, accounts, attempts, &mut refused)?;
            rps.push(rp);
            newest.push(last);
        }
        let mut fixtures = Fixtures {
            tag: tag.to_owned(),
            non_rk,
            rps,
            newest,
            ping16: pattern(16),
            ping1000: pattern(1000),
            lenient,
            refused,
            unsupported: OPS
                .iter()
                .filter(|op| lacks.iter().any(|text| op.name.contains(text)))
                .map(|op| (op.name, "declared with --unsupported".to_owned()))
                .collect(),
        };
        for round in 0..WARMUP {
            for op in &OPS {
                if op.stores || !fixtures.supports(op) {
                    continue;
                }
                let mut refused = 0;
                let warm = retry_hid_errors(lenient, &mut refused, || (op.run)(key, &fixtures, 0));
                fixtures.refused += refused;
                match warm {
                    Ok(_) => {}
                    Err(e) if !lenient => return Err(e.context(op.name)),
                    Err(e) if is_wrong(&e) => {}
                    Err(e) => {
                        let why = format!("{e:#} (warm-up round {})", round + 1);
                        fixtures.unsupported.push((op.name, why));
                        drain_late_reports(key)?;
                    }
                }
            }
        }
        Ok(fixtures)
    }
}

/// Registers `accounts` discoverable credentials on a fresh RP and returns the RP id and the
/// newest one's attestation. Only the newest must verify (its key checks the username-less
/// signature); if it does not, the whole RP is registered again under another id, at most
/// `attempts` times, so that the count stays exact. Another account's wrong answer is an
/// error unless `attempts` > 1 (a peer's run).
fn accounts_fixture(
    key: &mut Key,
    tag: &str,
    accounts: u64,
    attempts: usize,
    refused: &mut usize,
) -> Result<(String, Attestation)> {
    let lenient = attempts > 1;
    let mut last_wrong = None;
    for attempt in 0..attempts {
        let rp = rp(tag, &format!("accounts-{accounts}-{attempt}.bench.example"));
        let mut last = None;
        for i in 0..accounts {
            let user = format!("account-{i}");
            let req = mc_request(&rp, user.as_bytes(), true)?;
            let made = retry_hid_errors(lenient, refused, || make_credential(key, &req));
            // A strict run stops at any account's failure, wrong answers included.
            last = Some(if lenient { made } else { Ok(made?) });
        }
        match last.context("an RP without accounts")? {
            Ok((_, newest)) => return Ok((rp, newest)),
            Err(e) if lenient && is_wrong(&e) => last_wrong = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_wrong.unwrap_or_else(|| anyhow::anyhow!("no attempt made")))
        .context("the newest account's attestation was wrong on every attempt")
}

/// How long a key may stay silent before the reports of a failed request are taken to be
/// over.
const LATE_REPORT_WAIT: Duration = Duration::from_millis(1500);

/// Reads and drops what a key still sends after a request failed, so that a late report
/// is not taken for part of the next answer. It stops at silence, or at an all-zero
/// report: virtual-fido completes every IN URB left pending for 1 s with one (channel 0
/// is not a CTAPHID channel, CTAP 2.1 §11.2.3), and would do so forever.
fn drain_late_reports(key: &mut Key) -> Result<()> {
    while let Some(report) = key
        .hid()
        .recv_raw(LATE_REPORT_WAIT)
        .context("reading late reports")?
    {
        if report == [0; 64] {
            break;
        }
    }
    Ok(())
}

fn rp(tag: &str, base: &str) -> String {
    format!("{tag}.{base}")
}

/// One timed operation: `run(key, fixtures, i)` performs sample `i` and
/// returns the time of the part that crosses USB/IP.
pub struct Op {
    pub name: &'static str,
    /// It stores a new passkey per sample (so it runs `rk_iterations` times
    /// and is not warmed up).
    pub stores: bool,
    pub run: fn(&mut Key, &Fixtures, usize) -> Result<Duration>,
}

/// Every operation, in report order.
pub const OPS: [Op; 13] = [
    Op {
        name: "CTAPHID PING 16 B",
        stores: false,
        run: |key, f, _| ping(key, &f.ping16),
    },
    Op {
        name: "CTAPHID PING 1000 B",
        stores: false,
        run: |key, f, _| ping(key, &f.ping1000),
    },
    Op {
        name: "getInfo",
        stores: false,
        run: |key, _, _| get_info(key),
    },
    Op {
        name: "makeCredential, non-resident",
        stores: false,
        run: |key, f, i| {
            let user = format!("nd-{i}");
            Ok(make_credential(
                key,
                &mc_request(&rp(&f.tag, RP_NON_RK), user.as_bytes(), false)?,
            )?
            .0)
        },
    },
    Op {
        name: "makeCredential, resident (rk, stored)",
        stores: true,
        run: |key, f, i| {
            let user = format!("rk-{i}");
            Ok(make_credential(key, &mc_request(&rp(&f.tag, RP_RK), user.as_bytes(), true)?)?.0)
        },
    },
    Op {
        name: "getAssertion, allowList of 1",
        stores: false,
        run: |key, f, _| assertion_allow_list(key, &rp(&f.tag, RP_NON_RK), &f.non_rk),
    },
    Op {
        name: "getAssertion, username-less, 1 account",
        stores: false,
        run: |key, f, _| username_less(key, f, 0),
    },
    Op {
        name: "getAssertion, username-less, 10 accounts (1st)",
        stores: false,
        run: |key, f, _| username_less(key, f, 1),
    },
    Op {
        name: "getAssertion, username-less, 200 accounts (1st)",
        stores: false,
        run: |key, f, _| username_less(key, f, 2),
    },
    Op {
        name: "getAssertion, username-less, 1,000 accounts (1st)",
        stores: false,
        run: |key, f, _| username_less(key, f, 3),
    },
    Op {
        name: "getNextAssertion, 10 accounts (2nd)",
        stores: false,
        run: |key, f, _| next_assertion(key, f, 1),
    },
    Op {
        name: "getNextAssertion, 1,000 accounts (2nd)",
        stores: false,
        run: |key, f, _| next_assertion(key, f, 3),
    },
    Op {
        name: "getNextAssertion, 1,000 accounts (100th)",
        stores: false,
        run: |key, f, _| next_assertion_deep(key, f, 3, 99),
    },
];

/// Runs every timed operation on one key and returns one summary per
/// operation, in order.
pub fn run_all(key: &mut Key, plan: &Plan, tag: &str) -> Result<Vec<Summary>> {
    let fixtures = Fixtures::prepare(key, tag, &[], false)?;
    let mut rows = Vec::new();
    for (op, n) in plan.ops() {
        let samples =
            repeat(n, |i| (op.run)(key, &fixtures, i)).with_context(|| op.name.to_owned())?;
        if let Some(s) = Summary::of(op.name, &samples) {
            rows.push(s);
        }
    }
    Ok(rows)
}

/// `f(i)` for i in 0..n, collecting the durations it reports.
pub fn repeat(n: usize, mut f: impl FnMut(usize) -> Result<Duration>) -> Result<Vec<Duration>> {
    (0..n).map(&mut f).collect()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A fresh random clientDataHash (the server must not see repeated requests).
pub fn client_data_hash() -> Result<[u8; 32]> {
    let mut h = [0u8; 32];
    getrandom::fill(&mut h).map_err(|e| anyhow::anyhow!("the OS RNG failed: {e}"))?;
    Ok(h)
}

pub fn mc_request(rp: &str, user: &[u8], rk: bool) -> Result<MakeCredentialRequest> {
    let mut req = MakeCredentialRequest::new(client_data_hash()?, rp, user);
    let name = String::from_utf8_lossy(user).into_owned();
    req.user = UserEntity {
        id: user.to_vec(),
        name: Some(format!("{name}@{rp}")),
        display_name: Some(format!("Bench {name}")),
    };
    req.rk = rk.then_some(true);
    Ok(req)
}

fn ping(key: &mut Key, data: &[u8]) -> Result<Duration> {
    let t = Instant::now();
    let echo = key.hid().ping(data).context("CTAPHID PING")?;
    let d = t.elapsed();
    if echo != data {
        return Err(wrong(d)(anyhow::anyhow!(
            "PING echoed {} other bytes",
            echo.len()
        )));
    }
    Ok(d)
}

fn get_info(key: &mut Key) -> Result<Duration> {
    let t = Instant::now();
    let body = key.command(command::GET_INFO, &[]).context("getInfo")?;
    let d = t.elapsed();
    Info::parse(&body)
        .context("getInfo response")
        .map_err(wrong(d))?;
    Ok(d)
}

/// makeCredential; the attestation is verified after the clock stops.
pub fn make_credential(
    key: &mut Key,
    req: &MakeCredentialRequest,
) -> Result<(Duration, Attestation)> {
    let payload = req.encode();
    let t = Instant::now();
    let body = key
        .command(command::MAKE_CREDENTIAL, &payload)
        .with_context(|| format!("makeCredential for {}", req.rp.id))?;
    let d = t.elapsed();
    let att = Attestation::parse(&body, req)
        .context("makeCredential response")
        .map_err(wrong(d))?;
    Ok((d, att))
}

pub fn get_assertion(key: &mut Key, req: &GetAssertionRequest) -> Result<(Duration, Assertion)> {
    let payload = req.encode();
    let t = Instant::now();
    let body = key
        .command(command::GET_ASSERTION, &payload)
        .with_context(|| format!("getAssertion for {}", req.rp_id))?;
    let d = t.elapsed();
    let a = Assertion::parse(&body, &req.rp_id, &req.allow_list, req.up)
        .context("getAssertion response")
        .map_err(wrong(d))?;
    Ok((d, a))
}

/// getAssertion naming the credential; the signature is verified after timing.
fn assertion_allow_list(key: &mut Key, rp: &str, cred: &Attestation) -> Result<Duration> {
    let cdh = client_data_hash()?;
    let mut req = GetAssertionRequest::new(rp, cdh);
    req.allow_list = vec![cred.credential_id().to_vec()];
    let (d, a) = get_assertion(key, &req)?;
    a.verify(cred.public_key(), &cdh)
        .context("allowList assertion signature")
        .map_err(wrong(d))?;
    Ok(d)
}

/// The username-less getAssertion on the RP of `ACCOUNTS[which]`.
fn username_less(key: &mut Key, f: &Fixtures, which: usize) -> Result<Duration> {
    let accounts = accounts(which)?;
    let newest = f.newest.get(which).context("no such fixture")?;
    let rp = f.rps.get(which).context("no such fixture")?;
    assertion_username_less(key, rp, accounts, Some(newest))
}

fn accounts(which: usize) -> Result<u64> {
    ACCOUNTS
        .get(which)
        .copied()
        .context("no such account count")
}

/// An untimed username-less getAssertion on the RP of `ACCOUNTS[which]`,
/// then the timed getNextAssertion that returns its second account.
fn next_assertion(key: &mut Key, f: &Fixtures, which: usize) -> Result<Duration> {
    next_assertion_deep(key, f, which, 1)
}

/// As [`next_assertion`], timing the getNextAssertion that returns account
/// `step + 1` (the earlier steps untimed).
fn next_assertion_deep(key: &mut Key, f: &Fixtures, which: usize, step: u64) -> Result<Duration> {
    let rp = f.rps.get(which).context("no such fixture")?;
    // The untimed steps are only checked for success: their contents are verified by the
    // username-less operations, and a peer's wrong answer there must not stop this one.
    let request = GetAssertionRequest::new(rp, client_data_hash()?).encode();
    key.command(command::GET_ASSERTION, &request)
        .context("getAssertion before getNextAssertion")?;
    for _ in 1..step {
        key.command(command::GET_NEXT_ASSERTION, &[])
            .context("getNextAssertion")?;
    }
    let t = Instant::now();
    let body = key
        .command(command::GET_NEXT_ASSERTION, &[])
        .context("getNextAssertion")?;
    let d = t.elapsed();
    if body.is_empty() {
        return Err(wrong(d)(anyhow::anyhow!(
            "getNextAssertion returned nothing"
        )));
    }
    Ok(d)
}

/// Username-less getAssertion (empty allowList): only the first response is timed.
/// CTAP 2.1 §6.2.2: numberOfCredentials is present when more than one account matches.
fn assertion_username_less(
    key: &mut Key,
    rp: &str,
    accounts: u64,
    cred: Option<&Attestation>,
) -> Result<Duration> {
    let cdh = client_data_hash()?;
    let (d, a) = get_assertion(key, &GetAssertionRequest::new(rp, cdh))?;
    let check = || -> Result<()> {
        ensure!(a.user.is_some(), "username-less assertion without a user");
        let count = a.number_of_credentials.unwrap_or(1);
        ensure!(
            count == accounts,
            "{rp}: numberOfCredentials {count}, expected {accounts}"
        );
        if let Some(cred) = cred {
            a.verify(cred.public_key(), &cdh)
                .context("username-less assertion signature")?;
        }
        Ok(())
    };
    check().map_err(wrong(d))?;
    Ok(d)
}

/// Leaves the device idle for `seconds` with an IN URB pending and counts what the
/// server does meanwhile: IN completions seen by the client and CPU time from /proc.
pub fn idle(
    key: &mut Key,
    server: &ServerProcess,
    seconds: f64,
    ticks_per_second: (u64, bool),
) -> Result<Idle> {
    let dev = key.hid().device();
    // usbhid keeps an interrupt-IN URB outstanding at all times (transport/README.md
    // "Threading model, and why").
    dev.submit_in().context("submitting the IN URB")?;
    let in_seqnum = dev.pending_in_seqnum();
    ensure!(
        in_seqnum.is_some(),
        "no IN URB is pending before the idle period"
    );
    let before = server.cpu()?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut completions = 0u64;
    loop {
        let now = Instant::now();
        let Some(left) = deadline
            .checked_duration_since(now)
            .filter(|d| !d.is_zero())
        else {
            break;
        };
        // An empty or short IN completion is a protocol error in this client.
        if dev
            .read_report(left)
            .context("the server completed the pending IN URB wrongly while idle")?
            .is_some()
        {
            completions += 1;
        }
    }
    let elapsed = start.elapsed();
    let after = server.cpu()?;
    Ok(Idle {
        seconds: elapsed.as_secs_f64(),
        in_seqnum,
        completions,
        ticks: after.ticks.saturating_sub(before.ticks),
        ticks_per_second: ticks_per_second.0,
        ticks_from_getconf: ticks_per_second.1,
        sched_ns: sched_delta(&before, &after),
    })
}

fn sched_delta(before: &CpuSample, after: &CpuSample) -> Option<u64> {
    Some(after.sched_ns?.saturating_sub(before.sched_ns?))
}
