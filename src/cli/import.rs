//! `spherectl import`: write manifests for an organization as the platform holds it.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use crate::{
    ExitStatus,
    import::{
        self, ImportError, ImportOptions,
        write::{self as files, WriteError},
    },
    printer::{Color, Printer},
};

use super::{
    GlobalArgs,
    error::CliError,
    plan::{Access, open_platform, sandbox_path},
};

/// Write manifests that describe an existing organization
///
/// Reads the organization from the platform (`--platform`; default: the sandbox
/// `.spherectl/sandbox.db` of the current directory) and writes `organization.yaml` and one file
/// per community (its projects and their resources), every object with its `metadata.id`, into a
/// new directory. Planned against the same platform, the manifests show no changes, except the
/// ownership labels of objects no manifest set managed yet (the first apply adds them).
///
/// Secret values are never read: each secret reads its value from an environment variable
/// `SPHERECTL_SECRET_<COMMUNITY>_<PROJECT>_<NAME>`, listed at the end. What the platform cannot
/// return (a community's billing account; on the public API, project resources, publications
/// and uses) is left as a comment saying why. Objects of other manifest sets are skipped and
/// listed.
#[derive(Debug, clap::Args)]
pub(super) struct ImportArgs {
    /// The platform's organization id
    #[arg(long, value_name = "ID")]
    organization: String,
    /// Directory to write (created; refused when it exists and is not empty, unless `--force`)
    ///
    /// Default: a directory named after the manifest set, in the current directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Import only this community (can be repeated)
    #[arg(long = "community", value_name = "NAME")]
    communities: Vec<String>,
    /// The manifest set (the Organization's `metadata.name`); default: the set that manages
    /// objects there already, else a name made from the organization id
    #[arg(long, value_name = "NAME")]
    set: Option<String>,
    /// Replace a non-empty `--out` directory of YAML files, such as a previous import (only once
    /// the new one is complete); a directory that holds anything else (`.git`, other files,
    /// subdirectories) is never replaced
    #[arg(long)]
    force: bool,
}

pub(super) fn run(args: &ImportArgs, global: &GlobalArgs, printer: &Printer) -> ExitStatus {
    match import(args, global, printer) {
        Ok(status) => status,
        Err(error) => error.report(printer),
    }
}

fn write_error(error: WriteError) -> CliError {
    match error {
        WriteError::NotEmpty(_) => CliError::usage(format!("refusing to overwrite: {error}"))
            .help("choose an empty or new directory with `--out`, or replace it with `--force`"),
        WriteError::NotOnlyManifests { .. } => CliError::usage(error.to_string()).help(
            "--force replaces only a directory of YAML files (a previous import); move the other files away, or choose another `--out`",
        ),
        WriteError::NotADirectory(_) | WriteError::DanglingLink { .. } => {
            CliError::usage(error.to_string())
        }
        WriteError::Unnamed(_) => CliError::usage(error.to_string())
            .help("give `--out` a directory name, such as `--out manifests`"),
        // As every command that Ctrl-C stops: 130.
        WriteError::Interrupted => {
            CliError { status: ExitStatus::Interrupted, message: error.to_string(), help: None }
        }
        WriteError::Io { .. } => CliError::failure(error.to_string()),
    }
}

fn import(
    args: &ImportArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<ExitStatus, CliError> {
    // Ctrl-C while reading stops at once (exit 130: nothing written yet); while writing, the
    // write stops before the directory is renamed into place, and leaves nothing behind.
    // The handler stops the process while it holds `writing` (false): the write cannot start
    // in between, and leave a temporary directory behind.
    let interrupted = Arc::new(AtomicBool::new(false));
    let writing = Arc::new(std::sync::Mutex::new(false));
    {
        let flag = Arc::clone(&interrupted);
        let writing = Arc::clone(&writing);
        let _ = ctrlc::set_handler(move || {
            let writing = writing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if !*writing {
                use std::io::Write as _;
                let _ = writeln!(std::io::stderr().lock(), "\ninterrupted: nothing was written");
                std::process::exit(crate::apply::interrupt::EXIT_CODE);
            }
            flag.store(true, Ordering::SeqCst);
        });
    }
    if args.organization.trim().is_empty() {
        return Err(CliError::usage("`--organization` needs an organization id"));
    }
    // A directory that may not be written is refused before the platform is read.
    if let Some(out) = &args.out {
        files::check_target(out, args.force).map_err(write_error)?;
    }
    // A sandbox database that does not exist reads as an empty organization: importing it would
    // write manifests for nothing (after a typo in `--platform`, or in another directory than
    // the one `apply` ran in). Checked once the usage errors have been reported.
    let sandbox =
        sandbox_path(global.platform.as_deref(), Path::new(".")).map_err(CliError::usage)?;
    let missing_sandbox = sandbox.as_ref().filter(|path| !path.exists()).cloned();
    let default_sandbox = matches!(global.platform.as_deref(), None | Some("" | "sandbox"));
    let platform = open_platform(global, Path::new("."), Access::Read)?;
    let live = platform
        .read(&args.organization)
        .map_err(|error| CliError::failure(format!("cannot read the platform: {error}")))?;
    let options = ImportOptions { communities: args.communities.clone(), set: args.set.clone() };
    let imported = import::import(&live, platform.capabilities(), &options).map_err(|error| {
        let help = match &error {
            ImportError::UnknownCommunity { known, .. } if known.is_empty() => {
                "the organization has no communities".to_owned()
            }
            ImportError::UnknownCommunity { known, .. } => {
                format!("its communities: {}", known.join(", "))
            }
            ImportError::SeveralSets(_) => "choose one with `--set NAME`".to_owned(),
            ImportError::InvalidSet(_) => {
                "a set name is a label value: lowercase letters, digits, `-` and `_`, starting with a letter".to_owned()
            }
        };
        CliError::usage(error.to_string()).help(help)
    })?;
    if let Some(path) = missing_sandbox {
        let error = CliError::failure(format!(
            "there is no sandbox database at `{}`: nothing to import",
            path.display()
        ));
        return Err(if default_sandbox {
            error.help("the default platform is the sandbox `.spherectl/sandbox.db` of the current directory: run `spherectl import` where `spherectl apply` ran, or name the platform with `--platform sandbox:PATH` or `--platform https://...`")
        } else {
            error.help("check the path given to `--platform sandbox:PATH`")
        });
    }
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(&imported.set));
    *writing.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = true;
    files::write(&out, &imported.files, args.force, &interrupted).map_err(write_error)?;

    let mut text = format!(
        "Imported {} object{} of organization `{}` into `{}` ({} file{}), as the manifest set `{}`.\n",
        imported.objects,
        if imported.objects == 1 { "" } else { "s" },
        args.organization,
        out.display(),
        imported.files.len(),
        if imported.files.len() == 1 { "" } else { "s" },
        imported.set,
    );
    if imported.set_from_id {
        text.push_str(
            "No manifest set manages objects there yet: the set is named after the organization id (choose another name with `--set NAME`).\n",
        );
    }
    if imported.unmanaged > 0 {
        text.push_str(&format!(
            "{} of them no manifest set managed yet: the first apply labels them as the set's.\n",
            imported.unmanaged
        ));
    }
    if !imported.skipped.is_empty() {
        text.push_str("Skipped (managed by another manifest set):\n");
        for (address, set) in &imported.skipped {
            text.push_str(&format!("  {address}  ({set})\n"));
        }
    }
    for warning in &imported.warnings {
        text.push_str(&format!("{} {warning}\n", printer.paint_err("warning:", Color::Yellow)));
    }
    if !live.objects.iter().any(|o| o.kind == crate::manifest::Kind::Community) {
        text.push_str(&format!(
            "{} the organization has no communities on this platform: check `--organization` and `--platform`\n",
            printer.paint_err("warning:", Color::Yellow)
        ));
    }
    if default_sandbox {
        // `plan DIR` uses the sandbox beside DIR's manifests by default, not this one.
        text.push_str(&format!(
            "The organization was read from the sandbox `.spherectl/sandbox.db` here. Plan the manifests against it with `spherectl plan {} --platform sandbox:.spherectl/sandbox.db` (without `--platform`, a plan of `{}` would use an empty sandbox beside them).\n",
            out.display(),
            out.display()
        ));
    }
    if !imported.secrets.is_empty() {
        text.push_str(
            "Secret values were not read. Set these variables to the secrets' values before `spherectl plan`:\n",
        );
        for secret in &imported.secrets {
            text.push_str(&format!("  {}  {}\n", secret.variable, secret.address));
        }
    }
    printer.err(&text);
    Ok(ExitStatus::Success)
}
