#![no_main]
#![allow(unsafe_code)] // fuzz_target! exports the libFuzzer entry point

libfuzzer_sys::fuzz_target!(|data: &[u8]| softkey_fuzz::large_blob_array(data));
