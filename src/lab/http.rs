//! The lab API's HTTP/1.1: one request per connection (`Connection: close`),
//! a body only by `Content-Length`, everything bounded. Small on purpose: a
//! loopback JSON API needs nothing more, and a web framework would double
//! the build.
//!
//! Loopback is not a security boundary (SECURITY.md "Who can reach the
//! key"): every request must carry `Authorization: Bearer <token>`, the
//! token the lab wrote to a 0600 file, compared in constant time. A request
//! without it gets 401 before its body is read.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use subtle::ConstantTimeEq;

/// The longest request line or header line accepted.
const MAX_LINE: usize = 8 * 1024;
/// Headers per request at most.
const MAX_HEADERS: usize = 64;
/// The largest body accepted (a credential with a large blob fits easily).
const MAX_BODY: usize = 1024 * 1024;
/// A client has this long to send its request and read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One parsed request.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The path without the query string, percent-decoding not applied
    /// (the API's path segments are base64url and numbers).
    pub path: String,
    /// What follows `?`, if anything.
    pub query: String,
    pub body: Vec<u8>,
}

/// One answer: status and a JSON body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: serde_json::Value,
}

/// Serves `listener` until the process ends, one thread per connection.
/// `token: None` takes every request (the conformance automation endpoint,
/// whose client, the FIDO Conformance Tools, sends none).
pub fn serve<F>(listener: TcpListener, token: Option<Arc<String>>, handle: F)
where
    F: Fn(Request) -> Response + Send + Sync + 'static,
{
    let handle = Arc::new(handle);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let (token, handle) = (token.clone(), Arc::clone(&handle));
        let spawned = thread::Builder::new()
            .name("lab-api".into())
            .spawn(move || {
                if let Err(e) = serve_one(stream, token.as_deref().map(String::as_str), &*handle) {
                    tracing::debug!(error = %e, "lab API connection ended");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start a lab API thread");
        }
    }
}

fn serve_one(
    stream: TcpStream,
    token: Option<&str>,
    handle: &dyn Fn(Request) -> Response,
) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(&stream);
    let response = match read_request(&mut reader, token) {
        Ok(request) => handle(request),
        Err(refusal) => refusal,
    };
    write_response(&stream, &response)
}

/// A W3C WebDriver-shaped error answer: `{"value": {"error", "message"}}`.
pub fn error(status: u16, error: &str, message: impl Into<String>) -> Response {
    Response {
        status,
        body: serde_json::json!({"value": {"error": error, "message": message.into()}}),
    }
}

fn read_request(reader: &mut impl BufRead, token: Option<&str>) -> Result<Request, Response> {
    let bad = |m: &str| error(400, "invalid argument", m);
    let line = read_line(reader).map_err(|_| bad("unreadable request line"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(bad("HTTP/1.x only"));
    }
    let mut content_length = 0usize;
    let mut authorized = token.is_none();
    for _ in 0..=MAX_HEADERS {
        let header = read_line(reader).map_err(|_| bad("unreadable header"))?;
        if header.is_empty() {
            if !authorized {
                return Err(error(
                    401,
                    "unauthorized",
                    "send Authorization: Bearer <the token in the lab's token file>",
                ));
            }
            let mut body = vec![0u8; content_length];
            reader
                .read_exact(&mut body)
                .map_err(|_| bad("the body is shorter than Content-Length"))?;
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            return Ok(Request {
                method: method.to_owned(),
                path: path.to_owned(),
                query: query.to_owned(),
                body,
            });
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(bad("malformed header"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().map_err(|_| bad("bad Content-Length"))?;
            if content_length > MAX_BODY {
                return Err(error(413, "invalid argument", "the body is too large"));
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(bad("send a Content-Length, not a Transfer-Encoding"));
        } else if name.eq_ignore_ascii_case("authorization")
            && let (Some(given), Some(token)) = (value.strip_prefix("Bearer "), token)
        {
            authorized = bool::from(given.as_bytes().ct_eq(token.as_bytes()));
        }
    }
    Err(bad("too many headers"))
}

/// One CRLF- (or LF-) terminated line, at most [`MAX_LINE`] bytes, as UTF-8.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if read == 0 || line.len() > MAX_LINE || line.last() != Some(&b'\n') {
        return Err(io::ErrorKind::InvalidData.into());
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| io::ErrorKind::InvalidData.into())
}

fn write_response(mut stream: &TcpStream, response: &Response) -> io::Result<()> {
    let body = response.body.to_string();
    let reason = match response.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        _ => "Error",
    };
    write!(
        stream,
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        response.status,
        body.len()
    )?;
    stream.flush()
}

/// The address the API listens on, refusing anything but loopback: the
/// token is the only guard, and it must not cross a network.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    if !addr.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the lab API listens on loopback only",
        ));
    }
    TcpListener::bind(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Request, Response> {
        read_request(&mut BufReader::new(raw.as_bytes()), Some("secret"))
    }

    #[test]
    fn a_request_needs_the_token() {
        let ok = parse(
            "POST /webauthn/authenticator HTTP/1.1\r\nAuthorization: Bearer secret\r\n\
             Content-Length: 2\r\n\r\n{}",
        )
        .unwrap();
        assert_eq!(
            (ok.method.as_str(), ok.path.as_str()),
            ("POST", "/webauthn/authenticator")
        );
        assert_eq!(ok.body, b"{}");
        for raw in [
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nAuthorization: Bearer secreT\r\n\r\n",
            "GET / HTTP/1.1\r\nAuthorization: secret\r\n\r\n",
        ] {
            assert_eq!(parse(raw).unwrap_err().status, 401, "{raw:?}");
        }
    }

    #[test]
    fn malformed_or_oversized_requests_are_refused() {
        for raw in [
            "GET /\r\n\r\n",
            "GET / HTTP/2\r\n\r\n",
            "GET / HTTP/1.1\r\nno colon\r\n\r\n",
            "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nAuthorization: Bearer secret\r\nContent-Length: 9\r\n\r\n{}",
        ] {
            assert_eq!(parse(raw).unwrap_err().status, 400, "{raw:?}");
        }
        let huge = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert_eq!(parse(&huge).unwrap_err().status, 413);
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_LINE));
        assert_eq!(parse(&long).unwrap_err().status, 400);
    }
}
