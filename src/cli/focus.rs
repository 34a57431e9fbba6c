//! The part of the set a run covers: everything, the `--target` addresses and what they depend
//! on, or (`destroy`) the deletion of every object of the set.
//!
//! The selection itself is [`crate::plan::target`] (pure); this is its CLI side: checking the
//! targets against what the manifests and the platform hold, and the warnings a narrowed run
//! prints on stderr.

use crate::{
    ExitStatus,
    manifest::Model,
    plan::{
        Action, Plan,
        target::{self, Unmatched},
    },
    printer::{Color, Printer},
};

use super::error::CliError;

/// Which part of the set a run covers.
#[derive(Debug, Default, Clone)]
pub(super) struct Scope {
    /// `--target` addresses (empty: no narrowing).
    pub(super) targets: Vec<String>,
    /// `destroy`: plan against no documents but the organization, and keep only the deletes
    /// (with what they wait for).
    pub(super) destroy: bool,
}

impl Scope {
    /// A scope narrowed to `targets` (the whole set when empty).
    pub(super) fn targets(targets: &[String]) -> Scope {
        Scope { targets: targets.to_vec(), destroy: false }
    }
}

/// Narrows `plan` to the scope; prints the targeting warning, or the errors for targets that
/// name nothing.
///
/// `model` is what was planned (for `destroy`, the organization alone).
///
/// # Errors
/// Exit status 1 when a target names nothing the manifests or the platform hold.
pub(super) fn narrow(
    plan: &mut Plan,
    model: &Model,
    scope: &Scope,
    printer: &Printer,
) -> Result<(), ExitStatus> {
    if scope.destroy {
        // Only the deletions (and the unpublish, unuse and deactivate they wait for). The
        // organization's sharing rule was left unmanaged for the plan (`make_plan`): it is not
        // this command's business.
        let deletes: Vec<String> = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .map(|c| c.address.clone())
            .collect();
        let known = target::known_addresses(plan, model);
        target::focus(plan, &deletes, &known).map_err(|_| {
            CliError::failure("destroy: a delete of the plan has no key (this is a bug)")
                .report(printer)
        })?;
    }
    if scope.targets.is_empty() {
        return Ok(());
    }
    let known = target::known_addresses(plan, model);
    let focus = match target::focus(plan, &scope.targets, &known) {
        Ok(focus) => focus,
        Err(unmatched) => return Err(report_unmatched(&unmatched, scope.destroy, printer)),
    };
    let mut text = format!(
        "{} resource targeting is in effect\n  This run covers only {} and what {} on; the rest of the manifest set was not planned or checked, so this plan may not show every change the manifests call for.\n  Targeting is for exceptional situations, such as recovering from a mistake or a failed apply: run `spherectl {}` without `--target` to see the whole plan.\n",
        printer.paint_err("warning:", Color::Yellow),
        focus.targets.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "),
        if focus.targets.len() == 1 { "it depends" } else { "they depend" },
        if scope.destroy { "destroy" } else { "plan" },
    );
    for target in &focus.unchanged {
        let note = if plan.unmanaged.contains(target) {
            "is not managed by this manifest set: it is left alone"
        } else if scope.destroy {
            "has nothing of this set to destroy"
        } else {
            "has no changes"
        };
        text.push_str(&format!("  note: `{target}` {note}\n"));
    }
    printer.err(&text);
    Ok(())
}

/// Reports targets that name nothing; returns exit status 1.
fn report_unmatched(unmatched: &[Unmatched], destroy: bool, printer: &Printer) -> ExitStatus {
    for item in unmatched {
        let place =
            if destroy { "the platform's objects" } else { "the manifests or the platform" };
        let help = match &item.suggestion {
            Some(near) => format!("did you mean `{near}`?"),
            None => "a target is an address KIND/PATH, such as `Community/research`, `Project/research/fraud-detection` or `Dataset/research/fraud-detection/transactions`".to_owned(),
        };
        CliError::failure(format!("`--target {}` matches nothing in {place}", item.target))
            .help(help)
            .report(printer);
    }
    ExitStatus::Failure
}

/// After a targeted apply: what was applied may be only part of what the manifests call for.
pub(super) fn warn_incomplete(scope: &Scope, printer: &Printer) {
    if !scope.targets.is_empty() {
        printer.err(&format!(
            "{} the applied changes may be incomplete: targeting was in effect, so other changes the manifests call for may be pending; run `spherectl plan` to see them\n",
            printer.paint_err("warning:", Color::Yellow)
        ));
    }
}
