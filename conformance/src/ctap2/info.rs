//! authenticatorGetInfo response (CTAP 2.1 §6.4), decoded into typed fields with the
//! raw map kept for anything this client does not name.

use std::collections::BTreeMap;

use super::cbor::{
    MapView, Value, as_array, as_bool, as_bytes, as_int, as_text, as_uint, decode_canonical,
};
use crate::Error;

/// The decoded getInfo response.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    /// 0x01, required.
    pub versions: Vec<String>,
    /// 0x02.
    pub extensions: Vec<String>,
    /// 0x03, required.
    pub aaguid: [u8; 16],
    /// 0x04.
    pub options: BTreeMap<String, bool>,
    /// 0x05.
    pub max_msg_size: Option<u64>,
    /// 0x06.
    pub pin_uv_auth_protocols: Vec<u64>,
    /// 0x07.
    pub max_credential_count_in_list: Option<u64>,
    /// 0x08.
    pub max_credential_id_length: Option<u64>,
    /// 0x09.
    pub transports: Vec<String>,
    /// 0x0A: (type, alg) pairs.
    pub algorithms: Vec<(String, i64)>,
    /// The whole response map.
    pub raw: Value,
    /// The response bytes (canonical).
    pub raw_bytes: Vec<u8>,
}

fn texts(v: Option<&Value>, what: &str) -> Result<Vec<String>, Error> {
    v.map_or(Ok(Vec::new()), |v| {
        as_array(v, what)?
            .iter()
            .map(|t| as_text(t, what).map(str::to_string))
            .collect()
    })
}

fn opt_uint(v: Option<&Value>, what: &str) -> Result<Option<u64>, Error> {
    v.map(|v| as_uint(v, what)).transpose()
}

impl Info {
    /// Decodes a getInfo response body, which must be canonical.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let raw = decode_canonical(bytes)?;
        let m = MapView::new(&raw, "getInfo response")?;
        for (k, _) in m.entries() {
            if as_uint(k, "getInfo key").is_err() {
                return Err(Error::cbor(format!(
                    "getInfo key {k:?} is not an unsigned integer"
                )));
            }
        }
        let versions = texts(Some(m.require_int(0x01)?), "versions")?;
        if versions.is_empty() {
            return Err(Error::cbor("getInfo versions is empty"));
        }
        let aaguid = as_bytes(m.require_int(0x03)?, "aaguid")?
            .try_into()
            .map_err(|_| Error::cbor("aaguid is not 16 bytes"))?;
        let mut options = BTreeMap::new();
        if let Some(o) = m.get_int(0x04) {
            for (k, v) in MapView::new(o, "options")?.entries() {
                options.insert(
                    as_text(k, "option id")?.to_string(),
                    as_bool(v, "option value")?,
                );
            }
        }
        let pin_uv_auth_protocols = match m.get_int(0x06) {
            Some(v) => as_array(v, "pinUvAuthProtocols")?
                .iter()
                .map(|p| as_uint(p, "pinUvAuthProtocol"))
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let algorithms = match m.get_int(0x0A) {
            Some(v) => as_array(v, "algorithms")?
                .iter()
                .map(|p| {
                    let pm = MapView::new(p, "algorithm")?;
                    let ty = as_text(pm.require_text("type")?, "type")?.to_string();
                    let alg = i64::try_from(as_int(pm.require_text("alg")?, "alg")?)
                        .map_err(|_| Error::cbor("alg out of range"))?;
                    Ok((ty, alg))
                })
                .collect::<Result<_, Error>>()?,
            None => Vec::new(),
        };
        Ok(Info {
            versions,
            extensions: texts(m.get_int(0x02), "extensions")?,
            aaguid,
            options,
            max_msg_size: opt_uint(m.get_int(0x05), "maxMsgSize")?,
            pin_uv_auth_protocols,
            max_credential_count_in_list: opt_uint(m.get_int(0x07), "maxCredentialCountInList")?,
            max_credential_id_length: opt_uint(m.get_int(0x08), "maxCredentialIdLength")?,
            transports: texts(m.get_int(0x09), "transports")?,
            algorithms,
            raw: raw.clone(),
            raw_bytes: bytes.to_vec(),
        })
    }

    /// The value of an option, if the device lists it.
    pub fn option(&self, id: &str) -> Option<bool> {
        self.options.get(id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::super::cbor::{encode, int, text};
    use super::*;

    fn sample() -> Value {
        Value::Map(vec![
            (
                int(1),
                Value::Array(vec![text("U2F_V2"), text("FIDO_2_0"), text("FIDO_2_1")]),
            ),
            (int(2), Value::Array(vec![text("credProtect")])),
            (int(3), Value::Bytes(vec![0xAA; 16])),
            (
                int(4),
                Value::Map(vec![
                    (text("rk"), Value::Bool(true)),
                    (text("up"), Value::Bool(true)),
                ]),
            ),
            (int(5), int(7609)),
            (int(6), Value::Array(vec![int(2), int(1)])),
            (int(7), int(10)),
            (int(8), int(255)),
            (int(9), Value::Array(vec![text("usb")])),
            (
                int(10),
                Value::Array(vec![Value::Map(vec![
                    (text("alg"), int(-7)),
                    (text("type"), text("public-key")),
                ])]),
            ),
            (int(0x0E), int(1)),
        ])
    }

    #[test]
    fn decodes_every_named_field() {
        let i = Info::parse(&encode(&sample())).unwrap();
        assert_eq!(i.versions, vec!["U2F_V2", "FIDO_2_0", "FIDO_2_1"]);
        assert_eq!(i.extensions, vec!["credProtect"]);
        assert_eq!(i.aaguid, [0xAA; 16]);
        assert_eq!(i.option("rk"), Some(true));
        assert_eq!(i.option("clientPin"), None);
        assert_eq!(i.max_msg_size, Some(7609));
        assert_eq!(i.pin_uv_auth_protocols, vec![2, 1]);
        assert_eq!(i.max_credential_count_in_list, Some(10));
        assert_eq!(i.max_credential_id_length, Some(255));
        assert_eq!(i.transports, vec!["usb"]);
        assert_eq!(i.algorithms, vec![("public-key".to_string(), -7)]);
        assert!(MapView::new(&i.raw, "raw").unwrap().get_int(0x0E).is_some());
    }

    #[test]
    fn rejects_missing_required_and_non_canonical() {
        let Value::Map(mut m) = sample() else {
            unreachable!()
        };
        m.retain(|(k, _)| *k != int(3));
        assert!(Info::parse(&encode(&Value::Map(m))).is_err());
        let mut b = encode(&sample());
        // Turn key 0x01 into a second key 0x02: a duplicate key.
        b[1] = 0x02;
        assert!(Info::parse(&b).is_err());
    }
}
