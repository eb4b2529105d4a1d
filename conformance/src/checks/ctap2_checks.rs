//! CTAP2 checks (CTAP 2.1 §6, §8): getInfo, malformed requests, a full
//! makeCredential / getAssertion / username-less login round trip, and CANCEL.
//! makeCredential and getAssertion need user presence: the target must approve
//! (an auto-approving presence provider in tests).

use std::net::SocketAddr;
use std::time::Duration;

use super::{CheckReport, ensure, fail, open_hid, random, run};
use crate::Error;
use crate::ctap2::cbor::{Value, encode, int};
use crate::ctap2::{
    Assertion, Attestation, COSE_ES256, Ctap2, GetAssertionRequest, MakeCredentialRequest, command,
    status,
};
use crate::usbip::UsbipDevice;

/// RP ID the round-trip check registers under.
pub const ROUND_TRIP_RP_ID: &str = "conformance.example";

fn open_ctap2(addr: SocketAddr, overall: Duration) -> Result<Ctap2<UsbipDevice>, Error> {
    let mut hid = open_hid(addr)?;
    hid.set_timeouts(Duration::from_secs(3), overall);
    Ok(Ctap2::new(hid))
}

/// getInfo decodes, is canonical, and names FIDO 2 and ES256.
pub fn get_info(addr: SocketAddr) -> CheckReport {
    run("ctap2_get_info", || {
        let mut c = open_ctap2(addr, Duration::from_secs(10))?;
        let info = c.get_info()?;
        ensure(
            info.versions
                .iter()
                .any(|v| v == "FIDO_2_0" || v == "FIDO_2_1"),
            || format!("versions {:?} name no FIDO 2", info.versions),
        )?;
        ensure(
            info.algorithms.is_empty()
                || info
                    .algorithms
                    .iter()
                    .any(|(t, a)| t == "public-key" && *a == COSE_ES256),
            || format!("algorithms {:?} lack ES256", info.algorithms),
        )?;
        if let Some(m) = info.max_msg_size {
            // CTAP 2.1 §6.4: maxMsgSize defaults to 1024; less would be unusable.
            ensure(m >= 1024, || format!("maxMsgSize {m}"))?;
        }
        Ok(format!(
            "versions {:?}, options {:?}, maxMsgSize {:?}, maxCredentialCountInList {:?}, maxCredentialIdLength {:?}",
            info.versions,
            info.options,
            info.max_msg_size,
            info.max_credential_count_in_list,
            info.max_credential_id_length
        ))
    })
}

/// Malformed CTAP2 requests get the status ARCHITECTURE.md "Malformed requests" lists.
pub fn malformed(addr: SocketAddr) -> CheckReport {
    run("ctap2_malformed", || {
        let mut c = open_ctap2(addr, Duration::from_secs(10))?;
        let cdh = Value::Bytes(vec![0; 32]);
        let cases: [(&str, u8, Vec<u8>, u8); 4] = [
            (
                "unknown command 0x30",
                0x30,
                vec![],
                status::INVALID_COMMAND,
            ),
            (
                "truncated CBOR",
                command::MAKE_CREDENTIAL,
                vec![0xA1],
                status::INVALID_CBOR,
            ),
            (
                "makeCredential without rp/user/params",
                command::MAKE_CREDENTIAL,
                encode(&Value::Map(vec![(int(1), cdh.clone())])),
                status::MISSING_PARAMETER,
            ),
            (
                "getAssertion rpId as an integer",
                command::GET_ASSERTION,
                encode(&Value::Map(vec![(int(1), int(5)), (int(2), cdh)])),
                status::CBOR_UNEXPECTED_TYPE,
            ),
        ];
        let mut seen = Vec::new();
        for (what, cmd, payload, want) in cases {
            let (got, body) = c.hid().cbor(cmd, &payload)?;
            ensure(got == want, || {
                format!("{what}: status 0x{got:02x}, expected 0x{want:02x}")
            })?;
            ensure(body.is_empty(), || format!("{what}: error carries a body"))?;
            seen.push(format!("{what} → 0x{got:02x}"));
        }
        c.get_info()?;
        Ok(seen.join("; "))
    })
}

fn find_credential(
    c: &mut Ctap2<UsbipDevice>,
    first: Assertion,
    id: &[u8],
) -> Result<Assertion, Error> {
    let n = first.number_of_credentials.unwrap_or(1);
    let mut current = first;
    for _ in 1..n {
        if current.credential_id == id {
            break;
        }
        current = c.get_next_assertion()?;
    }
    if current.credential_id != id {
        return fail(format!(
            "the new credential is not among the {n} discoverable ones"
        ));
    }
    Ok(current)
}

/// makeCredential (rk) → getAssertion with allowList → username-less getAssertion,
/// every signature verified, the counter monotonic, the user entity returned.
pub fn make_credential_get_assertion(addr: SocketAddr) -> CheckReport {
    run("ctap2_make_credential_get_assertion", || {
        let mut c = open_ctap2(addr, Duration::from_secs(60))?;
        let user_id: [u8; 16] = random()?;
        let mut req = MakeCredentialRequest::new(random()?, ROUND_TRIP_RP_ID, &user_id);
        req.rp.name = Some("Conformance".into());
        req.user.name = Some("conformance-user".into());
        req.user.display_name = Some("Conformance User".into());
        req.rk = Some(true);
        let att: Attestation = c.make_credential(&req)?;

        let cdh: [u8; 32] = random()?;
        let mut ga = GetAssertionRequest::new(ROUND_TRIP_RP_ID, cdh);
        ga.allow_list = vec![att.credential_id().to_vec()];
        let a = c.get_assertion(&ga)?;
        a.verify(att.public_key(), &cdh)?;
        ensure(
            a.sign_count() > att.sign_count() || (a.sign_count() == 0 && att.sign_count() == 0),
            || format!("counter went {} → {}", att.sign_count(), a.sign_count()),
        )?;

        let cdh2: [u8; 32] = random()?;
        let first = c.get_assertion(&GetAssertionRequest::new(ROUND_TRIP_RP_ID, cdh2))?;
        let n = first.number_of_credentials.unwrap_or(1);
        let found = find_credential(&mut c, first, att.credential_id())?;
        found.verify(att.public_key(), &cdh2)?;
        let user = found.user.clone().unwrap_or_default();
        ensure(user.id == user_id, || {
            format!("user.id {:02x?} returned", user.id)
        })?;
        Ok(format!(
            "fmt {} ({}), credential id {} bytes, counters {} → {} → {}, {n} discoverable, user {:?}",
            att.fmt,
            att.check,
            att.credential_id().len(),
            att.sign_count(),
            a.sign_count(),
            found.sign_count(),
            user.name
        ))
    })
}

/// CTAPHID_CANCEL during makeCredential ends it with KEEPALIVE_CANCEL (or it had
/// already completed), and the channel stays in step.
pub fn cancel(addr: SocketAddr) -> CheckReport {
    run("ctap2_cancel", || {
        let mut hid = open_hid(addr)?;
        hid.set_timeouts(Duration::from_secs(3), Duration::from_secs(30));
        let user_id: [u8; 16] = random()?;
        let req = MakeCredentialRequest::new(random()?, "cancel.example", &user_id);
        hid.begin_cbor(command::MAKE_CREDENTIAL, &req.encode())?;
        hid.cancel()?;
        let (st, body) = hid.finish_cbor()?;
        let outcome = match st {
            status::KEEPALIVE_CANCEL if body.is_empty() => "KEEPALIVE_CANCEL (0x2D)".to_string(),
            status::SUCCESS => {
                Attestation::parse(&body, &req)?;
                "completed before the CANCEL was read".to_string()
            }
            other => return fail(format!("status 0x{other:02x} after CANCEL")),
        };
        let echo = hid.ping(b"after cancel")?;
        ensure(echo == b"after cancel", || "PING after CANCEL".into())?;
        Ok(format!(
            "{outcome}; {} keepalive(s); channel usable",
            hid.keepalives().len()
        ))
    })
}
