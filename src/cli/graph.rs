//! `spherectl graph`: the dependency graph on stdout.

use std::path::PathBuf;

use crate::{ExitStatus, printer::Printer};

/// Print the dependency graph of the manifests
///
/// An edge from A to B means B depends on A: A is created first and deleted last.
#[derive(Debug, clap::Args)]
pub(super) struct GraphArgs {
    /// Manifest files or directories (default: the current directory)
    paths: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    format: GraphFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum GraphFormat {
    Dot,
    Mermaid,
    Json,
}

pub(super) fn run(args: &GraphArgs, printer: &Printer) -> ExitStatus {
    let (_loaded, graph) = match super::load_checked(&args.paths, printer) {
        Ok(loaded) => loaded,
        Err(status) => return status,
    };
    let text = match args.format {
        GraphFormat::Dot => graph.to_dot(),
        GraphFormat::Mermaid => graph.to_mermaid(),
        GraphFormat::Json => {
            let mut text = serde_json::to_string_pretty(&graph.to_json()).unwrap_or_default();
            text.push('\n');
            text
        }
    };
    printer.out(&text);
    ExitStatus::Success
}
