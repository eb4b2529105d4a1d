//! USB descriptors of the exported FIDO HID device (USB 2.0 §9.6, HID 1.11
//! §6.2) and the [`DeviceConfig`] they are built from.
//!
//! One full-speed device, one configuration, one HID interface (class 3/0/0)
//! with interrupt endpoints IN 0x81 and OUT 0x01 of 64 bytes, and the FIDO
//! report descriptor (usage page 0xF1D0) that hosts and udev's `fido_id`
//! recognise (CTAP 2.1 §11.2.8.1).

use super::codec::{DeviceRecord, InterfaceRecord};

/// The YubiKey 5 report descriptor (transport/README.md "Report descriptor"): usage page
/// 0xF1D0, usage 0x01, 64-byte input (usage 0x20) and output (usage 0x21).
pub const REPORT_DESCRIPTOR: [u8; 34] = [
    0x06, 0xD0, 0xF1, 0x09, 0x01, 0xA1, 0x01, 0x09, 0x20, 0x15, 0x00, 0x26, 0xFF, 0x00, 0x75, 0x08,
    0x95, 0x40, 0x81, 0x02, 0x09, 0x21, 0x15, 0x00, 0x26, 0xFF, 0x00, 0x75, 0x08, 0x95, 0x40, 0x91,
    0x02, 0xC0,
];

/// HID descriptor: HID 1.11, no country, one report descriptor of 34 bytes.
pub const HID_DESCRIPTOR: [u8; 9] = [0x09, 0x21, 0x11, 0x01, 0x00, 0x01, 0x22, 0x22, 0x00];

pub const DESCRIPTOR_DEVICE: u8 = 0x01;
pub const DESCRIPTOR_CONFIGURATION: u8 = 0x02;
pub const DESCRIPTOR_STRING: u8 = 0x03;
pub const DESCRIPTOR_HID: u8 = 0x21;
pub const DESCRIPTOR_REPORT: u8 = 0x22;

/// Interrupt IN endpoint address (device to host).
pub const EP_IN: u8 = 0x81;
/// Interrupt OUT endpoint address (host to device).
pub const EP_OUT: u8 = 0x01;
/// Endpoint number of both interrupt endpoints.
pub const EP_NUMBER: u32 = 1;
/// wMaxPacketSize of ep0 and of the interrupt endpoints.
pub const MAX_PACKET: u8 = 64;
/// Polling interval in frames (ms at full speed).
pub const INTERVAL: u8 = 5;
/// The only bConfigurationValue.
pub const CONFIGURATION_VALUE: u8 = 1;
/// USB speed enum value of a full-speed device (`enum usb_device_speed`).
pub const SPEED_FULL: u32 = 2;
/// US English, the one language of the string descriptors.
pub const LANGID_EN_US: u16 = 0x0409;

/// What the exported device says about itself.
///
/// Defaults: VID 0x1209 / PID 0x000A (pid.codes test range), bcdDevice
/// 0x0100, bus id `1-1` on busnum 1, devnum 2 (device address 2 behind a
/// root hub at address 1, as the first device plugged into a Linux bus gets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    pub vendor_id: u16,
    pub product_id: u16,
    pub bcd_device: u16,
    pub manufacturer: String,
    pub product: String,
    pub serial: String,
    /// Bus id that OP_REQ_IMPORT names (at most 31 bytes).
    pub bus_id: String,
    pub busnum: u32,
    pub devnum: u32,
    /// Major, minor, build bytes reported by CTAPHID_INIT.
    pub version: [u8; 3],
    /// Whether CTAPHID_INIT offers CBOR (CTAP2); false makes a U2F-only key.
    pub cbor: bool,
}

/// The bus id softkey's one device is exported under (`usbip attach -b`).
pub const DEFAULT_BUS_ID: &str = "1-1";

impl DeviceConfig {
    /// The default device with the caller's serial number string.
    pub fn new(serial: impl Into<String>) -> Self {
        Self {
            vendor_id: 0x1209,
            product_id: 0x000A,
            bcd_device: 0x0100,
            manufacturer: "softkey".into(),
            product: "softkey FIDO2 authenticator".into(),
            serial: serial.into(),
            bus_id: DEFAULT_BUS_ID.into(),
            busnum: 1,
            devnum: 2,
            version: [0, 1, 0],
            cbor: true,
        }
    }

    /// Rejects settings that cannot be put on the wire.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.bus_id.is_empty() || self.bus_id.len() > 31 || self.bus_id.contains('\0') {
            return Err("bus id must be 1..=31 bytes without NUL");
        }
        if self.busnum > 0xFFFF || self.devnum > 0xFFFF {
            return Err("busnum and devnum must fit in 16 bits");
        }
        Ok(())
    }

    /// `devid` that URB headers carry for this device.
    pub fn devid(&self) -> u32 {
        (self.busnum << 16) | (self.devnum & 0xFFFF)
    }

    /// The record of OP_REP_DEVLIST and OP_REP_IMPORT.
    pub fn record(&self) -> DeviceRecord {
        DeviceRecord {
            path: format!(
                "/sys/devices/platform/softkey/usb{}/{}",
                self.busnum, self.bus_id
            ),
            busid: self.bus_id.clone(),
            busnum: self.busnum,
            devnum: self.devnum,
            speed: SPEED_FULL,
            id_vendor: self.vendor_id,
            id_product: self.product_id,
            bcd_device: self.bcd_device,
            device_class: 0,
            device_subclass: 0,
            device_protocol: 0,
            configuration_value: CONFIGURATION_VALUE,
            num_configurations: 1,
            interfaces: vec![InterfaceRecord {
                class: 3,
                subclass: 0,
                protocol: 0,
            }],
        }
    }
}

/// Every descriptor, encoded once.
#[derive(Debug, Clone)]
pub struct Descriptors {
    pub device: [u8; 18],
    pub configuration: [u8; 41],
    /// String descriptors 0 (language ids) to 3 (serial number).
    pub strings: [Vec<u8>; 4],
}

impl Descriptors {
    pub fn new(config: &DeviceConfig) -> Self {
        let [vl, vh] = config.vendor_id.to_le_bytes();
        let [pl, ph] = config.product_id.to_le_bytes();
        let [dl, dh] = config.bcd_device.to_le_bytes();
        // USB 2.0 §9.6.1: bcdUSB 2.00, class at interface level, ep0 64 bytes,
        // iManufacturer 1, iProduct 2, iSerialNumber 3, one configuration.
        let device = [
            18,
            DESCRIPTOR_DEVICE,
            0x00,
            0x02,
            0,
            0,
            0,
            MAX_PACKET,
            vl,
            vh,
            pl,
            ph,
            dl,
            dh,
            1,
            2,
            3,
            1,
        ];
        let [tl, th] = 41u16.to_le_bytes();
        #[rustfmt::skip]
        let configuration = [
            // USB 2.0 §9.6.3: wTotalLength 41, one interface, bus powered, 100 mA.
            9, DESCRIPTOR_CONFIGURATION, tl, th, 1, CONFIGURATION_VALUE, 0, 0x80, 50,
            // §9.6.5: interface 0, alt 0, two endpoints, HID class 3/0/0.
            9, 0x04, 0, 0, 2, 0x03, 0x00, 0x00, 0,
            // HID 1.11 §6.2.1.
            HID_DESCRIPTOR[0], HID_DESCRIPTOR[1], HID_DESCRIPTOR[2], HID_DESCRIPTOR[3],
            HID_DESCRIPTOR[4], HID_DESCRIPTOR[5], HID_DESCRIPTOR[6], HID_DESCRIPTOR[7],
            HID_DESCRIPTOR[8],
            // §9.6.6: interrupt IN and OUT, 64 bytes.
            7, 0x05, EP_IN, 0x03, MAX_PACKET, 0, INTERVAL,
            7, 0x05, EP_OUT, 0x03, MAX_PACKET, 0, INTERVAL,
        ];
        let [ll, lh] = LANGID_EN_US.to_le_bytes();
        Self {
            device,
            configuration,
            strings: [
                vec![4, DESCRIPTOR_STRING, ll, lh],
                string_descriptor(&config.manufacturer),
                string_descriptor(&config.product),
                string_descriptor(&config.serial),
            ],
        }
    }

    /// String descriptor `index`, `None` (STALL) past the last one.
    pub fn string(&self, index: u8) -> Option<&[u8]> {
        self.strings.get(usize::from(index)).map(Vec::as_slice)
    }
}

/// USB 2.0 §9.6.7: bLength, type 3, UTF-16LE; cut to fit bLength ≤ 255
/// without splitting a surrogate pair.
fn string_descriptor(s: &str) -> Vec<u8> {
    let mut units: Vec<u16> = Vec::new();
    for c in s.chars() {
        let mut buf = [0u16; 2];
        let encoded = c.encode_utf16(&mut buf);
        if 2 + 2 * (units.len() + encoded.len()) > 255 {
            break;
        }
        units.extend_from_slice(encoded);
    }
    let mut out = Vec::with_capacity(2 + 2 * units.len());
    out.push(u8::try_from(2 + 2 * units.len()).unwrap_or(u8::MAX));
    out.push(DESCRIPTOR_STRING);
    for u in units {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_descriptor_fields() {
        let d = Descriptors::new(&DeviceConfig::new("SN1"));
        let dev = d.device;
        assert_eq!(dev[0] as usize, dev.len());
        assert_eq!(dev[1], 1);
        assert_eq!(u16::from_le_bytes([dev[2], dev[3]]), 0x0200, "bcdUSB");
        assert_eq!(&dev[4..7], &[0, 0, 0], "class at interface level");
        assert_eq!(dev[7], 64);
        assert_eq!(u16::from_le_bytes([dev[8], dev[9]]), 0x1209);
        assert_eq!(u16::from_le_bytes([dev[10], dev[11]]), 0x000A);
        assert_eq!(&dev[14..18], &[1, 2, 3, 1]);
    }

    #[test]
    fn configuration_descriptor_is_consistent() {
        let c = Descriptors::new(&DeviceConfig::new("x")).configuration;
        assert_eq!(u16::from_le_bytes([c[2], c[3]]) as usize, c.len());
        assert_eq!(c[4], 1, "one interface");
        assert_eq!(c[7], 0x80);
        // Walk the descriptors: each bLength must chain to the end exactly.
        let mut at = 0;
        let mut types = Vec::new();
        while at < c.len() {
            types.push(c[at + 1]);
            at += c[at] as usize;
        }
        assert_eq!(at, c.len());
        assert_eq!(types, [0x02, 0x04, 0x21, 0x05, 0x05]);
        assert_eq!(&c[9 + 4..9 + 8], &[2, 3, 0, 0], "2 endpoints, HID 3/0/0");
        assert_eq!(&c[18..27], &HID_DESCRIPTOR);
        assert_eq!(&c[27..34], &[7, 5, 0x81, 3, 64, 0, 5]);
        assert_eq!(&c[34..41], &[7, 5, 0x01, 3, 64, 0, 5]);
    }

    #[test]
    fn hid_descriptor_announces_the_report_length() {
        assert_eq!(
            u16::from_le_bytes([HID_DESCRIPTOR[7], HID_DESCRIPTOR[8]]) as usize,
            REPORT_DESCRIPTOR.len()
        );
        // FIDO usage page 0xF1D0, usage 1.
        assert_eq!(&REPORT_DESCRIPTOR[..5], &[0x06, 0xD0, 0xF1, 0x09, 0x01]);
    }

    #[test]
    fn strings_are_utf16le() {
        let d = Descriptors::new(&DeviceConfig::new("AB12"));
        assert_eq!(d.string(0), Some(&[4u8, 3, 0x09, 0x04][..]));
        assert_eq!(
            d.string(3),
            Some(&[10u8, 3, b'A', 0, b'B', 0, b'1', 0, b'2', 0][..])
        );
        let manufacturer = d.string(1).unwrap();
        assert_eq!(manufacturer[0] as usize, manufacturer.len());
        assert_eq!(manufacturer.len(), 2 + 2 * "softkey".len());
        assert_eq!(d.string(4), None);
    }

    #[test]
    fn long_strings_are_cut_to_255_bytes() {
        let mut cfg = DeviceConfig::new("s".repeat(300));
        cfg.product = "😀".repeat(100);
        let d = Descriptors::new(&cfg);
        let serial = d.string(3).unwrap();
        assert_eq!(serial.len(), 254);
        assert_eq!(serial[0], 254);
        let product = d.string(2).unwrap();
        // 63 surrogate pairs = 252 bytes + 2; a 64th would exceed 255.
        assert_eq!(product.len(), 254);
    }

    #[test]
    fn validation_and_record() {
        let mut cfg = DeviceConfig::new("x");
        assert!(cfg.validate().is_ok());
        assert_eq!(cfg.devid(), 0x0001_0002);
        let r = cfg.record();
        assert_eq!((r.busnum, r.devnum, r.speed), (1, 2, 2));
        assert_eq!(r.busid, "1-1");
        cfg.bus_id = "x".repeat(32);
        assert!(cfg.validate().is_err());
    }
}
