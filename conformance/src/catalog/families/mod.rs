//! The catalog's checks, one file per family, in report order.

mod common;
mod get_assertion;
mod get_info;
mod hid;
mod make_credential_entities;
mod make_credential_options;
mod make_credential_request;
mod make_credential_response;
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
    all
}
