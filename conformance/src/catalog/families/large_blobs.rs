//! authenticatorLargeBlobs (CTAP 2.1 §6.10): reading the serialized array
//! (no authorisation), writing one with an lbw token over `32×0xff ‖
//! 0x0c00 ‖ uint32LE(offset) ‖ SHA-256(set)`, and the refusals. The writing
//! checks are destructive.

use sha2::{Digest, Sha256};

use super::common::{expect_status, status_text};
use super::verified::token;
use crate::Error;
use crate::catalog::pin::Protocol;
use crate::catalog::pin::permission::LARGE_BLOB_WRITE;
use crate::catalog::{Check, Family, Session, Verdict};
use crate::ctap2::cbor::{MapView, Value, as_bytes, decode_canonical, encode, int};
use crate::ctap2::{command, status};

/// `0x80 ‖ LEFT(SHA-256(0x80), 16)`: the empty array (§6.10.2).
fn initial_array() -> Vec<u8> {
    with_hash(vec![0x80])
}

fn with_hash(mut data: Vec<u8>) -> Vec<u8> {
    let hash = Sha256::digest(&data);
    data.extend_from_slice(hash.get(..16).unwrap_or_default());
    data
}

/// A get of `length` bytes at `offset`: the status and the fragment.
fn get(s: &mut Session, length: u64, offset: u64) -> Result<(u8, Vec<u8>), Error> {
    let params = Value::Map(vec![
        (int(1), Value::Integer(length.into())),
        (int(3), Value::Integer(offset.into())),
    ]);
    let (st, body) = s.send(command::LARGE_BLOBS, Some(&params))?;
    if st != 0 {
        return Ok((st, Vec::new()));
    }
    let v = decode_canonical(&body)?;
    Ok((
        st,
        as_bytes(
            MapView::new(&v, "largeBlobs get")?.require_int(1)?,
            "config",
        )?
        .to_vec(),
    ))
}

/// The whole stored array, read in 256-byte fragments.
fn read_all(s: &mut Session) -> Result<Result<Vec<u8>, u8>, Error> {
    let mut out = Vec::new();
    loop {
        let (st, part) = get(s, 256, out.len() as u64)?;
        if st != 0 {
            return Ok(Err(st));
        }
        let done = part.len() < 256;
        out.extend_from_slice(&part);
        if done {
            return Ok(Ok(out));
        }
    }
}

/// One set of the whole `array` at offset 0, authorised by `token`.
fn set_all(s: &mut Session, array: &[u8], token: Option<&[u8]>) -> Result<u8, Error> {
    let mut pairs = vec![
        (int(2), Value::Bytes(array.to_vec())),
        (int(3), int(0)),
        (int(4), Value::Integer((array.len() as u64).into())),
    ];
    if let Some(t) = token {
        let mut message = vec![0xFF; 32];
        message.extend_from_slice(&[0x0C, 0x00]);
        message.extend_from_slice(&0u32.to_le_bytes());
        message.extend_from_slice(&Sha256::digest(array));
        pairs.push((
            int(5),
            Value::Bytes(Protocol::Two.authenticate(t, &message)),
        ));
        pairs.push((int(6), int(2)));
    }
    Ok(s.send(command::LARGE_BLOBS, Some(&Value::Map(pairs)))?.0)
}

fn applies(s: &mut Session) -> Result<Result<(), Verdict>, Error> {
    if s.info()?.option("largeBlobs") == Some(true) {
        return Ok(Ok(()));
    }
    Ok(Err(Verdict::NotApplicable(
        "getInfo options says largeBlobs is not true".into(),
    )))
}

fn read_check(
    id: &str,
    spec: &str,
    sends: &str,
    expects: &str,
    body: impl Fn(&mut Session) -> Result<Verdict, Error> + Send + Sync + 'static,
) -> Check {
    Check::in_family(Family::LargeBlobs, id, spec, sends, expects, body).gated(applies)
}

fn write_check(
    id: &str,
    spec: &str,
    sends: &str,
    expects: &str,
    body: impl Fn(&mut Session, &[u8]) -> Result<Verdict, Error> + Send + Sync + 'static,
) -> Check {
    read_check(id, spec, sends, expects, move |s| {
        match token(s, LARGE_BLOB_WRITE, None)? {
            Err(verdict) => Ok(verdict),
            Ok(t) => body(s, &t),
        }
    })
    .destructive()
}

pub fn checks() -> Vec<Check> {
    vec![
        read_check(
            "array-is-valid",
            "CTAP 2.1 §6.10.2 get (no authorisation), §6.10.1 (the array ends in LEFT(SHA-256(the rest), 16))",
            "get in 256-byte fragments from offset 0",
            "a CBOR array followed by its truncated hash",
            |s| {
                Ok(match read_all(s)? {
                    Ok(array)
                        if array.len() >= 17
                            && with_hash(
                                array.get(..array.len() - 16).unwrap_or_default().to_vec(),
                            ) == array =>
                    {
                        Verdict::Pass(format!("{} bytes", array.len()))
                    }
                    Ok(array) => {
                        Verdict::Fail(format!("{} bytes whose hash does not match", array.len()))
                    }
                    Err(st) => Verdict::Fail(status_text(st)),
                })
            },
        ),
        read_check(
            "get-past-the-end",
            "CTAP 2.1 §6.10.2 get step (an offset beyond the array: CTAP1_ERR_INVALID_PARAMETER)",
            "get 16 bytes at offset 100000",
            "0x02 CTAP1_ERR_INVALID_PARAMETER",
            |s| {
                Ok(expect_status(
                    get(s, 16, 100_000)?.0,
                    &[status::INVALID_PARAMETER],
                ))
            },
        ),
        read_check(
            "get-and-set",
            "CTAP 2.1 §6.10.2 step 1 (get and set together: CTAP1_ERR_INVALID_PARAMETER)",
            "a request with both get and set",
            "0x02 CTAP1_ERR_INVALID_PARAMETER",
            |s| {
                let params = Value::Map(vec![
                    (int(1), int(16)),
                    (int(2), Value::Bytes(vec![0x80])),
                    (int(3), int(0)),
                ]);
                Ok(expect_status(
                    s.send(command::LARGE_BLOBS, Some(&params))?.0,
                    &[status::INVALID_PARAMETER],
                ))
            },
        ),
        read_check(
            "no-offset",
            "CTAP 2.1 §6.10.2 step 1 (no offset: CTAP1_ERR_INVALID_PARAMETER)",
            "get 16 bytes with no offset",
            "0x02 CTAP1_ERR_INVALID_PARAMETER",
            |s| {
                let params = Value::Map(vec![(int(1), int(16))]);
                Ok(expect_status(
                    s.send(command::LARGE_BLOBS, Some(&params))?.0,
                    &[status::INVALID_PARAMETER],
                ))
            },
        ),
        write_check(
            "set-and-read-back",
            "CTAP 2.1 §6.10.2 set",
            "a one-entry array set at offset 0 with an lbw token, read back, then the empty array set",
            "0x00; the same bytes read back",
            |s, t| {
                let entry = Value::Map(vec![
                    (int(1), Value::Bytes(vec![0xAB; 32])),
                    (int(2), Value::Bytes(vec![0; 12])),
                    (int(3), int(32)),
                ]);
                let array = with_hash(encode(&Value::Array(vec![entry])));
                let st = set_all(s, &array, Some(t))?;
                let back = read_all(s)?;
                let fresh = token(s, LARGE_BLOB_WRITE, None)?.ok();
                let restore = fresh
                    .map(|t2| set_all(s, &initial_array(), Some(&t2)))
                    .transpose()?
                    .unwrap_or(status::OTHER);
                Ok(match back {
                    Ok(b) if st == 0 && b == array && restore == 0 => {
                        Verdict::Pass(format!("{} bytes", array.len()))
                    }
                    Ok(_) => Verdict::Fail(format!(
                        "set {}, restore {}, read back other bytes",
                        status_text(st),
                        status_text(restore)
                    )),
                    Err(e) => Verdict::Fail(status_text(e)),
                })
            },
        ),
        write_check(
            "set-bad-hash",
            "CTAP 2.1 §6.10.2 set (the array's hash must match: CTAP2_ERR_INTEGRITY_FAILURE)",
            "an array whose trailing hash is wrong",
            "0x3D CTAP2_ERR_INTEGRITY_FAILURE",
            |s, t| {
                let mut array = initial_array();
                if let Some(last) = array.last_mut() {
                    *last ^= 1;
                }
                Ok(expect_status(set_all(s, &array, Some(t))?, &[0x3D]))
            },
        ),
        write_check(
            "set-without-token",
            "CTAP 2.1 §6.10.2 set (a key with a PIN: CTAP2_ERR_PUAT_REQUIRED)",
            "a set without pinUvAuthParam",
            "0x36 CTAP2_ERR_PUAT_REQUIRED",
            |s, _| {
                Ok(expect_status(
                    set_all(s, &initial_array(), None)?,
                    &[status::PIN_REQUIRED],
                ))
            },
        ),
        write_check(
            "set-bad-param",
            "CTAP 2.1 §6.10.2 set (a pinUvAuthParam that does not verify)",
            "a set whose pinUvAuthParam is another token's",
            "0x33 CTAP2_ERR_PIN_AUTH_INVALID",
            |s, _| {
                Ok(expect_status(
                    set_all(s, &initial_array(), Some(&[0x66; 32]))?,
                    &[status::PIN_AUTH_INVALID],
                ))
            },
        ),
    ]
}
