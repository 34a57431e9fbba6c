//! Regression tests for issue 7: drift and denies, saved plans, the sandbox key, commands that
//! must not write, corrupt sandbox rows and confirmation without a terminal.

use spherectl::{manifest::Kind, platform::Platform, rules::Role};

use super::{Case, SHARED};

/// `drift` exits 1 on a deny, as `plan` does, and prints the findings.
#[test]
fn issue7_drift_exits_1_on_a_deny() {
    let text = SHARED.replace(
        "kind: Community\nmetadata: {name: research}\n",
        "kind: Community\nmetadata: {name: research}\nspec:\n  members: [{subject: \"userAccount:alice\", role: admin}]\n",
    );
    let case = Case::files(&[("org.yaml", &text)]);
    assert_eq!(case.run(&["apply", ".", "--yes"]).code, 0);
    let with_dataset = text.replace("spec: {sizeGb: 5}", "spec: {sizeGb: 5, publish: [analytics]}");
    std::fs::write(case.path().join("org.yaml"), with_dataset).unwrap();
    let drift = case.run_as(&["drift", "."], Some("userAccount:alice"));
    assert_eq!(drift.code, 1, "{}{}", drift.stdout, drift.stderr);
    assert!(drift.stderr.contains("spherectl::rules::publish_roles"), "{}", drift.stderr);
    assert!(drift.stderr.contains("denied"), "{}", drift.stderr);
}

/// `apply --plan` without `--yes` refuses when stdin is not a terminal, as plain `apply` does.
#[test]
fn issue7_apply_saved_plan_without_yes_refuses_without_a_terminal() {
    let case = Case::example("quickstart");
    let plan_file = case.path().join("plan.json");
    let saved = case.run(&["plan", ".", "--out", plan_file.to_str().unwrap()]);
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    let run = case.run(&["apply", "--plan", plan_file.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("refusing to apply without confirmation"), "{}", run.stderr);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    let plan = case.plan_json();
    assert!(plan["summary"]["create"].as_u64() > Some(0), "nothing was applied");
    let run = case.run(&["apply", "--plan", plan_file.to_str().unwrap(), "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// `plan`, `drift` and `validate` create nothing: a missing sandbox reads as empty.
#[test]
fn issue7_plan_against_a_missing_sandbox_creates_nothing() {
    let case = Case::example("quickstart");
    let missing = case.path().join("no/such/dir/x.db");
    let platform = format!("sandbox:{}", missing.display());
    let plan = case.run(&["plan", ".", "--platform", &platform, "--format", "json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert!(json["summary"]["create"].as_u64() > Some(0), "{json:#}");
    assert_eq!(case.run(&["drift", ".", "--platform", &platform]).code, 2);
    assert!(!case.path().join("no").exists(), "plan or drift created the sandbox directory");
    // The default sandbox, too: no `.spherectl/`, no key.
    assert_eq!(case.run(&["plan", "."]).code, 0);
    assert_eq!(case.run(&["drift", "."]).code, 2);
    assert_eq!(case.run(&["validate", "."]).code, 0);
    assert!(
        !case.path().join(".spherectl").exists(),
        "plan, drift or validate created the sandbox"
    );
    // An organization that an existing sandbox has not seen yet is not created by a plan.
    assert_eq!(case.run(&["apply", ".", "--yes"]).code, 0);
    case.edit("organization.yaml", "bpf00000000quickstart", "bpf0000000000000other");
    assert_eq!(case.run(&["plan", "."]).code, 0);
    let connection = rusqlite::Connection::open(case.db()).unwrap();
    let organizations: i64 =
        connection.query_row("SELECT count(*) FROM organizations", [], |r| r.get(0)).unwrap();
    assert_eq!(organizations, 1, "plan wrote an organization into the sandbox");
}

/// `sandbox:` with no path is a usage error, and writes no `.key` in the current directory.
#[test]
fn issue7_an_empty_sandbox_path_is_a_usage_error() {
    let case = Case::example("quickstart");
    for command in
        [&["plan", "."][..], &["apply", ".", "--yes"], &["drift", "."], &["sandbox", "quota"]]
    {
        let mut args = command.to_vec();
        args.extend(["--platform", "sandbox:"]);
        let run = case.run(&args);
        assert_eq!(run.code, 64, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("sandbox:PATH"), "{}", run.stderr);
    }
    assert!(!case.path().join(".key").exists());
    assert!(!case.path().join(".spherectl").exists());
}

/// A deleted key is not silently replaced when the database holds encrypted secrets.
#[test]
fn issue7_a_missing_key_is_an_error_when_the_database_holds_secrets() {
    let case = Case::applied_example("quickstart");
    let key = case.path().join(".spherectl/sandbox.db.key");
    std::fs::remove_file(&key).unwrap();
    for args in [&["plan", "."][..], &["apply", ".", "--yes"]] {
        let run = case.run(args);
        assert_eq!(run.code, 1, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("sandbox.db.key` is missing"), "{}", run.stderr);
        assert!(run.stderr.contains("encrypted secret"), "{}", run.stderr);
        assert!(run.stderr.contains("restore the key file"), "{}", run.stderr);
        assert!(!key.exists(), "a new key was invented");
    }
}

/// A key file that group or others can read is refused, naming the path and the fix.
#[cfg(unix)]
#[test]
fn issue7_a_key_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let case = Case::applied_example("quickstart");
    let key = case.path().join(".spherectl/sandbox.db.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = case.run(&["plan", "."]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("chmod 600 ./.spherectl/sandbox.db.key"), "{}", run.stderr);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(case.run(&["plan", "."]).code, 0);
}

/// The sandbox directory ignores itself in git.
#[test]
fn issue7_the_sandbox_directory_gets_a_gitignore() {
    let case = Case::applied_example("quickstart");
    let text = std::fs::read_to_string(case.path().join(".spherectl/.gitignore")).unwrap();
    assert_eq!(text.trim(), "*");
}

/// A corrupt attribute column is an error naming the object, not an empty value that would plan
/// a change.
#[test]
fn issue7_a_corrupt_attribute_is_an_error_naming_the_object() {
    let case = Case::applied_example("quickstart");
    let connection = rusqlite::Connection::open(case.db()).unwrap();
    connection
        .execute("UPDATE objects SET attributes = '{not json' WHERE kind = 'Project'", [])
        .unwrap();
    drop(connection);
    let run = case.run(&["plan", "."]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("Project `fraud-detection`"), "{}", run.stderr);
    assert!(run.stderr.contains("`attributes`"), "{}", run.stderr);
    assert!(!run.stdout.contains("update"), "{}", run.stdout);
}

/// Saves a plan of the case to `plan.json`; returns the file's path.
fn save_plan(case: &Case) -> String {
    let file = case.path().join("plan.json").display().to_string();
    let run = case.run(&["plan", ".", "--out", &file]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    file
}

fn live_id(case: &Case, kind: Kind, name: &str) -> String {
    let live = case.sandbox().read("bpf00000000000000acme").unwrap();
    live.objects.iter().find(|o| o.kind == kind && o.name == name).unwrap().id.clone()
}

/// A saved plan fingerprints only what it touches: a write elsewhere does not make it stale; a
/// write to a touched object does.
#[test]
fn issue7_a_saved_plan_is_stale_only_when_a_touched_object_changed() {
    let case = Case::files(&[("org.yaml", SHARED)]);
    assert_eq!(case.run(&["apply", ".", "--yes"]).code, 0);
    let described = "kind: Project\nmetadata: {name: models, community: research}\nspec: {description: Models}\n";
    case.edit(
        "org.yaml",
        "kind: Project\nmetadata: {name: models, community: research}\n",
        described,
    );
    let file = save_plan(&case);
    // Someone changes an object the plan does not touch (its members are not managed here).
    let analytics = live_id(&case, Kind::Community, "analytics");
    case.sandbox()
        .add_member(Kind::Community, &analytics, "userAccount:bob", Role::Viewer)
        .unwrap();
    let run = case.run(&["apply", "--plan", &file, "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Now a write to the object the plan updates: stale, though the plan would not change.
    case.edit("org.yaml", "{description: Models}", "{description: Model zoo}");
    let file = save_plan(&case);
    let models = live_id(&case, Kind::Project, "models");
    case.sandbox().add_member(Kind::Project, &models, "userAccount:bob", Role::Viewer).unwrap();
    let run = case.run(&["apply", "--plan", &file, "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("the saved plan is stale"), "{}", run.stderr);
    assert!(
        run.stderr.contains("`Project/research/models` was changed since the plan"),
        "{}",
        run.stderr
    );
}

/// An object the saved plan touches and that was deleted since is named as deleted.
#[test]
fn issue7_a_saved_plan_detects_deleted_objects() {
    let case = Case::files(&[("org.yaml", SHARED)]);
    assert_eq!(case.run(&["apply", ".", "--yes"]).code, 0);
    case.edit("org.yaml", "spec: {sizeGb: 5}", "spec: {sizeGb: 6}");
    let file = save_plan(&case);
    let events = live_id(&case, Kind::Dataset, "events");
    case.sandbox().delete(Kind::Dataset, &events).unwrap();
    let run = case.run(&["apply", "--plan", &file, "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("`Dataset/research/models/events` was deleted since the plan"),
        "{}",
        run.stderr
    );
}

/// A saved plan for another platform, organization or format version is refused, clearly.
#[test]
fn issue7_a_saved_plan_for_another_platform_organization_or_version_is_refused() {
    let case = Case::files(&[("org.yaml", SHARED)]);
    let file = save_plan(&case);
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    // The file is the plan JSON; what `apply --plan` checks is under `saved`.
    let edited = |field: &str, value: serde_json::Value| {
        let mut saved = original.clone();
        if field == "formatVersion" {
            saved[field] = value.clone();
        }
        saved["saved"][field] = value;
        std::fs::write(&file, serde_json::to_string(&saved).unwrap()).unwrap();
        let run = case.run(&["apply", "--plan", &file, "--yes"]);
        assert_eq!(run.code, 1, "{field}: {}", run.stderr);
        run.stderr
    };
    let stderr = edited("platform", "sandbox:/elsewhere/sandbox.db".into());
    assert!(stderr.contains("made for platform `sandbox:/elsewhere/sandbox.db`"), "{stderr}");
    let stderr = edited("organizationId", "bpf000000000000other".into());
    assert!(stderr.contains("made for organization `bpf000000000000other`"), "{stderr}");
    let stderr = edited("formatVersion", 99.into());
    assert!(stderr.contains("plan format version 99"), "{stderr}");
    assert!(!case.db().exists(), "a refused plan created the sandbox");
    // Another sandbox, named on the command line.
    std::fs::write(&file, serde_json::to_string(&original).unwrap()).unwrap();
    let run = case.run(&["apply", "--plan", &file, "--yes", "--platform", "sandbox:other.db"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("made for platform"), "{}", run.stderr);
    assert!(!case.path().join("other.db").exists());
    assert_eq!(case.run(&["apply", "--plan", &file, "--yes"]).code, 0);
}

/// Two different new secret values are told apart: a secret changed since the plan is refused,
/// and the plan file holds a keyed digest, never the value.
#[test]
fn issue7_a_saved_plan_refuses_a_changed_secret_value() {
    let mut case = Case::files(&[("org.yaml", SHARED)]);
    let file = save_plan(&case);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(super::SECRET));
    let saved: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(saved["saved"]["secrets"]["Secret/research/models/token"].is_string(), "{saved:#}");
    case.env = vec![("APP_TOKEN".into(), "another-value".into())];
    let run = case.run(&["apply", "--plan", &file, "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("the value of `Secret/research/models/token` changed since the plan"),
        "{}",
        run.stderr
    );
    let file = save_plan(&case);
    assert_eq!(case.run(&["apply", "--plan", &file, "--yes"]).code, 0);
}

/// A saved plan applies from another directory: its manifest paths are absolute.
#[test]
fn issue7_a_saved_plan_applies_from_another_directory() {
    let case = Case::example("quickstart");
    let file = save_plan(&case);
    let elsewhere = Case { dir: tempfile::tempdir().unwrap(), env: case.env.clone() };
    let run = elsewhere.run(&["apply", "--plan", &file, "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("Apply complete"), "{}", run.stderr);
    assert!(case.db().exists(), "applied to the sandbox beside the manifests");
    assert!(!elsewhere.path().join(".spherectl").exists());
    assert_eq!(case.run(&["drift", "."]).code, 0);
}
