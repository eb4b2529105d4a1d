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

/// What the operations need on the key before they are timed: a
/// non-discoverable credential, and RPs with 1, 10, 200 and 1,000 accounts.
#[derive(Debug)]
pub struct Fixtures {
    tag: String,
    non_rk: Attestation,
    /// The newest account of each RP of [`ACCOUNTS`], whose key signs the
    /// first username-less response.
    newest: Vec<Attestation>,
    ping16: Vec<u8>,
    ping1000: Vec<u8>,
}

impl Fixtures {
    /// Registers the credentials on `key`; `tag` keeps their RP ids apart
    /// from any earlier run's.
    pub fn prepare(key: &mut Key, tag: &str) -> Result<Self> {
        let (_, non_rk) =
            make_credential(key, &mc_request(&rp(tag, RP_NON_RK), b"bench-nd", false)?)?;
        let mut newest = Vec::new();
        for accounts in ACCOUNTS {
            let rp = accounts_rp(tag, accounts);
            let mut last = None;
            for i in 0..accounts {
                let user = format!("account-{i}");
                last = Some(make_credential(key, &mc_request(&rp, user.as_bytes(), true)?)?.1);
            }
            newest.push(last.context("an RP without accounts")?);
        }
        let fixtures = Fixtures {
            tag: tag.to_owned(),
            non_rk,
            newest,
            ping16: pattern(16),
            ping1000: pattern(1000),
        };
        for _ in 0..WARMUP {
            for op in &OPS {
                if !op.stores {
                    (op.run)(key, &fixtures, 0)?;
                }
            }
        }
        Ok(fixtures)
    }
}

fn rp(tag: &str, base: &str) -> String {
    format!("{tag}.{base}")
}

fn accounts_rp(tag: &str, accounts: u64) -> String {
    rp(tag, &format!("accounts-{accounts}.bench.example"))
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
    let fixtures = Fixtures::prepare(key, tag)?;
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
    ensure!(echo == data, "PING echoed {} other bytes", echo.len());
    Ok(d)
}

fn get_info(key: &mut Key) -> Result<Duration> {
    let t = Instant::now();
    let body = key.command(command::GET_INFO, &[]).context("getInfo")?;
    let d = t.elapsed();
    Info::parse(&body).context("getInfo response")?;
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
    let att = Attestation::parse(&body, req).context("makeCredential response")?;
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
        .context("getAssertion response")?;
    Ok((d, a))
}

/// getAssertion naming the credential; the signature is verified after timing.
fn assertion_allow_list(key: &mut Key, rp: &str, cred: &Attestation) -> Result<Duration> {
    let cdh = client_data_hash()?;
    let mut req = GetAssertionRequest::new(rp, cdh);
    req.allow_list = vec![cred.credential_id().to_vec()];
    let (d, a) = get_assertion(key, &req)?;
    a.verify(cred.public_key(), &cdh)
        .context("allowList assertion signature")?;
    Ok(d)
}

/// The username-less getAssertion on the RP of `ACCOUNTS[which]`.
fn username_less(key: &mut Key, f: &Fixtures, which: usize) -> Result<Duration> {
    let accounts = accounts(which)?;
    let newest = f.newest.get(which).context("no such fixture")?;
    assertion_username_less(key, &accounts_rp(&f.tag, accounts), accounts, Some(newest))
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
    let accounts = accounts(which)?;
    let rp = accounts_rp(&f.tag, accounts);
    key.get_assertion(&GetAssertionRequest::new(&rp, client_data_hash()?))
        .context("getAssertion before getNextAssertion")?;
    for _ in 1..step {
        key.get_next_assertion().context("getNextAssertion")?;
    }
    let t = Instant::now();
    let body = key
        .command(command::GET_NEXT_ASSERTION, &[])
        .context("getNextAssertion")?;
    let d = t.elapsed();
    ensure!(!body.is_empty(), "getNextAssertion returned nothing");
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
