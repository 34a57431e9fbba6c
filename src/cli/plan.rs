//! `spherectl plan`, `spherectl apply` and `spherectl drift`: the core loop.

use std::{
    io::BufRead,
    path::{Path, PathBuf},
};

use crate::{
    ExitStatus, apply,
    diagnostics::Problem,
    manifest::{
        Loaded,
        model::SecretSource,
        read::{ReadError, read_regular_file},
    },
    plan::{
        self, Plan, PlanInput, SecretValues, render,
        saved::{Destination, SavedPlan},
    },
    platform::{
        LiveState, Platform, SecretValue,
        sandbox::{KeyUse, LOCAL_ADMIN, Sandbox},
    },
    printer::Printer,
};

use super::{GlobalArgs, error::CliError, focus::Scope};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PlanFormat {
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
    /// Allow deleting most of the set's objects, or a community or project with contents
    #[arg(long)]
    allow_delete: bool,
    /// Plan only ADDRESS and what it depends on, such as `Project/research/fraud-detection` (can be repeated)
    #[arg(long = "target", value_name = "ADDRESS", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    target: Vec<String>,
}

/// Apply the changes that make the platform match the manifests
///
/// Changes run in dependency order, up to `--parallelism` at once; a failure skips only the
/// changes that depend on it. Without `--yes`, apply asks for confirmation on a terminal and
/// refuses (exit 1) when stdin is not one.
#[derive(Debug, clap::Args)]
pub(super) struct ApplyArgs {
    /// Manifest files or directories (default: the current directory)
    paths: Vec<PathBuf>,
    /// Apply a plan saved by `plan --out` (refused when what it touches changed since); it
    /// records its manifests and targets, so no paths or `--target` go with it
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long, short = 'y')]
    yes: bool,
    /// Changes in flight at once
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    parallelism: u16,
    /// Allow deleting most of the set's objects, or a community or project with contents
    #[arg(long)]
    allow_delete: bool,
    /// Apply only ADDRESS and what it depends on, such as `Project/research/fraud-detection` (can be repeated)
    #[arg(long = "target", value_name = "ADDRESS", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    target: Vec<String>,
    /// How long to wait for another apply's lock on the organization (`30s`, `5m`, `0` to fail
    /// at once)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::platform::lock::parse_duration)]
    lock_timeout: std::time::Duration,
}

/// Report where the platform differs from the manifests (exit 2 on drift)
#[derive(Debug, clap::Args)]
pub(super) struct DriftArgs {
    /// Manifest files or directories (default: the current directory)
    paths: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    format: PlanFormat,
    /// Report deletions of most of the set's objects as drift, not as an error
    #[arg(long)]
    allow_delete: bool,
    /// Also save the report to FILE (JSON), for `spherectl show FILE`
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// The sandbox database `--platform` names: `sandbox:PATH`, or by default (absent, empty or
/// `sandbox`) `.spherectl/sandbox.db` under `base_dir`; `Ok(None)` for any other platform.
///
/// # Errors
/// A usage message when `sandbox:PATH` names no usable file: an empty path (which SQLite would
/// take for a temporary database) or a directory.
pub(super) fn sandbox_path(
    platform: Option<&str>,
    base_dir: &Path,
) -> Result<Option<PathBuf>, String> {
    let path = match platform {
        None | Some("" | "sandbox") => {
            return Ok(Some(base_dir.join(".spherectl").join("sandbox.db")));
        }
        Some(text) => match text.strip_prefix("sandbox:") {
            Some(path) => path,
            None => return Ok(None),
        },
    };
    if path.is_empty() {
        return Err(
            "`--platform sandbox:` needs a database path: `sandbox:PATH` (or `sandbox` for `.spherectl/sandbox.db` beside the manifests)"
                .to_owned(),
        );
    }
    if path.ends_with(std::path::MAIN_SEPARATOR) || Path::new(path).is_dir() {
        return Err(format!(
            "`--platform sandbox:{path}` names a directory: name the database file, such as `sandbox:{}`",
            Path::new(path).join("sandbox.db").display()
        ));
    }
    Ok(Some(PathBuf::from(path)))
}

/// How a command uses the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Access {
    /// `plan`: read only; nothing is created.
    Read,
    /// `drift`: read only, and a secret whose source is not set is not checked, not an error.
    Drift,
    /// `plan --out`: read only, but a missing sandbox key is created, since the saved plan
    /// records secret digests under the key that `apply --plan` will use.
    ReadAndSave,
    /// `apply`: creates the sandbox when absent.
    Write,
}

/// Opens the platform named by `--platform` (default: the sandbox beside the manifests).
pub(super) fn open_platform(
    global: &GlobalArgs,
    base_dir: &Path,
    access: Access,
) -> Result<Box<dyn Platform>, CliError> {
    let actor = std::env::var("SPHERECTL_ACTOR")
        .ok()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| LOCAL_ADMIN.to_owned());
    // The rules compare subjects exactly: a mistyped actor (`alice`, a stray space) would only
    // ever read as "has no role" everywhere, and match no binding in the manifests.
    if let Err(violation) = crate::rules::check_subject(&actor) {
        return Err(CliError::usage(format!(
            "`SPHERECTL_ACTOR={}` is not a subject: {}",
            actor.escape_debug(),
            violation.message
        ))
        .help(violation.help.unwrap_or_default()));
    }
    let path = match (
        sandbox_path(global.platform.as_deref(), base_dir).map_err(CliError::usage)?,
        global.platform.as_deref(),
    ) {
        (Some(path), _) => path,
        (None, Some(text)) if text.starts_with("http://") || text.starts_with("https://") => {
            return super::http::open(text, &actor).map_err(CliError::failure);
        }
        (None, text) => {
            return Err(CliError::usage(format!(
                "unknown platform `{}`",
                text.unwrap_or_default()
            ))
            .help("expected `sandbox:PATH` or `http(s)://HOST[:PORT]`"));
        }
    };
    let sandbox = match access {
        Access::Read | Access::Drift => Sandbox::open_read_only(&path, &actor, KeyUse::ReadOnly),
        Access::ReadAndSave => Sandbox::open_read_only(&path, &actor, KeyUse::Persist),
        Access::Write => Sandbox::open(&path, &actor),
    };
    sandbox.map(|s| Box::new(s) as Box<dyn Platform>).map_err(|e| CliError::failure(e.message))
}

/// A `fromFile` secret larger than this is an error: secrets are short, and a path to a device
/// or a huge file must not be read whole.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Reads secret values from the environment and files; problems for those missing, and the
/// secrets whose source is not set at all (an unset variable, an absent file), with why.
///
/// `unset_ok` (`drift`): a secret whose source is not set is only listed, not a problem.
fn read_secrets(
    loaded: &Loaded,
    unset_ok: bool,
) -> (SecretValues, Vec<Problem>, Vec<plan::drift::NotChecked>) {
    let mut values = SecretValues::new();
    let mut problems = Vec::new();
    let mut unset = Vec::new();
    for object in &loaded.model.objects {
        let Some((source, location)) = &object.secret else { continue };
        let not_set = match source {
            SecretSource::Env(name) if std::env::var_os(name).is_none() => {
                Some(format!("its value's source, environment variable `{name}`, is not set"))
            }
            SecretSource::File(path) if std::fs::symlink_metadata(path).is_err() => {
                Some(format!("its value's source, file `{}`, does not exist", path.display()))
            }
            _ => None,
        };
        if let Some(reason) = not_set
            && unset_ok
        {
            unset.push(plan::drift::NotChecked { address: object.address.to_string(), reason });
            continue;
        }
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
    (values, problems, unset)
}

pub(super) struct Planned {
    /// The apply lock (none for reads), held until this is dropped: declared first, so that it
    /// is released before the platform that holds it closes.
    _lock: crate::platform::ApplyLock,
    pub(super) loaded: Loaded,
    pub(super) platform: Box<dyn Platform>,
    pub(super) live: LiveState,
    pub(super) plan: Plan,
    pub(super) secrets: SecretValues,
    /// `drift`: the secrets whose value was not checked, and why.
    pub(super) not_checked: Vec<plan::drift::NotChecked>,
}

/// The platform a plan is made against, as a saved plan records it: a sandbox by its absolute
/// path, so that the same database is named from any directory.
fn platform_identity(global: &GlobalArgs, base_dir: &Path) -> String {
    match sandbox_path(global.platform.as_deref(), base_dir) {
        Ok(Some(path)) => format!("sandbox:{}", absolute(&path).display()),
        _ => global.platform.clone().unwrap_or_default(),
    }
}

/// An absolute, canonical path, for a path that may not exist yet (its nearest existing
/// ancestor is canonicalized).
fn absolute(path: &Path) -> PathBuf {
    if let Ok(canonical) = std::fs::canonicalize(path) {
        return canonical;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if parent.as_os_str().is_empty() => {
            absolute(Path::new(".")).join(name)
        }
        (Some(parent), Some(name)) => absolute(parent).join(name),
        _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

/// Loads the manifests, opens the platform and plans the part of the set `scope` names. A saved
/// plan is first checked to be for this platform and organization, so that a plan for another
/// one never opens (or creates) this one.
pub(super) fn make_plan(
    paths: &[PathBuf],
    global: &GlobalArgs,
    access: Access,
    saved: Option<&SavedPlan>,
    printer: &Printer,
    allow_delete: bool,
    scope: &Scope,
) -> Result<Planned, ExitStatus> {
    let lock = (access == Access::Write).then_some(DEFAULT_LOCK_TIMEOUT);
    make_plan_locked(paths, global, access, saved, printer, allow_delete, scope, lock)
}

/// How long a writing command waits for another apply's lock unless told (`--lock-timeout`).
const DEFAULT_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// [`make_plan`]; a writing command (`apply`, `destroy`: `lock_timeout` given) first takes the
/// organization's apply lock, waiting up to `lock_timeout`, so that its plan is made from what
/// any apply before it wrote (see `super::applying`). A sandbox opened read-only (`destroy`)
/// is locked when its database exists: a missing one has nothing to destroy.
#[expect(
    clippy::too_many_arguments,
    reason = "`make_plan`'s arguments and the lock timeout of `apply`"
)]
pub(super) fn make_plan_locked(
    paths: &[PathBuf],
    global: &GlobalArgs,
    access: Access,
    saved: Option<&SavedPlan>,
    printer: &Printer,
    allow_delete: bool,
    scope: &Scope,
    lock_timeout: Option<std::time::Duration>,
) -> Result<Planned, ExitStatus> {
    apply::interrupt::Interrupts::install();
    let (mut loaded, _graph) = super::load_checked(paths, printer)?;
    // `destroy` plans against no documents but the organization: the prune deletes the rest.
    // The documents are kept aside for the protections they declare. The organization stays as
    // it is: its sharing rule is left alone too (an unpublish would wait for its change).
    let documents = scope.destroy.then(|| {
        loaded.model.organization.sharing = None;
        std::mem::take(&mut loaded.model.objects)
    });
    if let Some(saved) = saved {
        let platform = platform_identity(global, &loaded.base_dir);
        let here =
            Destination { platform: &platform, organization_id: &loaded.model.organization.id };
        if let Err(message) = saved.check_target(&here) {
            return Err(CliError::failure(message).report(printer));
        }
    }
    let platform =
        open_platform(global, &loaded.base_dir, access).map_err(|error| error.report(printer))?;
    // Drift needs no secret values (CI runs it without them): an unset source is reported as
    // not checked.
    let (secrets, problems, mut not_checked) = read_secrets(&loaded, access == Access::Drift);
    if !problems.is_empty() {
        super::report(printer, &problems, &loaded.sources);
        return Err(ExitStatus::Failure);
    }
    let lock = if let Some(lock_timeout) = lock_timeout {
        super::applying::take_lock(
            platform.as_ref(),
            &loaded.model.organization.id,
            lock_timeout,
            printer,
        )?
    } else {
        crate::platform::ApplyLock::none()
    };
    let organization_id = &loaded.model.organization.id;
    let count = || platform.objects_read();
    let mut live = apply::progress::reading(printer.stderr_is_terminal(), &count, || {
        platform.read(organization_id)
    })
    .map_err(|error| {
        CliError::failure(format!("cannot read the platform: {}", error.message)).report(printer)
    })?;
    let capabilities = platform.capabilities();
    plan::capabilities::complete_live(&mut live, &loaded, capabilities);
    platform.adopt(&live.objects);
    let digest = |value: &SecretValue| platform.secret_digest(value);
    let plan_of = |loaded: &Loaded, secrets: &SecretValues| {
        plan::plan(&PlanInput {
            loaded,
            live: &live,
            secrets,
            digest: &digest,
            actor: platform.actor(),
            platform: platform.describe(),
            allow_delete,
        })
    };
    let mut plan = plan_of(&loaded, &secrets);
    if access == Access::Drift {
        // The planner's own note on each secret it could not read: reported as not checked.
        plan.findings.retain(|f| {
            f.rule != "spherectl::plan::secret_unavailable"
                || !not_checked.iter().any(|n| f.address.as_deref() == Some(n.address.as_str()))
        });
        if platform.secret_digest(&SecretValue::new(Vec::new())).is_none() {
            for object in loaded.model.objects.iter().filter(|o| o.secret.is_some()) {
                not_checked.push(plan::drift::NotChecked {
                    address: object.address.to_string(),
                    reason: "the platform cannot compare secret values".to_owned(),
                });
            }
        }
    }
    if let Some(documents) = documents {
        // What the documents protect (`preventDestroy: true`, applied or not) is refused too: a
        // plan of the documents tells which live object each names (their secret values are not
        // needed for that).
        loaded.model.objects = documents;
        let full = plan_of(&loaded, &SecretValues::new());
        let protections = plan::declared_protections(&loaded, &full);
        loaded.model.objects.clear();
        plan::refuse_declared_protections(&mut plan, &protections, &loaded.sources);
    }
    plan::capabilities::annotate(&mut plan, &loaded, capabilities);
    super::focus::narrow(&mut plan, &loaded.model, scope, printer)?;
    if !scope.targets.is_empty() && !scope.destroy {
        // The quotas, for what the focus applies (deletes alone never need room).
        let input = PlanInput {
            loaded: &loaded,
            live: &live,
            secrets: &secrets,
            digest: &digest,
            actor: platform.actor(),
            platform: platform.describe(),
            allow_delete,
        };
        plan::recheck_quotas(&input, &mut plan);
    }
    let before = plan.findings.len();
    apply_policies(&mut plan, global, &loaded, platform.actor(), &live)
        .map_err(|error| error.report(printer))?;
    if !scope.targets.is_empty() {
        // The policies' findings follow the focus too (README, "Focus: --target").
        plan::target::drop_findings_outside(&mut plan, &scope.targets, before);
    }
    if let Some(note) = plan::capabilities::unverifiable_note(&platform.describe(), capabilities) {
        printer.err(&note);
    }
    Ok(Planned { _lock: lock, loaded, platform, live, plan, secrets, not_checked })
}

/// The directory of Rego policies: `--policy DIR`, else `policies/` beside the manifests when
/// it exists.
///
/// # Errors
/// A usage error when `--policy` names no directory.
pub(super) fn policy_dir(
    global: &GlobalArgs,
    loaded: &Loaded,
) -> Result<Option<PathBuf>, CliError> {
    match &global.policy {
        Some(dir) if !dir.is_dir() => Err(CliError::usage(format!(
            "`--policy {}` is not a directory of `.rego` files",
            dir.display()
        ))),
        Some(dir) => Ok(Some(dir.clone())),
        None => {
            let dir = loaded.base_dir.join("policies");
            Ok(dir.is_dir().then_some(dir))
        }
    }
}

/// Evaluates the organization's Rego policies (`--policy DIR`, default `policies/` beside the
/// manifests, when it exists) over the plan JSON and adds their findings: a `deny` refuses the
/// plan, a `warn` is shown.
fn apply_policies(
    plan: &mut Plan,
    global: &GlobalArgs,
    loaded: &Loaded,
    actor: &str,
    live: &LiveState,
) -> Result<(), CliError> {
    let Some(dir) = policy_dir(global, loaded)? else { return Ok(()) };
    let files = crate::policy::policy_files(&dir).map_err(CliError::failure)?;
    if files.is_empty() {
        return Ok(());
    }
    let plan_json = serde_json::to_value(&*plan)
        .map_err(|e| CliError::failure(format!("the plan as policy input: {e}")))?;
    let input = crate::policy::input::document(plan_json, actor, live, &loaded.model);
    let findings = crate::policy::evaluate(&files, &input).map_err(CliError::failure)?;
    for finding in findings {
        plan.findings.push(crate::policy::rego::to_finding(finding, plan, loaded));
    }
    Ok(())
}

pub(super) fn show_findings(printer: &Printer, planned: &Planned) {
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
    let access = if args.out.is_some() { Access::ReadAndSave } else { Access::Read };
    let scope = Scope::targets(&args.target);
    let planned =
        match make_plan(&args.paths, global, access, None, printer, args.allow_delete, &scope) {
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
        let manifests =
            super::paths_or_default(&args.paths).iter().map(|path| absolute(path)).collect();
        let digest = |value: &SecretValue| planned.platform.secret_digest(value);
        let mut saved = SavedPlan::new(
            &planned.plan,
            &planned.live,
            &planned.secrets,
            &digest,
            platform_identity(global, &planned.loaded.base_dir),
            manifests,
        );
        saved.targets.clone_from(&scope.targets);
        saved.policy = global.policy.as_deref().map(absolute);
        let text = match serde_json::to_string_pretty(&saved.to_json()) {
            Ok(text) => text,
            Err(error) => {
                return CliError::failure(format!("cannot serialize the plan: {error}"))
                    .report(printer);
            }
        };
        if let Err(error) = super::out_file::write_atomically(out, (text + "\n").as_bytes()) {
            return CliError::failure(format!("cannot write `{}`: {error}", out.display()))
                .report(printer);
        }
        printer.err(&format!(
            "plan saved to `{}`; apply it with `spherectl apply --plan {}`\n",
            out.display(),
            out.display()
        ));
    }
    if args.detailed_exitcode && planned.plan.has_verified_changes() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    }
}

pub(super) fn run_drift(args: &DriftArgs, global: &GlobalArgs, printer: &Printer) -> ExitStatus {
    let planned = match make_plan(
        &args.paths,
        global,
        Access::Drift,
        None,
        printer,
        args.allow_delete,
        &Scope::default(),
    ) {
        Ok(planned) => planned,
        Err(status) => return status,
    };
    let set = &planned.loaded.model.organization.name;
    let applied = planned.live.objects.iter().any(|o| {
        o.labels.get(crate::rules::LABEL_SET) == Some(set)
            && o.labels.get(crate::rules::LABEL_MANAGED_BY).map(String::as_str)
                == Some(crate::rules::MANAGED_BY_VALUE)
    });
    let report = plan::drift::DriftDoc::new(&planned.plan, applied, planned.not_checked.clone());
    printer.out(&match args.format {
        PlanFormat::Text => report.text(printer.color_stdout),
        PlanFormat::Json => report.json(),
        PlanFormat::Markdown => plan::markdown::drift(&report),
    });
    show_findings(printer, &planned);
    if let Some(out) = &args.out
        && let Err(error) = super::out_file::write_atomically(out, report.json().as_bytes())
    {
        return CliError::failure(format!("cannot write `{}`: {error}", out.display()))
            .report(printer);
    }
    // A deny is an error whether or not there is drift: exit 1, as `plan` does (issue 7).
    if planned.plan.is_denied() {
        printer.err("drift: the plan is denied by the findings above: apply would refuse it\n");
        ExitStatus::Failure
    } else if report.has_drift() {
        printer.err(&format!("{}\n", report.summary_line()));
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    }
}

pub(super) fn run_apply(args: &ApplyArgs, global: &GlobalArgs, printer: &Printer) -> ExitStatus {
    let (paths, saved) = match &args.plan {
        Some(file) => {
            // The saved plan says what to apply: its manifests and its targets. Giving them
            // too is a usage error, whatever the file holds (checked before it is read).
            if !args.paths.is_empty() || !args.target.is_empty() {
                let given = if args.paths.is_empty() { "`--target`" } else { "manifest paths" };
                return CliError::usage(format!(
                    "{given} cannot be given with `--plan`: the saved plan records its manifests and targets"
                ))
                .help(format!("run `spherectl apply --plan {}` alone", file.display()))
                .report(printer);
            }
            let saved = match read_regular_file(file, super::show::MAX_FILE_BYTES)
                .map_err(|e| e.to_string())
                .and_then(|bytes| String::from_utf8(bytes).map_err(|_| "not UTF-8 text".into()))
                .and_then(|text| SavedPlan::parse(&text))
            {
                Ok(saved) => saved,
                Err(error) => {
                    return CliError::failure(format!(
                        "cannot use the saved plan `{}`: {error}",
                        file.display()
                    ))
                    .report(printer);
                }
            };
            (saved.manifests.clone(), Some(saved))
        }
        None => (args.paths.clone(), None),
    };
    let scope = Scope::targets(saved.as_ref().map_or(&args.target, |s| &s.targets));
    // A saved plan is checked again against the policies it was made under (`--policy` at
    // plan time), as they are now: a policy that denies it since refuses it.
    let mut global = global.clone();
    if global.policy.is_none() {
        global.policy = saved.as_ref().and_then(|s| s.policy.clone());
    }
    let global = &global;
    let mut planned = match make_plan_locked(
        &paths,
        global,
        Access::Write,
        saved.as_ref(),
        printer,
        args.allow_delete,
        &scope,
        Some(args.lock_timeout),
    ) {
        Ok(planned) => planned,
        Err(status) => return status,
    };
    if let Some(saved) = &saved {
        let digest = |value: &SecretValue| planned.platform.secret_digest(value);
        let reasons = saved.stale_reasons(&planned.plan, &planned.live, &planned.secrets, &digest);
        if !reasons.is_empty() {
            let mut message =
                "the saved plan is stale: the platform or the manifests changed since it was made"
                    .to_owned();
            for reason in &reasons {
                message.push_str(&format!("\n  - {reason}"));
            }
            return CliError::failure(message)
                .help("run `spherectl plan --out FILE` again and review the new plan")
                .report(printer);
        }
        // Apply exactly what was reviewed: changes that appeared since wait for the next plan.
        let dropped = saved.restrict(&mut planned.plan);
        if !dropped.is_empty() {
            printer.err(&format!(
                "note: {} change{} not in the saved plan (the manifests or other objects changed since) will not be applied; run `spherectl plan` to review them:\n",
                dropped.len(),
                if dropped.len() == 1 { " is" } else { "s are" }
            ));
            for address in &dropped {
                printer.err(&format!("  - {address}\n"));
            }
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
    if saved.is_none() || !args.yes {
        printer.out(&render::text(&planned.plan, printer.color_stdout));
    }
    if !args.yes {
        // A saved plan is no exception: without `--yes` a non-terminal is refused (issue 7).
        if !printer.stdin_is_terminal() {
            return CliError::failure(
                "refusing to apply without confirmation: stdin is not a terminal",
            )
            .help("review the plan, then pass `--yes`")
            .report(printer);
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
    let status = run_changes(&planned, args.parallelism, printer);
    super::focus::warn_incomplete(&scope, printer);
    status
}

/// Applies a reviewed plan's changes with progress and interrupts (see `super::applying`), and
/// ends with a summary: exit 1 when a change failed or was skipped, 130 when interrupted.
pub(super) fn run_changes(planned: &Planned, parallelism: u16, printer: &Printer) -> ExitStatus {
    super::applying::run(
        &planned.plan,
        planned.platform.as_ref(),
        &planned.secrets,
        usize::from(parallelism),
        printer,
    )
}

/// Takes the organization's apply lock for a plan that was made read-only (`destroy`), unless
/// its plan already holds it, waiting up to `lock_timeout`: every write is then re-checked
/// against what the plan saw.
///
/// # Errors
/// Exit 1 when the lock is not free in time.
pub(super) fn lock_for_writing(
    planned: &mut Planned,
    lock_timeout: std::time::Duration,
    printer: &Printer,
) -> Result<(), ExitStatus> {
    if !planned._lock.is_held() {
        planned._lock = super::applying::take_lock(
            planned.platform.as_ref(),
            &planned.loaded.model.organization.id,
            lock_timeout,
            printer,
        )?;
    }
    Ok(())
}
