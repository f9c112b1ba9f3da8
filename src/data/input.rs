//! Loading a user's vectors from a file or standard input, whatever the format.
//!
//! The format is read from the content, not the name: an input starting with NumPy's magic
//! bytes is an `.npy` array ([`super::npy`]); anything else is text ([`super::csv`]): comma-,
//! tab- or space-separated, with or without a header row. `-` reads standard input.

use super::csv::{read_csv, CsvOptions};
use super::npy::{read_npy, NPY_MAGIC};
use super::Updates;
use crate::{Error, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The first bytes of a zip archive, so an `.npz` gets a message of its own.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// Reads vectors from `path` (`-` for standard input): one vector per row of a text table or
/// of a 2-D `.npy` array.
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened or read; those of [`read_csv`] and
/// [`read_npy`]; [`Error::Parse`] for an `.npz` archive.
pub fn read_updates(path: &Path, opts: CsvOptions) -> Result<Updates> {
    if path.as_os_str() == "-" {
        return read_updates_from(std::io::stdin().lock(), "stdin", opts);
    }
    let file = std::fs::File::open(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    read_updates_from(
        BufReader::with_capacity(1 << 16, file),
        &path.display().to_string(),
        opts,
    )
}

/// [`read_updates`] from any buffered reader; `source` names it in error messages.
///
/// # Errors
/// As [`read_updates`].
pub fn read_updates_from<R: BufRead>(
    mut reader: R,
    source: &str,
    opts: CsvOptions,
) -> Result<Updates> {
    let io = |e| Error::Io {
        path: source.to_string(),
        source: e,
    };
    // The magic bytes may straddle two reads (a pipe delivering a byte at a time).
    let mut head = Vec::with_capacity(NPY_MAGIC.len());
    while head.len() < NPY_MAGIC.len() {
        let buf = reader.fill_buf().map_err(io)?;
        if buf.is_empty() {
            break;
        }
        let take = buf.len().min(NPY_MAGIC.len() - head.len());
        head.extend_from_slice(&buf[..take]);
        reader.consume(take);
    }
    let whole = head.as_slice().chain(reader);
    if head.starts_with(NPY_MAGIC) {
        read_npy(whole, source, opts.entries)
    } else if head.starts_with(ZIP_MAGIC) {
        Err(Error::Parse {
            what: source.to_string(),
            reason: "a zip archive (.npz?); save one array with np.save(\"x.npy\", a) instead"
                .into(),
        })
    } else {
        read_csv(whole, source, opts)
    }
}
