//! Secret-free renderings of URLs for logs and `config print`.

/// Query parameter names (lower-cased substrings) whose values are secrets.
const SECRET_PARAMS: [&str; 10] = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "signature",
    "credential",
    "auth",
    "key",
    "sig",
];

/// A URL for logs/`config print`: the userinfo password and the values of secret-looking query
/// parameters (`password`, `secret`, `token`, `key`, `signature`, …) replaced by `***`.
/// Strings that are not URLs come back unchanged apart from such query values.
pub fn redact_url(url: &str) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((a, b)) => (a, Some(b)),
        None => (url, None),
    };
    let (base, query) = match before_fragment.split_once('?') {
        Some((a, b)) => (a, Some(b)),
        None => (before_fragment, None),
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(&redact_userinfo(base));
    if let Some(query) = query {
        out.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) if is_secret_param(name) => {
                    out.push_str(name);
                    out.push_str("=***");
                }
                _ => out.push_str(pair),
            }
        }
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

fn redact_userinfo(base: &str) -> String {
    let Some(scheme_end) = base.find("://") else {
        return base.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = base.get(authority_start..).unwrap_or("");
    let authority_len = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_len);
    // The last '@' ends the userinfo (passwords may contain unescaped '@').
    let Some(at) = authority.rfind('@') else {
        return base.to_owned();
    };
    let (userinfo, host) = authority.split_at(at);
    let user = match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None => userinfo.to_owned(),
    };
    format!(
        "{}{user}{host}{path}",
        base.get(..authority_start).unwrap_or("")
    )
}

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| name.contains(s))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_passwords_and_secret_params() {
        assert_eq!(
            redact_url("postgres://ndf:s3cr%40t@db.internal:5432/ndf?sslmode=require"),
            "postgres://ndf:***@db.internal:5432/ndf?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://ndf:p@ss@db/x"),
            "postgres://ndf:***@db/x"
        );
        assert_eq!(
            redact_url("https://hooks.example/cb?id=7&token=abc&X-Amz-Signature=f00#frag"),
            "https://hooks.example/cb?id=7&token=***&X-Amz-Signature=***#frag"
        );
        assert_eq!(
            redact_url("postgres://db/x?password=pw&user=u"),
            "postgres://db/x?password=***&user=u"
        );
        // Nothing to hide: unchanged.
        for plain in [
            "sqlite:///var/lib/ndf/jobs.db",
            "s3://bucket/prefix",
            "postgres://user@host/db",
            "file://relative/dir",
            "",
            "://@",
            "not a url",
        ] {
            assert_eq!(redact_url(plain), plain);
        }
        // Path '@' is not userinfo.
        assert_eq!(redact_url("https://h/a:b@c"), "https://h/a:b@c");
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "?",
            "#",
            "a://",
            "a://b:c@",
            "ü://ö:ä@ß/?å=1&ø",
            "x://:@?=&=",
        ] {
            let _ = redact_url(s);
        }
        assert_eq!(redact_url("x://u:@h"), "x://u:***@h");
    }
}
