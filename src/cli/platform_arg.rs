//! The `--platform` value (or `SPHERECTL_PLATFORM`), checked before any command runs: a value
//! that names no platform is a usage error (exit 64) for every command, not a failure found
//! only by the commands that open the platform.

use std::path::Path;

use super::{error::CliError, plan::sandbox_path};

/// The platforms `--platform` accepts, for messages.
const EXPECTED: &str = "expected `sandbox`, `sandbox:PATH` or `http(s)://HOST[:PORT]`";

/// Treats `SPHERECTL_PLATFORM` set to the empty string as unset (as CI systems set variables
/// with no value); an empty `--platform ''` on the command line stays, to be refused.
pub(super) fn unset_if_empty_env(platform: &mut Option<String>, matches: &clap::ArgMatches) {
    if platform.as_deref() == Some("")
        && matches.value_source("platform") == Some(clap::parser::ValueSource::EnvVariable)
    {
        *platform = None;
    }
}

/// Checks the form of a `--platform` value (nothing is opened or read).
///
/// # Errors
/// A usage error naming the value: empty, `sandbox:` without a usable path, an `http(s)://`
/// address that is not `HOST[:PORT]`, or any other scheme.
pub(super) fn check(platform: &str) -> Result<(), CliError> {
    if platform.trim().is_empty() {
        return Err(CliError::usage("`--platform` is empty").help(EXPECTED));
    }
    if platform == "sandbox" || platform.starts_with("sandbox:") {
        return sandbox_path(Some(platform), Path::new(".")).map(|_| ()).map_err(CliError::usage);
    }
    let Some(rest) = platform.strip_prefix("https://").or_else(|| platform.strip_prefix("http://"))
    else {
        let mut error = CliError::usage(format!("unknown platform `{platform}`"))
            .help("expected `sandbox:PATH` or `http(s)://HOST[:PORT]`");
        let lower = platform.to_ascii_lowercase();
        if lower != platform && (lower.starts_with("http") || lower.starts_with("sandbox")) {
            error = error.help(format!(
                "expected `sandbox:PATH` or `http(s)://HOST[:PORT]`; the scheme is lowercase: `{}`",
                lower.split_once(':').map_or(lower.clone(), |(scheme, _)| scheme.to_owned())
            ));
        }
        return Err(error);
    };
    match host_and_port(rest.trim_end_matches('/')) {
        Ok(()) => Ok(()),
        Err(why) => Err(CliError::usage(format!("invalid platform `{platform}`: {why}"))
            .help("expected `http(s)://HOST[:PORT]`, such as `http://127.0.0.1:8080`")),
    }
}

/// Checks `HOST[:PORT]` (a bracketed IPv6 host allowed); the reason when it is not.
fn host_and_port(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("no host".to_owned());
    }
    if let Some(bad) = text.chars().find(|c| c.is_whitespace() || "/?#@\\".contains(*c)) {
        return Err(format!("`{}` cannot appear in HOST[:PORT]", bad.escape_default()));
    }
    let (host, port) = if let Some(inner) = text.strip_prefix('[') {
        match inner.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, rest)) => match rest.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(format!("unexpected `{rest}` after the IPv6 host")),
            },
            None => return Err("an IPv6 host needs its closing `]`".to_owned()),
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err("no host".to_owned());
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(port) if port > 0 => {}
            _ => return Err(format!("the port `{port}` is not a number from 1 to 65535")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_the_platforms_take() {
        for good in [
            "sandbox",
            "sandbox:x.db",
            "sandbox:/no/such/dir/x.db",
            "http://127.0.0.1:8080",
            "https://datasphere.api.cloud.yandex.net",
            "https://datasphere.api.cloud.yandex.net/",
            "http://[::1]:8080",
            "http://localhost",
        ] {
            assert!(check(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn refuses_everything_else_as_a_usage_error() {
        for bad in [
            "",
            " ",
            "sandbox:",
            "ftp://x",
            "HTTP://x",
            "http://",
            "https://:80",
            "http://x y",
            "http://host:99999",
            "http://host:0",
            "http://host:",
            "http://host/path",
            "http://user@host",
            "http://[::1",
            "sandbx:x.db",
            "x.db",
        ] {
            let error = check(bad).expect_err(bad);
            assert_eq!(error.status, crate::ExitStatus::Usage, "{bad}");
        }
        assert!(check("HTTP://x").unwrap_err().help.unwrap().contains("`http`"));
        assert!(check("http://x y").unwrap_err().message.contains("invalid platform"));
    }
}
