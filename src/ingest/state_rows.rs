//! `dataset.states.bin`: the state vectors of a data set, in a binary file beside `dataset.nc`.
//!
//! The state rows are nearly all the bytes an ingest writes (1000 snapshots of a 10^6-element
//! state are 4 GB). netcdf-c and HDF5 are not thread-safe, so the netcdf crate serialises every
//! call in a process: rows written through it cannot overlap the reading of the state archive,
//! which is netcdf-c's work too. Written with plain file I/O on a thread of their own, they can
//! (BENCHMARKS.md, "ingest: throughput"). `dataset.nc` keeps everything else and names this file
//! (global attributes `states_file`, `states_file_bytes`, `states_file_xxh3_128`); both are outputs
//! of the same stage, written through its staging directory and hashed in its manifest. Keep the
//! two files together: [`StatesReader`] refuses a file that is not the one `dataset.nc` records.
//!
//! Layout, format version 1; every number little-endian:
//!
//! | offset | bytes | content |
//! |---|---|---|
//! | 0 | 8 | magic `CTRDSTAT` |
//! | 8 | 4 | format version, u32 (1) |
//! | 12 | 4 | value type, u32: bytes per value, 4 = IEEE 754 f32, 8 = f64 (`ingest.precision`) |
//! | 16 | 8 | rows, u64: the samples, in the order of the `sample` dimension of `dataset.nc` |
//! | 24 | 8 | columns, u64: `state_dim` of `dataset.nc` |
//! | 32 | 32 | reserved, zero |
//! | 64 | rows × columns × value bytes | the state vectors, row-major, physical units (element `j` is described by `state_variable[j]`, `state_x[j]`, ... in `dataset.nc`); ingest writes complete snapshots only, so no value is missing |
//! | 64 + data | 16 | checksum of the data section (bytes 64 to the trailer): XXH3-128 (seed 0), u128 |
//!
//! The size is therefore 80 + rows × columns × value bytes. A reader checks the magic, the
//! version, the shape against `dataset.nc` and the size before reading any row, then reads the rows
//! in chunks, hashing them on the way, and compares the checksum with the trailer and with
//! `dataset.nc` once all are read.
//!
//! Why XXH3-128 rather than SHA-256: the checksum is computed beside the data pass, on a 2-core
//! machine the same cores that read the archive, and SHA-256 took as long as writing the rows
//! (about 1.5 GB/s with the CPU's SHA extensions); XXH3 runs at memory speed (over 10 GB/s with
//! AVX2), so every load verifies it too. It guards against corruption, truncation and a states
//! file from another run (a 128-bit accidental collision is out of reach), not against a forger:
//! the stage manifest keeps a SHA-256 of both files for provenance, and since `dataset.nc`
//! records the checksum, its SHA-256 (what later stages' fingerprints use) changes with the rows.

use std::borrow::Cow;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use twox_hash::XxHash3_128;

use super::layout::Real;
use crate::cf::write::Precision;
use crate::error::{Error, Result};

/// Magic bytes at the start of the file.
pub const MAGIC: [u8; 8] = *b"CTRDSTAT";
/// Version of the layout above; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes before the first row.
pub const HEADER_BYTES: u64 = 64;
/// Bytes of the checksum trailer.
pub const TRAILER_BYTES: u64 = 16;
/// Offset of the row count in the header (patched when the last row is written).
const ROWS_AT: u64 = 16;
/// Bytes read at a time by the reader.
const READ_BYTES: usize = 16 << 20;

/// Where the state rows of the data set at `dataset` go: `NAME.states.bin` beside `NAME.nc`.
pub fn states_path(dataset: &Path) -> PathBuf {
    let stem = dataset.file_stem().map_or_else(|| "dataset".into(), |s| s.to_string_lossy().into_owned());
    dataset.with_file_name(format!("{stem}.states.bin"))
}

/// What `dataset.nc` records about its states file, and what a reader expects of it.
#[derive(Debug, Clone, PartialEq)]
pub struct StatesRecord {
    /// File name, in the directory of `dataset.nc`.
    pub file: String,
    /// Rows (samples).
    pub rows: usize,
    /// Columns (state_dim).
    pub cols: usize,
    /// Size in bytes.
    pub bytes: u64,
    /// XXH3-128 of the data section, 32 hex digits.
    pub xxh3_128: String,
}

fn value_bytes(precision: Precision) -> u64 {
    match precision {
        Precision::F32 => 4,
        Precision::F64 => 8,
    }
}

/// A checksum as 32 hex digits.
fn hex128(x: u128) -> String {
    format!("{x:032x}")
}

/// The values of `r` as little-endian bytes: borrowed where that is their layout in memory.
fn le_bytes(r: &Real) -> Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        match r {
            Real::F32(v) => Cow::Borrowed(bytemuck::cast_slice(v)),
            Real::F64(v) => Cow::Borrowed(bytemuck::cast_slice(v)),
        }
    } else {
        match r {
            Real::F32(v) => Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Real::F64(v) => Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        }
    }
}

/// A states file being written, row chunk by row chunk (on any thread: it makes no netCDF call).
pub struct StatesWriter {
    path: PathBuf,
    file: File,
    hasher: XxHash3_128,
    precision: Precision,
    cols: usize,
    rows: usize,
    seconds: (f64, f64),
}

impl StatesWriter {
    /// Creates `path` with its header, for rows of `cols` values stored as `precision`.
    pub fn create(path: &Path, precision: Precision, cols: usize) -> Result<StatesWriter> {
        let mut file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut header = [0u8; HEADER_BYTES as usize];
        header[..8].copy_from_slice(&MAGIC);
        header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        header[12..16].copy_from_slice(&(value_bytes(precision) as u32).to_le_bytes());
        header[24..32].copy_from_slice(&(cols as u64).to_le_bytes());
        file.write_all(&header).map_err(|e| Error::io(path, e))?;
        Ok(StatesWriter { path: path.to_path_buf(), file, hasher: XxHash3_128::new(), precision, cols, rows: 0, seconds: (0.0, 0.0) })
    }

    /// Appends `rows` whole rows (`values`, in the writer's precision).
    pub fn append(&mut self, values: &Real, rows: usize) -> Result<()> {
        let precision_ok = matches!((values, self.precision), (Real::F32(_), Precision::F32) | (Real::F64(_), Precision::F64));
        if !precision_ok || values.len() != rows * self.cols {
            return Err(Error::Other(format!(
                "{}: {} values given for {rows} rows of {} ({:?})",
                self.path.display(),
                values.len(),
                self.cols,
                self.precision
            )));
        }
        let bytes = le_bytes(values);
        let c = std::time::Instant::now();
        self.hasher.write(&bytes);
        let hashed = c.elapsed().as_secs_f64();
        self.file.write_all(&bytes).map_err(|e| Error::io(&self.path, e))?;
        self.seconds.0 += c.elapsed().as_secs_f64() - hashed;
        self.seconds.1 += hashed;
        self.rows += rows;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Seconds spent so far writing and hashing rows.
    pub fn seconds(&self) -> (f64, f64) {
        self.seconds
    }

    /// Writes the trailer and the row count, closes the file and says what `dataset.nc` records.
    pub fn finish(mut self) -> Result<StatesRecord> {
        let digest = self.hasher.finish_128();
        let io = |e| Error::io(&self.path, e);
        self.file.write_all(&digest.to_le_bytes()).map_err(io)?;
        self.file.seek(SeekFrom::Start(ROWS_AT)).map_err(io)?;
        self.file.write_all(&(self.rows as u64).to_le_bytes()).map_err(io)?;
        let bytes = self.file.metadata().map_err(io)?.len();
        let file = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(StatesRecord { file, rows: self.rows, cols: self.cols, bytes, xxh3_128: hex128(digest) })
    }
}

/// A states file being read, row chunk by row chunk, checked against what `dataset.nc` records.
pub struct StatesReader {
    path: PathBuf,
    file: File,
    hasher: XxHash3_128,
    value_bytes: usize,
    cols: usize,
    left: usize,
    expect: StatesRecord,
    buf: Vec<u8>,
}

impl StatesReader {
    /// Opens `path` and checks its header and size against `expect` (from `dataset.nc`).
    pub fn open(path: &Path, expect: &StatesRecord) -> Result<StatesReader> {
        let bad = |m: String| Error::input(path, m);
        let mut file = File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                bad(format!("missing: the data set beside it keeps its state vectors in this file ({} bytes); copy both files together", expect.bytes))
            }
            _ => Error::io(path, e),
        })?;
        let mut header = [0u8; HEADER_BYTES as usize];
        file.read_exact(&mut header).map_err(|_| bad(format!("shorter than the {HEADER_BYTES}-byte header of a contrada states file")))?;
        if header[..8] != MAGIC {
            return Err(bad(format!("does not start with {:?}: not a contrada states file", String::from_utf8_lossy(&MAGIC))));
        }
        let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != FORMAT_VERSION {
            return Err(bad(format!("format version {version}; expected {FORMAT_VERSION} (written by this version of contrada ingest)")));
        }
        let value_bytes = u32_at(12) as u64;
        if value_bytes != 4 && value_bytes != 8 {
            return Err(bad(format!("value type {value_bytes}; expected 4 (f32) or 8 (f64)")));
        }
        let (rows, cols) = (u64_at(16), u64_at(24));
        if (rows, cols) != (expect.rows as u64, expect.cols as u64) {
            return Err(bad(format!(
                "holds {rows} rows of {cols} values; the data set beside it has {} samples of {} state elements (files from different runs?)",
                expect.rows, expect.cols
            )));
        }
        let want = rows.checked_mul(cols).and_then(|n| n.checked_mul(value_bytes)).and_then(|n| n.checked_add(HEADER_BYTES + TRAILER_BYTES));
        let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if want != Some(size) || size != expect.bytes {
            return Err(bad(format!(
                "{size} bytes; expected {} ({} recorded in the data set): truncated or not the file written with it",
                want.map_or_else(|| "overflow".into(), |w| w.to_string()),
                expect.bytes
            )));
        }
        Ok(StatesReader {
            path: path.to_path_buf(),
            file,
            hasher: XxHash3_128::new(),
            value_bytes: value_bytes as usize,
            cols: cols as usize,
            left: rows as usize,
            expect: expect.clone(),
            buf: Vec::new(),
        })
    }

    /// Values per row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Rows not read yet.
    pub fn rows_left(&self) -> usize {
        self.left
    }

    /// Reads the next `out.len() / columns` rows (at most those left) into `out`, as f64; returns
    /// how many rows were read.
    pub fn read_rows(&mut self, out: &mut [f64]) -> Result<usize> {
        let rows = out.len().checked_div(self.cols).map_or(self.left, |r| r.min(self.left));
        let values = rows * self.cols;
        let per_read = (READ_BYTES / self.value_bytes).max(1);
        let mut done = 0;
        while done < values {
            let n = per_read.min(values - done);
            self.buf.resize(n * self.value_bytes, 0);
            self.file.read_exact(&mut self.buf).map_err(|e| Error::io(&self.path, e))?;
            self.hasher.write(&self.buf);
            let dst = &mut out[done..done + n];
            match self.value_bytes {
                4 => dst.iter_mut().zip(self.buf.chunks_exact(4)).for_each(|(d, b)| *d = f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64),
                _ => dst.iter_mut().zip(self.buf.chunks_exact(8)).for_each(|(d, b)| *d = f64::from_le_bytes(b.try_into().expect("8 bytes"))),
            }
            done += n;
        }
        self.left -= rows;
        Ok(rows)
    }

    /// After the last row: checks the checksum of what was read against the trailer and the record.
    pub fn finish(mut self) -> Result<()> {
        if self.left > 0 {
            return Err(Error::Other(format!("{}: {} rows left unread", self.path.display(), self.left)));
        }
        let mut trailer = [0u8; TRAILER_BYTES as usize];
        self.file.read_exact(&mut trailer).map_err(|e| Error::io(&self.path, e))?;
        let digest = hex128(self.hasher.finish_128());
        let stored = hex128(u128::from_le_bytes(trailer));
        if digest != stored || digest != self.expect.xxh3_128 {
            return Err(Error::input(
                &self.path,
                format!(
                    "checksum (XXH3-128) of the rows is {digest}; its trailer says {stored} and the data set beside it {}: the file is corrupt or not the one written with it",
                    self.expect.xxh3_128
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, precision: Precision, rows: &[Vec<f64>]) -> StatesRecord {
        let mut w = StatesWriter::create(&dir.join("d.states.bin"), precision, rows[0].len()).unwrap();
        for chunk in rows.chunks(2) {
            let mut r = Real::new(precision);
            chunk.iter().for_each(|row| r.push(row));
            w.append(&r, chunk.len()).unwrap();
        }
        w.finish().unwrap()
    }

    fn read_all(dir: &Path, rec: &StatesRecord) -> Result<Vec<f64>> {
        let mut r = StatesReader::open(&dir.join(&rec.file), rec)?;
        let mut out = vec![f64::NAN; rec.rows * rec.cols];
        // Two rows per call: the chunked path, including a short last call.
        for c in out.chunks_mut(2 * rec.cols) {
            assert_eq!(r.read_rows(c)?, c.len() / rec.cols);
        }
        r.finish()?;
        Ok(out)
    }

    fn rows() -> Vec<Vec<f64>> {
        (0..5).map(|i| (0..3).map(|j| 0.5 * i as f64 - 1.25 * j as f64 + 1e-3).collect()).collect()
    }

    #[test]
    fn rows_round_trip_with_the_documented_layout() {
        let dir = tempfile::tempdir().unwrap();
        for precision in [Precision::F32, Precision::F64] {
            let rec = write(dir.path(), precision, &rows());
            let flat: Vec<f64> = rows().concat();
            let got = read_all(dir.path(), &rec).unwrap();
            let want: Vec<f64> = match precision {
                Precision::F32 => flat.iter().map(|&v| v as f32 as f64).collect(),
                Precision::F64 => flat.clone(),
            };
            assert_eq!(got, want);
            // The bytes are the documented layout: header, rows, checksum of the rows.
            let bytes = std::fs::read(dir.path().join(&rec.file)).unwrap();
            let vb = value_bytes(precision) as usize;
            assert_eq!(bytes.len(), 80 + 15 * vb);
            assert_eq!(rec.bytes as usize, bytes.len());
            assert_eq!(&bytes[..8], b"CTRDSTAT");
            assert_eq!(bytes[8..12], 1u32.to_le_bytes());
            assert_eq!(bytes[12..16], (vb as u32).to_le_bytes());
            assert_eq!(bytes[16..24], 5u64.to_le_bytes());
            assert_eq!(bytes[24..32], 3u64.to_le_bytes());
            assert!(bytes[32..64].iter().all(|&b| b == 0));
            let data = &bytes[64..bytes.len() - 16];
            let second_row_first = match precision {
                Precision::F32 => f32::from_le_bytes(data[3 * vb..3 * vb + 4].try_into().unwrap()) as f64,
                Precision::F64 => f64::from_le_bytes(data[3 * vb..3 * vb + 8].try_into().unwrap()),
            };
            assert_eq!(second_row_first, want[3]);
            let oneshot = XxHash3_128::oneshot(data);
            assert_eq!(hex128(oneshot), rec.xxh3_128, "hashed chunk by chunk as in one go");
            assert_eq!(bytes[bytes.len() - 16..], oneshot.to_le_bytes());
        }
    }

    #[test]
    fn damaged_or_mismatched_files_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let rec = write(dir.path(), Precision::F32, &rows());
        let path = dir.path().join(&rec.file);
        let good = std::fs::read(&path).unwrap();
        let message = |rec: &StatesRecord| match read_all(dir.path(), rec) {
            Err(e @ Error::Input { .. }) => {
                assert!(e.to_string().contains("d.states.bin"), "{e}");
                e.to_string()
            }
            other => panic!("expected an input error, got {other:?}"),
        };
        // One flipped bit in a row: only the checksum can tell.
        let mut bad = good.clone();
        bad[64 + 5] ^= 0x10;
        std::fs::write(&path, &bad).unwrap();
        assert!(message(&rec).contains("checksum"));
        // A truncated file.
        std::fs::write(&path, &good[..good.len() - 4]).unwrap();
        assert!(message(&rec).contains("truncated"));
        // The file of another run: other shape, or same shape and other values.
        std::fs::write(&path, &good).unwrap();
        assert!(message(&StatesRecord { rows: 4, ..rec.clone() }).contains("different runs"));
        assert!(message(&StatesRecord { xxh3_128: "0".repeat(32), ..rec.clone() }).contains("checksum"));
        // A newer layout.
        let mut newer = good.clone();
        newer[8] = 2;
        std::fs::write(&path, &newer).unwrap();
        assert!(message(&rec).contains("format version 2"));
        std::fs::remove_file(&path).unwrap();
        assert!(message(&rec).contains("missing"));
        assert!(read_all(dir.path(), &rec).is_err());
    }
}
