//! `spherectl validate`: parse, schema, references, graph and static rules; no platform.
//!
//! The built-in rules that need no live state run here (names, labels, references, sharing
//! between declared projects, zones of declared communities, pinned checkpoints, one
//! environment per project). Rego policies are parsed (a broken file is an error naming its
//! line) but not evaluated: their input is the plan, which needs the live platform.

use std::path::PathBuf;

use crate::{ExitStatus, printer::Printer};

use super::{GlobalArgs, error::CliError};

/// Check manifests without touching any platform
///
/// Parses every `*.yaml`/`*.yml` under the paths, checks the schema, names, labels, references
/// and the dependency graph, and reports every problem with its place in the YAML. Rego
/// policies (`--policy DIR`, default `policies/` beside the manifests) are parsed, not run:
/// they read the plan.
#[derive(Debug, clap::Args)]
pub(super) struct ValidateArgs {
    /// Manifest files or directories (default: the current directory)
    paths: Vec<PathBuf>,
}

pub(super) fn run(args: &ValidateArgs, global: &GlobalArgs, printer: &Printer) -> ExitStatus {
    let (loaded, _graph) = match super::load_checked(&args.paths, printer) {
        Ok(loaded) => loaded,
        Err(status) => return status,
    };
    let policies = match super::plan::policy_dir(global, &loaded) {
        Ok(Some(dir)) => {
            match crate::policy::policy_files(&dir).and_then(|f| crate::policy::rego::compile(&f)) {
                Ok(count) => count,
                Err(message) => return CliError::failure(message).report(printer),
            }
        }
        Ok(None) => 0,
        Err(error) => return error.report(printer),
    };
    let counts = loaded.model.counts();
    let total: usize = counts.values().sum();
    let parts: Vec<String> = counts
        .iter()
        .map(|(kind, count)| format!("{count} {}", plural(kind.as_str(), *count)))
        .collect();
    let files = loaded.sources.len();
    let policies = match policies {
        0 => String::new(),
        1 => "; 1 policy file parsed".to_owned(),
        count => format!("; {count} policy files parsed"),
    };
    printer.err(&format!(
        "valid: {total} objects in {files} file{} ({}){policies}\n",
        if files == 1 { "" } else { "s" },
        parts.join(", ")
    ));
    ExitStatus::Success
}

fn plural(kind: &str, count: usize) -> String {
    if count == 1 {
        kind.to_owned()
    } else if kind.ends_with('s') {
        format!("{kind}es")
    } else if let Some(stem) = kind.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{kind}s")
    }
}
