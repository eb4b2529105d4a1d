//! `softkey approve` / `softkey deny`: answer the request waiting at a
//! `serve --presence socket` key, over its control socket.
//!
//! Always the request the person saw: with an id, that one (the server
//! refuses if another is waiting by then); without, the CLI first shows
//! which request is waiting and answers that one by its id, so a request
//! that replaced it in between is refused, never answered blind. Either
//! way the answer is echoed with the request's prompt line.

use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use clap::ValueEnum;

use crate::cli::{AnswerArgs, PresenceMode};
use crate::control::client::{Client, unexpected};
use crate::control::protocol::{PendingInfo, Reply, Request};
use crate::control::state::wrong_mode_message;

pub fn run(args: &AnswerArgs, approve: bool) -> Result<()> {
    let mut client = Client::find(&args.control, args.vault.as_deref())?;
    let verb = if approve { "approve" } else { "deny" };
    let id = match args.id {
        Some(id) => Some(id),
        None => {
            let waiting = match client.call(&Request::Pending, Duration::ZERO)? {
                Reply::Pending { requests } => requests,
                other => return Err(unexpected(&other)),
            };
            match the_one_waiting(&waiting, verb)? {
                Some(one) => Some(one.id),
                // Nothing listed: say why, and answer nothing (an answer
                // with no id could meet a request that arrives meanwhile).
                None => return Err(why_nothing_waits(&mut client)),
            }
        }
    };
    let request = if approve {
        Request::Approve { id }
    } else {
        Request::Deny { id }
    };
    match client.call(&request, Duration::ZERO)? {
        Reply::Answered {
            id,
            approved,
            prompt,
        } => {
            println!(
                "softkey: {} request {id}: {prompt}.",
                if approved { "approved" } else { "denied" }
            );
            Ok(())
        }
        other => Err(unexpected(&other)),
    }
}

/// Why there is nothing to answer: the key's prompts are answered
/// elsewhere, or simply nothing waits.
fn why_nothing_waits(client: &mut Client) -> anyhow::Error {
    let presence = match client.call(&Request::Status, Duration::ZERO) {
        Ok(Reply::Status(status)) => status.presence,
        Ok(other) => return unexpected(&other),
        Err(e) => return e,
    };
    match PresenceMode::from_str(&presence, true) {
        Ok(mode) if mode != PresenceMode::Socket => anyhow!(wrong_mode_message(mode)),
        _ => anyhow!("nothing is waiting for approval"),
    }
}

/// The request to answer when none was named: the only one waiting (none
/// when nothing is listed).
fn the_one_waiting<'a>(waiting: &'a [PendingInfo], verb: &str) -> Result<Option<&'a PendingInfo>> {
    match waiting {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        several => {
            let list: Vec<String> = several
                .iter()
                .map(|r| format!("request {}: {}", r.id, r.prompt))
                .collect();
            bail!(
                "{} requests are waiting; name the one to {verb} (`softkey {verb} ID`):\n  {}",
                several.len(),
                list.join("\n  ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(id: u64, prompt: &str) -> PendingInfo {
        PendingInfo {
            id,
            operation: "register".into(),
            requester: "rp".into(),
            rp_id: "a.example".into(),
            user_name: None,
            user_display_name: None,
            prompt: prompt.into(),
            seconds_left: 20,
        }
    }

    #[test]
    fn without_an_id_only_a_single_waiting_request_is_answered() {
        assert_eq!(
            the_one_waiting(&[pending(4, "x")], "approve")
                .unwrap()
                .map(|r| r.id),
            Some(4)
        );
        assert!(the_one_waiting(&[], "approve").unwrap().is_none());
        let two = [
            pending(4, "\"a.example\" asks"),
            pending(5, "\"b.example\" asks"),
        ];
        let err = the_one_waiting(&two, "deny").unwrap_err().to_string();
        assert!(
            err.starts_with("2 requests are waiting; name the one to deny"),
            "{err}"
        );
        assert!(err.contains("request 5: \"b.example\" asks"), "{err}");
    }
}
