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

/// Relying parties of the benchmark's credentials.
const RP_NON_RK: &str = "bench.example";
const RP_RK: &str = "rk.bench.example";
const RP_ONE: &str = "one.bench.example";
const RP_TEN: &str = "ten.bench.example";
/// Accounts on the RP of the second username-less variant.
const TEN_ACCOUNTS: u64 = 10;
/// Untimed rounds of each operation before measuring (caches, allocator, TCP).
pub const WARMUP: usize = 20;

pub type Key = Ctap2<UsbipDevice>;

/// Sample counts of one run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub iterations: usize,
    pub rk_iterations: usize,
}

/// Runs every timed operation and returns one summary per operation, in order.
pub fn run_all(key: &mut Key, plan: Plan) -> Result<Vec<Summary>> {
    let ping16 = pattern(16);
    let ping1000 = pattern(1000);
    // A non-discoverable credential for the allowList case.
    let (_, nd) = make_credential(key, &mc_request(RP_NON_RK, b"bench-nd", false)?)?;
    // Discoverable credentials for the username-less cases.
    let (_, one) = make_credential(key, &mc_request(RP_ONE, b"bench-one", true)?)?;
    for i in 0..TEN_ACCOUNTS {
        make_credential(
            key,
            &mc_request(RP_TEN, format!("ten-{i}").as_bytes(), true)?,
        )?;
    }

    for _ in 0..WARMUP {
        ping(key, &ping16)?;
        get_info(key)?;
        make_credential(key, &mc_request(RP_NON_RK, b"warm", false)?)?;
        assertion_allow_list(key, &nd)?;
        assertion_username_less(key, RP_ONE, 1, Some(&one))?;
    }

    let mut rows = Vec::new();
    let mut add = |name: &str, samples: Vec<Duration>| {
        if let Some(s) = Summary::of(name, &samples) {
            rows.push(s);
        }
    };
    let n = plan.iterations;
    add("CTAPHID PING 16 B", repeat(n, |_| ping(key, &ping16))?);
    add("CTAPHID PING 1000 B", repeat(n, |_| ping(key, &ping1000))?);
    add("getInfo", repeat(n, |_| get_info(key))?);
    add(
        "makeCredential, non-resident",
        repeat(n, |i| {
            let user = format!("nd-{i}");
            Ok(make_credential(key, &mc_request(RP_NON_RK, user.as_bytes(), false)?)?.0)
        })?,
    );
    add(
        "makeCredential, resident (rk, stored)",
        repeat(plan.rk_iterations, |i| {
            let user = format!("rk-{i}");
            Ok(make_credential(key, &mc_request(RP_RK, user.as_bytes(), true)?)?.0)
        })?,
    );
    add(
        "getAssertion, allowList of 1",
        repeat(n, |_| assertion_allow_list(key, &nd))?,
    );
    add(
        "getAssertion, username-less, 1 account",
        repeat(n, |_| assertion_username_less(key, RP_ONE, 1, Some(&one)))?,
    );
    add(
        "getAssertion, username-less, 10 accounts (1st)",
        repeat(n, |_| {
            assertion_username_less(key, RP_TEN, TEN_ACCOUNTS, None)
        })?,
    );
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
fn assertion_allow_list(key: &mut Key, cred: &Attestation) -> Result<Duration> {
    let cdh = client_data_hash()?;
    let mut req = GetAssertionRequest::new(RP_NON_RK, cdh);
    req.allow_list = vec![cred.credential_id().to_vec()];
    let (d, a) = get_assertion(key, &req)?;
    a.verify(cred.public_key(), &cdh)
        .context("allowList assertion signature")?;
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
