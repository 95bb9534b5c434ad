//! The shipped sample data: regenerating the cheap sets with the commands of
//! `scripts/make_sample_data.sh` reproduces the committed files' numbers exactly, and the whole
//! directory stays within its size budget.

use std::path::{Path, PathBuf};
use std::process::Command;

use contrada::cf::NcFile;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Splits a shell command line on blanks, honouring single quotes (all the script uses).
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            '\'' => (quoted, any) = (!quoted, true),
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => (word.push(c), any = true).0,
        }
    }
    if any {
        words.push(word);
    }
    words
}

/// The `synth ...` command of the script that writes into `sample_data/<set>`.
fn script_command(set: &str) -> Vec<String> {
    let script = std::fs::read_to_string(root().join("scripts/make_sample_data.sh")).unwrap();
    let target = format!("sample_data/{set}");
    script
        .lines()
        .map(shell_words)
        .find(|w| w.first().is_some_and(|c| c == "synth") && w.contains(&target))
        .unwrap_or_else(|| panic!("no synth command for {target} in scripts/make_sample_data.sh"))
}

/// Runs the script's command for `set` into `out` instead of `sample_data/<set>`.
fn regenerate(set: &str, out: &Path) {
    let mut args = vec!["--quiet".to_string()];
    for word in script_command(set) {
        args.push(if word == format!("sample_data/{set}") { out.display().to_string() } else { word });
    }
    // The script's `synth` function adds the sample-data configuration.
    args.extend(["--config".into(), root().join("configs/sample_data.toml").display().to_string()]);
    let res = Command::new(env!("CARGO_BIN_EXE_contrada")).args(&args).output().unwrap();
    assert!(res.status.success(), "{args:?}: {}", String::from_utf8_lossy(&res.stderr));
}

/// Every dimension and every variable's values (bit for bit, missing values included) agree.
fn assert_same_contents(committed: &Path, fresh: &Path) {
    let (a, b) = (NcFile::open(committed).unwrap(), NcFile::open(fresh).unwrap());
    assert_eq!(a.dims(), b.dims(), "{}", committed.display());
    assert_eq!(a.var_names(), b.var_names(), "{}", committed.display());
    for var in a.var_names() {
        let (x, y) = (a.read(&var).unwrap().data, b.read(&var).unwrap().data);
        let same = x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| p.to_bits() == q.to_bits());
        assert!(same, "{}: variable `{var}` differs from a fresh run", committed.display());
    }
    for attr in ["seed", "synth_flow"] {
        assert_eq!(a.attr_str(None, attr), b.attr_str(None, attr), "{}: attribute {attr}", committed.display());
    }
}

#[test]
fn cheap_sets_regenerate_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let sets =
        [("gaussian", vec!["gaussian.nc"]), ("lorenz96", vec!["lorenz96.nc"]), ("lagrangian/today", vec!["lagrangian_states.nc", "lagrangian_drifters.nc"])];
    for (set, files) in sets {
        let out = tmp.path().join(set.replace('/', "_"));
        regenerate(set, &out);
        for file in files {
            assert_same_contents(&root().join("sample_data").join(set).join(file), &out.join(file));
        }
    }
}

#[test]
fn shell_words_honours_quotes() {
    assert_eq!(shell_words("synth a --set 'k=2000-01-01 12:00:00'  b"), vec!["synth", "a", "--set", "k=2000-01-01 12:00:00", "b"]);
}

#[test]
fn sample_data_fits_the_size_budget() {
    fn size(dir: &Path) -> u64 {
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).map(|p| if p.is_dir() { size(&p) } else { p.metadata().unwrap().len() }).sum()
    }
    let total = size(&root().join("sample_data"));
    assert!(total < 20 << 20, "sample_data/ holds {total} bytes; the budget is 20 MiB");
}
