//! Help and usage errors (exit code 64).

use crate::{assert_cli_snapshot, spherectl};

/// The top-level help lists the commands; it grows with them, so only its frame is checked.
#[test]
fn help() {
    let output = spherectl(["--help"]).output();
    assert_eq!(output.code, Some(0));
    assert!(output.stdout.starts_with("Manage a DataSphere organization as code."));
    assert!(output.stdout.contains("Usage: spherectl [OPTIONS] <COMMAND>"));
    assert!(output.stdout.contains("validate"), "{}", output.stdout);
    assert!(output.stderr.is_empty());
}

#[test]
fn validate_help() {
    let output = assert_cli_snapshot!(spherectl(["validate", "--help"]));
    assert_eq!(output.code, Some(0));
}

#[test]
fn unknown_flag() {
    let output = assert_cli_snapshot!(spherectl(["validate", "--strict", "examples/quickstart"]));
    assert_eq!(output.code, Some(64));
}

#[test]
fn unknown_command() {
    let output = assert_cli_snapshot!(spherectl(["validat", "examples/quickstart"]));
    assert_eq!(output.code, Some(64));
}

#[test]
fn invalid_format() {
    let output = assert_cli_snapshot!(spherectl(["graph", "--format", "svg"]));
    assert_eq!(output.code, Some(64));
}
