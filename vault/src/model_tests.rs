//! Model-based crash test (FORMAT.md "Testing"; OpenSK's persistent_store is the pattern).
//!
//! A seeded random sequence of put / delete / apply / compact / change_passphrase / add and
//! remove a key slot runs against
//! the vault on the simulated disk and against a plain map (the model). Every operation is then
//! replayed from its starting disk under every failure point it has: each storage step failing
//! with EIO or ENOSPC (once, or from then on), and each write torn after many byte offsets
//! (every byte for small writes). After each failure the handle must hold the state before (on
//! Err) or after (on Ok) the operation; after a crash (durable only, everything, or a seeded
//! mix), reopening must succeed and give the state before or after the operation — exactly
//! after if it was acknowledged — and the reopened vault must accept a write that survives a
//! further crash.

use std::collections::BTreeMap;
use std::path::Path;

use crate::sim::{Crash, Disk, Fault, SimStorage, Step};
use crate::{Change, Error, KdfParams, NewSlot, SlotKind, Vault};

const FAST: KdfParams = KdfParams {
    memory_kib: 8 * 1024,
    iterations: 1,
    parallelism: 1,
};
const PATH: &str = "/sim/softkey.vault";
const RECOVERY: &[u8] = b"RECOVERYKEYRECOVERYKEYRECOVERYKE";
/// Small enough that the sequences below compact automatically several times.
const SLACK: u64 = 1024;
/// Small frames, so snapshots and batches span several frames.
const CHUNK: usize = 160;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Clone)]
enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Apply(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    Compact,
    ChangePassphrase(Vec<u8>),
    /// Adds a recovery-key slot, or removes it if the vault has one: the header's version and
    /// slot table change by atomic replace (FORMAT.md "Key slots").
    ToggleRecoverySlot,
}

impl std::fmt::Debug for Op {
    // Short: keys and value lengths only, so a failure message stays readable.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = |k: &[u8]| String::from_utf8_lossy(k).into_owned();
        match self {
            Op::Put(k, v) => write!(f, "Put({}, {} B)", key(k), v.len()),
            Op::Delete(k) => write!(f, "Delete({})", key(k)),
            Op::Apply(c) => {
                let parts: Vec<String> = c
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => format!("+{} {} B", key(k), v.len()),
                        None => format!("-{}", key(k)),
                    })
                    .collect();
                write!(f, "Apply[{}]", parts.join(", "))
            }
            Op::Compact => f.write_str("Compact"),
            Op::ChangePassphrase(_) => f.write_str("ChangePassphrase"),
            Op::ToggleRecoverySlot => f.write_str("ToggleRecoverySlot"),
        }
    }
}

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

    fn bytes(&mut self, len: u64) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn gen_op(rng: &mut Rng, model: &Model, n: usize) -> Op {
    let key = |rng: &mut Rng| format!("k{:02}", rng.below(12)).into_bytes();
    let value = |rng: &mut Rng| {
        let len = if rng.below(6) == 0 {
            150 + rng.below(250)
        } else {
            rng.below(40)
        };
        rng.bytes(len)
    };
    match rng.below(20) {
        0..=7 => Op::Put(key(rng), value(rng)),
        8..=10 => {
            // Mostly existing keys; sometimes an absent one (writes nothing).
            let existing: Vec<_> = model.keys().cloned().collect();
            match existing.get(rng.below(existing.len() as u64 + 1) as usize) {
                Some(k) => Op::Delete(k.clone()),
                None => Op::Delete(b"absent".to_vec()),
            }
        }
        11..=15 => Op::Apply(
            (0..1 + rng.below(5))
                .map(|_| {
                    let k = key(rng);
                    let v = (rng.below(3) != 0).then(|| value(rng));
                    (k, v)
                })
                .collect(),
        ),
        16 => Op::Compact,
        17..=18 => Op::ToggleRecoverySlot,
        _ => Op::ChangePassphrase(format!("pass-{n}").into_bytes()),
    }
}

fn after(model: &Model, op: &Op) -> Model {
    let mut m = model.clone();
    match op {
        Op::Put(k, v) => {
            m.insert(k.clone(), v.clone());
        }
        Op::Delete(k) => {
            m.remove(k);
        }
        Op::Apply(changes) => {
            for (k, v) in changes {
                match v {
                    Some(v) => m.insert(k.clone(), v.clone()),
                    None => m.remove(k),
                };
            }
        }
        Op::Compact | Op::ChangePassphrase(_) | Op::ToggleRecoverySlot => {}
    }
    m
}

fn run(v: &mut Vault, op: &Op) -> Result<(), Error> {
    match op {
        Op::Put(k, val) => v.put(k, val),
        Op::Delete(k) => v.delete(k).map(|_| ()),
        Op::Apply(changes) => {
            let changes: Vec<Change<'_>> = changes
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => Change::Put(k, v),
                    None => Change::Delete(k),
                })
                .collect();
            v.apply(&changes)
        }
        Op::Compact => v.compact(),
        Op::ChangePassphrase(p) => v.change_passphrase(p, FAST),
        Op::ToggleRecoverySlot => {
            if v.slots().iter().any(|s| s.kind == SlotKind::RecoveryKey) {
                v.remove_slot(SlotKind::RecoveryKey)
            } else {
                v.add_slot(NewSlot::RecoveryKey {
                    key: RECOVERY,
                    params: FAST,
                })
            }
        }
    }
}

fn contents(v: &Vault) -> Model {
    v.scan_prefix(b"")
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

fn kinds(v: &Vault) -> Vec<SlotKind> {
    v.slots().iter().map(|s| s.kind).collect()
}

/// If the reopened vault says it has a recovery-key slot, that slot opens the same records: a
/// crash must not leave a slot table that promises a way in that does not work.
fn check_recovery_slot(disk: Disk, v: &Vault, why: &str) {
    if !kinds(v).contains(&SlotKind::RecoveryKey) {
        return;
    }
    let sim = SimStorage::from_disk(disk);
    let by_key = crate::vault::LockedVault::lock_in(Box::new(sim), Path::new(PATH))
        .and_then(|mut locked| locked.unlock_with_recovery_key(RECOVERY))
        .unwrap_or_else(|e| panic!("{why}: the recovery-key slot does not open: {e:?}"));
    assert_eq!(contents(&by_key), contents(v), "{why}: recovery key");
}

/// Opens the disk with the first passphrase that works; a crash must never make it unopenable.
fn reopen(disk: Disk, passes: &[&[u8]], why: &str) -> (SimStorage, Vault) {
    let mut last = None;
    for p in passes {
        let sim = SimStorage::from_disk(disk.clone());
        match Vault::open_in(Box::new(sim.clone()), Path::new(PATH), p) {
            Ok(mut v) => {
                v.set_test_sizes(SLACK, CHUNK);
                return (sim, v);
            }
            Err(e) => last = Some(e),
        }
    }
    panic!("{why}: reopen failed: {last:?}");
}

/// Byte offsets at which to tear a write of `len` bytes.
fn tear_points(len: usize, rng: &mut Rng) -> Vec<usize> {
    if len <= 200 {
        return (0..len).collect();
    }
    let mut v = vec![
        0,
        1,
        3,
        4,
        15,
        16,
        17,
        29,
        30,
        len / 2,
        len - 17,
        len - 16,
        len - 1,
    ];
    v.extend((0..6).map(|_| rng.below(len as u64) as usize));
    v
}

struct Case<'a> {
    before_disk: &'a Disk,
    op: &'a Op,
    before: &'a Model,
    after: &'a Model,
    /// The vault's slot kinds before and after the operation.
    slots_before: &'a [SlotKind],
    slots_after: &'a [SlotKind],
    old_pass: &'a [u8],
    new_pass: &'a [u8],
}

impl Case<'_> {
    fn check(&self, step: usize, fault: Fault, sticky: bool, follow_up: bool, seed: u64) {
        let why = format!(
            "{:?} failing at step {step} with {fault:?} (sticky {sticky})",
            self.op
        );
        let sim = SimStorage::from_disk(self.before_disk.clone());
        let mut v = Vault::open_in(Box::new(sim.clone()), Path::new(PATH), self.old_pass)
            .unwrap_or_else(|e| panic!("{why}: the starting state does not open: {e:?}"));
        v.set_test_sizes(SLACK, CHUNK);
        sim.fail_at(step, fault, sticky);
        let result = run(&mut v, self.op);
        sim.clear_fault();
        // The handle: exactly before on Err, exactly after on Ok.
        let want = if result.is_ok() {
            self.after
        } else {
            self.before
        };
        assert_eq!(&contents(&v), want, "{why}: handle after {result:?}");
        let want_slots = if result.is_ok() {
            self.slots_after
        } else {
            self.slots_before
        };
        // A failed directory fsync (NotDurable) leaves the new header in place in the handle.
        let not_durable = matches!(result, Err(Error::NotDurable(_)));
        assert!(
            kinds(&v) == want_slots || (not_durable && kinds(&v) == self.slots_after),
            "{why}: slots after {result:?}"
        );
        let mut exact = result.is_ok().then(|| self.after.clone());
        let mut exact_slots = result.is_ok().then(|| self.slots_after.to_vec());
        if follow_up {
            // The handle after a failure takes a write; sometimes a key-slot change, which
            // re-wraps the data key with what the handle kept from the failed operation.
            let next = if seed.is_multiple_of(3) {
                run(&mut v, &Op::ToggleRecoverySlot)
            } else {
                v.put(b"zz-marker", &seed.to_le_bytes())
            };
            next.unwrap_or_else(|e| panic!("{why}: write after the fault cleared: {e:?}"));
            exact = Some(contents(&v));
            exact_slots = Some(kinds(&v));
        }
        let passes = [self.new_pass, self.old_pass];
        for crash in [Crash::DurableOnly, Crash::KeepAll, Crash::Mixed(seed)] {
            let why = format!("{why}, {crash:?}, follow-up {follow_up}, result {result:?}");
            let (_, w) = reopen(sim.crash(crash), &passes, &why);
            let got = contents(&w);
            match &exact {
                Some(m) => assert_eq!(&got, m, "{why}"),
                None => assert!(&got == self.before || &got == self.after, "{why}: {got:?}"),
            }
            let got_slots = kinds(&w);
            match &exact_slots {
                Some(k) => assert_eq!(&got_slots, k, "{why}: slots"),
                None => assert!(
                    got_slots == self.slots_before || got_slots == self.slots_after,
                    "{why}: slots {got_slots:?}"
                ),
            }
            check_recovery_slot(sim.crash(crash), &w, &why);
            if let Crash::Mixed(_) = crash {
                // The reopened vault (maybe with a torn tail) takes a write that survives.
                let (sim2, mut w2) = reopen(sim.crash(crash), &passes, &why);
                w2.put(b"zz-post", b"crash")
                    .unwrap_or_else(|e| panic!("{why}: post write: {e:?}"));
                let (_, w3) = reopen(sim2.crash(Crash::DurableOnly), &passes, &why);
                let mut want = got.clone();
                want.insert(b"zz-post".to_vec(), b"crash".to_vec());
                assert_eq!(contents(&w3), want, "{why}: post write lost");
                assert!(w3.generation() > w.generation(), "{why}");
            }
            w.stats();
        }
    }
}

/// Runs one sequence; returns the failure cases checked and the slot toggles it made.
fn model_sequence(seed: u64, ops: usize) -> (usize, usize) {
    let mut rng = Rng(seed);
    let sim = SimStorage::new();
    let mut pass = b"pass-start".to_vec();
    let mut v = Vault::create_in(Box::new(sim.clone()), Path::new(PATH), &pass, FAST).unwrap();
    v.set_test_sizes(SLACK, CHUNK);
    let mut model = Model::new();
    let mut cases = 0;
    let mut compactions = 0;
    let mut toggles = 0;
    for n in 0..ops {
        let op = gen_op(&mut rng, &model, n);
        let before_disk = sim.disk();
        let want = after(&model, &op);
        let frames_before = v.stats().log_records;
        let slots_before = kinds(&v);
        sim.start_trace();
        run(&mut v, &op).unwrap_or_else(|e| panic!("baseline {op:?}: {e:?}"));
        let trace = sim.trace();
        assert_eq!(contents(&v), want, "baseline {op:?}");
        if v.stats().log_records < frames_before
            || matches!(op, Op::Compact | Op::ToggleRecoverySlot)
        {
            compactions += 1;
        }
        toggles += usize::from(matches!(op, Op::ToggleRecoverySlot));
        let new_pass = match &op {
            Op::ChangePassphrase(p) => p.clone(),
            _ => pass.clone(),
        };
        let slots_after = kinds(&v);
        let case = Case {
            before_disk: &before_disk,
            op: &op,
            before: &model,
            after: &want,
            slots_before: &slots_before,
            slots_after: &slots_after,
            old_pass: &pass,
            new_pass: &new_pass,
        };
        for (i, step) in trace.iter().enumerate() {
            let mut faults = vec![
                (Fault::Eio, false),
                (Fault::Eio, true),
                (Fault::Enospc, false),
            ];
            if let Step::Write(len) = step {
                faults.extend(
                    tear_points(*len, &mut rng)
                        .into_iter()
                        .map(|k| (Fault::Torn(k), false)),
                );
            }
            for (fault, sticky) in faults {
                cases += 1;
                case.check(i, fault, sticky, cases % 2 == 0, rng.next());
            }
        }
        model = want;
        pass = new_pass;
    }
    assert!(
        compactions >= 3,
        "the sequence should compact (got {compactions})"
    );
    let (_, v2) = reopen(sim.crash(Crash::DurableOnly), &[&pass], "final");
    assert_eq!(contents(&v2), model);
    assert_eq!(v2.generation(), v.generation());
    (cases, toggles)
}

#[test]
fn every_failure_point_leaves_the_state_before_or_after() {
    let (mut cases, mut toggles) = (0, 0);
    for seed in [1, 2] {
        let (c, t) = model_sequence(seed, 30);
        cases += c;
        toggles += t;
    }
    assert!(cases > 1000, "only {cases} cases");
    assert!(toggles >= 2, "only {toggles} key-slot changes");
}
