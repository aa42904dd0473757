//! Key ring text format, key generation and loading from a file or the environment.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use ndf_seal::{
    EntryProblem, KeyId, KeyIdProblem, KeyRing, KeyRingError, MAX_KEY_FILE_BYTES, MasterKey,
    generate_key_line, open, seal,
};
use zeroize::Zeroizing;

const HEX_A: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";
const HEX_B: &str = "5f5e5d5c5b5a595857565554535251504f4e4d4c4b4a49484746454443424140";
/// HEX_B in standard base64.
const B64_B: &str = "X15dXFtaWVhXVlVUU1JRUE9OTUxLSklIR0ZFRENCQUA=";

fn ids(ring: &KeyRing) -> Vec<&str> {
    ring.key_ids().map(KeyId::as_str).collect()
}

fn entry_problem(text: &str) -> (usize, usize, EntryProblem) {
    match KeyRing::parse(text) {
        Err(KeyRingError::Entry {
            line,
            entry,
            problem,
        }) => (line, entry, problem),
        other => panic!("expected an entry error, got {other:?}"),
    }
}

#[test]
fn parses_files_with_comments_and_the_last_key_current() {
    let text = format!("# master keys\n\n  a:{HEX_A}  \r\n# rotated 2025-06\nb:{B64_B}\n");
    let ring = KeyRing::parse(&text).unwrap();
    assert_eq!(ids(&ring), ["a", "b"]);
    assert_eq!(ring.current_id().as_str(), "b");
    assert!(ring.contains(&KeyId::new("a").unwrap()));
}

#[test]
fn hex_and_base64_spellings_are_the_same_key() {
    let from_hex = KeyRing::parse(&format!("k:{HEX_B}")).unwrap();
    let from_base64 = KeyRing::parse(&format!("k:{B64_B}")).unwrap();
    let (key, wrapped) = from_hex.new_data_key(b"job").unwrap();
    let unwrapped = from_base64.unwrap_key(&wrapped, b"job").unwrap();
    let sealed = seal(&key, b"o", b"data").unwrap();
    assert_eq!(open(&unwrapped, b"o", &sealed).unwrap(), b"data");
}

#[test]
fn parses_one_line_env_style_with_explicit_current() {
    let ring = KeyRing::parse(&format!("current=a; a:{HEX_A} ;b : {HEX_B};")).unwrap();
    assert_eq!(ids(&ring), ["a", "b"]);
    assert_eq!(ring.current_id().as_str(), "a");
    let ring = KeyRing::parse(&format!("a:{HEX_A};b:{HEX_B}; current = b")).unwrap();
    assert_eq!(ring.current_id().as_str(), "b");
}

#[test]
fn malformed_entries_are_located_without_quoting_them() {
    let short_secret = &HEX_A[..62];
    let cases = [
        (
            format!("a:{HEX_A}\nb{HEX_B}"),
            (2, 1, EntryProblem::MissingSeparator),
        ),
        (
            format!("a:{HEX_A};b:{short_secret}"),
            (1, 2, EntryProblem::InvalidSecret),
        ),
        (
            format!("{HEX_A}:a"),
            (1, 1, EntryProblem::InvalidKeyId(KeyIdProblem::TooLong)),
        ),
        (
            format!("A:{HEX_A}"),
            (
                1,
                1,
                EntryProblem::InvalidKeyId(KeyIdProblem::InvalidCharacter),
            ),
        ),
        (
            format!(":{HEX_A}"),
            (1, 1, EntryProblem::InvalidKeyId(KeyIdProblem::Empty)),
        ),
        (
            format!("z:{}", "0".repeat(64)),
            (1, 1, EntryProblem::ZeroSecret),
        ),
        (
            format!("a:{HEX_A}\n\na:{HEX_B}"),
            (3, 1, EntryProblem::DuplicateKeyId),
        ),
        (
            format!("current=a\na:{HEX_A}\ncurrent=a"),
            (3, 1, EntryProblem::DuplicateCurrent),
        ),
        (
            format!("current=-a\na:{HEX_A}"),
            (
                1,
                1,
                EntryProblem::InvalidKeyId(KeyIdProblem::LeadingHyphen),
            ),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(entry_problem(&text), expected, "{text}");
        let message = KeyRing::parse(&text).unwrap_err().to_string();
        for secret in [HEX_A, HEX_B, short_secret, &HEX_A[..16]] {
            assert!(!message.contains(secret), "{message}");
        }
    }
}

#[test]
fn empty_rings_and_unknown_current_keys_are_errors() {
    for text in ["", "# only a comment\n", " ; ;\n"] {
        assert!(matches!(KeyRing::parse(text), Err(KeyRingError::Empty)));
    }
    match KeyRing::parse(&format!("a:{HEX_A}\ncurrent=b")) {
        Err(KeyRingError::UnknownCurrent(id)) => assert_eq!(id.as_str(), "b"),
        other => panic!("expected UnknownCurrent, got {other:?}"),
    }
}

#[test]
fn key_ids_are_validated() {
    for good in ["a", "2025-06", "prod-k3", &"x".repeat(KeyId::MAX_LEN)] {
        assert_eq!(KeyId::new(good).unwrap().as_str(), good);
        assert_eq!(good.parse::<KeyId>().unwrap().to_string(), good);
    }
    let bad = [
        ("", KeyIdProblem::Empty),
        ("-a", KeyIdProblem::LeadingHyphen),
        ("a_b", KeyIdProblem::InvalidCharacter),
        ("a b", KeyIdProblem::InvalidCharacter),
        ("é", KeyIdProblem::InvalidCharacter),
        ("Key", KeyIdProblem::InvalidCharacter),
    ];
    for (id, problem) in bad {
        assert!(matches!(KeyId::new(id), Err(KeyRingError::InvalidKeyId(p)) if p == problem));
    }
    let too_long = "x".repeat(KeyId::MAX_LEN + 1);
    assert!(matches!(
        KeyId::new(&too_long),
        Err(KeyRingError::InvalidKeyId(KeyIdProblem::TooLong))
    ));
}

#[test]
fn generated_lines_parse_and_differ() {
    let id = KeyId::new("2025-06").unwrap();
    let first = generate_key_line(&id).unwrap();
    let second = generate_key_line(&id).unwrap();
    assert_ne!(*first, *second);
    assert!(first.starts_with("2025-06:"));
    assert_eq!(first.len(), "2025-06:".len() + 64);
    let ring = KeyRing::parse(&first).unwrap();
    assert_eq!(ring.current_id(), &id);
    // Appending a generated line makes it current.
    let old = KeyRing::parse(&format!("old:{HEX_A}\n{}", *first)).unwrap();
    assert_eq!(old.current_id(), &id);
}

#[test]
fn rings_can_be_built_from_raw_keys() {
    let a = KeyId::new("a").unwrap();
    let b = KeyId::new("b").unwrap();
    let secret = Zeroizing::new([7u8; 32]);
    let key = |id: &KeyId| MasterKey::new(id.clone(), &secret);
    let ring = KeyRing::from_keys([key(&a), key(&b)], &a).unwrap();
    assert_eq!(ring.current_id(), &a);
    assert!(!format!("{:?}", key(&a)).contains("7, 7"));
    assert!(matches!(
        KeyRing::from_keys([key(&a), key(&a)], &a),
        Err(KeyRingError::DuplicateKeyId(_))
    ));
    assert!(matches!(
        KeyRing::from_keys([key(&a)], &b),
        Err(KeyRingError::UnknownCurrent(_))
    ));
}

/// A file under the system temp directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, content: &[u8]) -> Self {
        let path = std::env::temp_dir().join(format!("ndf-seal-{}-{name}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Never set by anyone, so these tests exercise the file path only.
const UNSET_VAR: &str = "NDF_SEAL_TEST_VARIABLE_THAT_IS_NEVER_SET";

#[test]
fn loads_from_a_file() {
    let file = TempFile::new("ring", format!("a:{HEX_A}\nb:{HEX_B}\n").as_bytes());
    let ring = KeyRing::from_env_or_file(UNSET_VAR, Some(&file.0)).unwrap();
    assert_eq!(ids(&ring), ["a", "b"]);
}

#[test]
fn key_files_are_size_bounded() {
    let mut at_limit = format!("a:{HEX_A}\n").into_bytes();
    at_limit.resize(MAX_KEY_FILE_BYTES, b'\n');
    let file = TempFile::new("at-limit", &at_limit);
    assert!(KeyRing::from_env_or_file(UNSET_VAR, Some(&file.0)).is_ok());

    at_limit.push(b'\n');
    let file = TempFile::new("over-limit", &at_limit);
    assert!(matches!(
        KeyRing::from_env_or_file(UNSET_VAR, Some(&file.0)),
        Err(KeyRingError::FileTooLarge {
            max: MAX_KEY_FILE_BYTES,
            ..
        })
    ));
}

#[test]
fn file_errors_name_the_path_not_the_content() {
    let missing = std::env::temp_dir()
        .join("nonexistent-dir-ndf-seal")
        .join("keys");
    match KeyRing::from_env_or_file(UNSET_VAR, Some(&missing)) {
        Err(error @ KeyRingError::Read { .. }) => {
            assert!(error.to_string().contains("nonexistent-dir-ndf-seal"));
        }
        other => panic!("expected Read, got {other:?}"),
    }
    let mut not_utf8 = format!("a:{HEX_A}\n").into_bytes();
    not_utf8.push(0xff);
    let file = TempFile::new("not-utf8", &not_utf8);
    assert!(matches!(
        KeyRing::from_env_or_file(UNSET_VAR, Some(&file.0)),
        Err(KeyRingError::FileNotUtf8 { .. })
    ));
    let file = TempFile::new("bad-secret", format!("a:{}", &HEX_A[2..]).as_bytes());
    let message = KeyRing::from_env_or_file(UNSET_VAR, Some(&file.0))
        .unwrap_err()
        .to_string();
    assert!(!message.contains(&HEX_A[2..18]), "{message}");
}

#[test]
fn nothing_configured_is_an_error() {
    assert!(matches!(
        KeyRing::from_env_or_file(UNSET_VAR, None),
        Err(KeyRingError::NotConfigured { .. })
    ));
}

/// The environment cannot be changed safely inside a multi-threaded test process, so the
/// environment cases run in a child process of this test binary with the variables set:
/// `child_loads_from_the_environment` is only that child (ignored, so a plain run does not run
/// it without its variables); `loads_from_the_environment` runs it and fails when it fails,
/// which `a_failing_child_fails_its_parent` proves.
const CHILD_VAR: &str = "NDF_SEAL_TEST_CHILD_KEYS";
const CHILD_EMPTY_VAR: &str = "NDF_SEAL_TEST_CHILD_EMPTY";
/// Printed by the child once every check passed, so the parent knows the checks ran.
const CHILD_DONE: &str = "environment key ring checks completed";

#[test]
#[ignore = "run by `loads_from_the_environment` in a child process that sets the variables"]
#[allow(clippy::print_stdout)]
fn child_loads_from_the_environment() {
    // Run directly (`--include-ignored`) there is nothing to check; the parent sets the variable
    // and requires CHILD_DONE in the output, which this early return never prints.
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    let ring = KeyRing::from_env_or_file(CHILD_VAR, None).unwrap();
    assert_eq!(ids(&ring), ["a", "b"]);
    assert_eq!(ring.current_id().as_str(), "b");
    assert!(matches!(
        KeyRing::from_env_or_file(CHILD_VAR, Some(Path::new("keys.txt"))),
        Err(KeyRingError::Ambiguous { .. })
    ));
    // Empty counts as unset: the file is used.
    let file = TempFile::new("child-ring", format!("c:{HEX_A}").as_bytes());
    let ring = KeyRing::from_env_or_file(CHILD_EMPTY_VAR, Some(&file.0)).unwrap();
    assert_eq!(ids(&ring), ["c"]);
    println!("{CHILD_DONE}");
}

/// Runs `child_loads_from_the_environment` in a child process with `keys` in its variable.
fn run_child(keys: &str) -> (bool, String, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_loads_from_the_environment",
            "--exact",
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD_VAR, keys)
        .env(CHILD_EMPTY_VAR, "")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn loads_from_the_environment() {
    let (ok, stdout, stderr) = run_child(&format!("a:{HEX_A};b:{B64_B}"));
    assert!(ok, "{stdout}\n{stderr}");
    // Proves the child ran the test to its end rather than filtering everything out.
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert!(stdout.contains(CHILD_DONE), "{stdout}");
}

/// The parent above is only as good as its reading of the child: a child whose checks fail (a
/// ring without key `b`) fails, and says so.
#[test]
fn a_failing_child_fails_its_parent() {
    let (ok, stdout, stderr) = run_child(&format!("a:{HEX_A}"));
    assert!(
        !ok,
        "the child passed with the wrong keys:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("1 failed"), "{stdout}");
    assert!(!stdout.contains(CHILD_DONE), "{stdout}");
}
