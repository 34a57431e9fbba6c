//! Adversarial review of `spherectl import` (issue 11): every kind and field round-trips
//! ("import, then plan is empty"), secrets are never written, odd names do not collide, `--out`
//! is handled as a careful user expects, and re-importing is stable.

use std::{collections::BTreeMap, path::Path};

use serde_json::json;
use spherectl::{manifest::Kind, platform::Platform};

use crate::{
    Case,
    import::{
        ACME, assert_no_secret_in, create, hand_made, plan_imported, secret_env, spherectl,
        variables, written,
    },
};

/// Secret values, one per secret (each distinct, so a swapped variable shows in the plan).
const VALUES: [(&str, &str, &str); 5] = [
    ("Secret/Data/models/db-token", "DB_DASH", "v4lue-dash-91c2"),
    ("Secret/Data/models/db_token", "DB_UNDERSCORE", "v4lue-underscore-5e7a"),
    ("Secret/Data/models/DB-token", "DB_UPPER", "v4lue-upper-0b3d"),
    ("Secret/Data/models/s3-key", "S3_KEY", "v4lue-s3-77aa"),
    ("Secret/data/serving/api-key", "API_KEY", "v4lue-api-e410"),
];

/// An organization that uses every kind and every optional field: non-default sharing, members
/// in all four roles, settings, limits, balance, labels, protection, publications across
/// communities, uses, deactivated resources, pinned and unpinned checkpoints, node env from
/// secrets, an S3 connection's secret, an alias with weights; communities named `Data` and
/// `data` (one file name apart), `organization`, one with no projects, a project with no
/// resources, and secrets whose names differ only by `-`, `_` or case.
const EVERYTHING: &str = r#"apiVersion: spherectl/v1
kind: Organization
metadata: {name: everything}
spec:
  id: bpf0000000000000acme
  sharing: {requiredRoles: {project: editor, community: developer}}
---
apiVersion: spherectl/v1
kind: Community
metadata: {name: Data, labels: {team: data, cost-center: "0123"}}
spec:
  description: "Upper case: yes # not a comment"
  zone: ru-central1-a
  billingAccount: dn2000000000000bill
  members:
    - {subject: "userAccount:alice", role: admin}
    - {subject: "userAccount:bob", role: editor}
    - {subject: "group:analysts", role: developer}
    - {subject: "serviceAccount:ci", role: viewer}
---
apiVersion: spherectl/v1
kind: Community
metadata: {name: data, lifecycle: {preventDestroy: true}}
spec:
  zone: ru-central1-a
  billingAccount: dn2000000000000bill
---
apiVersion: spherectl/v1
kind: Community
metadata: {name: organization}
spec:
  description: A community without projects
  billingAccount: dn2000000000000bill
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: models, community: Data, labels: {tier: critical}}
spec:
  description: Every setting
  settings:
    serviceAccount: aje00000000000000sa
    defaultFolder: b1g000000000folder
    subnet: e9b0000000000subnet
    staleExecTimeout: no-timeout
    securityGroups: [enp00000000000000sg, enp00000000000001sg]
    dataProcCluster: c9q0000000000dproc
    vmInactivityTimeout: 45m
    defaultDedicatedSpec: g1.1
    earlyAccess: true
  limits: {maxUnitsPerHour: 100, maxUnitsPerExecution: 10}
  balance: 1234
  members:
    - {subject: "userAccount:alice", role: admin}
    - {subject: "userAccount:bob", role: editor}
    - {subject: "group:analysts", role: developer}
    - {subject: "serviceAccount:ci", role: viewer}
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: empty, community: Data}
spec:
  settings: {earlyAccess: false, staleExecTimeout: one-hour}
  limits: {maxUnitsPerHour: 0}
  balance: 0
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: serving, community: data}
spec:
  uses:
    - {kind: Dataset, ref: Data/models/events}
    - {kind: Checkpoint, ref: Data/models/gbm-v1}
    - {kind: DockerImage, ref: Data/models/runtime}
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {name: events, project: Data/models, labels: {pii: "no"}}
spec:
  description: Active and published
  sizeGb: 20
  zone: ru-central1-a
  mountPath: /data/events
  initCode: |
    import os
    print("key: value")
  active: true
  publish: [data]
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {name: archive, project: Data/models}
spec:
  sizeGb: 5
  active: false
---
apiVersion: spherectl/v1
kind: Secret
metadata: {name: db-token, project: Data/models}
spec:
  description: dash
  value: {fromEnv: DB_DASH}
---
apiVersion: spherectl/v1
kind: Secret
metadata: {name: db_token, project: Data/models}
spec:
  description: underscore
  value: {fromEnv: DB_UNDERSCORE}
---
apiVersion: spherectl/v1
kind: Secret
metadata: {name: DB-token, project: Data/models}
spec:
  value: {fromEnv: DB_UPPER}
---
apiVersion: spherectl/v1
kind: Secret
metadata: {name: s3-key, project: Data/models}
spec:
  value: {fromEnv: S3_KEY}
---
apiVersion: spherectl/v1
kind: DockerImage
metadata: {name: runtime, project: Data/models}
spec:
  description: Active image
  repository: runtime
  tag: "1.0"
  buildPath: .
  dockerfile: |
    FROM python:3.11-slim
    RUN pip install lightgbm
  active: true
  publish: [data]
---
apiVersion: spherectl/v1
kind: DockerImage
metadata: {name: old-runtime, project: Data/models}
spec:
  repository: runtime
  tag: "0.9"
  dockerfile: "FROM python:3.10\n"
  active: false
---
apiVersion: spherectl/v1
kind: S3Connection
metadata: {name: lake, project: Data/models}
spec:
  description: The lake
  endpoint: https://storage.yandexcloud.net
  bucket: lake
  mountName: lake
  accessKeyId: YCAJE0000000000000000
  secretKey: {secret: s3-key}
  mode: read-write
  active: true
---
apiVersion: spherectl/v1
kind: Checkpoint
metadata: {name: gbm-v1, project: Data/models, lifecycle: {preventDestroy: true}}
spec:
  description: Pinned
  pinned: true
  publish: [data]
---
apiVersion: spherectl/v1
kind: Checkpoint
metadata: {name: gbm-v2, project: Data/models}
spec:
  pinned: false
---
apiVersion: spherectl/v1
kind: Secret
metadata: {name: api-key, project: data/serving}
spec:
  value: {fromEnv: API_KEY}
---
apiVersion: spherectl/v1
kind: Node
metadata: {name: scorer-a, project: data/serving}
spec:
  description: From the shared image
  source: {dockerImage: Data/models/runtime}
  instanceType: c1.8
  instances: {min: 1, max: 3}
  zone: ru-central1-a
  subnet: e9b0000000000subnet
  folder: b1g000000000folder
  acl: [b1g000000000folder, b1g000000000other]
  env: [api-key]
  endpoint: {type: grpc, port: 9090}
  healthCheck: {type: grpc, port: 9090, timeout: 3, interval: 7, failsThreshold: 4, passesThreshold: 5}
---
apiVersion: spherectl/v1
kind: Node
metadata: {name: scorer-b, project: data/serving}
spec:
  source: {checkpoint: Data/models/gbm-v1}
  instanceType: c1.4
  instances: {min: 1, max: 1}
  endpoint: {type: http, port: 8080}
  healthCheck: {type: http, path: /health, port: 8080}
---
apiVersion: spherectl/v1
kind: Alias
metadata: {name: scorer, project: data/serving, labels: {tier: critical}}
spec:
  description: Split 70/30
  backends:
    - {node: scorer-a, weight: 70}
    - {node: scorer-b, weight: 30}
  folder: b1g000000000folder
  acl: [b1g000000000other]
"#;

/// The `EVERYTHING` organization, applied.
fn everything() -> Case {
    let mut case = Case::files(&[("everything.yaml", EVERYTHING)]);
    case.env =
        VALUES.iter().map(|(_, var, value)| ((*var).to_owned(), (*value).to_owned())).collect();
    let apply = case.run(&["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    case
}

fn secret_values() -> BTreeMap<String, String> {
    VALUES.iter().map(|(address, _, value)| ((*address).to_owned(), (*value).to_owned())).collect()
}

/// Every kind and every optional field survives the trip: import, then plan is empty.
#[test]
fn import_of_every_kind_and_field_plans_empty() {
    let case = everything();
    let run = spherectl(&case, &["import", "--organization", ACME, "--out", "imported"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let files = written(&case);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["data-2.yaml", "data.yaml", "organization-2.yaml", "organization.yaml"],
        "{}",
        run.stderr
    );
    let values = secret_values();
    assert_no_secret_in(&files, &values);
    for (_, _, value) in VALUES {
        assert!(!run.stderr.contains(value) && !run.stdout.contains(value), "{}", run.stderr);
    }
    // Three secrets whose names differ only by `-`, `_` or case: three distinct variables.
    let listed = variables(&run);
    assert_eq!(listed.len(), VALUES.len(), "{}", run.stderr);
    let distinct: std::collections::BTreeSet<&String> = listed.values().collect();
    assert_eq!(distinct.len(), VALUES.len(), "{listed:?}");
    let env = secret_env(&run, &values);
    let plan = plan_imported(&case, &env);
    let all: String = files.iter().map(|(n, t)| format!("==> {n} <==\n{t}")).collect();
    assert_eq!(plan.code, 0, "{}{}\n{all}", plan.stdout, plan.stderr);
}

/// The live id of the object of `kind` named `name`.
fn id_of(case: &Case, kind: Kind, name: &str) -> String {
    let live = case.sandbox().read(ACME).unwrap();
    crate::support::id_of(&live, kind, name)
}

/// Other sets' objects around and inside ours: they are skipped and listed, a publication into
/// another set's community is written by id, and the plan of what is written is empty.
#[test]
fn import_beside_another_sets_objects_plans_empty() {
    let case = everything();
    let sandbox = case.sandbox();
    let other = [("managed-by", "spherectl"), ("spherectl-set", "other-team")];
    let zone = json!({"spec.zone": "ru-central1-a"});
    let theirs = create(&sandbox, Kind::Community, ACME, "theirs", &other, zone);
    let shared = create(&sandbox, Kind::Project, &theirs, "shared", &other, json!({}));
    create(&sandbox, Kind::Dataset, &shared, "their-data", &other, json!({"spec.sizeGb": 1}));
    let data = id_of(&case, Kind::Community, "Data");
    let intruder = create(&sandbox, Kind::Project, &data, "intruder", &other, json!({}));
    create(&sandbox, Kind::Secret, &intruder, "their-secret", &other, json!({}));
    // Ours, published into their community.
    let events = id_of(&case, Kind::Dataset, "events");
    sandbox.publish(Kind::Dataset, &events, &theirs).unwrap();
    drop(sandbox);

    let run = spherectl(
        &case,
        &["import", "--organization", ACME, "--out", "imported", "--set", "everything"],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for skipped in [
        "Community/theirs  (other-team)",
        "Project/theirs/shared  (other-team)",
        "Dataset/theirs/shared/their-data  (other-team)",
        "Project/Data/intruder  (other-team)",
        "Secret/Data/intruder/their-secret  (other-team)",
    ] {
        assert!(run.stderr.contains(skipped), "{skipped}: {}", run.stderr);
    }
    let files = written(&case);
    assert!(!files.values().any(|t| t.contains("intruder") || t.contains("their-")));
    assert!(
        files["data.yaml"].contains(&format!("publish:\n    - data\n    - {{id: {theirs}}}\n")),
        "{}",
        files["data.yaml"]
    );
    assert_eq!(variables(&run).len(), VALUES.len(), "another set's secret gets no variable");
    let plan = plan_imported(&case, &secret_env(&run, &secret_values()));
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
}

/// An object of our set inside another set's object (a dataset of ours in their project)
/// cannot be written without its parent; the plan of the imported files would delete it, so
/// the import says so.
#[test]
fn import_warns_about_our_objects_inside_another_sets_objects() {
    let case = everything();
    let sandbox = case.sandbox();
    let other = [("managed-by", "spherectl"), ("spherectl-set", "other-team")];
    let ours = [("managed-by", "spherectl"), ("spherectl-set", "everything")];
    let data = id_of(&case, Kind::Community, "Data");
    let intruder = create(&sandbox, Kind::Project, &data, "intruder", &other, json!({}));
    create(&sandbox, Kind::Dataset, &intruder, "stranded", &ours, json!({"spec.sizeGb": 1}));
    drop(sandbox);
    let run = spherectl(
        &case,
        &["import", "--organization", ACME, "--out", "imported", "--set", "everything"],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("Dataset/Data/intruder/stranded  (this set's, inside Project/Data/intruder of `other-team`)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("warning: Dataset/Data/intruder/stranded is managed by the set `everything`, but it is inside Project/Data/intruder, which the set `other-team` manages")
            && run.stderr.contains("a plan of these manifests would delete it"),
        "{}",
        run.stderr
    );
    // The warning is true: the plan deletes it, and only it.
    let plan = plan_imported(&case, &secret_env(&run, &secret_values()));
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("delete Dataset/Data/intruder/stranded"), "{}", plan.stdout);
    assert!(plan.stdout.contains("Plan: 1 change (1 delete)"), "{}", plan.stdout);
}

/// Runs `import --organization ACME --out OUT ARGS...` in the case's directory.
fn import_into(case: &Case, out: &str, args: &[&str]) -> crate::Run {
    let mut all = vec!["import", "--organization", ACME, "--out", out];
    all.extend(args);
    spherectl(case, &all, &[])
}

/// Names in a directory, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `--force` replaces a directory of manifests (a previous import), never a user's repository:
/// a directory that holds `.git`, other files or subdirectories is refused, untouched.
#[test]
fn import_force_never_deletes_a_git_repository_or_other_files() {
    let case = everything();
    let out = case.path().join("repo");
    std::fs::create_dir_all(out.join(".git/refs")).unwrap();
    std::fs::write(out.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(out.join("README.md"), "my notes").unwrap();
    std::fs::write(out.join("old.yaml"), "kind: x").unwrap();
    let refused = import_into(&case, "repo", &["--force"]);
    assert_eq!(refused.code, 64, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("refusing to replace `repo`: it holds more than manifests (.git, README.md)"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--force replaces only a directory of YAML files"),
        "{}",
        refused.stderr
    );
    assert_eq!(listing(&out), [".git", "README.md", "old.yaml"]);
    assert_eq!(std::fs::read_to_string(out.join(".git/HEAD")).unwrap(), "ref: refs/heads/main\n");
    assert_eq!(listing(case.path()).iter().filter(|n| n.starts_with(".repo")).count(), 0);
    // A directory of YAML files only (a previous import) is replaced.
    std::fs::remove_dir_all(out.join(".git")).unwrap();
    std::fs::remove_file(out.join("README.md")).unwrap();
    let replaced = import_into(&case, "repo", &["--force"]);
    assert_eq!(replaced.code, 0, "{}", replaced.stderr);
    assert!(!out.join("old.yaml").exists());
    assert!(out.join("organization.yaml").exists());
}

/// `--out` a symbolic link to a directory: the files are written into the directory it points
/// to, and the link stays a link.
#[test]
fn import_out_through_a_symlink_writes_into_its_directory() {
    let case = everything();
    let real = case.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink("real", case.path().join("link")).unwrap();
    let run = import_into(&case, "link", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(std::fs::symlink_metadata(case.path().join("link")).unwrap().is_symlink());
    assert_eq!(
        listing(&real),
        ["data-2.yaml", "data.yaml", "organization-2.yaml", "organization.yaml"]
    );
    // Not empty now: refused without --force, replaced with it, the link still a link.
    let refused = import_into(&case, "link", &[]);
    assert_eq!(refused.code, 64, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("refusing to overwrite: `link` is not empty"),
        "{}",
        refused.stderr
    );
    let forced = import_into(&case, "link", &["--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(std::fs::symlink_metadata(case.path().join("link")).unwrap().is_symlink());
    assert_eq!(listing(&real).len(), 4);
    // A link to a file is not a directory; a dangling link says where it points.
    std::fs::write(case.path().join("file"), "x").unwrap();
    std::os::unix::fs::symlink("file", case.path().join("to-file")).unwrap();
    let to_file = import_into(&case, "to-file", &["--force"]);
    assert_eq!(to_file.code, 64, "{}", to_file.stderr);
    assert!(
        to_file.stderr.contains("`to-file` exists and is not a directory"),
        "{}",
        to_file.stderr
    );
    std::os::unix::fs::symlink("nowhere", case.path().join("dangling")).unwrap();
    let dangling = import_into(&case, "dangling", &[]);
    assert_eq!(dangling.code, 64, "{}", dangling.stderr);
    assert!(
        dangling
            .stderr
            .contains("`dangling` is a symbolic link to `nowhere`, which does not exist"),
        "{}",
        dangling.stderr
    );
    assert_eq!(std::fs::read_to_string(case.path().join("file")).unwrap(), "x");
}

/// `--out` under a file cannot be written: an error (exit 1) before the platform is read, and
/// nothing is left behind.
#[test]
fn import_out_under_a_file_fails_and_leaves_nothing() {
    let case = everything();
    std::fs::write(case.path().join("file"), "x").unwrap();
    let before = listing(case.path());
    let run = import_into(&case, "file/imported", &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("cannot write `file/imported`"), "{}", run.stderr);
    assert_eq!(listing(case.path()), before);
}

/// Several imports into one new directory at the same time, without `--force`: one writes it,
/// the others are refused; none overwrites another's directory.
#[test]
fn concurrent_imports_into_one_directory_never_overwrite_each_other() {
    let case = everything();
    let children: Vec<_> = (0..6)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_spherectl"))
                .env_clear()
                .env("NO_COLOR", "1")
                .current_dir(case.path())
                .args(["import", "--organization", ACME, "--out", "shared"])
                .arg("--platform")
                .arg(format!("sandbox:{}", case.db().display()))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let codes: Vec<i32> = outputs.iter().map(|o| o.status.code().unwrap_or(-1)).collect();
    let stderr: String =
        outputs.iter().map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).collect();
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "{codes:?}\n{stderr}");
    assert!(codes.iter().all(|c| *c == 0 || *c == 64), "{codes:?}\n{stderr}");
    assert_eq!(listing(&case.path().join("shared")).len(), 4);
    let leftovers: Vec<String> =
        listing(case.path()).into_iter().filter(|n| n.starts_with(".shared")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Import, apply the imported files, import again: the same files, byte for byte; for a set's
/// organization and for one no set managed (the apply claims it).
#[test]
fn reimport_after_applying_the_import_is_byte_identical() {
    for managed in [true, false] {
        let case = if managed {
            everything()
        } else {
            let case = Case::files(&[]);
            drop(hand_made(&case));
            case
        };
        let values = if managed {
            secret_values()
        } else {
            BTreeMap::from([("Secret/research/models/token".to_owned(), crate::SECRET.to_owned())])
        };
        let first = import_into(&case, "imported", &[]);
        assert_eq!(first.code, 0, "{}", first.stderr);
        let before = written(&case);
        let env = secret_env(&first, &values);
        let apply = spherectl(&case, &["apply", "imported", "--yes"], &env);
        assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
        let again = import_into(&case, "imported", &["--force"]);
        assert_eq!(again.code, 0, "{}", again.stderr);
        let after = written(&case);
        assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>());
        for (name, text) in &before {
            assert_eq!(text, &after[name], "{name} changed on re-import (managed: {managed})");
        }
        assert_eq!(variables(&first), variables(&again));
        assert_eq!(plan_imported(&case, &env).code, 0);
    }
}

/// A secret's variable does not depend on the other secrets: a new secret whose name differs
/// only by `-`, `_` or case from existing ones does not shift their variables on re-import
/// (a user's CI would otherwise feed one secret's value to another).
#[test]
fn secret_variables_stay_put_when_a_similar_secret_appears() {
    let case = everything();
    let first = import_into(&case, "imported", &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let before = variables(&first);
    let models = id_of(&case, Kind::Project, "models");
    create(&case.sandbox(), Kind::Secret, &models, "DB_token", &[], json!({}));
    let again = import_into(&case, "imported", &["--force"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let after = variables(&again);
    for (address, variable) in &before {
        assert_eq!(
            after.get(address),
            Some(variable),
            "{address} changed its variable:\n{}",
            again.stderr
        );
    }
    assert_eq!(after.len(), before.len() + 1);
    let distinct: std::collections::BTreeSet<&String> = after.values().collect();
    assert_eq!(distinct.len(), after.len(), "{after:?}");
}

/// Runs spherectl in `dir` with `env` and no `--platform` added: the default sandbox.
fn default_platform(dir: &Path, args: &[&str], env: &[(String, String)]) -> crate::Run {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_spherectl"))
        .env_clear()
        .env("NO_COLOR", "1")
        .env("COLUMNS", "200")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    crate::Run::of(&output)
}

/// Import where no sandbox is (another directory than the one `apply` ran in, or a mistyped
/// `sandbox:PATH`): an error that says where it looked, not manifests for an empty
/// organization.
#[test]
fn import_where_there_is_no_sandbox_is_an_error_not_an_empty_organization() {
    let dir = tempfile::tempdir().unwrap();
    let run = default_platform(dir.path(), &["import", "--organization", ACME, "--out", "x"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "there is no sandbox database at `./.spherectl/sandbox.db`: nothing to import"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("run `spherectl import` where `spherectl apply` ran"),
        "{}",
        run.stderr
    );
    assert_eq!(listing(dir.path()), Vec::<String>::new(), "nothing written, no sandbox created");
    let typo = default_platform(
        dir.path(),
        &["import", "--organization", ACME, "--out", "x", "--platform", "sandbox:typo.db"],
        &[],
    );
    assert_eq!(typo.code, 1, "{}", typo.stderr);
    assert!(typo.stderr.contains("no sandbox database at `typo.db`"), "{}", typo.stderr);
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

/// With the default sandbox, `plan OUT` would use `OUT/.spherectl/sandbox.db` (an empty
/// sandbox) and fail on every `metadata.id`: the import says which command plans the result
/// against the organization it read, and that command plans empty.
#[test]
fn import_from_the_default_sandbox_says_how_to_plan_the_result() {
    let case = everything();
    let run = default_platform(
        case.path(),
        &["import", "--organization", ACME, "--out", "imported"],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let command = "spherectl plan imported --platform sandbox:.spherectl/sandbox.db";
    assert!(run.stderr.contains(command), "{}", run.stderr);
    let env = secret_env(&run, &secret_values());
    let plan = default_platform(
        case.path(),
        &["plan", "imported", "--platform", "sandbox:.spherectl/sandbox.db", "--detailed-exitcode"],
        &env,
    );
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    // As the note says, without `--platform` the plan reads an empty sandbox beside the files.
    let wrong = default_platform(case.path(), &["plan", "imported", "--detailed-exitcode"], &env);
    assert_eq!(wrong.code, 1, "{}{}", wrong.stdout, wrong.stderr);
}

/// A community whose name holds `/` (the platform allows it) cannot be addressed in manifests
/// (`community/project/name`): it is skipped with a warning that says why, and what is written
/// still plans empty, instead of manifests that do not validate.
#[test]
fn import_skips_a_community_whose_name_manifests_cannot_address() {
    let case = everything();
    let sandbox = case.sandbox();
    let zone = json!({"spec.zone": "ru-central1-a"});
    let slashed = create(&sandbox, Kind::Community, ACME, "ab/cd", &[], zone);
    let project = create(&sandbox, Kind::Project, &slashed, "p", &[], json!({}));
    create(&sandbox, Kind::Dataset, &project, "d", &[], json!({"spec.sizeGb": 1}));
    drop(sandbox);
    let run = import_into(&case, "imported", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("warning: Community/ab/cd is not written: its name holds `/`"),
        "{}",
        run.stderr
    );
    let files = written(&case);
    assert!(!files.values().any(|t| t.contains("ab/cd")), "{files:?}");
    let plan = plan_imported(&case, &secret_env(&run, &secret_values()));
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
}

/// `--set` naming a set that manages nothing there: every community is another set's and
/// skipped; the import lists them and does not claim the organization has no communities.
#[test]
fn import_of_a_set_that_manages_nothing_lists_the_skipped_communities() {
    let case = everything();
    let run = import_into(&case, "imported", &["--set", "newcomer"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("Imported 0 objects"), "{}", run.stderr);
    assert!(run.stderr.contains("Community/Data  (everything)"), "{}", run.stderr);
    assert!(!run.stderr.contains("has no communities"), "{}", run.stderr);
    assert_eq!(written(&case).keys().collect::<Vec<_>>(), ["organization.yaml"]);
}
