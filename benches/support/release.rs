//! The release binary the benchmarks run (`benches/scale.rs`, `benches/http.rs`).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::SystemTime,
};

/// The release binary: `SPHERECTL_BENCH_BIN`, else `target/release/spherectl`, built first when
/// it is missing or older than the sources.
pub(crate) fn binary(root: &Path) -> PathBuf {
    if let Some(path) = std::env::var_os("SPHERECTL_BENCH_BIN") {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "SPHERECTL_BENCH_BIN: `{}` does not exist", path.display());
        // Absolute: commands may run in another directory.
        return std::fs::canonicalize(&path).expect("SPHERECTL_BENCH_BIN: resolve the path");
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let path = target.join("release").join("spherectl");
    let built = modified(&path);
    let sources =
        ["src", "Cargo.toml", "Cargo.lock"].iter().filter_map(|p| newest(&root.join(p))).max();
    let reason = match (built, sources) {
        (None, _) => Some("does not exist"),
        (Some(built), Some(sources)) if sources > built => Some("is older than the sources"),
        _ => None,
    };
    if let Some(reason) = reason {
        eprintln!(
            "`{}` {reason}: building it with `cargo build --release --bin spherectl` \
             (this takes a few minutes on 2 cores)",
            path.display()
        );
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "--bin", "spherectl"])
            .current_dir(root)
            .status()
            .expect("run cargo");
        assert!(status.success(), "`cargo build --release` failed");
    }
    assert!(path.is_file(), "`{}` is missing after the build", path.display());
    path
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of a file or of any file under a directory.
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path).ok()?.filter_map(Result::ok).filter_map(|e| newest(&e.path())).max()
}
