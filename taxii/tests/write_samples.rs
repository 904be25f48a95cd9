//! Writes every sample message to `$TAXII_SAMPLES_DIR` (one `.xml` file each, named
//! `11-<kind>.xml` or `10-<kind>.xml`) for `tests/validate_samples.py`. Without the
//! variable it only checks that every sample writes.

use std::path::PathBuf;

#[test]
fn write_samples_for_schema_check() {
    let dir = std::env::var_os("TAXII_SAMPLES_DIR").map(PathBuf::from);
    if let Some(dir) = &dir {
        std::fs::create_dir_all(dir).expect("create TAXII_SAMPLES_DIR");
    }
    for (label, env) in taxii::samples::all() {
        let bytes = taxii::write::write_message(&env);
        assert!(!bytes.is_empty(), "{label}");
        if let Some(dir) = &dir {
            std::fs::write(dir.join(format!("{label}.xml")), &bytes).expect("write sample");
        }
    }
}
