//! The catalog's checks, one file per family, in report order.

mod client_pin;
mod common;
mod get_assertion;
mod get_info;
mod hid;
mod make_credential_entities;
mod make_credential_options;
mod make_credential_request;
mod make_credential_response;
mod pin_lockout;
mod reset;
mod u2f;
mod usbip;

use super::Check;

pub fn all() -> Vec<Check> {
    let mut all = Vec::new();
    all.extend(usbip::checks());
    all.extend(hid::checks());
    all.extend(get_info::checks());
    all.extend(make_credential_request::checks());
    all.extend(make_credential_entities::checks());
    all.extend(make_credential_options::checks());
    all.extend(make_credential_response::checks());
    all.extend(get_assertion::checks());
    all.extend(u2f::checks());
    all.extend(reset::checks());
    all.extend(client_pin::checks());
    all.extend(pin_lockout::checks());
    all
}
