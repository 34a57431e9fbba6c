//! Adversarial tests, second round: renames that meet adoptions and deletes, the roles and
//! quotas a plan checks before anything is applied, and `spherectl serve` as a client written
//! against the real API (or a nosy one) sees it. A test marked `#[ignore = "defect: ..."]`
//! reproduces a defect that is not fixed yet.

use serde_json::{Value, json};

use crate::{
    Case, ORG, SECRET, actions, applied, converged,
    http::{Server, TOKEN},
};

fn project(name: &str, extra: &str, description: &str) -> String {
    format!(
        "---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: {name}, community: research{extra}}}\nspec: {{description: {description}}}\n"
    )
}

fn write(case: &Case, text: &str) {
    std::fs::write(case.path().join("org.yaml"), text).unwrap();
}

/// The live id of the object of `kind` named `name`.
fn id_of(case: &Case, kind: spherectl::manifest::Kind, name: &str) -> Option<String> {
    use spherectl::platform::Platform as _;
    let live = case.sandbox().read("bpf00000000000000acme").unwrap();
    live.objects.into_iter().find(|o| o.kind == kind && o.name == name).map(|o| o.id)
}

fn project_id(case: &Case, name: &str) -> Option<String> {
    id_of(case, spherectl::manifest::Kind::Project, name)
}

// ---------------------------------------------------------------------------------------------
// Renames and identity

/// `b` adopts `a` by id (an implicit rename a → b) while `c renamedFrom: b` frees the name `b`:
/// the ordering waits for that. The mirror case (`b renamedFrom: a`, `c` adopting `b` by id)
/// must wait too: the rename into `b` has to come after the adoption renames `b` away.
#[test]
fn a_rename_into_a_name_an_adoption_vacates_applies_the_first_time() {
    let case = Case::files(&[(
        "org.yaml",
        &format!("{ORG}{}{}", project("a", "", "was-a"), project("b", "", "was-b")),
    )]);
    applied(&case);
    let (a, b) = (project_id(&case, "a").unwrap(), project_id(&case, "b").unwrap());
    write(
        &case,
        &format!(
            "{ORG}{}{}",
            project("b", ", renamedFrom: a", "was-a"),
            project("c", &format!(", id: {b}"), "was-b")
        ),
    );
    let plan = case.plan_json();
    assert!(actions(&plan).iter().all(|(action, _)| action == "update"), "{plan:#}");
    // One change at a time, in the plan's order: the graph's order must be enough.
    let apply = case.run(&["apply", ".", "--yes", "--parallelism", "1"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    converged(&case);
    assert_eq!(project_id(&case, "b"), Some(a));
    assert_eq!(project_id(&case, "c"), Some(b));
}

/// `b renamedFrom: a` while a stale `b` of this set is still live (its document is gone): the
/// user named `a` as the object to keep. The plan must not delete `a` (its notebooks and data)
/// and keep the stale `b` in its place: either it deletes `b` and then renames `a` into the freed
/// name, or it refuses the ambiguous rename.
#[test]
fn renamed_from_into_a_name_held_by_an_undeclared_object_never_deletes_the_renamed_object() {
    let case = Case::files(&[(
        "org.yaml",
        &format!("{ORG}{}{}", project("a", "", "was-a"), project("b", "", "was-b")),
    )]);
    applied(&case);
    let a = project_id(&case, "a").unwrap();
    write(&case, &format!("{ORG}{}", project("b", ", renamedFrom: a", "was-a")));
    let plan = case.run(&["plan", ".", "--format", "json", "--allow-delete"]);
    if plan.code == 0 {
        let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
        assert!(
            !actions(&plan).contains(&("delete".into(), "Project/research/a".into())),
            "the plan deletes the project that `renamedFrom` names: {plan:#}"
        );
        let apply = case.run(&["apply", ".", "--yes", "--allow-delete"]);
        assert_eq!(apply.code, 0, "{}", apply.stderr);
        converged(&case);
        assert_eq!(project_id(&case, "b"), Some(a), "`a` keeps its id under its new name");
    } else {
        assert!(plan.stderr.contains("renamedFrom"), "{}", plan.stderr);
        assert_eq!(project_id(&case, "a"), Some(a));
    }
}

/// `b renamedFrom: a` next to a plain `a`, with both `a` and `b` live: the rename cannot start
/// (its name is held), so both documents match by name and the plan quietly writes `a`'s
/// declared contents onto `b` and the reverse: the content swap that `rename_cycle` refuses
/// for two `renamedFrom`s. A `renamedFrom` that names a live object is never ignored without a
/// finding that says so.
#[test]
fn a_renamed_from_that_cannot_apply_is_never_ignored_silently() {
    let case = Case::files(&[(
        "org.yaml",
        &format!("{ORG}{}{}", project("a", "", "was-a"), project("b", "", "was-b")),
    )]);
    applied(&case);
    write(
        &case,
        &format!("{ORG}{}{}", project("b", ", renamedFrom: a", "was-a"), project("a", "", "was-b")),
    );
    let plan = case.run(&["plan", "."]);
    assert!(
        plan.stderr.contains("renamedFrom"),
        "no finding about the rename it ignores:\n{}{}",
        plan.stdout,
        plan.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// Roles at plan time

const TWO_COMMUNITIES: &str = org_then!(
    "---
apiVersion: spherectl/v1
kind: Community
metadata: {name: analytics}
"
);

/// A project developer who writes itself in as the project's admin: only an admin can grant
/// that, so the platform refuses the grant. The plan counted the role it is about to grant as
/// already held, and passed.
#[test]
fn granting_yourself_a_role_you_lack_is_refused_by_the_plan() {
    let text = format!(
        "{ORG}---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: alpha, community: research}}\nspec:\n  members: [{{subject: \"userAccount:alice\", role: developer}}]\n"
    );
    let case = Case::files(&[("org.yaml", &text)]);
    applied(&case);
    write(&case, &text.replace("role: developer", "role: admin"));
    let plan = case.run_as(&["plan", "."], Some("userAccount:alice"));
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("spherectl::rules::permission"), "{}", plan.stderr);
    let apply = case.run_as(&["apply", ".", "--yes"], Some("userAccount:alice"));
    assert!(apply.stderr.contains("nothing applied"), "{}", apply.stderr);
}

/// Unpublishing needs the sharing rule's project role on the resource's project (the sandbox
/// checks it); the plan checked publications only, so an unpublish passed and then failed.
#[test]
fn an_unpublish_the_actor_may_not_do_is_refused_by_the_plan() {
    let text = format!(
        "{TWO_COMMUNITIES}---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: models, community: research}}\nspec:\n  members: [{{subject: \"userAccount:alice\", role: developer}}]\n---\napiVersion: spherectl/v1\nkind: Dataset\nmetadata: {{name: events, project: research/models}}\nspec: {{sizeGb: 5, publish: [analytics]}}\n"
    );
    let case = Case::files(&[("org.yaml", &text)]);
    applied(&case);
    write(&case, &text.replace("spec: {sizeGb: 5, publish: [analytics]}", "spec: {sizeGb: 5}"));
    let plan = case.run_as(&["plan", "."], Some("userAccount:alice"));
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("needs `admin`"), "{}", plan.stderr);
}

/// A project's admin (with no role in its community) removes the project's document: the
/// platform lets a project admin delete it, but the plan read the actor's role from the
/// declared objects only, found none for the pruned project, and denied the plan.
#[test]
fn a_project_admin_may_delete_its_own_project() {
    let keep = format!(
        "{ORG}---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: keep, community: research}}\n"
    );
    let text = format!(
        "{keep}---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: pa, community: research}}\nspec:\n  members: [{{subject: \"userAccount:bob\", role: admin}}]\n---\napiVersion: spherectl/v1\nkind: Secret\nmetadata: {{name: token, project: research/pa}}\nspec: {{value: {{fromEnv: APP_TOKEN}}}}\n"
    );
    let case = Case::files(&[("org.yaml", &text)]);
    applied(&case);
    write(&case, &keep);
    let plan = case.run_as(&["plan", ".", "--allow-delete"], Some("userAccount:bob"));
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    let apply = case.run_as(&["apply", ".", "--yes", "--allow-delete"], Some("userAccount:bob"));
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert_eq!(project_id(&case, "pa"), None);
}

/// The same false denial for a community: its admin removes its (empty) community's document.
#[test]
fn a_community_admin_may_delete_its_own_community() {
    let text = format!(
        "{TWO_COMMUNITIES}spec:\n  members: [{{subject: \"userAccount:alice\", role: admin}}]\n"
    );
    let case = Case::files(&[("org.yaml", &text)]);
    applied(&case);
    write(
        &case,
        TWO_COMMUNITIES
            .strip_suffix(
                "---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {name: analytics}\n",
            )
            .unwrap(),
    );
    let apply = case.run_as(&["apply", ".", "--yes", "--allow-delete"], Some("userAccount:alice"));
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert_eq!(id_of(&case, spherectl::manifest::Kind::Community, "analytics"), None);
}

/// Control: what the actor holds is enough, and nothing more is asked (a community admin who
/// is not an organization admin renames and edits its community, creates a project in it with
/// an active dataset, renames a project, sets its balance and members).
#[test]
fn a_community_admin_manages_its_own_community_without_a_false_denial() {
    let text = format!(
        "{TWO_COMMUNITIES}spec:\n  members: [{{subject: \"userAccount:alice\", role: admin}}]\n---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: old, community: analytics}}\n"
    );
    let case = Case::files(&[("org.yaml", &text)]);
    applied(&case);
    let old = project_id(&case, "old").unwrap();
    let changed = format!(
        "{}metadata: {{name: lab, renamedFrom: analytics, labels: {{x: y}}}}\nspec:\n  description: changed\n  members: [{{subject: \"userAccount:alice\", role: admin}}, {{subject: \"userAccount:carol\", role: viewer}}]\n---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: new, community: lab, renamedFrom: old}}\nspec:\n  balance: 10\n  members: [{{subject: \"userAccount:dave\", role: editor}}]\n---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: fresh, community: lab}}\n---\napiVersion: spherectl/v1\nkind: Dataset\nmetadata: {{name: ds, project: lab/fresh}}\nspec: {{sizeGb: 1, active: true}}\n",
        TWO_COMMUNITIES.strip_suffix("metadata: {name: analytics}\n").unwrap()
    );
    write(&case, &changed);
    let apply = case.run_as(&["apply", ".", "--yes"], Some("userAccount:alice"));
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    converged(&case);
    assert_eq!(project_id(&case, "new"), Some(old));
}

// ---------------------------------------------------------------------------------------------
// Quotas at plan time

/// A quota lowered below what a community holds: the plan leaves a scope that it does not grow
/// alone, but a replace is a delete and then a create, and the platform refuses the create. The
/// plan passed, and the apply deleted the image and failed to create it again.
#[test]
fn a_replace_in_a_scope_over_its_quota_is_refused_before_anything_is_deleted() {
    let mut text = format!(
        "{ORG}---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: alpha, community: research}}\n"
    );
    for i in 1..=2 {
        text.push_str(&format!(
            "---\napiVersion: spherectl/v1\nkind: DockerImage\nmetadata: {{name: i{i}, project: research/alpha}}\nspec: {{repository: r, tag: v{i}, dockerfile: 'FROM x'}}\n"
        ));
    }
    let case = Case::files(&[("org.yaml", &text)]);
    applied(&case);
    let platform = format!("sandbox:{}", case.db().display());
    let quota =
        case.run(&["--platform", &platform, "sandbox", "quota", "docker-images-per-community=1"]);
    assert_eq!(quota.code, 0, "{}", quota.stderr);
    write(&case, &text.replace("tag: v2", "tag: v3"));
    let apply = case.run(&["apply", ".", "--yes"]);
    let image = id_of(&case, spherectl::manifest::Kind::DockerImage, "i2");
    assert!(image.is_some(), "the image was deleted and not created again: {}", apply.stderr);
    assert_eq!(apply.code, 1, "{}", apply.stderr);
    assert!(apply.stderr.contains("spherectl::rules::quota"), "{}", apply.stderr);
}

// ---------------------------------------------------------------------------------------------
// HTTP: `spherectl serve`

/// A token that maps to a subject with no role anywhere in the organization read every
/// secret's keyed digest, and `secrets:digest` digests any guess with the same key: together an
/// oracle that confirms a guessed password. Operations (whose responses carry the digests too)
/// were readable by any token as well.
#[test]
fn a_subject_without_a_role_cannot_confirm_a_guessed_secret() {
    let case = Case::example("quickstart");
    let server = Server::start(&case.server_db(), &[]);
    let apply = case.http(&server, &["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let path = "/datasphere/v2/spherectl/secrets?organizationId=bpf00000000quickstart";
    let (_, admin) = server.raw("GET", path, Some(TOKEN), &[], "");
    assert!(admin.to_string().contains("secretDigest"), "{admin}");
    let (status, listed) = server.raw("GET", path, Some("t2-nobody"), &[], "");
    assert!(
        status != 200 || !listed.to_string().contains("secretDigest"),
        "a subject without a role reads secret digests: {listed}"
    );
    let first = &admin["secrets"][0]["id"];
    let (status, one) = server.raw(
        "GET",
        &format!("/datasphere/v2/spherectl/secrets/{}", first.as_str().unwrap()),
        Some("t2-nobody"),
        &[],
        "",
    );
    assert!(status != 200 || !one.to_string().contains("secretDigest"), "{one}");
    // The admin's operations (a secret's create answers with its digest) are the admin's.
    let (status, created) = server.raw(
        "POST",
        "/datasphere/v2/spherectl/secrets",
        Some(TOKEN),
        &[],
        &json!({"projectId": admin["secrets"][0]["projectId"], "name": "guess-me", "content": "MTIzNA=="})
            .to_string(),
    );
    assert_eq!(status, 200, "{created}");
    assert!(created.to_string().contains("secretDigest"), "{created}");
    let operation = created["id"].as_str().unwrap();
    let (status, seen) =
        server.raw("GET", &format!("/operations/{operation}"), Some("t2-nobody"), &[], "");
    assert!(
        status != 200 || !seen.to_string().contains("secretDigest"),
        "another subject's operation: {seen}"
    );
}

/// Page tokens were offsets into the list: a delete between two pages shifted the list and the
/// next page skipped an object (a plan read then misses a live object).
#[test]
fn a_delete_between_two_pages_never_makes_a_list_skip_an_object() {
    let case = Case::files(&[]);
    let server = Server::start(&case.server_db(), &[]);
    let organization = "bpf00000000000000acme";
    for i in 0..5 {
        let (status, body) = server.raw(
            "POST",
            "/datasphere/v2/communities",
            Some(TOKEN),
            &[],
            &json!({"organizationId": organization, "name": format!("pg-{i}")}).to_string(),
        );
        assert_eq!(status, 200, "{body}");
    }
    let list = |token: &str| {
        server.get(&format!(
            "/datasphere/v2/communities?organizationId={organization}&pageSize=2&pageToken={token}"
        ))
    };
    let first = list("");
    let names = |page: &Value| -> Vec<String> {
        page["communities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut seen = names(&first);
    let deleted = first["communities"][0]["id"].as_str().unwrap().to_owned();
    let (status, body) = server.raw(
        "DELETE",
        &format!("/datasphere/v2/communities/{deleted}"),
        Some(TOKEN),
        &[],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let mut token = first["nextPageToken"].as_str().unwrap().to_owned();
    for _ in 0..10 {
        if token.is_empty() {
            break;
        }
        let page = list(&token);
        seen.extend(names(&page));
        token = page["nextPageToken"].as_str().unwrap().to_owned();
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["pg-0", "pg-1", "pg-2", "pg-3", "pg-4"], "an object was skipped");
}

/// A create's operation names the new object in its metadata (`communityId`), as clients such
/// as Terraform's read it. The first answer did; a poll of the operation, and a retry with the
/// same `Idempotency-Key` (after a lost answer), said `""`.
#[test]
fn a_polled_or_replayed_create_operation_names_the_created_object() {
    let case = Case::files(&[]);
    let server = Server::start(&case.server_db(), &[]);
    let body = json!({"organizationId": "bpf00000000000000acme", "name": "polled"}).to_string();
    let key = [("Idempotency-Key", "5d9f0c4e-1b6a-4f4e-9a59-6f0f3f1f7a01")];
    let (status, first) =
        server.raw("POST", "/datasphere/v2/communities", Some(TOKEN), &key, &body);
    assert_eq!(status, 200, "{first}");
    let id = first["response"]["id"].as_str().unwrap().to_owned();
    assert_eq!(first["metadata"]["communityId"], id.as_str());
    let polled = server.get(&format!("/operations/{}", first["id"].as_str().unwrap()));
    assert_eq!(polled["metadata"]["communityId"], id.as_str(), "{polled}");
    let (_, replayed) = server.raw("POST", "/datasphere/v2/communities", Some(TOKEN), &key, &body);
    assert_eq!(replayed["metadata"]["communityId"], id.as_str(), "{replayed}");
}

/// An `Idempotency-Key` reused for another request (here a delete, after a create) answered the
/// create's operation: the client was told its delete was done, and nothing was deleted.
#[test]
fn an_idempotency_key_reused_for_another_request_is_refused() {
    let case = Case::files(&[]);
    let server = Server::start(&case.server_db(), &[]);
    let key = [("Idempotency-Key", "0b5e6f55-7f3a-4c55-8d2f-2f6a1c9e0d11")];
    let create = |name: &str, key: &[(&str, &str)]| {
        let body = json!({"organizationId": "bpf00000000000000acme", "name": name}).to_string();
        server.raw("POST", "/datasphere/v2/communities", Some(TOKEN), key, &body)
    };
    let (_, other) = create("victim", &[]);
    let victim = other["response"]["id"].as_str().unwrap().to_owned();
    let (status, first) = create("first", &key);
    assert_eq!(status, 200, "{first}");
    let (status, deleted) = server.raw(
        "DELETE",
        &format!("/datasphere/v2/communities/{victim}"),
        Some(TOKEN),
        &key,
        "",
    );
    if status == 200 {
        assert_ne!(deleted["id"], first["id"], "the create's operation answered the delete");
        let (status, _) = server.raw(
            "GET",
            &format!("/datasphere/v2/communities/{victim}"),
            Some(TOKEN),
            &[],
            "",
        );
        assert_eq!(status, 404, "the delete was answered but not done");
    } else {
        assert!((400..500).contains(&status), "{status}: {deleted}");
    }
    // The same request again with the key is still the same operation.
    let (_, again) = create("first", &key);
    assert_eq!(again["id"], first["id"]);
    // A different body under the same key is refused too, never answered as the first.
    let (status, renamed) = create("second", &key);
    assert!(status >= 400 || renamed["id"] != first["id"], "{status}: {renamed}");
    assert!(!renamed.to_string().contains(SECRET));
}

/// A gateway that answers every list page with the same `nextPageToken` (a buggy proxy, a
/// server that ignores `pageToken`): the client read the same page forever, growing its memory,
/// and a CI job hung until it was killed. It stops with an error instead.
#[test]
fn a_page_token_answered_twice_stops_the_read_instead_of_looping() {
    use std::{
        io::{BufRead, BufReader, Write},
        net::TcpListener,
        process::{Command, Stdio},
        sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        },
        time::Duration,
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let gateway = std::thread::spawn(move || {
        // Bounded: at most 600,000 requests or idle polls of 100 µs (about a minute).
        for _ in 0..600_000 {
            if stopped.load(Ordering::Relaxed) {
                break;
            }
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_micros(100));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reader = BufReader::new(stream);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = first.split(' ').nth(1).unwrap_or_default();
            let (status, body) = if path.starts_with("/datasphere/v2/spherectl") {
                ("404 Not Found", r#"{"code":5,"message":"no such path","details":[]}"#)
            } else {
                ("200 OK", r#"{"communities":[],"nextPageToken":"again"}"#)
            };
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let case = Case::files(&[("org.yaml", ORG)]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_spherectl"))
        .env_clear()
        .env("NO_COLOR", "1")
        .env("SPHERECTL_TOKEN", "t")
        .env("SPHERECTL_HTTP_ATTEMPTS", "1")
        .current_dir(case.path())
        .args(["plan", ".", "--platform", &format!("http://{address}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut finished = None;
    for _ in 0..300 {
        if let Some(status) = child.try_wait().unwrap() {
            finished = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if finished.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    stop.store(true, Ordering::Relaxed);
    gateway.join().unwrap();
    let status = finished.expect("the plan read the same page for 30 s without stopping");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("page token"), "{stderr}");
}
