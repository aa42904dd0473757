//! PDF objects. All variants are `Copy` handles borrowing from the input file or from the
//! document's arena (decoded names and strings, arrays, dictionaries), so passing objects around
//! never allocates or copies.

use std::fmt;

/// An indirect reference `num generation R`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjRef {
    /// Object number.
    pub num: u32,
    /// Generation number.
    pub generation: u16,
}

impl ObjRef {
    /// A reference.
    pub const fn new(num: u32, generation: u16) -> Self {
        Self { num, generation }
    }
}

impl fmt::Debug for ObjRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} R", self.num, self.generation)
    }
}

/// A PDF name, `#xx` escapes decoded, without the leading slash.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name<'a>(pub &'a [u8]);

impl<'a> Name<'a> {
    /// The name's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The name as UTF-8 text when it is valid UTF-8 (names are usually ASCII).
    pub fn as_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.0).ok()
    }
}

impl fmt::Debug for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", String::from_utf8_lossy(self.0))
    }
}

/// A dictionary: key/value pairs in file order.
#[derive(Clone, Copy, Default)]
pub struct Dict<'a>(pub &'a [(Name<'a>, Object<'a>)]);

impl<'a> Dict<'a> {
    /// An empty dictionary.
    pub const EMPTY: Dict<'static> = Dict(&[]);

    /// The value of `key` (unresolved). When a key occurs twice the last one wins, as in MuPDF.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<Object<'a>> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.0 == key)
            .map(|(_, v)| *v)
    }

    /// True when the key is present.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Entries in file order.
    pub fn iter(&self) -> impl Iterator<Item = (Name<'a>, Object<'a>)> + 'a {
        self.0.iter().copied()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of `key` when it is a name (direct; names are never worth an indirection).
    pub fn get_name(&self, key: &[u8]) -> Option<&'a [u8]> {
        match self.get(key) {
            Some(Object::Name(n)) => Some(n.0),
            _ => None,
        }
    }

    /// True when `/Type` (or `/Subtype` when `key` says so) equals `value`.
    pub fn is_type(&self, key: &[u8], value: &[u8]) -> bool {
        self.get_name(key) == Some(value)
    }
}

impl fmt::Debug for Dict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

/// A stream: its dictionary and its raw (still encoded, possibly encrypted) data.
#[derive(Clone, Copy)]
pub struct Stream<'a> {
    /// The stream dictionary.
    pub dict: Dict<'a>,
    /// Raw data between `stream` and `endstream`.
    pub raw: &'a [u8],
    /// The indirect object holding the stream (its key decrypts the data); `None` for streams
    /// that are never encrypted (inside object streams, inline images).
    pub id: Option<ObjRef>,
}

impl fmt::Debug for Stream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stream({:?}, {} bytes)", self.dict, self.raw.len())
    }
}

/// A PDF object.
#[derive(Clone, Copy, Default)]
pub enum Object<'a> {
    /// `null`, and what missing or unreadable objects resolve to.
    #[default]
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A real.
    Real(f64),
    /// A string, escapes decoded (and decrypted).
    String(&'a [u8]),
    /// A name.
    Name(Name<'a>),
    /// An array.
    Array(&'a [Object<'a>]),
    /// A dictionary.
    Dict(Dict<'a>),
    /// A stream.
    Stream(&'a Stream<'a>),
    /// An indirect reference.
    Ref(ObjRef),
}

impl<'a> Object<'a> {
    /// Integer value; reals are truncated (some writers emit `/Length 123.0`).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Object::Int(i) => Some(i),
            Object::Real(r) if r.is_finite() && r.abs() < 9.0e18 => Some(r as i64),
            _ => None,
        }
    }

    /// Numeric value.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Object::Int(i) => Some(i as f64),
            Object::Real(r) if r.is_finite() => Some(r),
            _ => None,
        }
    }

    /// Name bytes.
    pub fn as_name(&self) -> Option<&'a [u8]> {
        match self {
            Object::Name(n) => Some(n.0),
            _ => None,
        }
    }

    /// String bytes.
    pub fn as_string(&self) -> Option<&'a [u8]> {
        match self {
            Object::String(s) => Some(s),
            _ => None,
        }
    }

    /// Array elements.
    pub fn as_array(&self) -> Option<&'a [Object<'a>]> {
        match self {
            Object::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The dictionary, or a stream's dictionary.
    pub fn as_dict(&self) -> Option<Dict<'a>> {
        match self {
            Object::Dict(d) => Some(*d),
            Object::Stream(s) => Some(s.dict),
            _ => None,
        }
    }

    /// The stream.
    pub fn as_stream(&self) -> Option<&'a Stream<'a>> {
        match self {
            Object::Stream(s) => Some(s),
            _ => None,
        }
    }

    /// The reference.
    pub fn as_ref(&self) -> Option<ObjRef> {
        match self {
            Object::Ref(r) => Some(*r),
            _ => None,
        }
    }

    /// Boolean value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Object::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Object::Null)
    }
}

impl fmt::Debug for Object<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Object::Null => f.write_str("null"),
            Object::Bool(b) => write!(f, "{b}"),
            Object::Int(i) => write!(f, "{i}"),
            Object::Real(r) => write!(f, "{r}"),
            Object::String(s) => write!(f, "({})", String::from_utf8_lossy(s)),
            Object::Name(n) => write!(f, "{n:?}"),
            Object::Array(a) => f.debug_list().entries(a.iter()).finish(),
            Object::Dict(d) => write!(f, "{d:?}"),
            Object::Stream(s) => write!(f, "{s:?}"),
            Object::Ref(r) => write!(f, "{r:?}"),
        }
    }
}
