//! The CTAPHID state machine (CTAP 2.1 §11.2.4–§11.2.9): message assembly,
//! channel allocation, one transaction at a time, CANCEL and KEEPALIVE.
//!
//! Sans-IO: the caller passes `now` into every input and asks
//! [`Ctaphid::poll_timeout`] when to call [`Ctaphid::handle_timeout`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::channels::ChannelTable;
use super::packet::{self, Packet, Parsed};
use super::{
    BROADCAST_CID, CAPABILITY_CBOR, CAPABILITY_WINK, CONT_DATA_SIZE, Command, ErrorCode,
    INIT_DATA_SIZE, MAX_MESSAGE_SIZE, PROTOCOL_VERSION, RESERVED_CID,
};
use crate::handler::{Request, RequestKind, Signals};

/// Tunables of the CTAPHID layer. `Default` gives the values of transport/README.md
/// "CTAPHID rules".
#[derive(Debug, Clone)]
pub struct CtaphidConfig {
    /// Major, minor and build device version bytes reported by INIT.
    pub version: [u8; 3],
    /// Capabilities byte reported by INIT. Default WINK | CBOR (no NMSG: MSG is served).
    pub capabilities: u8,
    /// Size of the channel table before LRU eviction.
    pub max_channels: usize,
    /// First channel id handed out by INIT on the broadcast channel.
    pub first_cid: u32,
    /// A multi-packet message stalled this long ends with ERR_MSG_TIMEOUT.
    pub message_timeout: Duration,
    /// Delay from dispatching a request to its first KEEPALIVE.
    pub keepalive_first: Duration,
    /// Period of later KEEPALIVEs (CTAP 2.1 §11.2.9.1.7; the spec's bound is 100 ms).
    pub keepalive_interval: Duration,
    /// Outgoing reports kept while the host reads none; newer ones are dropped.
    pub max_queued_packets: usize,
}

impl Default for CtaphidConfig {
    fn default() -> Self {
        Self {
            version: [0, 1, 0],
            capabilities: CAPABILITY_WINK | CAPABILITY_CBOR,
            max_channels: 256,
            first_cid: 1,
            message_timeout: Duration::from_millis(500),
            keepalive_first: Duration::from_millis(50),
            keepalive_interval: Duration::from_millis(80),
            // Three maximum-size responses.
            max_queued_packets: 3 * packet::packet_count(MAX_MESSAGE_SIZE),
        }
    }
}

/// Identifies one dispatched request, so that a late answer to a request that
/// was aborted (INIT resync, disconnect) is recognised and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionId(u64);

/// A complete CBOR or MSG request for the handler.
#[derive(Debug, Clone)]
pub struct Dispatch {
    pub id: TransactionId,
    pub request: Request,
    /// Cancelled by CTAPHID_CANCEL or an abort; carries the keepalive status out.
    pub signals: Signals,
}

/// Work for the caller's handler side.
#[derive(Debug, Clone)]
pub enum Event {
    /// Run the handler and pass its answer to [`Ctaphid::complete`].
    Request(Dispatch),
    /// CTAPHID_WINK arrived (already answered); show the user which device speaks.
    Wink,
}

#[derive(Debug)]
enum State {
    Idle,
    Assembling {
        cid: u32,
        cmd: Command,
        total: usize,
        data: Vec<u8>,
        next_seq: u8,
        deadline: Instant,
    },
    Processing {
        cid: u32,
        kind: RequestKind,
        id: u64,
        signals: Signals,
        keepalive_at: Instant,
    },
}

impl State {
    fn cid(&self) -> Option<u32> {
        match self {
            State::Idle => None,
            State::Assembling { cid, .. } | State::Processing { cid, .. } => Some(*cid),
        }
    }
}

/// The CTAPHID layer of one device (one host connection).
#[derive(Debug)]
pub struct Ctaphid {
    config: CtaphidConfig,
    channels: ChannelTable,
    state: State,
    outgoing: VecDeque<Packet>,
    events: VecDeque<Event>,
    next_id: u64,
}

impl Ctaphid {
    pub fn new(config: CtaphidConfig) -> Self {
        let channels = ChannelTable::new(config.max_channels, config.first_cid);
        Self {
            config,
            channels,
            state: State::Idle,
            outgoing: VecDeque::new(),
            events: VecDeque::new(),
            next_id: 0,
        }
    }

    /// Whether a message is being assembled or a request is with the handler.
    pub fn is_busy(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Number of allocated channels.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Feeds one report from the host (an interrupt OUT transfer).
    pub fn handle_packet(&mut self, now: Instant, report: &Packet) {
        match packet::parse(report) {
            Parsed::Cont { cid, seq, data } => self.handle_continuation(now, cid, seq, data),
            Parsed::Init {
                cid,
                cmd,
                bcnt,
                data,
            } => self.handle_init_packet(now, cid, cmd, bcnt, data),
        }
    }

    /// Fires the message timeout and keepalive timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.state {
            State::Assembling { cid, deadline, .. } if now >= *deadline => {
                // CTAP 2.1 §11.2.4: a stalled message ends with ERR_MSG_TIMEOUT.
                let cid = *cid;
                tracing::debug!(cid, "ctaphid message timeout");
                self.state = State::Idle;
                self.send_error(cid, ErrorCode::MsgTimeout);
            }
            State::Processing {
                cid,
                signals,
                keepalive_at,
                ..
            } if now >= *keepalive_at => {
                let cid = *cid;
                let status = signals.status() as u8;
                *keepalive_at += self.config.keepalive_interval;
                if *keepalive_at <= now {
                    *keepalive_at = now + self.config.keepalive_interval;
                }
                // A host that reads nothing gets no pile of stale keepalives.
                if self.outgoing.is_empty() && !signals.keepalives_withheld() {
                    tracing::trace!(cid, status, "ctaphid keepalive");
                    self.send(cid, Command::Keepalive, &[status]);
                }
            }
            _ => {}
        }
    }

    /// When [`Ctaphid::handle_timeout`] must next be called; `None` while idle.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Idle => None,
            State::Assembling { deadline, .. } => Some(*deadline),
            State::Processing { keepalive_at, .. } => Some(*keepalive_at),
        }
    }

    /// The next report for the host (an interrupt IN transfer).
    pub fn poll_transmit(&mut self) -> Option<Packet> {
        self.outgoing.pop_front()
    }

    /// Whether a report waits for an IN transfer.
    pub fn has_transmit(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// The next handler event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Delivers the handler's answer to request `id`. Dropped if that request
    /// was aborted meanwhile; ends keepalives otherwise.
    pub fn complete(&mut self, id: TransactionId, response: &[u8]) {
        match &self.state {
            State::Processing {
                cid,
                kind,
                id: current,
                ..
            } if *current == id.0 => {
                let (cid, kind) = (*cid, *kind);
                self.state = State::Idle;
                let cmd = match kind {
                    RequestKind::Cbor => Command::Cbor,
                    RequestKind::Msg => Command::Msg,
                };
                if response.len() > MAX_MESSAGE_SIZE {
                    tracing::warn!(cid, len = response.len(), "handler response too long");
                    self.send_error(cid, ErrorCode::Other);
                } else {
                    tracing::trace!(cid, ?cmd, len = response.len(), "ctaphid response");
                    self.send(cid, cmd, response);
                }
            }
            _ => tracing::debug!(?id, "dropping answer to an aborted request"),
        }
    }

    /// Cancels the request with the handler as a CTAPHID_CANCEL would
    /// (CTAP 2.1 §11.2.9.1.5), but from our side: the transaction still ends
    /// with the handler's answer. Used by a graceful server stop.
    pub fn cancel_request(&self) {
        if let State::Processing { signals, .. } = &self.state {
            signals.cancel();
        }
    }

    /// The host went away: cancels the running request and drops all output.
    pub fn abort(&mut self) {
        if let State::Processing { signals, .. } = &self.state {
            signals.cancel();
        }
        self.state = State::Idle;
        self.outgoing.clear();
    }

    fn handle_continuation(&mut self, now: Instant, cid: u32, seq: u8, data: &[u8; 59]) {
        let State::Assembling {
            cid: current,
            total,
            data: buf,
            next_seq,
            deadline,
            ..
        } = &mut self.state
        else {
            // CTAP 2.1 §11.2.4: a continuation without a transaction is ignored.
            tracing::trace!(cid, seq, "spurious continuation packet ignored");
            return;
        };
        if *current != cid {
            tracing::trace!(cid, seq, "continuation for another channel ignored");
            return;
        }
        if seq != *next_seq {
            // Skipped or repeated SEQ: the transaction is aborted.
            tracing::debug!(cid, seq, expected = *next_seq, "ctaphid bad sequence");
            self.state = State::Idle;
            self.send_error(cid, ErrorCode::InvalidSeq);
            return;
        }
        let take = (*total - buf.len()).min(CONT_DATA_SIZE);
        buf.extend_from_slice(data.get(..take).unwrap_or_default());
        *next_seq += 1;
        *deadline = now + self.config.message_timeout;
        if buf.len() == *total {
            self.finish_message(now);
        }
    }

    fn handle_init_packet(&mut self, now: Instant, cid: u32, cmd: u8, bcnt: u16, data: &[u8; 57]) {
        let command = Command::from_code(cmd);
        tracing::trace!(cid, cmd, bcnt, "ctaphid init packet");
        // CTAP 2.1 §11.2.3: CID 0 is reserved, broadcast is for INIT only.
        if cid == RESERVED_CID
            || (cid == BROADCAST_CID && command != Some(Command::Init))
            || (cid != BROADCAST_CID && !self.channels.contains(cid))
        {
            self.send_error(cid, ErrorCode::InvalidChannel);
            return;
        }
        self.channels.touch(cid);
        let command = match command {
            Some(Command::Init) => return self.handle_init(cid, bcnt, data),
            Some(Command::Cancel) => return self.handle_cancel(cid),
            // A device without the CBOR capability (a U2F-only key) knows no
            // CTAPHID_CBOR (CTAP 2.1 §11.2.9.1.3 capability flags).
            Some(Command::Cbor) if self.config.capabilities & CAPABILITY_CBOR == 0 => {
                return self.send_error(cid, ErrorCode::InvalidCmd);
            }
            Some(c @ (Command::Ping | Command::Msg | Command::Cbor | Command::Wink)) => c,
            // LOCK is not offered; KEEPALIVE and ERROR only flow to the host.
            Some(Command::Lock | Command::Keepalive | Command::Error) | None => {
                return self.send_error(cid, ErrorCode::InvalidCmd);
            }
        };
        match self.state.cid() {
            // CTAP 2.1 §11.2.4: one transaction at a time; others are busy.
            Some(busy) if busy != cid => return self.send_error(cid, ErrorCode::ChannelBusy),
            Some(_) => {
                if matches!(self.state, State::Assembling { .. }) {
                    // A new message on the same channel mid-assembly: the
                    // expected continuation never came.
                    self.state = State::Idle;
                    return self.send_error(cid, ErrorCode::InvalidSeq);
                }
                return self.send_error(cid, ErrorCode::ChannelBusy);
            }
            None => {}
        }
        let total = usize::from(bcnt);
        // Reject before allocating anything for the message.
        if total > MAX_MESSAGE_SIZE
            || (matches!(command, Command::Cbor | Command::Msg) && total == 0)
        {
            return self.send_error(cid, ErrorCode::InvalidLen);
        }
        let mut buf = Vec::with_capacity(total);
        buf.extend_from_slice(data.get(..total.min(INIT_DATA_SIZE)).unwrap_or_default());
        self.state = State::Assembling {
            cid,
            cmd: command,
            total,
            data: buf,
            next_seq: 0,
            deadline: now + self.config.message_timeout,
        };
        if total <= INIT_DATA_SIZE {
            self.finish_message(now);
        }
    }

    /// CTAP 2.1 §11.2.9.1.3.
    fn handle_init(&mut self, cid: u32, bcnt: u16, data: &[u8; 57]) {
        if usize::from(bcnt) != 8 {
            return self.send_error(cid, ErrorCode::InvalidLen);
        }
        let new_cid = if cid == BROADCAST_CID {
            self.channels.allocate(self.state.cid())
        } else {
            // INIT on an allocated channel resynchronises it: abort its transaction.
            if self.state.cid() == Some(cid) {
                tracing::debug!(cid, "ctaphid resync aborts the transaction");
                if let State::Processing { signals, .. } = &self.state {
                    signals.cancel();
                }
                self.state = State::Idle;
            }
            cid
        };
        // nonce[8] CID[4] protocol major minor build capabilities
        let nonce = data.first_chunk::<8>().copied().unwrap_or_default();
        let [major, minor, build] = self.config.version;
        let mut reply = [0u8; 17];
        for (dst, src) in
            reply
                .iter_mut()
                .zip(nonce.into_iter().chain(new_cid.to_be_bytes()).chain([
                    PROTOCOL_VERSION,
                    major,
                    minor,
                    build,
                    self.config.capabilities,
                ]))
        {
            *dst = src;
        }
        tracing::debug!(cid, new_cid, "ctaphid init");
        self.send(cid, Command::Init, &reply);
    }

    /// CTAP 2.1 §11.2.9.1.5: no reply; a running request is told to stop.
    fn handle_cancel(&mut self, cid: u32) {
        match &self.state {
            State::Processing {
                cid: busy, signals, ..
            } if *busy == cid => {
                tracing::debug!(cid, "ctaphid cancel");
                signals.cancel();
            }
            State::Assembling { cid: busy, .. } if *busy == cid => self.state = State::Idle,
            _ => tracing::trace!(cid, "cancel without a transaction ignored"),
        }
    }

    fn finish_message(&mut self, now: Instant) {
        let State::Assembling { cid, cmd, data, .. } =
            std::mem::replace(&mut self.state, State::Idle)
        else {
            return;
        };
        tracing::trace!(cid, ?cmd, len = data.len(), "ctaphid message");
        let kind = match cmd {
            Command::Ping => return self.send(cid, Command::Ping, &data),
            Command::Wink => {
                self.events.push_back(Event::Wink);
                return self.send(cid, Command::Wink, &[]);
            }
            Command::Cbor => RequestKind::Cbor,
            Command::Msg => RequestKind::Msg,
            _ => return self.send_error(cid, ErrorCode::InvalidCmd),
        };
        self.next_id += 1;
        let id = self.next_id;
        let signals = Signals::new();
        self.events.push_back(Event::Request(Dispatch {
            id: TransactionId(id),
            request: Request {
                channel: cid,
                kind,
                payload: data,
            },
            signals: signals.clone(),
        }));
        self.state = State::Processing {
            cid,
            kind,
            id,
            signals,
            keepalive_at: now + self.config.keepalive_first,
        };
    }

    fn send_error(&mut self, cid: u32, code: ErrorCode) {
        tracing::debug!(cid, ?code, "ctaphid error");
        self.send(cid, Command::Error, &[code as u8]);
    }

    fn send(&mut self, cid: u32, cmd: Command, payload: &[u8]) {
        let limit = self.config.max_queued_packets;
        let needed = packet::packet_count(payload.len());
        if self.outgoing.len() + needed > limit {
            tracing::debug!(cid, ?cmd, "host reads nothing: reply dropped");
            return;
        }
        packet::fragment(cid, cmd, payload, |p| self.outgoing.push_back(p));
    }
}
