use std::sync::Arc;

use proptest::prelude::*;

use super::*;

fn uni(m: &CMap, code: u32, len: u8) -> Option<String> {
    let mut s = String::new();
    m.unicode(code, len, &mut s).then_some(s)
}

fn cmap(src: &str) -> CMap {
    CMap::parse(src.as_bytes(), 10_000).expect("parses")
}

const TO_UNICODE: &str = r"
/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /Adobe-Identity-UCS def
/CMapType 2 def
1 begincodespacerange
<0000> <FFFF>
endcodespacerange
3 beginbfchar % the count lies
<0003> <0020>
<0011> <00660069>
<0012> <D835DC00>
<0013> <DC00>
endbfchar
2 beginbfrange
<0020> <0022> <0041>
<0030> <0032> [<0061> <0062 0063> (d)]
<0040> <0042> <00FF>
<0050> <0052> <0066FFFF>
<0060> <0061> <D83DDE00>
endbfrange
endcmap
CMapName currentdict /CMap defineresource pop
end
end
";

#[test]
fn bfchar_and_bfrange() {
    let m = cmap(TO_UNICODE);
    assert_eq!(m.name(), Some("Adobe-Identity-UCS"));
    assert!(!m.is_vertical());
    assert!(m.has_codespace());
    assert_eq!(m.cid_system_info(), Some((&b"Adobe"[..], &b"UCS"[..])));
    assert_eq!(uni(&m, 3, 2).as_deref(), Some(" "));
    assert_eq!(uni(&m, 0x11, 2).as_deref(), Some("fi"));
    assert_eq!(uni(&m, 0x12, 2).as_deref(), Some("\u{1D400}"));
    assert_eq!(uni(&m, 0x13, 2).as_deref(), Some("\u{FFFD}"));
    assert_eq!(uni(&m, 0x20, 2).as_deref(), Some("A"));
    assert_eq!(uni(&m, 0x22, 2).as_deref(), Some("C"));
    assert_eq!(uni(&m, 0x23, 2), None);
    // Array destinations, one per code; a literal string is bytes (odd: leading 0).
    assert_eq!(uni(&m, 0x30, 2).as_deref(), Some("a"));
    assert_eq!(uni(&m, 0x31, 2).as_deref(), Some("bc"));
    assert_eq!(uni(&m, 0x32, 2).as_deref(), Some("d"));
    // Incrementing across a byte boundary.
    assert_eq!(uni(&m, 0x40, 2).as_deref(), Some("\u{FF}"));
    assert_eq!(uni(&m, 0x41, 2).as_deref(), Some("\u{100}"));
    assert_eq!(uni(&m, 0x42, 2).as_deref(), Some("\u{101}"));
    // Multi-unit destination: last unit carries into the previous one.
    assert_eq!(uni(&m, 0x50, 2).as_deref(), Some("f\u{FFFF}"));
    assert_eq!(uni(&m, 0x51, 2).as_deref(), Some("g\u{0}"));
    assert_eq!(uni(&m, 0x52, 2).as_deref(), Some("g\u{1}"));
    // A surrogate-pair destination steps its code point.
    assert_eq!(uni(&m, 0x61, 2).as_deref(), Some("\u{1F601}"));
    // Appends to what is there.
    let mut s = String::from("x");
    assert!(m.unicode(0x11, 2, &mut s));
    assert_eq!(s, "xfi");
}

#[test]
fn lookup_falls_back_to_other_code_length() {
    let m = cmap("begincmap 1 beginbfchar <0041> <0058> endbfchar <41> <0059>");
    // The second bfchar (1-byte, after the block ended) is junk outside a block.
    assert_eq!(uni(&m, 0x41, 1).as_deref(), Some("X"));
    let m = cmap("2 beginbfchar <0041> <0058> <41> <0059> endbfchar");
    assert_eq!(uni(&m, 0x41, 2).as_deref(), Some("X"));
    assert_eq!(uni(&m, 0x41, 1).as_deref(), Some("Y"));
}

#[test]
fn lenient_syntax() {
    let m = cmap(
        "% comment\n/WMode 1 def /CMapName /My#20Map def\n\
         1 beginbfchar\n<0 0 4 1> <00 4 1>\n<41F> <0042>\n junk <0050> 17 <0051> <0043> \
         <0052> /A <0053> /uni00660069 <0054> /u1F600 <0055> /space (\\001) (Z)\n\
         endbfchar 1 beginbfrange <60> <FF> /a endbfrange",
    );
    assert!(m.is_vertical());
    assert_eq!(m.name(), Some("My Map"));
    assert!(!m.has_codespace());
    assert_eq!(uni(&m, 0x41, 2).as_deref(), Some("A"));
    // Odd digit counts read as numbers: <41F> is the 2-byte code 0x041F.
    assert_eq!(uni(&m, 0x041F, 2).as_deref(), Some("B"));
    assert_eq!(uni(&m, 0x50, 2), None);
    assert_eq!(uni(&m, 0x51, 2).as_deref(), Some("C"));
    assert_eq!(uni(&m, 0x52, 2).as_deref(), Some("A"));
    assert_eq!(uni(&m, 0x53, 2).as_deref(), Some("fi"));
    assert_eq!(uni(&m, 0x54, 2).as_deref(), Some("\u{1F600}"));
    assert_eq!(uni(&m, 0x55, 2), None);
    assert_eq!(uni(&m, 0x01, 1).as_deref(), Some("Z"));
    assert_eq!(uni(&m, 0x61, 1).as_deref(), Some("b"));
    // Without a codespace, code lengths come from the mappings, preferring a mapped one.
    assert_eq!(
        m.next_code(b"\x01\x00"),
        CodeRead {
            code: 1,
            len: 1,
            matched: true
        }
    );
    assert_eq!(m.next_code(b"\x00\x41").len, 2);
    assert_eq!(m.next_code(b"\x7F").len, 1);
}

#[test]
fn huge_range_is_one_record() {
    let m = CMap::parse(b"1 beginbfrange <00000000> <FFFFFFFF> <0041> endbfrange", 1).unwrap();
    assert_eq!(m.bfs[3].len(), 1);
    assert_eq!(uni(&m, 1, 4).as_deref(), Some("B"));
    assert_eq!(uni(&m, 0x10_FFFF - 0x41, 4).as_deref(), Some("\u{10FFFF}"));
    assert_eq!(uni(&m, u32::MAX, 4).as_deref(), Some("\u{FFFD}"));
    let m = CMap::parse(b"1 beginbfrange <0000> <FFFFFFFF> <0041> endbfrange", 1).unwrap();
    assert_eq!(m.bfs[1].len(), 1);
    let m = CMap::parse(b"1 begincidrange <0000> <FFFF> 4294967290 endcidrange", 1).unwrap();
    assert_eq!(m.cid(5, 2), Some(u32::MAX));
    assert_eq!(m.cid(6, 2), None);
}

#[test]
fn later_definitions_win() {
    let m = cmap(
        "beginbfrange <00> <10> <0061> endbfrange beginbfchar <05> <0058> endbfchar \
         beginbfrange <0F> <12> <0030> endbfrange",
    );
    assert_eq!(uni(&m, 4, 1).as_deref(), Some("e"));
    assert_eq!(uni(&m, 5, 1).as_deref(), Some("X"));
    assert_eq!(uni(&m, 6, 1).as_deref(), Some("g"));
    assert_eq!(uni(&m, 0x0E, 1).as_deref(), Some("o"));
    assert_eq!(uni(&m, 0x0F, 1).as_deref(), Some("0"));
    assert_eq!(uni(&m, 0x12, 1).as_deref(), Some("3"));
}

#[test]
fn truncation_is_bounded_and_reported() {
    let mut src = String::from("beginbfchar\n");
    for i in 0..100 {
        src.push_str(&format!("<{i:04X}> <{:04X}>\n", 0x41 + i));
    }
    src.push_str("endbfchar /WMode 1 def");
    let m = CMap::parse(src.as_bytes(), 10).unwrap();
    assert!(m.is_truncated());
    assert!(m.is_vertical());
    assert_eq!(uni(&m, 9, 2).as_deref(), Some("J"));
    assert_eq!(uni(&m, 10, 2), None);
    assert!(m.units.len() <= 10);
    assert!(!CMap::parse(src.as_bytes(), 100).unwrap().is_truncated());
}

const SJIS_CODESPACE: &str =
    "4 begincodespacerange <00> <80> <8140> <9FFC> <A0> <DF> <E040> <FCFC> endcodespacerange";

#[test]
fn mixed_codespace() {
    let m = cmap(&format!(
        "{SJIS_CODESPACE} 2 begincidrange <20> <7E> 231 <8140> <817E> 633 endcidrange \
         1 begincidchar <A1> 327 endcidchar 1 beginnotdefrange <00> <1F> 1 endnotdefrange"
    ));
    let read = |b: &[u8]| m.next_code(b);
    let cr = |code, len, matched| CodeRead { code, len, matched };
    assert_eq!(read(b"A\x81\x40"), cr(0x41, 1, true));
    assert_eq!(read(b"\x81\x40A"), cr(0x8140, 2, true));
    assert_eq!(read(b"\xA1\x81"), cr(0xA1, 1, true));
    assert_eq!(read(b"\xE0\x40"), cr(0xE040, 2, true));
    // Not in any range: the shortest range whose first byte matches decides.
    assert_eq!(read(b"\x81\x20"), cr(0x8120, 2, false));
    assert_eq!(read(b"\xFD\x40"), cr(0xFD, 1, false));
    // Never more than available.
    assert_eq!(read(b"\x81"), cr(0x81, 1, false));
    assert_eq!(read(b""), cr(0, 0, false));
    assert_eq!(m.cid(0x41, 1), Some(231 + 0x21));
    assert_eq!(m.cid(0x8141, 2), Some(634));
    assert_eq!(m.cid(0xA1, 1), Some(327));
    assert_eq!(m.cid(0x0A, 1), Some(1)); // notdefrange fallback
    assert_eq!(m.cid(0x41, 2), None); // keyed by (len, code)
    assert_eq!(m.cid(0x9000, 2), None);
    assert_eq!(m.cid(0x41, 0), None);
    assert_eq!(m.cid(0x41, 5), None);
}

#[test]
fn usecmap_predefined() {
    let m = cmap(
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap \
         /90ms-RKSJ-H usecmap /CMapName /Custom def \
         1 begincidchar <8140> 1 endcidchar endcmap",
    );
    assert!(m.has_codespace());
    assert_eq!(m.cid(0x8140, 2), Some(1));
    assert_eq!(m.cid(0x8141, 2), Some(634));
    assert_eq!(m.cid(0x20, 1), Some(231));
    assert_eq!(m.next_code(b"\x88\x9F").len, 2);
    assert_eq!(m.cid_system_info(), Some((&b"Adobe"[..], &b"Japan1"[..])));
    // Unknown names are ignored.
    let m = cmap("begincmap /NoSuchCMap usecmap endcmap");
    assert!(m.parent.is_none());
    // /UseCMap from the stream dictionary.
    let base = Arc::new(cmap(
        "1 begincodespacerange <00> <FF> endcodespacerange 1 begincidrange <00> <FF> 100 endcidrange",
    ));
    let m = CMap::parse_with_base(
        b"begincmap 1 begincidchar <05> 7 endcidchar endcmap",
        100,
        Some(base),
    )
    .unwrap();
    assert_eq!(m.cid(5, 1), Some(7));
    assert_eq!(m.cid(6, 1), Some(106));
    assert_eq!(m.next_code(b"\x06\x07").len, 1);
}

#[test]
fn deep_base_chains_are_capped() {
    let mut m = Arc::new(cmap("1 begincidchar <01> 1 endcidchar"));
    for i in 0..40 {
        let src = format!(
            "begincmap 1 begincidchar <{:02X}> {i} endcidchar endcmap",
            i + 2
        );
        m = Arc::new(CMap::parse_with_base(src.as_bytes(), 10, Some(m)).unwrap());
    }
    assert!(m.depth <= MAX_DEPTH);
    assert_eq!(m.cid(41, 1), Some(39));
    assert_eq!(m.cid(1, 1), None); // beyond the cap
}

#[test]
fn not_a_cmap() {
    assert!(matches!(CMap::parse(b"", 10), Err(CMapError::NotACMap)));
    assert!(matches!(
        CMap::parse(b"%PDF-1.7 1 0 obj << /Type /Page >> endobj", 10),
        Err(CMapError::NotACMap)
    ));
    assert!(CMap::parse(b"begincmap endcmap", 10).is_ok());
}

#[test]
fn identity() {
    let m = CMap::identity(true);
    assert!(m.is_vertical());
    assert_eq!(m.name(), Some("Identity-V"));
    assert_eq!(
        m.next_code(b"\x12\x34\x56"),
        CodeRead {
            code: 0x1234,
            len: 2,
            matched: true
        }
    );
    assert_eq!(
        m.next_code(b"\x12"),
        CodeRead {
            code: 0x12,
            len: 1,
            matched: false
        }
    );
    assert_eq!(m.cid(0xABCD, 2), Some(0xABCD));
    assert_eq!(m.cid(0xAB, 1), None);
    let h = CMap::predefined("Identity-H").unwrap();
    assert!(!h.is_vertical());
    assert!(!h.codes_are_unicode());
    assert!(Arc::ptr_eq(&h, &CMap::predefined("Identity-H").unwrap()));
}

/// Values read from pdfminer.six's tables (`pdfminer/cmap/*.json.gz`).
#[test]
fn predefined_spot_checks() {
    let cases: &[(&str, &[u8], u32)] = &[
        ("90ms-RKSJ-H", b"\x81\x40", 633),
        ("90ms-RKSJ-H", b" ", 231),
        ("90ms-RKSJ-H", b"\x88\x9F", 1125),
        ("90ms-RKSJ-H", b"\xA1", 327),
        ("90ms-RKSJ-V", b"\x81\x41", 7887),
        ("90ms-RKSJ-V", b"\x88\x9F", 1125),
        ("UniGB-UCS2-H", b"\x4E\x00", 4162),
        ("UniGB-UCS2-H", b"\x00\x41", 34),
        ("GBK-EUC-H", b"\xB0\xA1", 940),
        ("GBK-EUC-H", b"\x81\x40", 10072),
        ("GBK2K-H", b"\x81\x39\xEF\x30", 22530),
        ("B5pc-H", b"\xA4\x40", 595),
        ("ETen-B5-H", b"\xA4\x40", 595),
        ("ETen-B5-H", b"A", 13681),
        // ETenms-B5-H overlays ETen-B5-H (Adobe's usecmap).
        ("ETenms-B5-H", b"A", 34),
        ("ETenms-B5-H", b"\xA4\x40", 595),
        ("KSCms-UHC-H", b"\xB0\xA1", 1086),
        ("KSCms-UHC-H", b"\x81\x41", 9333),
        ("UniJIS-UTF16-H", b"\x30\x01", 634),
        ("UniJIS-UTF16-V", b"\x30\x01", 7887),
        ("UniJIS-UTF16-H", b"\xD8\x40\xDC\x89", 17233),
        ("UniJIS-UTF8-H", b"\xE4\xB8\x80", 1200),
        ("UniJIS-UTF32-H", b"\x00\x00\x4E\x00", 1200),
        ("UniJIS-UCS2-HW-H", b"\x00\x41", 264),
        ("UniJIS-UCS2-H", b"\x00\x41", 34),
        ("UniKS-UCS2-H", b"\xAC\x00", 1086),
        ("UniCNS-UTF16-H", b"\x4E\x00", 595),
        ("CNS-EUC-H", b"\x8E\xA2\xA1\xA1", 5996),
    ];
    for &(name, bytes, cid) in cases {
        let m = CMap::predefined(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(m.name(), Some(name));
        let r = m.next_code(bytes);
        assert!(r.matched, "{name} {bytes:02X?}");
        assert_eq!(usize::from(r.len), bytes.len(), "{name} {bytes:02X?}");
        assert_eq!(m.cid(r.code, r.len), Some(cid), "{name} {bytes:02X?}");
    }
    let v = CMap::predefined("UniJIS-UTF16-V").unwrap();
    assert!(v.is_vertical());
    assert!(v.codes_are_unicode());
    assert!(!CMap::predefined("90ms-RKSJ-H").unwrap().codes_are_unicode());
    let mut s = String::new();
    assert!(v.code_to_unicode(0xD840_DC89, 4, &mut s));
    assert_eq!(s, "\u{20089}");
    assert!(CMap::predefined("No-Such-CMap").is_none());
}

#[test]
fn iso_32000_predefined_cmaps_exist_and_decode() {
    assert!(predefined::all_decode_cleanly());
    let iso = "GB-EUC-H GB-EUC-V GBpc-EUC-H GBpc-EUC-V GBK-EUC-H GBK-EUC-V GBKp-EUC-H \
        GBKp-EUC-V GBK2K-H GBK2K-V UniGB-UCS2-H UniGB-UCS2-V UniGB-UTF16-H UniGB-UTF16-V \
        B5pc-H B5pc-V HKscs-B5-H HKscs-B5-V ETen-B5-H ETen-B5-V ETenms-B5-H ETenms-B5-V \
        CNS-EUC-H CNS-EUC-V UniCNS-UCS2-H UniCNS-UCS2-V UniCNS-UTF16-H UniCNS-UTF16-V \
        83pv-RKSJ-H 90ms-RKSJ-H 90ms-RKSJ-V 90msp-RKSJ-H 90msp-RKSJ-V 90pv-RKSJ-H \
        Add-RKSJ-H Add-RKSJ-V EUC-H EUC-V Ext-RKSJ-H Ext-RKSJ-V H V UniJIS-UCS2-H \
        UniJIS-UCS2-V UniJIS-UCS2-HW-H UniJIS-UCS2-HW-V UniJIS-UTF16-H UniJIS-UTF16-V \
        KSC-EUC-H KSC-EUC-V KSCms-UHC-H KSCms-UHC-V KSCms-UHC-HW-H KSCms-UHC-HW-V \
        KSCpc-EUC-H UniKS-UCS2-H UniKS-UCS2-V UniKS-UTF16-H UniKS-UTF16-V Identity-H Identity-V";
    for name in iso.split_whitespace() {
        let m = CMap::predefined(name).unwrap_or_else(|| panic!("{name} missing"));
        assert!(m.has_codespace(), "{name}");
        assert_eq!(m.is_vertical(), name.ends_with('V'), "{name}");
        assert!(m.cids.iter().any(|g| !g.is_empty()), "{name}");
        assert_eq!(m.codes_are_unicode(), name.starts_with("Uni"), "{name}");
    }
    assert!(predefined_names().count() > 140);
}

#[test]
fn cid_to_unicode_spot_checks() {
    let check = |ordering: &[u8], cid: u32| {
        let mut s = String::new();
        cid_to_unicode(b"Adobe", ordering, cid, &mut s).then_some(s)
    };
    assert_eq!(check(b"Japan1", 1).as_deref(), Some(" "));
    assert_eq!(check(b"Japan1", 34).as_deref(), Some("A"));
    assert_eq!(check(b"Japan1", 633).as_deref(), Some("\u{3000}"));
    assert_eq!(check(b"Japan1", 1200).as_deref(), Some("一"));
    // A vertical-form CID missing from the horizontal table.
    assert_eq!(check(b"Japan1", 7891).as_deref(), Some("ー"));
    assert_eq!(check(b"GB1", 4767).as_deref(), Some("亻"));
    assert_eq!(check(b"CNS1", 595).as_deref(), Some("一"));
    assert_eq!(check(b"korea1", 1086).as_deref(), Some("가"));
    assert_eq!(check(b"Japan1", 0), None);
    assert_eq!(check(b"Japan1", 1_000_000), None);
    assert_eq!(check(b"Identity", 5), None);
    let mut s = String::new();
    assert!(!cid_to_unicode(b"Other", b"Japan1", 1, &mut s));
    assert!(s.is_empty());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512),
                                   probe in proptest::collection::vec(any::<u8>(), 1..8)) {
        if let Ok(m) = CMap::parse(&data, 64) {
            let r = m.next_code(&probe);
            prop_assert!(r.len >= 1 && usize::from(r.len) <= probe.len().min(4));
            let mut s = String::new();
            m.unicode(r.code, r.len, &mut s);
            m.cid(r.code, r.len);
            let bf: usize = m.bfs.iter().map(Vec::len).sum();
            let cid: usize = m.cids.iter().map(Vec::len).sum();
            // Painting splits at most into 2n - 1 pieces.
            prop_assert!(bf + cid <= 2 * 64);
        }
    }

    #[test]
    fn cmap_like_tokens_never_panic(parts in proptest::collection::vec(
        prop_oneof![
            Just("begincodespacerange".to_string()), Just("endcodespacerange".to_string()),
            Just("beginbfchar".to_string()), Just("beginbfrange".to_string()),
            Just("begincidrange".to_string()), Just("beginnotdefrange".to_string()),
            Just("endbfrange".to_string()), Just("[".to_string()), Just("]".to_string()),
            Just("/WMode 1 def".to_string()), Just("/UniJIS-UTF16-H usecmap".to_string()),
            "[0-9A-F ]{0,10}".prop_map(|h| format!("<{h}>")),
            "[a-z\\\\()]{0,6}".prop_map(|l| format!("({l})")),
            any::<u32>().prop_map(|n| n.to_string()),
            "/[a-z0-9#]{0,8}".prop_map(|n| n),
        ], 0..60),
        probe in proptest::collection::vec(any::<u8>(), 1..8)) {
        let src = parts.join(" ");
        if let Ok(m) = CMap::parse(src.as_bytes(), 32) {
            let r = m.next_code(&probe);
            prop_assert!(r.len >= 1 && usize::from(r.len) <= probe.len().min(4));
            let mut s = String::new();
            for len in 1..=4 {
                m.unicode(r.code, len, &mut s);
                m.cid(r.code, len);
            }
        }
    }

    #[test]
    fn next_code_consumes_one_to_four(cs in proptest::collection::vec(
            (1usize..=4, any::<[u8; 4]>(), any::<[u8; 4]>()), 0..6),
            probe in proptest::collection::vec(any::<u8>(), 1..8)) {
        let mut src = String::from("begincmap begincodespacerange ");
        for (len, lo, hi) in &cs {
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
            src.push_str(&format!("<{}> <{}> ", hex(&lo[..*len]), hex(&hi[..*len])));
        }
        src.push_str("endcodespacerange");
        let m = CMap::parse(src.as_bytes(), 10).unwrap();
        let mut rest: &[u8] = &probe;
        while !rest.is_empty() {
            let r = m.next_code(rest);
            prop_assert!(r.len >= 1 && usize::from(r.len) <= rest.len().min(4));
            let expect = rest[..usize::from(r.len)].iter().fold(0u32, |a, &b| (a << 8) | u32::from(b));
            prop_assert_eq!(r.code, expect);
            rest = &rest[usize::from(r.len)..];
        }
    }

    #[test]
    fn predefined_next_code_bounded(idx in 0usize..200, probe in proptest::collection::vec(any::<u8>(), 1..8)) {
        let names: Vec<&str> = predefined_names().collect();
        let m = CMap::predefined(names[idx % names.len()]).unwrap();
        let r = m.next_code(&probe);
        prop_assert!(r.len >= 1 && usize::from(r.len) <= probe.len().min(4));
        m.cid(r.code, r.len);
    }

    #[test]
    fn bfchar_round_trip(entries in proptest::collection::btree_map(
            (1u8..=4, any::<u32>()), proptest::collection::vec(any::<char>(), 1..4), 1..40)) {
        let mut src = String::from("/CIDInit /ProcSet findresource begin begincmap\n");
        src.push_str(&format!("{} beginbfchar\n", entries.len()));
        let mut expected = Vec::new();
        for ((len, code), chars) in &entries {
            let code = if *len == 4 { *code } else { code & ((1u32 << (8 * u32::from(*len))) - 1) };
            let width = usize::from(*len) * 2;
            let text: String = chars.iter().collect();
            let dest: String = text.encode_utf16().map(|u| format!("{u:04X}")).collect();
            src.push_str(&format!("<{code:0width$X}> <{dest}>\n"));
            expected.push((*len, code, text));
        }
        src.push_str("endbfchar\nendcmap\n");
        let m = CMap::parse(src.as_bytes(), 1000).unwrap();
        // Later duplicates (after masking) win, so check against the last definition.
        let mut last = std::collections::HashMap::new();
        for (len, code, text) in expected {
            last.insert((len, code), text);
        }
        for ((len, code), text) in last {
            let mut s = String::new();
            prop_assert!(m.unicode(code, len, &mut s));
            prop_assert_eq!(s, text);
        }
    }
}

#[test]
fn cmap_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<CMap>();
    check::<Arc<CMap>>();
    let dbg = format!("{:?}", CMap::identity(false));
    assert!(dbg.contains("Identity-H") && dbg.len() < 400, "{dbg}");
}

#[test]
fn pathological_inputs_stay_bounded() {
    for pat in [
        &b"("[..],
        b"<",
        b"<<",
        b"%",
        b"/",
        b"[",
        b"\\",
        b"beginbfchar ",
    ] {
        let data = pat.repeat(200_000);
        let _ = CMap::parse(&data, 100);
    }
    let mut data = b"beginbfrange <0000> <FFFF> [".to_vec();
    data.extend(b"<0041> ".repeat(100_000));
    data.extend(b"] endbfrange");
    let m = CMap::parse(&data, 100).unwrap();
    assert!(m.is_truncated());
    assert_eq!(m.bfs[1].len(), 100);
    assert!(m.units.len() <= 100);
    assert_eq!(uni(&m, 99, 2).as_deref(), Some("A"));
    assert_eq!(uni(&m, 100, 2), None);
    // Overlapping ranges in bulk: painting stays within 2n - 1 pieces.
    let mut src = String::from("beginbfrange ");
    for i in 0..2000u32 {
        src.push_str(&format!("<{:04X}> <{:04X}> <0041> ", i, 0xFFFF - i));
    }
    let m = CMap::parse(src.as_bytes(), 5000).unwrap();
    assert!(m.bfs[1].len() < 4000);
    // The last range (lo = 1999) covers the middle.
    let expect = char::from_u32(0x41 + 0x8000 - 1999).unwrap().to_string();
    assert_eq!(uni(&m, 0x8000, 2), Some(expect));
    assert_eq!(uni(&m, 0, 2).as_deref(), Some("A"));
    assert_eq!(uni(&m, 1, 2).as_deref(), Some("A"));
}
