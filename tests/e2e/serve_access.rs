//! What `spherectl serve` tells a caller about objects it cannot see: nothing. Two
//! organizations share one server; a subject of organization B reads, lists and writes by
//! organization A's ids and gets exactly the answers it gets for ids that do not exist (404,
//! one message), lists without A's objects, and an organization view without A's communities.
//! A publish into a community the actor cannot see is refused at plan and by the write with
//! one reason that does not say whether the community exists; an organization member still
//! reads what it should.

use serde_json::Value;
use spherectl::{
    manifest::Kind,
    platform::{Platform, sandbox::Sandbox},
    rules::Role,
};

use crate::{
    Case,
    http::{Server, TOKEN},
};

const ORG_A: &str = "bpf00000000000000acme";
const ORG_B: &str = "bpf0000000000000bravo";
const BOB: &str = "userAccount:bob";
const BOB_TOKEN: &str = "t4-bob";

/// Organization A, managed by the local admin.
const SET_A: &str = org_then!(
    "---
apiVersion: spherectl/v1
kind: Project
metadata: {name: models, community: research}
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {name: events, project: research/models}
spec: {sizeGb: 1}
"
);

/// Organization B, managed by bob (its admin), with `leads` published into `publish`.
fn set_b(publish: &str) -> String {
    format!(
        "apiVersion: spherectl/v1
kind: Organization
metadata: {{name: bravo}}
spec: {{id: {ORG_B}}}
---
apiVersion: spherectl/v1
kind: Community
metadata: {{name: partners}}
---
apiVersion: spherectl/v1
kind: Project
metadata: {{name: intake, community: partners}}
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {{name: leads, project: partners/intake}}
spec: {{sizeGb: 1, publish: [{publish}]}}
"
    )
}

/// Makes bob the admin of organization B in the database at `db` (as the platform's
/// organization manager would), before any server opens it.
fn bob_administers_b(db: &std::path::Path) {
    let sandbox = Sandbox::open(db, "userAccount:local-admin").unwrap();
    sandbox.add_member(Kind::Organization, ORG_B, BOB, Role::Admin).unwrap();
}

/// An id of the same shape as `id` that names nothing.
fn unknown_like(id: &str) -> String {
    let mut fake: String = id.chars().take(id.len() - 4).collect();
    fake.push_str("zzzz");
    assert_ne!(fake, id);
    fake
}

/// `(status, body)` of a request; the body with `id` replaced by `ID`, so that answers about
/// two ids compare.
fn ask(
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    body: &str,
    id: &str,
) -> (u16, String) {
    let (status, answer) = server.raw(method, path, Some(token), &[], body);
    (status, answer.to_string().replace(id, "ID"))
}

fn id_in(body: &Value, key: &str, name: &str) -> String {
    let item = body[key].as_array().unwrap().iter().find(|item| item["name"] == name);
    item.unwrap_or_else(|| panic!("no `{name}` in {body}"))["id"].as_str().unwrap().to_owned()
}

/// Two organizations on one role-checked server: A applied by the local admin, B by bob.
/// Returns the server, the case of B and A's ids: community, project, dataset.
fn two_organizations(publish_b: &str) -> (Server, Case, Case, [String; 3]) {
    let a = Case::files(&[("org.yaml", SET_A)]);
    let b = Case::files(&[("org.yaml", &set_b(publish_b))]);
    let db = a.server_db();
    bob_administers_b(&db);
    let server = Server::start(&db, &["--token", &format!("{BOB_TOKEN}={BOB}")]);
    let apply = a.http(&server, &["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    let communities = server.get(&format!("/datasphere/v2/communities?organizationId={ORG_A}"));
    let research = id_in(&communities, "communities", "research");
    let projects = server.get(&format!("/datasphere/v2/projects?communityId={research}"));
    let models = id_in(&projects, "projects", "models");
    let resources = server.get(&format!("/datasphere/v2/spherectl/resources?projectId={models}"));
    let events = id_in(&resources, "resources", "events");
    (server, a, b, [research, models, events])
}

/// Bob (admin of B, no role in A) gets the same answer for each of A's ids as for an id that
/// does not exist, on every read and write that names one; A's lists are empty to him, and
/// nothing of A appears in what he reads of B.
#[test]
fn a_subject_of_another_organization_cannot_tell_its_objects_from_nonexistent_ones() {
    let (server, a, b, [research, models, events]) = two_organizations("partners");
    let apply = b.http_with_token(&server, &["apply", ".", "--yes"], BOB_TOKEN);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);

    let [partners, intake, leads] = {
        let communities = server.get(&format!("/datasphere/v2/communities?organizationId={ORG_B}"));
        let partners = id_in(&communities, "communities", "partners");
        let projects = server.get(&format!("/datasphere/v2/projects?communityId={partners}"));
        let intake = id_in(&projects, "projects", "intake");
        let resources =
            server.get(&format!("/datasphere/v2/spherectl/resources?projectId={intake}"));
        let leads = id_in(&resources, "resources", "leads");
        [partners, intake, leads]
    };
    // (method, path, body, the id of A that `{}` stands for); `{b}` is B's community.
    let binding = r#"{"accessBindings":[{"roleId":"datasphere.communities.admin","subject":{"id":"bob","type":"userAccount"}}]}"#;
    let requests = [
        ("GET", "/datasphere/v2/communities/{}", "", &research),
        ("GET", "/datasphere/v2/communities/{}:accessBindings", "", &research),
        (
            "PATCH",
            "/datasphere/v2/communities/{}",
            r#"{"updateMask":"name","name":"x"}"#,
            &research,
        ),
        ("DELETE", "/datasphere/v2/communities/{}", "", &research),
        ("POST", "/datasphere/v2/communities/{}:setAccessBindings", binding, &research),
        ("POST", "/datasphere/v2/projects", r#"{"communityId":"{}","name":"spy"}"#, &research),
        ("GET", "/datasphere/v2/projects/{}", "", &models),
        ("GET", "/datasphere/v2/projects/{}:accessBindings", "", &models),
        ("GET", "/datasphere/v2/projects/{}:unitBalance", "", &models),
        ("DELETE", "/datasphere/v2/projects/{}", "", &models),
        ("GET", "/datasphere/v2/spherectl/datasets/{}", "", &events),
        ("DELETE", "/datasphere/v2/spherectl/datasets/{}", "", &events),
        (
            "POST",
            "/datasphere/v2/communities/{}:addResource",
            r#"{"communityId":"{b}","resourceType":"RESOURCE_TYPE_DATASET"}"#,
            &events,
        ),
    ];
    for (method, path, body, target) in requests {
        let fill =
            |id: &str| (path.replace("{}", id), body.replace("{}", id).replace("{b}", &partners));
        let fake = unknown_like(target);
        let (real_path, real_body) = fill(target);
        let (fake_path, fake_body) = fill(&fake);
        let real = ask(&server, BOB_TOKEN, method, &real_path, &real_body, target);
        let none = ask(&server, BOB_TOKEN, method, &fake_path, &fake_body, &fake);
        assert_eq!(real, none, "{method} {path}: A's object and a nonexistent one differ");
        assert_eq!(real.0, 404, "{method} {real_path}: {}", real.1);
        assert!(real.1.contains("not found, or `userAccount:bob` holds no role"), "{}", real.1);
        assert!(!real.1.contains("research") && !real.1.contains("models"), "{}", real.1);
    }
    // Nothing was written to A: its admin's plan is still empty.
    let plan = a.http(&server, &["plan", ".", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);

    // Lists under A's community and project are empty, as under ids that do not exist.
    for (path, id) in [
        ("/datasphere/v2/projects?communityId={}", &research),
        ("/datasphere/v2/spherectl/resources?projectId={}", &models),
        ("/datasphere/v2/spherectl/datasets?projectId={}", &models),
    ] {
        let fake = unknown_like(id);
        let real = ask(&server, BOB_TOKEN, "GET", &path.replace("{}", id), "", id);
        let none = ask(&server, BOB_TOKEN, "GET", &path.replace("{}", &fake), "", &fake);
        assert_eq!(real, none, "{path}");
        assert_eq!(real.0, 200, "{path}: {}", real.1);
    }
    // A's organization: no communities, resources, publications or uses; its view refused, as
    // for an organization id that names nothing.
    for (path, key) in [
        (format!("/datasphere/v2/communities?organizationId={ORG_A}"), "communities"),
        (format!("/datasphere/v2/spherectl/resources?organizationId={ORG_A}"), "resources"),
        (format!("/datasphere/v2/spherectl/publications?organizationId={ORG_A}"), "publications"),
        (format!("/datasphere/v2/spherectl/uses?organizationId={ORG_A}"), "uses"),
    ] {
        let (status, body) = server.raw("GET", &path, Some(BOB_TOKEN), &[], "");
        assert_eq!((status, &body[key]), (200, &Value::Array(Vec::new())), "{path}: {body}");
    }
    let org = |id: &str| format!("/datasphere/v2/spherectl/organizations/{id}");
    let fake_org = unknown_like(ORG_A);
    let real = ask(&server, BOB_TOKEN, "GET", &org(ORG_A), "", ORG_A);
    assert_eq!(real, ask(&server, BOB_TOKEN, "GET", &org(&fake_org), "", &fake_org));
    assert_eq!(real.0, 403, "{}", real.1);

    // Everything bob reads of his own organization: 200, and not one of A's ids in it
    // (the organization view used to list every other organization's communities).
    let mut seen = String::new();
    for path in [
        org(ORG_B),
        format!("/datasphere/v2/communities?organizationId={ORG_B}"),
        format!("/datasphere/v2/communities/{partners}"),
        format!("/datasphere/v2/projects?communityId={partners}"),
        format!("/datasphere/v2/projects/{intake}"),
        format!("/datasphere/v2/spherectl/datasets/{leads}"),
        format!("/datasphere/v2/spherectl/resources?organizationId={ORG_B}"),
        format!("/datasphere/v2/spherectl/publications?organizationId={ORG_B}"),
    ] {
        let (status, body) = server.raw("GET", &path, Some(BOB_TOKEN), &[], "");
        assert_eq!(status, 200, "{path}: {body}");
        seen.push_str(&body.to_string());
    }
    assert!(seen.contains(&partners) && seen.contains(&leads), "{seen}");
    for id in [&research, &models, &events, &ORG_A.to_owned()] {
        assert!(!seen.contains(id.as_str()), "`{id}` of organization A shown to bob: {seen}");
    }
    let (_, view) = server.raw("GET", &org(ORG_B), Some(BOB_TOKEN), &[], "");
    assert_eq!(view["foreignCommunities"], Value::Array(Vec::new()), "{view}");
    // The local admin administers both organizations: A's community is in its view of B.
    let view = server.get(&org(ORG_B));
    let foreign = view["foreignCommunities"].as_array().unwrap();
    assert!(
        foreign.iter().any(|c| c["id"] == research.as_str() && c["organizationId"] == ORG_A),
        "{view}"
    );

    // A's admin still reads all of A; an id that names nothing is a plain 404 to it too.
    for path in [
        format!("/datasphere/v2/communities/{research}"),
        format!("/datasphere/v2/projects/{models}"),
        format!("/datasphere/v2/spherectl/datasets/{events}"),
    ] {
        assert_eq!(server.raw("GET", &path, Some(TOKEN), &[], "").0, 200, "{path}");
    }
    let (status, body) = server.raw(
        "GET",
        &format!("/datasphere/v2/projects/{}", unknown_like(&models)),
        Some(TOKEN),
        &[],
        "",
    );
    assert_eq!((status, &body["code"]), (404, &Value::from(5)), "{body}");
}

/// Bob publishes B's dataset into A's community by id: the plan over HTTP denies it with a
/// reason that does not say whether the community exists (the same text as for an id that
/// names nothing), and the write, forced past the planner, is refused with the same reason.
#[test]
fn publishing_into_a_community_the_actor_cannot_see_is_denied_at_plan_and_at_the_write() {
    let (server, _a, b, [research, _, _]) = two_organizations("");
    let apply = b.http_with_token(&server, &["apply", ".", "--yes"], BOB_TOKEN);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    let reason =
        format!("it is not a community of organization `{ORG_B}`, or `{BOB}` has no access to it");
    let fake = unknown_like(&research);
    let mut plans = Vec::new();
    for id in [&research, &fake] {
        std::fs::write(b.path().join("org.yaml"), set_b(&format!("{{id: {id}}}"))).unwrap();
        let plan = b.http_with_token(&server, &["plan", "."], BOB_TOKEN);
        assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
        assert!(plan.stderr.contains("spherectl::rules::cross_organization"), "{}", plan.stderr);
        assert!(plan.stderr.contains(&reason), "{}", plan.stderr);
        for leak in ["another organization", ORG_A, "research"] {
            assert!(!plan.stderr.contains(leak), "`{leak}` in {}", plan.stderr);
        }
        plans.push(plan.stderr.replace(id.as_str(), "ID"));
    }
    assert_eq!(plans[0], plans[1], "the plan tells A's community from a nonexistent one");

    // Forced past the planner: the write answers alike for both ids, with the plan's reason.
    let communities = server.get(&format!("/datasphere/v2/communities?organizationId={ORG_B}"));
    let partners = id_in(&communities, "communities", "partners");
    let projects = server.get(&format!("/datasphere/v2/projects?communityId={partners}"));
    let intake = id_in(&projects, "projects", "intake");
    let resources = server.get(&format!("/datasphere/v2/spherectl/resources?projectId={intake}"));
    let leads = id_in(&resources, "resources", "leads");
    let publish = |id: &str| {
        let body = format!(r#"{{"communityId":"{id}","resourceType":"RESOURCE_TYPE_DATASET"}}"#);
        let path = format!("/datasphere/v2/communities/{leads}:addResource");
        ask(&server, BOB_TOKEN, "POST", &path, &body, id)
    };
    let real = publish(&research);
    assert_eq!(real, publish(&fake));
    assert_eq!(real.0, 404, "{}", real.1);
    assert!(real.1.contains(&reason), "{}", real.1);
    assert!(!real.1.contains("another organization"), "{}", real.1);
    let listed =
        server.get(&format!("/datasphere/v2/spherectl/publications?organizationId={ORG_B}"));
    assert_eq!(listed["publications"], Value::Array(Vec::new()), "{listed}");
}

/// The embedded sandbox (and `serve --unchecked-reads`, which the over-HTTP run uses) agree:
/// an actor that cannot see a community of another organization gets the same reason at plan
/// and from the sandbox's write; the local admin, who administers both organizations, is told
/// the community belongs to another organization.
#[test]
fn the_embedded_sandbox_gives_the_same_reasons_for_a_hidden_community() {
    let a = Case::files(&[("org.yaml", SET_A)]);
    crate::applied(&a);
    let research = {
        let state = a.sandbox().read(ORG_A).unwrap();
        state.objects.iter().find(|o| o.name == "research").unwrap().id.clone()
    };
    bob_administers_b(&a.db());
    std::fs::write(a.path().join("org.yaml"), set_b("")).unwrap();
    let apply = a.run_as(&["apply", ".", "--yes"], Some(BOB));
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);

    std::fs::write(a.path().join("org.yaml"), set_b(&format!("{{id: {research}}}"))).unwrap();
    let plan = a.run_as(&["plan", "."], Some(BOB));
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    let reason =
        format!("it is not a community of organization `{ORG_B}`, or `{BOB}` has no access to it");
    assert!(plan.stderr.contains(&reason), "{}", plan.stderr);
    assert!(!plan.stderr.contains("another organization"), "{}", plan.stderr);

    let bob = Sandbox::open(&a.db(), BOB).unwrap();
    let leads = {
        let state = bob.read(ORG_B).unwrap();
        state.objects.iter().find(|o| o.name == "leads").unwrap().id.clone()
    };
    let error = bob.publish(Kind::Dataset, &leads, &research).unwrap_err();
    assert!(error.message.contains(&reason), "{}", error.message);
    drop(bob);

    // The local admin sees both organizations: told where the community is.
    let plan = a.run(&["plan", "."]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains(": it belongs to another organization"), "{}", plan.stderr);
    assert!(plan.stderr.contains(&format!("organization `{ORG_A}`")), "{}", plan.stderr);
}
