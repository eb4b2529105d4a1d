//! The lab's HTTP+JSON API, shaped like the W3C WebDriver "Virtual
//! Authenticators" extension (WebAuthn Level 3 §11 "User Agent Automation")
//! without the `/session/{id}` prefix, so that an RP tester's code changes
//! only its base URL. Answers are `{"value": …}`; errors
//! `{"value": {"error", "message"}}` with 400 ("invalid argument") or 404
//! ("no such …"), as WebDriver answers.
//!
//! | method and path | W3C command |
//! |---|---|
//! | `POST /webauthn/authenticator` | Add Virtual Authenticator |
//! | `DELETE /webauthn/authenticator/{id}` | Remove Virtual Authenticator |
//! | `POST /webauthn/authenticator/{id}/credential` | Add Credential |
//! | `GET /webauthn/authenticator/{id}/credentials` | Get Credentials |
//! | `DELETE /webauthn/authenticator/{id}/credentials/{credentialId}` | Remove Credential |
//! | `DELETE /webauthn/authenticator/{id}/credentials` | Remove All Credentials |
//! | `GET /webauthn/authenticators` | (softkey) every authenticator and its options |
//! | `GET /webauthn/events?after=N&wait=S` | (CDP events, softkey's `promptShown`, `pinTried`) the events after number N, waiting up to S seconds (at most 30) for one |
//! | `POST /webauthn/authenticator/{id}/presence` | (W3C `isUserConsenting`, CDP `setAutomaticPresenceSimulation`, `setUserVerified`) any of them |
//! | `POST /webauthn/authenticator/{id}/uv` | Set User Verified (`isUserVerified`) |
//! | `POST /webauthn/authenticator/{id}/pin`, `DELETE …/pin` | (softkey) set `{"pin": "…", "retries": n}` (either or both) or remove the PIN |
//! | `POST /webauthn/authenticator/{id}/reset` | (softkey) authenticatorReset without the touch |
//! | `GET /webauthn/authenticator/{id}/metadata` | (softkey) a FIDO MDS3 metadata statement for its AAGUID and CA |
//! | `GET /webauthn/authenticator/{id}/attestation-ca` | (softkey) the PEM an RP trusts for batch attestation |
//! | `POST /webauthn/authenticator/{id}/faults` | (softkey) `{"nextStatuses": [CTAP status, …], "delayMs": n, "withholdKeepalives": bool}` |
//! | `POST /webauthn/authenticator/{id}/disconnect`, `…/power-cycle` | (softkey) drop the host's USB/IP connection; power-cycle also renews the key's RAM state |
//! | `POST /webauthn/authenticator/{id}/touch` | (softkey) approve the test of presence waiting (automaticPresenceSimulation false) |
//! | `POST /webauthn/authenticator/{id}/credentials/{credentialId}/props` | Set Credential Properties |
//! | `POST /webauthn/authenticator/{id}/response-override-bits` | (CDP `setResponseOverrideBits`) `isBogusSignature`, `isBadUV`, `isBadUP` |

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::authenticators::{Lab, LabError};
use super::http::{Request, Response, error};
use super::options;

/// Answers one request.
pub fn handle(lab: &Lab, request: Request) -> Response {
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let body = || -> Result<Value, Response> {
        if request.body.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(&request.body).map_err(|e| {
            error(
                400,
                "invalid argument",
                format!("the body is not JSON: {e}"),
            )
        })
    };
    let result = match (request.method.as_str(), segments.as_slice()) {
        ("POST", ["webauthn", "authenticator"]) => body().and_then(|b| add_authenticator(lab, &b)),
        ("GET", ["webauthn", "authenticators"]) => Ok(list_authenticators(lab)),
        ("GET", ["webauthn", "events"]) => events(lab, &request.query),
        ("DELETE", ["webauthn", "authenticator", id]) => {
            lab.remove(id).map(|()| Value::Null).map_err(lab_error)
        }
        ("POST", ["webauthn", "authenticator", id, "presence" | "uv"]) => {
            body().and_then(|b| set_presence(lab, id, &b))
        }
        ("POST", ["webauthn", "authenticator", id, "pin"]) => {
            body().and_then(|b| set_pin(lab, id, &b))
        }
        ("DELETE", ["webauthn", "authenticator", id, "pin"]) => lab
            .set_pin(id, None)
            .map(|()| Value::Null)
            .map_err(lab_error),
        ("POST", ["webauthn", "authenticator", id, "reset"]) => {
            lab.reset(id).map(|()| Value::Null).map_err(lab_error)
        }
        ("POST", ["webauthn", "authenticator", id, "faults"]) => {
            body().and_then(|b| set_faults(lab, id, &b))
        }
        (
            "POST",
            [
                "webauthn",
                "authenticator",
                id,
                verb @ ("disconnect" | "power-cycle"),
            ],
        ) => lab
            .disconnect(id, *verb == "power-cycle")
            .map(|attached| json!({ "wasAttached": attached }))
            .map_err(lab_error),
        ("POST", ["webauthn", "authenticator", id, "touch"]) => {
            lab.touch(id).map(|()| Value::Null).map_err(lab_error)
        }
        ("POST", ["webauthn", "authenticator", id, "response-override-bits"]) => {
            body().and_then(|b| set_overrides(lab, id, &b))
        }
        ("POST", ["webauthn", "authenticator", id, "credential"]) => {
            body().and_then(|b| add_credential(lab, id, &b))
        }
        ("GET", ["webauthn", "authenticator", id, "credentials"]) => get_credentials(lab, id),
        ("GET", ["webauthn", "authenticator", id, "metadata"]) => {
            lab.metadata(id).map_err(lab_error)
        }
        ("GET", ["webauthn", "authenticator", id, "attestation-ca"]) => {
            lab.attestation_ca(id).map(Value::String).map_err(lab_error)
        }
        ("DELETE", ["webauthn", "authenticator", id, "credentials"]) => lab
            .remove_credentials(id, None)
            .map(|()| Value::Null)
            .map_err(lab_error),
        (
            "POST",
            [
                "webauthn",
                "authenticator",
                id,
                "credentials",
                credential,
                "props",
            ],
        ) => body().and_then(|b| set_props(lab, id, credential, &b)),
        ("DELETE", ["webauthn", "authenticator", id, "credentials", credential]) => {
            match URL_SAFE_NO_PAD.decode(credential) {
                Ok(credential) => lab
                    .remove_credentials(id, Some(&credential))
                    .map(|()| Value::Null)
                    .map_err(lab_error),
                Err(_) => Err(error(
                    400,
                    "invalid argument",
                    "credentialId is not base64url",
                )),
            }
        }
        (_, ["webauthn", ..]) => Err(error(405, "unknown method", "no such command")),
        _ => Err(error(404, "unknown command", "no such path")),
    };
    match result {
        Ok(value) => Response {
            status: 200,
            body: json!({ "value": value }),
        },
        Err(response) => response,
    }
}

fn lab_error(e: LabError) -> Response {
    if e.not_found {
        error(404, "invalid argument", e.message)
    } else {
        error(400, "invalid argument", e.message)
    }
}

fn add_authenticator(lab: &Lab, body: &Value) -> Result<Value, Response> {
    let options = options::authenticator(body).map_err(|m| error(400, "invalid argument", m))?;
    lab.add(options).map(Value::String).map_err(lab_error)
}

/// `{"pin": "…", "retries": n}`: the PIN, then pinRetries (0–8); at least
/// one of them.
fn set_pin(lab: &Lab, id: &str, body: &Value) -> Result<Value, Response> {
    let invalid = |message: &str| error(400, "invalid argument", message);
    let pin = match body.get("pin") {
        None => None,
        Some(pin) => Some(
            pin.as_str()
                .ok_or_else(|| invalid("pin must be a string"))?,
        ),
    };
    let retries = match body.get("retries") {
        None => None,
        Some(n) => Some(
            n.as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| invalid("retries must be a number from 0 to 8"))?,
        ),
    };
    if let Some(unknown) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| !matches!(k.as_str(), "pin" | "retries")))
    {
        return Err(invalid(&format!("unknown PIN control {unknown:?}")));
    }
    if pin.is_none() && retries.is_none() {
        return Err(invalid("give pin, retries or both"));
    }
    if let Some(pin) = pin {
        lab.set_pin(id, Some(pin)).map_err(lab_error)?;
    }
    if let Some(left) = retries {
        lab.set_pin_retries(id, left).map_err(lab_error)?;
    }
    Ok(Value::Null)
}

fn events(lab: &Lab, query: &str) -> Result<Value, Response> {
    let mut after = 0u64;
    let mut wait = 0u64;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = value
            .parse::<u64>()
            .map_err(|_| error(400, "invalid argument", format!("{name} must be a number")))?;
        match name {
            "after" => after = number,
            "wait" => wait = number.min(30),
            other => {
                return Err(error(
                    400,
                    "invalid argument",
                    format!("unknown parameter {other:?}"),
                ));
            }
        }
    }
    let (events, last) = lab
        .events
        .after(after, std::time::Duration::from_secs(wait));
    Ok(json!({ "events": events, "last": last }))
}

fn list_authenticators(lab: &Lab) -> Value {
    Value::Array(
        lab.list()
            .into_iter()
            .map(|(id, o)| {
                json!({
                    "authenticatorId": id,
                    "busId": id,
                    "options": options::describe(&o),
                })
            })
            .collect(),
    )
}

fn set_presence(lab: &Lab, id: &str, body: &Value) -> Result<Value, Response> {
    let change = options::presence_changes(body).map_err(|m| error(400, "invalid argument", m))?;
    lab.set_presence(id, change)
        .map(|()| Value::Null)
        .map_err(lab_error)
}

fn set_faults(lab: &Lab, id: &str, body: &Value) -> Result<Value, Response> {
    let change = options::fault_changes(body).map_err(|m| error(400, "invalid argument", m))?;
    lab.set_faults(id, change)
        .map(|()| Value::Null)
        .map_err(lab_error)
}

fn set_overrides(lab: &Lab, id: &str, body: &Value) -> Result<Value, Response> {
    let overrides =
        options::response_overrides(body).map_err(|m| error(400, "invalid argument", m))?;
    lab.set_response_overrides(id, overrides)
        .map(|()| Value::Null)
        .map_err(lab_error)
}

fn add_credential(lab: &Lab, id: &str, body: &Value) -> Result<Value, Response> {
    let credential = options::credential(body).map_err(|m| error(400, "invalid argument", m))?;
    lab.add_credential(id, credential)
        .map(|()| Value::Null)
        .map_err(lab_error)
}

fn set_props(lab: &Lab, id: &str, credential: &str, body: &Value) -> Result<Value, Response> {
    let credential = URL_SAFE_NO_PAD
        .decode(credential)
        .map_err(|_| error(400, "invalid argument", "credentialId is not base64url"))?;
    let change =
        options::credential_changes(body).map_err(|m| error(400, "invalid argument", m))?;
    lab.set_credential_properties(id, &credential, change)
        .map(|()| Value::Null)
        .map_err(lab_error)
}

fn get_credentials(lab: &Lab, id: &str) -> Result<Value, Response> {
    let credentials = lab.credentials(id).map_err(lab_error)?;
    Ok(Value::Array(
        credentials
            .iter()
            .map(options::describe_credential)
            .collect(),
    ))
}
