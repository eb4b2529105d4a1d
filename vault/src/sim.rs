//! A simulated disk for tests (FORMAT.md "Testing"): the model of what a crash can leave.
//!
//! Each file (inode) has its current bytes and its durable bytes (as of its last sync); the
//! directory has current and durable entries (a create or rename is durable only after a
//! directory fsync). Every storage call is one or more numbered steps; a test can make any step
//! fail with EIO or ENOSPC, tear a write after any byte, or keep failing from that step on
//! ("sticky", a disk gone bad). A crash keeps the durable state plus, depending on the mode,
//! the unsynced directory changes and any prefix of the unsynced appended bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use zeroize::Zeroizing;

use crate::Error;
use crate::storage::{LockGuard, Storage};

#[derive(Clone, Debug, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
}

/// The whole simulated disk.
#[derive(Clone, Debug, Default)]
pub(crate) struct Disk {
    inodes: Vec<Inode>,
    dir: BTreeMap<PathBuf, usize>,
    dir_durable: BTreeMap<PathBuf, usize>,
}

impl Disk {
    /// Current bytes of the file at `path`.
    pub fn file(&self, path: &Path) -> Option<&[u8]> {
        let ino = self.dir.get(path)?;
        self.inodes.get(*ino).map(|i| i.data.as_slice())
    }
}

/// How a step fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    Eio,
    Enospc,
    /// A write stores only its first `n` bytes, then fails with ENOSPC.
    Torn(usize),
}

/// What a step did (recorded so a test can enumerate every failure point).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Read,
    Write(usize),
    Sync,
    SetLen,
    Create,
    Rename,
    Remove,
    SyncDir,
}

/// What survives a crash besides the durable state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Crash {
    /// Nothing unsynced.
    DurableOnly,
    /// Everything, as if the kernel had flushed it all.
    KeepAll,
    /// Seeded choice: unsynced directory changes or not, and per file a random prefix of its
    /// unsynced appended bytes.
    Mixed(u64),
}

#[derive(Debug, Default)]
struct State {
    disk: Disk,
    locked: BTreeSet<PathBuf>,
    step: usize,
    fault: Option<(usize, Fault, bool)>,
    trace: Vec<Step>,
}

impl State {
    /// Runs step bookkeeping; for a write returns how many bytes to store before failing.
    fn step(&mut self, kind: Step) -> Result<(), (usize, io::Error)> {
        let i = self.step;
        self.step += 1;
        self.trace.push(kind);
        let Some((at, fault, sticky)) = self.fault else {
            return Ok(());
        };
        if i != at && !(sticky && i > at) {
            return Ok(());
        }
        let errno = |n| io::Error::from_raw_os_error(n);
        match (fault, kind) {
            (Fault::Torn(n), Step::Write(len)) if i == at => Err((n.min(len), errno(28))),
            (Fault::Enospc, _) => Err((0, errno(28))),
            _ => Err((0, errno(5))),
        }
    }

    fn inode(&mut self, path: &Path) -> io::Result<&mut Inode> {
        let ino = *self.disk.dir.get(path).ok_or(io::ErrorKind::NotFound)?;
        self.disk
            .inodes
            .get_mut(ino)
            .ok_or_else(|| io::ErrorKind::NotFound.into())
    }

    /// A write step: all of `bytes`, or a torn prefix and an error.
    fn write(&mut self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let outcome = self.step(Step::Write(bytes.len()));
        let keep = match &outcome {
            Ok(()) => bytes.len(),
            Err((n, _)) => *n,
        };
        self.inode(path)?
            .data
            .extend_from_slice(bytes.get(..keep).unwrap_or(bytes));
        outcome.map_err(|(_, e)| e)
    }

    fn sync(&mut self, path: &Path) -> io::Result<()> {
        self.step(Step::Sync).map_err(|(_, e)| e)?;
        let inode = self.inode(path)?;
        inode.durable = inode.data.clone();
        Ok(())
    }

    fn simple(&mut self, kind: Step) -> io::Result<()> {
        self.step(kind).map_err(|(_, e)| e)
    }
}

/// A handle on one simulated disk; clones share it.
#[derive(Clone, Debug, Default)]
pub(crate) struct SimStorage(Arc<Mutex<State>>);

struct SimLock {
    state: Arc<Mutex<State>>,
    path: PathBuf,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        if let Ok(mut s) = self.state.lock() {
            s.locked.remove(&self.path);
        }
    }
}

impl SimStorage {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_disk(disk: Disk) -> Self {
        Self(Arc::new(Mutex::new(State {
            disk,
            ..State::default()
        })))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The disk as it is now (unsynced changes included).
    pub fn disk(&self) -> Disk {
        self.state().disk.clone()
    }

    /// Restarts step numbering and the trace; the `at`-th step from now fails with `fault`.
    pub fn fail_at(&self, at: usize, fault: Fault, sticky: bool) {
        let mut s = self.state();
        s.step = 0;
        s.trace.clear();
        s.fault = Some((at, fault, sticky));
    }

    pub fn clear_fault(&self) {
        self.state().fault = None;
    }

    /// Restarts step numbering and recording.
    pub fn start_trace(&self) {
        let mut s = self.state();
        s.step = 0;
        s.trace.clear();
    }

    pub fn trace(&self) -> Vec<Step> {
        self.state().trace.clone()
    }

    /// The disk a crash now would leave behind.
    pub fn crash(&self, mode: Crash) -> Disk {
        let s = self.state();
        let mut rng = match mode {
            Crash::Mixed(seed) => seed,
            _ => 0,
        };
        let mut coin = move || {
            // splitmix64
            rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let keep_dir = match mode {
            Crash::DurableOnly => false,
            Crash::KeepAll => true,
            Crash::Mixed(_) => coin() & 1 == 1,
        };
        let dir = if keep_dir {
            s.disk.dir.clone()
        } else {
            s.disk.dir_durable.clone()
        };
        let inodes = s
            .disk
            .inodes
            .iter()
            .map(|i| {
                let kept = if i.data.starts_with(&i.durable) {
                    let extra = i.data.len() - i.durable.len();
                    let n = match mode {
                        Crash::DurableOnly => 0,
                        Crash::KeepAll => extra,
                        Crash::Mixed(_) => (coin() % (extra as u64 + 1)) as usize,
                    };
                    i.data
                        .get(..i.durable.len() + n)
                        .unwrap_or(&i.data)
                        .to_vec()
                } else if mode == Crash::KeepAll
                    || (matches!(mode, Crash::Mixed(_)) && coin() & 1 == 1)
                {
                    i.data.clone()
                } else {
                    i.durable.clone()
                };
                Inode {
                    data: kept.clone(),
                    durable: kept,
                }
            })
            .collect();
        Disk {
            inodes,
            dir: dir.clone(),
            dir_durable: dir,
        }
    }
}

impl Storage for SimStorage {
    fn lock(&self, path: &Path) -> Result<LockGuard, Error> {
        if !self.state().locked.insert(path.to_path_buf()) {
            return Err(Error::Locked);
        }
        Ok(Box::new(SimLock {
            state: Arc::clone(&self.0),
            path: path.to_path_buf(),
        }))
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        Ok(self.state().disk.dir.contains_key(path))
    }

    fn ensure_parent_dir(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }

    fn read(&self, path: &Path, max: u64) -> Result<Zeroizing<Vec<u8>>, Error> {
        let mut s = self.state();
        s.simple(Step::Read)?;
        let data = s
            .disk
            .file(path)
            .ok_or_else(|| Error::NotFound(path.to_path_buf()))?;
        if data.len() as u64 > max {
            return Err(Error::Malformed("file larger than any vault can be"));
        }
        Ok(Zeroizing::new(data.to_vec()))
    }

    fn read_prefix(&self, path: &Path, len: usize) -> Result<Vec<u8>, Error> {
        let whole = self.read(path, u64::MAX)?;
        Ok(whole.iter().copied().take(len).collect())
    }

    fn append_durable(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.state();
        s.inode(path)?;
        s.write(path, bytes)?;
        s.sync(path)
    }

    fn truncate_durable(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut s = self.state();
        s.simple(Step::SetLen)?;
        s.inode(path)?.data.resize(len as usize, 0);
        s.sync(path)
    }

    fn write_new_durable(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.state();
        s.simple(Step::Create)?;
        if s.disk.dir.contains_key(path) {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        s.disk.inodes.push(Inode::default());
        let ino = s.disk.inodes.len() - 1;
        s.disk.dir.insert(path.to_path_buf(), ino);
        s.write(path, bytes)?;
        s.sync(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.state();
        s.simple(Step::Rename)?;
        let ino = s.disk.dir.remove(from).ok_or(io::ErrorKind::NotFound)?;
        s.disk.dir.insert(to.to_path_buf(), ino);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state();
        s.simple(Step::Remove)?;
        s.disk.dir.remove(path);
        Ok(())
    }

    fn sync_dir(&self, _path: &Path) -> io::Result<()> {
        let mut s = self.state();
        s.simple(Step::SyncDir)?;
        s.disk.dir_durable = s.disk.dir.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulation_models_durability() {
        let sim = SimStorage::new();
        let p = Path::new("/v");
        let t = Path::new("/v.tmp");
        sim.write_new_durable(t, b"abc").unwrap();
        sim.rename(t, p).unwrap();
        // The rename is not durable before the directory fsync.
        assert!(sim.crash(Crash::DurableOnly).file(p).is_none());
        assert_eq!(sim.crash(Crash::KeepAll).file(p), Some(&b"abc"[..]));
        sim.sync_dir(p).unwrap();
        sim.append_durable(p, b"def").unwrap();
        sim.fail_at(1, Fault::Eio, false); // the sync of the next append
        assert!(sim.append_durable(p, b"ghi").is_err());
        assert_eq!(sim.crash(Crash::DurableOnly).file(p), Some(&b"abcdef"[..]));
        assert_eq!(sim.crash(Crash::KeepAll).file(p), Some(&b"abcdefghi"[..]));
        let mixed: BTreeSet<_> = (0..64)
            .map(|s| sim.crash(Crash::Mixed(s)).file(p).unwrap().len())
            .collect();
        assert_eq!(mixed, (6..=9).collect());
        sim.fail_at(0, Fault::Torn(2), false);
        assert_eq!(
            sim.append_durable(p, b"jkl").unwrap_err().raw_os_error(),
            Some(28)
        );
        assert_eq!(sim.disk().file(p), Some(&b"abcdefghijk"[..]));
        assert_eq!(sim.trace(), [Step::Write(3)]);
        sim.fail_at(0, Fault::Eio, true);
        assert!(sim.truncate_durable(p, 6).is_err());
        assert!(sim.sync_dir(p).is_err(), "sticky faults keep failing");
        sim.clear_fault();
        sim.truncate_durable(p, 6).unwrap();
        assert_eq!(sim.crash(Crash::DurableOnly).file(p), Some(&b"abcdef"[..]));
        let lock = sim.lock(p).unwrap();
        assert!(matches!(sim.lock(p), Err(Error::Locked)));
        drop(lock);
        sim.lock(p).unwrap();
    }
}
