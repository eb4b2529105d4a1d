//! `softkey pending`: show the request waiting for approval at a running
//! `softkey serve`, at once or (`--wait`) when the next one arrives.

use std::time::Duration;

use anyhow::{Context, Result};

use clap::ValueEnum;

use crate::cli::{PendingArgs, PresenceMode};
use crate::control::client::{Client, unexpected};
use crate::control::protocol::{PendingInfo, Reply, Request};

/// One `wait-pending` round; `--wait` repeats it until something arrives.
const WAIT_ROUND: Duration = Duration::from_secs(60);

pub fn run(args: &PendingArgs) -> Result<()> {
    let mut client = Client::find(&args.control, args.vault.as_deref())?;
    // Where the answer goes depends on the key's presence mode.
    let mode = match client.call(&Request::Status, Duration::ZERO)? {
        Reply::Status(status) => PresenceMode::from_str(&status.presence, true).ok(),
        other => return Err(unexpected(&other)),
    };
    let requests = loop {
        let (request, wait) = if args.wait {
            let timeout_ms = u64::try_from(WAIT_ROUND.as_millis()).unwrap_or(u64::MAX);
            (Request::WaitPending { timeout_ms }, WAIT_ROUND)
        } else {
            (Request::Pending, Duration::ZERO)
        };
        let requests = match client.call(&request, wait)? {
            Reply::Pending { requests } => requests,
            other => return Err(unexpected(&other)),
        };
        if !args.wait || !requests.is_empty() {
            break requests;
        }
    };
    if args.json {
        let text = serde_json::to_string_pretty(&requests).context("encoding JSON")?;
        println!("{text}");
    } else {
        print!("{}", render(&requests, mode));
    }
    Ok(())
}

/// The text listing: one paragraph per request, with how to answer it on
/// a key in presence `mode` (`approve` only works for `--presence socket`).
pub fn render(requests: &[PendingInfo], mode: Option<PresenceMode>) -> String {
    if requests.is_empty() {
        return "Nothing is waiting for approval.\n".into();
    }
    requests
        .iter()
        .map(|r| {
            let how = match mode {
                Some(PresenceMode::Socket) | None => format!(
                    "Answer with `softkey approve {}` or `softkey deny {}`.",
                    r.id, r.id
                ),
                Some(PresenceMode::Tty) => {
                    "Answer it on the terminal running `softkey serve` (--presence tty).".into()
                }
                Some(PresenceMode::Notify) => {
                    "Answer it in the desktop notification (--presence notify).".into()
                }
                Some(PresenceMode::Auto | PresenceMode::Deny) => {
                    "The key answers it by itself.".into()
                }
            };
            format!(
                "Request {}: {} ({} s left).\n  {how}\n",
                r.id, r.prompt, r.seconds_left
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_request_and_how_to_answer() {
        assert_eq!(render(&[], None), "Nothing is waiting for approval.\n");
        let request = PendingInfo {
            id: 4,
            operation: "sign-in".into(),
            requester: "rp".into(),
            rp_id: "github.com".into(),
            user_name: Some("alice".into()),
            user_display_name: None,
            prompt: "\"github.com\" asks to sign in as \"alice\"".into(),
            seconds_left: 12,
        };
        let text = render(std::slice::from_ref(&request), Some(PresenceMode::Socket));
        assert!(
            text.starts_with("Request 4: \"github.com\" asks to sign in as \"alice\" (12 s left).")
        );
        assert!(text.contains("`softkey approve 4`"));
        // On a terminal-prompt key, `approve` would be refused: never suggested.
        let text = render(&[request], Some(PresenceMode::Tty));
        assert!(!text.contains("softkey approve"), "{text}");
        assert!(
            text.contains("on the terminal running `softkey serve`"),
            "{text}"
        );
    }
}
