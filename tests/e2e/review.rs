//! What a reviewer and CI read (issue 10): markdown for pull requests with a mermaid map,
//! `spherectl show` of saved plans and drift reports, and drift that CI runs without secrets.

use serde_json::Value;
use spherectl::{
    manifest::Kind,
    platform::{Platform, UpdateRequest},
};

use crate::{Case, ORG, applied, converged, support::without_code_spans};

/// Version 1 of the scenario: two communities, a project, a dataset to delete later, an image,
/// a secret.
fn v1() -> String {
    format!(
        "{ORG}---
apiVersion: spherectl/v1
kind: Community
metadata: {{name: analytics}}
---
apiVersion: spherectl/v1
kind: Project
metadata: {{name: models, community: research}}
spec:
  description: Models v1
  limits: {{maxUnitsPerHour: 10}}
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {{name: old, project: research/models}}
spec: {{sizeGb: 5}}
---
apiVersion: spherectl/v1
kind: DockerImage
metadata: {{name: env, project: research/models}}
spec:
  repository: env
  tag: \"1.0\"
  dockerfile: |
    FROM python:3.10
    RUN pip install pandas==2.2.2
---
apiVersion: spherectl/v1
kind: Secret
metadata: {{name: token, project: research/models}}
spec:
  value: {{fromEnv: APP_TOKEN}}
"
    )
}

/// Version 2: an update, a replace (the image's Dockerfile), a delete, a create published to
/// the other community.
fn v2() -> String {
    v1().replace("description: Models v1", "description: Models v2")
        .replace("maxUnitsPerHour: 10", "maxUnitsPerHour: 20")
        .replace("pandas==2.2.2", "pandas==2.2.3")
        .replace(
            "metadata: {name: old, project: research/models}\nspec: {sizeGb: 5}",
            "metadata: {name: fresh, project: research/models}\nspec: {sizeGb: 7, publish: [analytics]}",
        )
        + "---\napiVersion: spherectl/v1\nkind: Secret\nmetadata: {name: token2, project: research/models}\nspec:\n  value: {fromEnv: APP_TOKEN}\n"
}

const WARN_POLICY: &str = r#"package review

import rego.v1

warn contains {"msg": sprintf("%s is deleted: its data is lost", [change.address]), "address": change.address} if {
    some change in input.changes
    change.action == "delete"
}
"#;

fn write(case: &Case, name: &str, text: &str) {
    let path = case.path().join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The scenario applied at version 1, with version 2 and a warning policy in place.
fn reviewed_case() -> Case {
    let case = Case::files(&[("org.yaml", &v1())]);
    applied(&case);
    write(&case, "org.yaml", &v2());
    write(&case, "policies/review.rego", WARN_POLICY);
    case
}

/// The fenced blocks of a markdown text with the given info string.
fn blocks<'a>(markdown: &'a str, info: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut rest = markdown;
    let open = format!("```{info}\n");
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let end = body.find("\n```\n").map_or(body.len(), |e| e + 1);
        found.push(&body[..end]);
        rest = &body[end..];
    }
    found
}

/// Checks that a mermaid flowchart is well formed: generated ids, quoted labels without raw
/// quotes or brackets, every edge between declared nodes, classes defined before use.
pub(crate) fn check_mermaid(chart: &str) {
    let mut lines = chart.lines();
    assert_eq!(lines.next(), Some("flowchart LR"), "{chart}");
    let id_ok = |id: &str| {
        id.len() > 1 && id.starts_with('n') && id[1..].bytes().all(|b| b.is_ascii_digit())
    };
    let mut nodes = std::collections::HashSet::new();
    let mut edges = 0usize;
    let mut classes = std::collections::HashSet::new();
    for line in lines {
        let line = line.strip_prefix("  ").unwrap_or_else(|| panic!("not indented: {line}"));
        if let Some((id, rest)) = line.split_once("[\"") {
            assert!(id_ok(id), "bad node id `{id}` in {line}");
            let label = rest.strip_suffix("\"]").unwrap_or_else(|| panic!("unclosed: {line}"));
            assert!(
                !label.contains(['"', '[', ']', '<', '>', '`', '|', '{', '}']),
                "raw mark in {line}"
            );
            assert!(nodes.insert(id.to_owned()), "node {id} declared twice");
        } else if let Some(rest) = line.strip_prefix("classDef ") {
            classes.insert(rest.split(' ').next().unwrap().to_owned());
        } else if let Some(rest) = line.strip_prefix("class ") {
            let (ids, class) = rest.split_once(' ').unwrap();
            assert!(classes.contains(class), "class {class} used before its classDef");
            for id in ids.split(',') {
                assert!(nodes.contains(id), "class of undeclared node {id}");
            }
        } else if let Some(rest) = line.strip_prefix("linkStyle ") {
            let index: usize = rest.split(' ').next().unwrap().parse().unwrap();
            assert!(index < edges, "linkStyle {index} of {edges} edges");
        } else {
            let parts: Vec<&str> = line.split(' ').collect();
            let (from, to) = match parts.as_slice() {
                [from, "-->", to] => (*from, *to),
                [from, "-.", label, ".->", to] if label.bytes().all(|b| b.is_ascii_lowercase()) => {
                    (*from, *to)
                }
                _ => panic!("not a node, edge, class or style line: {line}"),
            };
            assert!(
                nodes.contains(from) && nodes.contains(to),
                "edge to an undeclared node: {line}"
            );
            edges += 1;
        }
    }
    assert!(!nodes.is_empty());
}

/// Checks the structure a forge renders: fences closed, `<details>` balanced, table rows with
/// their header's column count, no HTML but spherectl's own outside code, every mermaid block
/// well formed.
pub(crate) fn check_markdown(markdown: &str) {
    let mut fence: Option<usize> = None;
    let mut details = 0i32;
    let mut columns: Option<usize> = None;
    for line in markdown.lines() {
        let run = line.chars().take_while(|c| *c == '`').count();
        if let Some(open) = fence {
            if run >= open && line[run..].trim().is_empty() {
                fence = None;
            }
            continue;
        }
        if run >= 3 {
            fence = Some(run);
            continue;
        }
        let plain = without_code_spans(line, "CODE", true);
        if line.starts_with('|') {
            let cells = plain.replace("\\|", "").matches('|').count();
            match columns {
                None => columns = Some(cells),
                Some(n) => assert_eq!(cells, n, "a table row with other columns: {line}"),
            }
        } else {
            columns = None;
        }
        if line.starts_with("<details>") {
            assert!(
                line.starts_with("<details><summary>") && line.ends_with("</summary>"),
                "{line}"
            );
            let inner = &line["<details><summary>".len()..line.len() - "</summary>".len()];
            assert!(!inner.contains(['<', '>']), "markup in a summary: {line}");
            details += 1;
            continue;
        }
        if line == "</details>" {
            details -= 1;
            assert!(details >= 0, "</details> without <details>");
            continue;
        }
        let mut html = plain.clone();
        for allowed in
            ["<!-- spherectl-plan -->", "<!-- spherectl-drift -->", "<sub>", "</sub>", "<br>"]
        {
            html = html.replace(allowed, "");
        }
        assert!(!html.contains('<'), "raw HTML outside code: {line}");
        assert!(
            !plain.starts_with('#') || line.starts_with("###") || line.starts_with("####"),
            "{line}"
        );
    }
    assert!(fence.is_none(), "an unclosed code fence");
    assert_eq!(details, 0, "unbalanced <details>");
    for chart in blocks(markdown, "mermaid") {
        check_mermaid(chart);
    }
}

fn platform_of(case: &Case, args: &[&str]) -> String {
    let mut args = args.to_vec();
    args.extend(["--format", "json"]);
    let run = case.run(&args);
    let plan: Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|_| panic!("{}", run.stderr));
    plan["platform"].as_str().unwrap().to_owned()
}

#[test]
fn review_plan_markdown_snapshot() {
    let case = reviewed_case();
    // The map and snapshot describe the embedded sandbox (over HTTP, publications cannot be
    // read back and are marked as such).
    let args = ["plan", ".", "--platform", "sandbox"];
    let run = case.run(&[&args[..], &["--format", "markdown"]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let markdown = run.stdout.replace(&platform_of(&case, &args), "PLATFORM");
    check_markdown(&markdown);
    assert!(markdown.starts_with("<!-- spherectl-plan -->\n"));
    // Findings before the changes, the map before the details.
    let findings = markdown.find("#### Findings").expect("findings");
    let map = markdown.find("```mermaid").expect("map");
    let details = markdown.find("<details>").expect("details");
    assert!(findings < map && map < details, "{markdown}");
    // A new secret's value is never shown, not even a placeholder that could pass for one.
    assert!(markdown.contains("| `spec.value` |  | (sensitive) |"), "{markdown}");
    let chart = blocks(&markdown, "mermaid")[0];
    for class in ["update", "replace", "delete", "create", "context"] {
        assert!(chart.contains(&format!(" {class}\n")), "no `{class}` node in {chart}");
    }
    assert!(chart.contains("-. publish .->"), "{chart}");
    insta::assert_snapshot!(markdown);
}

#[test]
fn review_markdown_survives_hostile_text() {
    let hostile =
        "a | b `tick` ``two`` <details><summary>x</summary> --> end\\n[link](http://x) *em* $x$ #h";
    let case = Case::files(&[("org.yaml", ORG)]);
    applied(&case);
    let text = format!(
        "{ORG}  description: \"{hostile}\"\n---
apiVersion: spherectl/v1
kind: Project
metadata: {{name: end, community: research}}
spec:
  description: \"x | y `z` ``w`` <details> --> <!-- c --> \\\\|\"
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {{name: subgraph, project: research/end}}
spec:
  sizeGb: 1
  publish: ['t|`<details>-->\"#z']
  initCode: |
    ```
    </details>
    ````
    | a | b |
    <!-- x -->
"
    )
    .replace("metadata: {name: research}\n  description", "metadata: {name: research}\nspec:\n  description")
        // Community names may hold anything but whitespace.
        + "---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {name: 't|`<details>-->\"#z'}\n";
    write(&case, "org.yaml", &text);
    let policy = format!(
        "package hostile\n\nimport rego.v1\n\nwarn contains \"{}\" if {{ true }}\n",
        "policy <details> | `x` \\n</details>"
    );
    write(&case, "policies/hostile.rego", &policy);
    let run = case.run(&["plan", ".", "--format", "markdown"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    check_markdown(&run.stdout);
    // The hostile texts are there, as code or escaped text, and a reader sees them whole.
    assert!(run.stdout.contains("``two``"), "{}", run.stdout);
    assert!(run.stdout.contains("+ </details>"), "{}", run.stdout);
    assert!(run.stdout.contains("&lt;details&gt;"), "{}", run.stdout);
    // No section closes early: each community's section holds its own changes.
    assert_eq!(run.stdout.lines().filter(|l| l.starts_with("<details>")).count(), 2);
    assert!(
        run.stdout.contains(
            "<details><summary>Community t|`&lt;details&gt;--&gt;&quot;#z — 1 change</summary>"
        ),
        "{}",
        run.stdout
    );
    // The publication to it is an edge of the map, from the dataset to that community.
    let chart = blocks(&run.stdout, "mermaid")[0];
    assert!(
        chart.contains("[\"Community t#124;#96;#60;details#62;--#62;#34;#35;z (create)\"]"),
        "{chart}"
    );
    assert_eq!(chart.matches("-. publish .->").count(), 1, "{chart}");
    // A one-line value is a table cell, its `|` escaped, in a code span longer than its `` ` ``.
    assert!(
        run.stdout.contains(
            "| _(none)_ | ```\"x \\| y `z` ``w`` <details> --> <!-- c --> \\\\\\|\"``` |"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn review_markdown_of_a_big_plan_stays_under_the_comment_limit() {
    let mut text = String::from(ORG);
    let init: String =
        (0..40).map(|i| format!("    print('line {i} of a long init script')\n")).collect();
    // Within the sandbox's quotas: 10 datasets per community.
    for c in 0..10 {
        text.push_str(&format!(
            "---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {{name: team{c}}}\n---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: proj, community: team{c}}}\n"
        ));
        for d in 0..9 {
            text.push_str(&format!(
                "---\napiVersion: spherectl/v1\nkind: Dataset\nmetadata: {{name: data{d}, project: team{c}/proj}}\nspec:\n  sizeGb: 1\n  initCode: |\n{init}"
            ));
        }
    }
    // A second community, so that there is more than one section to leave out.
    text.push_str("---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {name: zeta}\n");
    let case = Case::files(&[("org.yaml", &text)]);
    write(
        &case,
        "policies/p.rego",
        "package p\n\nimport rego.v1\n\nwarn contains \"every plan is reviewed\" if { true }\n",
    );
    let full = case.run(&["plan", ".", "--format", "text"]);
    assert!(full.stdout.len() > 150_000, "the plan is not big: {}", full.stderr);
    let run = case.run(&["plan", ".", "--format", "markdown"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let markdown = &run.stdout;
    assert!(markdown.len() <= 65_536, "{} bytes", markdown.len());
    check_markdown(markdown);
    assert!(markdown.contains("**Plan: 112 changes (112 create).**"), "{}", &markdown[..500]);
    assert!(markdown.contains("every plan is reviewed"));
    assert!(
        markdown.contains("> **Note:**") && markdown.contains("left out"),
        "{}",
        &markdown[markdown.len() - 600..]
    );
    // What fits is still shown: the small section is whole.
    assert!(markdown.contains("<summary>Community zeta — 1 change</summary>"), "{markdown}");
}

#[test]
fn review_show_renders_a_saved_plan_as_plan_did() {
    let case = reviewed_case();
    let saved = case.run(&["plan", ".", "--out", "plan.json"]);
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    for format in ["text", "json", "markdown"] {
        let plan = case.run(&["plan", ".", "--format", format]);
        let show = case.run(&["show", "plan.json", "--format", format]);
        assert_eq!(show.code, 0, "{}", show.stderr);
        assert_eq!(show.stdout, plan.stdout, "show --format {format}");
        assert_eq!(show.stderr, "");
    }
    // The default is text; no platform is needed: the sandbox may be gone.
    std::fs::remove_dir_all(case.path().join(".spherectl")).unwrap();
    let show = case.run(&["show", "plan.json"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(show.stdout.contains("~ update Project/research/models"), "{}", show.stdout);
    assert!(!case.path().join(".spherectl").exists(), "show created a sandbox");
}

#[test]
fn review_show_refuses_what_is_not_a_plan() {
    let case = Case::files(&[("org.yaml", ORG)]);
    write(&case, "garbage.json", "{not json");
    write(&case, "foreign.json", "{\"name\": \"package.json\"}");
    write(&case, "future.json", "{\"formatVersion\": 99, \"changes\": []}");
    write(&case, "broken.json", "{\"formatVersion\": 1, \"changes\": 3}");
    for (file, words) in [
        ("missing.json", "cannot read"),
        ("garbage.json", "not JSON"),
        ("foreign.json", "no `formatVersion`"),
        ("future.json", "version 99"),
        ("broken.json", "not a plan"),
        ("org.yaml", "not JSON"),
    ] {
        let run = case.run(&["show", file]);
        assert_eq!(run.code, 1, "{file}: {}", run.stderr);
        assert!(run.stderr.contains(words), "{file}: {}", run.stderr);
        assert!(run.stderr.starts_with("error: "), "{file}: {}", run.stderr);
        assert_eq!(run.stdout, "");
    }
    let run = case.run(&["show"]);
    assert_eq!(run.code, 64, "{}", run.stderr);
}

/// A secret source CI does not have: drift does not read the value, says so, and exits 0 on a
/// converged organization with nothing on stderr.
#[test]
fn review_drift_without_secret_values_reports_them_not_checked() {
    let case = reviewed_case();
    std::fs::remove_dir_all(case.path().join("policies")).unwrap();
    write(&case, "org.yaml", &v1());
    converged(&case);
    let mut ci = Case { dir: case.dir, env: Vec::new() };
    let run = ci.run(&["drift", "."]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // Nothing stray on stderr: no error, no warning about the unset variable.
    assert_eq!(run.stderr, "");
    assert!(
        run.stdout.contains(
            "? Secret/research/models/token: not checked: its value's source, environment variable `APP_TOKEN`, is not set"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("No drift: the platform matches the manifests."), "{}", run.stdout);
    let json = ci.run(&["drift", ".", "--format", "json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["drift"], Value::Array(Vec::new()));
    assert_eq!(report["notChecked"][0]["address"], "Secret/research/models/token");
    let markdown = ci.run(&["drift", ".", "--format", "markdown"]);
    assert_eq!(markdown.code, 0);
    assert!(markdown.stdout.contains("#### Not checked"), "{}", markdown.stdout);
    check_markdown(&markdown.stdout);
    // `plan` still needs the value.
    let plan = ci.run(&["plan", "."]);
    assert_eq!(plan.code, 1, "{}", plan.stderr);
    assert!(plan.stderr.contains("APP_TOKEN"), "{}", plan.stderr);
    // With the value, drift checks it and lists nothing as not checked.
    ci.env.push(("APP_TOKEN".into(), "s3cret-VALUE-never-shown-7f3a".into()));
    let run = ci.run(&["drift", "."]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    if !crate::http::over_http() {
        assert!(!run.stdout.contains("Not checked"), "{}", run.stdout);
    }
}

/// Drift speaks of what changed behind the manifests' back, object by object; `--out` saves the
/// report and `show` renders it as drift did.
#[test]
fn review_drift_wording_out_and_show() {
    let case = reviewed_case();
    std::fs::remove_dir_all(case.path().join("policies")).unwrap();
    // Never applied: not created yet.
    write(&case, "org.yaml", &v2());
    let sandbox = case.sandbox();
    let live = sandbox.read("bpf00000000000000acme").unwrap();
    let project = live.objects.iter().find(|o| o.kind == Kind::Project).unwrap();
    let mut request = UpdateRequest::default();
    request.set.insert("spec.limits.maxUnitsPerHour".into(), 30.into());
    sandbox.update(Kind::Project, &project.id, &request).unwrap();
    drop(sandbox);
    let run = case.run(&["drift", ".", "--out", "drift.json"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert!(out.contains("~ Project/research/models: changed outside spherectl"), "{out}");
    assert!(out.contains("spec.limits.maxUnitsPerHour: 20 → 30  (manifests → platform)"), "{out}");
    assert!(out.contains("- Dataset/research/models/fresh: missing on the platform"), "{out}");
    assert!(
        out.contains(
            "+ Dataset/research/models/old: on the platform with this set's labels, in no manifest"
        ),
        "{out}"
    );
    assert!(!out.contains("will create") && !out.contains("create Dataset"), "{out}");
    // The new dataset's publication is part of it, not a second line.
    assert!(!out.contains("#publish"), "{out}");
    // On stderr: the findings (a possible rename), then the summary.
    assert!(
        run.stderr.ends_with("Drift: 5 differences from the manifests (2 changed outside spherectl, 2 missing on the platform, 1 on the platform but in no manifest).\n"),
        "{}",
        run.stderr
    );
    for format in ["text", "json", "markdown"] {
        let drift = case.run(&["drift", ".", "--format", format]);
        let show = case.run(&["show", "drift.json", "--format", format]);
        assert_eq!(show.code, 0, "{}", show.stderr);
        assert_eq!(show.stdout, drift.stdout, "show --format {format}");
    }
    let markdown = case.run(&["show", "drift.json", "--format", "markdown"]).stdout;
    check_markdown(&markdown);
    assert!(markdown.starts_with("<!-- spherectl-drift -->\n"), "{markdown}");
    assert!(markdown.contains("| changed outside spherectl | 2 |"), "{markdown}");
    assert!(markdown.contains("#### Map of the drift"), "{markdown}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(case.path().join("drift.json")).unwrap())
            .unwrap();
    let platform = report["platform"].as_str().unwrap();
    insta::assert_snapshot!(markdown.replace(platform, "PLATFORM"));
    // A set never applied: not created yet.
    let fresh = Case::files(&[("org.yaml", &v1())]);
    let run = fresh.run(&["drift", "."]);
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.contains(
            "- Project/research/models: not created yet: the manifests were never applied"
        ),
        "{}",
        run.stdout
    );
}

/// A secret whose value changed: the markdown says so, and shows neither value.
#[test]
fn review_markdown_of_a_changed_secret_shows_no_value() {
    let case = reviewed_case();
    std::fs::remove_dir_all(case.path().join("policies")).unwrap();
    write(&case, "org.yaml", &v1());
    let changed = "NEW-secret-value-9c2e";
    let mut case = Case { dir: case.dir, env: vec![("APP_TOKEN".into(), changed.into())] };
    let run = case.run(&["plan", ".", "--format", "markdown", "--out", "plan.json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("| `spec.value` |  | (sensitive value changed) |"),
        "{}",
        run.stdout
    );
    let drift = case.run(&["drift", ".", "--format", "markdown", "--out", "drift.json"]);
    assert_eq!(drift.code, 2, "{}", drift.stderr);
    assert!(drift.stdout.contains("(sensitive value differs)"), "{}", drift.stdout);
    let show = case.run(&["show", "plan.json", "--format", "markdown"]);
    for text in [&run.stdout, &run.stderr, &drift.stdout, &drift.stderr, &show.stdout] {
        assert!(!text.contains(changed), "a secret value leaked: {text}");
    }
    for file in ["plan.json", "drift.json"] {
        let saved = std::fs::read_to_string(case.path().join(file)).unwrap();
        assert!(!saved.contains(changed) && !saved.contains(crate::SECRET), "{file}");
    }
    case.env.clear();
    let ci = case.run(&["drift", ".", "--format", "markdown"]);
    assert_eq!(ci.code, 0, "{}", ci.stderr);
    assert!(ci.stdout.contains("#### Not checked"), "{}", ci.stdout);
}
