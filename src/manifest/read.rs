//! Bounded reads of regular files: manifests and `fromFile` secrets.
//!
//! A path may name anything: a FIFO (opening it blocks until a writer comes), a device such as
//! `/dev/zero` (endless), or a file that grows between a size check and the read. Only regular
//! files are read, a FIFO is never opened in a way that blocks, and no read goes past its limit
//! whatever the metadata said.

use std::{
    fs::{File, OpenOptions},
    io::Read,
    path::Path,
};

/// Why a file was not read.
#[derive(Debug)]
pub enum ReadError {
    /// The path names something other than a regular file (a directory, FIFO, socket, device).
    NotRegular(&'static str),
    /// The file holds more than the limit: its size, or `None` when it grew while being read.
    TooLarge(Option<u64>),
    /// The operating system refused.
    Io(std::io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotRegular(what) => write!(f, "not a regular file (a {what})"),
            ReadError::TooLarge(Some(size)) => write!(f, "file is {size} bytes"),
            ReadError::TooLarge(None) => f.write_str("file grew while it was read"),
            ReadError::Io(error) => error.fmt(f),
        }
    }
}

/// Reads a regular file of at most `limit` bytes (symlinks followed).
///
/// # Errors
/// [`ReadError::NotRegular`] for anything but a regular file, [`ReadError::TooLarge`] past the
/// limit, [`ReadError::Io`] when the file cannot be opened or read.
pub fn read_regular_file(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    // Checked before opening, so that a FIFO is not even opened; and again on the opened handle,
    // which is what is read (the path may have been replaced in between).
    check_type(&std::fs::metadata(path).map_err(ReadError::Io)?)?;
    let file = open_nonblocking(path).map_err(ReadError::Io)?;
    let metadata = file.metadata().map_err(ReadError::Io)?;
    check_type(&metadata)?;
    if metadata.len() > limit {
        return Err(ReadError::TooLarge(Some(metadata.len())));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(limit + 1).read_to_end(&mut bytes).map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(None));
    }
    Ok(bytes)
}

fn check_type(metadata: &std::fs::Metadata) -> Result<(), ReadError> {
    let kind = metadata.file_type();
    if kind.is_file() {
        return Ok(());
    }
    Err(ReadError::NotRegular(describe(kind)))
}

fn describe(kind: std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        return "directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "device";
        }
        if kind.is_socket() {
            return "socket";
        }
    }
    "special file"
}

/// Opens for reading without blocking on a FIFO (which a check before opening can miss if the
/// path is replaced); on a regular file the flag changes nothing.
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}
