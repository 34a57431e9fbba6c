//! The writing half of `apply`: the organization's lock before the plan, then the changes with
//! progress and interrupts, and the report of what was done and what was not.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    ExitStatus,
    apply::{
        self, ApplyOptions, Status,
        interrupt::Interrupts,
        progress::{self, Progress},
    },
    plan::{Plan, SecretValues},
    platform::{ApplyLock, Holder, LockRequest, Platform, lock::duration_text},
    printer::{Color, Printer},
};

use super::error::CliError;

/// Takes the organization's apply lock (see [`Platform::lock`]), saying whom it waits for.
///
/// # Errors
/// Exit 1 with the holder's name when the lock is not free within `timeout`.
pub(super) fn take_lock(
    platform: &dyn Platform,
    organization_id: &str,
    timeout: Duration,
    printer: &Printer,
) -> Result<ApplyLock, ExitStatus> {
    let holder = Holder::current();
    let waiting = |by: &Holder| {
        printer.err(&format!(
            "waiting for another apply to finish: the lock on organization `{organization_id}` is held by {} (waiting up to {}, see `--lock-timeout`)\n",
            by.describe(),
            duration_text(timeout)
        ));
    };
    let request = LockRequest { organization_id, holder: &holder, timeout, waiting: &waiting };
    platform.lock(&request).map_err(|error| {
        CliError::failure(error.message)
            .help("wait for that apply to finish and run this one again, or raise `--lock-timeout`; a lock whose process died is released by itself")
            .report(printer)
    })
}

/// Applies the plan's changes with progress on stderr, and reports: exit 0 when every change
/// was applied, 1 when one failed, 130 when interrupted.
pub(super) fn run(
    plan: &Plan,
    platform: &dyn Platform,
    secrets: &SecretValues,
    parallelism: usize,
    printer: &Printer,
) -> ExitStatus {
    let interrupts = Interrupts::install();
    let terminal = printer.stderr_is_terminal();
    let progress = Arc::new(Progress::new(
        plan.changes.len(),
        terminal,
        printer.color_stderr,
        Arc::clone(&interrupts),
    ));
    let options = ApplyOptions { parallelism, interrupted: Arc::clone(&interrupts.flag) };
    let started = Instant::now();
    interrupts.begin_apply(Some(progress.sink()));
    let outcome = apply::apply(plan, platform, secrets, &options, &|event| progress.event(&event));
    let interrupted = interrupts.interrupted();
    interrupts.end_apply();
    progress.finish();
    let failed = outcome.failed();
    let not_started: Vec<&str> = outcome
        .results
        .iter()
        .filter(|(_, status)| matches!(status, Status::Skipped(why) if why == apply::INTERRUPTED))
        .map(|(address, _)| address.as_str())
        .collect();
    for (address, reason) in outcome.skipped() {
        if reason != apply::INTERRUPTED {
            printer.err(&format!("  - skipped {address}: {reason}\n"));
        }
    }
    for (address, note) in &outcome.notes {
        printer.err(&format!("  note: {address}: {note}\n"));
    }
    if terminal {
        printer.err(&progress::summary_table(plan, &outcome, started.elapsed()));
    }
    // Interrupted is 130 even when every change had started and finished by then: the user
    // asked to stop, and a script tells an interrupted run by its code (as a shell does).
    if interrupted {
        let line = format!(
            "Apply interrupted: {} done, {} failed, {} not started.",
            outcome.done(),
            failed.len(),
            outcome.skipped().len()
        );
        printer.err(&format!("{}\n", printer.paint_err(&line, Color::Yellow)));
        let action_of: std::collections::HashMap<&str, &str> =
            plan.changes.iter().map(|c| (c.address.as_str(), c.action.as_str())).collect();
        let with_action = |address: &str| {
            format!("{} {address}", action_of.get(address).copied().unwrap_or("change"))
        };
        let done: Vec<String> = outcome
            .results
            .iter()
            .filter(|(_, status)| *status == Status::Done)
            .map(|(address, _)| with_action(address))
            .collect();
        let not_started: Vec<String> = not_started.iter().map(|a| with_action(a)).collect();
        let failed_list: Vec<String> = failed.iter().map(|(a, _)| with_action(a)).collect();
        let mut text = String::new();
        for (title, list) in
            [("done", &done), ("failed", &failed_list), ("not started", &not_started)]
        {
            if title == "failed" && list.is_empty() {
                continue;
            }
            text.push_str(&format!("  {title}:{}\n", if list.is_empty() { " none" } else { "" }));
            for address in list.iter() {
                text.push_str(&format!("    - {address}\n"));
            }
        }
        if not_started.is_empty() && failed.is_empty() {
            text.push_str("  nothing was left undone: every change had started before the interrupt, and each finished\n");
        } else {
            text.push_str("  help: run `spherectl plan` to review what is left, and `spherectl apply` to finish it\n");
        }
        printer.err(&text);
        return ExitStatus::Interrupted;
    }
    let line = format!(
        "Apply {}: {} done, {} failed, {} skipped.",
        if outcome.is_success() { "complete" } else { "incomplete" },
        outcome.done(),
        failed.len(),
        outcome.skipped().len()
    );
    if outcome.is_success() {
        printer.err(&format!("{}\n", printer.paint_err(&line, Color::Green)));
        ExitStatus::Success
    } else {
        printer.err(&format!("{}\n", printer.paint_err(&line, Color::Red)));
        if failed.iter().any(|(_, message)| message.contains("changed since the plan was made")) {
            printer.err("  help: another writer changed objects since the plan: run `spherectl plan` to review the platform as it is now, then apply again\n");
        } else if !failed.is_empty() {
            printer.err("  help: fix the cause and run apply again: what succeeded is kept, and apply converges\n");
        }
        ExitStatus::Failure
    }
}
