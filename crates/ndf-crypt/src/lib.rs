//! The PDF standard security handler, revisions 2 to 6 (RC4 40-128 bit, AES-128, AES-256).
