//! PDF stream filters (Flate with predictors, LZW, ASCII85, ASCIIHex, RunLength) with output limits; image filters recognised.
