//! The terminal prompt: names the site, the account and the operation, says
//! how to answer, and waits for y/n with a countdown (CTAP 2.1 §5.1 user
//! presence, as a person at the terminal gives it). Reads standard input on
//! its own thread so that a cancel from the platform (CTAPHID_CANCEL,
//! CTAP 2.1 §11.2.9.1.5) or a stopping server closes the prompt at once.
//!
//! On a terminal the countdown updates the prompt line in place about once a
//! second; anywhere else (a log, a pipe) the prompt is printed once, with the
//! timeout, so logs carry no countdown noise.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use softkey_authenticator::{Operation, PresenceError, PresenceRequest};
use softkey_transport::Signals;

use super::PresenceProvider;
use crate::prompt_text::describe;

/// How often a waiting prompt looks for a cancel; well under the 100 ms
/// keepalive period so the platform sees the prompt close promptly.
const POLL: Duration = Duration::from_millis(20);

/// DECSC / DECRC: save and restore the cursor, so the countdown can be
/// redrawn without disturbing what the person is typing after it.
const SAVE_CURSOR: &str = "\x1b7";
const RESTORE_CURSOR: &str = "\x1b8";

#[derive(Debug)]
pub struct TtyPresence {
    lines: Receiver<String>,
    timeout: Duration,
    /// stderr is a terminal: draw a live countdown.
    live: bool,
    /// stdin is a terminal: the Enter that ends an answer is echoed.
    echoed: bool,
}

impl TtyPresence {
    pub fn new(timeout: Duration) -> Self {
        let (tx, lines) = mpsc::channel();
        thread::Builder::new()
            .name("tty-input".into())
            .spawn(move || {
                for line in std::io::stdin().lock().lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })
            .ok();
        Self {
            lines,
            timeout,
            live: std::io::stderr().is_terminal(),
            echoed: std::io::stdin().is_terminal(),
        }
    }
}

/// Writes to stderr, ignoring failures: a closed stderr must not turn a
/// prompt into a panic, and the answer still comes from stdin.
fn write_err(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// Whole seconds left, rounded up: "1 s left" until the very end.
fn seconds_left(left: Duration) -> u64 {
    left.as_secs() + u64::from(left.subsec_nanos() > 0)
}

/// The line the person answers on; `width` keeps it the same length as the
/// countdown shrinks, so a redraw overwrites it exactly.
fn countdown_line(secs: u64, width: usize) -> String {
    format!("  Approve? [y/N] {secs:>width$} s left ")
}

/// What the prompt shows before the answer line.
fn header(request: &PresenceRequest<'_>) -> String {
    let mut text = format!("\nsoftkey: {}.\n", describe(request));
    if request.operation == Operation::Reset {
        text.push_str("  This erases every credential on this key.\n");
    }
    text.push_str("  Type y and Enter to approve; n or just Enter to deny.\n");
    text
}

/// The prompt as shown: knows whether the cursor sits on the answer line.
struct Screen {
    live: bool,
    echoed: bool,
    width: usize,
    shown: Option<u64>,
}

impl Screen {
    fn open(request: &PresenceRequest<'_>, timeout: Duration, live: bool, echoed: bool) -> Self {
        let secs = seconds_left(timeout);
        let mut screen = Self {
            live,
            echoed,
            width: secs.to_string().len(),
            shown: None,
        };
        if live {
            write_err(&header(request));
            screen.show_answer_line(secs);
        } else {
            write_err(&format!("{}  Approve? [y/N] ({secs} s)\n", header(request)));
        }
        screen
    }

    fn show_answer_line(&mut self, secs: u64) {
        write_err(&countdown_line(secs, self.width));
        self.shown = Some(secs);
    }

    /// Redraws the countdown in place when the second changes.
    fn tick(&mut self, left: Duration) {
        let secs = seconds_left(left);
        if !self.live || self.shown == Some(secs) {
            return;
        }
        self.shown = Some(secs);
        let line = countdown_line(secs, self.width);
        write_err(&format!("{SAVE_CURSOR}\r{line}{RESTORE_CURSOR}"));
    }

    /// A line was read: the cursor is past the answer line if the terminal
    /// echoed the Enter.
    fn answered(&mut self) {
        if self.live && !self.echoed {
            write_err("\n");
        }
        self.shown = None;
    }

    /// Prints an outcome on a line of its own.
    fn say(&mut self, text: &str) {
        if self.live && self.shown.is_some() {
            write_err("\n");
            self.shown = None;
        }
        write_err(&format!("  {text}\n"));
    }

    /// Asks again after an answer that was neither yes nor no.
    fn ask_again(&mut self, left: Duration) {
        self.say("Please answer y or n.");
        if self.live {
            self.show_answer_line(seconds_left(left));
        }
    }
}

impl PresenceProvider for TtyPresence {
    fn ask(
        &mut self,
        request: &PresenceRequest<'_>,
        signals: &Signals,
    ) -> Result<(), PresenceError> {
        // Anything typed before the prompt appeared is not an answer to it: finished lines
        // already read, and on a terminal also keys typed without Enter (the kernel's line
        // buffer), which would otherwise prefix the next answer.
        discard_unread_terminal_input();
        while self.lines.try_recv().is_ok() {}
        let deadline = Instant::now() + self.timeout;
        let mut screen = Screen::open(request, self.timeout, self.live, self.echoed);
        loop {
            if signals.is_cancelled() {
                // CTAP 2.1 §11.2.9.1.5: a cancelled request ends at once.
                screen.say(super::cancelled_because());
                return Err(PresenceError::Cancelled);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                screen.say("No answer in time: refused.");
                return Err(PresenceError::Timeout);
            }
            screen.tick(left);
            match self.lines.recv_timeout(left.min(POLL)) {
                Ok(line) => {
                    screen.answered();
                    match line.trim().to_ascii_lowercase().as_str() {
                        "y" | "yes" => {
                            screen.say("Approved.");
                            return Ok(());
                        }
                        "" | "n" | "no" => {
                            screen.say("Denied.");
                            return Err(PresenceError::Denied);
                        }
                        _ => screen.ask_again(deadline.saturating_duration_since(Instant::now())),
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    screen.say("Standard input is closed: refused.");
                    return Err(PresenceError::Denied);
                }
            }
        }
    }
}

/// Drops input the terminal driver holds but nobody has read yet (`tcflush(TCIFLUSH)`).
/// Does nothing when standard input is not a terminal (pipes keep every byte).
fn discard_unread_terminal_input() {
    let stdin = std::io::stdin();
    if std::io::IsTerminal::is_terminal(&stdin) {
        let _ = rustix::termios::tcflush(&stdin, rustix::termios::QueueSelector::IFlush);
    }
}

#[cfg(test)]
mod tests {
    use softkey_authenticator::Requester;

    use super::*;

    #[test]
    fn seconds_round_up_so_the_last_second_shows_one() {
        assert_eq!(seconds_left(Duration::from_secs(30)), 30);
        assert_eq!(seconds_left(Duration::from_millis(29_001)), 30);
        assert_eq!(seconds_left(Duration::from_millis(1)), 1);
        assert_eq!(seconds_left(Duration::ZERO), 0);
    }

    #[test]
    fn the_countdown_line_keeps_its_width() {
        assert_eq!(countdown_line(30, 2), "  Approve? [y/N] 30 s left ");
        assert_eq!(
            countdown_line(9, 2).len(),
            countdown_line(30, 2).len(),
            "a redraw must overwrite the previous count exactly"
        );
    }

    #[test]
    fn the_header_names_who_asks_and_how_to_answer() {
        let request = PresenceRequest {
            operation: Operation::SignIn,
            requester: Requester::Rp("example.com"),
            user_name: Some("alice"),
            user_display_name: None,
        };
        let text = header(&request);
        assert!(text.contains("\"example.com\" asks to sign in as \"alice\""));
        assert!(text.contains("Type y and Enter to approve; n or just Enter to deny."));
        assert!(!text.contains("erases"));
    }

    #[test]
    fn a_reset_prompt_warns_that_it_erases_everything() {
        let request = PresenceRequest {
            operation: Operation::Reset,
            requester: Requester::Device,
            user_name: None,
            user_display_name: None,
        };
        let text = header(&request);
        assert!(text.contains("A request to reset."));
        assert!(text.contains("erases every credential"));
    }
}
