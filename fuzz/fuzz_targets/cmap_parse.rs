//! `ndf_cmap::CMap::parse` (alone and over a predefined base), then code reading and lookups
//! over the input itself and at edge codes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ndf_cmap::CMap;

fn exercise(cmap: &CMap, data: &[u8]) {
    let _ = cmap.name();
    let _ = cmap.cid_system_info();
    let _ = cmap.codes_are_unicode();
    let mut out = String::new();
    let mut rest = data;
    for _ in 0..4096 {
        if rest.is_empty() {
            break;
        }
        let r = cmap.next_code(rest);
        assert!(
            r.len >= 1 && usize::from(r.len) <= rest.len().min(4),
            "next_code length {} of {}",
            r.len,
            rest.len()
        );
        let _ = cmap.cid(r.code, r.len);
        out.clear();
        cmap.unicode(r.code, r.len, &mut out);
        cmap.code_to_unicode(r.code, r.len, &mut out);
        rest = &rest[usize::from(r.len)..];
    }
    for code in [
        0,
        1,
        0x20,
        0x41,
        0xFF,
        0x100,
        0xFFFF,
        0x1_0000,
        0xFF_FFFF,
        u32::MAX,
    ] {
        for len in 0..=5u8 {
            let _ = cmap.cid(code, len);
            out.clear();
            cmap.unicode(code, len, &mut out);
            assert!(out.len() < 4096, "one code mapped to {} bytes", out.len());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(cmap) = CMap::parse(data, 10_000) {
        exercise(&cmap, data);
    }
    if let Ok(cmap) = CMap::parse_with_base(data, 1_000, CMap::predefined("UniJIS-UCS2-H")) {
        exercise(&cmap, data);
    }
});
