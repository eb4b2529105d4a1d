//! Starts the real `softkey` binary as a process on a free loopback port.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

pub const PASSPHRASE: &str = "correct horse battery staple";

pub fn softkey() -> Command {
    Command::new(env!("CARGO_BIN_EXE_softkey"))
}

/// A fresh directory under the target dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let mut bytes = [0u8; 6];
        getrandom::fill(&mut bytes).unwrap();
        let dir = base.join(format!(
            "{name}-{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A vault made with `softkey init` (fast KDF settings so tests stay quick).
pub struct TestVault {
    pub dir: TempDir,
    pub path: PathBuf,
    pub passphrase_file: PathBuf,
}

impl TestVault {
    pub fn create(name: &str) -> Self {
        let dir = TempDir::new(name);
        let path = dir.path().join("vault.softkey");
        let passphrase_file = dir.path().join("passphrase");
        std::fs::write(&passphrase_file, format!("{PASSPHRASE}\n")).unwrap();
        let out = softkey()
            .args([
                "init",
                "--kdf-memory-mib",
                "8",
                "--kdf-iterations",
                "1",
                "--vault",
            ])
            .arg(&path)
            .arg("--passphrase-file")
            .arg(&passphrase_file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            dir,
            path,
            passphrase_file,
        }
    }

    pub fn serve_args(&self) -> Vec<String> {
        vec![
            "--vault".into(),
            self.path.display().to_string(),
            "--passphrase-file".into(),
            self.passphrase_file.display().to_string(),
        ]
    }
}

/// A running `softkey serve`, killed on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<String>>,
    stdout_lines: Receiver<String>,
    stderr_reader: Option<thread::JoinHandle<()>>,
}

impl Server {
    /// `softkey serve --ephemeral --presence auto` on a free port.
    pub fn ephemeral() -> Self {
        Self::start(&["--ephemeral", "--presence", "auto"])
    }

    pub fn start<S: AsRef<str>>(args: &[S]) -> Self {
        Self::try_start(args)
            .unwrap_or_else(|stderr| panic!("softkey serve did not start; stderr:\n{stderr}"))
    }

    /// Like [`Server::start`], but a server that exits (or stays silent for
    /// 60 s) before its listen line is `Err(its stderr)` instead of a panic.
    pub fn try_start<S: AsRef<str>>(args: &[S]) -> Result<Self, String> {
        let mut child = softkey()
            .arg("serve")
            .args(args.iter().map(AsRef::as_ref))
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let stderr_reader = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, stdout_lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut server = Self {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            stdin,
            stderr,
            stdout_lines,
            stderr_reader: Some(stderr_reader),
        };
        server.addr = server.wait_for_listen()?;
        Ok(server)
    }

    fn wait_for_listen(&mut self) -> Result<SocketAddr, String> {
        loop {
            match self.stdout_lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("softkey: serving on ") {
                        let addr = rest.split_whitespace().next().unwrap();
                        return Ok(addr.parse().unwrap());
                    }
                }
                Err(_) => {
                    // Reap it and drain its stderr, so the text is complete.
                    self.kill();
                    if let Some(reader) = self.stderr_reader.take() {
                        let _ = reader.join();
                    }
                    return Err(self.stderr());
                }
            }
        }
    }

    /// The next line `serve` printed after the listen line, if any within 5 s.
    pub fn next_stdout_line(&self) -> Option<String> {
        self.stdout_lines.recv_timeout(Duration::from_secs(5)).ok()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr contains `needle` (e.g. a prompt), up to `timeout`.
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if self.stderr().contains(needle) {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }

    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL and reap: a crash, as far as the vault is concerned.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
