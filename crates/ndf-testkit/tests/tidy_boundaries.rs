//! Tidy test: the crate boundaries ARCHITECTURE.md draws are the ones `cargo metadata` shows.
//!
//! ARCHITECTURE.md's "## Dependency rules" section has two tables: which workspace crates each
//! workspace crate may depend on, and the known violations (edges that exist today and must
//! go). Normal and build dependencies are checked against them; dev-dependencies only for the
//! rule that `ndf-testkit` is never anything but a dev-dependency. Every workspace crate must
//! also have a `###` heading in the code map. A known violation that no longer exists fails
//! too, so that list can only shrink.
#![allow(clippy::print_stderr, clippy::disallowed_methods)] // reads the repository's own files

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const TESTKIT: &str = "ndf-testkit";
const RULES_HEADING: &str = "## Dependency rules";
const KNOWN_HEADING: &str = "### Known violations";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Normal,
    Build,
    Dev,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Normal => "normal",
            Kind::Build => "build",
            Kind::Dev => "dev",
        }
    }
}

/// One declared dependency of a workspace crate on another workspace crate.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    from: String,
    to: String,
    kind: Kind,
}

fn edge(from: &str, to: &str, kind: Kind) -> Edge {
    Edge {
        from: from.to_owned(),
        to: to.to_owned(),
        kind,
    }
}

/// What ARCHITECTURE.md says.
#[derive(Debug, Default)]
struct Rules {
    /// Crate → the workspace crates it may depend on (a crate with "—" maps to an empty set).
    allowed: BTreeMap<String, BTreeSet<String>>,
    /// (crate, dependency) edges allowed only until issue 15 removes them.
    known: BTreeSet<(String, String)>,
    /// Crate names in the code map's `###` headings (paths such as `deploy/` left out).
    code_map: BTreeSet<String>,
}

/// The workspace as `cargo metadata` sees it.
struct Workspace {
    crates: BTreeSet<String>,
    edges: Vec<Edge>,
}

/// The backticked spans of `s`.
fn backticked(s: &str) -> impl Iterator<Item = &str> {
    s.split('`').skip(1).step_by(2)
}

/// The data rows of the markdown table that starts at the first `|` line of `lines`, as cells.
fn table_rows(lines: &[&str]) -> Vec<Vec<String>> {
    lines
        .iter()
        .skip_while(|l| !l.trim_start().starts_with('|'))
        .take_while(|l| l.trim_start().starts_with('|'))
        .skip(2) // header and separator
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

/// Reads the dependency tables and the code map's headings from ARCHITECTURE.md's text.
fn parse_rules(text: &str) -> Result<Rules, String> {
    let lines: Vec<&str> = text.lines().collect();
    let find = |prefix: &str, from: usize| {
        lines[from..]
            .iter()
            .position(|l| l.starts_with(prefix))
            .map(|i| i + from)
    };
    let start = find(RULES_HEADING, 0).ok_or(format!("no `{RULES_HEADING}` section"))?;
    let end = find("## ", start + 1).unwrap_or(lines.len());
    let section = &lines[start..end];
    let known_at = section
        .iter()
        .position(|l| l.starts_with(KNOWN_HEADING))
        .ok_or(format!(
            "no `{KNOWN_HEADING}` table under `{RULES_HEADING}`"
        ))?;

    let mut rules = Rules::default();
    for row in table_rows(&section[..known_at]) {
        let [krate, deps] = &row[..] else {
            return Err(format!("dependency table row without two cells: {row:?}"));
        };
        let name = backticked(krate)
            .next()
            .ok_or(format!("no crate in {row:?}"))?;
        let deps = backticked(deps).map(str::to_owned).collect();
        if rules.allowed.insert(name.to_owned(), deps).is_some() {
            return Err(format!("`{name}` has two rows in the dependency table"));
        }
    }
    for row in table_rows(&section[known_at..]) {
        let (Some(from), Some(to)) = (
            row.first().and_then(|c| backticked(c).next()),
            row.get(1).and_then(|c| backticked(c).next()),
        ) else {
            return Err(format!("known-violation row without two crates: {row:?}"));
        };
        rules.known.insert((from.to_owned(), to.to_owned()));
    }
    if rules.allowed.is_empty() {
        return Err("the dependency table has no rows".to_owned());
    }

    let crates_at = find("## Crates", 0).ok_or("no `## Crates` section")?;
    let crates_end = find("## ", crates_at + 1).unwrap_or(lines.len());
    rules.code_map = lines[crates_at..crates_end]
        .iter()
        .filter(|l| l.starts_with("### "))
        // The names come before the dash: "### `ndf-cli` — the `ndf` binary".
        .flat_map(|l| backticked(l.split(" — ").next().unwrap_or(l)))
        .filter(|n| !n.contains('/'))
        .map(str::to_owned)
        .collect();
    Ok(rules)
}

/// Reads the workspace crates and their dependencies on each other from `cargo metadata`'s JSON.
fn parse_metadata(json: &str) -> Result<Workspace, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let members: BTreeSet<&str> = v["workspace_members"]
        .as_array()
        .ok_or("no workspace_members")?
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    let packages = v["packages"].as_array().ok_or("no packages")?;
    let workspace: Vec<&serde_json::Value> = packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id)))
        .collect();
    let crates: BTreeSet<String> = workspace
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    let mut edges = Vec::new();
    for p in &workspace {
        let from = p["name"].as_str().ok_or("package without a name")?;
        for d in p["dependencies"].as_array().ok_or("no dependencies")? {
            let to = d["name"].as_str().ok_or("dependency without a name")?;
            // A path dependency naming a workspace crate; a registry crate of the same name is not.
            if !crates.contains(to) || d["path"].is_null() {
                continue;
            }
            let kind = match d["kind"].as_str() {
                None => Kind::Normal,
                Some("build") => Kind::Build,
                Some("dev") => Kind::Dev,
                Some(other) => return Err(format!("{from} → {to}: unknown kind {other}")),
            };
            edges.push(edge(from, to, kind));
        }
    }
    edges.sort();
    edges.dedup();
    Ok(Workspace { crates, edges })
}

/// Every way the workspace and the rules disagree, one line each.
fn check(ws: &Workspace, rules: &Rules) -> Vec<String> {
    let mut problems = Vec::new();
    for c in &ws.crates {
        if !rules.allowed.contains_key(c) {
            problems.push(format!("`{c}` has no row in the dependency table"));
        }
        if !rules.code_map.contains(c) {
            problems.push(format!(
                "`{c}` has no `### ` heading in the code map (## Crates)"
            ));
        }
    }
    let named = rules
        .allowed
        .iter()
        .flat_map(|(c, deps)| std::iter::once(c).chain(deps))
        .map(|c| (c, "the dependency table"))
        .chain(
            rules
                .known
                .iter()
                .flat_map(|(a, b)| [a, b])
                .map(|c| (c, "the known violations")),
        )
        .chain(
            rules
                .code_map
                .iter()
                .map(|c| (c, "the code map's headings")),
        );
    for (c, place) in named {
        if !ws.crates.contains(c) {
            problems.push(format!("`{c}` in {place} is not a workspace crate"));
        }
    }
    for (c, deps) in &rules.allowed {
        if deps.contains(TESTKIT) {
            problems.push(format!(
                "the dependency table lets `{c}` depend on `{TESTKIT}`, which is dev-only"
            ));
        }
    }
    for (from, to) in &rules.known {
        if rules.allowed.get(from).is_some_and(|d| d.contains(to)) {
            problems.push(format!(
                "`{from}` → `{to}` is both allowed and a known violation"
            ));
        }
    }
    check_edges(ws, rules, &mut problems);
    problems
}

/// The normal and build edges against the table and the known violations.
fn check_edges(ws: &Workspace, rules: &Rules, problems: &mut Vec<String>) {
    let mut seen_known = BTreeSet::new();
    for e in ws.edges.iter().filter(|e| e.kind != Kind::Dev) {
        let pair = (e.from.clone(), e.to.clone());
        if e.to == TESTKIT {
            problems.push(format!(
                "`{}` has `{TESTKIT}` as a {} dependency: it may only be a dev-dependency",
                e.from,
                e.kind.name()
            ));
        } else if rules.known.contains(&pair) {
            seen_known.insert(pair);
        } else if !rules
            .allowed
            .get(&e.from)
            .is_some_and(|d| d.contains(&e.to))
        {
            problems.push(format!(
                "`{}` depends on `{}` ({} dependency), which its row in the dependency table does not allow",
                e.from,
                e.to,
                e.kind.name()
            ));
        }
    }
    for (from, to) in rules.known.difference(&seen_known) {
        problems.push(format!(
            "known violation `{from}` → `{to}` no longer exists: remove its row from the known violations"
        ));
    }
}

/// `cargo metadata` of this workspace, run once per test binary.
fn workspace() -> &'static Workspace {
    static WS: OnceLock<Workspace> = OnceLock::new();
    WS.get_or_init(|| {
        let out = Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--offline", "--locked"])
            .current_dir(repo())
            .output()
            .unwrap_or_else(|e| panic!("running cargo metadata: {e}"));
        assert!(
            out.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json = String::from_utf8(out.stdout).expect("cargo metadata printed UTF-8");
        parse_metadata(&json).unwrap_or_else(|e| panic!("cargo metadata's JSON: {e}"))
    })
}

fn rules() -> Rules {
    let path = repo().join("ARCHITECTURE.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_rules(&text).unwrap_or_else(|e| panic!("ARCHITECTURE.md: {e}"))
}

#[test]
fn dependencies_follow_the_code_map() {
    let ws = workspace();
    assert!(
        ws.crates.len() >= 10 && ws.edges.len() >= 10,
        "cargo metadata shows only {} crates and {} edges: the parser is broken",
        ws.crates.len(),
        ws.edges.len()
    );
    let problems = check(ws, &rules());
    assert!(
        problems.is_empty(),
        "the workspace and ARCHITECTURE.md's `{RULES_HEADING}` disagree. Fix the dependency, or \
         change the table in the same commit if the boundary moved on purpose:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_planted_forbidden_edge_is_reported() {
    let real = workspace();
    let mut ws = Workspace {
        crates: real.crates.clone(),
        edges: real.edges.clone(),
    };
    ws.edges.push(edge("ndf-pdf", "ndf-server", Kind::Normal));
    ws.edges.push(edge("ndf-layout", "ndf-text", Kind::Build));
    ws.edges.push(edge("ndf-store", TESTKIT, Kind::Normal));
    // A dev-dependency on anything is fine.
    ws.edges.push(edge("ndf-model", "ndf-cli", Kind::Dev));
    // Only what the planted edges add: the real tree's own problems are the other test's.
    let rules = rules();
    let before = check(real, &rules);
    let problems: Vec<String> = check(&ws, &rules)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].starts_with("`ndf-pdf` depends on `ndf-server` (normal"));
    assert!(problems[1].starts_with("`ndf-layout` depends on `ndf-text` (build"));
    assert!(problems[2].starts_with("`ndf-store` has `ndf-testkit` as a normal dependency"));
}

#[test]
fn the_checker_reports_every_kind_of_drift() {
    let text = "# A\n## Crates\n### `a` — the `x`\n### `b`, `gone` — y\n### `deploy/` — z\n\
                ## Dependency rules\ntext\n\n| crate | may depend on |\n|---|---|\n\
                | `a` | — |\n| `b` | `a`, `ghost` |\n\n### Known violations (to remove)\n\n\
                | crate | depends on | why |\n|---|---|---|\n| `a` | `b` | reasons |\n\n## Next\n";
    let rules = parse_rules(text).expect("parses");
    assert_eq!(
        rules.allowed["b"],
        BTreeSet::from(["a".into(), "ghost".into()])
    );
    assert!(rules.allowed["a"].is_empty());
    assert_eq!(rules.known, BTreeSet::from([("a".into(), "b".into())]));
    assert_eq!(
        rules.code_map,
        BTreeSet::from(["a".into(), "b".into(), "gone".into()])
    );

    let ws = Workspace {
        crates: BTreeSet::from(["a".into(), "b".into(), "c".into()]),
        edges: vec![edge("b", "a", Kind::Normal), edge("c", "a", Kind::Normal)],
    };
    let problems = check(&ws, &rules);
    let expected = [
        "`c` has no row in the dependency table",
        "`c` has no `### ` heading in the code map (## Crates)",
        "`ghost` in the dependency table is not a workspace crate",
        "`gone` in the code map's headings is not a workspace crate",
        "`c` depends on `a` (normal dependency), which its row in the dependency table does not allow",
        "known violation `a` → `b` no longer exists: remove its row from the known violations",
    ];
    assert_eq!(problems, expected);

    let json = r#"{"workspace_members":["a 0.1","b 0.1"],"packages":[
        {"id":"a 0.1","name":"a","dependencies":[
            {"name":"b","kind":null,"path":"/x/b"},
            {"name":"b","kind":"dev","path":"/x/b"},
            {"name":"serde","kind":null,"path":null}]},
        {"id":"b 0.1","name":"b","dependencies":[{"name":"a","kind":"build","path":"/x/a"}]},
        {"id":"serde 1","name":"serde","dependencies":[]}]}"#;
    let ws = parse_metadata(json).expect("parses");
    assert_eq!(ws.crates, BTreeSet::from(["a".into(), "b".into()]));
    assert_eq!(
        ws.edges,
        vec![
            edge("a", "b", Kind::Normal),
            edge("a", "b", Kind::Dev),
            edge("b", "a", Kind::Build)
        ]
    );
}
