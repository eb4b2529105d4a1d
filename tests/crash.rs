//! End-to-end crash test: `softkey serve` is killed with SIGKILL at
//! random moments while a client registers discoverable credentials in a
//! loop, then restarted on the same vault, hundreds of times. Every
//! credential whose makeCredential response the client received and verified
//! must be there at the end (`softkey list --json`, an allowList assertion
//! verified under the recorded public key, and a username-less walk over the
//! many accounts of one RP), every restart must open the vault, and the
//! signature counter must never go backwards across a kill (WebAuthn §6.1.1).
//!
//! `SOFTKEY_CRASH_KILLS` sets the number of kills (default 200) and
//! `SOFTKEY_CRASH_SEED` replays a run (the seed is printed).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{Server, TestVault};
use softkey_conformance::Error;
use softkey_conformance::ctap2::{
    CredentialPublicKey, Ctap2, GetAssertionRequest, MakeCredentialRequest, UserEntity, flags,
};
use softkey_conformance::hex;
use softkey_conformance::usbip::UsbipDevice;

/// One RP that collects many accounts, so username-less lookups walk a long list.
const SHARED_RP: &str = "crash-shared.example";

/// A credential the client saw acknowledged: the full response arrived and verified.
#[derive(Debug, Clone)]
struct Acked {
    rp_id: String,
    user_id: Vec<u8>,
    credential_id: Vec<u8>,
    public_key: CredentialPublicKey,
}

/// State the client thread and the killer share.
#[derive(Debug, Default)]
struct Shared {
    acked: Mutex<Vec<Acked>>,
    /// A request has been sent and its response not yet fully received.
    in_flight: AtomicBool,
    /// Set just before SIGKILL: transport errors after this are expected.
    killed: AtomicBool,
    /// Sequence numbers for user ids and RP ids, never reused across rounds
    /// (a reused RP+user would let CTAP overwrite an acknowledged credential).
    next_seq: AtomicU64,
}

/// What one client round saw.
#[derive(Debug, Default)]
struct RoundLog {
    /// Signature counters in the order the responses arrived.
    counters: Vec<u32>,
    acked: usize,
    /// A failure that is not the kill (an error answer, a bad response, a hang).
    failure: Option<String>,
}

/// splitmix64: a small seeded generator, so a failing run can be replayed.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn hash(label: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(label.as_bytes()).into()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}"))
    })
}

/// Every third credential goes to the shared RP under its own user id; the
/// others each get an RP of their own.
fn request_for(seq: u64) -> MakeCredentialRequest {
    let (rp, user) = if seq.is_multiple_of(3) {
        (SHARED_RP.to_string(), format!("user{seq}"))
    } else {
        (format!("crash{seq}.example"), format!("solo{seq}"))
    };
    let mut req = MakeCredentialRequest::new(hash(&format!("mc {seq}")), &rp, user.as_bytes());
    req.user = UserEntity {
        id: user.as_bytes().to_vec(),
        name: Some(format!("{user}@example.com")),
        display_name: None,
    };
    req.rk = Some(true);
    req
}

/// Whether an error is what a killed server looks like from the client.
fn is_kill_symptom(e: &Error, shared: &Shared) -> bool {
    matches!(e, Error::Io(_) | Error::Timeout(_)) && shared.killed.load(Ordering::SeqCst)
}

/// The client side of one round: attach, then register until the server dies.
fn client_round(addr: SocketAddr, shared: &Shared, ready: &mpsc::Sender<()>) -> RoundLog {
    let mut log = RoundLog::default();
    let mut key = match Ctap2::connect(addr, "1-1") {
        Ok(key) => key,
        Err(e) => {
            if !is_kill_symptom(&e, shared) {
                log.failure = Some(format!("attach failed before the kill: {e}"));
            }
            return log;
        }
    };
    let _ = ready.send(());
    for op in 0u64.. {
        let result = if op % 8 == 7 {
            username_less_check(&mut key, shared, &mut log)
        } else {
            register_one(&mut key, shared, &mut log)
        };
        if let Err(e) = result {
            if !is_kill_symptom(&e, shared) {
                log.failure = Some(format!("request {op} failed before the kill: {e}"));
            }
            return log;
        }
    }
    log
}

fn register_one(
    key: &mut Ctap2<UsbipDevice>,
    shared: &Shared,
    log: &mut RoundLog,
) -> Result<(), Error> {
    let seq = shared.next_seq.fetch_add(1, Ordering::SeqCst);
    let req = request_for(seq);
    shared.in_flight.store(true, Ordering::SeqCst);
    let result = key.make_credential(&req);
    shared.in_flight.store(false, Ordering::SeqCst);
    // make_credential parsed the whole response and verified the attestation.
    let att = result?;
    if att.flags() & flags::AT == 0 || att.credential_id().is_empty() {
        return Err(Error::Verify("no attested credential".into()));
    }
    log.counters.push(att.sign_count());
    log.acked += 1;
    shared.acked.lock().unwrap().push(Acked {
        rp_id: req.rp.id.clone(),
        user_id: req.user.id.clone(),
        credential_id: att.credential_id().to_vec(),
        public_key: att.public_key().clone(),
    });
    Ok(())
}

/// A username-less login on the shared RP while the round runs: it must
/// count at least every shared-RP credential acknowledged so far (including
/// those from before earlier kills), and its signature must verify if it
/// names one of them.
fn username_less_check(
    key: &mut Ctap2<UsbipDevice>,
    shared: &Shared,
    log: &mut RoundLog,
) -> Result<(), Error> {
    let known: HashMap<Vec<u8>, CredentialPublicKey> = shared
        .acked
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.rp_id == SHARED_RP)
        .map(|a| (a.credential_id.clone(), a.public_key.clone()))
        .collect();
    if known.is_empty() {
        return Ok(());
    }
    let cdh = hash(&format!("login {}", log.counters.len()));
    shared.in_flight.store(true, Ordering::SeqCst);
    let result = key.get_assertion(&GetAssertionRequest::new(SHARED_RP, cdh));
    shared.in_flight.store(false, Ordering::SeqCst);
    let a = result?;
    log.counters.push(a.sign_count());
    let count = a.number_of_credentials.unwrap_or(1) as usize;
    if count < known.len() {
        return Err(Error::Verify(format!(
            "username-less login on {SHARED_RP} counts {count} accounts, {} were acknowledged",
            known.len()
        )));
    }
    if let Some(pk) = known.get(&a.credential_id) {
        a.verify(pk, &cdh)?;
    }
    Ok(())
}

fn serve_args(vault: &TestVault) -> Vec<String> {
    [vault.serve_args(), vec!["--presence".into(), "auto".into()]].concat()
}

fn start_or_fail(vault: &TestVault, what: &str) -> Server {
    Server::try_start(&serve_args(vault))
        .unwrap_or_else(|stderr| panic!("{what}: the vault did not open; stderr:\n{stderr}"))
}

/// Credential IDs (hex) that `softkey list --json` reports, server stopped.
fn listed_credential_ids(vault: &TestVault) -> HashSet<String> {
    let json = vault.list_json();
    let marker = "\"credential_id\":\"";
    json.match_indices(marker)
        .map(|(at, _)| {
            let rest = &json[at + marker.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

#[test]
fn sigkill_during_registrations_loses_no_acknowledged_credential() {
    let kills = env_u64("SOFTKEY_CRASH_KILLS").unwrap_or(200);
    assert!(kills > 0, "SOFTKEY_CRASH_KILLS must be at least 1");
    let seed = env_u64("SOFTKEY_CRASH_SEED").unwrap_or_else(|| {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).unwrap();
        u64::from_le_bytes(b)
    });
    println!("crash: seed {seed} (SOFTKEY_CRASH_SEED={seed} replays the kill timing)");
    let mut rng = Rng(seed);
    let started = Instant::now();

    let vault = TestVault::create("crash");
    let shared = Arc::new(Shared::default());
    let mut mid_request = 0u64;
    let mut last_counter = 0u32;

    for round in 0..kills {
        let mut server = start_or_fail(&vault, &format!("restart {round}"));
        let (ready_tx, ready_rx) = mpsc::channel();
        let client = {
            let shared = shared.clone();
            let addr = server.addr;
            thread::spawn(move || client_round(addr, &shared, &ready_tx))
        };
        // One round in ten dies during attach or right after; the rest while
        // the registrations run: mostly within 40 ms, one in five later so the
        // vault accumulates enough accounts for long username-less walks.
        let delay = match rng.below(10) {
            0 => Duration::from_micros(rng.below(5_000)),
            pick => {
                // Err: the client gave up before attaching; its log says why.
                let _ = ready_rx.recv_timeout(Duration::from_secs(30));
                let max_ms = if pick >= 8 { 150 } else { 40 };
                Duration::from_micros(rng.below(max_ms * 1_000))
            }
        };
        thread::sleep(delay);
        shared.killed.store(true, Ordering::SeqCst);
        if shared.in_flight.load(Ordering::SeqCst) {
            mid_request += 1;
        }
        server.kill();
        let log = client.join().unwrap();
        shared.killed.store(false, Ordering::SeqCst);
        shared.in_flight.store(false, Ordering::SeqCst);
        if let Some(failure) = log.failure {
            panic!(
                "round {round} (seed {seed}): {failure}\nserver stderr:\n{}",
                server.stderr()
            );
        }
        // The counter never goes backwards, within a round or across a kill.
        for &c in &log.counters {
            assert!(
                c > last_counter,
                "round {round} (seed {seed}): counter {c} after {last_counter}"
            );
            last_counter = c;
        }
    }
    let acked = shared.acked.lock().unwrap().clone();
    let kill_phase = started.elapsed();

    // 1. The vault as the CLI sees it, server stopped.
    let listed = listed_credential_ids(&vault);
    let lost: Vec<&Acked> = acked
        .iter()
        .filter(|a| !listed.contains(&hex(&a.credential_id)))
        .collect();
    assert!(
        lost.is_empty(),
        "seed {seed}: {} of {} acknowledged credentials missing from `softkey list`, e.g. {:?}",
        lost.len(),
        acked.len(),
        lost.first().map(|a| (&a.rp_id, hex(&a.credential_id)))
    );

    // 2. Every acknowledged credential still signs, under its recorded key,
    //    with a counter above every value seen before.
    let server = start_or_fail(&vault, "final start");
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    for (i, a) in acked.iter().enumerate() {
        let cdh = hash(&format!("final {i}"));
        let mut req = GetAssertionRequest::new(&a.rp_id, cdh);
        req.allow_list = vec![a.credential_id.clone()];
        let got = key
            .get_assertion(&req)
            .unwrap_or_else(|e| panic!("seed {seed}: {} lost: {e}", a.rp_id));
        got.verify(&a.public_key, &cdh).unwrap();
        assert_eq!(got.credential_id, a.credential_id);
        assert!(
            got.sign_count() > last_counter,
            "seed {seed}: counter went back"
        );
        last_counter = got.sign_count();
    }

    // 3. Username-less on the shared RP: every acknowledged account is found.
    let shared_rp: HashMap<&[u8], &Acked> = acked
        .iter()
        .filter(|a| a.rp_id == SHARED_RP)
        .map(|a| (a.credential_id.as_slice(), a))
        .collect();
    if !shared_rp.is_empty() {
        let cdh = hash("final username-less");
        let first = key
            .get_assertion(&GetAssertionRequest::new(SHARED_RP, cdh))
            .unwrap();
        let total = first.number_of_credentials.unwrap_or(1);
        let mut found = HashSet::new();
        let mut next = Some(first);
        for _ in 0..total {
            let a = next
                .take()
                .unwrap_or_else(|| key.get_next_assertion().unwrap());
            if let Some(known) = shared_rp.get(a.credential_id.as_slice()) {
                a.verify(&known.public_key, &cdh).unwrap();
                assert_eq!(a.user.as_ref().unwrap().id, known.user_id);
            }
            found.insert(a.credential_id.clone());
        }
        let missing = shared_rp.keys().filter(|id| !found.contains(**id)).count();
        assert_eq!(
            missing, 0,
            "seed {seed}: username-less login misses accounts"
        );
    }
    drop(key);
    drop(server);

    println!(
        "crash: {kills} kills ({mid_request} mid-request), {} credentials acknowledged, 0 lost \
         ({} in the vault, file {} KiB; kills {:.1} s, checks {:.1} s)",
        acked.len(),
        listed.len(),
        std::fs::metadata(&vault.path).unwrap().len() / 1024,
        kill_phase.as_secs_f64(),
        started.elapsed().as_secs_f64() - kill_phase.as_secs_f64(),
    );
}
