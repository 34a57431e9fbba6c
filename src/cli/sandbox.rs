//! `spherectl sandbox`: administer the embedded sandbox platform.

use crate::{
    ExitStatus,
    platform::sandbox::{KeyUse, LOCAL_ADMIN, Sandbox},
    printer::Printer,
    rules,
};

use super::{GlobalArgs, error::CliError};

/// Administer the embedded sandbox (the one `--platform` names)
#[derive(Debug, clap::Args)]
pub(super) struct SandboxArgs {
    #[command(subcommand)]
    command: SandboxCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SandboxCommand {
    /// Show or set quotas, as a real organization raises them by request
    ///
    /// With no arguments, prints every quota. Known quotas: projects-per-community,
    /// communities-per-organization, docker-images-per-community, datasets-per-community,
    /// active-datasets-per-project.
    Quota {
        /// Quotas to set, as NAME=VALUE (VALUE may be `unlimited`)
        settings: Vec<String>,
        /// Lift every quota
        #[arg(long, conflicts_with = "settings")]
        unlimited: bool,
    },
}

pub(super) fn run(args: &SandboxArgs, global: &GlobalArgs, printer: &Printer) -> ExitStatus {
    let path = match super::plan::sandbox_path(global.platform.as_deref(), std::path::Path::new(""))
    {
        Ok(Some(path)) => path,
        Ok(None) => {
            let text = global.platform.as_deref().unwrap_or_default();
            return CliError::usage(format!(
                "`sandbox` commands need a sandbox platform, not `{text}`"
            ))
            .report(printer);
        }
        Err(message) => return CliError::usage(message).report(printer),
    };
    let SandboxCommand::Quota { settings, unlimited } = &args.command;
    let mut updates = Vec::new();
    if *unlimited {
        updates = rules::QUOTAS.iter().map(|(name, _, _)| ((*name).to_owned(), None)).collect();
    }
    for setting in settings {
        let Some((name, value)) = setting.split_once('=') else {
            return CliError::usage(format!("`{setting}` is not NAME=VALUE")).report(printer);
        };
        let value = if value == "unlimited" {
            None
        } else {
            match value.parse::<i64>() {
                Ok(v) if v >= 0 => Some(v),
                _ => {
                    return CliError::usage(format!(
                        "quota `{name}`: `{value}` is not a non-negative number or `unlimited`"
                    ))
                    .report(printer);
                }
            }
        };
        updates.push((name.to_owned(), value));
    }
    // Every setting is checked before the sandbox is opened: a usage error creates nothing, and
    // only a change creates the database (listing reads it, or the defaults, read-only).
    if let Some((name, _)) = updates.iter().find(|(name, _)| rules::default_quota(name).is_none()) {
        let names: Vec<&str> = rules::QUOTAS.iter().map(|(n, _, _)| *n).collect();
        return CliError::usage(format!("unknown quota `{name}`"))
            .help(format!("known quotas: {}", names.join(", ")))
            .report(printer);
    }
    let opened = if updates.is_empty() {
        Sandbox::open_read_only(&path, LOCAL_ADMIN, KeyUse::ReadOnly)
    } else {
        Sandbox::open(&path, LOCAL_ADMIN)
    };
    let sandbox = match opened {
        Ok(sandbox) => sandbox,
        Err(error) => return CliError::failure(error.message).report(printer),
    };
    if !updates.is_empty()
        && let Err(error) = sandbox.set_quotas(&updates)
    {
        return CliError::usage(error.message).report(printer);
    }
    match sandbox.quotas() {
        Ok(quotas) => {
            let mut out = String::new();
            for (name, value) in quotas {
                out.push_str(&format!(
                    "{name}={}\n",
                    value.map_or_else(|| "unlimited".to_owned(), |v| v.to_string())
                ));
            }
            printer.out(&out);
            ExitStatus::Success
        }
        Err(error) => CliError::failure(error.message).report(printer),
    }
}
