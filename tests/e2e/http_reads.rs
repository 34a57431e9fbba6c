//! Reads on `spherectl serve` are role-checked, as on the real platform: a subject with no role
//! gets the 404 of an object that does not exist on an object, 403 on the organization, and
//! empty lists; a community's viewer sees that community, its projects and their resources and
//! nothing else; the organization's admin sees everything.

use serde_json::Value;

use crate::{
    Case,
    http::{Server, TOKEN},
};

const ORG_ID: &str = "bpf00000000000000acme";

const TEXT: &str = org_then!(
    "spec:
  members: [{subject: \"userAccount:alice\", role: viewer}]
---
apiVersion: spherectl/v1
kind: Community
metadata: {name: analytics}
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: alpha, community: research}
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: beta, community: analytics}
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {name: events, project: research/alpha}
spec: {sizeGb: 1}
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {name: sales, project: analytics/beta}
spec: {sizeGb: 1}
"
);

const ALICE: &str = "t3-alice";
const NOBODY: &str = "t2-nobody";

/// `(status, body)` of a GET as `token`.
fn get(server: &Server, token: &str, path: &str) -> (u16, Value) {
    server.raw("GET", path, Some(token), &[], "")
}

/// The names in a list answer's `key`.
fn names(server: &Server, token: &str, path: &str, key: &str) -> Vec<String> {
    let (status, body) = get(server, token, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    let mut names: Vec<String> = body[key]
        .as_array()
        .unwrap_or_else(|| panic!("GET {path}: no `{key}`: {body}"))
        .iter()
        .map(|item| item["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

fn id_of(server: &Server, path: &str, key: &str, name: &str) -> String {
    let body = server.get(path);
    let item = body[key].as_array().unwrap().iter().find(|item| item["name"] == name);
    item.unwrap_or_else(|| panic!("no `{name}` in {body}"))["id"].as_str().unwrap().to_owned()
}

/// The answer about an object the subject cannot see: the 404 of one that does not exist.
fn assert_hidden(server: &Server, token: &str, path: &str, subject: &str, object: &str) {
    let (status, body) = get(server, token, path);
    assert_eq!(status, 404, "GET {path} as {subject}: {body}");
    assert_eq!(body["code"], 5, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    for part in [subject, "not found", object] {
        assert!(message.contains(part), "GET {path}: `{part}` not in {message:?}");
    }
    assert!(!message.contains(token), "the token leaked: {message:?}");
}

fn assert_denied(server: &Server, token: &str, path: &str, subject: &str, object: &str) {
    let (status, body) = get(server, token, path);
    assert_eq!(status, 403, "GET {path} as {subject}: {body}");
    assert_eq!(body["code"], 7, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    for part in [subject, "`viewer`", object] {
        assert!(message.contains(part), "GET {path}: `{part}` not in {message:?}");
    }
    assert!(!message.contains(token), "the token leaked: {message:?}");
}

#[test]
fn reads_need_a_role_on_what_they_read() {
    let case = Case::files(&[("org.yaml", TEXT)]);
    let server =
        Server::start(&case.server_db(), &["--token", &format!("{ALICE}=userAccount:alice")]);
    let apply = case.http(&server, &["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);

    let communities = format!("/datasphere/v2/communities?organizationId={ORG_ID}");
    let research = id_of(&server, &communities, "communities", "research");
    let analytics = id_of(&server, &communities, "communities", "analytics");
    let projects_of = |community: &str| format!("/datasphere/v2/projects?communityId={community}");
    let alpha = id_of(&server, &projects_of(&research), "projects", "alpha");
    let beta = id_of(&server, &projects_of(&analytics), "projects", "beta");
    let resources = format!("/datasphere/v2/spherectl/resources?organizationId={ORG_ID}");
    let organization = format!("/datasphere/v2/spherectl/organizations/{ORG_ID}");

    // The organization's admin sees everything, and its plan is still empty.
    assert_eq!(names(&server, TOKEN, &communities, "communities"), ["analytics", "research"]);
    assert_eq!(names(&server, TOKEN, &projects_of(&analytics), "projects"), ["beta"]);
    assert_eq!(names(&server, TOKEN, &resources, "resources"), ["events", "sales"]);
    for path in [
        format!("/datasphere/v2/projects/{beta}"),
        format!("/datasphere/v2/projects/{beta}:accessBindings"),
        format!("/datasphere/v2/communities/{analytics}"),
        organization.clone(),
        format!("{organization}:accessBindings"),
    ] {
        assert_eq!(get(&server, TOKEN, &path).0, 200, "{path}");
    }
    let plan = case.http(&server, &["plan", ".", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);

    // A subject with no role: 404 on an object (as for one that does not exist), 403 on the
    // organization, empty lists.
    let nobody = "userAccount:nobody";
    for (path, object) in [
        (format!("/datasphere/v2/projects/{alpha}"), alpha.as_str()),
        (format!("/datasphere/v2/projects/{alpha}:accessBindings"), &alpha),
        (format!("/datasphere/v2/projects/{alpha}:unitBalance"), &alpha),
        (format!("/datasphere/v2/communities/{research}"), &research),
        (format!("/datasphere/v2/communities/{research}:accessBindings"), &research),
    ] {
        assert_hidden(&server, NOBODY, &path, nobody, object);
    }
    for path in [organization.clone(), format!("{organization}:accessBindings")] {
        assert_denied(&server, NOBODY, &path, nobody, ORG_ID);
    }
    assert!(names(&server, NOBODY, &communities, "communities").is_empty());
    assert!(names(&server, NOBODY, &projects_of(&research), "projects").is_empty());
    assert!(names(&server, NOBODY, &resources, "resources").is_empty());
    for list in ["publications", "uses"] {
        let path = format!("/datasphere/v2/spherectl/{list}?organizationId={ORG_ID}");
        let (status, body) = get(&server, NOBODY, &path);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body[list], Value::Array(Vec::new()), "{body}");
    }

    // A viewer of `research` sees it, its project and the project's dataset; not `analytics`.
    let alice = "userAccount:alice";
    assert_eq!(names(&server, ALICE, &communities, "communities"), ["research"]);
    assert_eq!(names(&server, ALICE, &projects_of(&research), "projects"), ["alpha"]);
    assert!(names(&server, ALICE, &projects_of(&analytics), "projects").is_empty());
    assert_eq!(names(&server, ALICE, &resources, "resources"), ["events"]);
    for path in [
        format!("/datasphere/v2/communities/{research}"),
        format!("/datasphere/v2/communities/{research}:accessBindings"),
        format!("/datasphere/v2/projects/{alpha}"),
        format!("/datasphere/v2/projects/{alpha}:accessBindings"),
        format!("/datasphere/v2/projects/{alpha}:unitBalance"),
    ] {
        let (status, body) = get(&server, ALICE, &path);
        assert_eq!(status, 200, "GET {path}: {body}");
    }
    assert_hidden(
        &server,
        ALICE,
        &format!("/datasphere/v2/communities/{analytics}"),
        alice,
        &analytics,
    );
    assert_hidden(&server, ALICE, &format!("/datasphere/v2/projects/{beta}"), alice, &beta);
    assert_denied(&server, ALICE, &organization, alice, ORG_ID);
    let sales = id_of(&server, &resources, "resources", "sales");
    let dataset = format!("/datasphere/v2/spherectl/datasets/{sales}");
    assert_hidden(&server, ALICE, &dataset, alice, &sales);
}
