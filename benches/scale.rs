//! Scale benchmark: the release binary on synthetic organizations of ~1k, ~10k and ~100k
//! objects. Not a timed test: it measures and prints a Markdown table, and fails only when a
//! command does not do what it should (an error, or a no-op plan that shows changes).
//!
//! ```text
//! cargo build --release                                   # the binary under test
//! cargo bench --bench scale                               # ~1k, ~10k, ~100k: about 2 minutes
//! SPHERECTL_BENCH_SIZES=1000,10000 cargo bench --bench scale   # a quick run
//! ```
//!
//! The binary is built here (`cargo build --release --bin spherectl`) when it is missing or
//! older than the sources.
//!
//! Environment: `SPHERECTL_BENCH_SIZES=1000,5000` picks the sizes; `SPHERECTL_BENCH_BIN=PATH`
//! benchmarks another binary (never rebuilt); `SPHERECTL_BENCH_TIMEOUT=SECONDS` bounds each
//! command (default 900); `SPHERECTL_BENCH_REPEAT=N` runs each read-only stage N times and
//! reports the median (default 3); `SPHERECTL_BENCH_KEEP=1` keeps the generated directories.
//!
//! Each size gets a fresh temporary directory with the manifests and a sandbox database
//! (`--platform sandbox:<tmp>/sandbox.db`, quotas lifted). Stages, each one process:
//! `validate`; `plan` against the empty sandbox (everything to create); the first `apply --yes`;
//! a no-op `plan`; `import` of the applied organization into a new directory and a `plan` of the
//! imported manifests (must be empty); and `plan` after editing the description of 1% of the
//! objects. Wall time is
//! measured here; peak RSS comes from `/usr/bin/time -f '%e %M'` when it exists (otherwise only
//! wall time is reported).

#[path = "support/generate.rs"]
mod generate;
#[path = "support/release.rs"]
mod release;

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

const GNU_TIME: &str = "/usr/bin/time";

struct Measured {
    wall: Duration,
    /// Peak resident set size in KiB, when `/usr/bin/time` reported it.
    peak_rss_kib: Option<u64>,
    status: Option<ExitStatus>,
    timed_out: bool,
    stderr_tail: String,
}

struct Row {
    objects: usize,
    stage: &'static str,
    measured: Measured,
    note: String,
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let binary = release::binary(&root);
    let time = gnu_time_works();
    if !time {
        eprintln!("note: `{GNU_TIME}` is missing or unusable: reporting wall time only");
    }
    let timeout = Duration::from_secs(
        std::env::var("SPHERECTL_BENCH_TIMEOUT").ok().and_then(|t| t.parse().ok()).unwrap_or(900),
    );
    let sizes = sizes();
    let keep = std::env::var_os("SPHERECTL_BENCH_KEEP").is_some_and(|v| v == "1");
    let repeat: usize = std::env::var("SPHERECTL_BENCH_REPEAT")
        .ok()
        .and_then(|t| t.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3);
    let mut rows = Vec::new();
    let mut failed = false;
    for &target in &sizes {
        let shape = generate::shape(target);
        let tmp = tempfile::Builder::new()
            .prefix("spherectl-bench-")
            .tempdir()
            .expect("create a temporary directory");
        let dir = tmp.path().join("org");
        let db = tmp.path().join("sandbox.db");
        let platform = format!("sandbox:{}", db.display());
        let started = Instant::now();
        generate::generate(&dir, target);
        let bytes = dir_bytes(&dir);
        eprintln!(
            "== {} objects ({} communities, {} projects, {} publications, {} uses) in {} files, \
             {:.1} MB of YAML, generated in {:.2} s: {}",
            shape.objects,
            shape.communities,
            shape.projects,
            shape.publications,
            shape.uses,
            shape.files,
            bytes as f64 / 1e6,
            started.elapsed().as_secs_f64(),
            dir.display()
        );
        let run = |stage: &'static str, args: &[&str]| -> Measured {
            eprint!("   {stage:<24} ");
            let measured = run(&binary, args, tmp.path(), time, timeout);
            eprintln!(
                "{:>8.2} s {:>10}",
                measured.wall.as_secs_f64(),
                measured.peak_rss_kib.map_or_else(String::new, |k| format!("{} MiB", k / 1024))
            );
            measured
        };
        let org = dir.to_str().expect("a UTF-8 temporary path");
        let imported_dir = tmp.path().join("imported");
        let imported = imported_dir.to_str().expect("a UTF-8 temporary path");
        let stages: [(&'static str, Vec<&str>, i32); 7] = [
            ("validate", vec!["validate", org], 0),
            ("plan (all to create)", vec!["--platform", &platform, "plan", org], 0),
            ("apply --yes (first)", vec!["--platform", &platform, "apply", org, "--yes"], 0),
            (
                "plan (no changes)",
                vec!["--platform", &platform, "plan", org, "--detailed-exitcode"],
                0,
            ),
            (
                "import",
                vec![
                    "--platform",
                    &platform,
                    "import",
                    "--organization",
                    generate::ORGANIZATION_ID,
                    "--out",
                    imported,
                    "--force",
                ],
                0,
            ),
            (
                "plan (imported)",
                vec!["--platform", &platform, "plan", imported, "--detailed-exitcode"],
                0,
            ),
            (
                "plan (1% edited)",
                vec!["--platform", &platform, "plan", org, "--detailed-exitcode"],
                2,
            ),
        ];
        let quota =
            run_quiet(&binary, &["--platform", &platform, "sandbox", "quota", "--unlimited"]);
        assert!(quota.success(), "`sandbox quota --unlimited` failed");
        for (stage, args, expected) in stages {
            let mut note = String::new();
            if stage == "plan (1% edited)" {
                let edited = generate::edit(&dir, 100);
                note = format!("{edited} objects edited");
            }
            if stage == "plan (imported)" {
                // Every secret of the synthetic organization has the same value: its imported
                // variable is pointed at that one (a user sets each listed variable instead).
                let secrets = point_secrets_at(&imported_dir, generate::SECRET_ENV);
                note = format!("{} files, {secrets} secrets", dir_files(&imported_dir));
            }
            // The first apply changes the sandbox: it runs once; the read-only stages run
            // `repeat` times, and the median wall time (and the largest peak RSS) is reported.
            let times = if stage.starts_with("apply") { 1 } else { repeat };
            let mut runs: Vec<Measured> = Vec::new();
            for _ in 0..times {
                let measured = run(stage, &args);
                let good = ok(&measured, expected);
                runs.push(measured);
                if !good {
                    break;
                }
            }
            let measured = median(runs, expected);
            let good = ok(&measured, expected);
            if !good {
                note = if measured.timed_out {
                    format!("timed out after {} s", timeout.as_secs())
                } else {
                    let code = measured.status.and_then(|s| s.code());
                    format!("exit {code:?}, expected {expected}")
                };
                eprintln!("{}", measured.stderr_tail);
                failed = true;
            }
            rows.push(Row { objects: shape.objects, stage, measured, note });
            if !good {
                // Later stages depend on this one.
                break;
            }
        }
        if keep {
            eprintln!("   kept {}", tmp.keep().display());
        }
    }
    println!("{}", table(&rows, time));
    assert!(!failed, "a stage failed: see the notes in the table");
}

/// Whether a run ended as it should: in time, with the expected exit code.
fn ok(measured: &Measured, expected: i32) -> bool {
    !measured.timed_out && measured.status.and_then(|s| s.code()) == Some(expected)
}

/// The run with the median wall time, carrying the largest peak RSS of all runs; a failed run
/// (runs stop at the first failure, so it is the last one) wins.
fn median(mut runs: Vec<Measured>, expected: i32) -> Measured {
    let peak = runs.iter().filter_map(|r| r.peak_rss_kib).max();
    let last = runs.pop().expect("at least one run");
    if !ok(&last, expected) || runs.is_empty() {
        return last;
    }
    runs.push(last);
    runs.sort_by_key(|r| r.wall);
    let mut middle = runs.swap_remove(runs.len() / 2);
    middle.peak_rss_kib = peak;
    middle
}

/// The sizes to run: `SPHERECTL_BENCH_SIZES`, else 1k, 10k and 100k objects. (The 100k run
/// takes about a minute and a half on 2 cores, so it is not behind a switch.)
fn sizes() -> Vec<usize> {
    match std::env::var("SPHERECTL_BENCH_SIZES") {
        Ok(text) => text.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
        Err(_) => vec![1_000, 10_000, 100_000],
    }
}

/// Replaces every `fromEnv: SPHERECTL_SECRET_...` the import wrote in `dir` with `variable`;
/// returns how many.
fn point_secrets_at(dir: &Path, variable: &str) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).expect("the imported directory").flatten() {
        let text = std::fs::read_to_string(entry.path()).expect("an imported file");
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            match line.find("{fromEnv: SPHERECTL_SECRET_") {
                Some(at) => {
                    count += 1;
                    out.push_str(&line[..at]);
                    out.push_str(&format!("{{fromEnv: {variable}}}\n"));
                }
                None => out.push_str(line),
            }
        }
        std::fs::write(entry.path(), out).expect("rewrite an imported file");
    }
    count
}

fn dir_files(path: &Path) -> usize {
    std::fs::read_dir(path).map_or(0, Iterator::count)
}

fn dir_bytes(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| {
            let path = e.path();
            if path.is_dir() { dir_bytes(&path) } else { e.metadata().map_or(0, |m| m.len()) }
        })
        .sum()
}

/// Whether `/usr/bin/time -f '%e %M'` runs and reports a peak RSS.
fn gnu_time_works() -> bool {
    let Ok(out) = Command::new(GNU_TIME)
        .args(["-f", "%e %M", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
    else {
        return false;
    };
    out.status.success() && parse_time(&String::from_utf8_lossy(&out.stderr)).is_some()
}

/// `%e %M` from the last line `/usr/bin/time` wrote: seconds and KiB.
fn parse_time(text: &str) -> Option<(f64, u64)> {
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let mut parts = line.split_whitespace();
    let seconds = parts.next()?.parse().ok()?;
    let kib = parts.next()?.parse().ok()?;
    Some((seconds, kib))
}

fn command(binary: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["--color", "never"])
        .args(args)
        .env(generate::SECRET_ENV, "bench-secret-value")
        .env_remove("SPHERECTL_PLATFORM")
        .env_remove("SPHERECTL_ACTOR")
        .stdin(Stdio::null());
    command
}

fn run_quiet(binary: &Path, args: &[&str]) -> ExitStatus {
    command(binary, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run spherectl")
}

/// Runs the binary once, stdout and stderr to files in `work` (as CI would keep them), killing
/// it (and `/usr/bin/time`) after `timeout`.
fn run(binary: &Path, args: &[&str], work: &Path, time: bool, timeout: Duration) -> Measured {
    use std::os::unix::process::CommandExt as _;
    let out = std::fs::File::create(work.join("stdout.txt")).expect("create stdout.txt");
    let err_path = work.join("stderr.txt");
    let err = std::fs::File::create(&err_path).expect("create stderr.txt");
    let time_path = work.join("time.txt");
    let mut command = if time {
        let inner = command(binary, args);
        let mut outer = Command::new(GNU_TIME);
        outer.args(["-f", "%e %M", "-o"]).arg(&time_path).arg(inner.get_program());
        outer.args(inner.get_args());
        for (key, value) in inner.get_envs() {
            match value {
                Some(value) => outer.env(key, value),
                None => outer.env_remove(key),
            };
        }
        outer.stdin(Stdio::null());
        outer
    } else {
        command(binary, args)
    };
    command.stdout(out).stderr(err).process_group(0);
    let started = Instant::now();
    let mut child = command.spawn().expect("run spherectl");
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().expect("wait for spherectl") {
            break (Some(status), false);
        }
        if started.elapsed() > timeout {
            // The whole process group: `/usr/bin/time` and the binary under it.
            let _ =
                Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall = started.elapsed();
    let peak_rss_kib = if time {
        std::fs::read_to_string(&time_path).ok().and_then(|t| parse_time(&t)).map(|(_, k)| k)
    } else {
        None
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
    let stderr_tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
    Measured { wall, peak_rss_kib, status, timed_out, stderr_tail }
}

fn table(rows: &[Row], time: bool) -> String {
    let mut out = String::new();
    out.push_str("| objects | stage | wall (s) | ms per 1k objects |");
    out.push_str(if time { " peak RSS (MiB) |" } else { "" });
    out.push_str(" notes |\n|---:|---|---:|---:|");
    out.push_str(if time { "---:|" } else { "" });
    out.push_str("---|\n");
    for row in rows {
        let seconds = row.measured.wall.as_secs_f64();
        out.push_str(&format!(
            "| {} | {} | {:.2} | {:.0} |",
            row.objects,
            row.stage,
            seconds,
            seconds * 1e6 / row.objects as f64
        ));
        if time {
            let rss = row
                .measured
                .peak_rss_kib
                .map_or_else(|| "?".to_owned(), |k| format!("{:.0}", k as f64 / 1024.0));
            out.push_str(&format!(" {rss} |"));
        }
        out.push_str(&format!(" {} |\n", row.note));
    }
    out
}
