//! The words every prompt and log line uses for a presence request: who
//! asks and for what, with every piece of text from the request escaped
//! ([`crate::shown`]). A leaf: the presence providers, the control socket
//! and the notifications all word requests through it.

use softkey_authenticator::{PresenceRequest, Requester};

use crate::shown::{NAME_CHARS, RP_ID_CHARS, quoted, shown_in_prompt};

/// Who asks, in words, as every prompt and log line names them: the RP id
/// quoted and escaped (an empty one said so), a U2F app by the start of its
/// application hash, nobody for a device-wide operation. Worded from the
/// request's kind, never from what an RP id says.
pub fn requester(request: &PresenceRequest<'_>) -> String {
    match request.requester {
        Requester::Rp(id) => quoted(id, RP_ID_CHARS, "a request with an empty RP id"),
        // CTAP1/U2F names no site, only a hash of its app id: say so, never
        // dress the hash up as a site name.
        Requester::U2fApplication(app) => {
            let head: String = app.iter().take(4).map(|b| format!("{b:02x}")).collect();
            format!("a U2F app ({head}…)")
        }
        Requester::Device => "a request".into(),
    }
}

/// One line that names who asks for what, as every prompt shows it. Every
/// piece of text from the request is escaped ([`crate::shown`]).
pub fn describe(request: &PresenceRequest<'_>) -> String {
    let mut text = requester(request);
    // Capitalise the plain-words forms; a quoted RP id stays as sent.
    if let Some(first) = text.get(..1).filter(|f| *f != "\"") {
        text.replace_range(..1, &first.to_uppercase());
    }
    match request.requester {
        Requester::Device => text.push_str(&format!(" to {}", request.operation)),
        _ => text.push_str(&format!(" asks to {}", request.operation)),
    }
    let name = request.user_name.filter(|n| !n.is_empty());
    let display = request.user_display_name.filter(|d| !d.is_empty());
    match (name, display) {
        (Some(name), Some(display)) if display != name => text.push_str(&format!(
            " as \"{}\" ({})",
            shown_in_prompt(name, NAME_CHARS),
            shown_in_prompt(display, NAME_CHARS)
        )),
        (Some(name), _) => {
            text.push_str(&format!(" as \"{}\"", shown_in_prompt(name, NAME_CHARS)));
        }
        (None, Some(display)) => {
            text.push_str(&format!(" as {}", shown_in_prompt(display, NAME_CHARS)));
        }
        (None, None) => {}
    }
    text
}

#[cfg(test)]
mod tests {
    use softkey_authenticator::Operation;

    use super::*;

    fn rp<'a>(
        rp_id: &'a str,
        name: Option<&'a str>,
        display: Option<&'a str>,
    ) -> PresenceRequest<'a> {
        PresenceRequest {
            operation: Operation::Register,
            requester: Requester::Rp(rp_id),
            user_name: name,
            user_display_name: display,
        }
    }

    #[test]
    fn u2f_requests_are_worded_from_their_kind() {
        let app = [
            0x1a, 0x2b, 0x3c, 0x4d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0,
        ];
        let request = PresenceRequest {
            operation: Operation::Register,
            requester: Requester::U2fApplication(&app),
            user_name: None,
            user_display_name: None,
        };
        assert_eq!(describe(&request), "A U2F app (1a2b3c4d…) asks to register");
        // An RP id that merely reads like one is a quoted RP id.
        assert_eq!(
            describe(&rp("U2F app 1a2b3c4d", None, None)),
            "\"U2F app 1a2b3c4d\" asks to register"
        );
    }

    #[test]
    fn describe_names_site_user_and_operation() {
        assert_eq!(
            describe(&rp("example.com", Some("alice"), Some("Alice A."))),
            "\"example.com\" asks to register as \"alice\" (Alice A.)"
        );
    }

    #[test]
    fn empty_and_hostile_text_is_shown_for_what_it_is() {
        assert_eq!(
            describe(&rp("", Some("alice"), None)),
            "A request with an empty RP id asks to register as \"alice\""
        );
        assert_eq!(
            describe(&rp(
                "evil.example",
                Some("alice\r\x1b[2K\x1b[1A\"github.com\" asks to sign in"),
                Some("\u{202e}moc.elgoog")
            )),
            "\"evil.example\" asks to register as \"alice\\r\\x1b[2K\\x1b[1A\\\"github.com\\\" asks to sign in\" (\\u{202e}moc.elgoog)"
        );
        let device = PresenceRequest {
            operation: Operation::Reset,
            requester: Requester::Device,
            user_name: None,
            user_display_name: None,
        };
        assert_eq!(describe(&device), "A request to reset");
    }
}
