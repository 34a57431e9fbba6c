//! `spherectl destroy`: delete every object of the manifest set; the organization stays.
//!
//! Plans against the manifests' organization alone, so the planner's prune plans the deletion of
//! every live object that carries this set's label, with the protections of any prune:
//! `preventDestroy` refuses (recorded on the platform, or declared in a document, applied or
//! not: the documents are planned too, to tell which live object each protects), other sets' and unmanaged objects are never touched (one inside an
//! object to delete refuses that delete), a use of one of our resources by another set's project
//! refuses. A refusal refuses the whole run: nothing is deleted. The plan is shown first, then
//! confirmed (typing `yes` or the set's name on a terminal; `--yes` off a terminal).
//!
//! `destroy` is the explicit intent to delete: it implies `--allow-delete` (the mass-delete
//! guard and the warning about a community or project deleted with its contents), since the
//! confirmation asks for exactly that.

use std::{io::BufRead, path::PathBuf};

use crate::{
    ExitStatus,
    plan::{Action, render},
    printer::{Color, Printer},
};

use super::{
    GlobalArgs,
    error::CliError,
    focus::Scope,
    plan::{
        Access, Planned, lock_for_writing, make_plan_locked, open_platform, run_changes,
        sandbox_path, show_findings,
    },
};

/// Delete every object of the manifest set (the organization stays)
///
/// Deletes, in reverse dependency order, every object on the platform that carries this set's
/// label (`spherectl-set`: the Organization document's name). Objects of other sets and
/// unmanaged objects are left alone; a protected object (`preventDestroy`), or one that other
/// sets' objects use or hold, refuses the whole run. The plan is shown first; on a terminal,
/// type `yes` or the set's name to confirm; off a terminal, `--yes` is required.
#[derive(Debug, clap::Args)]
pub(super) struct DestroyArgs {
    /// Manifest files or directories (default: the current directory); only the Organization
    /// document decides what is destroyed, but every document must be valid
    paths: Vec<PathBuf>,
    /// Destroy only ADDRESS and what must go before it (its contents, its publications and
    /// uses), such as `Project/research/fraud-detection` (can be repeated)
    #[arg(long = "target", value_name = "ADDRESS", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    target: Vec<String>,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long, short = 'y')]
    yes: bool,
    /// Changes in flight at once
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    parallelism: u16,
    /// How long to wait for another apply's (or destroy's) lock on the organization (`30s`,
    /// `5m`, `0` to fail at once)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::platform::lock::parse_duration)]
    lock_timeout: std::time::Duration,
}

/// Runs `spherectl destroy`.
pub(super) fn run(args: &DestroyArgs, global: &GlobalArgs, printer: &Printer) -> ExitStatus {
    let scope = Scope { targets: args.target.clone(), destroy: true };
    // Read only until there is something to delete and it is confirmed: a destroy with nothing
    // to do, or one refused, creates no sandbox. The lock comes first, as `apply`'s: a second
    // destroy plans after the first one's deletes (and finds nothing to destroy).
    let mut planned = match make_plan_locked(
        &args.paths,
        global,
        Access::Read,
        None,
        printer,
        true,
        &scope,
        Some(args.lock_timeout),
    ) {
        Ok(planned) => planned,
        Err(status) => return status,
    };
    let set = planned.plan.organization.clone();
    if !planned.plan.has_changes() {
        show_findings(printer, &planned);
        if planned.plan.is_denied() {
            return ExitStatus::Failure;
        }
        printer.out(&format!(
            "Nothing to destroy: no object of the manifest set `{set}` is on {}.\n",
            planned.plan.platform
        ));
        return ExitStatus::Success;
    }
    printer.out(&render::text(&planned.plan, printer.color_stdout));
    show_findings(printer, &planned);
    if planned.plan.is_denied() {
        printer.err(&format!(
            "{} nothing destroyed: the plan is refused by the findings above\n",
            printer.paint_err("error:", Color::Red)
        ));
        return ExitStatus::Failure;
    }
    let deletes = planned.plan.changes.iter().filter(|c| c.action == Action::Delete).count();
    if !args.yes {
        if !printer.stdin_is_terminal() {
            // As `apply` (and Terraform's destroy): an unconfirmed destroy is refused (exit 1),
            // not a usage error.
            return CliError::failure(
                "refusing to destroy without confirmation: stdin is not a terminal",
            )
            .help("review the plan above, then run again with `--yes` to destroy without asking")
            .report(printer);
        }
        printer.err(&format!(
            "Destroy {deletes} object{} of the manifest set `{set}`? This cannot be undone.\nType `yes` or `{set}` to confirm: ",
            if deletes == 1 { "" } else { "s" }
        ));
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !confirmed(&answer, &set) {
            printer.err("destroy cancelled: nothing was deleted\n");
            return ExitStatus::Failure;
        }
    }
    if let Err(error) = writable(&mut planned, global) {
        return error.report(printer);
    }
    if let Err(status) = lock_for_writing(&mut planned, args.lock_timeout, printer) {
        return status;
    }
    let status = run_changes(&planned, args.parallelism, printer);
    if status == ExitStatus::Success {
        printer.err(&format!(
            "Destroy complete: {deletes} object{} of the manifest set `{set}` deleted; the organization, unmanaged objects and other sets' objects are left in place.\n",
            if deletes == 1 { "" } else { "s" }
        ));
    }
    status
}

/// Whether a typed answer confirms the destruction of set `set`: `yes`, or the set's name
/// (surrounding whitespace ignored; nothing else, not even `y` or `YES`).
fn confirmed(answer: &str, set: &str) -> bool {
    let answer = answer.trim();
    answer == "yes" || (!answer.is_empty() && answer == set)
}

/// Reopens a sandbox that was read read-only, for writing; other platforms are opened once.
fn writable(planned: &mut Planned, global: &GlobalArgs) -> Result<(), CliError> {
    let base_dir = &planned.loaded.base_dir;
    if matches!(sandbox_path(global.platform.as_deref(), base_dir), Ok(Some(_))) {
        let platform = open_platform(global, base_dir, Access::Write)?;
        platform.adopt(&planned.live.objects);
        planned.platform = platform;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::confirmed;

    #[test]
    fn only_yes_or_the_set_name_confirms() {
        for answer in ["yes", "yes\n", "  yes \r\n", "acme", "acme\n"] {
            assert!(confirmed(answer, "acme"), "{answer:?}");
        }
        for answer in ["", "\n", "y", "YES", "Yes", "no", "acm", "acme2", "yes please"] {
            assert!(!confirmed(answer, "acme"), "{answer:?}");
        }
        assert!(!confirmed("", ""));
    }
}
