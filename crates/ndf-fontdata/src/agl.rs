//! Glyph name -> Unicode, per the Adobe Glyph List specification.

use crate::generated::agl::{AGL, AGL_INDEX};

/// Glyph names longer than this (in bytes) are not resolved by [`glyph_name_to_unicode`].
///
/// PDF and PostScript names are limited to 127 bytes in practice; the cap keeps the output of one
/// call small whatever the input.
pub const MAX_GLYPH_NAME_LEN: usize = 512;

/// Adobe Glyph List (+ the ITC Zapf Dingbats list `a1`..`a206`) lookup: `"A"` -> `"A"`,
/// `"fi"` -> `"ﬁ"`, `"Euro"` -> `"€"`, `"a100"` -> `"❞"`. Exact names only.
///
/// A few AGL names map to several code points (e.g. Hebrew `"dalethatafpatah"`), hence `&str`.
///
/// O(1): a generated hash index, about one string compare per lookup.
pub fn agl_lookup(name: &str) -> Option<&'static str> {
    let i = AGL_INDEX.find(|i| AGL.get(i).map(|e| e.0), name)?;
    AGL.get(i).map(|e| e.1)
}

/// Full glyph-name resolution per the AGL specification.
///
/// Drops everything from the first `.`, splits the rest into `_`-separated components and maps
/// each through [`agl_lookup`], `uniXXXX` (one or more groups of four hex digits, no surrogates)
/// or `uXXXX`..`uXXXXXX` (up to U+10FFFF, no surrogates). Lower-case hex digits are accepted too,
/// since some producers write them. The result is appended to `out`; returns `true` when
/// something was appended. If any component fails (or the name is empty, or longer than
/// [`MAX_GLYPH_NAME_LEN`]) `out` is left unchanged and `false` is returned.
pub fn glyph_name_to_unicode(name: &str, out: &mut String) -> bool {
    if name.len() > MAX_GLYPH_NAME_LEN {
        return false;
    }
    let base = name.split_once('.').map_or(name, |(b, _)| b);
    if base.is_empty() {
        return false;
    }
    let start = out.len();
    for component in base.split('_') {
        if !push_component(component, out) {
            out.truncate(start);
            return false;
        }
    }
    out.len() > start
}

/// Appends one component's text; on `false` the caller truncates whatever was appended.
fn push_component(component: &str, out: &mut String) -> bool {
    if let Some(text) = agl_lookup(component) {
        out.push_str(text);
        return true;
    }
    if let Some(hex) = component.strip_prefix("uni") {
        let bytes = hex.as_bytes();
        if bytes.is_empty() || bytes.len() % 4 != 0 {
            return false;
        }
        for group in bytes.chunks(4) {
            // `uni` is limited to the BMP; surrogates are rejected by `char::from_u32`.
            match parse_hex(group).and_then(char::from_u32) {
                Some(c) => out.push(c),
                None => return false,
            }
        }
        return true;
    }
    if let Some(hex) = component.strip_prefix('u') {
        let bytes = hex.as_bytes();
        if !(4..=6).contains(&bytes.len()) {
            return false;
        }
        // At most six hex digits, so the value fits; `from_u32` rejects > U+10FFFF and surrogates.
        return match parse_hex(bytes).and_then(char::from_u32) {
            Some(c) => {
                out.push(c);
                true
            }
            None => false,
        };
    }
    false
}

/// Parses up to eight hex digits (callers pass at most six); `None` on any other byte.
fn parse_hex(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |acc, &b| {
        let d = char::from(b).to_digit(16)?;
        acc.checked_mul(16)?.checked_add(d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(name: &str) -> Option<String> {
        let mut s = String::new();
        glyph_name_to_unicode(name, &mut s).then_some(s)
    }

    #[test]
    fn exact_lookups() {
        assert_eq!(agl_lookup("A"), Some("A"));
        assert_eq!(agl_lookup("fi"), Some("\u{FB01}"));
        assert_eq!(agl_lookup("Euro"), Some("€"));
        assert_eq!(agl_lookup("a100"), Some("❞"));
        assert_eq!(agl_lookup("a1"), Some("\u{2701}"));
        assert_eq!(agl_lookup("afii10017"), Some("\u{0410}"));
        assert_eq!(agl_lookup("dalethatafpatah"), Some("\u{05D3}\u{05B2}"));
        assert_eq!(agl_lookup("quoteright"), Some("\u{2019}"));
        assert_eq!(agl_lookup("space"), Some(" "));
        assert_eq!(agl_lookup("a"), Some("a"));
        assert_eq!(agl_lookup("a0"), None);
        assert_eq!(agl_lookup("T.swash"), None);
        assert_eq!(agl_lookup(""), None);
        assert_eq!(agl_lookup("uni0041"), None);
    }

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(AGL.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(AGL.len(), 4281 + 201);
        assert!(AGL.iter().all(|(n, v)| !n.is_empty() && !v.is_empty()));
    }

    #[test]
    fn every_table_entry_resolves_through_the_full_algorithm() {
        for &(name, value) in AGL.iter() {
            assert_eq!(agl_lookup(name), Some(value), "{name}");
            assert_eq!(resolve(name).as_deref(), Some(value), "{name}");
        }
    }

    #[test]
    fn index_is_bounded_and_complete() {
        // The index must hold each name exactly once and stay sparse enough for short probes.
        let used = AGL_INDEX
            .slots
            .iter()
            .filter(|&&s| s != crate::hash::EMPTY)
            .count();
        assert_eq!(used, AGL.len());
        assert!(AGL_INDEX.max_probe < 64, "{}", AGL_INDEX.max_probe);
    }

    #[test]
    fn agl_spec_forms() {
        assert_eq!(resolve("afii10017").as_deref(), Some("\u{0410}"));
        assert_eq!(resolve("uni20AC").as_deref(), Some("€"));
        assert_eq!(resolve("uni20ac").as_deref(), Some("€"));
        assert_eq!(resolve("uni004100420043").as_deref(), Some("ABC"));
        assert_eq!(resolve("u1F600").as_deref(), Some("😀"));
        assert_eq!(resolve("u0041").as_deref(), Some("A"));
        assert_eq!(resolve("u10FFFF").as_deref(), Some("\u{10FFFF}"));
        assert_eq!(resolve("f_f_i").as_deref(), Some("ffi"));
        assert_eq!(resolve("T.swash").as_deref(), Some("T"));
        assert_eq!(resolve("f_i.liga").as_deref(), Some("fi"));
        assert_eq!(resolve("uni0066_uni0069").as_deref(), Some("fi"));
        assert_eq!(resolve("Lcommaaccent_u1F600.alt").as_deref(), Some("Ļ😀"));
    }

    #[test]
    fn agl_spec_rejections() {
        for bad in [
            "uniD800",
            "uni0041D800",
            "uDFFF",
            "u110000",
            "u12",
            "u1234567",
            "uni",
            "uni004",
            "uni00410",
            "uniGGGG",
            "uni+041",
            "u+041",
            "",
            ".notdef",
            ".",
            "_",
            "f__i",
            "f_",
            "f_nosuchglyph",
            "g123",
            "cid42",
            "A ",
        ] {
            let mut s = String::from("keep");
            assert!(!glyph_name_to_unicode(bad, &mut s), "{bad:?}");
            assert_eq!(s, "keep", "{bad:?} must leave the buffer unchanged");
        }
    }

    #[test]
    fn appends_to_existing_text() {
        let mut s = String::from("x");
        assert!(glyph_name_to_unicode("Euro", &mut s));
        assert!(glyph_name_to_unicode("uni0041", &mut s));
        assert_eq!(s, "x€A");
    }

    #[test]
    fn overlong_names_are_rejected() {
        let long = "A_".repeat(MAX_GLYPH_NAME_LEN / 2) + "A";
        assert!(long.len() > MAX_GLYPH_NAME_LEN);
        let mut s = String::new();
        assert!(!glyph_name_to_unicode(&long, &mut s));
        let ok = "A_".repeat(100) + "A";
        assert!(glyph_name_to_unicode(&ok, &mut s));
        assert_eq!(s, "A".repeat(101));
    }

    mod props {
        use super::super::*;
        use crate::generated::agl::AGL;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_names_never_panic(name in ".{0,80}", prefix in "[a-z]{0,3}") {
                let mut s = prefix.clone();
                let ok = glyph_name_to_unicode(&name, &mut s);
                prop_assert!(s.starts_with(&prefix));
                prop_assert_eq!(ok, s.len() > prefix.len());
                // Output stays proportional to input.
                prop_assert!(s.len() <= prefix.len() + 3 * name.len());
                // The hash index agrees with a binary search of the sorted names.
                let by_search = AGL.binary_search_by(|e| e.0.cmp(&name)).ok();
                prop_assert_eq!(agl_lookup(&name), by_search.map(|i| AGL[i].1));
            }

            #[test]
            fn glyphy_names_never_panic(name in "(u|uni|a|f|[0-9A-Fa-f]{1,8}|_|\\.|[A-Za-z]{1,6}){0,12}") {
                let mut s = String::new();
                let ok = glyph_name_to_unicode(&name, &mut s);
                prop_assert_eq!(ok, !s.is_empty());
            }

            #[test]
            fn u_forms_round_trip(c in any::<char>()) {
                let mut s = String::new();
                let u_name = format!("u{:04X}", u32::from(c));
                prop_assert!(glyph_name_to_unicode(&u_name, &mut s));
                prop_assert_eq!(s.as_str(), c.to_string());
                if u32::from(c) <= 0xFFFF {
                    s.clear();
                    let uni_name = format!("uni{:04X}", u32::from(c));
                    prop_assert!(glyph_name_to_unicode(&uni_name, &mut s));
                    prop_assert_eq!(s.as_str(), c.to_string());
                }
            }
        }
    }
}
