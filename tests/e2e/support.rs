//! Helpers shared by the end-to-end test files: spherectl processes watched while they run
//! (slow applies, signals, bounded waits for a line), a `spherectl serve` of a test's own,
//! objects made by hand on the sandbox behind spherectl's back, and markdown reading.

use std::{
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use spherectl::{
    manifest::Kind,
    platform::{CreateRequest, LiveState, Platform, UpdateRequest, sandbox::Sandbox},
};

use crate::{
    Case, Run, applied,
    http::{Server, TOKEN},
};

/// `spherectl ARGS` in `dir` as a user would type it: a clean environment but `PATH`,
/// `NO_COLOR=1` and `COLUMNS=200`.
pub(crate) fn spherectl(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spherectl"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("COLUMNS", "200")
        .current_dir(dir)
        .args(args);
    command
}

impl Run {
    /// The exit code (-1 when killed by a signal) and the output, as text, of a finished run.
    pub(crate) fn of(output: &Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// The organization of the quickstart example.
pub(crate) const ORGANIZATION: &str = "bpf00000000quickstart";

/// A spherectl process whose stdout and stderr are read as they come.
pub(crate) struct Running {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn collect(
    stream: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            into.lock().unwrap().push_str(&line);
            line.clear();
        }
    })
}

impl Running {
    /// Starts spherectl in `dir` with `args`, a clean environment plus `env`, and no stdin.
    pub(crate) fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut command = spherectl(dir, args);
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), Arc::clone(&stdout)),
            collect(child.stderr.take().unwrap(), Arc::clone(&stderr)),
        ];
        Running { child, stdout, stderr, readers }
    }

    /// Starts spherectl in the case's directory with its environment plus `extra`, each change
    /// delayed by `delay_ms` (the hidden `SPHERECTL_TEST_WRITE_DELAY_MS`): a slow apply or
    /// destroy that a test can act on half-way.
    pub(crate) fn slow(
        case: &Case,
        args: &[&str],
        delay_ms: &str,
        extra: &[(&str, &str)],
    ) -> Running {
        let delay = [("SPHERECTL_TEST_WRITE_DELAY_MS", delay_ms)];
        Running::start(case.path(), args, &env(case, &[extra, &delay].concat()))
    }

    /// `apply . --yes --parallelism 1 --platform sandbox` in the case (as `slow`): one change at
    /// a time, each after `delay_ms`.
    pub(crate) fn one_change_at_a_time(case: &Case, delay_ms: &str) -> Running {
        let args = ["apply", ".", "--yes", "--parallelism", "1", "--platform", "sandbox"];
        Running::slow(case, &args, delay_ms, &[])
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most a minute) until `stream` holds `text`; panics with both streams if it
    /// never does or the process ends first.
    pub(crate) fn wait_for(&mut self, stderr: bool, text: &str) {
        let stream = if stderr { &self.stderr } else { &self.stdout };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stream.lock().unwrap().contains(text) {
            if Instant::now() > deadline || self.child.try_wait().unwrap().is_some() {
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "`{text}` never appeared; stdout:\n{}\nstderr:\n{}",
                    self.stdout.lock().unwrap(),
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends the signal `name` (as `kill` spells it: `-INT`, `-TERM`) to the process.
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill").args([name, &self.pid().to_string()]).status().unwrap();
        assert!(status.success(), "kill {name} failed");
    }

    /// Ctrl-C (SIGINT), then waits (at most a minute, as `wait_for`) until stderr holds `answer`.
    pub(crate) fn ctrl_c_until(&mut self, answer: &str) {
        self.signal("-INT");
        self.wait_for(true, answer);
    }

    /// Waits (at most two minutes) for the process to end; kills it and panics if it does not.
    pub(crate) fn finish(mut self) -> Run {
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("spherectl did not end; stderr:\n{}", self.stderr.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        Run {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout.lock().unwrap().clone(),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }

    /// `kill -9`, and reaps the process.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Case {
    /// `examples/NAME` (as `Case::example`), applied with `apply . --yes`, which must succeed.
    pub(crate) fn applied_example(name: &str) -> Case {
        let case = Case::example(name);
        applied(&case);
        case
    }

    /// `examples/NAME` (as `Case::example`), applied on the embedded sandbox (`--platform
    /// sandbox`, also when the suite runs over HTTP), which must succeed.
    pub(crate) fn applied_on_the_sandbox(name: &str) -> Case {
        let case = Case::example(name);
        assert_eq!(case.run(&["apply", ".", "--yes", "--platform", "sandbox"]).code, 0);
        case
    }
}

/// The case's environment (its secret variables) as `(&str, &str)` pairs, plus `extra`.
pub(crate) fn env<'a>(case: &'a Case, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    case.env.iter().map(|(n, v)| (n.as_str(), v.as_str())).chain(extra.iter().copied()).collect()
}

/// The objects of the quickstart organization in `db` as `Kind/name` lines, sorted.
pub(crate) fn objects(db: &Path) -> Vec<String> {
    let sandbox = Sandbox::open(db, "userAccount:local-admin").unwrap();
    let live = sandbox.read(ORGANIZATION).unwrap();
    let mut names: Vec<String> =
        live.objects.iter().map(|o| format!("{}/{}", o.kind, o.name)).collect();
    names.sort();
    names
}

/// The quickstart's objects, each exactly once.
pub(crate) fn assert_each_once(names: &[String]) {
    let mut unique = names.to_vec();
    unique.dedup();
    assert_eq!(unique, names, "an object exists twice");
    // The quickstart: a community, a project and eight resources.
    assert_eq!(names.len(), 10, "{names:?}");
}

/// A `spherectl serve` of its own on `db` (the shared test server has no delays): started on a
/// free loopback port and waited for until it announces itself; killed on drop.
pub(crate) fn serve(db: &Path, extra: &[&str]) -> Server {
    Server::start(db, extra)
}

/// A `spherectl serve` of its own (as `serve`) on `served.db` in the case's directory; returns
/// that database's path and the server.
pub(crate) fn served(case: &Case, extra: &[&str]) -> (PathBuf, Server) {
    let db = case.path().join("served.db");
    let server = serve(&db, extra);
    (db, server)
}

/// As `served`, with the case's manifests applied over it (the apply must succeed).
pub(crate) fn served_and_applied(case: &Case) -> (PathBuf, Server) {
    let (db, server) = served(case, &[]);
    assert_eq!(case.http(&server, &["apply", ".", "--yes"]).code, 0);
    (db, server)
}

/// A scenario against a platform: it gets the case, the `--platform` value, the environment
/// that platform needs (its token) and the database behind it.
pub(crate) type Scenario = fn(&Case, &str, &[(&str, &str)], &Path);

/// Runs `scenario` on the quickstart applied on the embedded sandbox (`--platform sandbox`).
pub(crate) fn on_the_sandbox(scenario: Scenario) {
    let case = Case::applied_on_the_sandbox("quickstart");
    scenario(&case, "sandbox", &[], &case.db());
}

/// Runs `scenario` on the quickstart applied over a `spherectl serve` of its own (as
/// `served_and_applied`), with the admin's token; the server stops after the scenario.
pub(crate) fn over_serve(scenario: Scenario) {
    let case = Case::example("quickstart");
    let (db, server) = served_and_applied(&case);
    scenario(&case, &server.url, &[("SPHERECTL_TOKEN", TOKEN)], &db);
    drop(server);
}

/// Asserts that `run` gave up after `--lock-timeout 1s` waiting for `what` (`the lock file`,
/// `the lease`), and that it named the holder as `holder` (e.g. `held by pid 42 on host`).
pub(crate) fn assert_timed_out_after_1s(run: &Run, what: &str, holder: &str) {
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("timed out after 1s waiting for {what}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(holder), "{}", run.stderr);
}

/// A command that runs `spherectl ARGS` (`args` a shell command line) in the case's directory
/// on a pseudo-terminal (util-linux `script`) of type `term`, with a clean environment but
/// `PATH`, the case's environment and `extra`, and no stdin.
pub(crate) fn on_a_terminal(
    case: &Case,
    term: &str,
    args: &str,
    extra: &[(&str, &str)],
) -> Command {
    let binary = env!("CARGO_BIN_EXE_spherectl");
    let mut command = Command::new("script");
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TERM", term)
        .current_dir(case.path())
        .args(["-qec", &format!("{binary} {args}")])
        .arg("/dev/null")
        .stdin(Stdio::null());
    for (name, value) in env(case, extra) {
        command.env(name, value);
    }
    command
}

/// An object of `kind` named `name` under `parent_id`, created directly on the sandbox (as in
/// the console, behind spherectl's back), without labels, attributes or secret; its id.
pub(crate) fn made_by_hand(sandbox: &Sandbox, kind: Kind, parent_id: &str, name: &str) -> String {
    sandbox
        .create(&CreateRequest {
            kind,
            parent_id: parent_id.into(),
            name: name.into(),
            labels: Default::default(),
            attributes: Default::default(),
            secret: None,
        })
        .unwrap()
}

/// Sets the `spec.description` of the object `id` of `kind` to `edited in the console`,
/// directly on the sandbox (another writer, behind spherectl's back).
pub(crate) fn edited_in_the_console(sandbox: &Sandbox, kind: Kind, id: &str) {
    let mut request = UpdateRequest::default();
    request.set.insert("spec.description".into(), "edited in the console".into());
    sandbox.update(kind, id, &request).unwrap();
}

/// The id of the live object of `kind` named `name`; panics naming it when there is none.
pub(crate) fn id_of(state: &LiveState, kind: Kind, name: &str) -> String {
    state
        .objects
        .iter()
        .find(|o| o.kind == kind && o.name == name)
        .unwrap_or_else(|| panic!("no {kind} `{name}`"))
        .id
        .clone()
}

/// `line` with each code span (as CommonMark reads them: a run of n backticks up to the next
/// run of exactly n) replaced by `code`; an unclosed run stays as it is. With `escapes`, a
/// backslash and the character after it are kept as they are (an escaped backtick opens no
/// span).
pub(crate) fn without_code_spans(line: &str, code: &str, escapes: bool) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
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
                    out.push_str(code);
                    i = end;
                }
                None => {
                    out.extend(&chars[i..i + n]);
                    i += n;
                }
            }
        } else {
            if escapes && chars[i] == '\\' && i + 1 < chars.len() {
                out.push(chars[i]);
                out.push(chars[i + 1]);
                i += 2;
                continue;
            }
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}
