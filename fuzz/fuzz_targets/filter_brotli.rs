//! `ndf_filters::decode` with `Filter::Brotli` (/BrotliDecode); the first bytes are the
//! /DecodeParms.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ndf_filters::Filter;

fuzz_target!(|data: &[u8]| {
    ndf_fuzz::fuzz_filter(Filter::Brotli, data);
});
