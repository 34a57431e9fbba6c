//! Adversarial tests of the README's guarantees: odd but valid input, two manifest sets on one
//! sandbox, renames that chain or swap, a second process at once. A test marked
//! `#[ignore = "defect: ..."]` reproduces a defect that is not fixed yet.

use std::process::Command;

use crate::{Case, ORG, SECRET, actions, applied, converged, support::made_by_hand};

fn project(name: &str, extra: &str, description: &str) -> String {
    format!(
        "---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: {name}, community: research{extra}}}\nspec: {{description: {description}}}\n"
    )
}

/// Live projects as (name, id, description).
fn projects(case: &Case) -> Vec<(String, String, String)> {
    use spherectl::platform::Platform as _;
    let live = case.sandbox().read("bpf00000000000000acme").unwrap();
    let mut list: Vec<_> = live
        .objects
        .into_iter()
        .filter(|o| o.kind == spherectl::manifest::Kind::Project)
        .map(|o| {
            let description = o
                .attributes
                .get("spec.description")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            (o.name, o.id, description)
        })
        .collect();
    list.sort();
    list
}

fn id_of(case: &Case, name: &str) -> String {
    projects(case).into_iter().find(|(n, ..)| n == name).unwrap().1
}

const SECRET_DOC: &str = "---
apiVersion: spherectl/v1
kind: Project
metadata: {name: alpha, community: research}
---
apiVersion: spherectl/v1
kind: Secret
metadata: {name: token, project: research/alpha}
";

#[test]
fn a_value_key_spelt_with_escapes_is_masked_in_every_diagnostic() {
    // `"val\u0075e"` is the key `value`: a plaintext secret under it must not be shown, whether
    // the document parses (plaintext error, unknown field next to it) or not (a tab, an
    // unterminated quote, a key broken over two lines).
    for spec in [
        "spec:\n  \"val\\u0075e\": SECRET\n",
        "spec:\n  \"val\\x75e\": SECRET\n  descrption: x\n",
        "spec:\n\t\"val\\x75e\": SECRET\n",
        "spec:\n  \"val\\x75e\": \"SECRET\n",
        "spec:\n  \"val\\\n  ue\": SECRET\n  descrption: x\n",
    ] {
        let spec = spec.replace("SECRET", SECRET);
        let case = Case::files(&[("org.yaml", &format!("{ORG}{SECRET_DOC}{spec}"))]);
        // `run` fails the test when the secret reaches stdout or stderr.
        let run = case.run(&["validate", "."]);
        assert_eq!(run.code, 1, "{spec}: {}", run.stderr);
        let run = case.run(&["plan", "."]);
        assert_eq!(run.code, 1, "{spec}: {}", run.stderr);
    }
}

#[test]
fn a_secret_file_named_yaml_is_never_read_as_a_manifest() {
    let manifests = format!("{ORG}{SECRET_DOC}spec:\n  value: {{fromFile: secrets/token.yaml}}\n");
    for content in [format!("token: {SECRET}\n"), format!("{SECRET}\n")] {
        let case = Case::files(&[("org.yaml", &manifests)]);
        std::fs::create_dir(case.path().join("secrets")).unwrap();
        std::fs::write(case.path().join("secrets/token.yaml"), &content).unwrap();
        // `run` fails the test when the secret reaches stdout or stderr.
        let validate = case.run(&["validate", "."]);
        assert_eq!(validate.code, 0, "{}", validate.stderr);
        applied(&case);
        converged(&case);
    }
}

/// Four manifest sets (two teams' CI each) on one shared sandbox, applied at the same time: each
/// touches only its own community, so each succeeds.
#[test]
fn four_sets_applied_at_once_on_one_shared_sandbox_all_succeed() {
    let case = Case::files(&[]);
    let teams = ["a", "b", "c", "d"];
    for team in teams {
        let mut text = format!(
            "apiVersion: spherectl/v1\nkind: Organization\nmetadata: {{name: team-{team}}}\nspec: {{id: bpf00000000000000acme}}\n---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {{name: comm-{team}}}\n"
        );
        for p in 1..=6 {
            text.push_str(&format!(
                "---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: p{p}, community: comm-{team}}}\nspec: {{balance: 10, members: [{{subject: 'userAccount:u{p}', role: viewer}}]}}\n---\napiVersion: spherectl/v1\nkind: Dataset\nmetadata: {{name: d, project: comm-{team}/p{p}}}\nspec: {{sizeGb: 1}}\n"
            ));
        }
        std::fs::create_dir(case.path().join(team)).unwrap();
        std::fs::write(case.path().join(team).join("org.yaml"), text).unwrap();
    }
    let platform = format!("sandbox:{}", case.path().join("shared.db").display());
    for round in 0..3 {
        let _ = std::fs::remove_file(case.path().join("shared.db"));
        let children: Vec<_> = teams
            .iter()
            .map(|team| {
                Command::new(env!("CARGO_BIN_EXE_spherectl"))
                    .env_clear()
                    .env("NO_COLOR", "1")
                    .current_dir(case.path())
                    .args(["apply", team, "--yes", "--platform", &platform])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (team, child) in teams.iter().zip(children) {
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "round {round}, team {team}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

#[test]
fn adopting_another_sets_object_is_an_error() {
    let team = |set: &str, body: &str| {
        format!(
            "apiVersion: spherectl/v1\nkind: Organization\nmetadata: {{name: {set}}}\nspec: {{id: bpf00000000000000acme}}\n{body}"
        )
    };
    let case = Case::files(&[]);
    for dir in ["a", "b"] {
        std::fs::create_dir(case.path().join(dir)).unwrap();
    }
    let a = team(
        "team-a",
        "---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {name: research}\n---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {name: alpha, community: research}\n",
    );
    std::fs::write(case.path().join("a/org.yaml"), a).unwrap();
    let platform = format!("sandbox:{}", case.path().join("shared.db").display());
    let apply = case.run(&["apply", "a", "--yes", "--platform", &platform]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let sandbox = spherectl::platform::sandbox::Sandbox::open(
        &case.path().join("shared.db"),
        "userAccount:local-admin",
    )
    .unwrap();
    let live = spherectl::platform::Platform::read(&sandbox, "bpf00000000000000acme").unwrap();
    drop(sandbox);
    let community = live.objects.iter().find(|o| o.name == "research").unwrap().id.clone();
    // Team b adopts team a's community by id (the `not_owned` help even suggests it).
    let b = team(
        "team-b",
        &format!(
            "---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {{name: research, id: {community}}}\n---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: beta, community: research}}\n"
        ),
    );
    std::fs::write(case.path().join("b/org.yaml"), b).unwrap();
    let plan = case.run(&["plan", "b", "--platform", &platform]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("team-a"), "{}", plan.stderr);
    let apply = case.run(&["apply", "b", "--yes", "--platform", &platform]);
    assert_eq!(apply.code, 1);
    // Team a's set still converges.
    let again = case.run(&["plan", "a", "--detailed-exitcode", "--platform", &platform]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}

#[test]
fn swapping_two_names_with_renamed_from_never_swaps_contents() {
    let case = Case::files(&[(
        "org.yaml",
        &format!("{ORG}{}{}", project("a", "", "was-a"), project("b", "", "was-b")),
    )]);
    applied(&case);
    let (a, b) = (id_of(&case, "a"), id_of(&case, "b"));
    let swapped = format!(
        "{ORG}{}{}",
        project("a", ", renamedFrom: b", "was-b"),
        project("b", ", renamedFrom: a", "was-a")
    );
    std::fs::write(case.path().join("org.yaml"), swapped).unwrap();
    let plan = case.run(&["plan", "."]);
    if plan.code == 0 {
        // Either the swap is carried out (the objects change names)...
        applied(&case);
        converged(&case);
        assert_eq!(id_of(&case, "a"), b, "the project that was `b` is now `a`");
        assert_eq!(id_of(&case, "b"), a, "the project that was `a` is now `b`");
    } else {
        // ... or it is refused with a finding that names the renames; nothing changes.
        assert!(plan.stderr.contains("renamedFrom"), "{}", plan.stderr);
        assert_eq!(case.run(&["apply", ".", "--yes"]).code, 1);
        assert_eq!((id_of(&case, "a"), id_of(&case, "b")), (a, b));
        let descriptions: Vec<String> = projects(&case).into_iter().map(|p| p.2).collect();
        assert_eq!(descriptions, ["was-a", "was-b"]);
    }
}

#[test]
fn a_rename_chain_keeps_every_object() {
    let case = Case::files(&[(
        "org.yaml",
        &format!("{ORG}{}{}", project("a", "", "was-a"), project("b", "", "was-b")),
    )]);
    applied(&case);
    let (a, b) = (id_of(&case, "a"), id_of(&case, "b"));
    let chained = format!(
        "{ORG}{}{}",
        project("b", ", renamedFrom: a", "was-a"),
        project("c", ", renamedFrom: b", "was-b")
    );
    std::fs::write(case.path().join("org.yaml"), chained).unwrap();
    let plan = case.plan_json();
    let list = actions(&plan);
    assert!(list.iter().all(|(action, _)| action == "update"), "{list:?}");
    applied(&case);
    converged(&case);
    assert_eq!(id_of(&case, "b"), a, "`a` was renamed to `b`, keeping its id and data");
    assert_eq!(id_of(&case, "c"), b, "`b` was renamed to `c`, keeping its id and data");
}

const SHARED_DATASET: &str = org_then!(
    "---
apiVersion: spherectl/v1
kind: Community
metadata: {name: analytics}
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: alpha, community: research}
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {name: events, project: research/alpha}
spec: {sizeGb: 5, publish: [analytics]}
"
);

/// A console-made project in `analytics` that uses the published dataset: its id.
fn console_user(case: &Case) -> String {
    use spherectl::{manifest::Kind, platform::Platform as _};
    let sandbox = case.sandbox();
    let live = sandbox.read("bpf00000000000000acme").unwrap();
    let find = |name: &str| live.objects.iter().find(|o| o.name == name).unwrap().id.clone();
    let project = made_by_hand(&sandbox, Kind::Project, &find("analytics"), "console-made");
    sandbox.use_resource(&project, spherectl::manifest::Kind::Dataset, &find("events")).unwrap();
    project
}

#[test]
fn a_console_made_projects_use_stops_a_replace_or_a_delete_and_survives_a_rename() {
    let without_dataset =
        SHARED_DATASET.split("---\napiVersion: spherectl/v1\nkind: Dataset").next().unwrap();
    for to in [
        SHARED_DATASET.replace("sizeGb: 5,", "sizeGb: 6,"),
        without_dataset.to_owned(),
        SHARED_DATASET.replace("name: events,", "name: clicks, renamedFrom: events,"),
    ] {
        let case = Case::files(&[("org.yaml", SHARED_DATASET)]);
        applied(&case);
        console_user(&case);
        std::fs::write(case.path().join("org.yaml"), &to).unwrap();
        let run = case.run(&["apply", ".", "--yes", "--allow-delete"]);
        if to.contains("renamedFrom") {
            assert_eq!(run.code, 0, "{}", run.stderr);
            converged(&case);
        } else {
            assert_eq!(run.code, 1, "{to}: {}{}", run.stdout, run.stderr);
            assert!(run.stderr.contains("spherectl::rules::in_use"), "{}", run.stderr);
            assert!(run.stderr.contains("nothing applied"), "{}", run.stderr);
        }
        use spherectl::platform::Platform as _;
        let live = case.sandbox().read("bpf00000000000000acme").unwrap();
        assert!(live.objects.iter().any(|o| o.kind == spherectl::manifest::Kind::Dataset));
    }
}

#[test]
fn unpublishing_from_a_console_made_user_stops_the_plan() {
    let case = Case::files(&[("org.yaml", SHARED_DATASET)]);
    applied(&case);
    console_user(&case);
    case.edit("org.yaml", "spec: {sizeGb: 5, publish: [analytics]}", "spec: {sizeGb: 5}");
    let plan = case.run(&["plan", "."]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("spherectl::rules::in_use"), "{}", plan.stderr);
    assert!(plan.stderr.contains("Project/analytics/console-made"), "{}", plan.stderr);
}

fn four(kind: &str) -> String {
    let mut text = format!(
        "{ORG}---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: alpha, community: research}}\n"
    );
    for i in 1..=4 {
        let spec = if kind == "DockerImage" {
            format!("{{repository: r{i}, tag: v1, dockerfile: 'FROM x'}}")
        } else {
            "{sizeGb: 1, active: true}".to_owned()
        };
        text.push_str(&format!(
            "---\napiVersion: spherectl/v1\nkind: {kind}\nmetadata: {{name: r{i}, project: research/alpha}}\nspec: {spec}\n"
        ));
    }
    text
}

#[test]
fn a_quota_the_plan_can_count_stops_the_plan_at_the_line() {
    let case = Case::files(&[("org.yaml", &four("DockerImage"))]);
    let plan = case.run(&["plan", "."]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("quota"), "{}", plan.stderr);
    assert!(plan.stderr.contains("org.yaml:"), "{}", plan.stderr);
    let apply = case.run(&["apply", ".", "--yes"]);
    assert_eq!(apply.code, 1);
    assert!(apply.stderr.contains("nothing applied"), "{}", apply.stderr);
}

#[test]
fn a_raised_quota_is_honoured() {
    let case = Case::files(&[("org.yaml", &four("Dataset"))]);
    let platform = format!("sandbox:{}", case.db().display());
    let quota = case.run(&["--platform", &platform, "sandbox", "quota", "--unlimited"]);
    assert_eq!(quota.code, 0, "{}", quota.stderr);
    applied(&case);
    converged(&case);
}

#[test]
fn a_rename_into_a_name_freed_by_a_delete_applies_the_first_time() {
    let case = Case::files(&[(
        "org.yaml",
        &format!("{ORG}{}{}", project("a", "", "was-a"), project("b", "", "was-b")),
    )]);
    applied(&case);
    let a = id_of(&case, "a");
    std::fs::write(
        case.path().join("org.yaml"),
        format!("{ORG}{}", project("b", &format!(", id: {a}"), "was-a")),
    )
    .unwrap();
    let apply = case.run(&["apply", ".", "--yes", "--allow-delete"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    converged(&case);
    assert_eq!(id_of(&case, "b"), a);
}

#[test]
fn swapping_the_active_dataset_at_the_quota_applies_the_first_time() {
    let with = |active: [bool; 4]| {
        let mut text = format!(
            "{ORG}---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: alpha, community: research}}\n"
        );
        for (name, active) in ["a0", "b1", "b2", "z9"].iter().zip(active) {
            text.push_str(&format!(
                "---\napiVersion: spherectl/v1\nkind: Dataset\nmetadata: {{name: {name}, project: research/alpha}}\nspec: {{sizeGb: 1, active: {active}}}\n"
            ));
        }
        text
    };
    let case = Case::files(&[("org.yaml", &with([false, true, true, true]))]);
    applied(&case);
    std::fs::write(case.path().join("org.yaml"), with([true, true, true, false])).unwrap();
    // One change at a time, in the plan's order: the order the graph allows must be enough.
    let apply = case.run(&["apply", ".", "--yes", "--parallelism", "1"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    converged(&case);
}

#[test]
fn deleting_a_community_another_set_publishes_to_is_a_finding() {
    let case = Case::files(&[]);
    for dir in ["a", "b"] {
        std::fs::create_dir(case.path().join(dir)).unwrap();
    }
    let a = "apiVersion: spherectl/v1\nkind: Organization\nmetadata: {name: team-a}\nspec: {id: bpf00000000000000acme}\n---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {name: keep}\n";
    let research = "---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {name: research}\n";
    std::fs::write(case.path().join("a/org.yaml"), format!("{a}{research}")).unwrap();
    let db = case.path().join("shared.db");
    let platform = format!("sandbox:{}", db.display());
    assert_eq!(case.run(&["apply", "a", "--yes", "--platform", &platform]).code, 0);
    let sandbox =
        spherectl::platform::sandbox::Sandbox::open(&db, "userAccount:local-admin").unwrap();
    let live = spherectl::platform::Platform::read(&sandbox, "bpf00000000000000acme").unwrap();
    drop(sandbox);
    let research_id = live.objects.iter().find(|o| o.name == "research").unwrap().id.clone();
    let b = format!(
        "apiVersion: spherectl/v1\nkind: Organization\nmetadata: {{name: team-b}}\nspec: {{id: bpf00000000000000acme}}\n---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {{name: bcomm}}\n---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: p, community: bcomm}}\n---\napiVersion: spherectl/v1\nkind: Dataset\nmetadata: {{name: d, project: bcomm/p}}\nspec: {{sizeGb: 5, publish: [{{id: {research_id}}}]}}\n"
    );
    std::fs::write(case.path().join("b/org.yaml"), b).unwrap();
    assert_eq!(case.run(&["apply", "b", "--yes", "--platform", &platform]).code, 0);
    // Team a drops its community `research`, which team b's dataset is published to.
    std::fs::write(case.path().join("a/org.yaml"), a).unwrap();
    let plan = case.run(&["plan", "a", "--allow-delete", "--platform", &platform]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("Dataset/bcomm/p/d"), "{}", plan.stderr);
    let again = case.run(&["plan", "b", "--detailed-exitcode", "--platform", &platform]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}

#[test]
fn an_actor_without_rights_is_stopped_by_the_plan_not_half_way() {
    let base =
        format!("{ORG}spec:\n  members: [{{subject: \"userAccount:alice\", role: admin}}]\n");
    let case = Case::files(&[("org.yaml", &base)]);
    applied(&case);
    let more = format!(
        "{base}---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: alpha, community: research}}\n---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {{name: analytics}}\n"
    );
    std::fs::write(case.path().join("org.yaml"), more).unwrap();
    let plan = case.run_as(&["plan", "."], Some("userAccount:alice"));
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("org.yaml:"), "{}", plan.stderr);
    let apply = case.run_as(&["apply", ".", "--yes"], Some("userAccount:alice"));
    assert_eq!(apply.code, 1);
    assert!(projects(&case).is_empty(), "nothing was applied: {}", apply.stderr);
}

/// Deleting the image (prune) is stopped; replacing it is not (issue 7 #6 fixed the prune path
/// and the replace path's users, not the replace path's referrers).
#[test]
fn a_console_made_node_on_a_replaced_image_stops_the_plan() {
    use spherectl::{
        manifest::Kind,
        platform::{CreateRequest, Platform as _},
    };
    let text = format!(
        "{ORG}---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: alpha, community: research}}\n---\napiVersion: spherectl/v1\nkind: DockerImage\nmetadata: {{name: img, project: research/alpha}}\nspec: {{repository: r, tag: v1, dockerfile: 'FROM x'}}\n"
    );
    for replace in [true, false] {
        let case = Case::files(&[("org.yaml", &text)]);
        applied(&case);
        let sandbox = case.sandbox();
        let live = sandbox.read("bpf00000000000000acme").unwrap();
        let find = |name: &str| live.objects.iter().find(|o| o.name == name).unwrap().id.clone();
        // A node made in the console, in this set's project, on this set's image.
        let mut attributes = std::collections::BTreeMap::new();
        attributes
            .insert("spec.source.dockerImage".to_owned(), serde_json::Value::from(find("img")));
        sandbox
            .create(&CreateRequest {
                kind: Kind::Node,
                parent_id: find("alpha"),
                name: "console-node".into(),
                labels: Default::default(),
                attributes,
                secret: None,
            })
            .unwrap();
        drop(sandbox);
        if replace {
            case.edit("org.yaml", "FROM x", "FROM y");
        } else {
            let without =
                text.split("---\napiVersion: spherectl/v1\nkind: DockerImage").next().unwrap();
            std::fs::write(case.path().join("org.yaml"), without).unwrap();
        }
        let plan = case.run(&["plan", "."]);
        assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
        assert!(plan.stderr.contains("spherectl::plan::foreign_objects"), "{}", plan.stderr);
        assert!(plan.stderr.contains("console-node"), "{}", plan.stderr);
        assert_eq!(case.run(&["apply", ".", "--yes"]).code, 1);
        // The node still points at a live image.
        let live = case.sandbox().read("bpf00000000000000acme").unwrap();
        let node = live.objects.iter().find(|o| o.kind == Kind::Node).unwrap();
        let image = &node.attributes["spec.source.dockerImage"];
        assert!(live.objects.iter().any(|o| Some(o.id.as_str()) == image.as_str()), "{image}");
    }
}

#[test]
fn a_set_that_omits_the_sharing_rule_leaves_it_alone() {
    let case = Case::files(&[]);
    for dir in ["a", "b"] {
        std::fs::create_dir(case.path().join(dir)).unwrap();
    }
    let set = |name: &str, spec: &str| {
        format!(
            "apiVersion: spherectl/v1\nkind: Organization\nmetadata: {{name: team-{name}}}\nspec: {{id: bpf00000000000000acme{spec}}}\n---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {{name: comm-{name}}}\n"
        )
    };
    std::fs::write(case.path().join("a/org.yaml"), set("a", "")).unwrap();
    std::fs::write(
        case.path().join("b/org.yaml"),
        set("b", ", sharing: {requiredRoles: {project: editor, community: developer}}"),
    )
    .unwrap();
    let platform = format!("sandbox:{}", case.path().join("shared.db").display());
    for _ in 0..2 {
        for team in ["a", "b"] {
            let apply = case.run(&["apply", team, "--yes", "--platform", &platform]);
            assert_eq!(apply.code, 0, "{}", apply.stderr);
        }
    }
    for team in ["a", "b"] {
        let plan = case.run(&["plan", team, "--detailed-exitcode", "--platform", &platform]);
        assert_eq!(plan.code, 0, "{team}: {}{}", plan.stdout, plan.stderr);
    }
}

#[test]
fn absent_optional_fields_never_show_as_drift() {
    use spherectl::{manifest::Kind, platform::Platform as _};
    let text = format!(
        "{ORG}---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: alpha, community: research}}\n---\napiVersion: spherectl/v1\nkind: Dataset\nmetadata: {{name: events, project: research/alpha}}\nspec: {{sizeGb: 5}}\n---\napiVersion: spherectl/v1\nkind: Checkpoint\nmetadata: {{name: model, project: research/alpha}}\nspec: {{pinned: false}}\n"
    );
    let case = Case::files(&[("org.yaml", &text)]);
    applied(&case);
    let sandbox = case.sandbox();
    let live = sandbox.read("bpf00000000000000acme").unwrap();
    for object in &live.objects {
        let mut request = spherectl::platform::UpdateRequest::default();
        request.set.insert("spec.description".into(), "set in the console".into());
        if object.kind == Kind::Project {
            request.set.insert("spec.limits.maxUnitsPerHour".into(), 7.into());
            request.set.insert("spec.settings.defaultFolder".into(), "b1g000000000folder".into());
        }
        sandbox.update(object.kind, &object.id, &request).unwrap();
    }
    drop(sandbox);
    let plan = case.run(&["plan", ".", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
}

/// The actor's own downgrade used to run last and apply; since issue 9 it is a lockout (the
/// actor would lose the community it still manages) and nothing of the plan is applied.
#[test]
fn the_actors_own_downgrade_is_refused_as_a_lockout() {
    let base =
        format!("{ORG}spec:\n  members: [{{subject: \"userAccount:alice\", role: admin}}]\n");
    let case = Case::files(&[("org.yaml", &base)]);
    applied(&case);
    let mut text = base.replace("role: admin", "role: viewer");
    for name in ["p1", "p2"] {
        text.push_str(&project(name, "", "new"));
    }
    std::fs::write(case.path().join("org.yaml"), text).unwrap();
    let apply =
        case.run_as(&["apply", ".", "--yes", "--parallelism", "1"], Some("userAccount:alice"));
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    assert!(apply.stderr.contains("spherectl::rules::lockout"), "{}", apply.stderr);
    assert!(apply.stderr.contains("nothing applied"), "{}", apply.stderr);
    let plan = case.plan_json();
    assert!(
        plan["changes"].as_array().unwrap().iter().any(|c| c["address"] == "Project/research/p1")
    );
}

#[test]
fn another_sandboxs_key_is_refused_not_read_as_every_secret_changed() {
    let case = Case::applied_example("quickstart");
    let other = Case::example("quickstart");
    applied(&other);
    let key = case.db().with_extension("db.key");
    std::fs::copy(other.db().with_extension("db.key"), &key).unwrap();
    for args in [&["plan", "."][..], &["apply", ".", "--yes"], &["drift", "."]] {
        let run = case.run(args);
        assert_eq!(run.code, 1, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("does not belong to the database"), "{}", run.stderr);
    }
}

#[test]
fn labels_that_leave_no_room_for_spherectls_own_are_refused_at_their_line() {
    let with = |count: usize| {
        let labels: Vec<String> = (0..count).map(|i| format!("k{i}: v")).collect();
        format!(
            "apiVersion: spherectl/v1\nkind: Organization\nmetadata: {{name: acme}}\nspec: {{id: bpf00000000000000acme}}\n---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {{name: research, labels: {{{}}}, lifecycle: {{preventDestroy: true}}}}\n",
            labels.join(", ")
        )
    };
    let case = Case::files(&[("org.yaml", &with(62))]);
    let validate = case.run(&["validate", "."]);
    assert_eq!(validate.code, 1, "{}", validate.stderr);
    assert!(validate.stderr.contains("62 labels, more than the 61 allowed"), "{}", validate.stderr);
    assert!(validate.stderr.contains("org.yaml:8:"), "{}", validate.stderr);
    let case = Case::files(&[("org.yaml", &with(61))]);
    applied(&case);
    converged(&case);
}

#[test]
fn a_saved_delete_is_refused_once_a_console_made_project_uses_the_resource() {
    let case = Case::files(&[("org.yaml", SHARED_DATASET)]);
    applied(&case);
    let without =
        SHARED_DATASET.split("---\napiVersion: spherectl/v1\nkind: Dataset").next().unwrap();
    std::fs::write(case.path().join("org.yaml"), without).unwrap();
    let plan_file = case.path().join("plan.json");
    let saved = case.run(&["plan", ".", "--out", plan_file.to_str().unwrap()]);
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    console_user(&case);
    let apply = case.run(&["apply", "--plan", plan_file.to_str().unwrap(), "--yes"]);
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    use spherectl::platform::Platform as _;
    let live = case.sandbox().read("bpf00000000000000acme").unwrap();
    assert!(live.objects.iter().any(|o| o.kind == spherectl::manifest::Kind::Dataset));
    assert!(!apply.stderr.contains("✓"), "nothing was applied: {}", apply.stderr);
}

#[test]
/// The platform allows it, but no project could ever name it (`community: team/ml` reads as
/// community `team`).
fn a_community_name_with_a_slash_is_refused_where_it_is_written() {
    let text = "apiVersion: spherectl/v1\nkind: Organization\nmetadata: {name: acme}\nspec: {id: bpf00000000000000acme}\n---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {name: \"team/ml\"}\n";
    let case = Case::files(&[("org.yaml", text)]);
    let validate = case.run(&["validate", "."]);
    assert_eq!(validate.code, 1, "{}", validate.stderr);
    assert!(validate.stderr.contains("invalid community name"), "{}", validate.stderr);
    assert!(validate.stderr.contains("org.yaml:8:"), "{}", validate.stderr);
}
