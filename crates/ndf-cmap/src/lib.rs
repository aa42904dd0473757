//! CMaps: the ToUnicode and embedded CMap parser, the predefined CJK CMaps and CID-to-Unicode tables.
