//! Document metadata from the Info dictionary, the catalog and the XMP packet.

use ndf_model::Metadata;
use ndf_pdf::{Dict, Pdf};
use ndf_text::decode_text_string;

/// Largest XMP packet read.
const MAX_XMP_BYTES: usize = 4 << 20;
/// Longest metadata value kept (characters).
const MAX_VALUE_CHARS: usize = 4096;

pub(crate) fn read(pdf: &Pdf<'_>) -> Metadata {
    let mut m = Metadata {
        page_count: pdf.page_count() as u32,
        pdf_version: pdf.version(),
        encrypted: pdf.is_encrypted(),
        encryption: pdf.encryption(),
        linearized: pdf.is_linearized(),
        ..Metadata::default()
    };
    let catalog = pdf.catalog();
    if let Some(info) = pdf.info() {
        let text = |key: &[u8]| info_text(pdf, info, key);
        m.title = text(b"Title");
        m.author = text(b"Author");
        m.subject = text(b"Subject");
        m.keywords = text(b"Keywords");
        m.creator = text(b"Creator");
        m.producer = text(b"Producer");
        m.created = pdf
            .get_string(info, b"CreationDate")
            .and_then(|s| pdf_date(&decode_text_string(s)));
        m.modified = pdf
            .get_string(info, b"ModDate")
            .and_then(|s| pdf_date(&decode_text_string(s)));
    }
    if let Some(cat) = catalog {
        m.tagged = pdf
            .get_dict(cat, b"MarkInfo")
            .and_then(|mi| pdf.get_in(mi, b"Marked").as_bool())
            .unwrap_or(false)
            || cat.contains(b"StructTreeRoot");
        m.language = pdf
            .get_string(cat, b"Lang")
            .map(decode_text_string)
            .map(clean)
            .filter(|s| !s.is_empty());
        if let Some(stream) = pdf.get_in(cat, b"Metadata").as_stream()
            && let Ok(d) = pdf.decode_stream(stream)
            && d.data.len() <= MAX_XMP_BYTES
        {
            let xmp = String::from_utf8_lossy(&d.data);
            apply_xmp(&xmp, &mut m);
        }
    }
    m
}

fn info_text<'a>(pdf: &Pdf<'a>, info: Dict<'a>, key: &[u8]) -> Option<String> {
    let s = clean(decode_text_string(pdf.get_string(info, key)?));
    (!s.is_empty()).then_some(s)
}

/// Trim, drop control characters and NULs, cap the length.
fn clean(s: String) -> String {
    let s: String = s
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .take(MAX_VALUE_CHARS)
        .collect();
    s.trim().to_owned()
}

/// `D:YYYYMMDDHHmmSSOHH'mm'` (every part after the year optional) → RFC 3339.
pub(crate) fn pdf_date(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s.strip_prefix("D:").unwrap_or(s);
    let digits: Vec<u32> = s
        .chars()
        .take_while(char::is_ascii_digit)
        .filter_map(|c| c.to_digit(10))
        .collect();
    if digits.len() < 4 {
        return None;
    }
    let num = |from: usize, len: usize, default: u32| -> u32 {
        if digits.len() >= from + len {
            digits[from..from + len].iter().fold(0, |a, d| a * 10 + d)
        } else {
            default
        }
    };
    let (year, month, day) = (num(0, 4, 0), num(4, 2, 1), num(6, 2, 1));
    let (hour, minute, second) = (num(8, 2, 0), num(10, 2, 0), num(12, 2, 0));
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let rest = &s[digits.len().min(s.len())..];
    let offset = match rest.chars().next() {
        Some(sign @ ('+' | '-')) => {
            let d: Vec<u32> = rest[1..]
                .chars()
                .filter(char::is_ascii_digit)
                .filter_map(|c| c.to_digit(10))
                .collect();
            let oh = d.get(..2).map_or(0, |v| v[0] * 10 + v[1]);
            let om = d.get(2..4).map_or(0, |v| v[0] * 10 + v[1]);
            if oh > 23 || om > 59 {
                "Z".to_owned()
            } else {
                format!("{sign}{oh:02}:{om:02}")
            }
        }
        _ => "Z".to_owned(),
    };
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{offset}"
    ))
}

/// Fill fields from an XMP packet; XMP values win over the Info dictionary.
fn apply_xmp(xmp: &str, m: &mut Metadata) {
    let set = |field: &mut Option<String>, v: Option<String>| {
        if let Some(v) = v.map(clean).filter(|v| !v.is_empty()) {
            *field = Some(v);
        }
    };
    set(&mut m.title, xmp_value(xmp, "dc:title"));
    set(&mut m.author, xmp_value(xmp, "dc:creator"));
    set(&mut m.subject, xmp_value(xmp, "dc:description"));
    set(&mut m.keywords, xmp_value(xmp, "pdf:Keywords"));
    set(&mut m.producer, xmp_value(xmp, "pdf:Producer"));
    set(&mut m.creator, xmp_value(xmp, "xmp:CreatorTool"));
    if let Some(d) = xmp_value(xmp, "xmp:CreateDate").and_then(|d| xmp_date(&d)) {
        m.created = Some(d);
    }
    if let Some(d) = xmp_value(xmp, "xmp:ModifyDate").and_then(|d| xmp_date(&d)) {
        m.modified = Some(d);
    }
}

/// The text of an XMP property, as an element (`<dc:title><rdf:Alt><rdf:li>…`) or as an
/// attribute (`pdf:Producer="…"`). A bounded substring scan, not a full XML parser: enough for
/// the flat packets PDF writers emit.
fn xmp_value(xmp: &str, key: &str) -> Option<String> {
    let open = format!("<{key}");
    if let Some(start) = xmp.find(&open) {
        let after = &xmp[start + open.len()..];
        // `<dc:titleX` is another element.
        if after.starts_with(['>', ' ', '\t', '\r', '\n', '/']) {
            let tag_end = after.find('>')?;
            if after[..tag_end].ends_with('/') {
                return None;
            }
            let body_start = tag_end + 1;
            let close = format!("</{key}>");
            let body_end = after[body_start..].find(&close).map(|e| body_start + e)?;
            let body = &after[body_start..body_end];
            // Inside rdf:Alt / rdf:Seq / rdf:Bag take the list items, else the body itself.
            let items: Vec<String> = body
                .split("<rdf:li")
                .skip(1)
                .filter_map(|li| {
                    let s = li.find('>')? + 1;
                    let e = li.find("</rdf:li>")?;
                    (s <= e).then(|| unescape(&li[s..e]))
                })
                .collect();
            return Some(if items.is_empty() {
                unescape(body)
            } else {
                items.join("; ")
            });
        }
    }
    let attr = format!("{key}=\"");
    let start = xmp.find(&attr)? + attr.len();
    let end = xmp[start..].find('"')? + start;
    Some(unescape(&xmp[start..end]))
}

/// Decode XML entities, after dropping any markup left inside a value (real tags in the raw
/// text; escaped `&lt;b&gt;` is text and survives).
fn unescape(raw: &str) -> String {
    let mut s = String::with_capacity(raw.len());
    let mut in_tag = false;
    for c in raw.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => s.push(c),
            _ => {}
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let ent = &rest[1..end];
        let c = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => out.push(c),
            None => out.push_str(&rest[..=end]),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// XMP dates are ISO 8601 already; normalise to full RFC 3339 when possible.
fn xmp_date(s: &str) -> Option<String> {
    let s = s.trim();
    let date = s.get(..10)?;
    if date.len() != 10
        || !date.chars().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        })
    {
        return None;
    }
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(format!("{date}T00:00:00Z"));
    }
    let rest = rest.strip_prefix('T')?;
    let time_len = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let mut time = rest[..time_len].split('.').next().unwrap_or("").to_owned();
    if time.len() == 5 {
        time.push_str(":00");
    }
    if time.len() != 8 {
        return None;
    }
    let zone = &rest[time_len..];
    let zone = if zone.is_empty() { "Z" } else { zone };
    Some(format!("{date}T{time}{zone}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_dates() {
        assert_eq!(
            pdf_date("D:20210304102030+01'00'").as_deref(),
            Some("2021-03-04T10:20:30+01:00")
        );
        assert_eq!(pdf_date("D:2021").as_deref(), Some("2021-01-01T00:00:00Z"));
        assert_eq!(
            pdf_date("D:20210304102030Z00'00'").as_deref(),
            Some("2021-03-04T10:20:30Z")
        );
        assert_eq!(
            pdf_date("20210304").as_deref(),
            Some("2021-03-04T00:00:00Z")
        );
        assert_eq!(pdf_date("D:20211304"), None);
        assert_eq!(pdf_date("garbage"), None);
    }

    #[test]
    fn xmp_values() {
        let x = r#"<x:xmpmeta><rdf:RDF><rdf:Description pdf:Producer="Acme &amp; Co" xmp:CreateDate="2020-05-06T07:08:09+02:00">
            <dc:title><rdf:Alt><rdf:li xml:lang="x-default">A &lt;b&gt; title</rdf:li></rdf:Alt></dc:title>
            <dc:creator><rdf:Seq><rdf:li>Ann</rdf:li><rdf:li>Bob</rdf:li></rdf:Seq></dc:creator>
            </rdf:Description></rdf:RDF></x:xmpmeta>"#;
        let mut m = Metadata::default();
        apply_xmp(x, &mut m);
        assert_eq!(m.title.as_deref(), Some("A <b> title"));
        assert_eq!(m.author.as_deref(), Some("Ann; Bob"));
        assert_eq!(m.producer.as_deref(), Some("Acme & Co"));
        assert_eq!(m.created.as_deref(), Some("2020-05-06T07:08:09+02:00"));
    }
}
