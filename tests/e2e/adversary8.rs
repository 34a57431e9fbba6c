//! Adversarial review of the apply lock, the serve lease, the per-object re-check and
//! interrupts (issue 10): an embedded apply against a `serve` of the same database file, two
//! destroys at once, deletes of objects already gone, an interrupt with nothing left to start,
//! `import` interrupted, secrets in conflict messages, broken lock files and `--lock-timeout`
//! values, `NO_COLOR` against `--color always`.
//!
//! Slow sides are made deterministic with `SPHERECTL_TEST_WRITE_DELAY_MS`; every test waits for
//! a line the child prints (its plan, a progress line) before it acts.

use std::path::Path;

use spherectl::{
    manifest::Kind,
    platform::{Platform, SecretValue, UpdateRequest, sandbox::Sandbox},
};

use super::{
    Case,
    http::TOKEN,
    support::{
        ORGANIZATION, Running, assert_each_once, assert_timed_out_after_1s, env, objects,
        on_a_terminal, on_the_sandbox, over_serve, served, served_and_applied,
    },
};

/// The id of the live object of `kind` named `name` in the database `db`.
fn id_of(db: &Path, kind: Kind, name: &str) -> String {
    let sandbox = Sandbox::open(db, "userAccount:local-admin").unwrap();
    let live = sandbox.read(ORGANIZATION).unwrap();
    crate::support::id_of(&live, kind, name)
}

/// An apply on the embedded sandbox of a file that `serve` serves waits for the lease a client
/// holds there (the server holds the file's lock while it grants a lease), names that client,
/// and goes on once the killed client's lease expires; and the other way round, a lease waits
/// for an embedded apply.
#[test]
fn an_embedded_apply_and_a_serve_lease_on_one_database_exclude_each_other() {
    let case = Case::example("quickstart");
    let (db, server) = served(&case, &[]);
    let embedded = format!("sandbox:{}", db.display());
    let mut holder = Running::slow(
        &case,
        &["apply", ".", "--yes", "--platform", server.url.as_str()],
        "60000",
        &[("SPHERECTL_TOKEN", TOKEN), ("SPHERECTL_TEST_LEASE_TTL_SECS", "2")],
    );
    holder.wait_for(false, "Plan: 17 changes");
    let pid = holder.pid();
    let refused =
        case.run(&["apply", ".", "--yes", "--platform", &embedded, "--lock-timeout", "1s"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("timed out after 1s waiting for the lock file"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(&format!("held by pid {pid} on host")),
        "the holder is the HTTP client: {}",
        refused.stderr
    );
    assert!(refused.stderr.contains("as `userAccount:local-admin`"), "{}", refused.stderr);
    assert!(objects(&db).is_empty(), "the refused apply wrote");
    // The client dies: its lease expires (two seconds), and the server lets go of the file.
    holder.kill();
    let after = case.run(&["apply", ".", "--yes", "--platform", &embedded, "--lock-timeout", "1m"]);
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert!(after.stderr.contains("Apply complete: 17 done"), "{}", after.stderr);
    assert_each_once(&objects(&db));

    // The other way round: an embedded apply holds the file; a client's lease waits for it.
    case.edit("project.yaml", "description: Fraud models", "description: Fraud models v2");
    let mut embedded_apply =
        Running::slow(&case, &["apply", ".", "--yes", "--platform", &embedded], "60000", &[]);
    embedded_apply.wait_for(false, "Plan: 1 change");
    let pid = embedded_apply.pid();
    let refused = case.http(&server, &["apply", ".", "--yes", "--lock-timeout", "1s"]);
    assert_timed_out_after_1s(&refused, "the lease", &format!("held by pid {pid} on host"));
    embedded_apply.kill();
    let after = case.http(&server, &["apply", ".", "--yes", "--lock-timeout", "0"]);
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert!(after.stderr.contains("Apply complete: 1 done"), "{}", after.stderr);
    drop(server);
}

/// Two destroys at once: the second takes the lock before its plan, so it plans after the
/// first one's deletes and has nothing to do.
fn two_destroys_at_once(case: &Case, platform: &str, extra: &[(&str, &str)], db: &Path) {
    let args = ["destroy", ".", "--yes", "--platform", platform];
    let mut first = Running::slow(case, &args, "300", extra);
    first.wait_for(false, "Plan: ");
    let pid = first.pid();
    let second = Running::start(case.path(), &args, &env(case, extra));
    let second = second.finish();
    let first = first.finish();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stderr.contains("Destroy complete: 10 objects"), "{}", first.stderr);
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    assert!(second.stderr.contains(&format!("held by pid {pid}")), "{}", second.stderr);
    assert!(second.stdout.contains("Nothing to destroy"), "{}", second.stdout);
    assert!(!second.stderr.contains("failed"), "{}", second.stderr);
    assert!(objects(db).is_empty());
}

#[test]
fn two_destroys_at_once_on_the_sandbox_the_second_finds_nothing() {
    on_the_sandbox(two_destroys_at_once);
}

#[test]
fn two_destroys_at_once_over_serve_the_second_finds_nothing() {
    over_serve(two_destroys_at_once);
}

/// `destroy --lock-timeout`: as `apply`'s (a bad value is a usage error; `1s` times out naming
/// the holder); Ctrl-C while it waits stops at once with 130.
#[test]
fn destroy_lock_timeout_times_out_and_ctrl_c_while_waiting_exits_130() {
    let case = Case::applied_on_the_sandbox("quickstart");
    for bad in ["soon", "-1s", "1d", "99999999999999999h", ""] {
        let flag = format!("--lock-timeout={bad}");
        let run = case.run(&["destroy", ".", "--yes", &flag]);
        assert_eq!(run.code, 64, "--lock-timeout {bad:?}: {}", run.stderr);
    }
    case.edit("project.yaml", "description: Fraud models", "description: Fraud models v2");
    let mut apply =
        Running::slow(&case, &["apply", ".", "--yes", "--platform", "sandbox"], "60000", &[]);
    apply.wait_for(false, "Plan: 1 change");
    let pid = apply.pid();
    let refused =
        case.run(&["destroy", ".", "--yes", "--platform", "sandbox", "--lock-timeout", "1s"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("timed out after 1s"), "{}", refused.stderr);
    assert!(refused.stderr.contains(&format!("held by pid {pid}")), "{}", refused.stderr);
    let mut waiting = Running::start(
        case.path(),
        &["destroy", ".", "--yes", "--platform", "sandbox", "--lock-timeout", "10m"],
        &env(&case, &[]),
    );
    waiting.wait_for(true, "waiting for another apply to finish");
    waiting.signal("-INT");
    let waited = waiting.finish();
    assert_eq!(waited.code, 130, "{}", waited.stderr);
    apply.kill();
    assert_each_once(&objects(&case.db()));
}

/// A destroy whose plan saw the checkpoint, deleted by another writer before the destroy's
/// delete runs: that delete is done (`already deleted`), not a failure, and the rest goes.
fn a_delete_of_an_object_already_gone(
    case: &Case,
    platform: &str,
    extra: &[(&str, &str)],
    db: &Path,
) {
    let mut destroy = Running::slow(
        case,
        &["destroy", ".", "--yes", "--parallelism", "1", "--platform", platform],
        "700",
        extra,
    );
    destroy.wait_for(false, "Plan: ");
    let checkpoint = id_of(db, Kind::Checkpoint, "baseline-model");
    Sandbox::open(db, "userAccount:local-admin")
        .unwrap()
        .delete(Kind::Checkpoint, &checkpoint)
        .unwrap();
    let run = destroy.finish();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "note: Checkpoint/research/fraud-detection/baseline-model: already deleted (by another writer since the plan)"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Apply complete: 12 done, 0 failed, 0 skipped."), "{}", run.stderr);
    assert!(run.stderr.contains("Destroy complete: 10 objects"), "{}", run.stderr);
    assert!(objects(db).is_empty());
}

#[test]
fn a_delete_whose_object_is_already_gone_is_done_on_the_sandbox() {
    on_the_sandbox(a_delete_of_an_object_already_gone);
}

#[test]
fn a_delete_whose_object_is_already_gone_is_done_over_serve() {
    over_serve(a_delete_of_an_object_already_gone);
}

/// An update whose object another writer deleted since the plan is a conflict (not done).
#[test]
fn an_update_whose_object_is_gone_is_a_conflict() {
    let case = Case::applied_on_the_sandbox("quickstart");
    case.edit("resources.yaml", "description: Baseline gradient boosting model", "description: v2");
    let mut apply =
        Running::slow(&case, &["apply", ".", "--yes", "--platform", "sandbox"], "1500", &[]);
    apply.wait_for(false, "Plan: 1 change");
    let checkpoint = id_of(&case.db(), Kind::Checkpoint, "baseline-model");
    case.sandbox().delete(Kind::Checkpoint, &checkpoint).unwrap();
    let run = apply.finish();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "changed since the plan was made (Checkpoint `{checkpoint}` no longer exists): re-run plan"
        )),
        "{}",
        run.stderr
    );
}

/// Ctrl-C after the last change started: every change finishes, and the run still exits 130
/// (the user interrupted it), saying that nothing was left undone.
#[test]
fn an_interrupt_after_every_change_started_exits_130_with_nothing_left() {
    let case = Case::applied_on_the_sandbox("quickstart");
    case.edit("project.yaml", "description: Fraud models", "description: Fraud models v2");
    case.edit("organization.yaml", "description: Research team", "description: Research team v2");
    let mut apply = Running::one_change_at_a_time(&case, "1500");
    // The first of the two is done; the second starts at once (one worker, no wait).
    apply.wait_for(true, "[1/2] ");
    apply.ctrl_c_until("interrupt: starting no new change; waiting for the 1 in flight");
    let run = apply.finish();
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(
        run.stderr.contains("Apply interrupted: 2 done, 0 failed, 0 not started."),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was left undone"), "{}", run.stderr);
    let plan = case.run(&["plan", ".", "--detailed-exitcode", "--platform", "sandbox"]);
    assert_eq!(plan.code, 0, "{}", plan.stdout);
}

/// `import` interrupted while it reads the platform stops at once with 130 and writes nothing.
#[test]
fn import_interrupted_while_reading_exits_130_and_writes_nothing() {
    let case = Case::example("quickstart");
    let (_, server) = served(&case, &["--latency", "5000"]);
    let import = Running::start(
        case.path(),
        &["import", "--organization", ORGANIZATION, "--out", "out", "--platform", &server.url],
        &[("SPHERECTL_TOKEN", TOKEN)],
    );
    // Its first request waits five seconds in the server: it is reading by then.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    import.signal("-INT");
    let run = import.finish();
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(run.stderr.contains("interrupted: nothing was written"), "{}", run.stderr);
    assert!(!case.path().join("out").exists());
    drop(server);
}

/// A conflict on a Secret and on an S3 connection (changed by another writer, with a new secret
/// value, since the plan) says what changed without any secret value: neither the manifests'
/// new one, nor the old one, nor the other writer's.
fn conflict_on_secrets(case: &Case, platform: &str, extra: &[(&str, &str)], db: &Path) {
    let new_value = "NEW-db-password-must-not-show-41c2";
    std::fs::write(case.path().join("secrets/db-password.txt"), new_value).unwrap();
    case.edit(
        "resources.yaml",
        "description: Password of the transactions database",
        "description: rotated",
    );
    case.edit("resources.yaml", "bucket: fraud-raw-data", "bucket: fraud-raw-data-2");
    let mut apply =
        Running::slow(case, &["apply", ".", "--yes", "--platform", platform], "2000", extra);
    apply.wait_for(false, "Plan: 2 changes");
    let foreign = "FOREIGN-secret-must-not-show-93ab";
    let sandbox = Sandbox::open(db, "userAccount:local-admin").unwrap();
    let secret = id_of(db, Kind::Secret, "db-password");
    let mut request = UpdateRequest::default();
    request.set.insert("spec.description".into(), "console".into());
    request.secret = Some(SecretValue::new(foreign.as_bytes().to_vec()));
    sandbox.update(Kind::Secret, &secret, &request).unwrap();
    let s3 = id_of(db, Kind::S3Connection, "raw-data");
    let mut request = UpdateRequest::default();
    request.set.insert("spec.bucket".into(), "console-bucket".into());
    sandbox.update(Kind::S3Connection, &s3, &request).unwrap();
    let run = apply.finish();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stderr.matches("changed since the plan was made").count(), 2, "{}", run.stderr);
    for value in [new_value, foreign, "example-password-not-real", "example-secret-key-not-real"] {
        assert!(!run.stderr.contains(value), "`{value}` shown: {}", run.stderr);
        assert!(!run.stdout.contains(value), "`{value}` shown: {}", run.stdout);
    }
    // Nothing was overwritten: the other writer's bucket stays.
    let live = sandbox.read(ORGANIZATION).unwrap();
    let s3 = live.objects.iter().find(|o| o.kind == Kind::S3Connection).unwrap();
    assert_eq!(s3.attributes["spec.bucket"], serde_json::Value::from("console-bucket"));
}

#[test]
fn a_conflict_on_a_secret_and_an_s3_connection_shows_no_secret_on_the_sandbox() {
    on_the_sandbox(conflict_on_secrets);
}

#[test]
fn a_conflict_on_a_secret_and_an_s3_connection_shows_no_secret_over_serve() {
    over_serve(conflict_on_secrets);
}

/// A lock file path that is a directory: apply stops with an error naming it (exit 1), and
/// writes nothing.
#[test]
fn a_lock_file_that_is_a_directory_is_an_error_naming_it() {
    let case = Case::example("quickstart");
    std::fs::create_dir_all(case.path().join(".spherectl/sandbox.db.lock")).unwrap();
    let run = case.run(&["apply", ".", "--yes", "--platform", "sandbox", "--lock-timeout", "0"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("cannot use the lock file"), "{}", run.stderr);
    assert!(run.stderr.contains("sandbox.db.lock"), "{}", run.stderr);
    assert!(objects(&case.db()).is_empty());
}

/// `--lock-timeout` garbage is a usage error; a huge one is accepted and does not overflow.
#[test]
fn apply_lock_timeout_garbage_is_a_usage_error_and_a_huge_one_works() {
    let case = Case::example("quickstart");
    for bad in ["soon", "-1s", "1.5s", "1 s", "1d", "99999999999999999h", ""] {
        let flag = format!("--lock-timeout={bad}");
        let run = case.run(&["apply", ".", "--yes", &flag]);
        assert_eq!(run.code, 64, "--lock-timeout {bad:?}: {}", run.stderr);
        assert!(run.stderr.contains("--lock-timeout"), "{}", run.stderr);
    }
    let run = case.run(&["apply", ".", "--yes", "--lock-timeout", "18446744073709551615ms"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// `--color always` is an explicit request: it wins over `NO_COLOR` (which only changes the
/// default), and off a terminal the progress lines then carry colour codes; without it, none.
#[test]
fn color_always_wins_over_no_color_and_auto_off_a_terminal_has_no_codes() {
    let case = Case::example("quickstart");
    let auto = Running::start(
        case.path(),
        &["apply", ".", "--yes", "--platform", "sandbox:auto.db"],
        &env(&case, &[]),
    )
    .finish();
    assert_eq!(auto.code, 0, "{}", auto.stderr);
    assert!(!auto.stderr.contains('\u{1b}'), "{:?}", auto.stderr);
    assert!(!auto.stdout.contains('\u{1b}'), "{:?}", auto.stdout);
    let always = Running::start(
        case.path(),
        &["--color", "always", "apply", ".", "--yes", "--platform", "sandbox:always.db"],
        &env(&case, &[]),
    )
    .finish();
    assert_eq!(always.code, 0, "{}", always.stderr);
    assert!(always.stderr.contains("\u{1b}["), "{:?}", always.stderr);
}

/// The same database named through a symlink is the same lock: the lock file is found from
/// the database's real path, so an apply through the link waits for one through the real name.
#[test]
fn an_apply_through_a_symlink_to_the_database_waits_for_the_lock() {
    let case = Case::applied_on_the_sandbox("quickstart");
    // The database and its key, each through a link (as a deployment that links the sandbox
    // into place would).
    std::os::unix::fs::symlink(case.db(), case.path().join("link.db")).unwrap();
    let key = case.path().join(".spherectl/sandbox.db.key");
    std::os::unix::fs::symlink(key, case.path().join("link.db.key")).unwrap();
    case.edit("project.yaml", "description: Fraud models", "description: Fraud models v2");
    let mut holder =
        Running::slow(&case, &["apply", ".", "--yes", "--platform", "sandbox"], "60000", &[]);
    holder.wait_for(false, "Plan: 1 change");
    let pid = holder.pid();
    let through_link =
        case.run(&["apply", ".", "--yes", "--platform", "sandbox:link.db", "--lock-timeout", "1s"]);
    assert_eq!(through_link.code, 1, "{}", through_link.stderr);
    assert!(through_link.stderr.contains(&format!("held by pid {pid}")), "{}", through_link.stderr);
    holder.kill();
}

/// A subject with no role in the organization cannot take its lease (and so block every apply
/// for up to ten minutes, renewably); one with a role can.
#[test]
fn a_subject_without_a_role_cannot_take_an_organizations_lease() {
    let case = Case::example("quickstart");
    let (_, server) = served_and_applied(&case);
    let path = format!("/datasphere/v2/spherectl/organizations/{ORGANIZATION}:acquireLock");
    let body = r#"{"leaseId": "squatter", "ttlSeconds": "600", "holder": {"pid": 9, "host": "x"}}"#;
    let (status, answer) =
        server.raw("POST", &path, Some("t2-nobody"), &[("Content-Type", "application/json")], body);
    assert_eq!(status, 403, "{answer}");
    assert_ne!(answer["acquired"], serde_json::Value::Bool(true), "{answer}");
    case.edit("project.yaml", "description: Fraud models", "description: Fraud models v2");
    let run = case.http(&server, &["apply", ".", "--yes", "--lock-timeout", "0"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    drop(server);
}

/// Ctrl-C at the confirmation prompt of an apply over `serve` (on a terminal: the lease is held
/// while it asks) releases the lease at once: the next apply does not wait for the lease's 30
/// seconds to run out.
#[test]
fn ctrl_c_at_the_prompt_over_serve_releases_the_lease_at_once() {
    use std::{
        io::{Read, Write},
        process::Stdio,
        time::{Duration, Instant},
    };
    let case = Case::example("quickstart");
    let (_, server) = served(&case, &[]);
    let apply = format!("apply . --platform {}", server.url);
    let mut command =
        on_a_terminal(&case, "dumb", &apply, &[("NO_COLOR", "1"), ("SPHERECTL_TOKEN", TOKEN)]);
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = command.spawn().expect("`script` (util-linux) runs a pseudo-terminal");
    let mut stdout = child.stdout.take().unwrap();
    let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let output = std::sync::Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                output.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !output.lock().unwrap().contains("Only `yes` is accepted") {
        assert!(Instant::now() < deadline, "no prompt: {}", output.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Ctrl-C typed on the terminal.
    child.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "apply did not stop: {}", output.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    };
    reader.join().unwrap();
    assert_eq!(status.code(), Some(130), "{}", output.lock().unwrap());
    let next = case.http(&server, &["apply", ".", "--yes", "--lock-timeout", "0"]);
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert!(next.stderr.contains("Apply complete: 17 done"), "{}", next.stderr);
    drop(server);
}

/// A lease holder's description comes from another client (or a lock file): control characters
/// in it (a terminal escape that clears the screen or sets the title) are shown escaped, never
/// sent raw to the waiting user's terminal.
#[test]
fn a_lock_holders_control_characters_are_not_printed_raw() {
    let case = Case::example("quickstart");
    let (_, server) = served_and_applied(&case);
    let path = format!("/datasphere/v2/spherectl/organizations/{ORGANIZATION}:acquireLock");
    let body = r#"{"leaseId": "odd", "ttlSeconds": "60", "holder": {"pid": 9, "host": "evil\u001b[2J", "command": "x\u001b]0;title\u0007\r\nfake line", "started": "now\u001b[31m"}}"#;
    let (status, answer) =
        server.raw("POST", &path, Some(TOKEN), &[("Content-Type", "application/json")], body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["acquired"], serde_json::Value::Bool(true), "{answer}");
    case.edit("project.yaml", "description: Fraud models", "description: Fraud models v2");
    let run = case.http(&server, &["apply", ".", "--yes", "--lock-timeout", "1s"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("held by pid 9 on host `evil"), "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert!(!run.stderr.contains('\u{7}'), "{:?}", run.stderr);
    assert!(!run.stderr.contains("\r\nfake line"), "{:?}", run.stderr);
    drop(server);
}

/// A lock file that is a symlink (planted where the database lives) is refused, not followed:
/// taking the lock empties and rewrites the file, which would have clobbered the link's target.
#[test]
fn a_lock_file_that_is_a_symlink_is_refused_and_its_target_left_alone() {
    let case = Case::example("quickstart");
    let victim = case.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::create_dir_all(case.path().join(".spherectl")).unwrap();
    std::os::unix::fs::symlink(&victim, case.path().join(".spherectl/sandbox.db.lock")).unwrap();
    let run = case.run(&["apply", ".", "--yes", "--platform", "sandbox", "--lock-timeout", "0"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("cannot use the lock file"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(objects(&case.db()).is_empty());
}
