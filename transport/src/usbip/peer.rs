//! Who is on the other end of a loopback connection: the uid that owns the
//! client's socket, read from the kernel's TCP socket tables
//! (`/proc/net/tcp`, `/proc/net/tcp6`; proc(5)).
//!
//! USB/IP has no authentication and loopback TCP carries no credentials, so
//! on a shared machine any local user could import the key. The kernel does
//! know who owns each socket: the client's end of a loopback connection is a
//! row whose local address is the peer address `accept` returned and whose
//! remote address is ours, and its `uid` column is the user that created it.
//! `usbip attach` run with sudo shows up as uid 0 (the socket is made by the
//! root-owned tool before it is handed to the kernel).
//!
//! A client whose socket is not in our network namespace (another host, a
//! container) has no row: it is reported as unknown.

use std::io;
use std::net::{IpAddr, SocketAddr};

/// Which local users may connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerPolicy {
    /// Only connections whose client socket belongs to one of these uids;
    /// everyone else is closed at accept, before a byte is read.
    LocalUids(Vec<u32>),
    /// Anyone who can reach the listener (a non-loopback address chosen
    /// on purpose: the network must be trusted, or tunnelled).
    Anyone,
}

/// The uid owning the client end of the connection `peer` → `local`, if
/// the kernel lists it in this network namespace.
pub fn peer_uid(local: SocketAddr, peer: SocketAddr) -> io::Result<Option<u32>> {
    let table = match peer.ip() {
        IpAddr::V4(_) => "/proc/net/tcp",
        IpAddr::V6(_) => "/proc/net/tcp6",
    };
    let text = std::fs::read_to_string(table)?;
    Ok(find_uid(&text, local, peer))
}

/// Scans a `/proc/net/tcp{,6}` table for the row of the client's socket.
pub fn find_uid(table: &str, local: SocketAddr, peer: SocketAddr) -> Option<u32> {
    let want_local = encode(peer);
    let want_remote = encode(local);
    table.lines().skip(1).find_map(|line| {
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid ...
        let mut fields = line.split_whitespace();
        let _slot = fields.next()?;
        let row_local = fields.next()?;
        let row_remote = fields.next()?;
        if !row_local.eq_ignore_ascii_case(&want_local)
            || !row_remote.eq_ignore_ascii_case(&want_remote)
        {
            return None;
        }
        fields.nth(4)?.parse().ok()
    })
}

/// An address as proc(5) prints it: the IP as 32-bit words in the kernel's
/// (host, here little-endian) byte order, then the port, all in hex.
fn encode(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => hex_words(&v4.octets()),
        IpAddr::V6(v6) => hex_words(&v6.octets()),
    };
    format!("{ip}:{:04X}", addr.port())
}

fn hex_words(octets: &[u8]) -> String {
    octets
        .chunks_exact(4)
        .map(|w| {
            let word = u32::from_ne_bytes(w.try_into().unwrap_or([0; 4]));
            format!("{word:08X}")
        })
        .collect()
}

/// Whether `ip` is a loopback address (IPv4-mapped ones included).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Two rows of one loopback connection 127.0.0.1:51000 → 127.0.0.1:3240
    /// (the client's, uid 1000, and the server's accepted one, uid 1001),
    /// plus the listener, as a little-endian kernel prints them.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CA8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 1111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:C738 0100007F:0CA8 01 00000000:00000000 00:00000000 00000000  1000        0 2222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:0CA8 0100007F:C738 01 00000000:00000000 00:00000000 00000000  1001        0 3333 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn the_client_row_gives_the_clients_uid() {
        if cfg!(target_endian = "big") {
            return; // the sample is a little-endian kernel's
        }
        let server: SocketAddr = "127.0.0.1:3240".parse().unwrap();
        let client: SocketAddr = "127.0.0.1:51000".parse().unwrap();
        assert_eq!(find_uid(TCP, server, client), Some(1000));
        let stranger: SocketAddr = "127.0.0.1:51001".parse().unwrap();
        assert_eq!(find_uid(TCP, server, stranger), None);
        assert_eq!(find_uid("", server, client), None);
        assert_eq!(find_uid("header\n garbage", server, client), None);
    }

    #[test]
    fn ipv6_addresses_are_four_native_words() {
        if cfg!(target_endian = "big") {
            return;
        }
        let addr: SocketAddr = "[::1]:3240".parse().unwrap();
        assert_eq!(encode(addr), "00000000000000000000000001000000:0CA8");
    }

    #[test]
    fn a_real_connection_is_found_with_our_own_uid() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(local).unwrap();
        let (_conn, peer) = listener.accept().unwrap();
        let me = std::fs::metadata("/proc/self").map(|m| {
            use std::os::unix::fs::MetadataExt as _;
            m.uid()
        });
        assert_eq!(peer_uid(local, peer).unwrap(), Some(me.unwrap()));
    }

    #[test]
    fn loopback_includes_mapped_addresses() {
        assert!(is_loopback("127.0.0.1".parse().unwrap()));
        assert!(is_loopback("::1".parse().unwrap()));
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_loopback("10.0.2.2".parse().unwrap()));
    }
}
