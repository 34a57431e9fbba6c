//! The CI examples (`examples/ci/`) are valid YAML, have the jobs the README promises, and every
//! `spherectl` command line they run names a subcommand and flags that `spherectl <cmd> --help`
//! lists: an example that drifts from the CLI fails here, not in a user's pipeline.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::{root, spherectl};

fn load(name: &str) -> (String, Value) {
    let text = std::fs::read_to_string(root().join("examples/ci").join(name)).unwrap();
    let value: Value = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("examples/ci/{name} is not valid YAML: {e}"));
    (text, value)
}

/// The shell scripts of a workflow or pipeline: GitHub's `run:`, GitLab's `script:`,
/// `before_script:` and `after_script:` (strings or lists of them). The `script:` of
/// `actions/github-script` (under `with:`) is JavaScript, not shell.
fn scripts(value: &Value, out: &mut Vec<String>) {
    fn all(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(text) => out.push(text.clone()),
            Value::Array(items) => items.iter().for_each(|v| all(v, out)),
            _ => {}
        }
    }
    match value {
        Value::Array(items) => items.iter().for_each(|v| scripts(v, out)),
        Value::Object(map) => {
            for (key, value) in map {
                match key.as_str() {
                    "run" | "script" | "before_script" | "after_script" => all(value, out),
                    "with" => {}
                    _ => scripts(value, out),
                }
            }
        }
        _ => {}
    }
}

/// Shell words of a line, quotes removed (enough for command lines: no nesting).
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, ';') => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                words.push(";".into());
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}

/// Whether a word is an environment assignment that may precede a command (`NAME=value`).
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// The `spherectl` command lines of a script: the words after `spherectl` in command position
/// (possibly after `NAME=value` assignments), up to the end of the command (a separator, a
/// redirection or a comment).
pub(super) fn commands(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    let mut found = Vec::new();
    for line in joined.lines() {
        let words = words(line.trim());
        for (i, word) in words.iter().enumerate() {
            let mut start = i;
            while start > 0 && is_assignment(&words[start - 1]) {
                start -= 1;
            }
            let at_start = start == 0
                || matches!(
                    words[start - 1].as_str(),
                    "&&" | "||" | ";" | "|" | "then" | "do" | "else" | "!" | "exec" | "time"
                )
                || words[start - 1].ends_with("$(");
            if !(at_start && (word == "spherectl" || word.ends_with("/spherectl"))) {
                continue;
            }
            let args: Vec<String> = words[i + 1..]
                .iter()
                .take_while(|w| {
                    !matches!(w.as_str(), "&&" | "||" | ";" | "|" | "&" | ")")
                        && !w.starts_with('>')
                        && !w.starts_with("2>")
                        && !w.starts_with('<')
                        && !w.starts_with('#')
                })
                .cloned()
                .collect();
            found.push(args);
        }
    }
    found
}

/// The subcommands `spherectl --help` lists.
pub(super) fn subcommands() -> BTreeSet<String> {
    let help = spherectl(["--help"]).output();
    assert_eq!(help.code, Some(0));
    help.stdout
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Checks one command line against `spherectl <cmd> --help`; returns the subcommand.
fn check_command(args: &[String], known: &BTreeSet<String>, file: &str) -> String {
    // Global options may come first.
    let mut rest = args;
    while let Some(first) = rest.first().filter(|a| a.starts_with("--")) {
        rest = if first.contains('=') { &rest[1..] } else { &rest[2.min(rest.len())..] };
    }
    let command =
        rest.first().unwrap_or_else(|| panic!("{file}: `spherectl` without a command: {args:?}"));
    assert!(
        known.contains(command),
        "{file}: `spherectl {}`: no subcommand `{command}`",
        args.join(" ")
    );
    let help = spherectl([command.as_str(), "--help"]).output();
    assert_eq!(help.code, Some(0), "{}", help.stderr);
    for arg in args.iter().filter(|a| a.starts_with('-')) {
        let flag = arg.split('=').next().unwrap();
        let listed = help.stdout.split(|c: char| c.is_whitespace() || c == ',').any(|w| w == flag);
        assert!(
            listed,
            "{file}: `spherectl {}`: `{flag}` is not in `spherectl {command} --help`",
            args.join(" ")
        );
    }
    command.clone()
}

fn check_file(name: &str) -> (String, Value, BTreeSet<String>) {
    let (text, value) = load(name);
    let mut found = Vec::new();
    scripts(&value, &mut found);
    let scripts = found;
    let known = subcommands();
    let mut used = BTreeSet::new();
    let mut count = 0;
    for script in &scripts {
        for args in commands(script) {
            used.insert(check_command(&args, &known, name));
            count += 1;
        }
    }
    assert!(count >= 10, "{name}: only {count} spherectl command lines found");
    (text, value, used)
}

#[test]
fn github_actions_example_runs_real_commands() {
    let (text, workflow, used) = check_file("github-actions.yml");
    for command in ["plan", "apply", "drift", "show", "serve"] {
        assert!(used.contains(command), "no `spherectl {command}` in the workflow");
    }
    let on = workflow["on"].as_object().expect("an `on:` map");
    for trigger in ["pull_request", "push", "schedule"] {
        assert!(on.contains_key(trigger), "the workflow does not run on {trigger}");
    }
    assert!(workflow["on"]["schedule"][0]["cron"].is_string());
    for job in ["plan", "apply", "drift", "example-selftest"] {
        assert!(workflow["jobs"][job]["steps"].is_array(), "no job `{job}`");
    }
    // The PR comment is found by its marker and updated, not posted again.
    assert!(text.contains("<!-- spherectl-plan -->") && text.contains("updateComment"));
    assert!(text.contains("<!-- spherectl-drift -->") && text.contains("issues.update"));
    assert!(text.contains("apply --plan plan.json --yes"));
    // Drift runs with no manifest secret.
    let drift_env = &workflow["jobs"]["drift"]["steps"];
    assert!(!drift_env.to_string().contains("FRAUD_DB_PASSWORD"), "drift must not need secrets");
}

#[test]
fn gitlab_ci_example_runs_real_commands() {
    let (text, pipeline, used) = check_file("gitlab-ci.yml");
    for command in ["plan", "apply", "drift", "show", "serve"] {
        assert!(used.contains(command), "no `spherectl {command}` in the pipeline");
    }
    for (job, source) in [
        ("plan", "merge_request_event"),
        ("apply", "CI_DEFAULT_BRANCH"),
        ("drift", "schedule"),
        ("example-selftest", "schedule"),
    ] {
        let rules = pipeline[job]["rules"].to_string();
        assert!(rules.contains(source), "job `{job}` is not run on {source}: {rules}");
    }
    assert_eq!(pipeline["apply"]["resource_group"], "spherectl-apply");
    assert!(text.contains("<!-- spherectl-plan -->") && text.contains("-X PUT"));
    assert!(text.contains("<!-- spherectl-drift -->"));
}

#[test]
fn ci_command_extraction_finds_what_a_shell_runs() {
    let found = commands(
        "set +e\nspherectl plan \"$M\" --format markdown --out plan.json > plan.md 2> err\n\
         cargo install --git x spherectl\nfoo && ./target/debug/spherectl show plan.json --format \\\n  text | tail\n\
         # spherectl comment\necho spherectl drift\n\
         X_TOKEN=a B=\"c d\" spherectl validate m/ # spherectl plan --bogus",
    );
    assert_eq!(
        found,
        vec![
            vec!["plan", "$M", "--format", "markdown", "--out", "plan.json"],
            vec!["show", "plan.json", "--format", "text"],
            vec!["validate", "m/"],
        ]
    );
    // A flag that does not exist is caught.
    let known = subcommands();
    let bad = std::panic::catch_unwind(|| {
        check_command(&["plan".into(), "--no-such-flag".into()], &known, "test")
    });
    assert!(bad.is_err());
}
