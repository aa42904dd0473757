//! Reconstruction of the cross-reference data by scanning the whole file, for files whose xref
//! is missing, damaged or points at the wrong offsets. Linear in the file size.

use memchr::memmem;

use crate::lexer::{Lexer, Token, is_regular, is_white};

/// An `N G obj` header found in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FoundObject {
    /// Object number.
    pub(crate) num: u32,
    /// Generation.
    pub(crate) generation: u16,
    /// Offset of the object number's first digit.
    pub(crate) offset: u32,
}

/// What a scan found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Object headers in file order.
    pub(crate) objects: Vec<FoundObject>,
    /// Offsets just after each `trailer` keyword, in file order.
    pub(crate) trailers: Vec<usize>,
    /// Object numbers of objects whose dictionary says `/Type /XRef`, in file order.
    pub(crate) xref_streams: Vec<u32>,
    /// Object numbers of objects whose dictionary says `/Type /ObjStm`, in file order.
    pub(crate) object_streams: Vec<u32>,
    /// Object numbers of objects whose dictionary says `/Type /Catalog`, in file order.
    pub(crate) catalogs: Vec<u32>,
    /// Object numbers of objects whose dictionary says `/Type /Page`, in file order.
    pub(crate) pages: Vec<u32>,
    /// More objects than `max_objects` were present.
    pub(crate) overflow: bool,
}

/// Scan `data` for object headers, trailers and typed objects. At most `max_objects` object
/// headers are recorded.
pub(crate) fn scan(data: &[u8], max_objects: u32) -> Scan {
    let mut out = Scan::default();
    for p in memmem::find_iter(data, b"obj") {
        // "obj" must be a whole keyword: not "endobj", not "objects".
        if p > 0 && !is_white(data[p - 1]) && !data[p - 1].is_ascii_digit() {
            continue;
        }
        if data.get(p + 3).is_some_and(|&b| is_regular(b)) {
            continue;
        }
        if let Some(found) = header_before(data, p) {
            if out.objects.len() as u64 >= u64::from(max_objects) {
                out.overflow = true;
                break;
            }
            out.objects.push(found);
        }
    }
    for p in memmem::find_iter(data, b"trailer") {
        if data.get(p + 7).is_some_and(|&b| is_regular(b)) {
            continue;
        }
        out.trailers.push(p + 7);
    }
    // Typed objects: "/Type" followed by the type name, attributed to the closest preceding
    // object header.
    for p in memmem::find_iter(data, b"/Type") {
        if data.get(p + 5).is_some_and(|&b| is_regular(b)) {
            continue;
        }
        let mut lex = Lexer::at(data, p + 5);
        let Token::Name(name) = lex.next_token() else {
            continue;
        };
        let list = match name {
            b"XRef" => &mut out.xref_streams,
            b"ObjStm" => &mut out.object_streams,
            b"Catalog" => &mut out.catalogs,
            b"Page" => &mut out.pages,
            _ => continue,
        };
        let idx = out.objects.partition_point(|o| (o.offset as usize) < p);
        if let Some(owner) = idx.checked_sub(1).and_then(|i| out.objects.get(i))
            && list.last() != Some(&owner.num)
        {
            list.push(owner.num);
        }
    }
    out
}

/// Parse `num generation` backwards from the `obj` keyword at `p`.
fn header_before(data: &[u8], p: usize) -> Option<FoundObject> {
    let mut i = p;
    // whitespace between generation and "obj" (may be none: "1 0obj" is seen in the wild)
    while i > 0 && is_white(data[i - 1]) {
        i -= 1;
    }
    let gen_end = i;
    while i > 0 && data[i - 1].is_ascii_digit() && gen_end - i < 6 {
        i -= 1;
    }
    let gen_start = i;
    if gen_start == gen_end {
        return None;
    }
    let mut j = i;
    while j > 0 && is_white(data[j - 1]) {
        j -= 1;
    }
    if j == i {
        return None;
    }
    let num_end = j;
    while j > 0 && data[j - 1].is_ascii_digit() && num_end - j < 11 {
        j -= 1;
    }
    let num_start = j;
    if num_start == num_end {
        return None;
    }
    // The number must start a token.
    if num_start > 0 && is_regular(data[num_start - 1]) {
        return None;
    }
    let num: u64 = std::str::from_utf8(&data[num_start..num_end])
        .ok()?
        .parse()
        .ok()?;
    let generation: u64 = std::str::from_utf8(&data[gen_start..gen_end])
        .ok()?
        .parse()
        .ok()?;
    Some(FoundObject {
        num: u32::try_from(num).ok()?,
        generation: u16::try_from(generation).ok()?,
        offset: u32::try_from(num_start).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_objects_trailers_and_types() {
        let src = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n 3 0 obj\n<< /Type /Page >>\nendobj\ntrailer << /Root 1 0 R >>\n12 3obj null endobj";
        let s = scan(src, 100);
        let nums: Vec<u32> = s.objects.iter().map(|o| o.num).collect();
        assert_eq!(nums, vec![1, 2, 3, 12]);
        assert_eq!(s.objects[3].generation, 3);
        assert_eq!(
            &src[s.objects[0].offset as usize..s.objects[0].offset as usize + 7],
            b"1 0 obj"
        );
        assert_eq!(s.catalogs, vec![1]);
        assert_eq!(s.pages, vec![3]);
        assert_eq!(s.trailers.len(), 1);
    }

    #[test]
    fn object_count_is_capped() {
        let src = "1 0 obj null endobj\n".repeat(50);
        let s = scan(src.as_bytes(), 10);
        assert_eq!(s.objects.len(), 10);
        assert!(s.overflow);
    }

    proptest! {
        #[test]
        fn scan_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let s = scan(&data, 1000);
            for o in s.objects {
                prop_assert!((o.offset as usize) < data.len());
            }
        }
    }
}
