//! CLI tests: run the real `spherectl` binary and snapshot what a user sees.
//!
//! Every test runs the binary from the crate root with a hermetic environment (only `PATH`, plus
//! `NO_COLOR=1` and `COLUMNS=100`), so output does not depend on the terminal or the shell that
//! runs the tests, and paths in diagnostics are the fixture paths as written. A snapshot holds the
//! command, its exit code, stdout and stderr; temporary directories show as `[TMP]`.
//!
//! Snapshots live in `tests/cli/snapshots/`. After a deliberate change, rewrite them with
//! `INSTA_UPDATE=always cargo test --test cli` and read the diff before committing it.

mod ci_examples;
mod files;
mod graph;
mod policy_rules;
mod readme;
mod usage;
mod validate;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// The crate root: tests run there, so fixture paths in output are relative and stable.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Path of a fixture directory, relative to the crate root.
fn fixture(group: &str, case: &str) -> String {
    format!("tests/fixtures/{group}/{case}")
}

/// What a run printed and how it ended.
struct Output {
    command: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    /// The snapshot text: exit code, stdout and stderr, in uv's layout.
    fn snapshot(&self) -> String {
        let code = self.code.map_or_else(|| "killed by a signal".to_owned(), |c| c.to_string());
        format!(
            "exit code: {code}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.stdout, self.stderr
        )
    }
}

/// A command line to run, and the temporary directory it runs in, if any.
struct Run {
    args: Vec<String>,
    temp: Option<PathBuf>,
}

/// Starts a `spherectl` command line.
fn spherectl<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Run { args: args.into_iter().map(Into::into).collect(), temp: None }
}

impl Run {
    /// Runs in `dir` (a temporary directory) instead of the crate root, so that relative paths
    /// in the output do not depend on where temporary directories are (nor does the wrapping of
    /// lines that hold them); any absolute path of `dir` still shows as `[TMP]`.
    fn in_temp(mut self, dir: &Path) -> Self {
        self.temp = Some(dir.to_path_buf());
        self
    }

    /// The command, with its hermetic environment.
    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_spherectl"));
        let cwd = self.temp.as_deref().unwrap_or(root());
        command.args(&self.args).current_dir(cwd).env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        command.env("NO_COLOR", "1").env("COLUMNS", "100");
        command
    }

    fn output(&self) -> Output {
        let output = self.command().output().expect("the spherectl binary runs");
        self.collect(output.status.code(), &output.stdout, &output.stderr)
    }

    /// Like [`Run::output`], but fails the test (after killing the process) when the command
    /// has not ended within `limit`: for inputs that could make it block forever.
    fn output_within(&self, limit: Duration) -> Output {
        let spool = tempfile::tempdir().expect("a temporary directory");
        let stdout_path = spool.path().join("stdout");
        let stderr_path = spool.path().join("stderr");
        let create = |path: &Path| std::fs::File::create(path).expect("create an output file");
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(create(&stdout_path))
            .stderr(create(&stderr_path))
            .spawn()
            .expect("the spherectl binary starts");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for spherectl") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`spherectl {}` did not end within {limit:?}", self.args.join(" "));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let read = |path: &Path| std::fs::read(path).expect("read an output file");
        self.collect(status.code(), &read(&stdout_path), &read(&stderr_path))
    }

    fn collect(&self, code: Option<i32>, stdout: &[u8], stderr: &[u8]) -> Output {
        let clean = |bytes: &[u8]| self.hide_temp(&String::from_utf8_lossy(bytes));
        Output {
            command: self.hide_temp(&format!("spherectl {}", self.args.join(" "))),
            code,
            stdout: clean(stdout),
            stderr: clean(stderr),
        }
    }

    fn hide_temp(&self, text: &str) -> String {
        let Some(dir) = &self.temp else { return text.to_owned() };
        let mut text = text.to_owned();
        // The canonical form first: it may be the longer one (`/private/var/...` on macOS).
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        for form in [canonical, dir.clone()] {
            text = text.replace(&form.display().to_string(), "[TMP]");
        }
        text
    }
}

/// Runs the command line and snapshots its output under the calling test's name, with the
/// command line as the snapshot's description.
macro_rules! assert_cli_snapshot {
    ($run:expr) => {{
        let output = $run.output();
        insta::with_settings!({description => output.command.clone(), omit_expression => true}, {
            insta::assert_snapshot!(output.snapshot());
        });
        output
    }};
}
pub(crate) use assert_cli_snapshot;
