//! The CTAP2 command bytes (CTAP 2.1 §6 "Authenticator API", the table of
//! §6 and §8.1), public so that clients and tests name commands as the key
//! does instead of repeating the bytes.

use core::fmt;

/// One CTAP2 command, by its byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Command {
    /// authenticatorMakeCredential (§6.1)
    MakeCredential = 0x01,
    /// authenticatorGetAssertion (§6.2)
    GetAssertion = 0x02,
    /// authenticatorGetInfo (§6.4)
    GetInfo = 0x04,
    /// authenticatorClientPIN (§6.5)
    ClientPin = 0x06,
    /// authenticatorReset (§6.6)
    Reset = 0x07,
    /// authenticatorGetNextAssertion (§6.3)
    GetNextAssertion = 0x08,
    /// authenticatorCredentialManagement (§6.8)
    CredentialManagement = 0x0A,
    /// authenticatorSelection (§6.9)
    Selection = 0x0B,
    /// authenticatorLargeBlobs (§6.10)
    LargeBlobs = 0x0C,
    /// authenticatorConfig (§6.11)
    Config = 0x0D,
    /// The CTAP 2.1-PRE prototype of credential management (§6.13), which
    /// platforms built before 2.1 still send.
    CredentialManagementPreview = 0x41,
}

impl Command {
    /// The command byte on the wire.
    pub fn byte(self) -> u8 {
        self as u8
    }

    /// The spec's name, for logs.
    pub fn name(self) -> &'static str {
        match self {
            Command::MakeCredential => "makeCredential",
            Command::GetAssertion => "getAssertion",
            Command::GetInfo => "getInfo",
            Command::ClientPin => "clientPIN",
            Command::Reset => "reset",
            Command::GetNextAssertion => "getNextAssertion",
            Command::CredentialManagement => "credentialManagement",
            Command::Selection => "selection",
            Command::LargeBlobs => "largeBlobs",
            Command::Config => "authenticatorConfig",
            Command::CredentialManagementPreview => "credentialManagement (2.1-PRE)",
        }
    }

    /// Both credential management bytes (§6.8 and its §6.13 prototype).
    pub fn is_credential_management(self) -> bool {
        matches!(
            self,
            Command::CredentialManagement | Command::CredentialManagementPreview
        )
    }

    /// Every command the key answers, in byte order.
    pub const ALL: [Command; 11] = [
        Command::MakeCredential,
        Command::GetAssertion,
        Command::GetInfo,
        Command::ClientPin,
        Command::Reset,
        Command::GetNextAssertion,
        Command::CredentialManagement,
        Command::Selection,
        Command::LargeBlobs,
        Command::Config,
        Command::CredentialManagementPreview,
    ];
}

impl TryFrom<u8> for Command {
    /// The byte names no command this key answers (CTAP1_ERR_INVALID_COMMAND).
    type Error = u8;

    fn try_from(byte: u8) -> Result<Self, u8> {
        Command::ALL
            .into_iter()
            .find(|command| command.byte() == byte)
            .ok_or(byte)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_unknown_bytes_are_refused() {
        for command in Command::ALL {
            assert_eq!(Command::try_from(command.byte()), Ok(command));
        }
        for byte in [0x00, 0x03, 0x05, 0x09, 0x0E, 0x40, 0x42, 0xFF] {
            assert_eq!(Command::try_from(byte), Err(byte));
        }
    }
}
