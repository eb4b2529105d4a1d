//! The exported USB device as the URB phase sees it, sans-IO: control
//! requests on ep0, CTAPHID reports on the interrupt endpoints, and the queue
//! of pending interrupt-IN URBs (`usbip_protocol.rst`, CMD_SUBMIT /
//! CMD_UNLINK).
//!
//! An interrupt-IN URB is kept pending until a report exists: never an empty
//! completion (that makes the host poll in a busy loop). Every URB is
//! answered exactly once; an unlinked URB is never answered.

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use super::codec::{self, CmdSubmit, CmdUnlink, Direction, UrbCommand};
use super::control::{self, ControlOutcome, Ep0State, Setup};
use super::descriptors::{Descriptors, DeviceConfig, EP_NUMBER};
use crate::ctaphid::{Ctaphid, Event, PACKET_SIZE, TransactionId};

/// −EPIPE: the endpoint stalled (request not supported).
pub const STATUS_STALL: i32 = -32;
/// −ECONNRESET: the URB was unlinked before it completed.
pub const STATUS_UNLINKED: i32 = -104;
/// −EOVERFLOW: the URB buffer is smaller than a report.
pub const STATUS_OVERFLOW: i32 = -75;
/// Interrupt-IN URBs one client may keep outstanding (Linux usbhid keeps one).
pub const MAX_PENDING_IN: usize = 32;

/// A URB that breaks the protocol; the connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceError {
    /// devid is not `busnum << 16 | devnum` of the imported device.
    WrongDevice(u32),
    TooManyPendingIn,
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongDevice(d) => write!(f, "URB for unknown devid {d:#x}"),
            Self::TooManyPendingIn => write!(f, "more than {MAX_PENDING_IN} pending IN URBs"),
        }
    }
}

impl std::error::Error for DeviceError {}

/// One attached FIDO HID device. Replies are appended to the caller's
/// buffer as encoded RET_SUBMIT / RET_UNLINK frames.
#[derive(Debug)]
pub struct Device {
    descriptors: Descriptors,
    devid: u32,
    control: Ep0State,
    ctaphid: Ctaphid,
    pending_in: VecDeque<u32>,
}

impl Device {
    pub fn new(config: &DeviceConfig, ctaphid: Ctaphid) -> Self {
        Self {
            descriptors: Descriptors::new(config),
            devid: config.devid(),
            control: Ep0State::new(),
            ctaphid,
            pending_in: VecDeque::new(),
        }
    }

    pub fn ctaphid(&self) -> &Ctaphid {
        &self.ctaphid
    }

    /// Number of interrupt-IN URBs waiting for a report.
    pub fn pending_in(&self) -> usize {
        self.pending_in.len()
    }

    /// Handles one URB command; `data` is its OUT data.
    pub fn handle_command(
        &mut self,
        now: Instant,
        cmd: &UrbCommand,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), DeviceError> {
        match cmd {
            UrbCommand::Submit(s) => self.submit(now, s, data, out),
            UrbCommand::Unlink(u) => {
                self.unlink(u, out);
                Ok(())
            }
        }
    }

    fn submit(
        &mut self,
        now: Instant,
        cmd: &CmdSubmit,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), DeviceError> {
        if cmd.devid != self.devid {
            return Err(DeviceError::WrongDevice(cmd.devid));
        }
        let seq = cmd.seqnum;
        match (cmd.ep, cmd.direction) {
            (0, _) => self.control(now, cmd, data, out),
            (EP_NUMBER, Direction::In) => {
                if (cmd.transfer_buffer_length as usize) < PACKET_SIZE {
                    tracing::debug!(seq, "interrupt IN buffer smaller than a report");
                    codec::encode_ret_submit(out, seq, STATUS_OVERFLOW, 0, &[]);
                    return Ok(());
                }
                if self.pending_in.len() >= MAX_PENDING_IN {
                    return Err(DeviceError::TooManyPendingIn);
                }
                tracing::trace!(seq, "interrupt IN queued");
                self.pending_in.push_back(seq);
                self.pump(out);
            }
            (EP_NUMBER, Direction::Out) => {
                if data.len() > PACKET_SIZE {
                    codec::encode_ret_submit(out, seq, STATUS_STALL, 0, &[]);
                    return Ok(());
                }
                // A short report is zero-padded, as HID pads to the report size.
                let mut packet = [0u8; PACKET_SIZE];
                if let Some(dst) = packet.get_mut(..data.len()) {
                    dst.copy_from_slice(data);
                }
                let len = u32::try_from(data.len()).unwrap_or(0);
                // The OUT transfer completes before the device's answer goes IN.
                codec::encode_ret_submit(out, seq, 0, len, &[]);
                self.ctaphid.handle_packet(now, &packet);
                self.pump(out);
            }
            (ep, _) => {
                tracing::debug!(seq, ep, "URB for a missing endpoint: stall");
                codec::encode_ret_submit(out, seq, STATUS_STALL, 0, &[]);
            }
        }
        Ok(())
    }

    fn control(&mut self, now: Instant, cmd: &CmdSubmit, data: &[u8], out: &mut Vec<u8>) {
        let seq = cmd.seqnum;
        let setup = Setup::parse(&cmd.setup);
        let stage = data
            .get(..usize::from(setup.length).min(data.len()))
            .unwrap_or_default();
        let outcome = control::handle(&self.descriptors, &mut self.control, &setup, stage);
        tracing::trace!(
            seq,
            request_type = setup.request_type,
            request = setup.request,
            value = setup.value,
            ok = outcome != ControlOutcome::Stall,
            "control request"
        );
        match outcome {
            ControlOutcome::Data(bytes) => {
                // Never more than wLength and never more than the URB buffer.
                let n = bytes
                    .len()
                    .min(usize::from(setup.length))
                    .min(cmd.transfer_buffer_length as usize);
                let reply = bytes.get(..n).unwrap_or_default();
                let len = u32::try_from(n).unwrap_or(0);
                codec::encode_ret_submit(out, seq, 0, len, reply);
            }
            ControlOutcome::Ack => {
                let len = u32::try_from(stage.len()).unwrap_or(0);
                codec::encode_ret_submit(out, seq, 0, len, &[]);
            }
            ControlOutcome::Report(packet) => {
                let len = u32::try_from(stage.len()).unwrap_or(0);
                codec::encode_ret_submit(out, seq, 0, len, &[]);
                self.ctaphid.handle_packet(now, &packet);
                self.pump(out);
            }
            ControlOutcome::Stall => codec::encode_ret_submit(out, seq, STATUS_STALL, 0, &[]),
        }
    }

    fn unlink(&mut self, cmd: &CmdUnlink, out: &mut Vec<u8>) {
        let target = cmd.unlink_seqnum;
        if let Some(i) = self.pending_in.iter().position(|&s| s == target) {
            self.pending_in.remove(i);
            tracing::trace!(target, "pending URB unlinked");
            codec::encode_ret_unlink(out, cmd.seqnum, STATUS_UNLINKED);
        } else {
            // Already completed (or never seen): it has had its one answer.
            tracing::trace!(target, "unlink of a completed URB");
            codec::encode_ret_unlink(out, cmd.seqnum, 0);
        }
    }

    /// Fires due CTAPHID timers and sends what they produced.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<u8>) {
        self.ctaphid.handle_timeout(now);
        self.pump(out);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.ctaphid.poll_timeout()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.ctaphid.poll_event()
    }

    /// Delivers the handler's answer and sends it as far as IN URBs allow.
    pub fn complete(&mut self, id: TransactionId, response: &[u8], out: &mut Vec<u8>) {
        self.ctaphid.complete(id, response);
        self.pump(out);
    }

    /// Cancels the request with the handler; its answer is still sent.
    pub fn cancel_request(&self) {
        self.ctaphid.cancel_request();
    }

    /// Nothing in flight and nothing left for the host to read.
    pub fn is_quiet(&self) -> bool {
        !self.ctaphid.is_busy() && !self.ctaphid.has_transmit()
    }

    /// The host is gone: cancel the running request, forget pending URBs.
    pub fn abort(&mut self) {
        self.ctaphid.abort();
        self.pending_in.clear();
    }

    /// Pairs queued reports with pending IN URBs, oldest first.
    fn pump(&mut self, out: &mut Vec<u8>) {
        while !self.pending_in.is_empty() {
            let Some(packet) = self.ctaphid.poll_transmit() else {
                break;
            };
            if let Some(seq) = self.pending_in.pop_front() {
                codec::encode_ret_submit(out, seq, 0, PACKET_SIZE as u32, &packet);
            }
        }
    }
}

#[cfg(test)]
#[path = "device_tests.rs"]
mod tests;
