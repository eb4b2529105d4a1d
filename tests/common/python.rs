//! The Python that runs python-fido2: `$SOFTKEY_PYTHON`, or a virtual
//! environment under the target directory made on first use from
//! tests/python/requirements.txt (PyPI).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The venv's python, created or refreshed when requirements.txt changed.
/// A file lock keeps two test binaries from building it at once.
pub fn with_fido2() -> PathBuf {
    if let Some(python) = std::env::var_os("SOFTKEY_PYTHON") {
        return python.into();
    }
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(target).unwrap();
    let lock = File::create(target.join("interop-venv.lock")).unwrap();
    lock.lock().unwrap();
    let venv = target.join("interop-venv");
    let python = venv.join("bin/python");
    let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/requirements.txt");
    let stamp = venv.join("requirements.txt");
    let wanted = std::fs::read(&requirements).unwrap();
    if std::fs::read(&stamp).ok().as_deref() == Some(&wanted[..]) && python.exists() {
        return python;
    }
    let status = Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&venv)
        .status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "could not create a Python venv: install python3 with the venv module (apt-get install python3-venv)"
    );
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "pip could not install {}",
        requirements.display()
    );
    std::fs::write(&stamp, wanted).unwrap();
    python
}
