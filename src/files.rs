//! Reading the files a user names (configs, scripts, CSV data, uploads, CA bundles, segment
//! summaries): regular files only, through a size limit, so that a FIFO, a device such as
//! `/dev/zero` or an oversized file is refused at once instead of growing until the kernel
//! kills the process (RELIABILITY.md H1, H2). Each input's limit is documented where it is
//! read, and the limit is enforced on the bytes read, not only on the size the file claims.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("is not a regular file (a FIFO, a device or a folder); give a file")]
    NotRegular,
    #[error("is over {limit} bytes, the limit for this input")]
    TooLarge { limit: u64 },
    #[error("cannot be read: {0}")]
    Io(#[from] std::io::Error),
}

impl FileError {
    /// The error as a sentence about `what` (a path, or "the file"): "cannot read X: …",
    /// "X is not a regular file …", "X is over N bytes …".
    pub fn about(&self, what: &str) -> String {
        match self {
            FileError::Io(e) => format!("cannot read {what}: {e}"),
            other => format!("{what} {other}"),
        }
    }
}

/// Opens `path` if it is a regular file (symbolic links followed).
pub fn open_regular(path: &Path) -> Result<File, FileError> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(FileError::NotRegular);
    }
    let file = File::open(path)?;
    // The path may have been swapped between the two looks; the handle is what is read.
    if !file.metadata()?.is_file() {
        return Err(FileError::NotRegular);
    }
    Ok(file)
}

/// A reader of `path` that fails once more than `limit` bytes come out of it: for inputs
/// that are parsed as a stream (CSV data).
pub fn limited_reader(path: &Path, limit: u64) -> Result<impl Read, FileError> {
    let file = open_regular(path)?;
    if file.metadata()?.len() > limit {
        return Err(FileError::TooLarge { limit });
    }
    Ok(Limited {
        inner: file.take(limit + 1),
        read: 0,
        limit,
    })
}

struct Limited<R> {
    inner: R,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(std::io::Error::other(FileError::TooLarge {
                limit: self.limit,
            }));
        }
        Ok(n)
    }
}

/// The bytes of a regular file of at most `limit` bytes.
pub fn read_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let file = open_regular(path)?;
    let claimed = file.metadata()?.len();
    if claimed > limit {
        return Err(FileError::TooLarge { limit });
    }
    let mut bytes = Vec::with_capacity(claimed as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge { limit });
    }
    Ok(bytes)
}

/// The text of a regular UTF-8 file of at most `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String, FileError> {
    String::from_utf8(read_bytes(path, limit)?).map_err(|_| {
        FileError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "it is not UTF-8 text",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h1_devices_fifos_and_folders_are_refused_at_once() {
        for p in ["/dev/zero", "/dev/null", "/tmp"] {
            let e = read_bytes(Path::new(p), 1 << 20).unwrap_err();
            assert!(matches!(e, FileError::NotRegular), "{p}: {e}");
            assert!(limited_reader(Path::new(p), 1 << 20).is_err(), "{p}");
        }
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Would block forever on open if it were opened: it is refused first.
        assert!(matches!(
            read_text(&fifo, 10).unwrap_err(),
            FileError::NotRegular
        ));
    }

    #[test]
    fn h2_a_file_over_its_limit_is_refused_with_the_limit_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.csv");
        std::fs::write(&p, vec![b'a'; 1001]).unwrap();
        let e = read_bytes(&p, 1000).unwrap_err();
        assert_eq!(
            e.to_string(),
            "is over 1000 bytes, the limit for this input"
        );
        assert!(limited_reader(&p, 1000).is_err());
        assert_eq!(read_text(&p, 1001).unwrap().len(), 1001);
        let mut all = String::new();
        limited_reader(&p, 1001)
            .unwrap()
            .read_to_string(&mut all)
            .unwrap();
        assert_eq!(all.len(), 1001);
    }
}
