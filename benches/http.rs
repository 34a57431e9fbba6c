//! HTTP benchmark (issue 8): the release binary with `--platform http://ADDR` against
//! `spherectl serve` on a loopback port. Not a timed test: it measures and prints Markdown tables,
//! and fails only when a command does not do what it should (an error, or a no-op plan that shows
//! changes).
//!
//! ```text
//! cargo build --release                  # the binary under test
//! cargo bench --bench http               # both parts: ~45 s on 2 cores
//! SPHERECTL_BENCH_HTTP_N=64 SPHERECTL_BENCH_HTTP_LATENCIES=10 cargo bench --bench http  # quick
//! ```
//!
//! **Requests.** For each shape `C×P×N` (`C` communities, `P` projects spread over them, `N`
//! checkpoints spread over the projects) a fresh `serve` database is filled by one `apply --yes`,
//! then a no-op `plan --detailed-exitcode` runs and its requests are counted from the server's
//! `--access-log`. The shapes vary `N` at fixed `C` and `P`: the count must follow `C + P`.
//!
//! **Time.** For each added latency `L` (`serve --latency L`) and each `N`, a fresh `serve`
//! database gets one community with one empty project per parallelism (`--parallelism 16` and
//! `--parallelism 1` by default). Then, per parallelism `p`, the manifests gain `N` checkpoints in
//! that parallelism's own project, and `apply --yes --parallelism p` is timed: the apply reads the
//! platform, then makes `N` independent creates (nothing else changes), to compare with
//! `N × L / p`. A no-op `plan --detailed-exitcode` is timed after each apply (median of
//! `SPHERECTL_BENCH_REPEAT` runs).
//!
//! Environment:
//! - `SPHERECTL_BENCH_HTTP_SHAPES=1x1x1,1x1x1000,2x4x400` the request-count shapes (`CxPxN`);
//!   `SPHERECTL_BENCH_HTTP_SHAPES=` (empty) skips that part;
//! - `SPHERECTL_BENCH_HTTP_N=64,256` the numbers of creates timed; empty skips that part;
//! - `SPHERECTL_BENCH_HTTP_LATENCIES=0,10,50` the added latencies in milliseconds;
//! - `SPHERECTL_BENCH_HTTP_PARALLELISM=16,1` the `--parallelism` values;
//! - `SPHERECTL_BENCH_REPEAT=N` no-op plans per measurement, median reported (default 3);
//! - `SPHERECTL_BENCH_TIMEOUT=SECONDS` bounds each command (default 600);
//! - `SPHERECTL_BENCH_BIN=PATH` benchmarks another binary (never rebuilt);
//! - `SPHERECTL_BENCH_KEEP=1` keeps the temporary directories (manifests, databases, access logs).
//!
//! The binary is built here (`cargo build --release --bin spherectl`) when it is missing or older
//! than the sources, as for `benches/scale.rs`.

#[path = "support/release.rs"]
mod release;

use std::{
    fmt::Write as _,
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

const TOKEN: &str = "bench-admin-token";

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bench = Bench {
        binary: release::binary(&root),
        timeout: Duration::from_secs(env_number("SPHERECTL_BENCH_TIMEOUT").unwrap_or(600)),
        repeat: env_number("SPHERECTL_BENCH_REPEAT").filter(|n| *n > 0).unwrap_or(3) as usize,
        keep: std::env::var_os("SPHERECTL_BENCH_KEEP").is_some_and(|v| v == "1"),
    };
    let shapes = env_list(
        "SPHERECTL_BENCH_HTTP_SHAPES",
        "1x1x1,1x1x100,1x1x1000,1x1x2000,2x4x4,2x4x400,2x4x2000,4x16x16,4x16x1600",
    )
    .iter()
    .map(|s| parse_shape(s))
    .collect::<Vec<_>>();
    let counts = numbers("SPHERECTL_BENCH_HTTP_N", "64,256");
    let latencies = numbers("SPHERECTL_BENCH_HTTP_LATENCIES", "0,10,50");
    let parallelism = numbers("SPHERECTL_BENCH_HTTP_PARALLELISM", "16,1");
    assert!(parallelism.iter().all(|p| (1..=u64::from(u16::MAX)).contains(p)), "bad parallelism");

    let mut out = String::new();
    if !shapes.is_empty() {
        out.push_str(&requests_table(&bench, &shapes));
    }
    if !counts.is_empty() && !latencies.is_empty() && !parallelism.is_empty() {
        out.push('\n');
        out.push_str(&time_table(&bench, &counts, &latencies, &parallelism));
    }
    println!("{out}");
}

struct Bench {
    binary: PathBuf,
    timeout: Duration,
    repeat: usize,
    keep: bool,
}

/// A shape: communities, projects (over all communities), checkpoints (over all projects).
#[derive(Clone, Copy)]
struct Shape {
    communities: usize,
    projects: usize,
    checkpoints: usize,
}

fn parse_shape(text: &str) -> Shape {
    let parts: Vec<usize> = text.split('x').filter_map(|n| n.trim().parse().ok()).collect();
    let [communities, projects, checkpoints] = parts[..] else {
        panic!("SPHERECTL_BENCH_HTTP_SHAPES: `{text}` is not CxPxN, such as 2x4x400");
    };
    assert!(
        communities >= 1 && projects >= communities,
        "SPHERECTL_BENCH_HTTP_SHAPES: `{text}` needs at least one project per community"
    );
    Shape { communities, projects, checkpoints }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|t| t.trim().parse().ok())
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    let text = std::env::var(name).unwrap_or_else(|_| default.to_owned());
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn numbers(name: &str, default: &str) -> Vec<u64> {
    env_list(name, default)
        .iter()
        .map(|n| n.parse().unwrap_or_else(|_| panic!("{name}: `{n}` is not a number")))
        .collect()
}

/// Manifests: the organization, its communities, and per project its checkpoints. `projects`
/// lists `(community, project, checkpoints)`.
fn manifest(communities: usize, projects: &[(usize, String, usize)]) -> String {
    let mut s = String::from(
        "apiVersion: spherectl/v1\nkind: Organization\nmetadata: {name: bench}\n\
         spec: {id: bpf0000000000bench}\n",
    );
    for c in 0..communities {
        let _ = write!(
            s,
            "---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {{name: team-{c}}}\n\
             spec: {{zone: ru-central1-a}}\n"
        );
    }
    for (c, project, checkpoints) in projects {
        let _ = write!(
            s,
            "---\napiVersion: spherectl/v1\nkind: Project\n\
             metadata: {{name: {project}, community: team-{c}}}\n\
             spec: {{limits: {{maxUnitsPerHour: 10}}}}\n"
        );
        for n in 0..*checkpoints {
            let _ = write!(
                s,
                "---\napiVersion: spherectl/v1\nkind: Checkpoint\n\
                 metadata: {{name: checkpoint-{n}, project: team-{c}/{project}}}\n\
                 spec: {{description: model {n}, pinned: true}}\n"
            );
        }
    }
    s
}

/// A temporary directory with `org/` for the manifests and `serve.db`.
struct Work {
    tmp: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl Work {
    fn new() -> Work {
        let tmp = tempfile::Builder::new()
            .prefix("spherectl-bench-http-")
            .tempdir()
            .expect("create a temporary directory");
        let path = tmp.path().to_owned();
        std::fs::create_dir(path.join("org")).expect("create org/");
        Work { tmp: Some(tmp), path }
    }

    fn org(&self) -> PathBuf {
        self.path.join("org")
    }

    fn db(&self) -> PathBuf {
        self.path.join("serve.db")
    }

    fn write(&self, manifest: &str) {
        std::fs::write(self.org().join("organization.yaml"), manifest).expect("write manifests");
    }

    fn finish(mut self, bench: &Bench) {
        if let Some(tmp) = self.tmp.take()
            && bench.keep
        {
            eprintln!("   kept {}", tmp.keep().display());
        }
    }
}

/// A running `spherectl serve --access-log`: its stderr (the access log) goes to a file.
/// Stopped (killed, then waited for) on drop; `--stop-with-stdin` also stops it should this
/// process die first.
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    fn start(bench: &Bench, work: &Work, latency: u64, name: &str) -> Server {
        let log = work.path.join(format!("{name}.access.log"));
        let mut child = Command::new(&bench.binary)
            .args(["--color", "never", "serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(work.db())
            .args(["--token", &format!("{TOKEN}=userAccount:local-admin")])
            .args(["--latency", &latency.to_string(), "--access-log", "--stop-with-stdin"])
            .env_remove("SPHERECTL_SERVE_TOKENS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("create the access log"))
            .spawn()
            .expect("run spherectl serve");
        let stdout = child.stdout.take().expect("serve's stdout");
        let (send, receive) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = send.send(line);
        });
        let mut server = Server { child, url: String::new(), log };
        let line = receive.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            drop(server);
            panic!("spherectl serve did not print its address within 30 s: {line:?}");
        };
        server.url = url.to_owned();
        server
    }

    /// Requests answered so far: one access-log line each, written before the answer is sent,
    /// so complete once the client has exited.
    fn log(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).expect("read the access log");
        text.lines().filter(|l| l.contains(" /")).map(str::to_owned).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Measured {
    wall: Duration,
    status: Option<ExitStatus>,
    stderr_tail: String,
}

/// Runs `spherectl --platform URL args…` in `work`, stdout and stderr to files, killed after the
/// timeout. Panics (after the caller's guards stop the server) when it does not exit `expected`.
fn run(bench: &Bench, work: &Work, server: &Server, args: &[&str], expected: i32) -> Duration {
    let measured = spawn(bench, work, server, args);
    let code = measured.status.and_then(|s| s.code());
    if code != Some(expected) {
        eprintln!("{}", measured.stderr_tail);
        let what = if measured.status.is_none() {
            format!("timed out after {} s", bench.timeout.as_secs())
        } else {
            format!("exited {code:?}, expected {expected}")
        };
        panic!("`spherectl {}` {what}", args.join(" "));
    }
    measured.wall
}

fn spawn(bench: &Bench, work: &Work, server: &Server, args: &[&str]) -> Measured {
    use std::os::unix::process::CommandExt as _;
    let out = std::fs::File::create(work.path.join("stdout.txt")).expect("create stdout.txt");
    let err_path = work.path.join("stderr.txt");
    let err = std::fs::File::create(&err_path).expect("create stderr.txt");
    let mut command = Command::new(&bench.binary);
    command
        .args(["--color", "never", "--platform", &server.url])
        .args(args)
        .env("SPHERECTL_TOKEN", TOKEN)
        .env_remove("SPHERECTL_PLATFORM")
        .env_remove("SPHERECTL_ACTOR")
        .current_dir(&work.path)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    let started = Instant::now();
    let mut child = command.spawn().expect("run spherectl");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for spherectl") {
            break Some(status);
        }
        if started.elapsed() > bench.timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let wall = started.elapsed();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
    let stderr_tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
    Measured { wall, status, stderr_tail }
}

/// The median wall time of `bench.repeat` no-op plans (each must exit 0 with
/// `--detailed-exitcode`), and the requests of the last one.
fn no_op_plan(bench: &Bench, work: &Work, server: &Server) -> (Duration, Vec<String>) {
    let org = work.org();
    let org = org.to_str().expect("a UTF-8 temporary path");
    let mut times = Vec::new();
    let mut requests = Vec::new();
    for _ in 0..bench.repeat {
        let before = server.log().len();
        times.push(run(bench, work, server, &["plan", org, "--detailed-exitcode"], 0));
        requests = server.log().split_off(before);
    }
    times.sort();
    (times[times.len() / 2], requests)
}

fn requests_table(bench: &Bench, shapes: &[Shape]) -> String {
    let mut table = String::from(
        "| C communities | P projects | N checkpoints | no-op plan requests | 2C + 2P + 6 | \
         of which next pages | no-op plan (s) |\n|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for shape in shapes {
        let Shape { communities, projects, checkpoints } = *shape;
        eprintln!(
            "== requests: {communities} communities, {projects} projects, {checkpoints} checkpoints"
        );
        let work = Work::new();
        let list: Vec<(usize, String, usize)> = (0..projects)
            .map(|p| {
                let share = checkpoints / projects + usize::from(p < checkpoints % projects);
                (p % communities, format!("project-{p}"), share)
            })
            .collect();
        work.write(&manifest(communities, &list));
        // More than 10 projects per community needs the quota lifted.
        let quota = Command::new(&bench.binary)
            .args(["--color", "never", "--platform"])
            .arg(format!("sandbox:{}", work.db().display()))
            .args(["sandbox", "quota", "--unlimited"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run spherectl sandbox quota");
        assert!(quota.success(), "`sandbox quota --unlimited` failed");
        let server = Server::start(bench, &work, 0, "requests");
        let org = work.org();
        let org = org.to_str().expect("a UTF-8 temporary path");
        let apply = run(bench, &work, &server, &["apply", org, "--yes"], 0);
        let (plan, requests) = no_op_plan(bench, &work, &server);
        let pages = requests.iter().filter(|r| r.contains("pageToken=")).count();
        let failed = requests.iter().filter(|r| !r.ends_with(" 200")).count();
        assert_eq!(failed, 0, "a no-op plan had answers other than 200: {requests:#?}");
        eprintln!(
            "   apply {:.2} s; no-op plan {:.3} s, {} requests ({pages} next pages)",
            apply.as_secs_f64(),
            plan.as_secs_f64(),
            requests.len()
        );
        let _ = writeln!(
            table,
            "| {communities} | {projects} | {checkpoints} | {} | {} | {pages} | {:.3} |",
            requests.len(),
            2 * communities + 2 * projects + 6,
            plan.as_secs_f64()
        );
        drop(server);
        work.finish(bench);
    }
    table
}

fn time_table(bench: &Bench, counts: &[u64], latencies: &[u64], parallelism: &[u64]) -> String {
    let mut table = String::from(
        "| latency L | N creates | --parallelism p | apply (s) | N × L / p (s) | apply − no-op plan (s) \
         | apply requests | no-op plan (s) |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for &latency in latencies {
        for &n in counts {
            eprintln!("== time: latency {latency} ms, {n} creates");
            let work = Work::new();
            let server = Server::start(bench, &work, latency, "time");
            let org = work.org();
            let org = org.to_str().expect("a UTF-8 temporary path");
            // The community and one empty project per parallelism, outside the measurements.
            let mut projects: Vec<(usize, String, usize)> =
                parallelism.iter().map(|p| (0, format!("parallelism-{p}"), 0)).collect();
            work.write(&manifest(1, &projects));
            run(bench, &work, &server, &["apply", org, "--yes"], 0);
            for (i, &p) in parallelism.iter().enumerate() {
                projects[i].2 = n as usize;
                work.write(&manifest(1, &projects));
                let before = server.log().len();
                let p_text = p.to_string();
                let apply = run(
                    bench,
                    &work,
                    &server,
                    &["apply", org, "--yes", "--parallelism", &p_text],
                    0,
                );
                let requests = server.log().len() - before;
                let (plan, _) = no_op_plan(bench, &work, &server);
                let ideal = (n * latency) as f64 / 1000.0 / p as f64;
                eprintln!(
                    "   --parallelism {p}: apply {:.2} s ({requests} requests), N × L / p {ideal:.2} s, \
                     no-op plan {:.3} s",
                    apply.as_secs_f64(),
                    plan.as_secs_f64()
                );
                let _ = writeln!(
                    table,
                    "| {latency} ms | {n} | {p} | {:.2} | {ideal:.2} | {:.2} | {requests} | {:.2} |",
                    apply.as_secs_f64(),
                    apply.as_secs_f64() - plan.as_secs_f64(),
                    plan.as_secs_f64()
                );
            }
            drop(server);
            work.finish(bench);
        }
    }
    table
}
