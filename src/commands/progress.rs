//! Progress for slow steps (the Argon2id KDF takes about a second by
//! design): one line on stderr, with an elapsed-time ticker while the work
//! runs when stderr is a terminal ("Unlocking … 0.4 s", then "unlocked in
//! 0.6 s"). On a pipe or file (journald, CI logs) no ticker: the label when
//! the work starts and a second line with its time when it ends.

use std::io::{IsTerminal, Write};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(100);

/// Runs `work` while showing `label` ("Unlocking x (Argon2id, 64 MiB, 3
/// passes)"); on success the line ends with "`done` in 0.6 s".
pub fn run<T, E>(label: &str, done: &str, work: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let terminal = std::io::stderr().is_terminal();
    let started = Instant::now();
    if !terminal {
        eprintln!("{label}…");
        let result = work();
        eprintln!("  {}", ending(&result, done, started));
        return result;
    }
    let (stop, stopped) = mpsc::channel::<()>();
    let result = thread::scope(|scope| {
        scope.spawn(move || {
            show(&format!("{label}… 0.0 s"));
            // Disconnected (the work is done) ends the ticker.
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                show(&format!(
                    "{label}… {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
            }
        });
        let result = work();
        drop(stop);
        result
    });
    show(&format!("{label}… {}\n", ending(&result, done, started)));
    result
}

/// "unlocked in 0.6 s" or "failed after 0.6 s".
fn ending<T, E>(result: &Result<T, E>, done: &str, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64();
    match result {
        Ok(_) => format!("{done} in {secs:.1} s"),
        Err(_) => format!("failed after {secs:.1} s"),
    }
}

/// Rewrites the current terminal line (carriage return, erase to the end).
fn show(line: &str) {
    let mut err = std::io::stderr().lock();
    // Progress is best effort: a closed stderr must not fail the command.
    let _ = write!(err, "\r\x1b[K{line}");
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_work_result_either_way() {
        assert_eq!(run("Testing", "done", || Ok::<_, ()>(7)), Ok(7));
        assert_eq!(run("Testing", "done", || Err::<(), _>("no")), Err("no"));
    }
}
