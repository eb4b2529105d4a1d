//! `softkey approve` / `softkey deny`: answer the request waiting at a
//! `serve --presence socket` key, over its control socket.

use std::time::Duration;

use anyhow::Result;

use crate::cli::AnswerArgs;
use crate::control::client::{Client, unexpected};
use crate::control::protocol::{Reply, Request};

pub fn run(args: &AnswerArgs, approve: bool) -> Result<()> {
    let mut client = Client::connect_args(&args.control)?;
    let request = if approve {
        Request::Approve { id: args.id }
    } else {
        Request::Deny { id: args.id }
    };
    match client.call(&request, Duration::ZERO)? {
        Reply::Answered { id, approved } => {
            println!(
                "softkey: request {id} {}.",
                if approved { "approved" } else { "denied" }
            );
            Ok(())
        }
        other => Err(unexpected(&other)),
    }
}
