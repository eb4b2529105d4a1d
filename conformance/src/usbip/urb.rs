//! The URB engine of an imported USB/IP connection, as Linux `vhci_hcd` runs it.
//!
//! Single-threaded: every wait reads the socket (with a timeout) into a buffer and handles
//! each complete reply in arrival order, so OUT, control and IN completions may interleave
//! in any order. Every reply is checked strictly (usbip_protocol.rst; `vhci_rx.c` drops a
//! device on a RET_SUBMIT for an unknown seqnum): unknown, answered or unlinked seqnums,
//! more data than the transfer buffer, empty or short interrupt-IN reports, and header
//! fields that neither are 0 (what the Linux server sends) nor echo the URB are errors.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::wire::{
    CmdSubmit, DIR_IN, DIR_OUT, HEADER_LEN, NON_ISO_PACKETS, RetHeader, RetSubmit, RetUnlink,
    STATUS_ECONNRESET, URB_DIR_IN, encode_cmd_unlink,
};
use crate::Error;

/// One CTAPHID report.
pub type Report = [u8; 64];

/// The result of a control transfer: the URB status (0, or −errno such as −32 for a
/// STALL) and the data stage the device returned (empty for OUT requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlResult {
    pub status: i32,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
enum Pending {
    Control { dir_in: bool, length: u32 },
    Out { ep: u32, length: u32 },
    In { ep: u32, length: u32 },
    Unlink { target: u32 },
}

#[derive(Debug)]
enum Done {
    Submit {
        status: i32,
        actual_length: u32,
        data: Vec<u8>,
    },
    Unlink {
        status: i32,
    },
}

/// The interrupt endpoints the engine uses after enumeration.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Endpoints {
    pub in_ep: u32,
    pub in_len: u32,
    pub in_interval: u32,
    pub out_ep: u32,
    pub out_interval: u32,
}

/// The URB side of one imported device.
#[derive(Debug)]
pub(crate) struct Urbs {
    stream: TcpStream,
    rx: Vec<u8>,
    devid: u32,
    next_seq: u32,
    pending: HashMap<u32, Pending>,
    done: HashMap<u32, Done>,
    unlinked: HashSet<u32>,
    in_queue: VecDeque<Report>,
    in_seq: Option<u32>,
    /// Resubmit an IN URB as soon as one completes (what usbhid's `hid_irq_in` does).
    pub auto_resubmit: bool,
    pub endpoints: Endpoints,
    pub timeout: Duration,
}

impl Urbs {
    pub(crate) fn new(stream: TcpStream, devid: u32) -> Self {
        Urbs {
            stream,
            rx: Vec::new(),
            devid,
            next_seq: 1,
            pending: HashMap::new(),
            done: HashMap::new(),
            unlinked: HashSet::new(),
            in_queue: VecDeque::new(),
            in_seq: None,
            auto_resubmit: true,
            endpoints: Endpoints::default(),
            timeout: Duration::from_secs(5),
        }
    }

    pub(crate) fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    pub(crate) fn in_seq(&self) -> Option<u32> {
        self.in_seq
    }

    fn take_seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        s
    }

    fn send_submit(&mut self, mut cmd: CmdSubmit, data: &[u8], p: Pending) -> Result<u32, Error> {
        cmd.seqnum = self.take_seq();
        cmd.devid = self.devid;
        self.stream.write_all(&cmd.encode(data))?;
        self.pending.insert(cmd.seqnum, p);
        Ok(cmd.seqnum)
    }

    /// Submits a control URB on endpoint 0 and returns its seqnum.
    pub(crate) fn submit_control(
        &mut self,
        setup: [u8; 8],
        data_out: &[u8],
        length: u32,
    ) -> Result<u32, Error> {
        let dir_in = setup[0] & 0x80 != 0;
        if !dir_in && usize::try_from(length).ok() != Some(data_out.len()) {
            return Err(Error::Usage(
                "control OUT: length must equal data_out.len()".into(),
            ));
        }
        if dir_in && !data_out.is_empty() {
            return Err(Error::Usage("control IN carries no OUT data".into()));
        }
        let cmd = CmdSubmit {
            seqnum: 0,
            devid: 0,
            direction: if dir_in { DIR_IN } else { DIR_OUT },
            ep: 0,
            transfer_flags: if dir_in { URB_DIR_IN } else { 0 },
            transfer_buffer_length: length,
            start_frame: 0,
            number_of_packets: NON_ISO_PACKETS,
            interval: 0,
            setup,
        };
        self.send_submit(cmd, data_out, Pending::Control { dir_in, length })
    }

    /// Submits a control URB and waits for its completion.
    pub(crate) fn control(
        &mut self,
        setup: [u8; 8],
        data_out: &[u8],
        length: u32,
    ) -> Result<ControlResult, Error> {
        let seq = self.submit_control(setup, data_out, length)?;
        match self.wait_done(seq, "control RET_SUBMIT")? {
            Done::Submit { status, data, .. } => Ok(ControlResult { status, data }),
            Done::Unlink { .. } => Err(Error::protocol("RET_UNLINK answered a control URB")),
        }
    }

    /// Submits the interrupt-IN URB if none is outstanding.
    pub(crate) fn ensure_in(&mut self) -> Result<(), Error> {
        if self.in_seq.is_some() {
            return Ok(());
        }
        let e = self.endpoints;
        let cmd = CmdSubmit {
            seqnum: 0,
            devid: 0,
            direction: DIR_IN,
            ep: e.in_ep,
            transfer_flags: URB_DIR_IN,
            transfer_buffer_length: e.in_len,
            start_frame: 0,
            number_of_packets: NON_ISO_PACKETS,
            interval: e.in_interval,
            setup: [0; 8],
        };
        let seq = self.send_submit(
            cmd,
            &[],
            Pending::In {
                ep: e.in_ep,
                length: e.in_len,
            },
        )?;
        self.in_seq = Some(seq);
        Ok(())
    }

    /// Sends one report on the interrupt-OUT endpoint and waits for its RET_SUBMIT.
    pub(crate) fn write_report(&mut self, report: &Report) -> Result<(), Error> {
        let e = self.endpoints;
        let cmd = CmdSubmit {
            seqnum: 0,
            devid: 0,
            direction: DIR_OUT,
            ep: e.out_ep,
            transfer_flags: 0,
            transfer_buffer_length: 64,
            start_frame: 0,
            number_of_packets: NON_ISO_PACKETS,
            interval: e.out_interval,
            setup: [0; 8],
        };
        let seq = self.send_submit(
            cmd,
            report,
            Pending::Out {
                ep: e.out_ep,
                length: 64,
            },
        )?;
        match self.wait_done(seq, "interrupt OUT RET_SUBMIT")? {
            Done::Submit {
                status: 0,
                actual_length: 64,
                ..
            } => Ok(()),
            Done::Submit {
                status,
                actual_length,
                ..
            } => Err(Error::protocol(format!(
                "interrupt OUT completed with status {status}, actual_length {actual_length}"
            ))),
            Done::Unlink { .. } => Err(Error::protocol("RET_UNLINK answered an OUT URB")),
        }
    }

    /// The next IN report, waiting up to `timeout`; keeps one IN URB outstanding.
    pub(crate) fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, Error> {
        self.ensure_in()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.in_queue.pop_front() {
                self.ensure_in()?;
                return Ok(Some(r));
            }
            if !self.pump_one(deadline)? {
                return Ok(None);
            }
        }
    }

    /// Unlinks the outstanding IN URB and returns RET_UNLINK's status. On −104 the URB is
    /// gone (a later RET_SUBMIT for it is an error); on 0 its report was already queued.
    /// No new IN URB is submitted until `read_report` or `ensure_in`.
    pub(crate) fn unlink_in(&mut self) -> Result<i32, Error> {
        let target = self
            .in_seq
            .ok_or_else(|| Error::Usage("no IN URB is outstanding".into()))?;
        let saved = self.auto_resubmit;
        self.auto_resubmit = false;
        let seq = self.take_seq();
        let sent = self
            .stream
            .write_all(&encode_cmd_unlink(seq, self.devid, target));
        self.pending.insert(seq, Pending::Unlink { target });
        let res = sent
            .map_err(Error::from)
            .and_then(|()| self.wait_done(seq, "RET_UNLINK"));
        self.auto_resubmit = saved;
        match res? {
            Done::Unlink { status } => Ok(status),
            Done::Submit { .. } => Err(Error::protocol("RET_SUBMIT answered a CMD_UNLINK")),
        }
    }

    /// Handles whatever the device sends for `duration`; any violation is an error.
    pub(crate) fn pump(&mut self, duration: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + duration;
        while self.pump_one(deadline)? {}
        Ok(())
    }

    /// Reports received but not yet read.
    pub(crate) fn queued_reports(&self) -> usize {
        self.in_queue.len()
    }

    fn wait_done(&mut self, seq: u32, what: &str) -> Result<Done, Error> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(d) = self.done.remove(&seq) {
                return Ok(d);
            }
            if !self.pump_one(deadline)? {
                return Err(Error::Timeout(format!("{what} (seqnum {seq})")));
            }
        }
    }

    /// Handles one complete reply, reading more bytes as needed. False on deadline.
    fn pump_one(&mut self, deadline: Instant) -> Result<bool, Error> {
        loop {
            if self.try_handle()? {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let wait = (deadline - now).max(Duration::from_millis(1));
            self.stream.set_read_timeout(Some(wait))?;
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    return Err(Error::Io(std::io::Error::new(
                        ErrorKind::UnexpectedEof,
                        "device closed the USB/IP connection",
                    )));
                }
                Ok(n) => self.rx.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Handles one reply if the buffer holds a complete one.
    fn try_handle(&mut self) -> Result<bool, Error> {
        let Some(head) = self.rx.first_chunk::<HEADER_LEN>() else {
            return Ok(false);
        };
        match RetHeader::decode(head)? {
            RetHeader::Submit(r) => {
                let p = self.pending_for_submit(r.seqnum)?;
                let (dir_in, ep, length) = match p {
                    Pending::Control { dir_in, length } => (dir_in, 0, length),
                    Pending::Out { ep, length } => (false, ep, length),
                    Pending::In { ep, length } => (true, ep, length),
                    Pending::Unlink { .. } => {
                        return Err(Error::protocol(format!(
                            "RET_SUBMIT for the CMD_UNLINK seqnum {}",
                            r.seqnum
                        )));
                    }
                };
                self.check_submit_header(&r, dir_in, ep, length)?;
                let data_len = if dir_in { r.actual_length as usize } else { 0 };
                let Some(data) = self.rx.get(HEADER_LEN..HEADER_LEN + data_len) else {
                    return Ok(false);
                };
                let data = data.to_vec();
                self.rx.drain(..HEADER_LEN + data_len);
                self.pending.remove(&r.seqnum);
                self.complete_submit(r, p, data)?;
            }
            RetHeader::Unlink(u) => {
                self.rx.drain(..HEADER_LEN);
                self.complete_unlink(u)?;
            }
        }
        Ok(true)
    }

    fn pending_for_submit(&self, seq: u32) -> Result<Pending, Error> {
        if let Some(p) = self.pending.get(&seq) {
            return Ok(*p);
        }
        let why = if self.unlinked.contains(&seq) {
            "an URB it already unlinked with -ECONNRESET"
        } else if seq != 0 && seq < self.next_seq {
            "an URB already answered"
        } else {
            "an unknown seqnum"
        };
        Err(Error::protocol(format!(
            "RET_SUBMIT seqnum {seq} is for {why}"
        )))
    }

    fn check_submit_header(
        &self,
        r: &RetSubmit,
        dir_in: bool,
        ep: u32,
        len: u32,
    ) -> Result<(), Error> {
        let want_dir = if dir_in { DIR_IN } else { DIR_OUT };
        // The Linux server sends devid/direction/ep as 0; an echo of the URB is tolerated.
        if r.devid != 0 && r.devid != self.devid {
            return Err(Error::protocol(format!(
                "RET_SUBMIT {} devid {:#x}",
                r.seqnum, r.devid
            )));
        }
        if r.direction != 0 && r.direction != want_dir {
            return Err(Error::protocol(format!(
                "RET_SUBMIT {} direction {} for a direction-{want_dir} URB",
                r.seqnum, r.direction
            )));
        }
        if r.ep != 0 && r.ep != ep {
            return Err(Error::protocol(format!(
                "RET_SUBMIT {} ep {} for an ep-{ep} URB",
                r.seqnum, r.ep
            )));
        }
        if r.actual_length > len {
            return Err(Error::protocol(format!(
                "RET_SUBMIT {} actual_length {} exceeds transfer_buffer_length {len}",
                r.seqnum, r.actual_length
            )));
        }
        if r.number_of_packets != 0 && r.number_of_packets != NON_ISO_PACKETS {
            return Err(Error::protocol(format!(
                "RET_SUBMIT {} number_of_packets {:#x} on a non-ISO URB",
                r.seqnum, r.number_of_packets
            )));
        }
        Ok(())
    }

    fn complete_submit(&mut self, r: RetSubmit, p: Pending, data: Vec<u8>) -> Result<(), Error> {
        if let Pending::In { .. } = p {
            self.in_seq = None;
            if r.status != 0 {
                return Err(Error::protocol(format!(
                    "interrupt IN URB {} completed with status {}",
                    r.seqnum, r.status
                )));
            }
            let report: Report = data.as_slice().try_into().map_err(|_| {
                Error::protocol(format!(
                    "interrupt IN URB {} completed with {} bytes, a report is 64",
                    r.seqnum,
                    data.len()
                ))
            })?;
            self.in_queue.push_back(report);
            if self.auto_resubmit {
                self.ensure_in()?;
            }
            return Ok(());
        }
        let done = Done::Submit {
            status: r.status,
            actual_length: r.actual_length,
            data,
        };
        self.done.insert(r.seqnum, done);
        Ok(())
    }

    fn complete_unlink(&mut self, u: RetUnlink) -> Result<(), Error> {
        let Some(Pending::Unlink { target }) = self.pending.get(&u.seqnum).copied() else {
            return Err(Error::protocol(format!(
                "RET_UNLINK seqnum {} answers no CMD_UNLINK",
                u.seqnum
            )));
        };
        self.pending.remove(&u.seqnum);
        let still_pending = self.pending.contains_key(&target);
        match (u.status, still_pending) {
            (STATUS_ECONNRESET, true) => {
                // usbip_protocol.rst: after −ECONNRESET no RET_SUBMIT for it, ever.
                self.pending.remove(&target);
                self.unlinked.insert(target);
                if self.in_seq == Some(target) {
                    self.in_seq = None;
                }
            }
            (STATUS_ECONNRESET, false) => {
                return Err(Error::protocol(format!(
                    "RET_UNLINK -ECONNRESET for URB {target}, which had already completed"
                )));
            }
            (0, true) => {
                return Err(Error::protocol(format!(
                    "RET_UNLINK status 0 for URB {target}, whose RET_SUBMIT never came"
                )));
            }
            _ => {}
        }
        self.done
            .insert(u.seqnum, Done::Unlink { status: u.status });
        Ok(())
    }
}
