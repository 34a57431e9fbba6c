//! `spherectl validate`: one fixture per rule under `tests/fixtures/validate/<case>/`, each
//! snapshotted as the user sees it; plus the cases generated here (an empty directory, a file that
//! is not UTF-8, one too large to read) and the examples, which must validate.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use crate::{assert_cli_snapshot, fixture, spherectl};

/// Runs `spherectl validate` on a fixture directory.
fn validate(case: &str) -> crate::Run {
    spherectl(["validate".to_owned(), fixture("validate", case)])
}

/// A test per fixture whose snapshot says all there is to check; the list also feeds
/// [`every_fixture_has_a_test`].
macro_rules! fixture_tests {
    ($($(#[doc = $doc:literal])* $case:ident,)*) => {
        $(
            $(#[doc = $doc])*
            #[test]
            fn $case() {
                let output = assert_cli_snapshot!(validate(stringify!($case)));
                assert_eq!(output.code, Some(1), "an invalid manifest set exits 1");
            }
        )*
        const SNAPSHOT_ONLY: &[&str] = &[$(stringify!($case)),*];
    };
}

fixture_tests! {
    /// An unclosed flow mapping: the parser's message, at the line where it gave up.
    yaml_syntax,
    /// A word where a number belongs.
    wrong_type,
    /// `sizeGB` for `sizeGb`: the help suggests the right name and lists the others.
    unknown_field,
    /// `DataSet` for `Dataset`.
    unknown_kind,
    unknown_api_version,
    /// A DockerImage without its required `tag`.
    missing_field,
    /// `sizeGb` given twice in one mapping.
    duplicate_key,
    /// 300 levels of flow nesting: stopped by the parser's limit, not the stack.
    deep_nesting,
    no_organization,
    /// Two files, one Organization each: both places shown.
    two_organizations,
    /// The same Dataset in two files: both places shown.
    duplicate_name,
    /// A misspelt secret in the same project, and a cross-project `community/project/name` one.
    dangling_reference,
    /// A node's `dockerImage` names a Secret.
    wrong_kind_reference,
    /// Backend weights 80 + 10.
    alias_weights,
    /// One node without a source, one with both.
    node_source,
    unpinned_checkpoint_published,
    /// Community names too short or with spaces; project names with capitals or a leading digit.
    invalid_names,
    /// A Kubernetes-style key, a capitalised key, a capitalised value.
    invalid_labels,
    /// `managed-by` is spherectl's own label.
    reserved_label,
    /// A typo of a declared community, and a community declared nowhere.
    publish_undeclared_community,
    /// A project uses a dataset that is published to another community only.
    use_unpublished,
    /// Three datasets whose `dependsOn` entries, across two files, form a cycle.
    dependency_cycle,
    /// Issue 7: two `active: true` images in one project, which flip-flopped on every apply.
    two_active_images,
    /// Issue 7: a node's `source` and `env`, an alias backend and an S3 `secretKey` naming
    /// resources of another project that are not published to this one's community, or not in
    /// its `spec.uses`; the published and used secret and the same-project one are fine.
    unshared_reference,
    /// Issue 7: weights whose sum overflows `i64` (a panic in debug builds) or wraps to exactly 100
    /// (in release builds).
    alias_weights_overflow,
    /// Issue 7: a weight too large for any integer type the manifest reads.
    alias_weight_too_large,
    /// Issue 7: an invalid project (and community) name is reported once, not again as "not
    /// declared" for every object under it or naming it.
    invalid_parent_name,
    /// Issue 7: a tab in the indentation is shown at the tab, with help.
    tab_indentation,
    /// Issue 7: a document that does not parse no longer hides the other documents' problems
    /// in the same file.
    broken_document_among_others,
    /// Issue 7: every missing required field of a document, not only the first.
    missing_fields,
    /// Issue 7: `sizeGb: "10"` (and every other integer field, quoted) is refused.
    quoted_integers,
}

/// Fixtures that have a test of their own below.
const WITH_OWN_TEST: &[&str] = &["plaintext_secret", "alias_bomb", "uses_both_ways"];

#[test]
fn every_fixture_has_a_test() {
    let dir = crate::root().join("tests/fixtures/validate");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the fixtures directory exists") {
        let name = entry.expect("a readable directory entry").file_name();
        let name = name.to_string_lossy();
        if !SNAPSHOT_ONLY.contains(&name.as_ref()) && !WITH_OWN_TEST.contains(&name.as_ref()) {
            missing.push(name.into_owned());
        }
    }
    assert!(missing.is_empty(), "fixtures without a test in tests/cli/validate.rs: {missing:?}");
}

#[test]
fn plaintext_secret() {
    let output = assert_cli_snapshot!(validate("plaintext_secret"));
    assert_eq!(output.code, Some(1));
    let secret = "hunter2-correct-horse-battery-staple";
    let manifest = std::fs::read_to_string(
        crate::root().join(fixture("validate", "plaintext_secret")).join("manifests.yaml"),
    )
    .expect("the fixture is readable");
    assert!(manifest.contains(secret), "the fixture holds the secret this test looks for");
    assert!(!output.stdout.contains(secret) && !output.stderr.contains(secret));
    assert!(!output.stderr.contains("hunter2"), "not even part of it");
}

/// Billion laughs through merge keys, in `metadata.labels`: the one place of a manifest where
/// an expansion is read rather than refused by the schema at its first node.
#[test]
fn alias_bomb() {
    let started = Instant::now();
    let output = assert_cli_snapshot!(validate("alias_bomb"));
    let elapsed = started.elapsed();
    assert_eq!(output.code, Some(1));
    assert!(output.stderr.contains("spherectl::manifest::budget"));
    assert!(elapsed.as_secs() < 5, "the bomb took {elapsed:?} to reject");
}

/// Research uses the platform's alias while the platform deploys research's checkpoint: uses
/// and publications order actions, not objects, so this is no cycle.
#[test]
fn uses_both_ways() {
    let output = assert_cli_snapshot!(validate("uses_both_ways"));
    assert_eq!(output.code, Some(0));
}

/// A temporary directory holding an empty `manifests/` directory, for generated cases.
fn temp_manifests() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().expect("a temporary directory");
    let dir = temp.path().join("manifests");
    std::fs::create_dir(&dir).expect("create the manifests directory");
    (temp, dir)
}

#[test]
fn empty_directory() {
    let (temp, _) = temp_manifests();
    let output = assert_cli_snapshot!(spherectl(["validate", "manifests"]).in_temp(temp.path()));
    assert_eq!(output.code, Some(1));
}

#[test]
fn missing_path() {
    let output = assert_cli_snapshot!(spherectl(["validate", "tests/fixtures/validate/nowhere"]));
    assert_eq!(output.code, Some(1));
}

/// Copies a fixture's files into `dir`.
fn copy_fixture(case: &str, dir: &Path) {
    let source = crate::root().join(fixture("validate", case));
    for entry in std::fs::read_dir(source).expect("the fixture exists") {
        let entry = entry.expect("a readable directory entry");
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy a fixture file");
    }
}

/// A Latin-1 file among valid ones: reported alone, without the dangling references that the
/// unread file's documents would otherwise cause.
#[test]
fn not_utf8() {
    let (temp, dir) = temp_manifests();
    std::fs::write(
        dir.join("organization.yaml"),
        "apiVersion: spherectl/v1\nkind: Organization\nmetadata: {name: acme}\n\
         spec: {id: bpf0000000000000acme}\n---\n\
         apiVersion: spherectl/v1\nkind: Community\nmetadata: {name: research}\n---\n\
         apiVersion: spherectl/v1\nkind: Project\nmetadata: {name: fraud, community: research}\n\
         spec:\n  uses: [{kind: Dataset, ref: research/sales/transactions}]\n",
    )
    .expect("write a manifest");
    std::fs::write(
        dir.join("sales.yaml"),
        b"apiVersion: spherectl/v1\nkind: Project\nmetadata: {name: sales, community: research}\n\
          ---\napiVersion: spherectl/v1\nkind: Dataset\n\
          metadata: {name: transactions, project: research/sales}\n\
          spec:\n  description: Caf\xe9 receipts\n  sizeGb: 1\n  publish: [research]\n",
    )
    .expect("write a manifest");
    let output = assert_cli_snapshot!(spherectl(["validate", "manifests"]).in_temp(temp.path()));
    assert_eq!(output.code, Some(1));
}

/// A file over 16 MiB is refused before it is read (a sparse file: nothing is written).
#[test]
fn too_large() {
    let (temp, dir) = temp_manifests();
    copy_fixture("duplicate_name", &dir);
    std::fs::remove_file(dir.join("more-datasets.yaml")).expect("remove the duplicate");
    let big = std::fs::File::create(dir.join("huge.yaml")).expect("create a file");
    big.set_len(16 * 1024 * 1024 + 1).expect("grow the file");
    let started = Instant::now();
    let output = assert_cli_snapshot!(spherectl(["validate", "manifests"]).in_temp(temp.path()));
    assert_eq!(output.code, Some(1));
    assert!(started.elapsed().as_secs() < 5);
}

#[test]
fn quickstart_example() {
    let output = assert_cli_snapshot!(spherectl(["validate", "examples/quickstart"]));
    assert_eq!(output.code, Some(0));
}

#[test]
fn multi_team_example() {
    let output = assert_cli_snapshot!(spherectl(["validate", "examples/multi-team"]));
    assert_eq!(output.code, Some(0));
}

/// The Organization, Community and Project that the generated Secret cases below belong to.
const SECRET_HOME: &str = "apiVersion: spherectl/v1\nkind: Organization\nmetadata: {name: acme}\n\
    spec: {id: bpf0000000000000acme}\n---\napiVersion: spherectl/v1\nkind: Community\n\
    metadata: {name: research}\n---\napiVersion: spherectl/v1\nkind: Project\n\
    metadata: {name: fraud, community: research}\n---\n";

/// Issue 7: no byte of a secret's `value` reaches any output, whatever the error and wherever
/// the snippet falls (the value is the error's place, or context of an error next to it; the
/// document parses, or it does not).
#[test]
fn secret_values_never_shown() {
    let secret = "Zq7-hunter2-SECRET";
    let cases = [
        format!("  value: [{secret}]\n"),
        format!("  value: {{fromEnv: A, extra: {secret}}}\n"),
        format!("  value: {{fromEnv: A, {secret}: 1}}\n"),
        format!("  value: {{fromFile: {{nested: {secret}}}}}\n"),
        format!("  value: {secret}\n  valeu: 1\n"),
        format!("  description: hi\n  value: {secret}\n"),
        format!("  value: |\n    {secret}\n  publsh: [research]\n"),
        format!("  value: [{secret}, {{\n  bad\n"),
        format!("  bad: [\n  value: {secret}\n"),
        format!("  description: &s {secret}\n  value: *s\n"),
    ];
    for case in &cases {
        let (temp, dir) = temp_manifests();
        let manifest = format!(
            "{SECRET_HOME}apiVersion: spherectl/v1\nkind: Secret\n\
             metadata: {{name: db, project: research/fraud}}\nspec:\n{case}"
        );
        std::fs::write(dir.join("secret.yaml"), manifest).expect("write a manifest");
        for command in ["validate", "plan"] {
            let output = spherectl([command, "manifests"]).in_temp(temp.path()).output();
            assert_eq!(output.code, Some(1), "{command} on {case:?}:\n{}", output.stderr);
            assert!(output.stderr.contains("spherectl::manifest::"), "{}", output.stderr);
            for (stream, text) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
                assert!(
                    !text.contains(secret) && !text.contains("hunter2"),
                    "{command} shows the secret of {case:?} on {stream}:\n{text}"
                );
            }
        }
    }
}

/// Issue 7: an error on a line longer than 65,535 characters made the renderer panic (exit
/// 101). The snippet shows a window of the line; the header keeps the real column.
#[test]
fn long_line_is_clipped() {
    let (temp, dir) = temp_manifests();
    let manifest = format!(
        "{SECRET_HOME}apiVersion: spherectl/v1\nkind: Dataset\n\
         metadata: {{name: logs, project: research/fraud}}\n\
         spec: {{description: \"{}\", sizeGb: ten}}\n",
        "a".repeat(70_000)
    );
    std::fs::write(dir.join("long.yaml"), manifest).expect("write a manifest");
    for command in ["validate", "plan"] {
        let output = spherectl([command, "manifests"]).in_temp(temp.path()).output();
        assert_eq!(output.code, Some(1), "{command}:\n{}", output.stderr);
        assert!(output.stderr.contains("long.yaml:17:70033]"), "{}", output.stderr);
        assert!(output.stderr.contains("…aaaa"), "{}", output.stderr);
        assert!(output.stderr.lines().all(|line| line.chars().count() < 400));
    }
}
