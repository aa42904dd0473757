//! Embedded font programs (TrueType, OpenType, CFF, Type1): encodings, charsets, cmaps and glyph names needed to map glyphs to Unicode.
