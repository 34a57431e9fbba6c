//! `spherectl validate`: parse, schema, references, graph and static rules; no platform.

use std::path::PathBuf;

use crate::{ExitStatus, printer::Printer};

/// Check manifests without touching any platform
///
/// Parses every `*.yaml`/`*.yml` under the paths, checks the schema, names, labels, references
/// and the dependency graph, and reports every problem with its place in the YAML.
#[derive(Debug, clap::Args)]
pub(super) struct ValidateArgs {
    /// Manifest files or directories (default: the current directory)
    paths: Vec<PathBuf>,
}

pub(super) fn run(args: &ValidateArgs, printer: &Printer) -> ExitStatus {
    let (loaded, _graph) = match super::load_checked(&args.paths, printer) {
        Ok(loaded) => loaded,
        Err(status) => return status,
    };
    let counts = loaded.model.counts();
    let total: usize = counts.values().sum();
    let parts: Vec<String> = counts
        .iter()
        .map(|(kind, count)| format!("{count} {}", plural(kind.as_str(), *count)))
        .collect();
    let files = loaded.sources.len();
    printer.err(&format!(
        "valid: {total} objects in {files} file{} ({})\n",
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
