//! A USB/IP client that imports a FIDO HID device the way a Linux host does
//! (`usbip attach` → vhci_hcd → hub enumeration → usbhid), usable against any USB/IP
//! server (Linux `usbip_protocol.rst`, version 0x0111).

mod descriptors;
mod enumerate;
mod urb;
mod wire;

pub use descriptors::{
    ConfigDescriptor, DeviceDescriptor, EndpointDescriptor, FIDO_USAGE_CTAPHID, FIDO_USAGE_PAGE,
    HidInterface, ReportInfo, parse_report_descriptor,
};
pub use enumerate::{Enumeration, Strings, get_descriptor_setup};
pub use urb::{ControlResult, Report};
pub use wire::{
    CmdSubmit, DEVICE_RECORD_LEN, ExportedDevice, HEADER_LEN, OpHeader, RetHeader, RetSubmit,
    RetUnlink, STATUS_ECONNRESET, STATUS_EPIPE, USBIP_VERSION, encode_cmd_unlink,
    encode_req_devlist, encode_req_import,
};

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use crate::Error;
use urb::Urbs;
use wire::{INTERFACE_RECORD_LEN, OP_REP_DEVLIST, OP_REP_IMPORT};

/// Timeout for connecting and for each OP_* reply.
const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// More devices than any server exports; bounds what a hostile count can make us read.
const MAX_DEVLIST_ENTRIES: u32 = 1024;

fn connect(addr: SocketAddr) -> Result<TcpStream, Error> {
    let s = TcpStream::connect_timeout(&addr, OP_TIMEOUT)?;
    // Linux `usbip attach` hands a TCP_NODELAY socket to vhci; without it every
    // exchange waits ~40 ms for delayed ACKs (Nagle; transport/README.md "Threading model,
    // and why").
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(OP_TIMEOUT))?;
    s.set_write_timeout(Some(OP_TIMEOUT))?;
    Ok(s)
}

fn read_exact_op(s: &mut TcpStream, buf: &mut [u8], what: &str) -> Result<(), Error> {
    s.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            Error::Timeout(what.to_string())
        }
        _ => Error::Io(e),
    })
}

/// OP_REQ_DEVLIST → OP_REP_DEVLIST on a fresh connection (usbip_protocol.rst).
pub fn devlist(addr: SocketAddr) -> Result<Vec<ExportedDevice>, Error> {
    let mut s = connect(addr)?;
    s.write_all(&encode_req_devlist())?;
    let mut head = [0u8; 8];
    read_exact_op(&mut s, &mut head, "OP_REP_DEVLIST")?;
    let h = OpHeader::decode(&head)?;
    h.expect(OP_REP_DEVLIST)?;
    if h.status != 0 {
        return Err(Error::protocol(format!(
            "OP_REP_DEVLIST status {}",
            h.status
        )));
    }
    let mut n = [0u8; 4];
    read_exact_op(&mut s, &mut n, "OP_REP_DEVLIST device count")?;
    let n = u32::from_be_bytes(n);
    if n > MAX_DEVLIST_ENTRIES {
        return Err(Error::protocol(format!(
            "OP_REP_DEVLIST claims {n} devices"
        )));
    }
    let mut out = Vec::new();
    for _ in 0..n {
        let mut rec = [0u8; DEVICE_RECORD_LEN];
        read_exact_op(&mut s, &mut rec, "OP_REP_DEVLIST device record")?;
        let mut d = ExportedDevice::decode_record(&rec)?;
        let mut ifs = vec![0u8; usize::from(d.num_interfaces) * INTERFACE_RECORD_LEN];
        read_exact_op(&mut s, &mut ifs, "OP_REP_DEVLIST interface records")?;
        d.decode_interfaces(&ifs)?;
        out.push(d);
    }
    Ok(out)
}

/// An imported, enumerated FIDO HID device with one interrupt-IN URB kept outstanding.
#[derive(Debug)]
pub struct UsbipDevice {
    urbs: Urbs,
    exported: ExportedDevice,
    enumeration: Enumeration,
}

impl UsbipDevice {
    /// OP_REQ_IMPORT `busid`, then enumerate like Linux and submit the first IN URB.
    pub fn import(addr: SocketAddr, busid: &str) -> Result<Self, Error> {
        let mut s = connect(addr)?;
        s.write_all(&encode_req_import(busid)?)?;
        let mut head = [0u8; 8];
        read_exact_op(&mut s, &mut head, "OP_REP_IMPORT")?;
        let h = OpHeader::decode(&head)?;
        h.expect(OP_REP_IMPORT)?;
        if h.status != 0 {
            return Err(Error::ImportRefused(h.status));
        }
        let mut rec = [0u8; DEVICE_RECORD_LEN];
        read_exact_op(&mut s, &mut rec, "OP_REP_IMPORT device record")?;
        let exported = ExportedDevice::decode_record(&rec)?;
        if exported.busid != busid {
            return Err(Error::protocol(format!(
                "imported {busid:?} but the reply describes {:?}",
                exported.busid
            )));
        }
        let mut urbs = Urbs::new(s, exported.devid());
        let enumeration = enumerate::enumerate(&mut urbs)?;
        urbs.ensure_in()?;
        tracing::debug!(busid, "imported and enumerated");
        Ok(UsbipDevice {
            urbs,
            exported,
            enumeration,
        })
    }

    /// How long `control`, `write_report` and `unlink_pending_in` wait for their reply
    /// (default 5 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.urbs.timeout = timeout;
    }

    /// The device record of OP_REP_IMPORT.
    pub fn exported(&self) -> &ExportedDevice {
        &self.exported
    }

    /// Everything enumeration read.
    pub fn enumeration(&self) -> &Enumeration {
        &self.enumeration
    }

    pub fn device_descriptor(&self) -> &DeviceDescriptor {
        &self.enumeration.device
    }

    pub fn config(&self) -> &ConfigDescriptor {
        &self.enumeration.config
    }

    pub fn strings(&self) -> &Strings {
        &self.enumeration.strings
    }

    pub fn report_descriptor(&self) -> &[u8] {
        &self.enumeration.report_descriptor
    }

    pub fn report_info(&self) -> &ReportInfo {
        &self.enumeration.report
    }

    /// Interrupt-IN endpoint address (e.g. 0x81).
    pub fn endpoint_in(&self) -> u8 {
        self.enumeration.config.hid.endpoint_in.address
    }

    /// Interrupt-OUT endpoint address (e.g. 0x01).
    pub fn endpoint_out(&self) -> u8 {
        self.enumeration.config.hid.endpoint_out.address
    }

    /// wMaxPacketSize of the interrupt endpoints (64 for CTAPHID).
    pub fn max_packet_size(&self) -> u16 {
        self.enumeration.config.hid.endpoint_in.max_packet_size
    }

    /// Sends one report to the OUT endpoint and waits for its RET_SUBMIT.
    pub fn write_report(&mut self, report: &[u8; 64]) -> Result<(), Error> {
        self.urbs.write_report(report)
    }

    /// The next IN report, or None after `timeout`. An IN URB is resubmitted as soon as one
    /// completes, and one is submitted first if none is outstanding.
    pub fn read_report(&mut self, timeout: Duration) -> Result<Option<[u8; 64]>, Error> {
        self.urbs.read_report(timeout)
    }

    /// A control transfer on endpoint 0. `length` is the transfer buffer length (wLength for
    /// IN; must equal `data_out.len()` for OUT). A STALL is `status == -32`, not an error.
    pub fn control(
        &mut self,
        setup: [u8; 8],
        data_out: &[u8],
        length: u32,
    ) -> Result<ControlResult, Error> {
        self.urbs.control(setup, data_out, length)
    }

    /// CMD_UNLINK of the outstanding IN URB; returns RET_UNLINK's status (−104 if it was
    /// pending). No IN URB is resubmitted until `read_report` or `submit_in`.
    pub fn unlink_pending_in(&mut self) -> Result<i32, Error> {
        self.urbs.unlink_in()
    }

    /// Submits an IN URB if none is outstanding.
    pub fn submit_in(&mut self) -> Result<(), Error> {
        self.urbs.ensure_in()
    }

    /// The seqnum of the outstanding IN URB.
    pub fn pending_in_seqnum(&self) -> Option<u32> {
        self.urbs.in_seq()
    }

    /// Handles everything the device sends for `duration` (reports are queued for
    /// `read_report`); any protocol violation is returned as an error.
    pub fn pump(&mut self, duration: Duration) -> Result<(), Error> {
        self.urbs.pump(duration)
    }

    /// Reports received and not yet read.
    pub fn queued_reports(&self) -> usize {
        self.urbs.queued_reports()
    }

    /// The socket, for malformed-input tests. Bytes read from it directly bypass the URB
    /// bookkeeping; after writing garbage, expect the device to drop the connection.
    pub fn raw_stream(&mut self) -> &mut TcpStream {
        self.urbs.stream()
    }

    /// Detaches like Linux: unlinks the pending IN URB, then closes the connection.
    pub fn close(mut self) -> Result<(), Error> {
        if self.urbs.in_seq().is_some() {
            let status = self.urbs.unlink_in()?;
            if status != STATUS_ECONNRESET && status != 0 {
                return Err(Error::protocol(format!("RET_UNLINK status {status}")));
            }
        }
        self.urbs.stream().shutdown(Shutdown::Both)?;
        Ok(())
    }
}

impl crate::ctaphid::HidDevice for UsbipDevice {
    fn write_report(&mut self, report: &[u8; 64]) -> Result<(), Error> {
        UsbipDevice::write_report(self, report)
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<[u8; 64]>, Error> {
        UsbipDevice::read_report(self, timeout)
    }
}

#[cfg(test)]
mod tests;
