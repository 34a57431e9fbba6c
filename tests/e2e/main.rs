//! End-to-end tests of the core loop: the real binary against the embedded sandbox.
//!
//! Each test copies manifests into a temporary directory, so the sandbox database
//! (`.spherectl/sandbox.db` beside them) is fresh, and drives `spherectl` as a user would.

/// `ORG` (an organization `acme` with one community, `research`) followed by `$rest`, as one
/// string literal: usable in a `const` and in `concat!`.
macro_rules! org_then {
    ($rest:literal) => {
        concat!(
            "apiVersion: spherectl/v1
kind: Organization
metadata: {name: acme}
spec: {id: bpf00000000000000acme}
---
apiVersion: spherectl/v1
kind: Community
metadata: {name: research}
",
            $rest
        )
    };
}

mod adversary;
mod adversary10;
mod adversary2;
mod adversary3;
mod adversary4;
mod adversary5;
mod adversary6;
mod adversary7;
mod adversary8;
mod adversary9;
mod concurrency;
mod converge;
mod converge_http;
mod destroy;
mod exit_codes;
mod focus;
mod http;
mod http_reads;
mod import;
mod issue7;
mod policy_rules;
mod review;
mod rules;
mod safety;
mod secrets_fuzz;
mod serve_access;
mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use spherectl::{
    manifest::Kind,
    platform::{Platform, sandbox::Sandbox},
};

use support::{edited_in_the_console, made_by_hand};

const SECRET: &str = "s3cret-VALUE-never-shown-7f3a";

/// A temporary copy of a manifest directory and the environment to run spherectl in it.
pub(crate) struct Case {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Case {
    /// Copies `examples/NAME` into a fresh directory and provides every `fromEnv` variable.
    pub(crate) fn example(name: &str) -> Case {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name);
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&source, dir.path());
        let mut env = Vec::new();
        for file in yaml_files(dir.path()) {
            let text = std::fs::read_to_string(&file).unwrap();
            for part in text.split("fromEnv:").skip(1) {
                let name: String = part
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && !env.iter().any(|(n, _): &(String, String)| *n == name) {
                    env.push((name, SECRET.to_owned()));
                }
            }
        }
        Case { dir, env }
    }

    /// A directory with the given files.
    pub(crate) fn files(files: &[(&str, &str)]) -> Case {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Case { dir, env: vec![("APP_TOKEN".into(), SECRET.into())] }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn db(&self) -> PathBuf {
        self.path().join(".spherectl").join("sandbox.db")
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.run_as(args, None)
    }

    pub(crate) fn run_as(&self, args: &[&str], actor: Option<&str>) -> Run {
        // `SPHERECTL_E2E_OVER_HTTP=1`: the same scenario over HTTP (see `http::over_http`).
        let url;
        let mut token = None;
        let mut args = args.to_vec();
        if http::over_http()
            && matches!(args.first(), Some(&("plan" | "apply" | "drift" | "destroy")))
            && !args.contains(&"--platform")
        {
            url = http::shared_server(&self.db());
            args.extend(["--platform", &url]);
            token = Some(http::token_for(actor));
        }
        let args = args.as_slice();
        let mut command = support::spherectl(self.path(), args);
        for (name, value) in &self.env {
            command.env(name, value);
        }
        if let Some(actor) = actor {
            command.env("SPHERECTL_ACTOR", actor);
        }
        if let Some(token) = token {
            command.env("SPHERECTL_TOKEN", token);
        }
        let run = Run::of(&command.output().unwrap());
        assert!(
            !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
            "a secret value leaked into the output of {args:?}"
        );
        run
    }

    pub(crate) fn plan_json(&self) -> Value {
        let run = self.run(&["plan", ".", "--format", "json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        serde_json::from_str(&run.stdout).unwrap()
    }

    pub(crate) fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "`{from}` not in {file}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    pub(crate) fn sandbox(&self) -> Sandbox {
        Sandbox::open(&self.db(), "userAccount:local-admin").unwrap()
    }
}

pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(path);
        }
    }
    files
}

/// An organization `acme` with one community, `research`: the start of most small scenarios.
pub(crate) const ORG: &str = org_then!("");

/// Applies the case's manifests; the apply must succeed.
pub(crate) fn applied(case: &Case) {
    let apply = case.run(&["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
}

/// The next plan must be empty (`plan --detailed-exitcode` exits 0).
pub(crate) fn converged(case: &Case) {
    let again = case.run(&["plan", ".", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}

fn actions(plan: &Value) -> Vec<(String, String)> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (c["action"].as_str().unwrap().to_owned(), c["address"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn position(list: &[(String, String)], action: &str, address: &str) -> usize {
    list.iter()
        .position(|(a, b)| a == action && b == address)
        .unwrap_or_else(|| panic!("no `{action} {address}` in {list:?}"))
}

/// The first plan creates every object; apply converges; a second plan is empty; drift exits 0.
fn full_cycle(example: &str) {
    let case = Case::example(example);
    let validate = case.run(&["validate", "."]);
    assert_eq!(validate.code, 0, "{}", validate.stderr);
    let objects: usize = validate
        .stderr
        .split("valid: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let plan = case.plan_json();
    let list = actions(&plan);
    let creates = list.iter().filter(|(a, _)| a == "create").count();
    assert_eq!(creates, objects - 1, "every object but the organization is created");
    assert!(list.iter().all(|(a, _)| !matches!(a.as_str(), "delete" | "update" | "replace")));
    assert_eq!(plan["formatVersion"], 1);
    assert_eq!(plan["summary"]["create"], creates);

    let detailed = case.run(&["plan", ".", "--detailed-exitcode"]);
    assert_eq!(detailed.code, 2);

    let apply = case.run(&["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert!(apply.stderr.contains("Apply complete"), "{}", apply.stderr);

    let again = case.run(&["plan", ".", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("No changes"));
    let drift = case.run(&["drift", "."]);
    assert_eq!(drift.code, 0, "{}{}", drift.stdout, drift.stderr);

    // The secret is stored encrypted: its plaintext is nowhere in the database.
    let bytes = std::fs::read(case.db()).unwrap_or_default();
    let wal = std::fs::read(case.db().with_extension("db-wal")).unwrap_or_default();
    for data in [bytes, wal] {
        assert!(!data.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    }
}

#[test]
fn quickstart_applies_and_converges() {
    full_cycle("quickstart");
}

#[test]
fn multi_team_applies_and_converges() {
    full_cycle("multi-team");
}

#[test]
fn first_plan_renders_every_create() {
    let case = Case::example("quickstart");
    let run = case.run(&["plan", "."]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = run.stdout.replace(&case.path().display().to_string(), "[TMP]");
    insta::assert_snapshot!(text);
}

#[test]
fn changing_one_field_plans_exactly_one_update() {
    let case = Case::applied_example("quickstart");
    case.edit("project.yaml", "maxUnitsPerHour: 100", "maxUnitsPerHour: 250");
    let plan = case.plan_json();
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{plan:#}");
    assert_eq!(changes[0]["action"], "update");
    assert_eq!(changes[0]["address"], "Project/research/fraud-detection");
    assert_eq!(
        changes[0]["fields"],
        serde_json::json!([{"path": "spec.limits.maxUnitsPerHour", "before": 100, "after": 250, "sensitive": false}])
    );
    assert_eq!(changes[0]["source"]["file"], "project.yaml");
    assert_eq!(case.run(&["apply", ".", "--yes"]).code, 0);
    assert_eq!(case.run(&["drift", "."]).code, 0);
}

#[test]
fn a_dockerfile_change_replaces_the_image_and_shows_a_line_diff() {
    let case = Case::applied_example("quickstart");
    case.edit("resources.yaml", "pandas==2.2.2", "pandas==2.2.3");
    let run = case.run(&["plan", "."]);
    assert!(
        run.stdout.contains("-/+ replace DockerImage/research/fraud-detection/scoring-env"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("- RUN pip install --no-cache-dir scikit-learn==1.4.2 pandas==2.2.2")
    );
    assert!(
        run.stdout.contains("+ RUN pip install --no-cache-dir scikit-learn==1.4.2 pandas==2.2.3")
    );
    // The node's source is immutable: it follows its image.
    assert!(run.stdout.contains("replace Node/research/fraud-detection/scorer"), "{}", run.stdout);
    let apply = case.run(&["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let drift = case.run(&["drift", "."]);
    assert_eq!(drift.code, 0, "{}{}", drift.stdout, drift.stderr);
}

const SHARED: &str = concat!(
    "\n",
    org_then!(
        r"---
apiVersion: spherectl/v1
kind: Community
metadata: {name: analytics}
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: models, community: research}
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: reports, community: analytics}
spec:
  uses: [{kind: Secret, ref: research/models/token}]
---
apiVersion: spherectl/v1
kind: Secret
metadata: {name: token, project: research/models}
spec:
  value: {fromEnv: APP_TOKEN}
  publish: [analytics]
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {name: events, project: research/models}
spec: {sizeGb: 5}
"
    )
);

#[test]
fn removing_a_published_resource_unpublishes_and_detaches_it_first() {
    let case = Case::files(&[("org.yaml", SHARED)]);
    let apply = case.run(&["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    // Drop the secret and its use.
    let text = SHARED
        .replace("spec:\n  uses: [{kind: Secret, ref: research/models/token}]\n", "")
        .replace(
            "---\napiVersion: spherectl/v1\nkind: Secret\nmetadata: {name: token, project: research/models}\nspec:\n  value: {fromEnv: APP_TOKEN}\n  publish: [analytics]\n",
            "",
        );
    std::fs::write(case.path().join("org.yaml"), text).unwrap();
    let plan = case.plan_json();
    let list = actions(&plan);
    assert_eq!(list.len(), 3, "{list:?}");
    let unuse =
        position(&list, "unuse", "Project/analytics/reports#use:Secret/research/models/token");
    let unpublish = position(&list, "unpublish", "Secret/research/models/token#publish:analytics");
    let delete = position(&list, "delete", "Secret/research/models/token");
    assert!(unuse < unpublish && unpublish < delete, "{list:?}");
    let change = &plan["changes"][delete];
    let depends: Vec<&str> =
        change["dependsOn"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert!(depends.contains(&"Secret/research/models/token#publish:analytics"), "{depends:?}");
    assert_eq!(case.run(&["apply", ".", "--yes"]).code, 0);
    assert_eq!(case.run(&["drift", "."]).code, 0);
}

#[test]
fn changes_behind_the_manifests_back_show_as_drift() {
    let case = Case::applied_example("quickstart");
    let sandbox = case.sandbox();
    let live = sandbox.read("bpf00000000quickstart").unwrap();
    let project = live.objects.iter().find(|o| o.kind == Kind::Project).unwrap();
    edited_in_the_console(&sandbox, Kind::Project, &project.id);
    drop(sandbox);

    let drift = case.run(&["drift", "."]);
    assert_eq!(drift.code, 2, "{}{}", drift.stdout, drift.stderr);
    assert!(
        drift.stdout.contains("~ Project/research/fraud-detection: changed outside spherectl"),
        "{}",
        drift.stdout
    );
    assert!(
        drift.stdout.contains(
            r#"spec.description: "Fraud models" → "edited in the console"  (manifests → platform)"#
        ),
        "{}",
        drift.stdout
    );
    let json = case.run(&["drift", ".", "--format", "json"]);
    assert_eq!(json.code, 2);
    let plan: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(plan["summary"]["update"], 1);
    assert_eq!(case.run(&["apply", ".", "--yes"]).code, 0);
    assert_eq!(case.run(&["drift", "."]).code, 0);
}

#[test]
fn unmanaged_objects_are_reported_and_left_alone() {
    let case = Case::applied_example("quickstart");
    let sandbox = case.sandbox();
    let id = made_by_hand(&sandbox, Kind::Community, "bpf00000000quickstart", "hand-made");
    drop(sandbox);
    let plan = case.plan_json();
    assert!(plan["changes"].as_array().unwrap().is_empty(), "{plan:#}");
    assert_eq!(plan["unmanaged"], serde_json::json!(["Community/hand-made"]));
    assert_eq!(case.run(&["apply", ".", "--yes"]).code, 0);
    let live = case.sandbox().read("bpf00000000quickstart").unwrap();
    assert!(live.objects.iter().any(|o| o.id == id), "the unmanaged community is still there");
}

#[test]
fn a_quota_the_plan_would_exceed_stops_the_plan_before_anything_is_applied() {
    let case = Case::example("quickstart");
    let platform = format!("sandbox:{}", case.db().display());
    let quota =
        case.run(&["--platform", &platform, "sandbox", "quota", "docker-images-per-community=0"]);
    assert_eq!(quota.code, 0, "{}", quota.stderr);
    let apply = case.run(&["apply", ".", "--yes"]);
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    assert!(apply.stderr.contains("spherectl::rules::quota"), "{}", apply.stderr);
    assert!(apply.stderr.contains("at most 0 Docker images per community"), "{}", apply.stderr);
    assert!(apply.stderr.contains("resources.yaml"), "points at the image: {}", apply.stderr);
    // Nothing was applied: the whole plan is still to do.
    case.run(&["--platform", &platform, "sandbox", "quota", "docker-images-per-community=3"]);
    let plan = case.plan_json();
    assert!(actions(&plan).iter().all(|(a, _)| a != "update" && a != "delete"));
    assert_eq!(case.run(&["apply", ".", "--yes"]).code, 0);
}

/// The applier, in-process: a change that fails at apply (here, a quota lowered after the plan
/// was made) skips exactly its dependents; independent branches finish; a re-run converges.
#[test]
fn a_failing_change_skips_exactly_its_dependents() {
    use std::sync::{Arc, atomic::AtomicBool};

    use spherectl::{
        apply::{self, ApplyOptions},
        manifest::{self, model::SecretSource},
        plan::{self, PlanInput, SecretValues},
        platform::SecretValue,
    };
    let case = Case::example("quickstart");
    let loaded = manifest::load(&[case.path().to_path_buf()]).unwrap();
    let sandbox = Sandbox::open(&case.db(), "userAccount:local-admin").unwrap();
    let mut secrets = SecretValues::new();
    for object in &loaded.model.objects {
        if let Some((SecretSource::File(path), _)) = &object.secret {
            let mut value = std::fs::read(path).unwrap();
            // As spherectl reads a `fromFile` secret: without its final line break.
            for end in [&b"\r\n"[..], b"\n"] {
                if value.ends_with(end) {
                    value.truncate(value.len() - end.len());
                    break;
                }
            }
            secrets.insert(object.address.clone(), SecretValue::new(value));
        }
    }
    let live = sandbox.read(&loaded.model.organization.id).unwrap();
    let digest = |value: &SecretValue| sandbox.secret_digest(value);
    let plan = plan::plan(&PlanInput {
        loaded: &loaded,
        live: &live,
        secrets: &secrets,
        digest: &digest,
        actor: sandbox.actor(),
        platform: sandbox.describe(),
        allow_delete: false,
    });
    assert!(!plan.is_denied(), "{:?}", plan.findings);
    // The quota drops after planning: the image create fails at apply.
    sandbox.set_quotas(&[("docker-images-per-community".into(), Some(0))]).unwrap();
    let options = ApplyOptions { parallelism: 4, interrupted: Arc::new(AtomicBool::new(false)) };
    let outcome = apply::apply(&plan, &sandbox, &secrets, &options, &|_| {});
    let failed: Vec<&str> = outcome.failed().into_iter().map(|(a, _)| a).collect();
    assert_eq!(failed, ["DockerImage/research/fraud-detection/scoring-env"]);
    assert!(outcome.failed()[0].1.contains("quota exceeded"), "{:?}", outcome.failed());
    let mut skipped: Vec<&str> = outcome.skipped().into_iter().map(|(a, _)| a).collect();
    skipped.sort_unstable();
    assert_eq!(
        skipped,
        [
            "Alias/research/fraud-detection/scoring",
            "DockerImage/research/fraud-detection/scoring-env#activate",
            "Node/research/fraud-detection/scorer",
        ]
    );
    assert_eq!(outcome.done(), plan.changes.len() - 4);
    // Independent branches finished: only the image branch remains.
    sandbox.set_quotas(&[("docker-images-per-community".into(), Some(3))]).unwrap();
    let plan = case.plan_json();
    assert_eq!(actions(&plan).len(), 4, "{plan:#}");
    assert_eq!(case.run(&["apply", ".", "--yes"]).code, 0);
    assert_eq!(case.run(&["drift", "."]).code, 0);
}

#[test]
fn a_subject_without_rights_is_refused_before_anything_is_applied() {
    let case = Case::example("quickstart");
    let apply = case.run_as(&["apply", ".", "--yes"], Some("userAccount:mallory"));
    assert_eq!(apply.code, 1);
    assert!(
        apply.stderr.contains("`userAccount:mallory` needs `editor` on organization"),
        "{}",
        apply.stderr
    );
    assert!(apply.stderr.contains("spherectl::rules::permission"), "{}", apply.stderr);
    // Nothing was applied: the admin's plan still creates everything.
    let plan = case.plan_json();
    assert!(actions(&plan).iter().any(|(a, o)| a == "create" && o == "Community/research"));
}

#[test]
fn publishing_needs_the_required_roles() {
    // Alice administers only `research`; publishing into `analytics` needs admin there too.
    let text = SHARED.replace(
        "kind: Community\nmetadata: {name: research}\n",
        "kind: Community\nmetadata: {name: research}\nspec:\n  members: [{subject: \"userAccount:alice\", role: admin}]\n",
    );
    let case = Case::files(&[("org.yaml", &text)]);
    assert_eq!(case.run(&["apply", ".", "--yes"]).code, 0);
    let plan = case.run_as(&["plan", "."], Some("userAccount:alice"));
    // Nothing to change, so nothing to check.
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let with_dataset = text.replace("spec: {sizeGb: 5}", "spec: {sizeGb: 5, publish: [analytics]}");
    std::fs::write(case.path().join("org.yaml"), with_dataset).unwrap();
    let denied = case.run_as(&["plan", "."], Some("userAccount:alice"));
    assert_eq!(denied.code, 1, "{}{}", denied.stdout, denied.stderr);
    assert!(denied.stderr.contains("spherectl::rules::publish_roles"), "{}", denied.stderr);
    assert!(denied.stderr.contains("needs `admin` in that community"), "{}", denied.stderr);
}

#[test]
fn a_saved_plan_applies_and_a_stale_one_is_refused() {
    let case = Case::example("quickstart");
    let plan_file = case.path().join("plan.json");
    let saved = case.run(&["plan", ".", "--out", plan_file.to_str().unwrap()]);
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    let text = std::fs::read_to_string(&plan_file).unwrap();
    assert!(!text.contains(SECRET));
    assert_eq!(case.run(&["apply", "--plan", plan_file.to_str().unwrap(), "--yes"]).code, 0);

    case.edit("project.yaml", "maxUnitsPerHour: 100", "maxUnitsPerHour: 300");
    assert_eq!(case.run(&["plan", ".", "--out", plan_file.to_str().unwrap()]).code, 0);
    // Someone changes the platform before the saved plan is applied.
    let sandbox = case.sandbox();
    let live = sandbox.read("bpf00000000quickstart").unwrap();
    let project = live.objects.iter().find(|o| o.kind == Kind::Project).unwrap();
    sandbox.set_balance(&project.id, 5).unwrap();
    drop(sandbox);
    let stale = case.run(&["apply", "--plan", plan_file.to_str().unwrap(), "--yes"]);
    assert_eq!(stale.code, 1);
    assert!(stale.stderr.contains("the saved plan is stale"), "{}", stale.stderr);
}

#[test]
fn apply_without_yes_refuses_when_stdin_is_not_a_terminal() {
    let case = Case::example("quickstart");
    let run = case.run(&["apply", "."]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("refusing to apply without confirmation"), "{}", run.stderr);
    assert!(!case.db().exists() || case.plan_json()["summary"]["create"].as_u64() > Some(0));
}

#[test]
fn a_missing_secret_variable_is_an_error_at_its_line() {
    let case = Case::files(&[("org.yaml", SHARED)]);
    let mut case = case;
    case.env.clear();
    let run = case.run(&["plan", "."]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("environment variable `APP_TOKEN` is not set"), "{}", run.stderr);
    assert!(run.stderr.contains("org.yaml:"), "{}", run.stderr);
    // And a missing file, for `fromFile`.
    let case = Case::example("quickstart");
    std::fs::remove_file(case.path().join("secrets/db-password.txt")).unwrap();
    let run = case.run(&["plan", "."]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("db-password.txt"), "{}", run.stderr);
    assert!(run.stderr.contains("resources.yaml:"), "{}", run.stderr);
}

#[test]
fn a_rename_with_renamed_from_updates_in_place() {
    let case = Case::files(&[("org.yaml", SHARED)]);
    assert_eq!(case.run(&["apply", ".", "--yes"]).code, 0);
    let renamed = SHARED.replace(
        "metadata: {name: events, project: research/models}",
        "metadata: {name: clicks, project: research/models, renamedFrom: events}",
    );
    std::fs::write(case.path().join("org.yaml"), renamed).unwrap();
    let plan = case.plan_json();
    assert_eq!(
        actions(&plan),
        [("update".to_owned(), "Dataset/research/models/clicks".to_owned())]
    );
    assert_eq!(plan["changes"][0]["fields"][0]["path"], "metadata.name");
    // Without renamedFrom: a delete and a create, with a hint.
    let case = Case::files(&[("org.yaml", SHARED)]);
    assert_eq!(case.run(&["apply", ".", "--yes"]).code, 0);
    std::fs::write(case.path().join("org.yaml"), SHARED.replace("name: events,", "name: clicks,"))
        .unwrap();
    let run = case.run(&["plan", "."]);
    assert!(run.stderr.contains("renamedFrom: events"), "{}", run.stderr);
}

#[test]
fn unknown_platforms_are_usage_errors_with_help() {
    let case = Case::example("quickstart");
    let run = case.run(&["plan", ".", "--platform", "ftp://x"]);
    assert_eq!(run.code, 64, "{}", run.stderr);
    assert!(run.stderr.contains("error: unknown platform `ftp://x`"), "{}", run.stderr);
    assert!(run.stderr.contains("help: expected `sandbox:PATH`"), "{}", run.stderr);
    let run = case.run(&["plan", ".", "--bogus"]);
    assert_eq!(run.code, 64);
}
