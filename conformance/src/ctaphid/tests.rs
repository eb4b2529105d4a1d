//! CtapHid against a scripted in-memory device.

use std::collections::VecDeque;

use super::*;

type Responder = Box<dyn FnMut(u32, u8, Vec<u8>) -> Vec<[u8; 64]>>;

/// Reassembles written requests independently of the code under test and queues the
/// responder's packets for reading.
struct FakeHid {
    written: Vec<[u8; 64]>,
    outbox: VecDeque<[u8; 64]>,
    assembling: Option<(u32, u8, usize, Vec<u8>)>,
    responder: Responder,
}

impl FakeHid {
    fn new(responder: Responder) -> Self {
        FakeHid {
            written: Vec::new(),
            outbox: VecDeque::new(),
            assembling: None,
            responder,
        }
    }
}

impl HidDevice for FakeHid {
    fn write_report(&mut self, r: &[u8; 64]) -> Result<(), Error> {
        self.written.push(*r);
        let cid = u32::from_be_bytes(r[..4].try_into().unwrap());
        if r[4] & 0x80 != 0 {
            let len = usize::from(u16::from_be_bytes([r[5], r[6]]));
            let take = len.min(57);
            self.assembling = Some((cid, r[4] & 0x7F, len, r[7..7 + take].to_vec()));
        } else if let Some((_, _, len, data)) = self.assembling.as_mut() {
            let take = (*len - data.len()).min(59);
            data.extend_from_slice(&r[5..5 + take]);
        }
        if let Some((cid, c, len, data)) = self.assembling.take() {
            if data.len() == len {
                let out = (self.responder)(cid, c, data);
                self.outbox.extend(out);
            } else {
                self.assembling = Some((cid, c, len, data));
            }
        }
        Ok(())
    }

    fn read_report(&mut self, _timeout: Duration) -> Result<Option<[u8; 64]>, Error> {
        Ok(self.outbox.pop_front())
    }
}

const CID: u32 = 0x1122_3344;

fn init_reply(cid: u32, data: &[u8]) -> Vec<[u8; 64]> {
    let mut r = data.to_vec();
    r.extend_from_slice(&CID.to_be_bytes());
    r.extend_from_slice(&[2, 1, 2, 3, capability::CBOR | capability::WINK]);
    encode_message(cid, cmd::INIT, &r).unwrap()
}

/// INIT, PING echo, CBOR = two keepalives then status 0 + reversed payload.
fn echo_device() -> FakeHid {
    FakeHid::new(Box::new(|cid, c, data| match c {
        cmd::INIT => init_reply(cid, &data),
        cmd::CBOR => {
            let mut out = vec![
                init_packet(cid, cmd::KEEPALIVE, 1, &[keepalive::PROCESSING]),
                init_packet(cid, cmd::KEEPALIVE, 1, &[keepalive::UPNEEDED]),
            ];
            let mut body = vec![0u8];
            body.extend(data.iter().rev());
            out.extend(encode_message(cid, cmd::CBOR, &body).unwrap());
            out
        }
        cmd::WINK => encode_message(cid, cmd::WINK, &[]).unwrap(),
        cmd::CANCEL => vec![],
        _ => encode_message(cid, c, &data).unwrap(),
    }))
}

#[test]
fn init_allocates_channel_and_records_capabilities() {
    let hid = CtapHid::init(echo_device()).unwrap();
    assert_eq!(hid.cid(), CID);
    assert_eq!(hid.protocol_version(), 2);
    assert_eq!(hid.version(), (1, 2, 3));
    assert_eq!(hid.capabilities(), capability::CBOR | capability::WINK);
    let mut dev = hid.into_device();
    let w = dev.written.remove(0);
    assert_eq!(&w[..7], &[0xFF, 0xFF, 0xFF, 0xFF, 0x86, 0x00, 0x08]);
}

#[test]
fn init_rejects_a_foreign_nonce() {
    let dev = FakeHid::new(Box::new(|cid, _, _| init_reply(cid, &[0; 8])));
    // A random nonce of eight zero bytes is 2^-64 likely.
    assert!(matches!(CtapHid::init(dev), Err(Error::Protocol(_))));
}

#[test]
fn ping_1000_bytes_fragments_in_sequence() {
    let mut hid = CtapHid::init(echo_device()).unwrap();
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(hid.ping(&data).unwrap(), data);
    let dev = hid.into_device();
    let sent = &dev.written[1..];
    assert_eq!(sent.len(), 17); // 57 + 16 × 59 ≥ 1000
    assert_eq!(&sent[0][..7], &[0x11, 0x22, 0x33, 0x44, 0x81, 0x03, 0xE8]);
    for (i, p) in sent[1..].iter().enumerate() {
        assert_eq!(p[4] as usize, i);
    }
}

#[test]
fn cbor_logs_keepalives_and_splits_status() {
    let mut hid = CtapHid::init(echo_device()).unwrap();
    let (status, body) = hid.cbor(0x04, &[1, 2, 3]).unwrap();
    assert_eq!(status, 0);
    assert_eq!(body, vec![3, 2, 1, 0x04]);
    let ka: Vec<u8> = hid.keepalives().iter().map(|k| k.status).collect();
    assert_eq!(ka, vec![1, 2]);
    assert!(hid.keepalives()[0].at <= hid.keepalives()[1].at);
    hid.clear_keepalives();
    assert!(hid.keepalives().is_empty());
}

#[test]
fn error_packet_is_typed_and_silence_times_out() {
    let dev = FakeHid::new(Box::new(|cid, c, data| match c {
        cmd::INIT => init_reply(cid, &data),
        cmd::PING => vec![init_packet(cid, cmd::ERROR, 1, &[err::INVALID_LEN])],
        _ => vec![],
    }));
    let mut hid = CtapHid::init(dev).unwrap();
    assert!(matches!(hid.ping(b"x"), Err(Error::HidError(0x03))));
    assert!(matches!(hid.wink(), Err(Error::Timeout(_))));
}

#[test]
fn cancel_and_raw_packets() {
    let mut hid = CtapHid::init(echo_device()).unwrap();
    hid.cancel().unwrap();
    hid.send_raw(&init_packet(CID, cmd::WINK, 0, &[])).unwrap();
    let r = hid.recv_raw(Duration::from_millis(10)).unwrap().unwrap();
    assert_eq!(&r[..7], &[0x11, 0x22, 0x33, 0x44, 0x88, 0, 0]);
    let dev = hid.into_device();
    assert_eq!(&dev.written[1][..7], &[0x11, 0x22, 0x33, 0x44, 0x91, 0, 0]);
}

#[test]
fn begin_then_finish_cbor() {
    let mut hid = CtapHid::init(echo_device()).unwrap();
    hid.begin_cbor(0x01, &[0xA0]).unwrap();
    hid.cancel().unwrap();
    assert_eq!(hid.finish_cbor().unwrap(), (0, vec![0xA0, 0x01]));
}

#[test]
fn init_response_parse_is_strict() {
    let mut d = vec![0u8; 17];
    d[8..12].copy_from_slice(&[0x61, 0x28, 0x91, 0xb1]);
    d[12] = 2;
    let r = InitResponse::parse(&d).unwrap();
    assert_eq!(r.cid, 0x6128_91b1);
    assert!(InitResponse::parse(&d[..16]).is_err());
    d.push(0);
    assert!(InitResponse::parse(&d).is_err());
}

/// A device that answers every PING with an all-zero report first (channel 0), then the
/// echo, as virtual-fido does when an IN URB waited a second.
fn zero_report_first_device() -> FakeHid {
    FakeHid::new(Box::new(|cid, c, data| match c {
        cmd::INIT => init_reply(cid, &data),
        _ => {
            let mut out = vec![[0u8; 64]];
            out.extend(encode_message(cid, c, &data).unwrap());
            out
        }
    }))
}

#[test]
fn other_channel_packets_are_refused_unless_skipping_is_asked_for() {
    let mut strict = CtapHid::init(zero_report_first_device()).unwrap();
    assert!(matches!(strict.ping(b"hi"), Err(Error::Protocol(_))));

    let mut lenient = CtapHid::init(zero_report_first_device()).unwrap();
    lenient.set_skip_other_channels(true);
    assert_eq!(lenient.ping(b"hi").unwrap(), b"hi");
    assert_eq!(lenient.ping(b"again").unwrap(), b"again");
    assert_eq!(lenient.skipped_packets(), 2);
}
