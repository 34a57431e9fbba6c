//! `spherectl show FILE`: renders a plan saved by `plan --out` (or printed by `plan --format
//! json`) or a drift report saved by `drift --out`, in any format, without the platform.

use std::path::PathBuf;

use crate::{
    ExitStatus,
    manifest::read::{ReadError, read_regular_file},
    plan::{
        doc::{self, Document},
        markdown, render,
    },
    printer::Printer,
};

use super::{error::CliError, plan::PlanFormat};

/// A plan or drift file larger than this is refused: a saved plan of a large organization is a
/// few megabytes.
pub(super) const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Render a saved plan or drift report
///
/// Reads a file written by `plan --out` or `drift --out` (or the JSON of `plan --format json`
/// or `drift --format json`) and prints it as `plan` or `drift` printed it. The platform is not
/// read.
#[derive(Debug, clap::Args)]
pub(super) struct ShowArgs {
    /// The saved plan or drift report (`-`: read it from stdin)
    file: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    format: PlanFormat,
}

pub(super) fn run(args: &ShowArgs, printer: &Printer) -> ExitStatus {
    let stdin = args.file.as_os_str() == "-";
    let name = if stdin { "stdin".to_owned() } else { format!("`{}`", args.file.display()) };
    let read = if stdin {
        read_stdin(MAX_FILE_BYTES)
    } else {
        read_regular_file(&args.file, MAX_FILE_BYTES).map_err(|error| match error {
            ReadError::TooLarge(_) => too_large(MAX_FILE_BYTES),
            error => error.to_string(),
        })
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(error) => {
            return CliError::failure(format!("cannot read {name}: {error}")).report(printer);
        }
    };
    let parsed = String::from_utf8(bytes)
        .map_err(|_| "it is not UTF-8 text".to_owned())
        .and_then(|text| doc::parse(&text));
    let (document, json) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => {
            return CliError::failure(format!("{name} is not a plan or drift report: {message}"))
            .help(
                "show reads what `spherectl plan --out FILE` or `spherectl drift --out FILE` wrote",
            )
            .report(printer);
        }
    };
    let text = match (args.format, &document) {
        (PlanFormat::Json, _) => {
            let mut text = serde_json::to_string_pretty(&json).unwrap_or_default();
            text.push('\n');
            text
        }
        (PlanFormat::Text, Document::Plan(plan)) => render::text_of(plan, printer.color_stdout),
        (PlanFormat::Markdown, Document::Plan(plan)) => markdown::plan(plan),
        (PlanFormat::Text, Document::Drift(drift)) => drift.text(printer.color_stdout),
        (PlanFormat::Markdown, Document::Drift(drift)) => markdown::drift(drift),
    };
    printer.out(&text);
    ExitStatus::Success
}

/// Reads stdin whole, up to `limit` bytes.
fn read_stdin(limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::io::stdin().lock().take(limit + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

fn too_large(limit: u64) -> String {
    format!("it is larger than the {} MiB a plan or drift report may be", limit / 1024 / 1024)
}
