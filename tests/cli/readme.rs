//! README.md is true: its opening commands do what the text after them says, every `spherectl`
//! command line of its `sh` blocks (and every line of its command synopsis) names a subcommand
//! and flags that `spherectl <cmd> --help` lists, and the Rego `input` it describes is the one
//! policies receive. A README that drifts from the CLI fails here, not in a new user's shell.

use std::{collections::BTreeSet, path::Path};

use serde_json::Value;

use crate::{
    ci_examples::{commands, subcommands},
    root, spherectl,
};

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md is readable")
}

/// The README with every run of whitespace (line breaks and indentation too) as one space, so
/// that a phrase is found however the paragraph is wrapped.
fn readme_flat() -> String {
    readme().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The fenced blocks of a markdown text: (info string, body), in order.
fn fenced(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in text.lines() {
        match &mut open {
            None => {
                if let Some(info) = line.strip_prefix("```") {
                    open = Some((info.trim().to_owned(), String::new()));
                }
            }
            Some((_, body)) => {
                if line.trim() == "```" {
                    blocks.push(open.take().unwrap());
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    assert!(open.is_none(), "README.md: a fenced block is not closed");
    blocks
}

/// The help of `spherectl <path...>`.
fn help(path: &[&str]) -> String {
    let mut args: Vec<&str> = path.to_vec();
    args.push("--help");
    let output = spherectl(args).output();
    assert_eq!(output.code, Some(0), "spherectl {} --help: {}", path.join(" "), output.stderr);
    output.stdout
}

/// The subcommands a help text lists under `Commands:` (none when it has no such section).
fn listed_commands(help: &str) -> BTreeSet<String> {
    let Some(section) = help.split("Commands:").nth(1) else { return BTreeSet::new() };
    section
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// The long flags (`--name`) in a text, in order.
fn long_flags(text: &str) -> Vec<String> {
    let mut flags = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("--") {
        let after = &rest[at + 2..];
        let name: String =
            after.chars().take_while(|c| c.is_ascii_lowercase() || *c == '-').collect();
        let starts_a_word = at == 0 || !rest[..at].ends_with(|c: char| c.is_alphanumeric());
        if starts_a_word && name.starts_with(|c: char| c.is_ascii_lowercase()) {
            flags.push(format!("--{name}"));
        }
        rest = &after[name.len()..];
    }
    flags
}

/// Checks one command line (the words after `spherectl`) against the help of its subcommand
/// (and of its nested subcommand, as in `policy test`); returns the subcommand.
fn check_command(args: &[String], known: &BTreeSet<String>, context: &str) -> String {
    let line = args.join(" ");
    // Global options may come first.
    let mut rest = args;
    while let Some(first) = rest.first().filter(|a| a.starts_with("--")) {
        rest = if first.contains('=') { &rest[1..] } else { &rest[2.min(rest.len())..] };
    }
    let command =
        rest.first().unwrap_or_else(|| panic!("{context}: `spherectl {line}` has no command"));
    assert!(known.contains(command), "{context}: `spherectl {line}`: no subcommand `{command}`");
    let mut path = vec![command.as_str()];
    let mut text = help(&path);
    if let Some(sub) = rest.get(1).filter(|s| listed_commands(&text).contains(s.as_str())) {
        path.push(sub);
        text = help(&path);
    }
    let listed: BTreeSet<&str> =
        text.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']').collect();
    for flag in args.iter().filter(|a| a.starts_with("--")).flat_map(|a| long_flags(a)) {
        assert!(
            listed.contains(flag.as_str()),
            "{context}: `spherectl {line}`: `{flag}` is not in `spherectl {} --help`",
            path.join(" ")
        );
    }
    command.clone()
}

/// Every `spherectl` command line of the README's `sh` blocks (`cargo run --release -- ARGS`
/// counts as `spherectl ARGS`) runs a subcommand that exists, with flags it takes.
#[test]
fn readme_command_lines_exist_in_help() {
    let known = subcommands();
    let mut count = 0;
    let mut used = BTreeSet::new();
    for (info, body) in fenced(&readme()) {
        if info != "sh" {
            continue;
        }
        let body = body
            .replace("cargo run --release --", "spherectl")
            .replace("cargo run --", "spherectl");
        for args in commands(&body) {
            used.insert(check_command(&args, &known, "README.md"));
            count += 1;
        }
    }
    assert!(count >= 12, "README.md: only {count} spherectl command lines found in `sh` blocks");
    for command in ["apply", "plan", "validate", "drift", "serve", "import"] {
        assert!(used.contains(command), "README.md: no `spherectl {command}` in an `sh` block");
    }
}

/// The command synopsis ("What it does") has a line for every subcommand, and each flag on a
/// line is one that subcommand takes.
#[test]
fn readme_synopsis_lists_every_command_with_real_flags() {
    let blocks = fenced(&readme());
    let (_, synopsis) = blocks
        .iter()
        .find(|(info, body)| info.is_empty() && body.starts_with("spherectl validate"))
        .expect("README.md: a synopsis block starting with `spherectl validate`");
    let known = subcommands();
    let mut described = BTreeSet::new();
    for line in synopsis.lines() {
        // `spherectl COMMAND [SUBCOMMAND] [USAGE...]   description`: the descriptions quote no
        // flag, so every flag on the line is the command's.
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], "spherectl", "README.md synopsis: `{line}`");
        let mut checked: Vec<String> = vec![words[1].to_owned()];
        if let Some(sub) = words.get(2).filter(|s| s.chars().all(|c| c.is_ascii_lowercase())) {
            checked.push((*sub).to_owned());
        }
        checked.extend(long_flags(line));
        described.insert(check_command(&checked, &known, "README.md synopsis"));
    }
    for command in known.iter().filter(|c| *c != "help") {
        assert!(
            described.contains(command),
            "README.md synopsis: no line for `spherectl {command}`"
        );
    }
}

#[test]
fn readme_flag_checks_catch_what_does_not_exist() {
    let known = subcommands();
    for bad in [vec!["plan", "--no-such-flag"], vec!["sandbox", "quota", "--force"], vec!["nope"]] {
        let args: Vec<String> = bad.iter().map(|s| (*s).to_owned()).collect();
        let caught = std::panic::catch_unwind(|| check_command(&args, &known, "test")).is_err();
        assert!(caught, "`spherectl {}` passed the check", bad.join(" "));
    }
    // A nested subcommand's own flags are found in its help.
    let args: Vec<String> = ["sandbox", "quota", "--unlimited"].map(String::from).to_vec();
    assert_eq!(check_command(&args, &known, "test"), "sandbox");
    assert_eq!(
        long_flags("[--out FILE] [--format text|json] (`-`: stdin) a--b"),
        ["--out", "--format"]
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A fresh checkout's copy of `examples/quickstart` in a temporary directory.
fn quickstart() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples/quickstart"), &dir.path().join("examples/quickstart"));
    dir
}

/// The README opens with exactly two commands, the quickstart on the embedded sandbox and the
/// tests, and what the text right after them says holds: where the sandbox goes, what the
/// apply prints, that a second run and `drift` report no changes, and that `drift` exits 0.
#[test]
fn readme_opens_with_the_quickstart_and_it_does_what_the_readme_says() {
    let text = readme();
    let (info, body) = &fenced(&text)[0];
    assert!(
        text.find("```").unwrap() < text.find("\n## ").unwrap(),
        "README.md: the first section must open with the commands"
    );
    assert_eq!(info, "sh");
    let lines: Vec<&str> = body.lines().map(|l| l.split(" #").next().unwrap().trim()).collect();
    assert_eq!(lines, ["cargo run --release -- apply examples/quickstart --yes", "cargo test"]);

    let flat = readme_flat();
    let intro = &flat[flat.find("cargo test").unwrap()..flat.find("## What it does").unwrap()];
    let said = [
        "`examples/quickstart/.spherectl/sandbox.db`",
        "the plan (17 changes) on stdout",
        "`Apply complete: 17 done, 0 failed, 0 skipped.`",
        "`No changes: the platform matches the manifests.`",
        "`cargo run --release -- drift examples/quickstart`",
        "`No drift: the platform matches the manifests.`",
        "exits 0",
    ];
    for phrase in said {
        assert!(intro.contains(phrase), "README.md's opening no longer says {phrase}: {intro}");
    }

    let dir = quickstart();
    let apply = spherectl(["apply", "examples/quickstart", "--yes"]).in_temp(dir.path()).output();
    assert_eq!(apply.code, Some(0), "{}", apply.stderr);
    assert!(
        apply.stderr.contains("Apply complete: 17 done, 0 failed, 0 skipped."),
        "{}",
        apply.stderr
    );
    assert!(apply.stdout.contains("\nPlan: 17 changes ("), "{}", apply.stdout);
    assert!(dir.path().join("examples/quickstart/.spherectl/sandbox.db").is_file());
    assert!(dir.path().join("examples/quickstart/.spherectl/sandbox.db.key").is_file());
    let ignore = dir.path().join("examples/quickstart/.spherectl/.gitignore");
    assert_eq!(std::fs::read_to_string(ignore).unwrap().trim(), "*");
    let again = spherectl(["apply", "examples/quickstart", "--yes"]).in_temp(dir.path()).output();
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert!(
        again.stdout.contains("No changes: the platform matches the manifests."),
        "{}",
        again.stdout
    );
    let drift = spherectl(["drift", "examples/quickstart"]).in_temp(dir.path()).output();
    assert_eq!(drift.code, Some(0), "{}{}", drift.stdout, drift.stderr);
    assert!(
        drift.stdout.contains("No drift: the platform matches the manifests."),
        "{}",
        drift.stdout
    );
}

/// `apply --plan FILE` with manifest paths or `--target` is a usage error (64), as the README's
/// exit-code table says, whatever FILE holds: the arguments are checked before the file is read.
#[test]
fn apply_plan_with_paths_or_targets_is_a_usage_error_before_the_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    for extra in [["examples/quickstart"].as_slice(), ["--target", "Community/research"].as_slice()]
    {
        let mut args = vec!["apply", "--plan", "no-such-plan.json"];
        args.extend(extra);
        let output = spherectl(args.clone()).in_temp(dir.path()).output();
        assert_eq!(output.code, Some(64), "spherectl {}: {}", args.join(" "), output.stderr);
        assert!(output.stderr.contains("cannot be given with `--plan`"), "{}", output.stderr);
    }
}

/// `policy test` with no `test_*` rule fails (exit 1), as the README says, and its help says so.
#[test]
fn policy_test_without_tests_fails_as_its_help_says() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.rego"), "package a\n\ndeny contains \"x\" if { false }\n")
        .unwrap();
    let output = spherectl(["policy", "test", "."]).in_temp(dir.path()).output();
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    let help = help(&["policy", "test"]).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("there are no tests"), "{help}");
    assert!(readme_flat().contains("a file does not parse, or there are no tests"));
}

/// The names inside the outermost `{...}` of a shape such as `[{id, members: {S: R}}]`.
fn keys_in(shape: &str) -> BTreeSet<String> {
    let inner = &shape[shape.find('{').unwrap() + 1..shape.rfind('}').unwrap()];
    let mut keys = BTreeSet::new();
    let (mut depth, mut current) = (0, String::new());
    for c in inner.chars().chain([',']) {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                let name = current.split(':').next().unwrap().trim().to_owned();
                keys.insert(name);
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    keys
}

/// The `input` a Rego policy receives has the fields the README's policy section names: a
/// policy that reports the keys it sees, run on the quickstart after an apply.
#[test]
fn rego_input_has_the_shape_the_readme_describes() {
    let flat = readme_flat();
    let shapes = [
        (
            "live",
            "`live`: the live organization as the plan read it: `{organization, communities, projects, resources}`",
        ),
        ("live.organization", "organization: {id, members: {SUBJECT: ROLE}}"),
        ("live.communities", "communities: [{id, name, labels, zone, members: {SUBJECT: ROLE}}]"),
        (
            "live.projects",
            "projects: [{id, name, path, community, labels, members: {SUBJECT: ROLE}}]",
        ),
        (
            "live.resources",
            "resources: [{id, kind, name, path, project, labels, active, publishedTo: [COMMUNITY], usedBy: [\"COMMUNITY/PROJECT\"]}]",
        ),
        (
            "desired",
            "`desired`: the declared objects, the planned end state of what this set manages: `{organization, objects}`",
        ),
        (
            "desired.objects",
            "objects: [{address, kind, name, path, community, project, labels, publish: [COMMUNITY or \"id:ID\"], uses: [ADDRESS or \"id:ID\"], members: [{subject, role}]}]",
        ),
    ];
    for (_, shape) in shapes {
        assert!(flat.contains(shape), "README.md's policy section no longer says {shape}");
    }

    let dir = quickstart();
    let applied = spherectl(["apply", "examples/quickstart", "--yes"]).in_temp(dir.path()).output();
    assert_eq!(applied.code, Some(0), "{}", applied.stderr);
    std::fs::create_dir(dir.path().join("probe")).unwrap();
    std::fs::write(
        dir.path().join("probe/probe.rego"),
        r#"package probe

import rego.v1

keys(x) := concat(",", sort(object.keys(x)))

deny contains sprintf("top %s", [keys(input)]) if true
deny contains sprintf("actor %s", [input.actor]) if true
deny contains sprintf("live %s", [keys(input.live)]) if true
deny contains sprintf("live.organization %s", [keys(input.live.organization)]) if true
deny contains sprintf("live.communities %s", [keys(x)]) if {
    some x in input.live.communities
}
deny contains sprintf("live.projects %s", [keys(x)]) if {
    some x in input.live.projects
}
deny contains sprintf("live.resources %s", [keys(x)]) if {
    some x in input.live.resources
}
deny contains sprintf("desired %s", [keys(input.desired)]) if true
deny contains sprintf("desired.objects %s", [k]) if {
    some x in input.desired.objects
    some k in object.keys(x)
}
"#,
    )
    .unwrap();
    let plan = spherectl(["plan", "examples/quickstart", "--policy", "probe", "--format", "json"])
        .in_temp(dir.path())
        .output();
    assert_eq!(plan.code, Some(1), "the probe denies: {}", plan.stderr);
    let json: Value = serde_json::from_str(&plan.stdout).unwrap();
    let mut seen: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for finding in json["findings"].as_array().unwrap() {
        if finding["rule"] != "spherectl::policy::deny" {
            continue;
        }
        let message = finding["message"].as_str().unwrap();
        let (what, keys) = message.split_once(' ').unwrap();
        seen.entry(what.to_owned()).or_default().extend(keys.split(',').map(str::to_owned));
    }
    assert_eq!(seen["actor"], BTreeSet::from(["userAccount:local-admin".to_owned()]));
    let top = &seen["top"];
    for key in ["changes", "summary", "findings", "unmanaged", "actor", "live", "desired"] {
        assert!(top.contains(key), "input has no `{key}`: {top:?}");
    }
    for (what, shape) in shapes {
        let described = keys_in(&shape[shape.find(": ").unwrap()..]);
        assert_eq!(seen.get(what), Some(&described), "`input.{what}` differs from the README");
    }
}

/// Every relative link of the README names a file or directory of the repository, and every
/// `#anchor` a heading; so does every repository path it quotes in code (`schemas/...`, ...).
#[test]
fn readme_links_and_paths_exist() {
    let text = readme();
    let anchors: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix('#').map(|h| h.trim_start_matches('#').trim()))
        .map(|h| {
            h.to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect();
    let mut targets = Vec::new();
    for part in text.split("](").skip(1) {
        targets.push(part.split(')').next().unwrap().to_owned());
    }
    for span in text.split('`').skip(1).step_by(2) {
        let top = ["schemas/", "examples/", "tests/", "src/", "benches/"];
        // What spherectl creates (`.spherectl/`) is not in the repository.
        let created = span.contains(".spherectl");
        if top.iter().any(|t| span.starts_with(t))
            && !span.contains(char::is_whitespace)
            && !created
        {
            targets.push(span.trim_end_matches(['*', '.']).to_owned());
        }
    }
    assert!(targets.len() >= 15, "{targets:?}");
    for target in targets {
        if target.starts_with("http") {
            continue;
        }
        if let Some(anchor) = target.strip_prefix('#') {
            assert!(anchors.contains(anchor), "README.md: no heading for `#{anchor}`");
            continue;
        }
        assert!(root().join(&target).exists(), "README.md names `{target}`, which does not exist");
    }
}

/// The long flags of every command's help, with the commands' own (nested ones too).
fn all_help_flags() -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    let mut paths: Vec<Vec<String>> = vec![vec![]];
    while let Some(path) = paths.pop() {
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&refs);
        flags.extend(long_flags(&text));
        for sub in listed_commands(&text).into_iter().filter(|c| c != "help") {
            let mut next = path.clone();
            next.push(sub);
            paths.push(next);
        }
    }
    flags
}

/// Every flag the README mentions, in prose too, is one spherectl takes (or cargo's
/// `--release`), and every flag spherectl takes is documented in the README.
#[test]
fn readme_mentions_exactly_the_flags_spherectl_takes() {
    let in_help = all_help_flags();
    let in_readme: BTreeSet<String> =
        long_flags(&readme()).into_iter().filter(|f| f != "--release").collect();
    let unknown: Vec<_> = in_readme.difference(&in_help).collect();
    assert!(unknown.is_empty(), "README.md mentions flags spherectl does not take: {unknown:?}");
    let undocumented: Vec<_> = in_help.difference(&in_readme).collect();
    assert!(undocumented.is_empty(), "flags the README does not document: {undocumented:?}");
}

/// The README says why YAML is read with serde-saphyr rather than the deprecated serde_yaml.
#[test]
fn readme_says_why_serde_saphyr() {
    let flat = readme_flat();
    assert!(flat.contains("YAML is read with [`serde-saphyr`]"), "no serde-saphyr design note");
    assert!(flat.contains("`serde_yaml` is deprecated upstream"), "no word on serde_yaml");
}

/// The examples run for a new user with no environment set (DESIGN's "done when" for issue 4:
/// `spherectl apply examples/multi-team --yes`, then `drift` exits 0): no secret of theirs comes
/// from an environment variable outside a comment, and every `fromFile` they name is committed.
#[test]
fn examples_need_no_environment_variables() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut dirs = vec![root.join("quickstart"), root.join("multi-team")];
    let mut files = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            files += 1;
            for (n, line) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
                let code = line.split(" #").next().unwrap_or(line);
                assert!(
                    !code.contains("fromEnv"),
                    "{}:{}: an example secret from the environment: {line}",
                    path.display(),
                    n + 1
                );
                if let Some(rest) = code.split("fromFile:").nth(1) {
                    let name = rest.trim().trim_end_matches('}').trim();
                    let file = path.parent().unwrap().join(name);
                    assert!(file.is_file(), "{}:{}: {} is missing", path.display(), n + 1, name);
                }
            }
        }
    }
    assert!(files >= 10, "read {files} example files");
}
