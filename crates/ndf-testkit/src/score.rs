//! Text-quality scoring exactly as `../shared/bench/peers.py` does it, for tests that keep
//! the engine's quality from regressing.
//!
//! Tokens: NFKC, lower case, runs of letters/digits (Python's `[^\W_]+`: combining marks are
//! not word characters), each CJK ideograph, kana or hangul syllable on its own. `f1` is the
//! bag-of-words F1 of the token multisets; `sim` the normalised Levenshtein similarity of the
//! first 4,000 tokens (rapidfuzz's definition).

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

fn is_split_char(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xAC00..=0xD7AF)
}

fn is_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05C7 | 0x0610..=0x061A | 0x064B..=0x065F
        | 0x0670 | 0x06D6..=0x06ED | 0x0900..=0x0903 | 0x093A..=0x094F | 0x0951..=0x0957 | 0x0962..=0x0963
        | 0x0981..=0x0983 | 0x09BC..=0x09D7 | 0x0E31 | 0x0E34..=0x0E3A | 0x0E47..=0x0E4E | 0x1AB0..=0x1AFF
        | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0x302A..=0x302F | 0x3099..=0x309A | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F)
}

/// The benchmark's tokens: NFKC, lower case, runs of letters/digits; CJK characters alone.
pub fn tokens(text: &str) -> Vec<String> {
    let norm: String = text.nfkc().collect::<String>().to_lowercase();
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in norm.chars() {
        if c.is_alphanumeric() && !is_mark(c) {
            if is_split_char(c) {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            } else {
                cur.push(c);
            }
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub fn f1(cand: &[String], reference: &[String]) -> Option<f64> {
    if reference.is_empty() {
        return None;
    }
    if cand.is_empty() {
        return Some(0.0);
    }
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for t in reference {
        *counts.entry(t).or_insert(0) += 1;
    }
    let mut inter = 0i64;
    for t in cand {
        if let Some(c) = counts.get_mut(t.as_str())
            && *c > 0
        {
            *c -= 1;
            inter += 1;
        }
    }
    if inter == 0 {
        return Some(0.0);
    }
    let p = inter as f64 / cand.len() as f64;
    let r = inter as f64 / reference.len() as f64;
    Some(2.0 * p * r / (p + r))
}

/// Normalised Levenshtein similarity of the first 4,000 tokens (rapidfuzz's definition).
pub fn sim(cand: &[String], reference: &[String]) -> f64 {
    let a = &cand[..cand.len().min(4000)];
    let b = &reference[..reference.len().min(4000)];
    if a.is_empty() {
        return 0.0;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ta) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, tb) in b.iter().enumerate() {
            let cost = usize::from(ta != tb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    1.0 - prev[b.len()] as f64 / a.len().max(b.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_scores_match_the_harness() {
        assert_eq!(
            tokens("Hello, World! ﬁne 日本語 x2 snake_case"),
            vec![
                "hello", "world", "fine", "日", "本", "語", "x2", "snake", "case"
            ]
        );
        let r = tokens("a b c d");
        assert_eq!(f1(&tokens("a b c d"), &r), Some(1.0));
        assert!((f1(&tokens("a b"), &r).unwrap() - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(f1(&[], &r), Some(0.0));
        assert_eq!(f1(&r, &[]), None);
        assert!((sim(&tokens("a b c d"), &r) - 1.0).abs() < 1e-9);
        assert!((sim(&tokens("b a c d"), &r) - 0.5).abs() < 1e-9);
    }
}
