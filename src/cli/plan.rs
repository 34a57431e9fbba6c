//! `spherectl plan`, `spherectl apply` and `spherectl drift`: the core loop.

use std::{
    collections::BTreeMap,
    io::BufRead,
    path::{Path, PathBuf},
    sync::{Arc, atomic::AtomicBool},
};

use serde::{Deserialize, Serialize};

use crate::{
    ExitStatus,
    apply::{self, ApplyOptions, Event, Status},
    diagnostics::Problem,
    manifest::{
        Loaded,
        model::SecretSource,
        read::{ReadError, read_regular_file},
    },
    plan::{self, Plan, PlanInput, SecretValues, render},
    platform::{
        Platform, SecretValue,
        sandbox::{LOCAL_ADMIN, Sandbox},
    },
    printer::{Color, Printer},
};

use super::GlobalArgs;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum PlanFormat {
    Text,
    Json,
    Markdown,
}

/// Show what apply would change
///
/// Reads the live platform, diffs it against the manifests and checks policy. Nothing is changed.
#[derive(Debug, clap::Args)]
pub(super) struct PlanArgs {
    /// Manifest files or directories (default: the current directory)
    paths: Vec<PathBuf>,
    /// Also save the plan to FILE (JSON), for `apply --plan FILE`
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    format: PlanFormat,
    /// Exit 2 when there are changes (0 when none, 1 on error)
    #[arg(long)]
    detailed_exitcode: bool,
}

/// Apply the changes that make the platform match the manifests
///
/// Changes run in dependency order, up to `--parallelism` at once; a failure skips only the
/// changes that depend on it. Without `--yes`, apply asks for confirmation on a terminal.
#[derive(Debug, clap::Args)]
pub(super) struct ApplyArgs {
    /// Manifest files or directories (default: the current directory)
    paths: Vec<PathBuf>,
    /// Apply a plan saved by `plan --out` (refused when the platform changed since)
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    yes: bool,
    /// Changes in flight at once
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    parallelism: u16,
}

/// Report where the platform differs from the manifests (exit 2 on drift)
#[derive(Debug, clap::Args)]
pub(super) struct DriftArgs {
    /// Manifest files or directories (default: the current directory)
    paths: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    format: PlanFormat,
}

/// A plan saved by `plan --out`: the plan JSON plus what is needed to check it is not stale.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SavedPlan {
    plan: serde_json::Value,
    manifests: Vec<PathBuf>,
    /// Versions of the live objects the plan saw.
    versions: BTreeMap<String, i64>,
}

/// The sandbox database `--platform` names: `sandbox:PATH`, or by default (absent, empty or
/// `sandbox`) `.spherectl/sandbox.db` under `base_dir`; `None` for any other platform.
pub(super) fn sandbox_path(platform: Option<&str>, base_dir: &Path) -> Option<PathBuf> {
    match platform {
        None | Some("" | "sandbox") => Some(base_dir.join(".spherectl").join("sandbox.db")),
        Some(text) => text.strip_prefix("sandbox:").map(PathBuf::from),
    }
}

/// Opens the platform named by `--platform` (default: the sandbox beside the manifests).
pub(super) fn open_platform(
    global: &GlobalArgs,
    base_dir: &Path,
) -> Result<Box<dyn Platform>, String> {
    let actor = std::env::var("SPHERECTL_ACTOR")
        .ok()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| LOCAL_ADMIN.to_owned());
    let path = match (
        sandbox_path(global.platform.as_deref(), base_dir),
        global.platform.as_deref(),
    ) {
        (Some(path), _) => path,
        (None, Some(text)) if text.starts_with("http://") || text.starts_with("https://") => {
            return Err(format!(
                "platform `{text}`: the HTTP platform is not available in this build yet; use the embedded sandbox (`--platform sandbox:PATH`)"
            ));
        }
        (None, text) => {
            return Err(format!(
                "unknown platform `{}`: expected `sandbox:PATH` or `http(s)://HOST[:PORT]`",
                text.unwrap_or_default()
            ));
        }
    };
    Sandbox::open(&path, &actor).map(|s| Box::new(s) as Box<dyn Platform>).map_err(|e| e.message)
}

/// A `fromFile` secret larger than this is an error: secrets are short, and a path to a device
/// or a huge file must not be read whole.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Reads secret values from the environment and files; problems for those missing.
fn read_secrets(loaded: &Loaded) -> (SecretValues, Vec<Problem>) {
    let mut values = SecretValues::new();
    let mut problems = Vec::new();
    for object in &loaded.model.objects {
        let Some((source, location)) = &object.secret else { continue };
        let value = match source {
            SecretSource::Env(name) => match std::env::var_os(name) {
                Some(value) => Ok(value.into_encoded_bytes()),
                None => Err(format!("environment variable `{name}` is not set")),
            },
            SecretSource::File(path) => read_regular_file(path, MAX_SECRET_FILE_BYTES)
                .map(|mut bytes| {
                    // One trailing line break, as editors add it: `\n`, or `\r\n` on Windows.
                    if bytes.last() == Some(&b'\n') {
                        bytes.pop();
                        if bytes.last() == Some(&b'\r') {
                            bytes.pop();
                        }
                    }
                    bytes
                })
                .map_err(|error| match error {
                    ReadError::TooLarge(_) => format!(
                        "`{}` is larger than the {} KiB a secret file may be",
                        path.display(),
                        MAX_SECRET_FILE_BYTES / 1024
                    ),
                    error => format!("cannot read `{}`: {error}", path.display()),
                }),
        };
        match value {
            Ok(bytes) => {
                values.insert(object.address.clone(), SecretValue::new(bytes));
            }
            Err(message) => problems.push(
                Problem::error(
                    "spherectl::plan::secret_unavailable",
                    format!("cannot read the value of {}: {message}", object.address),
                )
                .at(*location, "value source")
                .help(
                    "set the variable (or create the file) in the environment that runs spherectl",
                ),
            ),
        }
    }
    (values, problems)
}

struct Planned {
    loaded: Loaded,
    platform: Box<dyn Platform>,
    plan: Plan,
    secrets: SecretValues,
}

fn make_plan(
    paths: &[PathBuf],
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<Planned, ExitStatus> {
    let (loaded, _graph) = super::load_checked(paths, printer)?;
    let platform = open_platform(global, &loaded.base_dir).map_err(|message| {
        printer.err(&format!("{} {message}\n", printer.paint_err("error:", Color::Red)));
        ExitStatus::Failure
    })?;
    let (secrets, problems) = read_secrets(&loaded);
    if !problems.is_empty() {
        super::report(printer, &problems, &loaded.sources);
        return Err(ExitStatus::Failure);
    }
    let live = platform.read(&loaded.model.organization.id).map_err(|error| {
        printer.err(&format!(
            "{} cannot read the platform: {}\n",
            printer.paint_err("error:", Color::Red),
            error.message
        ));
        ExitStatus::Failure
    })?;
    let digest = |value: &SecretValue| platform.secret_digest(value);
    let input = PlanInput {
        loaded: &loaded,
        live: &live,
        secrets: &secrets,
        digest: &digest,
        actor: platform.actor(),
        platform: platform.describe(),
    };
    let plan = plan::plan(&input);
    Ok(Planned { loaded, platform, plan, secrets })
}

fn show_findings(printer: &Printer, planned: &Planned) {
    let problems: Vec<Problem> = planned.plan.findings.iter().map(|f| f.problem.clone()).collect();
    if !problems.is_empty() {
        super::report(printer, &problems, &planned.loaded.sources);
    }
}

fn render(plan: &Plan, format: PlanFormat, printer: &Printer) -> String {
    match format {
        PlanFormat::Text => render::text(plan, printer.color_stdout),
        PlanFormat::Json => render::json(plan),
        PlanFormat::Markdown => render::markdown(plan),
    }
}

pub(super) fn run_plan(args: &PlanArgs, global: &GlobalArgs, printer: &Printer) -> ExitStatus {
    let planned = match make_plan(&args.paths, global, printer) {
        Ok(planned) => planned,
        Err(status) => return status,
    };
    printer.out(&render(&planned.plan, args.format, printer));
    show_findings(printer, &planned);
    if planned.plan.is_denied() {
        printer.err("the plan is denied by the findings above: apply would refuse it\n");
        return ExitStatus::Failure;
    }
    if let Some(out) = &args.out {
        let saved = SavedPlan {
            plan: serde_json::to_value(&planned.plan).unwrap_or_default(),
            manifests: super::paths_or_default(&args.paths),
            versions: planned.plan.versions.clone(),
        };
        let text = serde_json::to_string_pretty(&saved).unwrap_or_default();
        if let Err(error) = std::fs::write(out, text + "\n") {
            printer.err(&format!("error: cannot write `{}`: {error}\n", out.display()));
            return ExitStatus::Failure;
        }
        printer.err(&format!(
            "plan saved to `{}`; apply it with `spherectl apply --plan {}`\n",
            out.display(),
            out.display()
        ));
    }
    if args.detailed_exitcode && planned.plan.has_changes() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    }
}

pub(super) fn run_drift(args: &DriftArgs, global: &GlobalArgs, printer: &Printer) -> ExitStatus {
    let planned = match make_plan(&args.paths, global, printer) {
        Ok(planned) => planned,
        Err(status) => return status,
    };
    printer.out(&render(&planned.plan, args.format, printer));
    show_findings(printer, &planned);
    if planned.plan.has_changes() {
        printer.err(&format!("drift: {}\n", render::summary_line(&planned.plan)));
        ExitStatus::Changes
    } else if planned.plan.is_denied() {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}

pub(super) fn run_apply(args: &ApplyArgs, global: &GlobalArgs, printer: &Printer) -> ExitStatus {
    let (paths, saved) = match &args.plan {
        Some(file) => {
            let saved: SavedPlan = match std::fs::read_to_string(file)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
            {
                Ok(saved) => saved,
                Err(error) => {
                    printer
                        .err(&format!("error: cannot read plan `{}`: {error}\n", file.display()));
                    return ExitStatus::Failure;
                }
            };
            let paths =
                if args.paths.is_empty() { saved.manifests.clone() } else { args.paths.clone() };
            (paths, Some(saved))
        }
        None => (args.paths.clone(), None),
    };
    let planned = match make_plan(&paths, global, printer) {
        Ok(planned) => planned,
        Err(status) => return status,
    };
    if let Some(saved) = &saved {
        let now = serde_json::to_value(&planned.plan.changes).unwrap_or_default();
        let then = saved.plan.get("changes").cloned().unwrap_or_default();
        let touched_changed = saved
            .versions
            .iter()
            .any(|(id, version)| planned.plan.versions.get(id).is_some_and(|v| v != version));
        if now != then || touched_changed {
            printer.err(&format!(
                "{} the saved plan is stale: the platform or the manifests changed since it was made\n  help: run `spherectl plan --out FILE` again and review the new plan\n",
                printer.paint_err("error:", Color::Red)
            ));
            return ExitStatus::Failure;
        }
    }
    show_findings(printer, &planned);
    if planned.plan.is_denied() {
        printer.err("nothing applied: the plan is denied by the findings above\n");
        return ExitStatus::Failure;
    }
    if !planned.plan.has_changes() {
        printer.out(&render::text(&planned.plan, printer.color_stdout));
        return ExitStatus::Success;
    }
    if saved.is_none() {
        printer.out(&render::text(&planned.plan, printer.color_stdout));
    }
    if !args.yes && saved.is_none() {
        if !printer.stdin_is_terminal() {
            printer.err("error: refusing to apply without confirmation: stdin is not a terminal\n  help: review the plan, then pass `--yes`\n");
            return ExitStatus::Failure;
        }
        printer.err(&format!(
            "Apply these {} changes? Only `yes` is accepted: ",
            planned.plan.changes.len()
        ));
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if answer.trim() != "yes" {
            printer.err("apply cancelled\n");
            return ExitStatus::Failure;
        }
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&interrupted);
        // A second handler cannot be installed (tests call apply in one process): ignore that.
        let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
    }
    let options = ApplyOptions {
        parallelism: usize::from(args.parallelism),
        interrupted: Arc::clone(&interrupted),
    };
    let progress = |event: Event<'_>| {
        if let Event::Finished(change, status) = event {
            let line = match status {
                Status::Done => printer.paint_err(
                    &format!("  ✓ {} {}", change.action.as_str(), change.address),
                    Color::Green,
                ),
                Status::Failed(message) => printer.paint_err(
                    &format!("  ✗ {} {}: {message}", change.action.as_str(), change.address),
                    Color::Red,
                ),
                Status::Skipped(_) => return,
            };
            printer.err(&format!("{line}\n"));
        }
    };
    let outcome = apply::apply(
        &planned.plan,
        planned.platform.as_ref(),
        &planned.secrets,
        &options,
        &progress,
    );
    let failed = outcome.failed();
    let skipped = outcome.skipped();
    for (address, reason) in &skipped {
        printer.err(&format!("  - skipped {address}: {reason}\n"));
    }
    let line = format!(
        "Apply {}: {} done, {} failed, {} skipped.",
        if outcome.is_success() { "complete" } else { "incomplete" },
        outcome.done(),
        failed.len(),
        skipped.len()
    );
    if outcome.is_success() {
        printer.err(&format!("{}\n", printer.paint_err(&line, Color::Green)));
        ExitStatus::Success
    } else {
        printer.err(&format!("{}\n", printer.paint_err(&line, Color::Red)));
        if !failed.is_empty() {
            printer.err("  help: fix the cause and run apply again: what succeeded is kept, and apply converges\n");
        }
        ExitStatus::Failure
    }
}
