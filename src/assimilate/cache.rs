//! The bank-code cache: the latent codes `g_u(u_i)` of a bank, computed once and reused by every
//! later window that assimilates with the same model and bank.
//!
//! Encoding a large bank is the expensive part of a daily run, and it does not depend on the day's
//! observations. The cache lives in the run directory (`RUN_DIR/.cache/bank_codes/KEY.codes`), not
//! inside the train stage's outputs, which are finished and checked against their manifest. `KEY` is
//! the SHA-256 of the model artefact's content (`model.json` and `model.bpk`), the bank file's
//! content and everything else that changes the codes (the backend that encodes, the file format),
//! so a retrained model or a changed bank misses and a stale entry is never used.
//!
//! File layout (little-endian): magic `CTDCODES`, format version (u32), rows (u64), columns (u64),
//! `rows * columns` f64 codes, then the SHA-256 of every byte before it. A file whose length or
//! checksum does not match (truncated, corrupt) is reported, recomputed and replaced, never trusted.
//! Writes go to a temporary file in the same directory that is synced and then renamed into place,
//! so a reader sees the old entry, the new one, or none.

use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::pipeline::hash::{file_sha256, sha256};

const MAGIC: &[u8; 8] = b"CTDCODES";
const VERSION: u32 = 1;
/// Magic, version, rows, columns.
const HEADER: usize = 8 + 4 + 8 + 8;
const CHECKSUM: usize = 32;

/// Where the bank codes of one (model, bank, encoding) combination are cached.
#[derive(Debug, Clone)]
pub struct CodeCache {
    path: PathBuf,
}

/// How a lookup went, for the log and the diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Codes read from the cache.
    Hit,
    /// No entry: codes computed and stored.
    Miss,
    /// An entry that failed its checks: codes recomputed and the entry replaced.
    Corrupt,
}

impl Lookup {
    /// Name used in the diagnostics.
    pub fn name(self) -> &'static str {
        match self {
            Lookup::Hit => "hit",
            Lookup::Miss => "miss",
            Lookup::Corrupt => "corrupt",
        }
    }
}

impl CodeCache {
    /// The cache entry in `dir` for the model artefact files `model_files` (their content is
    /// hashed), the bank file `bank` and `encoding`, a description of anything else that changes
    /// the codes (e.g. the backend).
    pub fn new(dir: &Path, model_files: &[&Path], bank: &Path, encoding: &str) -> Result<CodeCache> {
        let model: Vec<String> = model_files.iter().map(|p| file_sha256(p).map(|(h, _)| h)).collect::<Result<_>>()?;
        let (bank, _) = file_sha256(bank)?;
        let key = sha256(json!({ "format": VERSION, "model": model, "bank": bank, "encoding": encoding }).to_string().as_bytes());
        Ok(CodeCache { path: dir.join(format!("{key}.codes")) })
    }

    /// The file of this entry.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cached codes, or `compute()`'s, which are then stored. A corrupt entry is recomputed.
    pub fn get_or_compute(&self, compute: impl FnOnce() -> Result<Array2<f64>>) -> Result<(Array2<f64>, Lookup)> {
        let lookup = match std::fs::read(&self.path) {
            Ok(bytes) => match decode(&bytes) {
                Ok(codes) => {
                    tracing::info!("bank codes: reusing the cache {} ({} x {})", self.path.display(), codes.nrows(), codes.ncols());
                    return Ok((codes, Lookup::Hit));
                }
                Err(why) => {
                    tracing::warn!("bank codes: cache file {} is unusable ({why}); recomputing it", self.path.display());
                    Lookup::Corrupt
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::info!("bank codes: no cache entry {}; encoding the bank", self.path.display());
                Lookup::Miss
            }
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let codes = compute()?;
        self.store(&codes)?;
        Ok((codes, lookup))
    }

    /// Writes `codes` atomically: a synced temporary file renamed over the entry.
    fn store(&self, codes: &Array2<f64>) -> Result<()> {
        let dir = self.path.parent().expect("an entry is inside its directory");
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let name = self.path.file_name().expect("an entry has a file name").to_string_lossy();
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&encode(codes))?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(&self.path, e)
        })
    }
}

fn encode(codes: &Array2<f64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + codes.len() * 8 + CHECKSUM);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(codes.nrows() as u64).to_le_bytes());
    out.extend_from_slice(&(codes.ncols() as u64).to_le_bytes());
    for x in codes.iter() {
        out.extend_from_slice(&x.to_le_bytes());
    }
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

/// The codes in `bytes`, or why they cannot be trusted.
fn decode(bytes: &[u8]) -> std::result::Result<Array2<f64>, String> {
    if bytes.len() < HEADER + CHECKSUM || &bytes[..8] != MAGIC {
        return Err(format!("not a code cache file ({} bytes)", bytes.len()));
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(format!("format version {version}, expected {VERSION}"));
    }
    let (rows, cols) = (word(12) as usize, word(20) as usize);
    let expected = rows.checked_mul(cols).and_then(|n| n.checked_mul(8)).and_then(|n| n.checked_add(HEADER + CHECKSUM));
    if expected != Some(bytes.len()) {
        return Err(format!(
            "{} bytes, expected {} for {rows} x {cols} codes (truncated?)",
            bytes.len(),
            expected.map_or("too many".into(), |n| n.to_string())
        ));
    }
    let (body, digest) = bytes.split_at(bytes.len() - CHECKSUM);
    if Sha256::digest(body).as_slice() != digest {
        return Err("checksum mismatch".into());
    }
    let values = body[HEADER..].chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
    Ok(Array2::from_shape_vec((rows, cols), values).expect("length checked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes() -> Array2<f64> {
        Array2::from_shape_fn((5, 3), |(i, j)| (i as f64 - 2.0) * 0.7 + j as f64 / 3.0)
    }

    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let (json, bpk, bank) = (tmp.path().join("model.json"), tmp.path().join("model.bpk"), tmp.path().join("bank.nc"));
        std::fs::write(&json, b"{\"d_u\": 3}").unwrap();
        std::fs::write(&bpk, b"weights").unwrap();
        std::fs::write(&bank, b"bank states").unwrap();
        (tmp, json, bpk, bank)
    }

    #[test]
    fn second_lookup_hits_and_returns_the_same_codes() {
        let (tmp, json, bpk, bank) = setup();
        let cache = CodeCache::new(&tmp.path().join("cache"), &[json.as_path(), bpk.as_path()], &bank, "cpu").unwrap();
        let (first, how) = cache.get_or_compute(|| Ok(codes())).unwrap();
        assert_eq!((first.clone(), how), (codes(), Lookup::Miss));
        let (again, how) = cache.get_or_compute(|| panic!("must not recompute on a hit")).unwrap();
        assert_eq!((again, how), (codes(), Lookup::Hit));
        // Only the entry is left: the temporary file was renamed.
        assert_eq!(std::fs::read_dir(tmp.path().join("cache")).unwrap().count(), 1);
    }

    #[test]
    fn a_changed_model_bank_or_backend_is_another_entry() {
        let (tmp, json, bpk, bank) = setup();
        let dir = tmp.path().join("cache");
        let key = |json: &Path, bank: &Path, enc: &str| CodeCache::new(&dir, &[json, bpk.as_path()], bank, enc).unwrap().path().to_path_buf();
        let base = key(&json, &bank, "cpu");
        assert_eq!(base, key(&json, &bank, "cpu"));
        assert_ne!(base, key(&json, &bank, "wgpu"));
        std::fs::write(&bank, b"other bank states").unwrap();
        let new_bank = key(&json, &bank, "cpu");
        assert_ne!(base, new_bank);
        std::fs::write(&json, b"{\"d_u\": 4}").unwrap();
        assert_ne!(new_bank, key(&json, &bank, "cpu"));
    }

    #[test]
    fn corrupt_or_truncated_entries_are_recomputed() {
        let (tmp, json, bpk, bank) = setup();
        let cache = CodeCache::new(&tmp.path().join("cache"), &[json.as_path(), bpk.as_path()], &bank, "cpu").unwrap();
        cache.get_or_compute(|| Ok(codes())).unwrap();
        let good = std::fs::read(cache.path()).unwrap();
        let mut flipped = good.clone();
        flipped[HEADER + 17] ^= 0x01; // one bit of one code
        let damaged: [Vec<u8>; 4] = [flipped, good[..good.len() - 9].to_vec(), good[..HEADER].to_vec(), Vec::new()];
        for bad in damaged {
            std::fs::write(cache.path(), &bad).unwrap();
            let mut computed = false;
            let (got, how) = cache
                .get_or_compute(|| {
                    computed = true;
                    Ok(codes())
                })
                .unwrap();
            assert!(computed, "a damaged entry ({} bytes) was trusted", bad.len());
            assert_eq!((got, how), (codes(), Lookup::Corrupt));
            assert_eq!(std::fs::read(cache.path()).unwrap(), good, "the entry is rewritten");
        }
    }

    #[test]
    fn codes_survive_the_round_trip_bit_for_bit() {
        let c = Array2::from_shape_fn((7, 4), |(i, j)| ((i * 4 + j) as f64).sin() * 1e-300_f64.powf((j % 2) as f64) - 1.0 / 3.0);
        assert_eq!(decode(&encode(&c)).unwrap(), c);
        let empty = Array2::<f64>::zeros((0, 0));
        assert_eq!(decode(&encode(&empty)).unwrap(), empty);
    }
}
