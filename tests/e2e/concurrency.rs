//! Concurrent applies, interrupts and progress (issue 10): two `apply` processes on one sandbox
//! and over one `spherectl serve`, the lock timeout and a killed holder, an object changed by
//! another writer between plan and write, SIGINT/SIGTERM half-way and the resume, and the plain
//! progress lines when stderr is not a terminal.
//!
//! Applies are made slow deterministically with the hidden `SPHERECTL_TEST_WRITE_DELAY_MS` (a
//! delay before each change); a test waits for what the child prints (its plan on stdout, a
//! progress line on stderr) before it acts, with generous bounded timeouts.

use std::{path::Path, time::Duration};

use serde_json::Value;
use spherectl::{
    manifest::Kind,
    platform::{Platform, sandbox::Sandbox},
};

use super::{
    Case, converged,
    http::TOKEN,
    support::{
        ORGANIZATION, Running, assert_each_once, assert_timed_out_after_1s, edited_in_the_console,
        env, objects, on_a_terminal, over_serve, serve, served, served_and_applied,
    },
};

#[test]
fn two_applies_at_once_on_one_sandbox_apply_each_change_once() {
    let case = Case::example("quickstart");
    let mut first =
        Running::slow(&case, &["apply", ".", "--yes", "--platform", "sandbox"], "150", &[]);
    // Its plan is on stdout: it holds the lock and has read the platform.
    first.wait_for(false, "Plan: 17 changes");
    let second = Running::start(
        case.path(),
        &["apply", ".", "--yes", "--platform", "sandbox"],
        &env(&case, &[]),
    );
    let pid = first.pid();
    let second = second.finish();
    let first = first.finish();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stderr.contains("Apply complete: 17 done, 0 failed, 0 skipped."),
        "{}",
        first.stderr
    );
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second.stderr.contains(&format!(
            "waiting for another apply to finish: the lock on organization `{ORGANIZATION}` is held by pid {pid} on host"
        )),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("running `spherectl apply . --yes --platform sandbox`"),
        "{}",
        second.stderr
    );
    // The second planned after the first had applied: nothing left, nothing done twice.
    assert!(second.stdout.contains("No changes"), "{}", second.stdout);
    assert!(!second.stderr.contains("created"), "{}", second.stderr);
    assert_each_once(&objects(&case.db()));
    converged(&case);
}

#[test]
fn two_applies_at_once_over_serve_apply_each_change_once() {
    let case = Case::example("quickstart");
    let (db, server) = served(&case, &[]);
    let args = ["apply", ".", "--yes", "--platform", server.url.as_str()];
    let mut first = Running::slow(&case, &args, "150", &[("SPHERECTL_TOKEN", TOKEN)]);
    first.wait_for(false, "Plan: 17 changes");
    let second = Running::start(case.path(), &args, &env(&case, &[("SPHERECTL_TOKEN", TOKEN)]));
    let pid = first.pid();
    let second = second.finish();
    let first = first.finish();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stderr.contains("Apply complete: 17 done"), "{}", first.stderr);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second.stderr.contains(&format!(
            "the lock on organization `{ORGANIZATION}` is held by pid {pid} on host"
        )),
        "{}",
        second.stderr
    );
    assert!(second.stderr.contains("as `userAccount:local-admin`"), "{}", second.stderr);
    assert!(second.stdout.contains("No changes"), "{}", second.stdout);
    // The first released its lease: a third apply takes it at once.
    let third = case.http(&server, &["apply", ".", "--yes", "--lock-timeout", "0"]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    drop(server);
    assert_each_once(&objects(&db));
}

#[test]
fn a_held_lock_times_out_with_its_holder_and_a_killed_holder_leaves_none() {
    let case = Case::example("quickstart");
    let mut holder = Running::slow(&case, &["apply", ".", "--yes"], "60000", &[]);
    holder.wait_for(false, "Plan: 17 changes");
    let pid = holder.pid();
    let second =
        case.run(&["apply", ".", "--yes", "--platform", "sandbox", "--lock-timeout", "1s"]);
    assert_timed_out_after_1s(&second, "the lock file", &format!("held by pid {pid} on host"));
    assert!(second.stderr.contains("`--lock-timeout`"), "{}", second.stderr);
    // Ctrl-C while waiting for the lock stops at once: nothing was applied.
    let mut waiting = Running::start(
        case.path(),
        &["apply", ".", "--yes", "--platform", "sandbox", "--lock-timeout", "10m"],
        &env(&case, &[]),
    );
    waiting.wait_for(true, "waiting for another apply to finish");
    waiting.signal("-INT");
    let waited = waiting.finish();
    assert_eq!(waited.code, 130, "{}", waited.stderr);
    assert!(waited.stderr.contains("interrupted: nothing was applied"), "{}", waited.stderr);
    // `kill -9` half-way: the operating system releases the lock with the process.
    holder.kill();
    let third = case.run(&["apply", ".", "--yes", "--platform", "sandbox", "--lock-timeout", "0"]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert!(!third.stderr.contains("waiting"), "{}", third.stderr);
    assert_each_once(&objects(&case.db()));
}

#[test]
fn a_killed_holders_lease_on_serve_expires() {
    let case = Case::example("quickstart");
    let (db, server) = served(&case, &[]);
    let args = ["apply", ".", "--yes", "--platform", server.url.as_str()];
    let mut holder = Running::slow(
        &case,
        &args,
        "60000",
        &[("SPHERECTL_TOKEN", TOKEN), ("SPHERECTL_TEST_LEASE_TTL_SECS", "2")],
    );
    holder.wait_for(false, "Plan: 17 changes");
    let pid = holder.pid();
    let refused = case.http(&server, &["apply", ".", "--yes", "--lock-timeout", "1s"]);
    assert_timed_out_after_1s(&refused, "the lease", &format!("held by pid {pid}"));
    holder.kill();
    // Nobody renews the lease any more: it expires within its two seconds.
    let after = case.http(&server, &["apply", ".", "--yes", "--lock-timeout", "30s"]);
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert!(after.stderr.contains("Apply complete: 17 done"), "{}", after.stderr);
    drop(server);
    assert_each_once(&objects(&db));
}

/// Starts an apply of a changed description on `platform`, and changes the project behind its
/// back once the apply has planned; the apply must stop with a conflict (the platform compares
/// versions in the transaction that writes: the plan saw version 3, the project is at 4).
fn changed_since_the_plan(case: &Case, platform: &str, extra: &[(&str, &str)], db: &Path) {
    case.edit("project.yaml", "description: Fraud models", "description: Fraud models v2");
    let args = ["apply", ".", "--yes", "--platform", platform];
    let mut apply = Running::slow(case, &args, "1500", extra);
    apply.wait_for(false, "Plan: 1 change");
    let sandbox = Sandbox::open(db, "userAccount:local-admin").unwrap();
    let live = sandbox.read(ORGANIZATION).unwrap();
    let project = live.objects.iter().find(|o| o.kind == Kind::Project).unwrap();
    edited_in_the_console(&sandbox, Kind::Project, &project.id);
    let run = apply.finish();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("failed to update Project/research/fraud-detection (project.yaml:5)"),
        "{}",
        run.stderr
    );
    let conflict =
        "changed since the plan was made (its version is 4, the plan saw 3): re-run plan";
    assert!(run.stderr.contains(conflict), "{}", run.stderr);
    assert!(run.stderr.contains("another writer changed objects since the plan"), "{}", run.stderr);
    // Nothing was overwritten.
    let live = sandbox.read(ORGANIZATION).unwrap();
    let project = live.objects.iter().find(|o| o.kind == Kind::Project).unwrap();
    assert_eq!(project.attributes["spec.description"], Value::from("edited in the console"));
}

#[test]
fn an_object_changed_since_the_plan_is_not_overwritten_on_the_sandbox() {
    let case = Case::applied_on_the_sandbox("quickstart");
    // The sandbox compares versions, in the transaction that writes.
    changed_since_the_plan(&case, "sandbox", &[], &case.db());
    // A new plan sees the other writer's value, and applying it converges.
    let plan = case.run(&["plan", ".", "--platform", "sandbox"]);
    assert!(
        plan.stdout.contains(r#""edited in the console" → "Fraud models v2""#),
        "{}",
        plan.stdout
    );
    assert_eq!(case.run(&["apply", ".", "--yes", "--platform", "sandbox"]).code, 0);
}

#[test]
fn an_object_changed_since_the_plan_is_not_overwritten_over_serve() {
    // `serve` checks the plan's expectation (`x-spherectl-if-unchanged`) in the transaction that
    // writes.
    over_serve(changed_since_the_plan);
}

#[test]
fn sigint_half_way_finishes_in_flight_reports_and_the_next_apply_resumes() {
    let case = Case::example("quickstart");
    let mut apply = Running::one_change_at_a_time(&case, "1500");
    apply.wait_for(true, "[2/17] ");
    apply.ctrl_c_until("interrupt: starting no new change; waiting for the 1 in flight");
    // A second Ctrl-C names what is still in flight instead of abandoning it.
    apply.ctrl_c_until("interrupt: still in flight");
    let run = apply.finish();
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(
        run.stderr.contains("Apply interrupted: 3 done, 0 failed, 14 not started."),
        "{}",
        run.stderr
    );
    let in_flight = run.stderr.split("interrupt: still in flight").nth(1).unwrap();
    assert!(in_flight.contains("(running for"), "{}", run.stderr);
    let listed = |title: &str| -> Vec<String> {
        let part = run.stderr.split(&format!("  {title}:\n")).nth(1).unwrap_or_default();
        part.lines()
            .take_while(|l| l.starts_with("    - "))
            .map(|l| l.trim_start_matches("    - ").to_owned())
            .collect()
    };
    let done = listed("done");
    let not_started = listed("not started");
    assert_eq!(done.len(), 3, "{}", run.stderr);
    assert_eq!(not_started.len(), 14, "{}", run.stderr);
    assert!(done.contains(&"create Community/research".to_owned()), "{done:?}");
    assert!(
        run.stderr.contains("help: run `spherectl plan` to review what is left"),
        "{}",
        run.stderr
    );

    // The next plan shows exactly what was not started.
    let plan = case.run(&[
        "plan",
        ".",
        "--detailed-exitcode",
        "--format",
        "json",
        "--platform",
        "sandbox",
    ]);
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let mut remaining: Vec<String> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{} {}", c["action"].as_str().unwrap(), c["address"].as_str().unwrap()))
        .collect();
    let mut expected = not_started.clone();
    remaining.sort();
    expected.sort();
    assert_eq!(remaining, expected);
    let resumed = case.run(&["apply", ".", "--yes", "--platform", "sandbox"]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(
        resumed.stderr.contains("Apply complete: 14 done, 0 failed, 0 skipped."),
        "{}",
        resumed.stderr
    );
    let again = case.run(&["plan", ".", "--detailed-exitcode", "--platform", "sandbox"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert_each_once(&objects(&case.db()));
}

#[test]
fn sigterm_stops_an_apply_like_the_first_ctrl_c() {
    let case = Case::example("quickstart");
    let mut apply = Running::one_change_at_a_time(&case, "1500");
    apply.wait_for(true, "[1/17] ");
    apply.signal("-TERM");
    let run = apply.finish();
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(
        run.stderr.contains("Apply interrupted: 2 done, 0 failed, 15 not started."),
        "{}",
        run.stderr
    );
    let resumed = case.run(&["apply", ".", "--yes", "--platform", "sandbox"]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    converged(&case);
}

#[test]
fn an_interrupted_plan_exits_130_and_writes_nothing() {
    let case = Case::example("quickstart");
    let (_, server) = served(&case, &["--latency", "5000"]);
    let plan = Running::start(
        case.path(),
        &["plan", ".", "--platform", server.url.as_str()],
        &env(&case, &[("SPHERECTL_TOKEN", TOKEN)]),
    );
    // Wait until it is reading (a request is in the server's latency).
    std::thread::sleep(Duration::from_millis(1500));
    plan.signal("-INT");
    let run = plan.finish();
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(run.stderr.contains("interrupted: nothing was applied"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    drop(server);
}

/// The lines of an apply's progress when stderr is not a terminal: one per change, no control
/// codes; durations normalized.
#[test]
fn progress_off_a_terminal_is_one_plain_line_per_change() {
    let case = Case::example("quickstart");
    let run = case.run(&["apply", ".", "--yes", "--parallelism", "1", "--platform", "sandbox"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains('\x1b'), "{:?}", run.stderr);
    let normalized: String = run
        .stderr
        .lines()
        .map(|line| match line.rfind(" (") {
            Some(at) if line.ends_with("s)") && line.starts_with('[') => {
                format!("{} ([TIME])\n", &line[..at])
            }
            _ => format!("{line}\n"),
        })
        .collect();
    insta::assert_snapshot!(normalized);
    // `--color always` colours them even off a terminal; `NO_COLOR` alone does not stop that.
    let case = Case::example("quickstart");
    let coloured = case.run(&["apply", ".", "--yes", "--color", "always", "--platform", "sandbox"]);
    assert!(
        coloured.stderr.contains("\x1b[32mcreated\x1b[0m Community/research"),
        "{:?}",
        coloured.stderr
    );
}

/// Runs an apply of the quickstart on a terminal (a pseudo-terminal from `script`); returns what
/// the terminal showed (stdout and stderr together).
fn apply_on_a_terminal(case: &Case, extra_env: &[(&str, &str)]) -> String {
    let mut command = on_a_terminal(
        case,
        "xterm-256color",
        "apply . --yes --parallelism 2 --platform sandbox",
        extra_env,
    );
    command.env("SPHERECTL_TEST_WRITE_DELAY_MS", "100");
    let output = command.output().expect("`script` (util-linux) runs a pseudo-terminal");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn progress_on_a_terminal_shows_bars_running_changes_and_a_summary_table() {
    let case = Case::example("quickstart");
    let shown = apply_on_a_terminal(&case, &[]);
    // The overall bar (redrawn in place) and the lines of the changes in flight.
    assert!(shown.contains("/17 changes"), "{shown:?}");
    assert!(shown.contains("\x1b[2K"), "{shown:?}");
    assert!(shown.contains(" create Alias/research/fraud-detection/scoring (0s)"), "{shown:?}");
    // The finished changes, in colour, and the summary table.
    assert!(shown.contains("\x1b[32mcreated\x1b[0m Community/research"), "{shown:?}");
    let table = shown.split("action          done  failed  not started").nth(1).unwrap_or_default();
    assert!(table.contains("create            10       0            0"), "{shown:?}");
    assert!(table.contains("total             17       0            0   in "), "{shown:?}");
    assert!(shown.contains("Apply complete: 17 done"), "{shown:?}");
    converged(&case);

    // `NO_COLOR`: the bars stay, the colours go.
    let case = Case::example("quickstart");
    let shown = apply_on_a_terminal(&case, &[("NO_COLOR", "1")]);
    assert!(shown.contains("/17 changes"), "{shown:?}");
    assert!(!shown.contains("\x1b[3"), "{shown:?}");
}

/// Two applies of saved plans made before either ran (the same changes reviewed twice): the
/// second waits, finds its plan stale and applies nothing.
#[test]
fn two_saved_plans_of_the_same_changes_apply_once() {
    let case = Case::example("quickstart");
    for out in ["one.json", "two.json"] {
        let plan = case.run(&["plan", ".", "--out", out, "--platform", "sandbox"]);
        assert_eq!(plan.code, 0, "{}", plan.stderr);
    }
    let mut first = Running::slow(
        &case,
        &["apply", "--plan", "one.json", "--yes"],
        "150",
        &[("SPHERECTL_PLATFORM", "sandbox")],
    );
    first.wait_for(true, "[1/17] ");
    let second = Running::start(
        case.path(),
        &["apply", "--plan", "two.json", "--yes"],
        &env(&case, &[("SPHERECTL_PLATFORM", "sandbox")]),
    )
    .finish();
    let first = first.finish();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(second.code, 1, "{}", second.stderr);
    assert!(second.stderr.contains("waiting for another apply to finish"), "{}", second.stderr);
    assert!(second.stderr.contains("the saved plan is stale"), "{}", second.stderr);
    assert!(!second.stderr.contains("created"), "{}", second.stderr);
    assert_each_once(&objects(&case.db()));
}

#[test]
fn a_third_ctrl_c_stops_at_once_naming_what_was_in_flight() {
    let case = Case::example("quickstart");
    let mut apply = Running::one_change_at_a_time(&case, "3000");
    apply.wait_for(true, "[1/17] ");
    apply.ctrl_c_until("interrupt: starting no new change");
    apply.ctrl_c_until("interrupt: still in flight");
    apply.signal("-INT");
    let run = apply.finish();
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "interrupt: stopping at once; whether these changes were applied is unknown:\n  - Project/research/fraud-detection (running for"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("help: run `spherectl plan` to see what is left"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("Apply interrupted"), "{}", run.stderr);
    // The lock went with the process, and the next apply finishes the rest.
    let resumed =
        case.run(&["apply", ".", "--yes", "--platform", "sandbox", "--lock-timeout", "0"]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    converged(&case);
    assert_each_once(&objects(&case.db()));
}

/// Against the public API (no versions, no conditional writes) the object is read just before the
/// write, and the values the change replaces are compared.
#[test]
fn an_object_changed_since_the_plan_is_not_overwritten_on_the_public_api() {
    let project = "---
apiVersion: spherectl/v1
kind: Project
metadata: {name: models, community: research}
spec: {description: one}
";
    let case = Case::files(&[("org.yaml", &format!("{}{project}", super::ORG))]);
    let (db, server) = served(&case, &["--public-api-only"]);
    let first = case.http(&server, &["apply", ".", "--yes"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    case.edit("org.yaml", "description: one", "description: two");
    let mut apply = Running::start(
        case.path(),
        &["apply", ".", "--yes", "--platform", server.url.as_str()],
        &[("SPHERECTL_TOKEN", TOKEN), ("SPHERECTL_TEST_WRITE_DELAY_MS", "1500")],
    );
    apply.wait_for(false, "Plan: 1 change");
    let sandbox = Sandbox::open(&db, "userAccount:local-admin").unwrap();
    let live = sandbox.read("bpf00000000000000acme").unwrap();
    let id = live.objects.iter().find(|o| o.kind == Kind::Project).unwrap().id.clone();
    edited_in_the_console(&sandbox, Kind::Project, &id);
    let run = apply.finish();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(r#"changed since the plan was made (`spec.description` is "edited in the console", the plan saw "one"): re-run plan"#),
        "{}",
        run.stderr
    );
    let live = sandbox.read("bpf00000000000000acme").unwrap();
    let project = live.objects.iter().find(|o| o.id == id).unwrap();
    assert_eq!(project.attributes["spec.description"], Value::from("edited in the console"));
}

#[test]
fn a_malformed_if_unchanged_header_is_refused_and_nothing_written() {
    let case = Case::files(&[("org.yaml", super::ORG)]);
    let (_, server) = served_and_applied(&case);
    let communities = server.get("/datasphere/v2/communities?organizationId=bpf00000000000000acme");
    let id = communities["communities"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/datasphere/v2/communities/{id}");
    let body = r#"{"description": "changed", "updateMask": "description"}"#;
    let (status, answer) =
        server.raw("PATCH", &path, Some(TOKEN), &[("x-spherectl-if-unchanged", "!!")], body);
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("x-spherectl-if-unchanged"), "{answer}");
    assert_ne!(server.get(&path)["description"], Value::from("changed"));
}

/// A slow read (a large organization over HTTP, here a slow server) shows a spinner with the
/// objects read so far on a terminal, and nothing when stderr is not a terminal.
#[test]
fn a_long_read_shows_progress_on_a_terminal_only() {
    let case = Case::example("quickstart");
    let (db, server) = served_and_applied(&case);
    drop(server);
    let server = serve(&db, &["--latency", "400"]);
    let plan = format!("plan . --platform {}", server.url);
    let mut command = on_a_terminal(&case, "xterm-256color", &plan, &[("SPHERECTL_TOKEN", TOKEN)]);
    let output = command.output().expect("`script` (util-linux) runs a pseudo-terminal");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{shown}");
    assert!(shown.contains("reading the platform: "), "{shown:?}");
    assert!(shown.contains(" objects read ("), "{shown:?}");
    assert!(shown.contains("No changes"), "{shown:?}");
    let plain = case.http(&server, &["plan", "."]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert!(!plain.stderr.contains("reading"), "{}", plain.stderr);
}

/// Two applies that change the same object differently (two checkouts of the manifests, one
/// sandbox): the second waits, then plans from what the first wrote, so its plan shows the first
/// one's value as `before` and nothing is lost or silently undone.
#[test]
fn two_applies_changing_one_object_are_serialized_and_the_second_plans_from_the_first() {
    let case = Case::example("quickstart");
    let db = case.db();
    let platform = format!("sandbox:{}", db.display());
    assert_eq!(case.run(&["apply", ".", "--yes", "--platform", &platform]).code, 0);
    let other = Case::example("quickstart");
    case.edit("project.yaml", "description: Fraud models", "description: Fraud models v2");
    other.edit("project.yaml", "description: Fraud models", "description: Fraud models v3");
    let mut first =
        Running::slow(&case, &["apply", ".", "--yes", "--platform", &platform], "1500", &[]);
    first.wait_for(false, "Plan: 1 change");
    let second = Running::start(
        other.path(),
        &["apply", ".", "--yes", "--platform", &platform],
        &env(&other, &[]),
    )
    .finish();
    let first = first.finish();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stdout.contains(r#""Fraud models" → "Fraud models v2""#), "{}", first.stdout);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(second.stderr.contains("waiting for another apply to finish"), "{}", second.stderr);
    assert!(
        second.stdout.contains(r#""Fraud models v2" → "Fraud models v3""#),
        "{}",
        second.stdout
    );
    let sandbox = Sandbox::open(&db, "userAccount:local-admin").unwrap();
    let live = sandbox.read(ORGANIZATION).unwrap();
    let project = live.objects.iter().find(|o| o.kind == Kind::Project).unwrap();
    assert_eq!(project.attributes["spec.description"], Value::from("Fraud models v3"));
}

/// `destroy` takes the apply lock before its plan, as `apply` does: it waits for an apply in
/// progress, then plans against what that apply wrote and deletes it all (with the apply's new
/// description: nothing is refused as changed since the plan).
#[test]
fn destroy_waits_for_an_apply_and_plans_after_it() {
    let case = Case::applied_on_the_sandbox("quickstart");
    case.edit("project.yaml", "description: Fraud models", "description: Fraud models v2");
    let mut apply =
        Running::slow(&case, &["apply", ".", "--yes", "--platform", "sandbox"], "3000", &[]);
    apply.wait_for(false, "Plan: 1 change");
    let pid = apply.pid();
    let destroy = case.run(&["destroy", ".", "--yes", "--platform", "sandbox"]);
    let apply = apply.finish();
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert_eq!(destroy.code, 0, "{}", destroy.stderr);
    assert!(destroy.stderr.contains(&format!("held by pid {pid}")), "{}", destroy.stderr);
    assert!(!destroy.stderr.contains("changed since the plan was made"), "{}", destroy.stderr);
    assert!(destroy.stderr.contains("Destroy complete: 10 objects"), "{}", destroy.stderr);
    assert!(objects(&case.db()).is_empty());
}
