//! Adversarial review of what a reviewer and CI read (issue 10): markdown and mermaid for pull
//! requests, `spherectl show`, drift that CI runs, and the CI examples' scripts.

use std::process::Command;

use spherectl::{
    manifest::Kind,
    platform::{CreateRequest, Platform as _},
};

use crate::{Case, ORG, SECRET, applied, converged};

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
        // Code spans: a run of n backticks up to the next run of exactly n.
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '`' {
                let n = chars[i..].iter().take_while(|c| **c == '`').count();
                let mut j = i + n;
                let mut closed = None;
                while j < chars.len() {
                    if chars[j] == '`' {
                        let m = chars[j..].iter().take_while(|c| **c == '`').count();
                        if m == n {
                            closed = Some(j + m);
                            break;
                        }
                        j += m;
                    } else {
                        j += 1;
                    }
                }
                match closed {
                    Some(end) => {
                        out.push_str("<code>");
                        i = end;
                    }
                    None => {
                        out.extend(&chars[i..i + n]);
                        i += n;
                    }
                }
            } else {
                out.push(chars[i]);
                i += 1;
            }
        }
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
        sandbox
            .create(&CreateRequest {
                kind: Kind::Project,
                parent_id: research,
                name: "console-made".into(),
                labels: Default::default(),
                attributes: Default::default(),
                secret: None,
            })
            .unwrap();
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
