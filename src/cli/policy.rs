//! `spherectl policy`: work with the organization's Rego policies.

use std::path::PathBuf;

use crate::{
    ExitStatus, policy,
    printer::{Color, Printer, paint},
};

use super::{GlobalArgs, error::CliError};

/// Work with the organization's Rego policies
#[derive(Debug, clap::Args)]
pub(super) struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PolicyCommand {
    /// Run the `test_*` rules of the policy files, as `opa test` does
    ///
    /// Every `*.rego` file under DIR is loaded (policies and their `*_test.rego` files
    /// together); each rule whose name starts with `test_` passes when it is defined and true.
    /// Exits 0 when every test passes, 1 when one fails, a file does not parse, or there are
    /// no tests.
    Test {
        /// Directory of `.rego` files (default: `--policy DIR`, else `policies`)
        dir: Option<PathBuf>,
    },
}

pub(super) fn run(args: &PolicyArgs, global: &GlobalArgs, printer: &Printer) -> ExitStatus {
    let PolicyCommand::Test { dir } = &args.command;
    let dir =
        dir.clone().or_else(|| global.policy.clone()).unwrap_or_else(|| PathBuf::from("policies"));
    if !dir.is_dir() {
        return CliError::usage(format!("`{}` is not a directory of `.rego` files", dir.display()))
            .report(printer);
    }
    let files = match policy::policy_files(&dir) {
        Ok(files) => files,
        Err(message) => return CliError::failure(message).report(printer),
    };
    let outcomes = match policy::rego::run_tests(&files) {
        Ok(outcomes) => outcomes,
        Err(message) => return CliError::failure(message).report(printer),
    };
    let color = printer.color_stdout;
    let mut text = String::new();
    let mut failed = 0;
    for outcome in &outcomes {
        let place = format!("{}:{}", outcome.file.display(), outcome.line);
        match &outcome.result {
            Ok(true) => {
                text.push_str(&format!(
                    "{} {} ({place})\n",
                    paint(color, "PASS", Color::Green),
                    outcome.rule
                ));
            }
            Ok(false) => {
                failed += 1;
                text.push_str(&format!(
                    "{} {} ({place}): false or undefined\n",
                    paint(color, "FAIL", Color::Red),
                    outcome.rule
                ));
            }
            Err(error) => {
                failed += 1;
                text.push_str(&format!(
                    "{} {} ({place}): {}\n",
                    paint(color, "ERROR", Color::Red),
                    outcome.rule,
                    error.trim()
                ));
            }
        }
    }
    let total = outcomes.len();
    text.push_str(&format!(
        "{}: {} passed, {failed} failed, {total} test{} in {} file{}\n",
        if failed == 0 { "ok" } else { "FAILED" },
        total - failed,
        if total == 1 { "" } else { "s" },
        files.len(),
        if files.len() == 1 { "" } else { "s" },
    ));
    printer.out(&text);
    if total == 0 {
        return CliError::failure(format!("no `test_*` rules in `{}`", dir.display()))
            .report(printer);
    }
    if failed == 0 { ExitStatus::Success } else { ExitStatus::Failure }
}
