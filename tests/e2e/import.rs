//! `spherectl import` (issue 11): manifests written from a live organization plan clean against
//! it, never hold a secret value, and are written whole or not at all.
//!
//! Every command here names its platform itself (the imported manifests live in a directory of
//! their own, without a sandbox beside them): the case's sandbox database, or with
//! `SPHERECTL_E2E_OVER_HTTP=1` a `spherectl serve` of it.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::{Value, json};
use spherectl::{
    manifest::{self, Kind, model::SecretSource},
    platform::{CreateRequest, Platform, SecretValue, sandbox::Sandbox},
    rules::Role,
};

use crate::{Case, Run, SECRET, http};

pub(crate) const ACME: &str = "bpf0000000000000acme";

/// Runs spherectl in the case's directory against the case's platform, with `env` added.
pub(crate) fn spherectl(case: &Case, args: &[&str], env: &[(String, String)]) -> Run {
    let mut command = crate::support::spherectl(case.path(), args);
    if !args.contains(&"--platform") {
        if http::over_http() {
            command.args(["--platform", &http::shared_server(&case.db())]);
            command.env("SPHERECTL_TOKEN", http::token_for(None));
        } else {
            command.arg("--platform").arg(format!("sandbox:{}", case.db().display()));
        }
    }
    for (name, value) in case.env.iter().chain(env) {
        command.env(name, value);
    }
    let run = Run::of(&command.output().unwrap());
    assert!(
        !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
        "a secret value leaked into the output of {args:?}"
    );
    run
}

/// `import --organization ORG --out imported ARGS...`, which must succeed.
pub(crate) fn import(case: &Case, organization: &str, args: &[&str]) -> Run {
    let mut all = vec!["import", "--organization", organization, "--out", "imported"];
    all.extend(args);
    let run = spherectl(case, &all, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.is_empty(), "import writes files, not stdout: {}", run.stdout);
    run
}

/// The variables the import listed (`  VARIABLE  Secret/ADDRESS`), by secret address.
pub(crate) fn variables(run: &Run) -> BTreeMap<String, String> {
    run.stderr
        .lines()
        .filter_map(|line| {
            let (variable, address) = line.trim().split_once("  ")?;
            variable
                .starts_with("SPHERECTL_SECRET_")
                .then(|| (address.trim().to_owned(), variable.to_owned()))
        })
        .collect()
}

/// The secret values of the manifests in `dir`, by address (as spherectl reads them).
fn secret_values(case: &Case) -> BTreeMap<String, String> {
    let loaded = manifest::load(&[case.path().to_path_buf()]).unwrap();
    let mut values = BTreeMap::new();
    for object in &loaded.model.objects {
        let value = match &object.secret {
            Some((SecretSource::Env(name), _)) => {
                case.env.iter().find(|(n, _)| n == name).unwrap().1.clone()
            }
            Some((SecretSource::File(path), _)) => {
                std::fs::read_to_string(path).unwrap().trim_end_matches('\n').to_owned()
            }
            None => continue,
        };
        values.insert(object.address.to_string(), value);
    }
    values
}

/// The environment that gives each listed variable the secret's value.
pub(crate) fn secret_env(run: &Run, values: &BTreeMap<String, String>) -> Vec<(String, String)> {
    variables(run)
        .into_iter()
        .map(|(address, variable)| {
            let value = values.get(&address).unwrap_or_else(|| panic!("no value for {address}"));
            (variable, value.clone())
        })
        .collect()
}

/// Every written file, by name.
pub(crate) fn written(case: &Case) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(case.path().join("imported")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        files.insert(name, std::fs::read_to_string(entry.path()).unwrap());
    }
    files
}

pub(crate) fn assert_no_secret_in(
    files: &BTreeMap<String, String>,
    values: &BTreeMap<String, String>,
) {
    for (name, text) in files {
        for value in values.values().chain([&SECRET.to_owned()]) {
            assert!(!text.contains(value.as_str()), "{name} holds a secret value");
        }
    }
}

/// `plan imported --detailed-exitcode` with `env`.
pub(crate) fn plan_imported(case: &Case, env: &[(String, String)]) -> Run {
    spherectl(case, &["plan", "imported", "--detailed-exitcode"], env)
}

pub(crate) fn plan_json(case: &Case, env: &[(String, String)]) -> Value {
    let run = spherectl(case, &["plan", "imported", "--format", "json"], env);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

#[test]
fn import_of_an_applied_example_plans_clean() {
    let case = Case::applied_example("multi-team");
    let values = secret_values(&case);
    let run = import(&case, ACME, &[]);
    assert!(run.stderr.contains("as the manifest set `acme`"), "{}", run.stderr);
    let files = written(&case);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["analytics.yaml", "organization.yaml", "platform.yaml", "research.yaml"]);
    assert_eq!(variables(&run).len(), values.len(), "every secret gets a variable: {}", run.stderr);
    assert_no_secret_in(&files, &values);
    // Protection recorded on the platform comes back as `preventDestroy`.
    assert!(
        files["analytics.yaml"].contains("lifecycle: {preventDestroy: true}"),
        "{}",
        files["analytics.yaml"]
    );
    assert!(!files.values().any(|t| t.contains("managed-by") || t.contains("spherectl-set:")));
    let env = secret_env(&run, &values);
    let plan = plan_imported(&case, &env);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    let on = if http::over_http() { " on http://" } else { " on sandbox:" };
    assert!(plan.stdout.contains(on), "{}", plan.stdout);
    // Without the variables, the plan says which are missing.
    let missing = plan_imported(&case, &[]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("SPHERECTL_SECRET_ANALYTICS_WAREHOUSE_DWH_READONLY_PASSWORD"));
}

#[test]
fn import_of_the_quickstart_writes_these_files() {
    let case = Case::applied_example("quickstart");
    let values = secret_values(&case);
    let run = import(&case, "bpf00000000quickstart", &[]);
    let files = written(&case);
    let mut text = String::new();
    for (name, content) in &files {
        text.push_str(&format!("==> {name} <==\n{content}"));
    }
    // Ids are random: each becomes its kind and its order of appearance.
    let live = case.sandbox().read("bpf00000000quickstart").unwrap();
    let mut ids: Vec<(usize, &str, Kind)> = live
        .objects
        .iter()
        .filter_map(|o| text.find(&o.id).map(|at| (at, o.id.as_str(), o.kind)))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids.len(), live.objects.len(), "every object is written with its id");
    for (n, (_, id, kind)) in ids.iter().enumerate() {
        text = text.replace(id, &format!("[{kind}-{}]", n + 1));
    }
    insta::assert_snapshot!(text);
    let env = secret_env(&run, &values);
    let plan = plan_imported(&case, &env);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
}

/// Creates an object through the platform API, as the console would: no spherectl labels.
pub(crate) fn create(
    sandbox: &Sandbox,
    kind: Kind,
    parent: &str,
    name: &str,
    labels: &[(&str, &str)],
    attributes: Value,
) -> String {
    let attributes =
        attributes.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    sandbox
        .create(&CreateRequest {
            kind,
            parent_id: parent.to_owned(),
            name: name.to_owned(),
            labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            attributes,
            secret: (kind == Kind::Secret).then(|| SecretValue::new(SECRET.as_bytes().to_vec())),
        })
        .unwrap_or_else(|e| panic!("create {kind} {name}: {e}"))
}

/// An organization built with plain API calls: two communities with a project each, a secret
/// published from one to the other and used there, a dataset, members, a balance.
pub(crate) fn hand_made(case: &Case) -> Sandbox {
    let sandbox = case.sandbox();
    sandbox.read(ACME).unwrap();
    let zone = json!({"spec.zone": "ru-central1-a"});
    let research =
        create(&sandbox, Kind::Community, ACME, "research", &[("team", "research")], zone.clone());
    sandbox.add_member(Kind::Community, &research, "userAccount:alice", Role::Admin).unwrap();
    let analytics = create(&sandbox, Kind::Community, ACME, "analytics", &[], zone);
    let models = create(
        &sandbox,
        Kind::Project,
        &research,
        "models",
        &[],
        json!({"spec.description": "Made in the console", "spec.limits.maxUnitsPerHour": 40}),
    );
    sandbox.set_balance(&models, 500).unwrap();
    sandbox.add_member(Kind::Project, &models, "serviceAccount:ci", Role::Editor).unwrap();
    let reports = create(&sandbox, Kind::Project, &analytics, "reports", &[], json!({}));
    let token = create(&sandbox, Kind::Secret, &models, "token", &[], json!({}));
    sandbox.publish(Kind::Secret, &token, &analytics).unwrap();
    sandbox.use_resource(&reports, Kind::Secret, &token).unwrap();
    let events = create(&sandbox, Kind::Dataset, &models, "events", &[], json!({"spec.sizeGb": 5}));
    sandbox.set_active(Kind::Dataset, &events, true).unwrap();
    sandbox
}

/// A community of another manifest set.
fn other_sets_community(case: &Case) {
    let sandbox = case.sandbox();
    create(
        &sandbox,
        Kind::Community,
        ACME,
        "others",
        &[("managed-by", "spherectl"), ("spherectl-set", "other-team")],
        json!({"spec.zone": "ru-central1-a"}),
    );
}

#[test]
fn import_of_unmanaged_objects_plans_only_the_ownership_labels() {
    let case = Case::files(&[]);
    drop(hand_made(&case));
    let run = import(&case, ACME, &[]);
    // No set manages anything: the set is named after the organization id.
    assert!(run.stderr.contains("as the manifest set `bpf0000000000000acme`"), "{}", run.stderr);
    assert!(run.stderr.contains("6 of them no manifest set managed yet"), "{}", run.stderr);
    assert!(run.stderr.contains("No manifest set manages objects there yet"), "{}", run.stderr);
    let files = written(&case);
    assert!(files["research.yaml"].contains("publish: [analytics]"), "{}", files["research.yaml"]);
    assert!(files["analytics.yaml"].contains("{kind: Secret, ref: research/models/token}"));
    let values = BTreeMap::from([("Secret/research/models/token".to_owned(), SECRET.to_owned())]);
    assert_no_secret_in(&files, &values);
    let env = secret_env(&run, &values);
    let plan = plan_json(&case, &env);
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 6, "one label update per object: {plan:#}");
    for change in changes {
        assert_eq!(change["action"], "update", "{change:#}");
        let paths: Vec<&str> = change["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            ["metadata.labels.managed-by", "metadata.labels.spherectl-set"],
            "{change:#}"
        );
    }
    // Applied, the set owns them and the next plan is empty.
    let apply = spherectl(&case, &["apply", "imported", "--yes"], &env);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    assert_eq!(plan_imported(&case, &env).code, 0);

    // Another set appears: two sets manage objects now, and `--set` must choose.
    other_sets_community(&case);
    let forced = ["import", "--organization", ACME, "--out", "imported", "--force"];
    let ambiguous = spherectl(&case, &forced, &[]);
    assert_eq!(ambiguous.code, 64, "{}", ambiguous.stderr);
    assert!(
        ambiguous.stderr.contains("`bpf0000000000000acme` (6 objects), `other-team` (1 objects)"),
        "{}",
        ambiguous.stderr
    );
    assert!(ambiguous.stderr.contains("--set NAME"), "{}", ambiguous.stderr);
    let mut chosen = forced.to_vec();
    chosen.extend(["--set", "bpf0000000000000acme"]);
    let again = spherectl(&case, &chosen, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("Community/others  (other-team)"), "{}", again.stderr);
    assert!(!again.stderr.contains("no manifest set managed yet"), "{}", again.stderr);
    assert!(!written(&case).contains_key("others.yaml"));
    assert_eq!(plan_imported(&case, &env).code, 0);
    let live = case.sandbox().read(ACME).unwrap();
    let others = live.objects.iter().find(|o| o.name == "others").unwrap();
    assert_eq!(others.labels["spherectl-set"], "other-team");
}

#[test]
fn import_of_one_community_writes_only_that_community() {
    let case = Case::files(&[]);
    drop(hand_made(&case));
    let run = import(&case, ACME, &["--community", "analytics", "--set", "analytics-team"]);
    assert!(run.stderr.contains("as the manifest set `analytics-team`"), "{}", run.stderr);
    let files = written(&case);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["analytics.yaml", "organization.yaml"]);
    assert!(files["organization.yaml"].contains("metadata: {name: analytics-team}"));
    // The project uses research's secret, which is not written: said in the file, and used by
    // its id, so that the plan keeps the use.
    let live = case.sandbox().read(ACME).unwrap();
    let token = &live.objects.iter().find(|o| o.name == "token").unwrap().id;
    let analytics = &files["analytics.yaml"];
    assert!(analytics.contains("# uses Secret/research/models/token by id: not written"));
    assert!(analytics.contains(&format!("- {{kind: Secret, id: {token}}}")), "{analytics}");
    let plan = plan_json(&case, &[]);
    let actions: Vec<&Value> = plan["changes"].as_array().unwrap().iter().collect();
    assert!(actions.iter().all(|c| c["action"] != "unuse"), "{plan:#}");
    // An unknown community is a usage error that lists the known ones.
    let unknown = spherectl(
        &case,
        &["import", "--organization", ACME, "--out", "other", "--community", "nope"],
        &[],
    );
    assert_eq!(unknown.code, 64, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("the organization has no community `nope`"),
        "{}",
        unknown.stderr
    );
    assert!(unknown.stderr.contains("analytics, research"), "{}", unknown.stderr);
    assert!(!case.path().join("other").exists());

    // Research alone: its secret is published to analytics, which is not written, so the
    // publication names analytics by id; planned, only the ownership labels change.
    let run = spherectl(
        &case,
        &[
            "import",
            "--organization",
            ACME,
            "--out",
            "imported",
            "--force",
            "--community",
            "research",
            "--set",
            "research-team",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let analytics = case.sandbox().read(ACME).unwrap();
    let analytics_id = &analytics.objects.iter().find(|o| o.name == "analytics").unwrap().id;
    let files = written(&case);
    assert!(
        files["research.yaml"].contains(&format!("publish:\n    - {{id: {analytics_id}}}\n")),
        "{}",
        files["research.yaml"]
    );
    let values = BTreeMap::from([("Secret/research/models/token".to_owned(), SECRET.to_owned())]);
    let plan = plan_json(&case, &secret_env(&run, &values));
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 4, "{plan:#}");
    assert!(changes.iter().all(|c| c["action"] == "update"), "{plan:#}");
}

#[test]
fn import_refuses_a_non_empty_directory_without_force() {
    let case = Case::applied_example("quickstart");
    let out = case.path().join("imported");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let refused = spherectl(
        &case,
        &["import", "--organization", "bpf00000000quickstart", "--out", "imported"],
        &[],
    );
    assert_eq!(refused.code, 64, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("refusing to overwrite: `imported` is not empty"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1, "nothing was written");
    // A file in the way is refused too, even with --force.
    std::fs::write(case.path().join("file"), "x").unwrap();
    let file = spherectl(
        &case,
        &["import", "--organization", "bpf00000000quickstart", "--out", "file", "--force"],
        &[],
    );
    assert_eq!(file.code, 64, "{}", file.stderr);
    // Forced: a directory with more than YAML files is not replaced either (see
    // adversary6::import_force_never_deletes_a_git_repository_or_other_files); one of YAML
    // files is replaced whole.
    std::fs::rename(out.join("notes.txt"), out.join("notes.yaml")).unwrap();
    import(&case, "bpf00000000quickstart", &["--force"]);
    assert!(!out.join("notes.yaml").exists());
    assert!(out.join("research.yaml").exists());
    // Nothing is left beside it (no temporary or old directory).
    let hidden: Vec<String> = std::fs::read_dir(case.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".") && n != ".spherectl")
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[test]
fn import_usage_errors_exit_64_and_platform_errors_exit_1() {
    let case = Case::files(&[]);
    let missing = spherectl(&case, &["import", "--out", "x"], &[]);
    assert_eq!(missing.code, 64, "{}", missing.stderr);
    for out in [".", ".."] {
        let unnamed = spherectl(&case, &["import", "--organization", ACME, "--out", out], &[]);
        assert_eq!(unnamed.code, 64, "{out}: {}", unnamed.stderr);
        assert!(unnamed.stderr.contains("names no new directory"), "{}", unnamed.stderr);
    }
    let bad_set = spherectl(&case, &["import", "--organization", ACME, "--set", "Bad Name"], &[]);
    assert_eq!(bad_set.code, 64, "{}", bad_set.stderr);
    assert!(bad_set.stderr.contains("invalid manifest set name `Bad Name`"), "{}", bad_set.stderr);
    // A platform that cannot be reached is an error, and nothing is written.
    let down = spherectl(
        &case,
        &["import", "--organization", ACME, "--out", "x", "--platform", "http://127.0.0.1:9"],
        &[("SPHERECTL_TOKEN".into(), "t".into())],
    );
    assert_eq!(down.code, 1, "{}", down.stderr);
    assert!(!case.path().join("x").exists());
}

/// A kill or a Ctrl-C at any moment leaves no directory, or a complete one; after a Ctrl-C
/// nothing else is left either (the temporary directory is removed).
#[test]
fn import_killed_half_way_leaves_no_half_written_directory() {
    let case = Case::applied_example("multi-team");
    let mut complete = None;
    for (round, delay_ms) in [0u64, 2, 5, 10, 20, 40, 80, 150].into_iter().enumerate() {
        let interrupt = round % 2 == 1;
        let out = format!("killed-{delay_ms}");
        let mut command = Command::new(env!("CARGO_BIN_EXE_spherectl"));
        command
            .env_clear()
            .current_dir(case.path())
            .args(["import", "--organization", ACME, "--out", &out])
            .arg("--platform")
            .arg(format!("sandbox:{}", case.db().display()))
            .stderr(std::process::Stdio::null());
        let mut child = command.spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        if interrupt {
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        } else {
            let _ = child.kill();
        }
        let status = child.wait().unwrap();
        let dir = case.path().join(&out);
        if dir.exists() {
            let count = std::fs::read_dir(&dir).unwrap().count();
            assert_eq!(count, 4, "a half-written `{out}`");
            complete = Some(dir);
        } else if interrupt && status.code().is_some() {
            assert_eq!(status.code(), Some(130), "an interrupted import exits 130");
        }
        if interrupt {
            let leftovers: Vec<String> = std::fs::read_dir(case.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!(".{out}")))
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }
    }
    if let Some(dir) = complete {
        manifest::load(&[dir]).unwrap_or_else(|_| panic!("a complete import loads"));
    }
}

/// Odd but valid names, labels and texts survive the trip: written, read back by the manifest
/// reader and planned against the platform that holds them, nothing changes.
#[test]
fn import_round_trips_odd_values() {
    let case = Case::files(&[]);
    let sandbox = case.sandbox();
    sandbox.read(ACME).unwrap();
    let owned = [("managed-by", "spherectl"), ("spherectl-set", "odd")];
    let odd_labels = [
        ("yes", "0123"),
        ("null", ""),
        ("no", "-"),
        ("on", "123"),
        ("y", "null"),
        ("managed-by", "spherectl"),
        ("spherectl-set", "odd"),
    ];
    let zone =
        json!({"spec.zone": "ru-central1-a", "spec.description": "key: value # not a comment"});
    let communities: Vec<(String, &str)> = ["null", "0123", "x:#&*!'\"y", "Ком-да", "1e3"]
        .iter()
        .map(|name| {
            (create(&sandbox, Kind::Community, ACME, name, &odd_labels, zone.clone()), *name)
        })
        .collect();
    let texts = [
        "- leading dash",
        "trailing spaces  ",
        "*alias &anchor !tag %directive @at `tick`",
        "'single' \"double\" \\back",
        "~",
        "yes",
        "",
        "юникод ✓ 🚀",
        "tab\there",
    ];
    let multi_line = [
        "FROM python:3.11\nRUN echo 'a: b' # c\n",
        "no trailing newline\nlast line",
        "two trailing newlines\n\n",
        "\nleading blank line\n",
        "  leading spaces\nnext\n",
        "---\n...\n- x: y\n",
        "trailing spaces   \non lines  \n",
        "windows\r\nline ends\r\n",
        "\ttab first\n",
    ];
    let mut secret = None;
    let mut publish_target = None;
    for (index, (community, name)) in communities.iter().enumerate() {
        let project_name = ["yes", "no", "on", "null", "y"][index];
        let project = create(
            &sandbox,
            Kind::Project,
            community,
            project_name,
            &owned,
            json!({
                "spec.description": texts[index],
                "spec.settings.vmInactivityTimeout": "30m",
                "spec.settings.securityGroups": ["yes", "0123", "a, b", "yes"],
            }),
        );
        sandbox.set_balance(&project, 0).unwrap();
        sandbox
            .add_member(Kind::Project, &project, &format!("userAccount:{name}"), Role::Viewer)
            .unwrap_or_else(|e| panic!("member: {e}"));
        create(
            &sandbox,
            Kind::Dataset,
            &project,
            "true",
            &owned,
            json!({"spec.sizeGb": 1, "spec.initCode": multi_line[index], "spec.description": texts[index + 4], "spec.mountPath": "/mnt/#x: y"}),
        );
        create(
            &sandbox,
            Kind::DockerImage,
            &project,
            "null",
            &owned,
            json!({"spec.repository": "yes", "spec.tag": "0123", "spec.buildPath": ".", "spec.dockerfile": multi_line[index + 4]}),
        );
        if index == 0 {
            let id = create(
                &sandbox,
                Kind::Secret,
                &project,
                "False",
                &owned,
                json!({"spec.description": "~"}),
            );
            create(
                &sandbox,
                Kind::S3Connection,
                &project,
                "on",
                &owned,
                json!({"spec.endpoint": "https://x:9000/a b", "spec.bucket": "true", "spec.mountName": "1e3", "spec.accessKeyId": "0x1F", "spec.secretKey.secret": id, "spec.mode": "read-only"}),
            );
            secret = Some(id);
        } else if index == 1 {
            publish_target = Some((community.clone(), project.clone()));
        }
    }
    let secret = secret.unwrap();
    let (community, project) = publish_target.unwrap();
    sandbox.publish(Kind::Secret, &secret, &community).unwrap();
    sandbox.use_resource(&project, Kind::Secret, &secret).unwrap();
    drop(sandbox);

    let run = import(&case, ACME, &[]);
    assert!(run.stderr.contains("as the manifest set `odd`"), "{}", run.stderr);
    let files = written(&case);
    assert_eq!(files.len(), 6, "{:?}", files.keys());
    let values = BTreeMap::from([("Secret/null/yes/False".to_owned(), SECRET.to_owned())]);
    assert_no_secret_in(&files, &values);
    let env = secret_env(&run, &values);
    let plan = plan_imported(&case, &env);
    assert_eq!(
        plan.code,
        0,
        "{}{}\n{}",
        plan.stdout,
        plan.stderr,
        files.values().cloned().collect::<String>()
    );
}

/// Where `spherectl import` puts files by default: a directory named after the set.
#[test]
fn import_writes_into_a_directory_named_after_the_set_by_default() {
    let case = Case::applied_example("quickstart");
    let run = spherectl(&case, &["import", "--organization", "bpf00000000quickstart"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let dir: PathBuf = case.path().join("quickstart");
    assert!(dir.join("organization.yaml").exists(), "{}", run.stderr);
    assert!(Path::new(&dir).join("research.yaml").exists());
}

/// On the public API, resources, publications, uses and the sharing rule cannot be read: they
/// are left as comments that say so, and what is written plans clean.
#[test]
fn import_over_the_public_api_leaves_unreadable_parts_as_comments() {
    let case = Case::applied_example("quickstart");
    let server = http::Server::start(&case.db(), &["--public-api-only"]);
    let token = [("SPHERECTL_TOKEN".to_owned(), http::TOKEN.to_owned())];
    let run = spherectl(
        &case,
        &[
            "import",
            "--organization",
            "bpf00000000quickstart",
            "--out",
            "imported",
            "--platform",
            &server.url,
        ],
        &token,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let files = written(&case);
    let research = &files["research.yaml"];
    assert!(research.contains("# Resources (datasets, secrets"), "{research}");
    assert!(research.contains("# uses: not read"), "{research}");
    assert!(!research.contains("kind: Dataset"), "{research}");
    assert!(research.contains("balance: 1000"), "{research}");
    assert!(files["organization.yaml"].contains("# sharing: {requiredRoles"));
    assert!(!files["organization.yaml"].contains("\n  sharing:"), "{}", files["organization.yaml"]);
    let plan = spherectl(
        &case,
        &["plan", "imported", "--detailed-exitcode", "--platform", &server.url],
        &token,
    );
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
}
