//! Issue 9: the policy stage. Roles where each change runs (a community the actor creates in
//! the plan), the lockout rule, unpublishing or deleting what other projects use, publishing
//! across organizations (denied at plan and by the sandbox with the same reason), and Rego
//! policies (deny, warn, a broken file, the input's `actor` and `live`).

use serde_json::Value;
use spherectl::{
    manifest::Kind,
    platform::{CreateRequest, LiveState, Platform},
    rules::{Role, SharingRoles},
};

use crate::{
    Case, applied, converged,
    support::{id_of, made_by_hand},
};

const ORG_ID: &str = "bpf00000000000000acme";
const BOB: &str = "userAccount:bob";
const ALICE: &str = "userAccount:alice";

fn header(name: &str) -> String {
    format!(
        "apiVersion: spherectl/v1\nkind: Organization\nmetadata: {{name: {name}}}\nspec: {{id: {ORG_ID}}}\n"
    )
}

fn community(name: &str, members: &str) -> String {
    let spec =
        if members.is_empty() { String::new() } else { format!("spec:\n  members: {members}\n") };
    format!("---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {{name: {name}}}\n{spec}")
}

fn project(community: &str, name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: {name}, community: {community}}}\n{spec}"
    )
}

fn dataset(project: &str, name: &str, publish: &str) -> String {
    format!(
        "---\napiVersion: spherectl/v1\nkind: Dataset\nmetadata: {{name: {name}, project: {project}}}\nspec: {{sizeGb: 5, publish: [{publish}]}}\n"
    )
}

fn write(case: &Case, text: &str) {
    std::fs::write(case.path().join("org.yaml"), text).unwrap();
}

fn live(case: &Case) -> LiveState {
    case.sandbox().read(ORG_ID).unwrap()
}

/// Communities `name` a dataset `events` is published to.
fn published_to(state: &LiveState, dataset: &str) -> Vec<String> {
    let id = id_of(state, Kind::Dataset, dataset);
    let mut names: Vec<String> = state
        .publications
        .iter()
        .filter(|(resource, _)| *resource == id)
        .map(|(_, community)| {
            state.objects.iter().find(|o| o.id == *community).map(|o| o.name.clone()).unwrap()
        })
        .collect();
    names.sort();
    names
}

fn plan_json_as(case: &Case, actor: &str) -> Value {
    let run = case.run_as(&["plan", ".", "--format", "json"], Some(actor));
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

fn change<'a>(plan: &'a Value, address: &str) -> &'a Value {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == address)
        .unwrap_or_else(|| panic!("no change `{address}` in {plan:#}"))
}

fn depends_on(change: &Value, key: &str) -> bool {
    change["dependsOn"].as_array().unwrap().iter().any(|d| d == key)
}

/// Bob administers `research` (and so its project `models`); the organization admin applies it.
fn research_for_bob() -> String {
    format!(
        "{}{}{}{}",
        header("acme"),
        community("research", "[{subject: \"userAccount:bob\", role: admin}]"),
        project("research", "models", ""),
        dataset("research/models", "events", "")
    )
}

// ---------------------------------------------------------------------------------------------
// Roles at the point of the plan

/// Bob, an organization editor who administers `research`, creates `analytics` (the platform
/// makes him its admin), grants its members and publishes into it, in one plan: the publish is
/// checked with the role Bob holds where it runs, and ordered after the create and his grant.
#[test]
fn grant_then_publish_in_one_plan_applies() {
    let case = Case::files(&[("org.yaml", &research_for_bob())]);
    applied(&case);
    let text = format!(
        "{}{}{}{}{}",
        header("acme"),
        community("research", "[{subject: \"userAccount:bob\", role: admin}]"),
        community(
            "analytics",
            "[{subject: \"userAccount:bob\", role: admin}, {subject: \"userAccount:carol\", role: viewer}]"
        ),
        project("research", "models", ""),
        dataset("research/models", "events", "analytics")
    );
    write(&case, &text);

    // Without a role in the organization Bob cannot create a community at all.
    let denied = case.run_as(&["plan", "."], Some(BOB));
    assert_eq!(denied.code, 1, "{}{}", denied.stdout, denied.stderr);
    assert!(denied.stderr.contains("spherectl::rules::permission"), "{}", denied.stderr);
    assert!(denied.stderr.contains("needs `editor` on organization"), "{}", denied.stderr);

    case.sandbox().add_member(Kind::Organization, ORG_ID, BOB, Role::Editor).unwrap();
    let plan = plan_json_as(&case, BOB);
    assert_eq!(plan["findings"], Value::Array(vec![]), "{plan:#}");
    let publish = change(&plan, "Dataset/research/models/events#publish:analytics");
    assert!(depends_on(publish, "Community/analytics"), "{publish:#}");
    assert!(depends_on(publish, "Community/analytics#member:userAccount:bob"), "{publish:#}");

    let apply = case.run_as(&["apply", ".", "--yes"], Some(BOB));
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    let state = live(&case);
    assert_eq!(published_to(&state, "events"), ["analytics"]);
    let analytics = state.objects.iter().find(|o| o.name == "analytics").unwrap();
    assert_eq!(analytics.members.get(BOB), Some(&Role::Admin));
    assert_eq!(analytics.members.get("userAccount:carol"), Some(&Role::Viewer));
    let again = case.run_as(&["plan", ".", "--detailed-exitcode"], Some(BOB));
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}

/// Bob creates a community, a project in it and a dataset that he publishes into `research`:
/// his role on the new project comes from the community he creates in the same plan.
#[test]
fn a_new_community_gives_its_creator_its_new_projects() {
    let case = Case::files(&[("org.yaml", &research_for_bob())]);
    applied(&case);
    case.sandbox().add_member(Kind::Organization, ORG_ID, BOB, Role::Editor).unwrap();
    let text = format!(
        "{}{}{}{}",
        research_for_bob(),
        community("lab", "[{subject: \"userAccount:bob\", role: admin}]"),
        project("lab", "exp", ""),
        dataset("lab/exp", "notes", "research")
    );
    write(&case, &text);
    let apply = case.run_as(&["apply", ".", "--yes"], Some(BOB));
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    assert_eq!(published_to(&live(&case), "notes"), ["research"]);
    let again = case.run_as(&["plan", ".", "--detailed-exitcode"], Some(BOB));
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}

/// A community Bob creates while its `spec.members` leaves him out: the platform makes him
/// its admin anyway, so the next plan would remove his own role. That is a lockout, refused
/// before anything is created.
#[test]
fn creating_a_community_that_leaves_its_creator_out_is_a_lockout() {
    let case = Case::files(&[("org.yaml", &research_for_bob())]);
    applied(&case);
    case.sandbox().add_member(Kind::Organization, ORG_ID, BOB, Role::Editor).unwrap();
    let text = format!(
        "{}{}",
        research_for_bob(),
        community("analytics", "[{subject: \"userAccount:carol\", role: admin}]")
    );
    write(&case, &text);
    let plan = case.run_as(&["plan", "."], Some(BOB));
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("spherectl::rules::lockout"), "{}", plan.stderr);
    assert!(
        plan.stderr.contains("creating Community/analytics makes `userAccount:bob` its admin"),
        "{}",
        plan.stderr
    );
    let apply = case.run_as(&["apply", ".", "--yes"], Some(BOB));
    assert_eq!(apply.code, 1);
    assert!(!live(&case).objects.iter().any(|o| o.name == "analytics"), "nothing was created");
}

/// Publishing into a community where Bob holds no role: denied at plan with the rule id, and
/// apply refuses it without publishing anything.
#[test]
fn publishing_without_the_role_is_denied_at_plan() {
    let text = format!("{}{}", research_for_bob(), community("analytics", ""));
    let case = Case::files(&[("org.yaml", &text)]);
    applied(&case);
    write(&case, &text.replace("publish: []", "publish: [analytics]"));
    let plan = case.run_as(&["plan", "."], Some(BOB));
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("spherectl::rules::publish_roles"), "{}", plan.stderr);
    assert!(plan.stderr.contains("org.yaml:"), "{}", plan.stderr);
    let apply = case.run_as(&["apply", ".", "--yes"], Some(BOB));
    assert_eq!(apply.code, 1);
    assert!(apply.stderr.contains("nothing applied"), "{}", apply.stderr);
    assert!(published_to(&live(&case), "events").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Lockout

fn research_admins(members: &str) -> String {
    format!(
        "{}{}{}",
        header("acme"),
        community("research", members),
        project(
            "research",
            "models",
            "spec:\n  members: [{subject: \"userAccount:alice\", role: admin}]\n"
        )
    )
}

#[test]
fn removing_your_own_admin_role_is_refused_but_an_organization_admin_may() {
    let both = "[{subject: \"userAccount:alice\", role: admin}, {subject: \"userAccount:grace\", role: admin}]";
    let case = Case::files(&[("org.yaml", &research_admins(both))]);
    applied(&case);
    let without_alice = research_admins("[{subject: \"userAccount:grace\", role: admin}]");
    write(&case, &without_alice);
    let plan = case.run_as(&["plan", "."], Some(ALICE));
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("spherectl::rules::lockout"), "{}", plan.stderr);
    assert!(
        plan.stderr
            .contains("takes `userAccount:alice`'s own admin role on Community/research away"),
        "{}",
        plan.stderr
    );
    // Her project role does not save her: it is the community she would lose.
    let apply = case.run_as(&["apply", ".", "--yes"], Some(ALICE));
    assert_eq!(apply.code, 1);
    let research = live(&case);
    let research = research.objects.iter().find(|o| o.name == "research").unwrap();
    assert_eq!(research.members.get(ALICE), Some(&Role::Admin), "nothing was applied");
    // The organization admin may make the same change.
    applied(&case);
    converged(&case);
}

/// Alice gives up her own binding on a project while she stays admin of its community: she
/// keeps admin there, so it is no lockout.
#[test]
fn dropping_a_project_role_that_the_community_role_covers_is_not_a_lockout() {
    let members = "[{subject: \"userAccount:alice\", role: admin}]";
    let case = Case::files(&[("org.yaml", &research_admins(members))]);
    applied(&case);
    write(
        &case,
        &research_admins(members)
            .replace(
                "  members: [{subject: \"userAccount:alice\", role: admin}]\n",
                "  members: [{subject: \"userAccount:alice\", role: viewer}]\n",
            )
            .replacen("role: viewer", "role: admin", 1),
    );
    let text = std::fs::read_to_string(case.path().join("org.yaml")).unwrap();
    assert!(text.contains("role: viewer"), "{text}");
    let apply = case.run_as(&["apply", ".", "--yes"], Some(ALICE));
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    let again = case.run_as(&["plan", ".", "--detailed-exitcode"], Some(ALICE));
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}

/// Leaving a community without any admin: denied for anyone but an organization admin, who
/// gets a warning (`severity: warn` in the plan JSON) and may apply it.
#[test]
fn leaving_a_community_without_an_admin() {
    let case = Case::files(&[(
        "org.yaml",
        &format!(
            "{}{}",
            header("acme"),
            community(
                "research",
                "[{subject: \"userAccount:alice\", role: admin}, {subject: \"userAccount:grace\", role: admin}]"
            )
        ),
    )]);
    applied(&case);
    let none = format!(
        "{}{}",
        header("acme"),
        community(
            "research",
            "[{subject: \"userAccount:alice\", role: admin}, {subject: \"userAccount:grace\", role: viewer}]"
        )
    );
    // Grace demoted by Alice: Alice stays admin, fine.
    write(&case, &none);
    assert_eq!(case.run_as(&["plan", "."], Some(ALICE)).code, 0);
    // Alice demotes herself too: both the lockout and the missing admin.
    write(&case, &none.replace("alice\", role: admin", "alice\", role: editor"));
    let plan = case.run_as(&["plan", "."], Some(ALICE));
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("leaves Community/research without any admin"), "{}", plan.stderr);
    let json = case.plan_json();
    let findings = json["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{json:#}");
    assert_eq!(findings[0]["rule"], "spherectl::rules::lockout");
    assert_eq!(findings[0]["severity"], "warn");
    assert_eq!(findings[0]["source"]["file"], "org.yaml");
    assert!(findings[0]["help"].as_str().unwrap().contains("role: admin"));
    applied(&case);
    converged(&case);
}

// ---------------------------------------------------------------------------------------------
// Unpublish or delete while used

fn shared(publish: &str, uses: &str) -> String {
    format!(
        "{}{}{}{}{}{}",
        header("acme"),
        community("research", ""),
        community("analytics", ""),
        project("research", "models", ""),
        dataset("research/models", "events", publish),
        project("analytics", "reports", uses)
    )
}

const USES_EVENTS: &str = "spec:\n  uses: [{kind: Dataset, ref: research/models/events}]\n";

#[test]
fn unpublishing_what_this_sets_project_uses_needs_the_use_gone_first() {
    let case = Case::files(&[("org.yaml", &shared("analytics", USES_EVENTS))]);
    applied(&case);
    // The use stays: refused before any platform is read.
    write(&case, &shared("", USES_EVENTS));
    let validate = case.run(&["validate", "."]);
    assert_eq!(validate.code, 1, "{}", validate.stderr);
    assert!(validate.stderr.contains("spherectl::rules::use_unpublished"), "{}", validate.stderr);
    // The use goes in the same plan, ordered first.
    write(&case, &shared("", ""));
    let plan = case.plan_json();
    let by_action = |action: &str| {
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {plan:#}"))
    };
    let (unpublish, unuse) = (by_action("unpublish"), by_action("unuse"));
    assert_eq!(unpublish["address"], "Dataset/research/models/events#publish:analytics");
    assert!(depends_on(unpublish, unuse["address"].as_str().unwrap()), "{plan:#}");
    applied(&case);
    converged(&case);
    assert!(published_to(&live(&case), "events").is_empty());
}

/// A project of another set (or one made in the console) uses the dataset: unpublishing or
/// deleting it is `spherectl::rules::in_use`, naming the project, until that project drops it.
#[test]
fn unpublishing_or_deleting_what_another_set_uses_is_refused_until_it_is_detached() {
    for labels in
        [[("managed-by", "spherectl"), ("spherectl-set", "team-b")].as_slice(), [].as_slice()]
    {
        let case = Case::files(&[("org.yaml", &shared("analytics", ""))]);
        applied(&case);
        let state = live(&case);
        let sandbox = case.sandbox();
        let other = sandbox
            .create(&CreateRequest {
                kind: Kind::Project,
                parent_id: id_of(&state, Kind::Community, "analytics"),
                name: "dashboards".into(),
                labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
                attributes: Default::default(),
                secret: None,
            })
            .unwrap();
        let events = id_of(&state, Kind::Dataset, "events");
        sandbox.use_resource(&other, Kind::Dataset, &events).unwrap();
        drop(sandbox);
        for text in [
            shared("", ""),
            format!(
                "{}{}{}{}",
                header("acme"),
                community("research", ""),
                community("analytics", ""),
                project("research", "models", "")
            ),
        ] {
            write(&case, &text);
            let plan = case.run(&["plan", ".", "--allow-delete"]);
            assert_eq!(plan.code, 1, "{labels:?}: {}{}", plan.stdout, plan.stderr);
            assert!(plan.stderr.contains("spherectl::rules::in_use"), "{}", plan.stderr);
            assert!(
                plan.stderr.contains("it is used by Project/analytics/dashboards"),
                "{}",
                plan.stderr
            );
            assert!(plan.stderr.contains("spec.uses"), "{}", plan.stderr);
            let apply = case.run(&["apply", ".", "--yes", "--allow-delete"]);
            assert_eq!(apply.code, 1);
            assert_eq!(published_to(&live(&case), "events"), ["analytics"]);
        }
        // Its owner detaches it; then the unpublish goes through.
        case.sandbox().unuse_resource(&other, Kind::Dataset, &events).unwrap();
        write(&case, &shared("", ""));
        applied(&case);
        assert!(published_to(&live(&case), "events").is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Across organizations

/// Two organizations in one sandbox: publishing into the other's community (given by id) is
/// denied at plan; forced past the planner, the sandbox refuses it with the same reason.
#[test]
fn publishing_into_another_organizations_community_is_denied_at_plan_and_by_the_sandbox() {
    let case = Case::files(&[("org.yaml", &shared("", ""))]);
    applied(&case);
    let other_org = "bpf0000000000000other";
    let sandbox = case.sandbox();
    sandbox.set_sharing(other_org, SharingRoles::default()).unwrap();
    let partner = made_by_hand(&sandbox, Kind::Community, other_org, "partner");
    drop(sandbox);
    write(&case, &shared(&format!("{{id: {partner}}}"), ""));
    let plan = case.run(&["plan", "."]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("spherectl::rules::cross_organization"), "{}", plan.stderr);
    let reason = ": it belongs to another organization";
    assert!(plan.stderr.contains(reason), "{}", plan.stderr);
    assert!(plan.stderr.contains(&format!("organization `{other_org}`")), "{}", plan.stderr);
    assert!(plan.stderr.contains("resources are never shared across organizations"));
    assert_eq!(case.run(&["apply", ".", "--yes"]).code, 1);

    let state = live(&case);
    let forced =
        case.sandbox().publish(Kind::Dataset, &id_of(&state, Kind::Dataset, "events"), &partner);
    let error = forced.unwrap_err();
    assert!(error.message.contains(reason), "{}", error.message);
    assert!(published_to(&live(&case), "events").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Rego

fn with_policy(name: &str, policy: &str) -> Case {
    let case = Case::files(&[("org.yaml", &shared("analytics", USES_EVENTS))]);
    std::fs::create_dir(case.path().join("policies")).unwrap();
    std::fs::write(case.path().join("policies").join(name), policy).unwrap();
    case
}

/// A deny reads the plan, the actor and the live summary; it fails `plan` (exit 1, message
/// and rule id shown, pointing at the object's YAML) and `apply` refuses the plan.
#[test]
fn a_rego_deny_fails_the_plan_and_apply_refuses_it() {
    let case = with_policy(
        "publish.rego",
        r#"package acme.publishing

import rego.v1

deny contains {"msg": msg, "address": change.address} if {
    some change in input.changes
    change.action == "publish"
    not some_live_community_named("analytics")
    msg := sprintf("%s: %s may not publish into a community that does not exist yet", [change.address, input.actor])
}

some_live_community_named(name) if {
    some c in input.live.communities
    c.name == name
}
"#,
    );
    let plan = case.run(&["plan", "."]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("spherectl::policy::deny"), "{}", plan.stderr);
    assert!(
        plan.stderr.contains(
            "userAccount:local-admin may not publish into a community that does not exist yet"
        ),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("org.yaml:"), "{}", plan.stderr);
    assert!(plan.stderr.contains("data.acme.publishing"), "{}", plan.stderr);
    let apply = case.run(&["apply", ".", "--yes"]);
    assert_eq!(apply.code, 1);
    assert!(apply.stderr.contains("nothing applied"), "{}", apply.stderr);
    assert!(live(&case).objects.is_empty());
    // Once `analytics` is live (applied without the policy), the same policy passes.
    std::fs::rename(case.path().join("policies"), case.path().join("off")).unwrap();
    write(&case, &shared("", ""));
    applied(&case);
    std::fs::rename(case.path().join("off"), case.path().join("policies")).unwrap();
    write(&case, &shared("analytics", USES_EVENTS));
    applied(&case);
    converged(&case);
}

#[test]
fn a_rego_warn_is_shown_and_the_plan_passes() {
    let case = with_policy(
        "warn.rego",
        "package acme.size\n\nimport rego.v1\n\nwarn contains sprintf(\"%d changes in one plan\", [count(input.changes)]) if count(input.changes) > 3\n",
    );
    let plan = case.run(&["plan", "."]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("spherectl::policy::warn"), "{}", plan.stderr);
    let json = case.plan_json();
    let findings = json["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{json:#}");
    assert_eq!(findings[0]["severity"], "warn");
    assert!(findings[0]["message"].as_str().unwrap().ends_with("changes in one plan"));
    applied(&case);
}

#[test]
fn a_broken_rego_file_is_an_error_naming_its_file_and_line() {
    let case = with_policy(
        "broken.rego",
        "package acme.broken\n\nimport rego.v1\n\ndeny contains msg if {\n    msg :=\n}\n",
    );
    for command in [&["plan", "."][..], &["apply", ".", "--yes"], &["validate", "."]] {
        let run = case.run(command);
        assert_eq!(run.code, 1, "{command:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("broken.rego:6:9`"), "{command:?}: {}", run.stderr);
        assert!(run.stderr.contains("does not parse"), "{}", run.stderr);
    }
    assert!(live(&case).objects.is_empty());
}

/// `examples/multi-team` plans cleanly under its own policies, and each policy denies the
/// mistake it is about.
#[test]
fn the_multi_team_example_is_held_to_its_own_policies() {
    let case = Case::example("multi-team");
    let plan = case.run(&["plan", "."]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    let secret_publish = "account rather than this one.\n  publish: [analytics]";
    for (file, from, to, expected) in [
        (
            "analytics/warehouse.yaml",
            secret_publish,
            "account rather than this one.\n  publish: [analytics, research]",
            "secrets are never published outside their own community `analytics`",
        ),
        (
            "research/community.yaml",
            "env: prod}",
            "env: dev}",
            "comes from an `env: prod` project or community and is published to `research`",
        ),
        (
            "platform/community.yaml",
            "{subject: \"userAccount:mallory\", role: admin}",
            "{subject: \"userAccount:mallory\", role: editor}",
            "Project/platform/base-images has no admin besides the CI service accounts",
        ),
    ] {
        case.edit(file, from, to);
        let plan = case.run(&["plan", "."]);
        assert_eq!(plan.code, 1, "{file}: {}{}", plan.stdout, plan.stderr);
        assert!(plan.stderr.contains("spherectl::policy::deny"), "{}", plan.stderr);
        assert!(plan.stderr.contains(expected), "{file}: {}", plan.stderr);
        case.edit(file, to, from);
    }
    assert_eq!(case.run(&["plan", "."]).code, 0);
}
