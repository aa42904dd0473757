//! Test support shared by the workspace's tests (a dev-dependency only, never shipped): a tiny
//! PDF writer that records every object's offset, writes correct xref tables or streams, and
//! exposes the raw pieces so a test can break exactly one thing. Fixtures are generated in the
//! tests from these pieces; no binary blobs live in the repository.

pub mod corpus;
pub mod score;

use std::collections::BTreeMap;
use std::io::Write;

/// A PDF file being written: bytes plus the offset of every `N 0 obj` written so far.
#[derive(Debug, Clone)]
pub struct PdfWriter {
    pub buf: Vec<u8>,
    pub offsets: BTreeMap<u32, usize>,
}

/// One entry of an xref stream.
#[derive(Debug, Clone, Copy)]
pub enum XEntry {
    Free,
    Offset(usize),
    InStream { stream: u32, index: u32 },
}

impl Default for PdfWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl PdfWriter {
    /// A file with a `%PDF-1.7` header and the customary binary comment.
    pub fn new() -> Self {
        Self {
            buf: b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec(),
            offsets: BTreeMap::new(),
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True before anything but the header was written (never, in practice).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// `num 0 obj <body> endobj`.
    pub fn obj(&mut self, num: u32, body: impl AsRef<[u8]>) -> &mut Self {
        self.offsets.insert(num, self.buf.len());
        writeln!(self.buf, "{num} 0 obj").unwrap();
        self.buf.extend_from_slice(body.as_ref());
        self.buf.extend_from_slice(b"\nendobj\n");
        self
    }

    /// A stream object with a correct `/Length` and `extra` dictionary entries.
    pub fn stream(&mut self, num: u32, extra: &str, data: &[u8]) -> &mut Self {
        let body = stream_body(&format!("/Length {} {extra}", data.len()), data);
        self.obj(num, body)
    }

    /// A stream object whose dictionary is written verbatim (for lying `/Length`s).
    pub fn stream_raw_dict(&mut self, num: u32, dict_entries: &str, data: &[u8]) -> &mut Self {
        let body = stream_body(dict_entries, data);
        self.obj(num, body)
    }

    pub fn raw(&mut self, bytes: impl AsRef<[u8]>) -> &mut Self {
        self.buf.extend_from_slice(bytes.as_ref());
        self
    }

    /// A classic xref table covering `nums` (all objects written so far when `None`), in
    /// contiguous subsections; the full form (`None`) also lists object 0 and free gaps.
    /// Returns the offset of the `xref` keyword.
    pub fn xref_table(&mut self, nums: Option<&[u32]>) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(b"xref\n");
        match nums {
            None => {
                let max = self.offsets.keys().next_back().copied().unwrap_or(0);
                writeln!(self.buf, "0 {}", max + 1).unwrap();
                self.buf.extend_from_slice(b"0000000000 65535 f \n");
                for n in 1..=max {
                    match self.offsets.get(&n) {
                        Some(off) => writeln!(self.buf, "{off:010} 00000 n ").unwrap(),
                        None => self.buf.extend_from_slice(b"0000000000 65535 f \n"),
                    }
                }
            }
            Some(nums) => {
                let mut nums = nums.to_vec();
                nums.sort_unstable();
                let mut i = 0;
                while i < nums.len() {
                    let mut j = i;
                    while j + 1 < nums.len() && nums[j + 1] == nums[j] + 1 {
                        j += 1;
                    }
                    writeln!(self.buf, "{} {}", nums[i], j - i + 1).unwrap();
                    for n in &nums[i..=j] {
                        let off = self.offsets[n];
                        writeln!(self.buf, "{off:010} 00000 n ").unwrap();
                    }
                    i = j + 1;
                }
            }
        }
        at
    }

    /// `trailer << dict >> startxref N %%EOF`.
    pub fn trailer(&mut self, dict: &str, startxref: usize) -> &mut Self {
        write!(
            self.buf,
            "trailer\n<< {dict} >>\nstartxref\n{startxref}\n%%EOF\n"
        )
        .unwrap();
        self
    }

    /// Size for the trailer: one past the highest object number.
    pub fn size(&self) -> u32 {
        self.offsets.keys().next_back().map_or(1, |n| n + 1)
    }

    /// Full xref table and a trailer naming `root` (plus `extra` entries); the finished bytes.
    pub fn finish(mut self, root: u32, extra: &str) -> Vec<u8> {
        let size = self.size();
        let x = self.xref_table(None);
        self.trailer(&format!("/Size {size} /Root {root} 0 R {extra}"), x);
        self.buf
    }

    /// An xref stream object `num` whose rows use widths `w` (declared as `/W declared_w` when
    /// given, to lie) with the given entries for `[first..]` (`/Index [first count]`), followed
    /// by `startxref`. Returns the stream's offset.
    pub fn xref_stream(
        &mut self,
        num: u32,
        w: [usize; 3],
        declared_w: Option<&str>,
        first: u32,
        entries: &[XEntry],
        dict_extra: &str,
    ) -> usize {
        let mut data = Vec::new();
        for e in entries {
            let (t, f1, f2) = match *e {
                XEntry::Free => (0u64, 0u64, 0u64),
                XEntry::Offset(o) => (1, o as u64, 0),
                XEntry::InStream { stream, index } => (2, u64::from(stream), u64::from(index)),
            };
            for (v, width) in [(t, w[0]), (f1, w[1]), (f2, w[2])] {
                for k in (0..width).rev() {
                    data.push(if k >= 8 { 0 } else { (v >> (8 * k)) as u8 });
                }
            }
        }
        let at = self.buf.len();
        let declared =
            declared_w.map_or_else(|| format!("[{} {} {}]", w[0], w[1], w[2]), str::to_owned);
        let dict = format!(
            "/Type /XRef /W {declared} /Index [{first} {}] {dict_extra}",
            entries.len()
        );
        self.stream(num, &dict, &data);
        writeln!(self.buf, "startxref\n{at}\n%%EOF").unwrap();
        at
    }
}

/// `<< dict >>\nstream\n data \nendstream`.
pub fn stream_body(dict_entries: &str, data: &[u8]) -> Vec<u8> {
    let mut body = format!("<< {dict_entries} >>\nstream\n").into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(b"\nendstream");
    body
}

/// zlib-compress `data`.
pub fn flate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// zlib-compress `n` copies of `byte` without materialising them (decompression bombs).
pub fn flate_repeat(byte: u8, n: usize) -> Vec<u8> {
    let chunk = vec![byte; 1 << 20];
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        e.write_all(&chunk[..k]).unwrap();
        left -= k;
    }
    e.finish().unwrap()
}

/// Brotli-compress `data` (quality 9, 4 MiB window), for `/BrotliDecode` streams.
pub fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 9, 22);
        w.write_all(data).unwrap();
    }
    out
}

/// Brotli-compress `n` copies of `byte` without materialising them (decompression bombs).
pub fn brotli_repeat(byte: u8, n: usize) -> Vec<u8> {
    let chunk = vec![byte; 1 << 20];
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 1 << 16, 5, 24);
        let mut left = n;
        while left > 0 {
            let k = left.min(chunk.len());
            w.write_all(&chunk[..k]).unwrap();
            left -= k;
        }
    }
    out
}

/// Content that draws `text` (plain ASCII without parentheses) with font `/F1`.
pub fn text_content(text: &str) -> Vec<u8> {
    format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET\n").into_bytes()
}

/// Helvetica as `/F1` resources, the usual resources of generated pages.
pub const FONT_RESOURCES: &str = "<< /Font << /F1 3 0 R >> >>";

/// One page of a generated document.
#[derive(Debug, Clone)]
pub struct PageSpec {
    /// Content stream bytes, written as they are (already encoded when `stream_extra` names a
    /// filter).
    pub content: Vec<u8>,
    /// Extra entries of the content stream's dictionary, e.g. `/Filter /FlateDecode`.
    pub stream_extra: String,
    /// The page's `/Resources` value.
    pub resources: String,
    /// Extra entries of the page dictionary.
    pub page_extra: String,
}

impl PageSpec {
    /// A page showing `text` in Helvetica.
    pub fn text(text: &str) -> Self {
        Self::content(text_content(text))
    }

    /// A page with the given (unfiltered) content and Helvetica as `/F1`.
    pub fn content(content: Vec<u8>) -> Self {
        Self {
            content,
            stream_extra: String::new(),
            resources: FONT_RESOURCES.to_owned(),
            page_extra: String::new(),
        }
    }

    /// A page whose content is Flate-compressed.
    pub fn flate(content: &[u8]) -> Self {
        Self {
            stream_extra: "/Filter /FlateDecode".to_owned(),
            ..Self::content(flate(content))
        }
    }
}

/// Object number of page `i` (0-based) in [`write_doc`]'s numbering; its content is the next.
pub fn page_num(i: usize) -> u32 {
    10 + 2 * i as u32
}

/// Helvetica, the font of generated pages.
pub const HELVETICA: &str =
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>";

/// Writes the standard objects: 1 catalog, 2 page tree (`Count` as given or the true count),
/// 3 Helvetica, and per page `page_num(i)` with its content stream `page_num(i) + 1`.
/// Objects 4..=9 are free for the test's own additions.
pub fn write_doc(w: &mut PdfWriter, pages: &[PageSpec], count: Option<i64>) {
    write_doc_with_font(w, pages, count, HELVETICA);
}

/// [`write_doc`] with object 3 (the `/F1` font) written as `font`.
pub fn write_doc_with_font(w: &mut PdfWriter, pages: &[PageSpec], count: Option<i64>, font: &str) {
    w.obj(1, "<< /Type /Catalog /Pages 2 0 R >>");
    let kids: Vec<String> = (0..pages.len())
        .map(|i| format!("{} 0 R", page_num(i)))
        .collect();
    let count = count.unwrap_or(pages.len() as i64);
    w.obj(
        2,
        format!(
            "<< /Type /Pages /Kids [{}] /Count {count} >>",
            kids.join(" ")
        ),
    );
    w.obj(3, font);
    write_leaves(w, pages, 2);
}

/// The page objects and their content streams, with `/Parent parent 0 R`.
pub fn write_leaves(w: &mut PdfWriter, pages: &[PageSpec], parent: u32) {
    for (i, p) in pages.iter().enumerate() {
        let n = page_num(i);
        w.obj(
            n,
            format!(
                "<< /Type /Page /Parent {parent} 0 R /MediaBox [0 0 612 792] /Resources {} /Contents {} 0 R {} >>",
                p.resources,
                n + 1,
                p.page_extra
            ),
        );
        w.stream(n + 1, &p.stream_extra, &p.content);
    }
}

/// A complete, valid document of `pages`.
pub fn doc(pages: &[PageSpec]) -> Vec<u8> {
    let mut w = PdfWriter::new();
    write_doc(&mut w, pages, None);
    w.finish(1, "")
}

/// A complete document with one text page per entry.
pub fn text_doc(texts: &[&str]) -> Vec<u8> {
    doc(&texts.iter().map(|t| PageSpec::text(t)).collect::<Vec<_>>())
}
