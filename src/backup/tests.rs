use super::*;

/// A P-256 PKCS#8 key (RFC 5958 `PrivateKeyInfo`), made fresh per test.
fn p256_pkcs8() -> Vec<u8> {
    use p256::pkcs8::EncodePrivateKey;
    let mut scalar = [0u8; 32];
    getrandom::fill(&mut scalar).unwrap();
    scalar[0] = 0x42; // well below the group order
    let secret = p256::SecretKey::from_slice(&scalar).unwrap();
    secret.to_pkcs8_der().unwrap().as_bytes().to_vec()
}

/// RFC 8410 §10.3: an Ed25519 private key in PKCS#8 v1.
const ED25519_PKCS8: [u8; 48] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    0xd4, 0xee, 0x72, 0xdb, 0xf9, 0x13, 0x58, 0x4a, 0xd5, 0xb6, 0xd8, 0xf1, 0xf7, 0x69, 0xf8, 0xad,
    0x3a, 0xfe, 0x7c, 0x28, 0xcb, 0xf1, 0xd4, 0xfb, 0xe0, 0x97, 0xa8, 0x8f, 0x44, 0x75, 0x58, 0x42,
];

fn credential(id: &[u8], algorithm: BackupAlgorithm, key: Vec<u8>) -> BackupCredential {
    BackupCredential {
        credential_id: id.to_vec(),
        rp_id: "shop.example".into(),
        rp_name: Some("Shop".into()),
        user_id: b"user-1".to_vec(),
        user_name: Some("ann@shop.example".into()),
        user_display_name: Some("Ann".into()),
        created: 1_700_000_000,
        algorithm,
        private_key_pkcs8: Zeroizing::new(key),
        cred_protect: 2,
        cred_blob: Some(b"blob".to_vec()),
        large_blob_key: Some(Zeroizing::new([7; 32])),
        hmac: Some(HmacCredentials {
            with_uv: Zeroizing::new([1; 32]),
            without_uv: Zeroizing::new([2; 32]),
        }),
        third_party_payment: true,
    }
}

#[test]
fn round_trip_keeps_every_field() {
    let es = credential(b"cred-es256", BackupAlgorithm::Es256, p256_pkcs8());
    let ed = credential(
        b"cred-ed25519",
        BackupAlgorithm::EdDsa,
        ED25519_PKCS8.to_vec(),
    );
    let contents = BackupContents {
        credentials: vec![es.clone(), ed.clone()],
        sign_count: 4242,
        wrap_keys: vec![Zeroizing::new([9; 32])],
        large_blob_array: Some(vec![0x80, 1, 2, 3]),
    };
    let json = to_cxf(&contents, &[5; 16], 1_800_000_000).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    // CXF shape: header, one account, one item per passkey, type "passkey".
    assert_eq!(value["version"]["major"], 1);
    assert_eq!(value["exporterRpId"], "softkey.local");
    assert_eq!(value["timestamp"], 1_800_000_000u64);
    let item = &value["accounts"][0]["items"][0];
    assert_eq!(item["credentials"][0]["type"], "passkey");
    assert_eq!(item["credentials"][0]["rpId"], "shop.example");
    assert_eq!(item["credentials"][0]["userHandle"], "dXNlci0x");
    assert_eq!(
        item["credentials"][0]["fido2Extensions"]["hmacCredentials"]["algorithm"],
        "hmac-sha256"
    );

    let (back, skipped) = from_cxf(json.as_bytes()).unwrap();
    assert_eq!(skipped, Skipped::default());
    assert_eq!(back.sign_count, 4242);
    assert_eq!(back.wrap_keys.len(), 1);
    assert_eq!(*back.wrap_keys[0], [9; 32]);
    assert_eq!(back.large_blob_array, Some(vec![0x80, 1, 2, 3]));
    assert_eq!(back.credentials.len(), 2);
    for (got, want) in back.credentials.iter().zip([&es, &ed]) {
        assert_eq!(got.credential_id, want.credential_id);
        assert_eq!(got.rp_id, want.rp_id);
        assert_eq!(got.rp_name, want.rp_name);
        assert_eq!(got.user_id, want.user_id);
        assert_eq!(got.user_name, want.user_name);
        assert_eq!(got.user_display_name, want.user_display_name);
        assert_eq!(got.created, want.created);
        assert_eq!(got.algorithm, want.algorithm);
        assert_eq!(*got.private_key_pkcs8, *want.private_key_pkcs8);
        assert_eq!(got.cred_protect, 2);
        assert!(got.third_party_payment, "CXF payments round trips");
        assert_eq!(got.cred_blob, want.cred_blob);
        assert_eq!(got.large_blob_key.as_deref(), Some(&[7; 32]));
        assert_eq!(got.hmac, want.hmac);
    }
}

#[test]
fn foreign_cxf_with_passwords_imports_only_the_passkey() {
    let key = URL_SAFE_NO_PAD.encode(p256_pkcs8());
    let json = format!(
        r#"{{"version":{{"major":1,"minor":0}},"exporterRpId":"other.example",
        "exporterDisplayName":"Other","timestamp":1,"accounts":[{{"id":"AAAA","username":"",
        "email":"a@b.c","collections":[],"items":[
          {{"id":"aXRlbTE","title":"Mail","credentials":[
            {{"type":"basic-auth","username":{{"fieldType":"string","value":"x"}}}}]}},
          {{"id":"aXRlbTI","title":"Shop","credentials":[
            {{"type":"passkey","credentialId":"Y3JlZA","rpId":"shop.example","username":"ann",
              "userDisplayName":"","userHandle":"dQ","key":"{key}"}}]}}]}}]}}"#
    );
    let (contents, skipped) = from_cxf(json.as_bytes()).unwrap();
    assert_eq!(skipped.other_credentials, 1);
    assert_eq!(contents.sign_count, 0);
    assert!(contents.wrap_keys.is_empty());
    let c = &contents.credentials[0];
    assert_eq!(c.credential_id, b"cred");
    assert_eq!(c.user_name.as_deref(), Some("ann"));
    assert_eq!(c.user_display_name, None);
    assert_eq!(c.cred_protect, 1);
    assert_eq!(c.algorithm, BackupAlgorithm::Es256);
    assert!(c.hmac.is_none());
}

#[test]
fn malformed_documents_are_refused_with_a_reason() {
    let cases: [(&str, &str); 4] = [
        ("not json", "not a CXF document"),
        (
            r#"{"version":{"major":2,"minor":0},"exporterRpId":"x","exporterDisplayName":"x","timestamp":0,"accounts":[]}"#,
            "version 2.0",
        ),
        (
            r#"{"version":{"major":1,"minor":0},"exporterRpId":"x","exporterDisplayName":"x","timestamp":0,"accounts":[{"id":"","username":"","email":"","items":[{"id":"","title":"t","credentials":[{"type":"passkey","credentialId":"!!","rpId":"a","username":"","userDisplayName":"","userHandle":"","key":"AAAA"}]}]}]}"#,
            "not a PKCS#8 key of an algorithm softkey signs with",
        ),
        (
            r#"{"version":{"major":1,"minor":0},"exporterRpId":"x","exporterDisplayName":"x","timestamp":0,"accounts":[{"id":"","username":"","email":"","items":[{"id":"","title":"t","credentials":[{"type":"passkey","rpId":"a"}]}]}]}"#,
            "malformed passkey",
        ),
    ];
    for (json, expected) in cases {
        let error = format!("{:#}", from_cxf(json.as_bytes()).unwrap_err());
        assert!(error.contains(expected), "{expected:?} not in {error:?}");
    }
}
