//! The core loop over HTTP: `spherectl serve` on a free loopback port, spherectl pointed at it
//! with `--platform http://ADDR` (issue 8). Every server is killed when its guard drops.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::Value;

use super::{Case, Run};

pub(crate) const TOKEN: &str = "t1-admin-token-9b2c";

/// A running `spherectl serve`; killed on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
}

impl Server {
    pub(crate) fn start(db: &Path, extra: &[&str]) -> Server {
        Server::start_logging(db, extra, None)
    }

    /// Starts the server with `--access-log` written to `log` when given.
    pub(crate) fn start_logging(db: &Path, extra: &[&str], log: Option<&Path>) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_spherectl"));
        command
            .env_clear()
            .env("NO_COLOR", "1")
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .args(["--token", &format!("{TOKEN}=userAccount:local-admin")])
            .args(["--token", "t2-nobody=userAccount:nobody"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(log) = log {
            command.arg("--access-log").stderr(std::fs::File::create(log).unwrap());
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, receive) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = send.send(line);
        });
        let line = match receive.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("spherectl serve did not print its address");
            }
        };
        let url = line.trim().strip_prefix("listening on ").unwrap_or_default().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "unexpected first line: {line:?}");
        Server { child, url }
    }

    fn address(&self) -> &str {
        self.url.strip_prefix("http://").unwrap()
    }

    /// A raw HTTP/1.1 request, as a client written against the real API would send it; no
    /// `Content-Type` unless given in `headers`. Returns the status and the JSON body.
    pub(crate) fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Value) {
        let mut stream = TcpStream::connect(self.address()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.address()
        );
        if let Some(token) = token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    pub(crate) fn get(&self, path: &str) -> Value {
        let (status, body) = self.raw("GET", path, Some(TOKEN), &[], "");
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Case {
    pub(crate) fn http(&self, server: &Server, args: &[&str]) -> Run {
        self.http_with_token(server, args, TOKEN)
    }

    pub(crate) fn http_with_token(&self, server: &Server, args: &[&str], token: &str) -> Run {
        let mut case_args: Vec<&str> = args.to_vec();
        case_args.extend(["--platform", &server.url]);
        let mut command = super::support::spherectl(self.path(), &case_args);
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command.env("SPHERECTL_TOKEN", token);
        Run::of(&command.output().unwrap())
    }

    pub(crate) fn server_db(&self) -> std::path::PathBuf {
        self.path().join("serve.db")
    }
}

/// Apply converges over HTTP, the next plan is empty and drift exits 0.
fn converges_over_http(example: &str) {
    let case = Case::example(example);
    let server = Server::start(&case.server_db(), &[]);
    let apply = case.http(&server, &["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    assert!(apply.stderr.contains("Apply complete"), "{}", apply.stderr);
    let plan = case.http(&server, &["plan", ".", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    let drift = case.http(&server, &["drift", "."]);
    assert_eq!(drift.code, 0, "{}\n{}", drift.stdout, drift.stderr);
    assert!(!case.db().exists(), "the embedded sandbox was not used");
}

#[test]
fn quickstart_converges_over_http() {
    converges_over_http("quickstart");
}

#[test]
fn multi_team_converges_over_http() {
    converges_over_http("multi-team");
}

fn first_id(list: &Value, key: &str) -> String {
    list[key][0]["id"].as_str().unwrap().to_owned()
}

#[test]
fn a_change_behind_spherectls_back_is_drift() {
    let case = Case::example("quickstart");
    let server = Server::start(&case.server_db(), &[]);
    let apply = case.http(&server, &["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let communities = server.get("/datasphere/v2/communities?organizationId=bpf00000000quickstart");
    let community = first_id(&communities, "communities");
    let project = first_id(
        &server.get(&format!("/datasphere/v2/projects?communityId={community}")),
        "projects",
    );
    // snake_case, an int64 as a number, no Content-Type, updateMask as a string.
    let (status, operation) = server.raw(
        "PATCH",
        &format!("/datasphere/v2/projects/{project}"),
        Some(TOKEN),
        &[],
        r#"{"update_mask": "limits.max_units_per_hour", "limits": {"max_units_per_hour": 7}}"#,
    );
    assert_eq!(status, 200, "{operation}");
    assert_eq!(operation["done"], true);
    assert_eq!(operation["response"]["limits"]["maxUnitsPerHour"], "7");
    let drift = case.http(&server, &["drift", "."]);
    assert_eq!(drift.code, 2, "{}\n{}", drift.stdout, drift.stderr);
    assert!(drift.stdout.contains("spec.limits.maxUnitsPerHour"), "{}", drift.stdout);
    // What the manifests say, then what the platform has.
    assert!(drift.stdout.contains("100 → 7  (manifests → platform)"), "{}", drift.stdout);
}

#[test]
fn a_wrong_token_is_a_clear_error_without_the_token() {
    let case = Case::example("quickstart");
    let server = Server::start(&case.server_db(), &[]);
    let token = "t1.wrong-TOKEN-never-echoed";
    let plan = case.http_with_token(&server, &["plan", "."], token);
    assert_eq!(plan.code, 1, "{}\n{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("401 Unauthorized"), "{}", plan.stderr);
    assert!(plan.stderr.contains("SPHERECTL_TOKEN"), "{}", plan.stderr);
    assert!(
        plan.stderr.contains("GET /datasphere/v2/") && plan.stderr.contains("request id `"),
        "{}",
        plan.stderr
    );
    assert!(!plan.stderr.contains(token) && !plan.stdout.contains(token), "{}", plan.stderr);
}

#[test]
fn apply_converges_with_faults_and_latency() {
    let case = Case::example("quickstart");
    let server = Server::start(
        &case.server_db(),
        &["--fault-rate", "0.2", "--latency", "50", "--operation-delay", "30"],
    );
    let apply = case.http(&server, &["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let plan = case.http(&server, &["plan", ".", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
}

#[test]
fn a_server_killed_mid_apply_then_a_rerun_converges_without_duplicates() {
    let case = Case::example("multi-team");
    let mut server = Server::start(&case.server_db(), &["--latency", "100"]);
    let mut command = Command::new(env!("CARGO_BIN_EXE_spherectl"));
    command
        .env_clear()
        .env("NO_COLOR", "1")
        .env("SPHERECTL_TOKEN", TOKEN)
        .env("SPHERECTL_HTTP_ATTEMPTS", "2")
        .current_dir(case.path())
        .args(["apply", ".", "--yes", "--parallelism", "2", "--platform", &server.url])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, value) in &case.env {
        command.env(name, value);
    }
    let mut apply = command.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    server.kill();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = apply.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "apply did not stop after the server died");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success(), "apply finished before the server was killed: make it slower");
    let server = Server::start(&case.server_db(), &[]);
    let rerun = case.http(&server, &["apply", ".", "--yes"]);
    assert_eq!(rerun.code, 0, "{}\n{}", rerun.stdout, rerun.stderr);
    let plan = case.http(&server, &["plan", ".", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    // Nothing duplicated: one object per manifest object, by listing.
    let organization = "/datasphere/v2/communities?organizationId=bpf0000000000000acme";
    let communities = server.get(organization)["communities"].as_array().unwrap().len();
    let resources = server
        .get("/datasphere/v2/spherectl/resources?organizationId=bpf0000000000000acme")["resources"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(communities, 3);
    assert!(resources > 0);
    let names: Vec<String> = server
        .get("/datasphere/v2/spherectl/resources?organizationId=bpf0000000000000acme")["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}/{}/{}", r["projectId"], r["resourceType"], r["name"]))
        .collect();
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "duplicated resources: {names:?}");
}

#[test]
fn clients_written_against_the_real_api_work_unchanged() {
    let case = Case::example("quickstart");
    let server = Server::start(&case.server_db(), &["--token", "t5-carol=userAccount:carol"]);
    // No token: 401 with a Status body.
    let (status, body) =
        server.raw("GET", "/datasphere/v2/communities?organizationId=o1", None, &[], "");
    assert_eq!(status, 401);
    assert_eq!(body["code"], 16);
    // snake_case create without Content-Type, on a collection path with a trailing slash.
    let key = [("Idempotency-Key", "4b0f8c1e-0000-4000-8000-000000000001")];
    let create = r#"{"organization_id": "o1", "name": "team-a", "zone_id": "ru-central1-a", "labels": {"cost_center": "x"}}"#;
    let (status, first) =
        server.raw("POST", "/datasphere/v2/communities/", Some(TOKEN), &key, create);
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        first["metadata"]["@type"],
        "type.googleapis.com/yandex.cloud.datasphere.v2.CreateCommunityMetadata"
    );
    assert_eq!(first["response"]["labels"]["cost_center"], "x");
    // The same Idempotency-Key returns the same operation and creates nothing more.
    let (_, again) = server.raw("POST", "/datasphere/v2/communities", Some(TOKEN), &key, create);
    assert_eq!(again["id"], first["id"]);
    let community = first["response"]["id"].as_str().unwrap().to_owned();
    // Projects: int64 as numbers, a project always has `settings`; pagination by pageToken.
    for name in ["p-one", "p-two", "p-three"] {
        let body = format!(
            r#"{{"community_id": "{community}", "name": "{name}", "limits": {{"max_units_per_hour": 5}}}}"#
        );
        let (status, operation) = server.raw(
            "POST",
            "/datasphere/v2/projects",
            Some(TOKEN),
            &[("Content-Type", "application/json")],
            &body,
        );
        assert_eq!(status, 200, "{operation}");
        assert_eq!(operation["response"]["limits"]["maxUnitsPerHour"], "5");
        assert!(operation["response"]["settings"].is_object());
    }
    let page = server.get(&format!("/datasphere/v2/projects/?communityId={community}&pageSize=2"));
    assert_eq!(page["projects"].as_array().unwrap().len(), 2);
    let token = page["nextPageToken"].as_str().unwrap().to_owned();
    assert!(!token.is_empty());
    let rest = server.get(&format!(
        "/datasphere/v2/projects?community_id={community}&page_size=2&page_token={token}"
    ));
    assert_eq!(rest["projects"].as_array().unwrap().len(), 1);
    assert_eq!(rest["nextPageToken"], "");
    let project = first_id(&page, "projects");
    // Operations are polled at /operations/{id}.
    let (status, balance) = server.raw(
        "POST",
        &format!("/datasphere/v2/projects/{project}:unitBalance"),
        Some(TOKEN),
        &[],
        r#"{"unit_balance": "250"}"#,
    );
    assert_eq!(status, 200, "{balance}");
    let polled = server.get(&format!("/operations/{}", balance["id"].as_str().unwrap()));
    assert_eq!(polled["done"], true);
    assert_eq!(
        server.get(&format!("/datasphere/v2/projects/{project}:unitBalance"))["unitBalance"],
        "250"
    );
    // Access bindings with deltas; a subject with too small a role gets 403 with the platform's
    // reason, one with no role the 404 of an object that does not exist.
    let delta = r#"{"access_binding_deltas": [{"action": "ADD", "access_binding": {"role_id": "datasphere.community-projects.viewer", "subject": {"id": "carol", "type": "userAccount"}}}]}"#;
    let (status, _) = server.raw(
        "PATCH",
        &format!("/datasphere/v2/projects/{project}:updateAccessBindings"),
        Some(TOKEN),
        &[],
        delta,
    );
    assert_eq!(status, 200);
    let bindings = server.get(&format!("/datasphere/v2/projects/{project}:accessBindings"));
    assert_eq!(bindings["accessBindings"][0]["subject"]["id"], "carol");
    let delete_as = |token: &str| {
        server.raw("DELETE", &format!("/datasphere/v2/projects/{project}"), Some(token), &[], "")
    };
    let (status, denied) = delete_as("t5-carol");
    assert_eq!(status, 403, "{denied}");
    assert_eq!(denied["code"], 7);
    assert!(denied["message"].as_str().unwrap().contains("userAccount:carol"), "{denied}");
    let (status, hidden) = delete_as("t2-nobody");
    assert_eq!(status, 404, "{hidden}");
    assert_eq!(hidden["code"], 5);
    assert!(hidden["message"].as_str().unwrap().contains("userAccount:nobody"), "{hidden}");
    // A rule the platform enforces is the operation's error.
    let (status, taken) = server.raw(
        "POST",
        "/datasphere/v2/projects",
        Some(TOKEN),
        &[],
        &format!(r#"{{"communityId": "{community}", "name": "p-one"}}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(taken["done"], true);
    assert_eq!(taken["error"]["code"], 6, "{taken}");
    // Unknown paths and methods.
    assert_eq!(server.raw("GET", "/datasphere/v2/nothing", Some(TOKEN), &[], "").0, 404);
    assert_eq!(
        server.raw("PUT", &format!("/datasphere/v2/projects/{project}"), Some(TOKEN), &[], "{}").0,
        405
    );
}

/// Against the public API (`serve --public-api-only`), resources are adopted by `metadata.id`:
/// without one the plan says why it cannot create them; with one, only their activation is
/// planned, marked unverified, and drift lists what it could not check.
#[test]
fn the_public_api_adopts_resources_by_id() {
    let case = Case::example("quickstart");
    let ids: Vec<(String, String)> = {
        let server = Server::start(&case.server_db(), &[]);
        let apply = case.http(&server, &["apply", ".", "--yes"]);
        assert_eq!(apply.code, 0, "{}", apply.stderr);
        let list =
            server.get("/datasphere/v2/spherectl/resources?organizationId=bpf00000000quickstart");
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["name"].as_str().unwrap().to_owned(), r["id"].as_str().unwrap().to_owned()))
            .collect()
    };
    let server = Server::start(&case.server_db(), &["--public-api-only"]);
    let (status, _) = server.raw(
        "GET",
        "/datasphere/v2/spherectl/resources?organizationId=x",
        Some(TOKEN),
        &[],
        "",
    );
    assert_eq!(status, 404);
    let plan = case.http(&server, &["plan", "."]);
    assert_eq!(plan.code, 1, "{}\n{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("spherectl::plan::cannot_create"), "{}", plan.stderr);
    assert!(plan.stderr.contains("metadata.id"), "{}", plan.stderr);
    for (name, id) in &ids {
        let from = format!("metadata: {{name: {name}, project: research/fraud-detection}}");
        let to = format!("metadata: {{name: {name}, project: research/fraud-detection, id: {id}}}");
        case.edit("resources.yaml", &from, &to);
    }
    let plan = case.http(&server, &["plan", ".", "--format", "json"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    let json: Value = serde_json::from_str(&plan.stdout).unwrap();
    let actions: Vec<&str> =
        json["changes"].as_array().unwrap().iter().map(|c| c["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["activate", "activate", "activate"], "{}", plan.stdout);
    assert!(plan.stderr.contains("not checked"), "{}", plan.stderr);
    assert!(
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["rule"] == "spherectl::plan::unverified")
    );
    let apply = case.http(&server, &["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let drift = case.http(&server, &["drift", "."]);
    assert!(drift.stderr.contains("secret values"), "{}", drift.stderr);
    // What cannot be read back is listed, not reported as drift: CI's drift check stays usable.
    assert_eq!(drift.code, 0, "{}\n{}", drift.stdout, drift.stderr);
    let plan = case.http(&server, &["plan", ".", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
}

/// A synthetic organization: `communities` × `projects` × `checkpoints`.
fn synthetic(communities: usize, projects: usize, checkpoints: usize) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "apiVersion: spherectl/v1\nkind: Organization\nmetadata: {name: synthetic}\nspec: {id: bpf00000000synthetic}\n",
    );
    for c in 0..communities {
        text.push_str(&format!(
            "---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {{name: team-{c}}}\nspec: {{zone: ru-central1-a}}\n"
        ));
        for p in 0..projects {
            text.push_str(&format!(
                "---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: project-{p}, community: team-{c}}}\nspec: {{limits: {{maxUnitsPerHour: 10}}}}\n"
            ));
            for n in 0..checkpoints {
                text.push_str(&format!(
                    "---\napiVersion: spherectl/v1\nkind: Checkpoint\nmetadata: {{name: checkpoint-{n}, project: team-{c}/project-{p}}}\nspec: {{description: model {n}, pinned: true}}\n"
                ));
            }
        }
    }
    std::fs::write(dir.path().join("organization.yaml"), text).unwrap();
    Case { dir, env: Vec::new() }
}

/// The requests of a no-op plan, from the server's access log.
fn no_op_plan_requests(case: &Case) -> Vec<String> {
    {
        let server = Server::start(&case.server_db(), &[]);
        let apply = case.http(&server, &["apply", ".", "--yes"]);
        assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    }
    let log = case.path().join("access.log");
    let mut server = Server::start_logging(&case.server_db(), &[], Some(&log));
    let plan = case.http(&server, &["plan", ".", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    server.kill();
    std::fs::read_to_string(log).unwrap().lines().map(str::to_owned).collect()
}

/// A no-op plan's requests grow with communities and projects, not with resources:
/// `2C + 2P + 6` on `serve` (see BENCHMARKS.md).
#[test]
fn a_no_op_plan_makes_requests_per_community_and_project_not_per_resource() {
    let few = no_op_plan_requests(&synthetic(2, 2, 1));
    let many = no_op_plan_requests(&synthetic(2, 2, 25));
    assert_eq!(few.len(), 2 * 2 + 2 * 4 + 6, "{few:#?}");
    assert_eq!(many.len(), few.len(), "{many:#?}");
    assert!(few.iter().all(|line| line.ends_with(" 200")), "{few:#?}");
}

/// A plan saved over HTTP applies, and is refused once the platform changed (object versions
/// come from the extension).
#[test]
fn a_saved_plan_applies_over_http() {
    let case = Case::example("quickstart");
    let server = Server::start(&case.server_db(), &[]);
    let plan = case.http(&server, &["plan", ".", "--out", "plan.json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let apply = case.http(&server, &["apply", "--plan", "plan.json", "--yes"]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    case.edit("project.yaml", "maxUnitsPerHour: 100", "maxUnitsPerHour: 200");
    let plan = case.http(&server, &["plan", ".", "--out", "plan.json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let communities = server.get("/datasphere/v2/communities?organizationId=bpf00000000quickstart");
    let community = first_id(&communities, "communities");
    let (status, _) = server.raw(
        "PATCH",
        &format!("/datasphere/v2/communities/{community}"),
        Some(TOKEN),
        &[],
        r#"{"updateMask": "description", "description": "changed meanwhile"}"#,
    );
    assert_eq!(status, 200);
    let stale = case.http(&server, &["apply", "--plan", "plan.json", "--yes"]);
    assert_eq!(stale.code, 1, "{}\n{}", stale.stdout, stale.stderr);
    assert!(stale.stderr.contains("stale"), "{}", stale.stderr);
}

/// An operation that is not done within `SPHERECTL_OPERATION_TIMEOUT` fails the change, says
/// so, and a later run converges.
#[test]
fn an_operation_that_never_finishes_times_out() {
    let case = Case::example("quickstart");
    let server = Server::start(&case.server_db(), &["--operation-delay", "60000"]);
    let mut command = Command::new(env!("CARGO_BIN_EXE_spherectl"));
    command
        .env_clear()
        .env("NO_COLOR", "1")
        .env("SPHERECTL_TOKEN", TOKEN)
        .env("SPHERECTL_OPERATION_TIMEOUT", "1")
        .current_dir(case.path())
        .args(["apply", ".", "--yes", "--platform", &server.url]);
    for (name, value) in &case.env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not done after 1s"), "{stderr}");
    drop(server);
    let server = Server::start(&case.server_db(), &[]);
    let apply = case.http(&server, &["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let plan = case.http(&server, &["plan", ".", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
}

/// SIGTERM stops the server gracefully: it exits 0.
#[cfg(unix)]
#[test]
fn serve_stops_gracefully_on_sigterm() {
    let case = Case::example("quickstart");
    let mut server = Server::start(&case.server_db(), &[]);
    let pid = server.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
}

/// Subjects the scenarios act as; over HTTP each has the token `e2e-<subject>`.
const SUBJECTS: &[&str] =
    &["userAccount:local-admin", "userAccount:alice", "userAccount:bob", "userAccount:mallory"];

/// Whether `SPHERECTL_E2E_OVER_HTTP` asks every scenario to run over HTTP: then `Case::run`
/// points `plan`, `apply` and `drift` at a `spherectl serve` of the case's own sandbox database
/// (`SPHERECTL_E2E_OVER_HTTP=1 cargo test --test e2e`).
///
/// The scenarios in [`SANDBOX_ONLY`] check the embedded sandbox itself (its database and key
/// files, its name in plans and saved plans) and run on it in either mode.
pub(crate) fn over_http() -> bool {
    let wanted =
        std::env::var_os("SPHERECTL_E2E_OVER_HTTP").is_some_and(|v| !v.is_empty() && v != "0");
    // libtest names each test's thread after the test.
    let test = std::thread::current().name().unwrap_or_default().to_owned();
    wanted && !SANDBOX_ONLY.contains(&test.as_str())
}

/// Scenarios about the embedded sandbox's own files and name, not the core loop.
const SANDBOX_ONLY: &[&str] = &[
    // The plan text names the platform (`on sandbox:…`).
    "first_plan_renders_every_create",
    // The sandbox's key file and read-only database.
    "issue7::issue7_a_key_readable_by_others_is_refused",
    "issue7::issue7_a_missing_key_is_an_error_when_the_database_holds_secrets",
    "issue7::issue7_plan_against_a_missing_sandbox_creates_nothing",
    // Saved plans that name a sandbox path, applied from another directory or platform.
    "issue7::issue7_a_saved_plan_applies_from_another_directory",
    "issue7::issue7_a_saved_plan_for_another_platform_organization_or_version_is_refused",
    // Another sandbox's key file copied over this one's.
    "adversary::another_sandboxs_key_is_refused_not_read_as_every_secret_changed",
];

/// The token that acts as `actor` (default: the local admin) on [`shared_server`]s.
pub(crate) fn token_for(actor: Option<&str>) -> String {
    format!("e2e-{}", actor.unwrap_or("userAccount:local-admin"))
}

/// The URL of a `spherectl serve` of `db`, started on first use. It runs with
/// `--stop-with-stdin` and this process holds its stdin, so it stops when the tests end.
pub(crate) fn shared_server(db: &Path) -> String {
    type Running = std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, (Child, String)>>;
    static SERVERS: std::sync::OnceLock<Running> = std::sync::OnceLock::new();
    let mut servers = SERVERS.get_or_init(Running::default).lock().unwrap();
    if let Some((_, url)) = servers.get(db) {
        return url.clone();
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_spherectl"));
    command
        .env_clear()
        .args(["serve", "--stop-with-stdin", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        // The scenarios compare with the embedded sandbox, whose reader sees everything (actors
        // without an organization role plan the whole organization there).
        .arg("--unchecked-reads")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for subject in SUBJECTS {
        command.args(["--token", &format!("{}={subject}", token_for(Some(subject)))]);
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = send.send(line);
    });
    let line = receive.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
    let url = line.trim().strip_prefix("listening on ").unwrap_or_default().to_owned();
    assert!(url.starts_with("http://"), "spherectl serve did not start: {line:?}");
    servers.insert(db.to_path_buf(), (child, url.clone()));
    url
}
