//! authenticatorGetInfo (CTAP 2.1 §6.4). It must tell the truth: only what
//! is implemented is advertised (no clientPin, no extensions yet).

use crate::Authenticator;
use crate::auth_data::ES256;
use crate::authenticator::MAX_MSG_SIZE;
use crate::cbor::Value;
use crate::credential::CREDENTIAL_ID_LEN;
use crate::request::PUBLIC_KEY;

/// Advertised maxCredentialCountInList (0x07). Platforms batch longer
/// exclude/allow lists; we also accept longer lists when sent.
pub const MAX_CREDENTIAL_COUNT_IN_LIST: u64 = 64;

impl Authenticator {
    pub(crate) fn get_info(&self) -> Value {
        let usize_value = |n: usize| Value::Unsigned(u64::try_from(n).unwrap_or(u64::MAX));
        Value::int_map(vec![
            (0x01, Value::Array(vec![Value::text("FIDO_2_0")])),
            (0x02, Value::Array(vec![])),
            (0x03, Value::bytes(&self.config.aaguid)),
            (
                0x04,
                Value::text_map(vec![
                    ("rk", Value::Bool(true)),
                    ("up", Value::Bool(true)),
                    ("plat", Value::Bool(false)),
                ]),
            ),
            (0x05, usize_value(MAX_MSG_SIZE)),
            (0x07, Value::Unsigned(MAX_CREDENTIAL_COUNT_IN_LIST)),
            (0x08, usize_value(CREDENTIAL_ID_LEN)),
            (0x09, Value::Array(vec![Value::text("usb")])),
            (
                0x0A,
                Value::Array(vec![Value::text_map(vec![
                    ("alg", Value::int(ES256)),
                    ("type", Value::text(PUBLIC_KEY)),
                ])]),
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use crate::cbor::{self, Value};
    use crate::testing::TestEnv;
    use crate::{Authenticator, Config};

    #[test]
    fn get_info_is_canonical_and_truthful() {
        let mut env = TestEnv::new(0);
        let mut a = Authenticator::new(Config { aaguid: [7; 16] });
        let out = a.process_cbor(&mut env, &[0x04]);
        assert_eq!(out[0], 0x00);
        let v = cbor::decode(&out[1..]).unwrap();
        // Canonical: re-encoding the strictly decoded value is byte-identical.
        assert_eq!(cbor::encode(&v), out[1..]);
        let get = |k: u64| v.get(&Value::Unsigned(k)).cloned();
        assert_eq!(get(1), Some(Value::Array(vec![Value::text("FIDO_2_0")])));
        assert_eq!(get(2), Some(Value::Array(vec![])));
        assert_eq!(get(3), Some(Value::bytes(&[7; 16])));
        let options = get(4).unwrap();
        assert_eq!(options.get(&Value::text("clientPin")), None);
        assert_eq!(options.get(&Value::text("rk")), Some(&Value::Bool(true)));
        assert_eq!(options.get(&Value::text("plat")), Some(&Value::Bool(false)));
        assert_eq!(get(5), Some(Value::Unsigned(7609)));
        assert_eq!(get(8), Some(Value::Unsigned(62)));
        assert_eq!(get(9), Some(Value::Array(vec![Value::text("usb")])));
        assert_eq!(get(6), None, "no pinUvAuthProtocols without a PIN");
        // No store access at all.
        assert_eq!(env.store.writes(), 0);
    }
}
