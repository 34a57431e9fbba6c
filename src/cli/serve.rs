//! `spherectl serve`: run the sandbox behind the DataSphere v2 REST API.

use std::{path::PathBuf, time::Duration};

use crate::{
    ExitStatus,
    printer::Printer,
    rules,
    server::{self, ServeOptions},
};

/// Serve the sandbox over the DataSphere v2 REST API
///
/// Answers the public API's paths (`/datasphere/v2/communities`, `/projects`, `/operations/{id}`,
/// ...) and the extension endpoints under `/datasphere/v2/spherectl` described in
/// `schemas/openapi.yaml`. Each bearer token acts as the subject it maps to. Point spherectl at it
/// with `--platform http://ADDR` and `SPHERECTL_TOKEN`. Stops on SIGTERM or Ctrl-C.
#[derive(Debug, clap::Args)]
pub(super) struct ServeArgs {
    /// The sandbox database (`serve` reads no `--platform`: it serves this file)
    #[arg(long, value_name = "FILE", default_value = ".spherectl/sandbox.db")]
    db: PathBuf,
    /// Address to listen on (`127.0.0.1:0` picks a free port; the bound address is printed)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,
    /// A bearer token and the subject it acts as, such as `t1=userAccount:local-admin` (can be
    /// repeated)
    #[arg(
        long = "token",
        value_name = "TOKEN=SUBJECT",
        env = "SPHERECTL_SERVE_TOKENS",
        value_delimiter = ','
    )]
    tokens: Vec<String>,
    /// Milliseconds added to every answer
    #[arg(long, value_name = "MS", default_value_t = 0)]
    latency: u64,
    /// Share of requests answered 429 or 503 with `Retry-After` (0 to 1); a write's 503 comes
    /// after the write half the time
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    fault_rate: f64,
    /// Milliseconds an operation reports `done: false` before it is done
    #[arg(long, value_name = "MS", default_value_t = 0)]
    operation_delay: u64,
    /// Answer only the public API's paths, as the real service does (to test adoption)
    #[arg(long)]
    public_api_only: bool,
    /// Print one line per request on stderr (method, path, status)
    #[arg(long)]
    access_log: bool,
    /// Let every token read everything, as a reader of the sandbox file can (by default a read
    /// needs a role, as on the real platform)
    #[arg(long)]
    unchecked_reads: bool,
    /// Also stop when stdin closes (for supervisors and test harnesses)
    #[arg(long)]
    stop_with_stdin: bool,
}

pub(super) fn run(args: &ServeArgs, printer: &Printer) -> ExitStatus {
    let mut tokens = Vec::new();
    for pair in &args.tokens {
        let Some((token, subject)) = pair.split_once('=').filter(|(t, _)| !t.is_empty()) else {
            printer.err("error: `--token` takes `TOKEN=SUBJECT`, such as `t1=userAccount:alice`\n");
            return ExitStatus::Usage;
        };
        if let Err(violation) = rules::check_subject(subject) {
            printer.err(&format!("error: `--token`: {}\n", violation.message));
            return ExitStatus::Usage;
        }
        tokens.push((token.to_owned(), subject.to_owned()));
    }
    if !(0.0..=1.0).contains(&args.fault_rate) {
        printer.err("error: `--fault-rate` is a share between 0 and 1\n");
        return ExitStatus::Usage;
    }
    if tokens.is_empty() {
        printer.err("warning: no `--token` given: every request will be refused (401)\n  help: add `--token TOKEN=userAccount:local-admin`\n");
    }
    let options = ServeOptions {
        db: args.db.clone(),
        tokens,
        latency: Duration::from_millis(args.latency),
        fault_rate: args.fault_rate,
        operation_delay: Duration::from_millis(args.operation_delay),
        public_only: args.public_api_only,
        access_log: args.access_log,
        unchecked_reads: args.unchecked_reads,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            printer.err(&format!("error: cannot start the server runtime: {error}\n"));
            return ExitStatus::Failure;
        }
    };
    let server = server::Server::new(options);
    let stop_with_stdin = args.stop_with_stdin;
    let result = runtime.block_on(async move {
        // Installed before the address is announced (see `server::shutdown_signal`).
        let signal = server::shutdown_signal();
        let shutdown = async move {
            if stop_with_stdin {
                tokio::select! {
                    () = signal => {},
                    () = server::stdin_closed() => {},
                }
            } else {
                signal.await;
            }
        };
        server::serve_until(
            server,
            &args.listen,
            |address| printer.out(&format!("listening on http://{address}\n")),
            shutdown,
        )
        .await
    });
    match result {
        Ok(()) => {
            printer.err("stopped\n");
            ExitStatus::Success
        }
        Err(error) => {
            printer.err(&format!("error: cannot serve on `{}`: {error}\n", args.listen));
            // A `--listen` that is no `HOST:PORT` is a usage error; a port in use is not.
            if error.kind() == std::io::ErrorKind::InvalidInput {
                printer.err("  help: `--listen` takes `HOST:PORT`, such as `127.0.0.1:8080`\n");
                ExitStatus::Usage
            } else {
                ExitStatus::Failure
            }
        }
    }
}
