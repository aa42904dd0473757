//! Static font data: the Adobe Glyph List, the standard PDF encodings and the standard-14 font metrics.
