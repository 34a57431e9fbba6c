//! Adversarial review of what a reviewer and CI read (issue 10): markdown and mermaid for pull
//! requests, `spherectl show`, drift that CI runs, and the CI examples' scripts.

use std::process::Command;

use spherectl::{manifest::Kind, platform::Platform as _};

use crate::{
    Case, ORG, SECRET, applied, converged,
    support::{made_by_hand, without_code_spans},
};

fn write(case: &Case, name: &str, text: &str) {
    let path = case.path().join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A project with a secret, on top of `ORG`.
fn with_secret() -> String {
    format!(
        "{ORG}---
apiVersion: spherectl/v1
kind: Project
metadata: {{name: models, community: research}}
spec:
  description: Models
---
apiVersion: spherectl/v1
kind: Secret
metadata: {{name: token, project: research/models}}
spec:
  value: {{fromEnv: APP_TOKEN}}
"
    )
}

/// The markdown with every code span and fenced block removed: the prose a forge renders as
/// text (where it turns `@name` into a mention).
fn prose(markdown: &str) -> String {
    let mut out = String::new();
    let mut fence: Option<String> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        if let Some(open) = &fence {
            if trimmed.starts_with(open.as_str()) && trimmed.trim_matches('`').is_empty() {
                fence = None;
            }
            continue;
        }
        if trimmed.starts_with("```") {
            fence = Some(trimmed.chars().take_while(|c| *c == '`').collect());
            continue;
        }
        out.push_str(&without_code_spans(line, "<code>", false));
        out.push('\n');
    }
    out
}

/// Free text in a policy message (which quotes a description) must not ping people or teams
/// when the markdown is posted as a pull-request comment or drift issue.
#[test]
fn adv5_markdown_prose_does_not_mention_people() {
    let case = Case::files(&[("org.yaml", ORG)]);
    write(
        &case,
        "policies/p.rego",
        "package p\n\nimport rego.v1\n\nwarn contains \"ask @everyone and @acme/admins, cc @bob\" if { true }\n",
    );
    for command in ["plan", "drift"] {
        let run = case.run(&[command, ".", "--format", "markdown"]);
        assert!(run.code == 0 || run.code == 2, "{command}: {}", run.stderr);
        let text = prose(&run.stdout);
        assert!(text.contains("ask @"), "{command}: the message is gone: {}", run.stdout);
        for mention in ["@everyone", "@acme/admins", "@bob"] {
            assert!(!text.contains(mention), "{command}: `{mention}` would ping: {text}");
        }
    }
}

/// Bidirectional overrides and zero-width characters in a description would make a reviewer
/// read something other than what is applied: the markdown shows them, visibly.
#[test]
fn adv5_markdown_shows_bidi_and_zero_width_characters() {
    let case = Case::files(&[("org.yaml", ORG)]);
    applied(&case);
    let text = ORG.replace(
        "metadata: {name: research}\n",
        "metadata: {name: research}\nspec:\n  description: \"safe \u{202E}gnp.exe\u{202C} a\u{200B}b\"\n",
    );
    write(&case, "org.yaml", &text);
    write(
        &case,
        "policies/p.rego",
        "package p\n\nimport rego.v1\n\nwarn contains \"note \u{202E}txt.exe\u{2066}\" if { true }\n",
    );
    let run = case.run(&["plan", ".", "--format", "markdown"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for c in ['\u{202E}', '\u{202C}', '\u{200B}', '\u{2066}'] {
        assert!(!run.stdout.contains(c), "U+{:04X} is in the markdown: {}", c as u32, run.stdout);
    }
    assert!(run.stdout.contains("U+202E"), "{}", run.stdout);
    assert!(run.stdout.contains("U+200B"), "{}", run.stdout);
}

/// A hand-edited saved plan (or drift report) holding a sensitive field's value: `show` never
/// prints it, in any format.
#[test]
fn adv5_show_masks_hand_edited_sensitive_values() {
    let case = Case::files(&[("org.yaml", &with_secret())]);
    let saved = case.run(&["plan", ".", "--out", "plan.json"]);
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.path().join("plan.json")).unwrap())
            .unwrap();
    let secret = plan["changes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["address"] == "Secret/research/models/token")
        .unwrap();
    let field = secret["fields"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|f| f["sensitive"] == true)
        .unwrap();
    field["before"] = "hand-OLD-leak".into();
    field["after"] = "hand-NEW-leak".into();
    write(&case, "edited.json", &plan.to_string());
    // The drift report of the set, hand-edited the same way.
    applied(&case);
    let mut ci = Case { dir: case.dir, env: vec![("APP_TOKEN".into(), "other-value".into())] };
    let drift = ci.run(&["drift", ".", "--out", "drift.json"]);
    assert_eq!(drift.code, 2, "{}{}", drift.stdout, drift.stderr);
    let mut report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ci.path().join("drift.json")).unwrap())
            .unwrap();
    assert!(!report.to_string().contains("other-value"));
    let item = report["drift"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| i["address"] == "Secret/research/models/token")
        .unwrap();
    item["fields"][0]["manifests"] = "hand-OLD-leak".into();
    item["fields"][0]["platform"] = "hand-NEW-leak".into();
    write(&ci, "edited-drift.json", &report.to_string());
    ci.env.clear();
    for file in ["edited.json", "edited-drift.json"] {
        for format in ["text", "json", "markdown"] {
            let run = ci.run(&["show", file, "--format", format]);
            assert_eq!(run.code, 0, "{file} {format}: {}", run.stderr);
            assert!(run.stdout.contains("Secret/research/models/token"), "{}", run.stdout);
            assert!(
                !run.stdout.contains("-leak") && !run.stderr.contains("-leak"),
                "show {file} --format {format} printed a sensitive value: {}",
                run.stdout
            );
        }
    }
}

/// `show -` reads the saved plan from stdin (a pipe), as `spherectl show FILE` would.
#[test]
fn adv5_show_reads_stdin_dash() {
    let case = Case::files(&[("org.yaml", &with_secret())]);
    let saved = case.run(&["plan", ".", "--out", "plan.json"]);
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    let file = case.run(&["show", "plan.json", "--format", "markdown"]);
    assert_eq!(file.code, 0, "{}", file.stderr);
    // A pipe, not the file: `cat plan.json | spherectl show -`.
    let mut cat = Command::new("cat")
        .arg(case.path().join("plan.json"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let piped = Command::new(env!("CARGO_BIN_EXE_spherectl"))
        .env_clear()
        .env("NO_COLOR", "1")
        .current_dir(case.path())
        .args(["show", "-", "--format", "markdown"])
        .stdin(cat.stdout.take().unwrap())
        .output()
        .unwrap();
    cat.wait().unwrap();
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert_eq!(piped.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&piped.stdout), file.stdout);
    assert_eq!(stderr, "");
    // Garbage on stdin is refused as a file would be, naming stdin.
    let garbage = Command::new(env!("CARGO_BIN_EXE_spherectl"))
        .env_clear()
        .env("NO_COLOR", "1")
        .current_dir(case.path())
        .args(["show", "-"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&garbage.stderr);
    assert_eq!(garbage.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("stdin") && stderr.contains("not JSON"), "{stderr}");
}

/// `drift --out` that cannot be written completely (a full disk, here a file-size limit): exit
/// 1 with a clear error, and the report written before is left whole, not truncated; no
/// temporary file is left behind.
#[test]
fn adv5_drift_out_is_written_whole_or_not_at_all() {
    let case = Case::files(&[("org.yaml", &with_secret())]);
    applied(&case);
    converged(&case);
    // A report larger than the limit below (and than the sandbox's 32 KiB shared-memory file):
    // a dataset not applied yet, with a long init script.
    let init: String =
        (0..4000).map(|i| format!("    print('line {i} of the init code')\n")).collect();
    write(
        &case,
        "data.yaml",
        &format!(
            "apiVersion: spherectl/v1\nkind: Dataset\nmetadata: {{name: big, project: research/models}}\nspec:\n  sizeGb: 1\n  initCode: |\n{init}"
        ),
    );
    let previous = "{\"previous\": \"report\"}\n".repeat(40);
    for command in ["drift", "plan"] {
        write(&case, "report.json", &previous);
        let mut args = vec![command, ".", "--out", "report.json"];
        if crate::http::over_http() {
            let url = crate::http::shared_server(&case.db());
            args.extend(["--platform", Box::leak(url.into_boxed_str())]);
        }
        // Ignored SIGXFSZ stays ignored across exec: writes past 64 KiB fail with EFBIG.
        let mut script = String::from("trap '' XFSZ; ulimit -f 128; exec \"$0\"");
        for i in 1..=args.len() {
            script.push_str(&format!(" \"${i}\""));
        }
        let mut shell = Command::new("sh");
        shell
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .env("APP_TOKEN", SECRET)
            .current_dir(case.path())
            .arg("-c")
            .arg(&script)
            .arg(env!("CARGO_BIN_EXE_spherectl"))
            .args(&args);
        if crate::http::over_http() {
            shell.env("SPHERECTL_TOKEN", crate::http::token_for(None));
        }
        let output = shell.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{command}: {stderr}");
        assert!(!stderr.contains("sandbox"), "{command}: {stderr}");
        assert!(stderr.contains("cannot write `report.json`"), "{command}: {stderr}");
        let now = std::fs::read_to_string(case.path().join("report.json")).unwrap();
        assert!(now == previous, "{command} --out left a partial file ({} bytes)", now.len());
        let names: Vec<String> = std::fs::read_dir(case.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| ["report.json", "org.yaml", "data.yaml", ".spherectl"]
                    .contains(&n.as_str())),
            "{command}: left behind: {names:?}"
        );
    }
    // A directory that does not exist: the same clear error, nothing created.
    let run = case.run(&["drift", ".", "--out", "no/such/dir/drift.json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("cannot write `no/such/dir/drift.json`"), "{}", run.stderr);
    assert!(!case.path().join("no").exists());
}

/// An object made by hand in a community this set manages carries none of its labels: it is not
/// drift of this set (exit 0), and every format lists it as left alone, markdown included.
#[test]
fn adv5_drift_lists_hand_made_objects_as_left_alone() {
    let case = Case::files(&[("org.yaml", &with_secret())]);
    applied(&case);
    {
        let sandbox = case.sandbox();
        let live = sandbox.read("bpf00000000000000acme").unwrap();
        let research = live.objects.iter().find(|o| o.name == "research").unwrap().id.clone();
        made_by_hand(&sandbox, Kind::Project, &research, "console-made");
    }
    let ci = Case { dir: case.dir, env: Vec::new() };
    for format in ["text", "markdown", "json"] {
        let run = ci.run(&["drift", ".", "--format", format]);
        assert_eq!(run.code, 0, "{format}: {}{}", run.stdout, run.stderr);
        assert_eq!(run.stderr, "", "{format}");
        assert!(run.stdout.contains("Project/research/console-made"), "{format}: {}", run.stdout);
    }
    let run = ci.run(&["drift", ".", "--format", "markdown"]);
    assert!(run.stdout.contains("No drift"), "{}", run.stdout);
    assert!(run.stdout.contains("left alone"), "{}", run.stdout);
}

fn ci_example(name: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci").join(name);
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The `actions/github-script` JavaScript of a job's step named `step`.
fn github_script(job: &str, step: &str) -> String {
    let workflow = ci_example("github-actions.yml");
    let steps = workflow["jobs"][job]["steps"].as_array().unwrap();
    let found = steps.iter().find(|s| s["name"] == step).unwrap_or_else(|| panic!("no {step}"));
    found["with"]["script"].as_str().unwrap().to_owned()
}

/// Runs a github-script with node against a fake `github` whose lists return `state`; the API
/// calls it made, as `[name, arguments]`.
fn run_github_script(
    script: &str,
    dir: &std::path::Path,
    state: &serde_json::Value,
    env: &[(&str, &str)],
) -> Vec<(String, serde_json::Value)> {
    let harness = format!(
        "const calls = [];
const state = {state};
const record = (name) => async (args) => {{ calls.push([name, args]); return {{}}; }};
const github = {{
  rest: {{ issues: {{
    listComments: 'listComments', listForRepo: 'listForRepo',
    createComment: record('createComment'), updateComment: record('updateComment'),
    create: record('create'), update: record('update'),
  }} }},
  paginate: async (list, args) => state[list] ?? [],
}};
const context = {{ repo: {{ owner: 'o', repo: 'r' }}, issue: {{ number: 7 }} }};
(async () => {{
{script}
}})().then(() => console.log(JSON.stringify(calls)), (e) => {{ console.error(e); process.exit(1); }});
"
    );
    std::fs::write(dir.join("harness.js"), harness).unwrap();
    let output = Command::new("node")
        .arg("harness.js")
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .expect("node runs the workflow's github-script");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let calls: Vec<(String, serde_json::Value)> = serde_json::from_slice(&output.stdout).unwrap();
    calls
}

fn comment(id: u64, login: &str, kind: &str, body: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "number": id, "user": {"login": login, "type": kind}, "body": body})
}

/// The pull-request step updates the comment it posted before: not an earlier comment of
/// another bot or of a person that quotes the marker (which GITHUB_TOKEN may not edit, or
/// should not); a plan too big for a comment is cut, not refused by GitHub.
#[test]
fn adv5_github_plan_comment_updates_its_own_comment() {
    let script = github_script("plan", "Post the plan, or update the comment posted before");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plan.md"), "<!-- spherectl-plan -->\n### plan\n").unwrap();
    let comments = serde_json::json!({"listComments": [
        comment(1, "renovate[bot]", "Bot", "> quoting <!-- spherectl-plan --> here"),
        comment(2, "alice", "User", "<!-- spherectl-plan --> look"),
        comment(3, "github-actions[bot]", "Bot", "<!-- spherectl-plan -->\n### old plan\n"),
    ]});
    let calls = run_github_script(&script, dir.path(), &comments, &[]);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].0, "updateComment", "{calls:?}");
    assert_eq!(calls[0].1["comment_id"], 3, "{calls:?}");
    assert_eq!(calls[0].1["body"], "<!-- spherectl-plan -->\n### plan\n");
    // None of its own yet: a new comment.
    let others = serde_json::json!({"listComments": [comment(1, "renovate[bot]", "Bot", "<!-- spherectl-plan -->")]});
    let calls = run_github_script(&script, dir.path(), &others, &[]);
    assert_eq!(calls.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["createComment"]);
    // A failed big plan: its markdown and its errors exceed the 65536 characters of a comment.
    let big = format!("<!-- spherectl-plan -->\n{}", "x".repeat(90_000));
    std::fs::write(dir.path().join("plan.md"), big).unwrap();
    let calls = run_github_script(&script, dir.path(), &others, &[]);
    let body = calls[0].1["body"].as_str().unwrap();
    assert!(body.chars().count() <= 65_536, "{} characters", body.chars().count());
    assert!(body.starts_with("<!-- spherectl-plan -->"));
}

/// The nightly drift step updates or closes the issue it opened, never an issue or pull request
/// someone else opened with the label and the marker.
#[test]
fn adv5_github_drift_issue_is_its_own() {
    let script = github_script("drift", "Open, update or close the drift issue");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("drift.md"), "<!-- spherectl-drift -->\n### drift\n").unwrap();
    let mut theirs = comment(5, "mallory", "User", "<!-- spherectl-drift --> please keep this");
    theirs["labels"] = serde_json::json!([{"name": "spherectl-drift"}]);
    let mut pull = comment(6, "github-actions[bot]", "Bot", "<!-- spherectl-drift -->");
    pull["pull_request"] = serde_json::json!({"url": "x"});
    let ours = comment(9, "github-actions[bot]", "Bot", "<!-- spherectl-drift -->\nold");
    let state = serde_json::json!({"listForRepo": [theirs, pull, ours]});
    let calls = run_github_script(&script, dir.path(), &state, &[("DRIFT", "2")]);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!((calls[0].0.as_str(), &calls[0].1["issue_number"]), ("update", &9.into()));
    // Drift gone: ours is closed, with a comment; theirs is left alone.
    let calls = run_github_script(&script, dir.path(), &state, &[("DRIFT", "0")]);
    let touched: Vec<(&str, &serde_json::Value)> =
        calls.iter().map(|(name, args)| (name.as_str(), &args["issue_number"])).collect();
    assert_eq!(touched, [("createComment", &9.into()), ("update", &9.into())], "{calls:?}");
    // Only theirs open: a new issue of our own.
    let state = serde_json::json!({"listForRepo": [state["listForRepo"][0].clone()]});
    let calls = run_github_script(&script, dir.path(), &state, &[("DRIFT", "2")]);
    assert_eq!(calls.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["create"], "{calls:?}");
}

/// Runs a GitLab job's `script:` with bash (as the runner does: one shell, `set -e`), with fake
/// `spherectl` (printing `markdown`, exiting `code`) and `curl` (logging its arguments, answering
/// GETs from `answers`); the curl calls that write.
fn run_gitlab_job(job: &str, markdown: &str, code: i32, answers: &[(&str, &str)]) -> Vec<String> {
    let pipeline = ci_example("gitlab-ci.yml");
    let lines: Vec<String> = pipeline[job]["script"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let spherectl = format!(
        "#!/bin/sh\ncat <<'MARKDOWN'\n{markdown}\nMARKDOWN\necho 'an error' >&2\nexit {code}\n"
    );
    let mut curl = String::from(
        "#!/bin/sh\necho \"$*\" >> \"$CURL_LOG\"\ncase \"$*\" in\n  *\"-X \"*) exit 0 ;;\n",
    );
    for (pattern, answer) in answers {
        curl.push_str(&format!("  *{pattern}*) cat <<'JSON'\n{answer}\nJSON\n ;;\n"));
    }
    curl.push_str("esac\n");
    for (name, text) in [("spherectl", spherectl), ("curl", curl)] {
        let path = bin.join(name);
        std::fs::write(&path, text).unwrap();
        let mut permissions = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&path, permissions).unwrap();
    }
    let log = dir.path().join("curl.log");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let output = Command::new("bash")
        .args(["-e", "-o", "pipefail", "-c", &lines.join("\n")])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("CURL_LOG", &log)
        .env("CI_API_V4_URL", "https://gitlab.example/api/v4")
        .env("CI_PROJECT_ID", "1")
        .env("CI_MERGE_REQUEST_IID", "3")
        .env("GITLAB_API_TOKEN", "t")
        .env("MANIFESTS", "manifests")
        .output()
        .unwrap();
    assert!(
        output.status.success() == (code != 1),
        "{job}: exit {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("-X "))
        .map(str::to_owned)
        .collect()
}

/// The merge-request note is found among the token's own notes that start with the marker: a
/// reviewer's note quoting it is not overwritten (the PUT would be refused and fail the job).
#[test]
fn adv5_gitlab_plan_note_updates_its_own_note() {
    let notes = r#"[
      {"id": 10, "author": {"id": 7}, "body": "> <!-- spherectl-plan --> quoted by a reviewer"},
      {"id": 11, "author": {"id": 42}, "body": "thanks"},
      {"id": 12, "author": {"id": 42}, "body": "<!-- spherectl-plan -->\nold plan"}
    ]"#;
    let answers = [("/user", r#"{"id": 42}"#), ("/notes?", notes)];
    let writes = run_gitlab_job("plan", "<!-- spherectl-plan -->\n### plan", 2, &answers);
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(writes[0].contains("-X PUT") && writes[0].ends_with("/notes/12"), "{writes:?}");
    // A failed plan still posts (its errors), then fails the job.
    let writes = run_gitlab_job("plan", "", 1, &answers);
    assert!(writes.len() == 1 && writes[0].ends_with("/notes/12"), "{writes:?}");
}

/// The nightly drift job updates the issue its token opened, not one someone else opened with
/// the label and the marker.
#[test]
fn adv5_gitlab_drift_issue_is_its_own() {
    let issues = r#"[
      {"iid": 5, "author": {"id": 7}, "description": "<!-- spherectl-drift --> mine, keep it"},
      {"iid": 9, "author": {"id": 42}, "description": "<!-- spherectl-drift -->\nold"}
    ]"#;
    let answers = [("/user", r#"{"id": 42}"#), ("/issues?", issues)];
    let writes = run_gitlab_job("drift", "<!-- spherectl-drift -->\n### drift", 2, &answers);
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(writes[0].contains("-X PUT") && writes[0].ends_with("/issues/9"), "{writes:?}");
    let writes = run_gitlab_job("drift", "<!-- spherectl-drift -->\nNo drift", 0, &answers);
    assert!(writes.iter().all(|w| w.contains("/issues/9")), "{writes:?}");
    assert_eq!(writes.len(), 2, "{writes:?}");
}

/// A push to a branch with an open merge request runs one GitLab pipeline, not a branch and a
/// merge-request pipeline (each with the self-test).
#[test]
fn adv5_gitlab_has_no_duplicate_pipelines() {
    let pipeline = ci_example("gitlab-ci.yml");
    let rules = pipeline["workflow"]["rules"].to_string();
    assert!(
        rules.contains("merge_request_event") && rules.contains("CI_OPEN_MERGE_REQUESTS"),
        "{rules}"
    );
}

/// `apply --plan` on something that is not a saved plan file (a device that never ends, a
/// directory) is refused at once with exit 1, as `show` refuses it, instead of being read whole.
#[test]
fn adv5_apply_plan_refuses_what_is_not_a_plan_file() {
    let case = Case::files(&[("org.yaml", ORG)]);
    for (file, words) in [("/dev/zero", "not a regular file"), (".", "not a regular file")] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spherectl"))
            .env_clear()
            .env("NO_COLOR", "1")
            .current_dir(case.path())
            .args(["apply", "--plan", file, "--yes"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > std::time::Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`apply --plan {file}` was still reading after 20 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{file}: {stderr}");
        assert!(stderr.contains("cannot use the saved plan") && stderr.contains(words), "{stderr}");
    }
}
