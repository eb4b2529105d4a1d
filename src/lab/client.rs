//! The `softkey lab` verbs other than `serve`: one HTTP request each to a
//! running lab's API, with the token from its file.

use std::io::{BufRead as _, Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::cli::LabApiArgs;

/// Long enough for a touch, which waits up to 10 s for a prompt.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Sends one request; returns the answer's `value`, or the API's message as
/// the error.
pub fn call(api: &LabApiArgs, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
    let token_file = api
        .token_file
        .clone()
        .unwrap_or_else(super::default_token_file);
    let token = std::fs::read_to_string(&token_file).with_context(|| {
        format!(
            "cannot read the lab's token from {} (is `softkey lab serve` running?)",
            token_file.display()
        )
    })?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect_timeout(&api.api, TIMEOUT)
        .with_context(|| format!("cannot reach the lab API at {}", api.api))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        api.api,
        token.trim(),
        body.len()
    )?;
    let mut reader = std::io::BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("the lab API answered something other than HTTP")?;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
    }
    let mut answer = String::new();
    reader.read_to_string(&mut answer)?;
    let answer: Value =
        serde_json::from_str(&answer).context("the lab API's answer is not JSON")?;
    let value = answer.get("value").cloned().unwrap_or(Value::Null);
    if status != 200 {
        let message = value
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        bail!("the lab refused ({status}): {message}");
    }
    Ok(value)
}
