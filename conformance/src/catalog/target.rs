//! What `softkey conformance` runs against: a USB/IP server
//! (`HOST:PORT[/BUSID]`; the host side is this crate's, so no kernel module
//! is needed) or an attached key's `/dev/hidrawN`, softkey or not.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;

use super::hidraw::Hidraw;
use crate::Error;
use crate::checks::find_busid;
use crate::ctaphid::HidDevice;
use crate::usbip::UsbipDevice;

/// A key to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A USB/IP server; without a bus id, its first HID device.
    Usbip {
        addr: SocketAddr,
        busid: Option<String>,
    },
    /// A hidraw node.
    Hidraw(PathBuf),
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.starts_with('/') {
            return Ok(Target::Hidraw(PathBuf::from(s)));
        }
        let (host_port, busid) = match s.split_once('/') {
            Some((hp, b)) if !b.is_empty() => (hp, Some(b.to_owned())),
            Some(_) => return Err(format!("{s:?}: an empty bus id after '/'")),
            None => (s, None),
        };
        let addr = host_port
            .to_socket_addrs()
            .map_err(|e| format!("{host_port:?} is not HOST:PORT: {e}"))?
            .next()
            .ok_or_else(|| format!("{host_port:?} resolves to no address"))?;
        Ok(Target::Usbip { addr, busid })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Usbip {
                addr,
                busid: Some(b),
            } => write!(f, "{addr}/{b}"),
            Target::Usbip { addr, busid: None } => write!(f, "{addr}"),
            Target::Hidraw(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Target {
    /// A new connection to the key: a USB/IP import (the host's attach), or
    /// the hidraw node opened.
    pub fn open(&self) -> Result<Box<dyn HidDevice + Send>, Error> {
        Ok(match self {
            Target::Usbip { addr, busid } => {
                let busid = match busid {
                    Some(b) => b.clone(),
                    None => find_busid(*addr)?,
                };
                Box::new(UsbipDevice::import(*addr, &busid)?)
            }
            Target::Hidraw(path) => Box::new(Hidraw::open(path)?),
        })
    }

    /// The USB/IP server, for the checks of USB/IP itself.
    pub fn usbip_addr(&self) -> Option<SocketAddr> {
        match self {
            Target::Usbip { addr, .. } => Some(*addr),
            Target::Hidraw(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            "127.0.0.1:3240".parse::<Target>(),
            Ok(Target::Usbip {
                addr: "127.0.0.1:3240".parse().unwrap(),
                busid: None
            })
        );
        assert_eq!(
            "127.0.0.1:3341/1-2".parse::<Target>().unwrap().to_string(),
            "127.0.0.1:3341/1-2"
        );
        assert_eq!(
            "/dev/hidraw3".parse::<Target>(),
            Ok(Target::Hidraw("/dev/hidraw3".into()))
        );
        assert!("127.0.0.1:3240/".parse::<Target>().is_err());
        assert!("nonsense".parse::<Target>().is_err());
    }
}
