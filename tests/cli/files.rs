//! What spherectl reads from disk: only regular files, each within a limit, never blocking on a
//! FIFO or reading a device (issue 7); and `fromFile` secrets as written on any platform.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use crate::{Output, spherectl};

/// Long enough for a debug build on a loaded machine; a blocked read never ends.
const LIMIT: Duration = Duration::from_secs(30);

const ORGANIZATION: &str = "apiVersion: spherectl/v1\nkind: Organization\nmetadata: {name: acme}\n\
    spec: {id: bpf0000000000000acme}\n---\napiVersion: spherectl/v1\nkind: Community\n\
    metadata: {name: research}\n---\napiVersion: spherectl/v1\nkind: Project\n\
    metadata: {name: fraud, community: research}\n";

/// A temporary directory with `manifests/organization.yaml` (a valid Organization, Community
/// and Project).
fn manifests() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().expect("a temporary directory");
    let dir = temp.path().join("manifests");
    std::fs::create_dir(&dir).expect("create the manifests directory");
    std::fs::write(dir.join("organization.yaml"), ORGANIZATION).expect("write a manifest");
    (temp, dir)
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// A Secret whose value is read from `path` (relative to the manifest).
fn secret_from_file(dir: &Path, path: &str) {
    std::fs::write(
        dir.join("secret.yaml"),
        format!(
            "apiVersion: spherectl/v1\nkind: Secret\n\
             metadata: {{name: db, project: research/fraud}}\n\
             spec:\n  value: {{fromFile: {path}}}\n"
        ),
    )
    .expect("write a manifest");
}

/// A diagnostic's message with its wrapped lines joined.
fn flat(text: &str) -> String {
    text.replace("\n  │ ", " ")
}

fn plan(temp: &Path) -> Output {
    let db = temp.join("sandbox.db");
    let platform = format!("sandbox:{}", db.display());
    spherectl(["plan", "manifests", "--platform", &platform]).in_temp(temp).output_within(LIMIT)
}

/// Issue 7: a FIFO named `a.yaml` blocked `validate` forever.
#[test]
fn fifo_manifest_is_an_error() {
    let (temp, dir) = manifests();
    mkfifo(&dir.join("a.yaml"));
    let output = spherectl(["validate", "manifests"]).in_temp(temp.path()).output_within(LIMIT);
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    assert!(output.stderr.contains("spherectl::manifest::not_a_file"), "{}", output.stderr);
    assert!(output.stderr.contains("manifests/a.yaml: not a regular file (a FIFO)"));
}

/// Issue 7: a `*.yaml` symlink to `/dev/zero` bypassed the 16 MiB limit and read 4 GB.
#[test]
fn device_symlink_manifest_is_an_error() {
    let (temp, dir) = manifests();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.yaml")).expect("create a symlink");
    let output = spherectl(["validate", "manifests"]).in_temp(temp.path()).output_within(LIMIT);
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    assert!(output.stderr.contains("manifests/zero.yaml: not a regular file (a device)"));
}

/// Issue 7: a Secret `fromFile` naming a FIFO blocked `plan` forever; it is an error at the
/// `fromFile` value in the YAML.
#[test]
fn fifo_secret_file_is_an_error() {
    let (temp, dir) = manifests();
    mkfifo(&dir.join("password"));
    secret_from_file(&dir, "password");
    let output = plan(temp.path());
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    assert!(flat(&output.stderr).contains("not a regular file (a FIFO)"), "{}", output.stderr);
    assert!(output.stderr.contains("[manifests/secret.yaml:5:21]"), "{}", output.stderr);
}

/// Issue 7: `fromFile` read a file of any size (or a device) whole.
#[test]
fn secret_file_is_bounded() {
    let (temp, dir) = manifests();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero")).expect("create a symlink");
    secret_from_file(&dir, "zero");
    let output = plan(temp.path());
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    assert!(flat(&output.stderr).contains("not a regular file (a device)"), "{}", output.stderr);

    let big = std::fs::File::create(dir.join("big")).expect("create a file");
    big.set_len(64 * 1024 + 1).expect("grow the file");
    secret_from_file(&dir, "big");
    let output = plan(temp.path());
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    assert!(flat(&output.stderr).contains("larger than the 64 KiB a secret file may be"));
}

/// Issue 7: a secret file written on Windows (`\r\n`) must give the same value as with `\n`:
/// applying one and planning the other shows no change.
#[test]
fn secret_file_crlf_is_stripped_like_lf() {
    let (temp, dir) = manifests();
    std::fs::write(dir.join("password"), "s3cret\n").expect("write the secret");
    secret_from_file(&dir, "password");
    let db = temp.path().join("sandbox.db");
    let platform = format!("sandbox:{}", db.display());
    let apply = spherectl(["apply", "manifests", "--yes", "--platform", &platform])
        .in_temp(temp.path())
        .output_within(LIMIT);
    assert_eq!(apply.code, Some(0), "{}", apply.stderr);
    std::fs::write(dir.join("password"), "s3cret\r\n").expect("write the secret");
    let plan = spherectl(["plan", "manifests", "--detailed-exitcode", "--platform", &platform])
        .in_temp(temp.path())
        .output_within(LIMIT);
    assert_eq!(plan.code, Some(0), "a CRLF file planned a change:\n{}{}", plan.stdout, plan.stderr);
}
