//! Byte-layout tests of the USB/IP codec against the offsets in
//! `usbip_protocol.rst`.

use super::*;

fn record() -> DeviceRecord {
    DeviceRecord {
        path: "/sys/devices/softkey/1-1".into(),
        busid: "1-1".into(),
        busnum: 1,
        devnum: 2,
        speed: 2,
        id_vendor: 0x1209,
        id_product: 0x000A,
        bcd_device: 0x0100,
        device_class: 0,
        device_subclass: 0,
        device_protocol: 0,
        configuration_value: 1,
        num_configurations: 1,
        interfaces: vec![InterfaceRecord {
            class: 3,
            subclass: 0,
            protocol: 0,
        }],
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn op_headers() {
    assert_eq!(
        parse_op_header(&[0x01, 0x11, 0x80, 0x05, 0, 0, 0, 0]),
        Ok(OpRequest::DevList)
    );
    assert_eq!(
        parse_op_header(&[0x01, 0x11, 0x80, 0x03, 0, 0, 0, 0]),
        Ok(OpRequest::Import)
    );
    assert_eq!(
        parse_op_header(&[0x01, 0x06, 0x80, 0x05, 0, 0, 0, 0]),
        Err(CodecError::BadVersion(0x0106))
    );
    assert_eq!(
        parse_op_header(&[0x01, 0x11, 0x80, 0x07, 0, 0, 0, 0]),
        Err(CodecError::UnknownOp(0x8007))
    );
    let mut busid = [0u8; 32];
    busid[..3].copy_from_slice(b"1-1");
    assert_eq!(parse_busid(&busid), b"1-1");
    assert_eq!(parse_busid(&[b'x'; 32]).len(), 32);
}

#[test]
fn client_op_requests() {
    let mut out = Vec::new();
    encode_op_request(&mut out, None);
    assert_eq!(out, [0x01, 0x11, 0x80, 0x05, 0, 0, 0, 0]);
    out.clear();
    encode_op_request(&mut out, Some("1-1"));
    assert_eq!(out.len(), 40);
    assert_eq!(&out[..4], &[0x01, 0x11, 0x80, 0x03]);
    assert_eq!(&out[8..12], b"1-1\0");
}

#[test]
fn devlist_reply_layout() {
    let mut out = Vec::new();
    encode_devlist_reply(&mut out, &[record()]);
    assert_eq!(out.len(), 0x0C + DEVICE_RECORD_LEN + 4);
    assert_eq!(&out[..4], &[0x01, 0x11, 0x00, 0x05]);
    assert_eq!(be32(&out, 4), 0, "status");
    assert_eq!(be32(&out, 8), 1, "device count");
    assert!(out[0x0C..].starts_with(b"/sys/devices/softkey/1-1\0"));
    assert_eq!(&out[0x10C..0x110], b"1-1\0");
    assert_eq!(be32(&out, 0x12C), 1, "busnum");
    assert_eq!(be32(&out, 0x130), 2, "devnum");
    assert_eq!(be32(&out, 0x134), 2, "speed");
    assert_eq!(&out[0x138..0x13E], &[0x12, 0x09, 0x00, 0x0A, 0x01, 0x00]);
    assert_eq!(&out[0x13E..0x144], &[0, 0, 0, 1, 1, 1]);
    assert_eq!(&out[0x144..0x148], &[3, 0, 0, 0]);
}

#[test]
fn import_reply_layout() {
    let mut out = Vec::new();
    encode_import_reply(&mut out, Some(&record()));
    assert_eq!(out.len(), 8 + DEVICE_RECORD_LEN);
    assert_eq!(&out[..8], &[0x01, 0x11, 0x00, 0x03, 0, 0, 0, 0]);
    assert_eq!(&out[0x108..0x10C], b"1-1\0");
    assert_eq!(be32(&out, 0x128), 1);
    assert_eq!(out[0x13E], 1, "bNumInterfaces is the last byte");
    out.clear();
    encode_import_reply(&mut out, None);
    assert_eq!(out, [0x01, 0x11, 0x00, 0x03, 0, 0, 0, 1]);
}

fn submit(direction: Direction, len: u32) -> CmdSubmit {
    CmdSubmit {
        seqnum: 7,
        devid: 0x0001_0002,
        direction,
        ep: 1,
        transfer_flags: 0x200,
        transfer_buffer_length: len,
        start_frame: 0,
        number_of_packets: 0,
        interval: 5,
        setup: [1, 2, 3, 4, 5, 6, 7, 8],
    }
}

#[test]
fn submit_and_unlink_round_trip() {
    let cmd = submit(Direction::Out, 3);
    let mut out = Vec::new();
    encode_cmd_submit(&mut out, &cmd, &[9, 9, 9]);
    assert_eq!(out.len(), 51);
    assert_eq!(be32(&out, 0), 1);
    assert_eq!(be32(&out, 0x0C), 0, "direction OUT");
    assert_eq!(&out[0x28..0x30], &[1, 2, 3, 4, 5, 6, 7, 8], "setup at 0x28");
    assert_eq!(decode_urb(&out), Ok(Some((UrbCommand::Submit(cmd), 51))));
    assert_eq!(decode_urb(&out[..50]), Ok(None));
    assert_eq!(decode_urb(&out[..47]), Ok(None));

    let unlink = CmdUnlink {
        seqnum: 8,
        devid: 0x0001_0002,
        direction: Direction::Out,
        ep: 0,
        unlink_seqnum: 7,
    };
    out.clear();
    encode_cmd_unlink(&mut out, &unlink);
    assert_eq!(out.len(), 48);
    assert_eq!(be32(&out, 0x14), 7, "unlink_seqnum at 0x14");
    assert_eq!(decode_urb(&out), Ok(Some((UrbCommand::Unlink(unlink), 48))));
}

#[test]
fn in_submit_has_no_data_and_accepts_rst_iso_marker() {
    let mut cmd = submit(Direction::In, 64);
    cmd.number_of_packets = NON_ISO_PACKETS;
    let mut out = Vec::new();
    encode_cmd_submit(&mut out, &cmd, &[]);
    assert_eq!(decode_urb(&out), Ok(Some((UrbCommand::Submit(cmd), 48))));
}

#[test]
fn bad_headers_are_errors_not_allocations() {
    let mut out = Vec::new();
    encode_cmd_submit(&mut out, &submit(Direction::Out, u32::MAX), &[]);
    // Refused from the header alone, before any data arrives.
    assert_eq!(
        decode_urb(&out),
        Err(CodecError::TransferTooLarge(u32::MAX))
    );
    out.clear();
    encode_cmd_submit(&mut out, &submit(Direction::In, MAX_TRANSFER_LEN + 1), &[]);
    assert!(decode_urb(&out).is_err());

    let mut iso = submit(Direction::In, 64);
    iso.number_of_packets = 4;
    out.clear();
    encode_cmd_submit(&mut out, &iso, &[]);
    assert_eq!(decode_urb(&out), Err(CodecError::IsoUnsupported(4)));

    let mut h = [0u8; 48];
    h[3] = 9;
    assert_eq!(parse_urb_header(&h), Err(CodecError::UnknownCommand(9)));
    h[3] = 1;
    h[15] = 2;
    assert_eq!(parse_urb_header(&h), Err(CodecError::BadDirection(2)));
    h[3] = 3; // a RET from the client
    h[15] = 0;
    assert_eq!(parse_urb_header(&h), Err(CodecError::UnknownCommand(3)));
}

#[test]
fn garbage_never_panics() {
    let mut state = 0x1234_5678u32;
    for _ in 0..2000 {
        let mut h = [0u8; 48];
        for b in &mut h {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *b = state as u8;
        }
        let _ = decode_urb(&h);
        let _ = parse_reply_header(&h);
        let _ = parse_op_header(h.first_chunk::<8>().unwrap());
    }
}

#[test]
fn ret_layouts() {
    let mut out = Vec::new();
    encode_ret_submit(&mut out, 7, -32, 0, &[]);
    assert_eq!(out.len(), 48);
    assert_eq!(be32(&out, 0), 3);
    assert_eq!(be32(&out, 4), 7);
    assert_eq!(&out[8..0x14], &[0; 12], "devid, direction, ep are 0");
    assert_eq!(be32(&out, 0x14) as i32, -32);
    assert_eq!(
        parse_reply_header(out.first_chunk::<48>().unwrap()),
        Ok(UrbReply::Submit {
            seqnum: 7,
            status: -32,
            actual_length: 0
        })
    );
    out.clear();
    encode_ret_submit(&mut out, 9, 0, 2, &[0xAB, 0xCD]);
    assert_eq!(out.len(), 50);
    assert_eq!(be32(&out, 0x18), 2, "actual_length");
    assert_eq!(&out[48..], &[0xAB, 0xCD]);
    out.clear();
    encode_ret_unlink(&mut out, 10, -104);
    assert_eq!(out.len(), 48);
    assert_eq!(be32(&out, 0), 4);
    assert_eq!(
        parse_reply_header(out.first_chunk::<48>().unwrap()),
        Ok(UrbReply::Unlink {
            seqnum: 10,
            status: -104
        })
    );
}
