//! `softkey pending`: show the request waiting for approval at a running
//! `softkey serve`, at once or (`--wait`) when the next one arrives.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::cli::PendingArgs;
use crate::control::client::{Client, unexpected};
use crate::control::protocol::{PendingInfo, Reply, Request};

/// One `wait-pending` round; `--wait` repeats it until something arrives.
const WAIT_ROUND: Duration = Duration::from_secs(60);

pub fn run(args: &PendingArgs) -> Result<()> {
    let mut client = Client::connect_args(&args.control)?;
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
        print!("{}", render(&requests));
    }
    Ok(())
}

/// The text listing: one paragraph per request, with how to answer it.
pub fn render(requests: &[PendingInfo]) -> String {
    if requests.is_empty() {
        return "Nothing is waiting for approval.\n".into();
    }
    requests
        .iter()
        .map(|r| {
            format!(
                "Request {}: {} ({} s left).\n  Answer with `softkey approve {}` or `softkey deny {}`.\n",
                r.id, r.prompt, r.seconds_left, r.id, r.id
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_request_and_how_to_answer() {
        assert_eq!(render(&[]), "Nothing is waiting for approval.\n");
        let text = render(&[PendingInfo {
            id: 4,
            operation: "sign-in".into(),
            requester: "rp".into(),
            rp_id: "github.com".into(),
            user_name: Some("alice".into()),
            user_display_name: None,
            prompt: "\"github.com\" asks to sign in as \"alice\"".into(),
            seconds_left: 12,
        }]);
        assert!(
            text.starts_with("Request 4: \"github.com\" asks to sign in as \"alice\" (12 s left).")
        );
        assert!(text.contains("`softkey approve 4`"));
    }
}
