//! A property test that tries to make a secret value appear anywhere (README: "Secrets never
//! appear in output, plan files, logs, errors or test snapshots").
//!
//! Each case is the quickstart organization whose two secrets hold adversarial values: the
//! database password from `fromEnv`, the S3 connection's secret key from `fromFile`. The values
//! contain other fields' text (a description, a label, a project name, a Dockerfile line, an
//! address, an id), YAML/JSON/markdown/HTML specials, unicode and line breaks, or look like ids
//! and addresses. Every command and format that can see them runs, and the value, in every
//! encoding a renderer could give it (raw, JSON/Rust-escaped, base64, hex, URL-encoded,
//! HTML-escaped), must appear in no stdout, stderr, written file (`plan --out`, `drift --out`,
//! imported manifests), access log or sandbox database.
//!
//! The property holds for values of 8 characters or more that are not part of the manifests'
//! own public text. A shorter value (`a`, `ab`) cannot be kept out of all output: the letters
//! occur in any text. A value equal to public text (a secret whose value is `Fraud models`, the
//! project's description) is shown as the description, legitimately; the generated values
//! therefore always hold a high-entropy core of at least 8 characters, around or between which
//! public text may sit.
//!
//! Bounded and deterministic: 24 cases (`PROPTEST_CASES` overrides), a fixed seed.

use std::path::Path;

use proptest::{
    prelude::*,
    test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner},
};
use spherectl::{
    manifest::Kind,
    platform::{Platform, SecretValue, UpdateRequest},
};

use crate::{
    Case, Run,
    http::{self, Server},
};

const ORG_ID: &str = "bpf00000000quickstart";
const ENV_SECRET: &str = "Secret/research/fraud-detection/db-password";
const FILE_SECRET: &str = "Secret/research/fraud-detection/s3-secret-key";

/// Public text of the quickstart manifests that a secret value may contain.
const PUBLIC: &[&str] = &[
    "Fraud models",
    "Research team",
    "research",
    "fraud-detection",
    "cost-center",
    "ml",
    "FROM python:3.10-slim",
    "RUN useradd -ms /bin/bash --uid 1000 jupyter",
    "Password of the transactions database",
    "https://storage.yandexcloud.net/",
    "fraud-raw-data",
    "YCAJE0000000000000000",
    ORG_ID,
    ENV_SECRET,
    FILE_SECRET,
    "spec.value",
    "(sensitive)",
    "b1g000000000folder",
];

/// Characters that mean something to YAML, JSON, markdown, HTML, shells or terminals.
const SPECIALS: &[&str] = &[
    "\"", "'", "\\", ":", ": ", "#", " #", "{", "}", "[", "]", "<", ">", "&", "*", "|", "%", "!",
    "@", "$", "`", "~", "-", "---", "...", "=", "+", "/", "?", " ", "\n", "\r\n", "\t", "é", "漢",
    "🔑", "\u{200b}", "\u{202e}", "<script>", "</td>", "&amp;", "${HOME}", "%s", "{{", "}}",
];

/// A high-entropy core: alphanumerics with specials between them, at least 8 characters.
fn core() -> impl Strategy<Value = String> {
    (
        prop::collection::vec("[A-Za-z0-9]{2,4}", 3..6),
        prop::collection::vec(prop::sample::select(SPECIALS), 3..6),
    )
        .prop_map(|(words, specials)| {
            let mut text = String::new();
            for (i, word) in words.iter().enumerate() {
                text.push_str(word);
                if let Some(special) = specials.get(i) {
                    text.push_str(special);
                }
            }
            text
        })
}

fn public() -> impl Strategy<Value = &'static str> {
    prop::sample::select(PUBLIC)
}

/// An adversarial secret value.
fn secret() -> impl Strategy<Value = String> {
    prop_oneof![
        // Plain, with specials.
        core(),
        // Containing another field's text, before, after or around the core.
        (public(), core()).prop_map(|(p, c)| format!("{p}{c}")),
        (core(), public()).prop_map(|(c, p)| format!("{c}{p}")),
        (public(), core(), public()).prop_map(|(a, c, b)| format!("{a}\n{c}\n{b}")),
        // Looking like an id or an address.
        "[a-z0-9]{17}".prop_map(|s| format!("bpf{s}")),
        "[a-z0-9-]{8,12}".prop_map(|s| format!("Secret/research/fraud-detection/{s}")),
        "[A-Z0-9]{20}".prop_map(|s| format!("YCAJ{s}")),
        // A YAML document, a JSON object, markdown and HTML.
        core().prop_map(|c| format!("---\nkind: Secret\nvalue: {c}\n")),
        core().prop_map(|c| format!("{{\"value\": \"{c}\"}}")),
        core().prop_map(|c| format!("| `{c}` |\n|---|")),
        core().prop_map(|c| format!("<b>{c}</b>")),
    ]
    .prop_map(|value| {
        // `fromFile` drops one final line break and an environment variable cannot hold NUL.
        let value = value.replace('\0', "0");
        if value.ends_with(['\n', '\r']) { format!("{value}x") } else { value }
    })
}

/// The forms in which a renderer could show `value`.
fn forms(value: &str) -> Vec<(&'static str, String)> {
    let bytes = value.as_bytes();
    let json = serde_json::to_string(value).unwrap();
    let debug = format!("{value:?}");
    let mut forms = vec![
        ("raw", value.to_owned()),
        ("json", json[1..json.len() - 1].to_owned()),
        ("debug", debug[1..debug.len() - 1].to_owned()),
        ("base64", base64(bytes, STANDARD)),
        ("base64url", base64(bytes, URL_SAFE)),
        ("hex", bytes.iter().map(|b| format!("{b:02x}")).collect()),
        ("HEX", bytes.iter().map(|b| format!("{b:02X}")).collect()),
        ("url", url_encoded(bytes, "%20")),
        ("form", url_encoded(bytes, "+")),
        ("html", html_escaped(value)),
    ];
    forms.sort_by(|a, b| a.1.cmp(&b.1));
    forms.dedup_by(|a, b| a.1 == b.1);
    forms
}

fn is_public(text: &str) -> bool {
    PUBLIC.iter().any(|p| p.contains(text))
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 without padding and without its last character, which depends on what follows the
/// value when it is encoded inside a longer text.
fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out.pop();
    out
}

fn url_encoded(bytes: &[u8], space: &str) -> String {
    let mut out = String::new();
    for b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(*b as char);
            }
            b' ' => out.push_str(space),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn html_escaped(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The secret values of one case, and every text seen so far.
struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    fn check(&self, what: &str, text: &str) -> Result<(), TestCaseError> {
        for value in &self.values {
            for (form, encoded) in forms(value) {
                if text.contains(&encoded) {
                    return Err(TestCaseError::fail(format!(
                        "the secret value {value:?} appears ({form} form {encoded:?}) in {what}:\n{text}"
                    )));
                }
            }
        }
        Ok(())
    }

    fn run(&self, case: &Case, args: &[&str]) -> Result<Run, TestCaseError> {
        let run = case.run(args);
        self.check_run(&format!("{args:?}"), &run)?;
        Ok(run)
    }

    fn check_run(&self, what: &str, run: &Run) -> Result<(), TestCaseError> {
        self.check(&format!("the stdout of {what}"), &run.stdout)?;
        self.check(&format!("the stderr of {what}"), &run.stderr)
    }

    /// Every file under `dir` (recursively), as text.
    fn check_files(&self, dir: &Path) -> Result<(), TestCaseError> {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                self.check_files(&path)?;
            } else {
                let bytes = std::fs::read(&path).unwrap();
                self.check(&path.display().to_string(), &String::from_utf8_lossy(&bytes))?;
            }
        }
        Ok(())
    }
}

fn expect(run: &Run, codes: &[i32], what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        codes.contains(&run.code),
        "{what}: exit {} not in {codes:?}\n{}\n{}",
        run.code,
        run.stdout,
        run.stderr
    );
    Ok(())
}

/// The quickstart with the database password read from `FRAUD_DB_PASSWORD`.
fn organization(env_value: &str, file_value: &str) -> Case {
    let mut case = Case::example("quickstart");
    case.edit(
        "resources.yaml",
        "value: {fromFile: secrets/db-password.txt}   # or {fromEnv: FRAUD_DB_PASSWORD}",
        "value: {fromEnv: FRAUD_DB_PASSWORD}",
    );
    std::fs::remove_file(case.path().join("secrets/db-password.txt")).unwrap();
    write_file_secret(&case, file_value);
    set_env(&mut case, Some(env_value));
    case
}

fn write_file_secret(case: &Case, value: &str) {
    std::fs::write(case.path().join("secrets/s3-secret-key.txt"), format!("{value}\n")).unwrap();
}

fn set_env(case: &mut Case, value: Option<&str>) {
    case.env.retain(|(name, _)| name != "FRAUD_DB_PASSWORD");
    if let Some(value) = value {
        case.env.push(("FRAUD_DB_PASSWORD".into(), value.into()));
    }
}

const EXFILTRATE: &str = r#"package spherectl.exfiltrate

import rego.v1

deny contains msg if {
	msg := sprintf("%v", [input])
}
"#;

/// Every command and format, on one organization whose secrets are `values`.
fn scenario(values: [String; 4]) -> Result<(), TestCaseError> {
    let [env_value, file_value, env_changed, file_changed] = values;
    let secrets = Secrets { values: vec![env_value.clone(), file_value.clone()] };
    let mut case = organization(&env_value, &file_value);
    let dir = case.path().to_path_buf();

    // Validate, plan in every format, a saved plan shown in every format, the graph.
    expect(&secrets.run(&case, &["validate", "."])?, &[0], "validate")?;
    for format in ["text", "json", "markdown"] {
        expect(&secrets.run(&case, &["plan", ".", "--format", format])?, &[0], "plan")?;
    }
    expect(&secrets.run(&case, &["plan", ".", "--out", "plan.json"])?, &[0], "plan --out")?;
    for format in ["text", "json", "markdown"] {
        expect(&secrets.run(&case, &["show", "plan.json", "--format", format])?, &[0], "show")?;
    }
    for format in ["dot", "mermaid", "json"] {
        expect(&secrets.run(&case, &["graph", ".", "--format", format])?, &[0], "graph")?;
    }

    // A policy that prints its whole input in a deny message: the value is not in the input.
    std::fs::create_dir(dir.join("exfiltrate")).unwrap();
    std::fs::write(dir.join("exfiltrate/exfiltrate.rego"), EXFILTRATE).unwrap();
    let denied = secrets.run(&case, &["plan", ".", "--policy", "exfiltrate"])?;
    expect(&denied, &[1], "plan with the exfiltrating policy")?;
    prop_assert!(
        denied.stderr.contains("desired"),
        "the policy printed its input: {}",
        denied.stderr
    );

    // Apply, from the saved plan; then a second apply with both values changed (the update path).
    let apply = secrets.run(&case, &["apply", "--plan", "plan.json", "--yes"])?;
    expect(&apply, &[0], "apply --plan")?;
    let secrets = Secrets {
        values: vec![
            env_value.clone(),
            file_value.clone(),
            env_changed.clone(),
            file_changed.clone(),
        ],
    };
    set_env(&mut case, Some(&env_changed));
    write_file_secret(&case, &file_changed);
    for format in ["text", "json", "markdown"] {
        expect(&secrets.run(&case, &["plan", ".", "--format", format])?, &[2, 0], "plan update")?;
    }
    let update = secrets.run(&case, &["plan", ".", "--detailed-exitcode"])?;
    expect(&update, &[2], "the changed values are an update")?;
    expect(&secrets.run(&case, &["apply", ".", "--yes"])?, &[0], "apply update")?;
    expect(&secrets.run(&case, &["plan", ".", "--detailed-exitcode"])?, &[0], "converged")?;

    // Drift with the variable set to a wrong value (the original one), then unset.
    set_env(&mut case, Some(&env_value));
    write_file_secret(&case, &file_value);
    for format in ["text", "json", "markdown"] {
        let drift = secrets.run(&case, &["drift", ".", "--format", format])?;
        expect(&drift, &[0, 1, 2], "drift with wrong values")?;
    }
    expect(&secrets.run(&case, &["drift", ".", "--out", "drift.json"])?, &[0, 1, 2], "drift")?;
    if dir.join("drift.json").exists() {
        for format in ["text", "json", "markdown"] {
            let show = secrets.run(&case, &["show", "drift.json", "--format", format])?;
            expect(&show, &[0], "show drift.json")?;
        }
    }
    set_env(&mut case, None);
    for format in ["text", "json", "markdown"] {
        let drift = secrets.run(&case, &["drift", ".", "--format", format])?;
        expect(&drift, &[0, 1, 2], "drift without the variable")?;
    }
    set_env(&mut case, Some(&env_changed));
    write_file_secret(&case, &file_changed);

    // A conflict: the secret changes behind a saved plan's back.
    let rotated = format!("{env_value}{file_value}");
    let secrets = Secrets { values: [secrets.values, vec![rotated.clone()]].concat() };
    set_env(&mut case, Some(&env_value));
    expect(&secrets.run(&case, &["plan", ".", "--out", "plan.json"])?, &[0], "plan --out")?;
    let sandbox = case.sandbox();
    let live = sandbox.read(ORG_ID).unwrap();
    let secret = live
        .objects
        .iter()
        .find(|o| o.kind == Kind::Secret && o.name == "db-password")
        .unwrap()
        .id
        .clone();
    let request = UpdateRequest {
        secret: Some(SecretValue::new(rotated.into_bytes())),
        ..Default::default()
    };
    sandbox.update(Kind::Secret, &secret, &request).unwrap();
    drop(sandbox);
    let stale = secrets.run(&case, &["apply", "--plan", "plan.json", "--yes"])?;
    expect(&stale, &[1], "a stale plan")?;
    expect(&secrets.run(&case, &["apply", ".", "--yes"])?, &[0], "apply after the conflict")?;

    // Import: the written manifests and what it prints.
    let import = secrets.run(&case, &["import", "--organization", ORG_ID, "--out", "imported"])?;
    expect(&import, &[0], "import")?;
    secrets.check_files(&dir.join("imported"))?;
    // Out of the manifest set again.
    std::fs::remove_dir_all(dir.join("imported")).unwrap();

    // Destroy.
    expect(&secrets.run(&case, &["destroy", ".", "--yes"])?, &[0], "destroy")?;

    // Everything spherectl wrote, and the sandbox database: the values are stored encrypted.
    for file in ["plan.json", "drift.json"] {
        if dir.join(file).exists() {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            secrets.check(file, &text)?;
        }
    }
    secrets.check_files(&dir.join(".spherectl"))?;

    // A platform fault over `serve`: request bodies that carry the value must not be echoed.
    // One attempt: every fault reaches the error path instead of a retry's backoff.
    case.env.push(("SPHERECTL_HTTP_ATTEMPTS".into(), "1".into()));
    let log = dir.join("access.log");
    let server = Server::start_logging(&case.server_db(), &["--fault-rate", "0.4"], Some(&log));
    let mut failures = 0;
    for _ in 0..3 {
        let run = case.http(&server, &["apply", ".", "--yes", "--parallelism", "2"]);
        secrets.check_run("apply against a faulty server", &run)?;
        failures += usize::from(run.code != 0);
    }
    set_env(&mut case, Some(&env_changed));
    write_file_secret(&case, &file_changed);
    for _ in 0..3 {
        let run = case.http(&server, &["apply", ".", "--yes"]);
        secrets.check_run("apply of changed values against a faulty server", &run)?;
        failures += usize::from(run.code != 0);
        let run = case.http(&server, &["drift", "."]);
        secrets.check_run("drift against a faulty server", &run)?;
    }
    prop_assert!(failures > 0, "the faults reached spherectl's error paths");
    drop(server);
    secrets.check("the access log", &std::fs::read_to_string(&log).unwrap_or_default())?;

    // Errors right next to the value written literally into the manifest.
    let literal = serde_json::to_string(&env_value).unwrap();
    let resources = std::fs::read_to_string(dir.join("resources.yaml")).unwrap();
    let with_literal = resources.replace(
        "value: {fromEnv: FRAUD_DB_PASSWORD}",
        &format!("value: {literal}\n  publish: [nowhere]"),
    );
    let broken = with_literal.replace(
        "---\napiVersion: spherectl/v1\nkind: Secret\nmetadata: {name: s3-secret-key",
        "---\napiVersion: spherectl/v1\nkind: Dataset\nmetadata: {name: [broken\n---\napiVersion: spherectl/v1\nkind: Secret\nmetadata: {name: s3-secret-key",
    );
    for (what, text) in [("a literal value", &with_literal), ("a broken document", &broken)] {
        std::fs::write(dir.join("resources.yaml"), text).unwrap();
        for command in ["validate", "plan", "graph"] {
            let run = secrets.run(&case, &[command, "."])?;
            expect(&run, &[1], &format!("{command} with {what}"))?;
        }
    }
    // The S3 secret key pasted in place of its reference, plain and inside a mapping that
    // does not close.
    let key = serde_json::to_string(&file_value).unwrap();
    for pasted in [format!("secretKey: {key}"), format!("secretKey: {{value: {key}")] {
        let text = resources.replace("secretKey: {secret: s3-secret-key}", &pasted);
        std::fs::write(dir.join("resources.yaml"), text).unwrap();
        for command in ["validate", "plan", "graph"] {
            let run = secrets.run(&case, &[command, "."])?;
            expect(&run, &[1], &format!("{command} with {pasted}"))?;
        }
    }
    // A dangling reference in the secret's own document, the value read from the environment.
    let dangling = resources.replace(
        "value: {fromEnv: FRAUD_DB_PASSWORD}",
        "value: {fromEnv: FRAUD_DB_PASSWORD}\n  publish: [nowhere]",
    );
    std::fs::write(dir.join("resources.yaml"), dangling).unwrap();
    expect(&secrets.run(&case, &["plan", "."])?, &[1], "a dangling reference")?;
    Ok(())
}

#[test]
fn no_secret_value_appears_anywhere() {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(24);
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let values = [secret(), secret(), secret(), secret()];
    let result = runner.run(&values, |values| {
        let all: Vec<&String> = values.iter().collect();
        // Four distinct values, none of them public text (see the module's note).
        prop_assume!(all.iter().all(|v| v.chars().count() >= 8 && !is_public(v)));
        prop_assume!((0..4).all(|i| (0..4).all(|j| i == j || !all[i].contains(all[j].as_str()))));
        scenario(values)
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// A gateway in front of `upstream` (a `spherectl serve`) that answers a secret's create or
/// update with an error echoing the request's body, as some proxies and validation layers do;
/// `mode` picks the answer's shape. Every other call goes through. Stops when `stop` is set.
fn echoing_gateway(
    mode: &'static str,
    upstream: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (String, std::thread::JoinHandle<()>) {
    use std::{
        io::{BufRead, BufReader, Read, Write},
        net::{TcpListener, TcpStream},
        sync::atomic::Ordering,
        time::Duration,
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    let upstream = upstream.strip_prefix("http://").unwrap().to_owned();
    let gateway = std::thread::spawn(move || {
        // Bounded: at most 300,000 idle polls of 100 µs (30 s).
        for _ in 0..300_000 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_micros(100));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            let _ = reader.read_line(&mut head);
            let mut length = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                let lower = line.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if !lower.starts_with("connection:") {
                    head.push_str(&line);
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut stream = reader.into_inner();
            let first = head.lines().next().unwrap_or_default().to_owned();
            let secret_write = (first.starts_with("POST ") || first.starts_with("PATCH "))
                && first.contains("/secrets");
            if !secret_write {
                let mut up = TcpStream::connect(&upstream).unwrap();
                let _ = up.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes());
                let _ = up.write_all(&body);
                let mut answer = Vec::new();
                let _ = up.read_to_end(&mut answer);
                let _ = stream.write_all(&answer);
                continue;
            }
            let body = String::from_utf8_lossy(&body).into_owned();
            let (status, content_type, answer) = match mode {
                "json" => (
                    "400 Bad Request",
                    "application/json",
                    serde_json::json!({"code": 3, "message": format!("invalid request {body}")})
                        .to_string(),
                ),
                "text" => ("400 Bad Request", "text/plain", format!("bad request: {body}")),
                _ => ("200 OK", "text/html", format!("<html><pre>{body}</pre></html>")),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (format!("http://{address}"), gateway)
}

/// A platform error that echoes the request body (a secret's create or update carries the
/// value, base64-encoded) does not show the value, in any of its forms.
#[test]
fn a_platform_error_echoing_the_request_body_does_not_show_the_secret() {
    use std::sync::{Arc, atomic::AtomicBool};

    use spherectl::platform::{CreateRequest, http::HttpPlatform};
    let value = "hunter2-<b>\"é漢\"</b>\nline two";
    let secrets = Secrets { values: vec![value.to_owned()] };
    let case = Case::files(&[("org.yaml", crate::ORG)]);
    let server = Server::start(&case.server_db(), &[]);
    let apply = case.http(&server, &["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    for mode in ["json", "text", "not-json"] {
        let stop = Arc::new(AtomicBool::new(false));
        let (url, gateway) = echoing_gateway(mode, server.url.clone(), Arc::clone(&stop));
        let platform =
            HttpPlatform::connect(&url, http::TOKEN.into(), "userAccount:local-admin").unwrap();
        // The read finds `serve`'s extension: secrets can be created.
        platform.read("bpf00000000000000acme").unwrap();
        let create = platform.create(&CreateRequest {
            kind: Kind::Secret,
            parent_id: "prj1".into(),
            name: "token".into(),
            labels: Default::default(),
            attributes: Default::default(),
            secret: Some(SecretValue::new(value.as_bytes().to_vec())),
        });
        let error = create.expect_err("the gateway refuses the create");
        assert!(error.message.contains("/secrets"), "{}", error.message);
        secrets.check(&format!("the create's error ({mode})"), &error.message).unwrap();
        let update = platform.update(
            Kind::Secret,
            "sec1",
            &UpdateRequest {
                secret: Some(SecretValue::new(value.as_bytes().to_vec())),
                ..Default::default()
            },
        );
        let error = update.expect_err("the gateway refuses the update");
        secrets.check(&format!("the update's error ({mode})"), &error.message).unwrap();
        drop(platform);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        gateway.join().unwrap();
    }
}

/// A plan file edited by hand (or by another tool) that holds a secret's value and does not mark
/// it sensitive: `show` still shows no value. Which field is a secret is the field schema's
/// word, not the file's.
#[test]
fn a_plan_file_that_unmarks_a_secret_value_does_not_show_it() {
    let value = "hand-edited-SECRET-<b>\"é\"</b>";
    let secrets = Secrets { values: vec![value.to_owned()] };
    let case = organization("env-value-0123456789", "file-value-0123456789");
    let saved = case.run(&["plan", ".", "--out", "plan.json"]);
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.path().join("plan.json")).unwrap())
            .unwrap();
    let mut edited = 0;
    for change in plan["changes"].as_array_mut().unwrap() {
        for field in change["fields"].as_array_mut().into_iter().flatten() {
            if field["path"] == "spec.value" {
                field["sensitive"] = false.into();
                field["after"] = value.into();
                field["before"] = value.into();
                edited += 1;
            }
        }
    }
    assert_eq!(edited, 2, "both secrets are created");
    std::fs::write(case.path().join("plan.json"), plan.to_string()).unwrap();
    for format in ["text", "json", "markdown"] {
        let show = case.run(&["show", "plan.json", "--format", format]);
        secrets.check_run(&format!("show --format {format}"), &show).unwrap();
        assert!(show.stdout.contains("spec.value"), "{}{}", show.stdout, show.stderr);
    }
}

/// No test snapshot holds a secret value of the examples or of the e2e harness.
#[test]
fn no_snapshot_holds_a_secret_value() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut values = vec![crate::SECRET.to_owned()];
    for dir in [
        "examples/quickstart/secrets",
        "examples/multi-team/research/secrets",
        "examples/multi-team/analytics/secrets",
        "examples/multi-team/platform/secrets",
    ] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            values.push(text.trim_end().to_owned());
        }
    }
    let secrets = Secrets { values };
    let mut snapshots = 0;
    let mut dirs = vec![root.join("tests")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "snap") {
                let text = std::fs::read_to_string(&path).unwrap();
                secrets.check(&path.display().to_string(), &text).unwrap();
                snapshots += 1;
            }
        }
    }
    assert!(snapshots > 0);
}

/// A secret whose value is public text (here the project's description) cannot be kept out of
/// the output: the description is shown. What holds instead: the text shows exactly as often
/// as with any other value, so none of its occurrences is the secret.
#[test]
fn a_secret_equal_to_public_text_shows_only_where_the_text_does() {
    let public = "Fraud models";
    let count = |env_value: &str, file_value: &str| {
        let case = organization(env_value, file_value);
        let mut counts = Vec::new();
        let mut commands: Vec<Vec<&str>> = ["text", "json", "markdown"]
            .into_iter()
            .map(|format| vec!["plan", ".", "--format", format])
            .collect();
        commands.push(vec!["graph", ".", "--format", "json"]);
        commands.push(vec!["apply", ".", "--yes"]);
        commands.push(vec!["drift", ".", "--format", "json"]);
        for args in &commands {
            let run = case.run(args);
            assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
            counts.push(run.stdout.matches(public).count() + run.stderr.matches(public).count());
        }
        counts
    };
    let with_public = count(public, public);
    assert!(with_public.iter().sum::<usize>() > 0, "the description is shown");
    assert_eq!(with_public, count("other-value-0123456789", "another-value-0123456789"));
}
