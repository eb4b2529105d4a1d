//! Deliberately wrong answers, for testing relying parties: the Chrome
//! DevTools `WebAuthn.setResponseOverrideBits` controls, by their names.
//! A relying party must reject each; softkey's test lab turns them on per
//! authenticator, and nothing else does (a key as served by `softkey
//! serve` never has one set).
//!
//! - `isBadUP`: the UP flag is cleared in the authenticator data, which is
//!   then signed as it is (the signature verifies; the flag is the fault);
//! - `isBadUV`: the same for the UV flag;
//! - `isBogusSignature`: the assertion signature, and the attestation
//!   signature of makeCredential, are replaced by as many zero bytes.

use crate::auth_data::{FLAG_UP, FLAG_UV};
use crate::cbor::Value;

/// Which faults the next answers carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseOverrides {
    /// CDP `isBogusSignature`.
    pub bogus_signature: bool,
    /// CDP `isBadUV`.
    pub bad_uv: bool,
    /// CDP `isBadUP`.
    pub bad_up: bool,
}

impl ResponseOverrides {
    /// The authenticator data flags with UP and UV cleared as asked.
    pub(crate) fn flags(self, flags: u8) -> u8 {
        let mut flags = flags;
        if self.bad_up {
            flags &= !FLAG_UP;
        }
        if self.bad_uv {
            flags &= !FLAG_UV;
        }
        flags
    }

    /// A signature, or as many zero bytes.
    pub(crate) fn signature(self, signature: Vec<u8>) -> Vec<u8> {
        if self.bogus_signature {
            vec![0; signature.len()]
        } else {
            signature
        }
    }

    /// An attestation statement with its `sig` zeroed when asked.
    pub(crate) fn attestation_statement(self, statement: Value) -> Value {
        if !self.bogus_signature {
            return statement;
        }
        match statement {
            Value::Map(pairs) => Value::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| match (&k, v) {
                        (Value::Text(name), Value::Bytes(sig)) if name == "sig" => {
                            (k, Value::Bytes(vec![0; sig.len()]))
                        }
                        (_, v) => (k, v),
                    })
                    .collect(),
            ),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bit_does_its_one_thing() {
        let none = ResponseOverrides::default();
        assert_eq!(none.flags(0x45), 0x45);
        assert_eq!(none.signature(vec![1, 2]), [1, 2]);
        let all = ResponseOverrides {
            bogus_signature: true,
            bad_uv: true,
            bad_up: true,
        };
        assert_eq!(all.flags(0x45), 0x40);
        assert_eq!(all.signature(vec![1, 2]), [0, 0]);
        let statement = Value::text_map(vec![
            ("alg", Value::int(-7)),
            ("sig", Value::bytes(&[9; 3])),
        ]);
        assert_eq!(
            all.attestation_statement(statement),
            Value::text_map(vec![
                ("alg", Value::int(-7)),
                ("sig", Value::bytes(&[0; 3]))
            ])
        );
    }
}
