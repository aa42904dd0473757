//! A small flame graph renderer: folded stacks in, a static SVG out (tooltips via `<title>`).
//!
//! Drawn here rather than with pprof's `flamegraph` feature because that feature brings
//! inferno, whose CDDL licence the project's deny.toml does not allow.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// SVG width in pixels.
const WIDTH: f64 = 1200.0;
/// Height of one frame row.
const FRAME_HEIGHT: f64 = 16.0;
/// Room above the frames for the title.
const TOP_MARGIN: f64 = 40.0;
const SIDE_MARGIN: f64 = 10.0;
const BOTTOM_MARGIN: f64 = 10.0;
/// Frames narrower than this are not drawn (nor their children), which keeps the SVG small.
const MIN_FRAME_WIDTH: f64 = 0.1;
/// Approximate advance of one character of the 12px monospace label font.
const CHAR_WIDTH: f64 = 7.2;
/// Frames kept per stack; deeper ones are cut (the profiler's own depth limit is lower).
const MAX_STACK_DEPTH: usize = 512;

/// One node of the call tree: a frame name under its parent, with its sample count.
#[derive(Debug)]
struct Node {
    name: String,
    samples: u64,
    /// Child frame name → index in the arena; a BTreeMap orders siblings by name, as
    /// flamegraph.pl does, so the picture is deterministic.
    children: BTreeMap<String, usize>,
}

/// Renders stacks (root frame first, sample count) as an SVG flame graph.
pub(crate) fn render_svg<I, S>(stacks: I, title: &str) -> String
where
    I: IntoIterator<Item = (Vec<S>, u64)>,
    S: AsRef<str>,
{
    let mut arena = vec![Node {
        name: "all".to_owned(),
        samples: 0,
        children: BTreeMap::new(),
    }];
    for (frames, samples) in stacks {
        if samples == 0 {
            continue;
        }
        add_stack(&mut arena, &frames, samples);
    }
    draw(&arena, title)
}

fn add_stack<S: AsRef<str>>(arena: &mut Vec<Node>, frames: &[S], samples: u64) {
    let mut current = 0;
    if let Some(root) = arena.get_mut(current) {
        root.samples = root.samples.saturating_add(samples);
    }
    for frame in frames.iter().take(MAX_STACK_DEPTH) {
        let name = frame.as_ref();
        let next_index = arena.len();
        let Some(parent) = arena.get_mut(current) else {
            return;
        };
        let child = match parent.children.get(name) {
            Some(&index) => index,
            None => {
                parent.children.insert(name.to_owned(), next_index);
                arena.push(Node {
                    name: name.to_owned(),
                    samples: 0,
                    children: BTreeMap::new(),
                });
                next_index
            }
        };
        if let Some(node) = arena.get_mut(child) {
            node.samples = node.samples.saturating_add(samples);
        }
        current = child;
    }
}

/// A frame placed on the canvas.
#[derive(Debug)]
struct Placed {
    node: usize,
    x: f64,
    width: f64,
    depth: usize,
}

fn place(arena: &[Node]) -> Vec<Placed> {
    let total = arena.first().map_or(0, |root| root.samples);
    let mut placed = Vec::new();
    if total == 0 {
        return placed;
    }
    let pixels_per_sample = (WIDTH - 2.0 * SIDE_MARGIN) / total as f64;
    // Explicit work list: depth is bounded by MAX_STACK_DEPTH and each node is visited once.
    let mut pending = vec![(0_usize, SIDE_MARGIN, 0_usize)];
    while let Some((index, x, depth)) = pending.pop() {
        let Some(node) = arena.get(index) else {
            continue;
        };
        let width = node.samples as f64 * pixels_per_sample;
        if width < MIN_FRAME_WIDTH {
            continue;
        }
        placed.push(Placed {
            node: index,
            x,
            width,
            depth,
        });
        let mut child_x = x;
        for &child in node.children.values() {
            pending.push((child, child_x, depth + 1));
            child_x += arena.get(child).map_or(0.0, |c| c.samples as f64) * pixels_per_sample;
        }
    }
    placed
}

fn draw(arena: &[Node], title: &str) -> String {
    let placed = place(arena);
    let total = arena.first().map_or(0, |root| root.samples);
    let max_depth = placed.iter().map(|p| p.depth).max().unwrap_or(0);
    let height = TOP_MARGIN + (max_depth + 1) as f64 * FRAME_HEIGHT + BOTTOM_MARGIN;

    let mut svg = String::with_capacity(256 + placed.len() * 200);
    svg.push_str("<?xml version=\"1.0\" standalone=\"no\"?>\n");
    let _ = writeln!(
        svg,
        "<svg version=\"1.1\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" \
         xmlns=\"http://www.w3.org/2000/svg\">"
    );
    svg.push_str(
        "<style>text{font-family:monospace;font-size:12px;fill:#000}\
         .title{font-size:16px;text-anchor:middle}rect{stroke:#fff;stroke-width:0.5}</style>\n",
    );
    let _ = writeln!(
        svg,
        "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"#f8f8f0\"/>"
    );
    let _ = writeln!(
        svg,
        "<text class=\"title\" x=\"{}\" y=\"24\">{}</text>",
        WIDTH / 2.0,
        escape(title)
    );
    if total == 0 {
        let _ = writeln!(
            svg,
            "<text x=\"{SIDE_MARGIN}\" y=\"{}\">no samples were taken</text>",
            TOP_MARGIN + FRAME_HEIGHT - 4.0
        );
    }
    for frame in &placed {
        let Some(node) = arena.get(frame.node) else {
            continue;
        };
        // The root sits at the bottom, callees stack upwards.
        let y = height - BOTTOM_MARGIN - (frame.depth + 1) as f64 * FRAME_HEIGHT;
        let share = node.samples as f64 * 100.0 / total as f64;
        let (red, green, blue) = colour(&node.name);
        let _ = write!(
            svg,
            "<g><title>{} ({} samples, {share:.2}%)</title>\
             <rect x=\"{:.2}\" y=\"{y:.1}\" width=\"{:.2}\" height=\"{}\" fill=\"rgb({red},{green},{blue})\"/>",
            escape(&node.name),
            node.samples,
            frame.x,
            frame.width,
            FRAME_HEIGHT - 1.0,
        );
        if let Some(label) = fit_label(&node.name, frame.width) {
            let _ = write!(
                svg,
                "<text x=\"{:.2}\" y=\"{:.1}\">{}</text>",
                frame.x + 3.0,
                y + FRAME_HEIGHT - 4.5,
                escape(&label)
            );
        }
        svg.push_str("</g>\n");
    }
    svg.push_str("</svg>\n");
    svg
}

/// The part of `name` that fits in `width` pixels, with ".." when cut; none below 3 characters.
fn fit_label(name: &str, width: f64) -> Option<String> {
    let room = ((width - 6.0) / CHAR_WIDTH).floor();
    if room < 3.0 {
        return None;
    }
    let room = room as usize;
    if name.chars().count() <= room {
        return Some(name.to_owned());
    }
    let mut cut: String = name.chars().take(room - 2).collect();
    cut.push_str("..");
    Some(cut)
}

/// A warm colour derived from the name, so one function keeps its colour across graphs.
fn colour(name: &str) -> (u8, u8, u8) {
    // FNV-1a: tiny, and stable across runs and builds (unlike the std hasher).
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let [a, b, c, ..] = hash.to_le_bytes();
    (
        205 + a % 51, // 205..=255
        b % 231,      // 0..=230
        c % 56,       // 0..=55
    )
}

/// XML text/attribute escaping; characters XML 1.0 cannot hold become U+FFFD.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(frames: &[&str], samples: u64) -> (Vec<String>, u64) {
        (frames.iter().map(|f| (*f).to_owned()).collect(), samples)
    }

    /// (x, width) of the rect whose tooltip starts with `name (`.
    fn rect_of(svg: &str, name: &str) -> (f64, f64) {
        let start = svg
            .find(&format!("<title>{name} ("))
            .unwrap_or_else(|| panic!("no frame {name} in {svg}"));
        let rest = svg.get(start..).unwrap_or_default();
        let number = |attribute: &str| -> f64 {
            let at = rest
                .find(attribute)
                .unwrap_or_else(|| panic!("no {attribute}"));
            let value = rest.get(at + attribute.len()..).unwrap_or_default();
            let end = value.find('"').unwrap_or(0);
            value
                .get(..end)
                .unwrap_or_default()
                .parse()
                .unwrap_or(f64::NAN)
        };
        (number(" x=\""), number(" width=\""))
    }

    #[test]
    fn widths_follow_sample_counts_and_children_sit_inside_parents() {
        let svg = render_svg(
            [
                stack(&["main", "parse", "lex"], 30),
                stack(&["main", "parse"], 10),
                stack(&["main", "render"], 60),
            ],
            "test",
        );
        let (main_x, main_width) = rect_of(&svg, "main");
        let (parse_x, parse_width) = rect_of(&svg, "parse");
        let (lex_x, lex_width) = rect_of(&svg, "lex");
        let (render_x, render_width) = rect_of(&svg, "render");
        assert!(
            (parse_width / main_width - 0.4).abs() < 1e-3,
            "{parse_width} / {main_width}"
        );
        assert!((render_width / main_width - 0.6).abs() < 1e-3);
        assert!((lex_width / parse_width - 0.75).abs() < 1e-3);
        // Siblings are side by side in name order, children start at their parent's left edge.
        assert!((parse_x - main_x).abs() < 1e-3);
        assert!((render_x - (parse_x + parse_width)).abs() < 0.02);
        assert!((lex_x - parse_x).abs() < 1e-3);
        assert!(svg.contains("(100 samples, 100.00%)"), "root total: {svg}");
    }

    #[test]
    fn names_are_escaped_and_the_document_is_an_svg() {
        let svg = render_svg(
            [stack(&["<T as core::ops::Fn<&'a str>>::call\u{1}"], 1)],
            "a & b",
        );
        assert!(svg.starts_with("<?xml"));
        assert!(svg.contains("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("&lt;T as core::ops::Fn&lt;&amp;&apos;a str&gt;&gt;::call\u{FFFD}"));
        assert!(svg.contains(">a &amp; b</text>"));
        assert!(!svg.contains("<T as"));
    }

    #[test]
    fn frames_too_narrow_to_see_are_left_out() {
        let svg = render_svg(
            [stack(&["busy"], 1_000_000), stack(&["rare", "rarer"], 1)],
            "t",
        );
        assert!(svg.contains("<title>busy ("));
        assert!(
            !svg.contains("rare"),
            "a one-in-a-million frame is under 0.1 px"
        );
    }

    #[test]
    fn an_empty_profile_still_renders() {
        let svg = render_svg(Vec::<(Vec<String>, u64)>::new(), "t");
        assert!(svg.contains("no samples were taken"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn labels_are_cut_to_fit() {
        assert_eq!(fit_label("abcdef", 1000.0).as_deref(), Some("abcdef"));
        assert_eq!(
            fit_label("abcdefghij", 6.0 + 5.0 * CHAR_WIDTH).as_deref(),
            Some("abc..")
        );
        assert_eq!(fit_label("abcdef", 10.0), None);
    }
}
