//! Exit codes (issue 10, DESIGN §7): the README's table of every command's codes, checked
//! against behaviour: one scenario per cell (130 needs a signal: only its documentation is
//! checked), a cell marked `—` has no scenario, and every command of `--help` has a row.

use std::{
    collections::BTreeMap,
    path::Path,
    process::{Command, Stdio},
};

use super::{Case, ORG};

/// The codes the table has a column for, in order.
const CODES: [u8; 5] = [0, 1, 2, 64, 130];

/// The README's exit-code table: command → code → meaning (`—`: never).
fn readme_table() -> BTreeMap<String, BTreeMap<u8, String>> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut lines =
        readme.lines().skip_while(|l| !l.starts_with("| command | 0 | 1 | 2 | 64 | 130 |"));
    assert!(lines.next().is_some(), "README.md has no exit-code table");
    let mut table = BTreeMap::new();
    for line in lines.skip(1).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells.len(), 6, "a row of 6 cells: {line}");
        let command = cells[0].trim_matches('`').to_owned();
        let codes = CODES.iter().zip(&cells[1..]).map(|(c, m)| (*c, (*m).to_owned())).collect();
        table.insert(command, codes);
    }
    table
}

/// The commands `spherectl --help` lists.
fn commands() -> Vec<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_spherectl")).arg("--help").output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

/// A manifest directory with a mistake in it.
fn broken() -> Case {
    Case::files(&[("org.yaml", &format!("{ORG}spec: {{zone: 7, nonsense: true}}\n"))])
}

/// Runs `spherectl` outside any [`Case`] (no platform), with stdin closed.
fn bare(args: &[&str], dir: &Path) -> i32 {
    Command::new(env!("CARGO_BIN_EXE_spherectl"))
        .env_clear()
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .status
        .code()
        .unwrap_or(-1)
}

/// Runs each of `runs` and returns their common exit code (they must agree).
fn all(case: &Case, runs: &[&[&str]]) -> i32 {
    let codes: Vec<i32> = runs.iter().map(|args| case.run(args).code).collect();
    assert!(codes.windows(2).all(|w| w[0] == w[1]), "{runs:?} → {codes:?}");
    codes[0]
}

/// One scenario per (command, code): its exit code.
fn scenario(command: &str, code: u8) -> Option<i32> {
    let quickstart = || Case::example("quickstart");
    let ran = match (command, code) {
        ("validate", 0) => quickstart().run(&["validate", "."]).code,
        ("validate", 1) => broken().run(&["validate", "."]).code,
        ("validate", 64) => quickstart().run(&["validate", ".", "--strict"]).code,
        ("plan", 0) => quickstart().run(&["plan", "."]).code,
        ("plan", 1) => {
            let case = quickstart();
            let unknown = case.run(&["plan", ".", "--target", "Community/nowhere"]).code;
            assert_eq!(broken().run(&["plan", "."]).code, unknown);
            unknown
        }
        ("plan", 2) => quickstart().run(&["plan", ".", "--detailed-exitcode"]).code,
        ("plan", 64) => all(
            &quickstart(),
            &[
                &["plan", ".", "--bogus"],
                &["plan", ".", "--platform", "ftp://x"],
                &["plan", ".", "--platform", ""],
                &["plan", ".", "--platform", "sandbox:"],
                &["plan", ".", "--platform", "http://"],
                &["plan", ".", "--format", "yaml"],
                &["plan", ".", "--color", "sometimes"],
            ],
        ),
        ("apply", 0) => quickstart().run(&["apply", ".", "--yes"]).code,
        ("apply", 1) => quickstart().run(&["apply", "."]).code,
        ("apply", 64) => {
            let case = quickstart();
            assert_eq!(case.run(&["plan", ".", "--out", "plan.json"]).code, 0);
            all(
                &case,
                &[
                    &["apply", "--plan", "plan.json", ".", "--yes"],
                    &["apply", "--plan", "plan.json", "--target", "Community/research", "--yes"],
                    &["apply", ".", "--parallelism", "0", "--yes"],
                ],
            )
        }
        ("drift", 0) => {
            let case = quickstart();
            super::applied(&case);
            case.run(&["drift", "."]).code
        }
        ("drift", 1) => broken().run(&["drift", "."]).code,
        ("drift", 2) => quickstart().run(&["drift", "."]).code,
        ("drift", 64) => quickstart().run(&["drift", ".", "--detailed-exitcode"]).code,
        ("destroy", 0) => {
            let case = quickstart();
            let nothing = case.run(&["destroy", "."]).code;
            super::applied(&case);
            assert_eq!(case.run(&["destroy", ".", "--yes"]).code, nothing);
            nothing
        }
        ("destroy", 1) => {
            let case = quickstart();
            case.edit(
                "project.yaml",
                "  community: research\n",
                "  community: research\n  lifecycle: {preventDestroy: true}\n",
            );
            super::applied(&case);
            let refused = case.run(&["destroy", ".", "--yes"]).code;
            // Unconfirmed off a terminal: refused as `apply` refuses, not a usage error.
            assert_eq!(case.run(&["destroy", "."]).code, refused);
            refused
        }
        ("destroy", 64) => {
            let case = quickstart();
            super::applied(&case);
            all(
                &case,
                &[
                    &["destroy", ".", "--parallelism", "0", "--yes"],
                    &["destroy", ".", "--platform", "ftp://x", "--yes"],
                ],
            )
        }
        ("show", 0) => {
            let case = quickstart();
            assert_eq!(case.run(&["plan", ".", "--out", "plan.json"]).code, 0);
            all(&case, &[&["show", "plan.json"], &["show", "plan.json", "--format", "markdown"]])
        }
        ("show", 1) => {
            let case = quickstart();
            all(&case, &[&["show", "missing.json"], &["show", "organization.yaml"]])
        }
        ("show", 64) => {
            all(&quickstart(), &[&["show"], &["show", "plan.json", "--format", "yaml"]])
        }
        ("graph", 0) => quickstart().run(&["graph", "."]).code,
        ("graph", 1) => broken().run(&["graph", "."]).code,
        ("graph", 64) => quickstart().run(&["graph", ".", "--format", "svg"]).code,
        ("sandbox", 0) => {
            quickstart().run(&["--platform", "sandbox:x.db", "sandbox", "quota"]).code
        }
        ("sandbox", 1) => {
            let case = quickstart();
            // A file where the database's directory should be.
            std::fs::write(case.path().join("file"), "").unwrap();
            case.run(&["--platform", "sandbox:file/x.db", "sandbox", "quota"]).code
        }
        ("import", 0 | 1) => {
            let case = quickstart();
            assert_eq!(case.run(&["apply", ".", "--yes"]).code, 0);
            // Code 1: a platform that cannot be reached.
            let platform = if code == 0 { "sandbox" } else { "http://127.0.0.1:9" };
            let args = ["import", "--organization", "bpf00000000quickstart", "--out", "out"];
            let run = case.run(&[&args[..], &["--platform", platform]].concat());
            run.code
        }
        ("import", 64) => {
            let case = quickstart();
            std::fs::create_dir(case.path().join("full")).unwrap();
            std::fs::write(case.path().join("full/x"), "").unwrap();
            let args = ["import", "--organization", "bpf00000000quickstart"];
            all(
                &case,
                &[
                    &[&args[..], &["--out", "full"]].concat(),
                    &[&args[..], &["--out", "new", "--community", "nowhere"]].concat(),
                    &[&args[..], &["--out", "new", "--set", "Not A Set"]].concat(),
                    &["import", "--out", "new"],
                ],
            )
        }
        ("sandbox", 64) => quickstart().run(&["sandbox", "quota", "bogus=1"]).code,
        ("serve", 0 | 1) => {
            let dir = tempfile::tempdir().unwrap();
            // Code 1: the address is taken.
            let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let listen = if code == 0 {
                "127.0.0.1:0".to_owned()
            } else {
                taken.local_addr().unwrap().to_string()
            };
            let db = dir.path().join("serve.db");
            let args = [
                "serve",
                "--stop-with-stdin",
                "--listen",
                &listen,
                "--db",
                db.to_str().unwrap(),
                "--token",
                "t=userAccount:a",
            ];
            bare(&args, dir.path())
        }
        ("policy", 0) => {
            let policies =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/multi-team/policies");
            bare(
                &["policy", "test", policies.to_str().unwrap()],
                Path::new(env!("CARGO_MANIFEST_DIR")),
            )
        }
        ("policy", 1) => {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join("policies")).unwrap();
            std::fs::write(
                dir.path().join("policies/x_test.rego"),
                "package x\n\ntest_x if false\n",
            )
            .unwrap();
            bare(&["policy", "test"], dir.path())
        }
        ("policy", 64) => bare(&["policy", "test", "nowhere"], tempfile::tempdir().unwrap().path()),
        ("serve", 64) => {
            let dir = tempfile::tempdir().unwrap();
            bare(&["serve", "--token", "no-subject", "--stop-with-stdin"], dir.path())
        }
        _ => return None,
    };
    Some(ran)
}

#[test]
fn exit_codes_readme_table_matches_behaviour() {
    let table = readme_table();
    let commands = commands();
    assert!(commands.contains(&"destroy".to_owned()), "{commands:?}");
    for command in &commands {
        assert!(table.contains_key(command), "README's exit-code table has no row for `{command}`");
    }
    for command in table.keys() {
        assert!(commands.contains(command), "README's table names `{command}`, not a command");
    }
    let mut checked = 0;
    for (command, codes) in &table {
        for (&code, meaning) in codes {
            let never = meaning == "—";
            assert!(!meaning.is_empty(), "`{command}` {code}: an empty cell");
            if code == 130 {
                // Needs a signal: the table documents it where a command handles it.
                if matches!(command.as_str(), "apply" | "destroy" | "import") {
                    assert!(meaning.contains("interrupted"), "`{command}` 130: {meaning}");
                }
                continue;
            }
            match (scenario(command, code), never) {
                (Some(ran), false) => {
                    assert_eq!(ran, i32::from(code), "`{command}` should exit {code}: {meaning}");
                    checked += 1;
                }
                (None, false) => panic!("no scenario for `{command}` exit {code} ({meaning})"),
                (Some(ran), true) => {
                    panic!(
                        "the table says `{command}` never exits {code}, but a scenario ran ({ran})"
                    )
                }
                (None, true) => {}
            }
        }
    }
    assert!(checked >= 22, "only {checked} cells checked");
}

#[test]
fn exit_codes_usage_errors_outside_a_command() {
    let dir = tempfile::tempdir().unwrap();
    // Bare `spherectl`: the help, on stderr, exit 64.
    let output = Command::new(env!("CARGO_BIN_EXE_spherectl"))
        .env_clear()
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Usage: spherectl [OPTIONS] <COMMAND>"), "{stderr}");
    assert!(stderr.contains("destroy"), "{stderr}");
    assert_eq!(bare(&["--help"], dir.path()), 0);
    assert_eq!(bare(&["--version"], dir.path()), 0);
    // `SPHERECTL_PLATFORM` set to garbage: a usage error for every command; empty: unset.
    let mut case = Case::example("quickstart");
    case.env.push(("SPHERECTL_PLATFORM".into(), "garbage".into()));
    for args in [&["validate", "."][..], &["sandbox", "quota"], &["graph", "."]] {
        let run = case.run(args);
        assert_eq!(run.code, 64, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("unknown platform `garbage`"), "{}", run.stderr);
    }
    case.env.pop();
    case.env.push(("SPHERECTL_PLATFORM".into(), String::new()));
    assert_eq!(case.run(&["validate", "."]).code, 0);
    assert_eq!(case.run(&["sandbox", "quota"]).code, 0);
    let run = case.run(&["validate", ".", "--platform", ""]);
    assert_eq!(run.code, 64);
    assert!(run.stderr.contains("`--platform` is empty"), "{}", run.stderr);
}
