//! authenticatorLargeBlobs (CTAP 2.1 §6.10): one serialized large-blob
//! array per device, read and written in fragments.
//!
//! The array is opaque to us except for its trailer: the last 16 bytes must
//! be LEFT(SHA-256(everything before), 16), checked once the last fragment
//! of a write has arrived (§6.10.2 set step 9). Fragments collect in RAM
//! ([`PendingWrite`]); the store sees exactly one durable `put` of the whole
//! new array, so a crash mid-write leaves the old array intact.
//!
//! Stored under `device/large-blobs`, verbatim. Absent means the initial
//! value, the empty CBOR array `0x80` followed by its 16-byte hash (§6.10.1).

use sha2::{Digest, Sha256};

use crate::Authenticator;
use crate::cbor::fields::{self, Fields, optional};
use crate::cbor::{self, Value};
use crate::env::{Env, Store};
use crate::error::Error;
use crate::large_blob_array::{
    HASH_LEN, MAX_SERIALIZED_LARGE_BLOB_ARRAY, MIN_ARRAY_LEN, PendingWrite, initial_array,
    truncated_hash,
};
use crate::pin::Permission;
use crate::status::CtapError;
use crate::store_keys::LARGE_BLOB_ARRAY;

/// The request (§6.10.1 parameters).
#[derive(Debug)]
struct Request<'a> {
    get: Option<u64>,
    set: Option<&'a [u8]>,
    offset: Option<u64>,
    length: Option<u64>,
    pin_uv_auth_param: Option<&'a [u8]>,
    pin_uv_auth_protocol: Option<u64>,
}

impl<'a> Request<'a> {
    fn parse(value: &'a Value) -> Result<Self, CtapError> {
        let f = Fields::of(value)?;
        Ok(Request {
            get: optional(f.int(0x01), fields::unsigned)?,
            set: optional(f.int(0x02), fields::bytes)?,
            offset: optional(f.int(0x03), fields::unsigned)?,
            length: optional(f.int(0x04), fields::unsigned)?,
            pin_uv_auth_param: optional(f.int(0x05), fields::bytes)?,
            pin_uv_auth_protocol: optional(f.int(0x06), fields::unsigned)?,
        })
    }
}

impl Authenticator {
    /// §6.10: "maxFragmentLength ... is maxMsgSize minus 64".
    fn max_fragment_length(&self) -> usize {
        self.max_msg_size().saturating_sub(64)
    }

    pub(crate) fn large_blobs<E: Env>(
        &mut self,
        env: &mut E,
        params: &[u8],
    ) -> Result<Option<Value>, Error> {
        let value = cbor::decode(params)?;
        let req = Request::parse(&value)?;
        // §6.10.2 step 1: offset is required — with INVALID_PARAMETER, not
        // MISSING_PARAMETER, as the spec says.
        let offset = req.offset.ok_or(CtapError::InvalidParameter)?;
        // Steps 2–3: exactly one of get and set.
        match (req.get, req.set) {
            (Some(get), None) => self.large_blobs_get(env, &req, offset, get).map(Some),
            (None, Some(set)) => self.large_blobs_set(env, &req, offset, set).map(|()| None),
            _ => Err(CtapError::InvalidParameter.into()),
        }
    }

    /// §6.10.2 "get" steps 1–5.
    fn large_blobs_get<E: Env>(
        &mut self,
        env: &mut E,
        req: &Request<'_>,
        offset: u64,
        get: u64,
    ) -> Result<Value, Error> {
        // Steps 1–2: get takes no length and no pinUvAuth.
        if req.length.is_some()
            || req.pin_uv_auth_param.is_some()
            || req.pin_uv_auth_protocol.is_some()
        {
            return Err(CtapError::InvalidParameter.into());
        }
        // Step 3.
        let get = usize::try_from(get).map_err(|_| CtapError::InvalidLength)?;
        if get > self.max_fragment_length() {
            return Err(CtapError::InvalidLength.into());
        }
        // Step 4: an offset past the end is a bad parameter; at the end, empty.
        let array = stored_array(env.store())?;
        let offset = usize::try_from(offset).map_err(|_| CtapError::InvalidParameter)?;
        let rest = array.get(offset..).ok_or(CtapError::InvalidParameter)?;
        // Step 5: up to `get` bytes from `offset`.
        let chunk = rest.get(..get).unwrap_or(rest);
        Ok(Value::int_map(vec![(0x01, Value::bytes(chunk))]))
    }

    /// §6.10.2 "set" steps 1–11.
    fn large_blobs_set<E: Env>(
        &mut self,
        env: &mut E,
        req: &Request<'_>,
        offset: u64,
        set: &[u8],
    ) -> Result<(), Error> {
        // Step 1.
        if set.len() > self.max_fragment_length() {
            return Err(CtapError::InvalidLength.into());
        }
        if offset == 0 {
            // Step 2: the first fragment declares the total length.
            let length = req.length.ok_or(CtapError::InvalidParameter)?;
            let length = usize::try_from(length).map_err(|_| CtapError::LargeBlobStorageFull)?;
            if length > MAX_SERIALIZED_LARGE_BLOB_ARRAY {
                return Err(CtapError::LargeBlobStorageFull.into());
            }
            if length < MIN_ARRAY_LEN {
                return Err(CtapError::InvalidParameter.into());
            }
            self.management.large_blob_write = Some(PendingWrite {
                expected_length: length,
                buffer: Vec::new(),
            });
        } else if req.length.is_some() {
            // Step 3: only the first fragment carries a length.
            return Err(CtapError::InvalidParameter.into());
        }
        // Step 4: fragments in order, without gaps or overlaps.
        let expected_next_offset = self
            .management
            .large_blob_write
            .as_ref()
            .map_or(0, |w| w.buffer.len());
        if usize::try_from(offset).ok() != Some(expected_next_offset) {
            return Err(CtapError::InvalidSeq.into());
        }
        // Step 5: with a PIN (or alwaysUv), each fragment is authorised.
        if self.pin_is_set(env)? || self.device_settings(env)?.always_uv {
            let param = req.pin_uv_auth_param.ok_or(CtapError::PuatRequired)?;
            let protocol = req
                .pin_uv_auth_protocol
                .ok_or(CtapError::MissingParameter)?;
            let offset = u32::try_from(offset).map_err(|_| CtapError::InvalidSeq)?;
            let mut message = vec![0xFF; 32];
            message.extend_from_slice(&[0x0C, 0x00]);
            message.extend_from_slice(&offset.to_le_bytes());
            message.extend_from_slice(&Sha256::digest(set));
            self.verify_pin_uv_auth_param(
                env,
                protocol,
                param,
                &message,
                Permission::LargeBlobWrite,
                None,
            )?; // step 5.5: a token without lbw is PIN_AUTH_INVALID
        }
        let write = self
            .management
            .large_blob_write
            .as_mut()
            .ok_or(CtapError::InvalidSeq)?;
        // Step 6: not past the declared length.
        if expected_next_offset.saturating_add(set.len()) > write.expected_length {
            return Err(CtapError::InvalidParameter.into());
        }
        // Steps 7–8.
        write.buffer.extend_from_slice(set);
        if write.buffer.len() < write.expected_length {
            return Ok(());
        }
        // Step 9: the whole array has arrived; check its trailer, then
        // commit it in one durable write. Either way the write is over.
        let Some(write) = self.management.large_blob_write.take() else {
            return Err(CtapError::Other.into());
        };
        let (data, hash) = write
            .buffer
            .split_at_checked(write.buffer.len().saturating_sub(HASH_LEN))
            .ok_or(CtapError::IntegrityFailure)?;
        if truncated_hash(data) != hash {
            return Err(CtapError::IntegrityFailure.into());
        }
        env.store().put(LARGE_BLOB_ARRAY, &write.buffer)?;
        Ok(())
    }
}

/// The stored array, or the initial one.
fn stored_array<S: Store>(store: &S) -> Result<Vec<u8>, Error> {
    Ok(store
        .get(LARGE_BLOB_ARRAY)?
        .map_or_else(initial_array, |array| array.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestEnv;
    use crate::{Authenticator, Config};

    #[test]
    fn initial_array_matches_the_spec_value() {
        // §6.10.1: h'8076be8b528d0075f7aae98d6fa57a6d3c'.
        assert_eq!(
            initial_array(),
            [
                0x80, 0x76, 0xBE, 0x8B, 0x52, 0x8D, 0x00, 0x75, 0xF7, 0xAA, 0xE9, 0x8D, 0x6F, 0xA5,
                0x7A, 0x6D, 0x3C
            ]
        );
    }

    #[test]
    fn fragments_are_held_to_max_msg_size_minus_64() {
        let mut env = TestEnv::new(0);
        let get = |a: &mut Authenticator, env: &mut TestEnv, n: u64| {
            let get = Value::int_map(vec![(0x01, Value::Unsigned(n)), (0x03, Value::Unsigned(0))]);
            a.process_cbor(env, &[&[0x0C][..], &cbor::encode(&get)].concat())[0]
        };
        let mut a = Authenticator::new(Config::default());
        assert_eq!(
            (get(&mut a, &mut env, 7545), get(&mut a, &mut env, 7546)),
            (0x00, 0x03)
        );
        let mut a = Authenticator::new(Config {
            max_msg_size: 1827,
            ..Config::default()
        });
        assert_eq!(
            (get(&mut a, &mut env, 1763), get(&mut a, &mut env, 1764)),
            (0x00, 0x03)
        );
        // A set fragment too: 1764 bytes at offset 0 is refused before anything else.
        let set = Value::int_map(vec![
            (0x02, Value::bytes(&[0; 1764])),
            (0x03, Value::Unsigned(0)),
            (0x04, Value::Unsigned(1764)),
        ]);
        let request = [&[0x0C][..], &cbor::encode(&set)].concat();
        assert_eq!(a.process_cbor(&mut env, &request), [0x03]);
    }

    #[test]
    fn a_failed_commit_keeps_the_old_array() {
        let mut env = TestEnv::new(0);
        let mut a = Authenticator::new(Config::default());
        a.power_up(&mut env);
        let mut array = vec![0x81, 0x40];
        array.extend_from_slice(&truncated_hash(&array));
        let set = Value::int_map(vec![
            (0x02, Value::bytes(&array)),
            (0x03, Value::Unsigned(0)),
            (0x04, Value::Unsigned(array.len() as u64)),
        ]);
        let request = [&[0x0C][..], &cbor::encode(&set)].concat();
        env.store.fail_next_write();
        assert_eq!(a.process_cbor(&mut env, &request), [0x7F]);
        assert_eq!(stored_array(&env.store).unwrap(), initial_array());
        assert_eq!(a.process_cbor(&mut env, &request), [0x00]);
        assert_eq!(stored_array(&env.store).unwrap(), array);
        // Reset goes back to the initial array.
        a.power_up(&mut env);
        assert_eq!(a.process_cbor(&mut env, &[0x07]), [0x00]);
        assert_eq!(stored_array(&env.store).unwrap(), initial_array());
    }
}
