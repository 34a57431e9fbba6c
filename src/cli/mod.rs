//! The command line: clap definitions and the glue from arguments to the stages.
//!
//! Each subcommand has its own file with its `Args` and a `run` function. Stage code never sees
//! clap types.

mod applying;
mod destroy;
mod error;
mod focus;
mod graph;
mod http;
mod import;
mod out_file;
mod plan;
mod platform_arg;
mod policy;
mod sandbox;
mod serve;
mod show;
mod validate;

use std::{ffi::OsString, path::PathBuf};

use clap::{Parser, Subcommand};

use crate::{
    ExitStatus,
    diagnostics::{self, Problem},
    manifest::{self, Loaded, span::Sources},
    printer::{ColorChoice, Printer},
};

/// Manage a DataSphere organization as code.
///
/// YAML manifests describe the organization's communities, projects, members and project
/// resources, and where each resource is published. spherectl validates them, diffs them against
/// the live platform and applies the difference in dependency order.
#[derive(Debug, Parser)]
#[command(name = "spherectl", version, propagate_version = true, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: GlobalArgs,
}

/// Options every command takes.
#[derive(Clone, Debug, clap::Args)]
pub(crate) struct GlobalArgs {
    /// Where the live state is: `sandbox:PATH` or `http(s)://HOST[:PORT]`
    ///
    /// Defaults to the embedded sandbox at `.spherectl/sandbox.db` beside the manifests (also
    /// named `sandbox`); for `import` and `sandbox`, the one in the current directory. `serve`
    /// serves `--db` instead.
    #[arg(long, global = true, env = "SPHERECTL_PLATFORM", value_name = "PLATFORM")]
    platform: Option<String>,
    /// Directory of Rego policies (default: `policies/` beside the manifests)
    #[arg(long, global = true, value_name = "DIR")]
    policy: Option<PathBuf>,
    /// When to use colour
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    color: ColorChoice,
}

#[derive(Debug, Subcommand)]
enum Command {
    Validate(validate::ValidateArgs),
    Plan(plan::PlanArgs),
    Apply(plan::ApplyArgs),
    Drift(plan::DriftArgs),
    Destroy(destroy::DestroyArgs),
    Graph(graph::GraphArgs),
    Policy(policy::PolicyArgs),
    Import(import::ImportArgs),
    Sandbox(sandbox::SandboxArgs),
    Serve(serve::ServeArgs),
    Show(show::ShowArgs),
}

/// Parses the arguments and runs the command.
pub(crate) fn run(args: impl IntoIterator<Item = OsString>) -> ExitStatus {
    let parsed =
        <Cli as clap::CommandFactory>::command().try_get_matches_from(args).and_then(|matches| {
            Ok((<Cli as clap::FromArgMatches>::from_arg_matches(&matches)?, matches))
        });
    let (cli, platform_from_env) = match parsed {
        Ok((mut cli, matches)) => {
            platform_arg::unset_if_empty_env(&mut cli.global.platform, &matches);
            let from_env =
                matches.value_source("platform") == Some(clap::parser::ValueSource::EnvVariable);
            (cli, from_env)
        }
        Err(error) => {
            let _ = error.print();
            return match error.kind() {
                // Help and version asked for succeed; help shown because a
                // subcommand or argument is missing is a usage error.
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitStatus::Success
                }
                _ => ExitStatus::Usage,
            };
        }
    };
    let printer = Printer::new(cli.global.color);
    // A `--platform` (or `SPHERECTL_PLATFORM`) that names no platform is a usage error for
    // every command (DESIGN §7).
    if let Some(Err(mut error)) = cli.global.platform.as_deref().map(platform_arg::check) {
        if platform_from_env {
            // The user may have given no `--platform` at all: say where the value comes from.
            error.message.push_str(" (from the environment variable `SPHERECTL_PLATFORM`)");
        }
        return error.report(&printer);
    }
    match cli.command {
        Command::Validate(args) => validate::run(&args, &cli.global, &printer),
        Command::Graph(args) => graph::run(&args, &printer),
        Command::Policy(args) => policy::run(&args, &cli.global, &printer),
        Command::Import(args) => import::run(&args, &cli.global, &printer),
        Command::Plan(args) => plan::run_plan(&args, &cli.global, &printer),
        Command::Apply(args) => plan::run_apply(&args, &cli.global, &printer),
        Command::Drift(args) => plan::run_drift(&args, &cli.global, &printer),
        Command::Destroy(args) => destroy::run(&args, &cli.global, &printer),
        Command::Sandbox(args) => sandbox::run(&args, &cli.global, &printer),
        Command::Serve(args) => serve::run(&args, &printer),
        Command::Show(args) => show::run(&args, &printer),
    }
}

/// Paths to load: the ones given, or the current directory.
fn paths_or_default(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() { vec![PathBuf::from(".")] } else { paths.to_vec() }
}

/// Prints problems to stderr, followed by a one-line count.
fn report(printer: &Printer, problems: &[Problem], sources: &Sources) {
    printer.err(&diagnostics::render(problems, sources, printer.color_stderr, printer.width));
    let errors = problems.iter().filter(|p| p.is_error()).count();
    let warnings = problems.len() - errors;
    if errors > 0 {
        let noun = if errors == 1 { "error" } else { "errors" };
        let mut line = format!("{errors} {noun}");
        if warnings > 0 {
            line.push_str(&format!(", {warnings} warning{}", if warnings == 1 { "" } else { "s" }));
        }
        printer.err(&format!("{}\n", printer.paint_err(&line, crate::printer::Color::Red)));
    }
}

/// Loads and validates the manifests, including the graph's cycle check; reports problems.
fn load_checked(
    paths: &[PathBuf],
    printer: &Printer,
) -> Result<(Loaded, crate::graph::DependencyGraph), ExitStatus> {
    let loaded = match manifest::load(&paths_or_default(paths)) {
        Ok(loaded) => loaded,
        Err(failure) => {
            report(printer, &failure.problems, &failure.sources);
            return Err(ExitStatus::Failure);
        }
    };
    let graph = crate::graph::DependencyGraph::build(&loaded.model);
    let cycles = graph.cycles();
    if !cycles.is_empty() {
        report(printer, &cycles, &loaded.sources);
        return Err(ExitStatus::Failure);
    }
    Ok((loaded, graph))
}
