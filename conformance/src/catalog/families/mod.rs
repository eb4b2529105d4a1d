//! The catalog's checks, one file per family, in report order.

mod client_pin;
mod common;
mod config;
mod cred_mgmt;
mod enterprise;
mod extensions;
mod get_assertion;
mod get_info;
mod hid;
mod large_blobs;
mod make_credential_entities;
mod make_credential_options;
mod make_credential_request;
mod make_credential_response;
mod pin_lockout;
mod reset;
mod resident;
mod u2f;
mod usbip;
mod verified;

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
    all.extend(resident::checks());
    all.extend(cred_mgmt::checks());
    all.extend(config::checks());
    all.extend(large_blobs::checks());
    all.extend(extensions::checks());
    all.extend(enterprise::checks());
    all.extend(pin_lockout::checks());
    all
}
