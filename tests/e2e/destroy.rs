//! `spherectl destroy` (issue 10): every object of the set goes, in reverse order, the
//! organization stays; protections refuse the whole run; other sets' and unmanaged objects are
//! never touched; off a terminal `--yes` is required.

use std::collections::BTreeSet;

use spherectl::{manifest::Kind, platform::Platform};

use super::{Case, ORG, http::Server, support::made_by_hand};

const QUICKSTART_ORG: &str = "bpf00000000quickstart";
const ACME_ORG: &str = "bpf00000000000000acme";

/// The `kind/name` of every live object under the organization.
fn live_names(case: &Case, organization: &str) -> BTreeSet<String> {
    let live = case.sandbox().read(organization).unwrap();
    live.objects.iter().map(|o| format!("{}/{}", o.kind, o.name)).collect()
}

#[test]
fn destroy_deletes_every_object_of_the_set_and_keeps_the_organization() {
    let case = Case::applied_example("quickstart");
    assert_eq!(live_names(&case, QUICKSTART_ORG).len(), 10);
    // Destroying needs no secret values: their files may be gone.
    std::fs::rename(case.path().join("secrets"), case.path().join("away")).unwrap();
    let run = case.run(&["destroy", ".", "--yes"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    std::fs::rename(case.path().join("away"), case.path().join("secrets")).unwrap();
    // The plan is shown first, deletes in reverse order: contents before their parents.
    let position = |what: &str| {
        run.stdout.find(what).unwrap_or_else(|| panic!("no `{what}` in {}", run.stdout))
    };
    assert!(position("- delete Alias/") < position("- delete Node/"));
    assert!(position("- delete Node/") < position("- delete DockerImage/"));
    assert!(position("- delete Dataset/") < position("- delete Project/research/fraud-detection"));
    assert!(position("- delete Project/") < position("- delete Community/research"));
    assert!(run.stderr.contains("Destroy complete: 10 objects"), "{}", run.stderr);
    // Only the organization is left, with its admin.
    let live = case.sandbox().read(QUICKSTART_ORG).unwrap();
    assert!(live.objects.is_empty(), "{:?}", live.objects);
    assert!(live.organization_members.contains_key("userAccount:local-admin"));
    // Again: nothing to destroy, exit 0, without `--yes` too (nothing to confirm).
    let again = case.run(&["destroy", "."]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("Nothing to destroy"), "{}", again.stdout);
    // The manifests still describe the set: the next plan creates it all again.
    assert_eq!(case.plan_json()["summary"]["create"], 10);
    super::applied(&case);
    super::converged(&case);
}

#[test]
fn destroy_with_nothing_on_the_platform_creates_no_sandbox() {
    let case = Case::example("quickstart");
    let run = case.run(&["destroy", "."]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("Nothing to destroy"), "{}", run.stdout);
    if !super::http::over_http() {
        assert!(!case.path().join(".spherectl").exists(), "destroy created the sandbox");
    }
}

#[test]
fn destroy_without_yes_off_a_terminal_is_refused_and_deletes_nothing() {
    let case = Case::applied_example("quickstart");
    let before = live_names(&case, QUICKSTART_ORG);
    let run = case.run(&["destroy", "."]);
    // As `apply` off a terminal (and Terraform's unconfirmed destroy): exit 1.
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("- delete Community/research"),
        "the plan is shown: {}",
        run.stdout
    );
    assert!(
        run.stderr.contains("refusing to destroy without confirmation: stdin is not a terminal"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert_eq!(live_names(&case, QUICKSTART_ORG), before);
}

#[test]
fn destroy_refuses_a_protected_object_and_deletes_nothing() {
    let case = Case::example("quickstart");
    case.edit(
        "resources.yaml",
        "metadata: {name: baseline-model, project: research/fraud-detection}",
        "metadata: {name: baseline-model, project: research/fraud-detection, lifecycle: {preventDestroy: true}}",
    );
    super::applied(&case);
    let before = live_names(&case, QUICKSTART_ORG);
    let run = case.run(&["destroy", ".", "--yes"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("spherectl::plan::prevent_destroy"), "{}", run.stderr);
    assert!(
        run.stderr.contains("Checkpoint/research/fraud-detection/baseline-model is protected"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing destroyed"), "{}", run.stderr);
    // Nothing half-done: not even the objects that are not protected.
    assert_eq!(live_names(&case, QUICKSTART_ORG), before);
    // A target that leaves the protected object out destroys that part only.
    let node = "Node/research/fraud-detection/scorer";
    let run = case.run(&["destroy", ".", "--yes", "--target", node]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("resource targeting is in effect"), "{}", run.stderr);
    let after = live_names(&case, QUICKSTART_ORG);
    // The alias that routes to the node went first; the rest is there.
    let gone: Vec<&String> = before.difference(&after).collect();
    assert_eq!(gone, ["Alias/scoring", "Node/scorer"]);
}

/// A second manifest set (`beta`) in the same organization, with a community of its own.
const BETA: &str = "apiVersion: spherectl/v1
kind: Organization
metadata: {name: beta}
spec: {id: bpf00000000000000acme}
---
apiVersion: spherectl/v1
kind: Community
metadata: {name: beta-team}
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: beta-project, community: beta-team}
";

const ACME: &str = "
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: models, community: research}
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {name: events, project: research/models}
spec: {sizeGb: 5}
";

#[test]
fn destroy_leaves_other_sets_and_unmanaged_objects_alone() {
    let case = Case::files(&[("org.yaml", &format!("{ORG}{ACME}"))]);
    super::applied(&case);
    // The other set, from its own directory, on the same platform.
    let mut beta = Case::files(&[("org.yaml", BETA)]);
    let platform = if super::http::over_http() {
        beta.env.push(("SPHERECTL_TOKEN".into(), super::http::token_for(None)));
        super::http::shared_server(&case.db())
    } else {
        format!("sandbox:{}", case.db().display())
    };
    let run = beta.run(&["apply", ".", "--yes", "--platform", &platform]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // An object made by hand, in the organization.
    let sandbox = case.sandbox();
    made_by_hand(&sandbox, Kind::Community, ACME_ORG, "hand-made");
    drop(sandbox);
    let run = case.run(&["destroy", ".", "--yes"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("Not managed by this manifest set (left alone)"), "{}", run.stdout);
    assert_eq!(
        live_names(&case, ACME_ORG),
        BTreeSet::from([
            "Community/beta-team".to_owned(),
            "Community/hand-made".to_owned(),
            "Project/beta-project".to_owned()
        ])
    );
}

#[test]
fn destroy_refuses_when_an_unmanaged_object_is_inside_and_deletes_nothing() {
    let case = Case::files(&[("org.yaml", &format!("{ORG}{ACME}"))]);
    super::applied(&case);
    let sandbox = case.sandbox();
    let live = sandbox.read(ACME_ORG).unwrap();
    let research = live.objects.iter().find(|o| o.name == "research").unwrap().id.clone();
    made_by_hand(&sandbox, Kind::Project, &research, "console-made");
    drop(sandbox);
    let before = live_names(&case, ACME_ORG);
    let run = case.run(&["destroy", ".", "--yes"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("cannot delete Community/research"), "{}", run.stderr);
    assert_eq!(live_names(&case, ACME_ORG), before, "something was deleted");
}

#[test]
fn destroy_over_serve() {
    let case = Case::example("quickstart");
    let server = Server::start(&case.server_db(), &[]);
    let apply = case.http(&server, &["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    let refused = case.http(&server, &["destroy", "."]);
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    let run = case.http(&server, &["destroy", ".", "--yes"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("Destroy complete: 10 objects"), "{}", run.stderr);
    let communities = server.get("/datasphere/v2/communities?organizationId=bpf00000000quickstart");
    assert_eq!(communities["communities"].as_array().map_or(0, Vec::len), 0, "{communities}");
    let again = case.http(&server, &["destroy", "."]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("Nothing to destroy"), "{}", again.stdout);
    assert!(!case.db().exists(), "the embedded sandbox was not used");
}

#[test]
fn destroy_refuses_while_another_sets_project_uses_a_resource() {
    let case = Case::files(&[("org.yaml", &format!("{ORG}{ACME}"))]);
    super::applied(&case);
    // By hand: a community and a project of no set, which uses our dataset published there.
    let sandbox = case.sandbox();
    let community = made_by_hand(&sandbox, Kind::Community, ACME_ORG, "hand-made");
    let console = made_by_hand(&sandbox, Kind::Project, &community, "console");
    let live = sandbox.read(ACME_ORG).unwrap();
    let events = live.objects.iter().find(|o| o.name == "events").unwrap().id.clone();
    sandbox.publish(Kind::Dataset, &events, &community).unwrap();
    sandbox.use_resource(&console, Kind::Dataset, &events).unwrap();
    drop(sandbox);
    let before = live_names(&case, ACME_ORG);
    let run = case.run(&["destroy", ".", "--yes"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("spherectl::rules::in_use"), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "cannot delete Dataset/research/models/events: it is used by Project/hand-made/console"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("unuse"), "another set's project is never detached");
    assert_eq!(live_names(&case, ACME_ORG), before, "something was deleted");
    let live = case.sandbox().read(ACME_ORG).unwrap();
    assert!(live.uses.iter().any(|(p, r)| *p == console && *r == events), "the use is gone");
}

/// Runs `spherectl destroy .` on a pseudo-terminal (util-linux `script`), typing `answer`;
/// `None` when `script` is not installed.
fn destroy_on_a_terminal(case: &Case, answer: &str) -> Option<(i32, String)> {
    use std::io::Write;
    let command = format!("{} destroy .", env!("CARGO_BIN_EXE_spherectl"));
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .current_dir(case.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take().unwrap().write_all(format!("{answer}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    Some((output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into()))
}

#[test]
fn destroy_on_a_terminal_asks_for_yes_or_the_set_name() {
    if super::http::over_http() {
        return; // The terminal is the point here, not the platform.
    }
    let case = Case::applied_example("quickstart");
    let before = live_names(&case, QUICKSTART_ORG);
    let Some((code, output)) = destroy_on_a_terminal(&case, "y") else {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    };
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("Type `yes` or `quickstart` to confirm"), "{output}");
    assert!(output.contains("destroy cancelled: nothing was deleted"), "{output}");
    assert_eq!(live_names(&case, QUICKSTART_ORG), before);
    let (code, output) = destroy_on_a_terminal(&case, "quickstart").unwrap();
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("Destroy complete: 10 objects"), "{output}");
    assert!(live_names(&case, QUICKSTART_ORG).is_empty());
}
