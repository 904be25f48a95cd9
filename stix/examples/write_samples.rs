//! Write sample packages (every indicator kind, STIX 1.1.1 and 1.2, and STIX 1.2 packages
//! converted for 1.1.1-only clients) into a folder, for schema validation with
//! `stix/tests/validate_stix.sh`.
//!
//! `cargo run -p stix --example write_samples -- <out-dir>`

use std::path::PathBuf;

use stix::build::{object_word, package, IndicatorSpec, PackageSpec, StixVersion};
use stix::{Indicator, IndicatorKind};

fn main() -> std::io::Result<()> {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: write_samples <out-dir>");
        std::process::exit(64);
    };
    std::fs::create_dir_all(&out)?;
    for version in [StixVersion::V111, StixVersion::V12] {
        let name = format!("sample-{}.xml", version.as_str());
        std::fs::write(out.join(name), package(&spec(version)))?;
    }
    write_converted(&out)?;
    Ok(())
}

/// The STIX 1.2 sample and every tenth OTX fixture as served to clients that read only STIX
/// 1.1.1 (`stix::downgrade`), as `as-1.1.1-<name>.xml`.
fn write_converted(out: &std::path::Path) -> std::io::Result<()> {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/otx/stix");
    let mut inputs = vec![(
        "sample-1.2.xml".to_owned(),
        package(&spec(StixVersion::V12)),
    )];
    let mut names: Vec<_> = std::fs::read_dir(&fixtures)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    names.sort();
    for path in names.into_iter().step_by(10) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        inputs.push((name.unwrap_or_default(), std::fs::read(&path)?));
    }
    for (name, xml) in inputs {
        let converted = stix::downgrade::to_stix_111(&xml, &[])
            .map_err(|e| std::io::Error::other(format!("{name}: {e}")))?;
        std::fs::write(out.join(format!("as-1.1.1-{name}")), converted)?;
    }
    Ok(())
}

fn spec(version: StixVersion) -> PackageSpec {
    use IndicatorKind::*;
    let values: Vec<(Indicator, Option<(String, String)>)> = vec![
        (Indicator::new(Ipv4, "192.0.2.10"), None),
        (Indicator::new(Ipv6, "2001:db8::10"), None),
        (
            Indicator::new(Cidr, "198.51.100.0/24"),
            Some(("198.51.100.0".into(), "198.51.100.255".into())),
        ),
        (Indicator::new(Cidr, "203.0.113.0/25"), None),
        (Indicator::new(Domain, "sample.example.test"), None),
        (
            Indicator::new(Url, "http://sample.example.test/p?a=1&b=<2>"),
            None,
        ),
        (Indicator::new(Email, "sample@example.test"), None),
        (
            Indicator::new(Md5, "d41d8cd98f00b204e9800998ecf8427e"),
            None,
        ),
        (
            Indicator::new(Sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            None,
        ),
        (
            Indicator::new(
                Sha256,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            None,
        ),
        (Indicator::new(Mutex, "Global\\sample"), None),
    ];
    let stamp = "2026-11-01T00:00:00.000000Z".to_owned();
    PackageSpec {
        id: "example:Package-1".into(),
        id_namespace: ("example".into(), "http://example.test".into()),
        version,
        timestamp: stamp.clone(),
        title: Some("Sample: Größe, 日本語, 🚨 & <angle>".into()),
        description: Some("Every indicator kind the mirror writes.".into()),
        short_description: Some("sample".into()),
        produced_time: Some(stamp.clone()),
        source_name: Some("taxii-mirror".into()),
        source_description: Some("taxii-mirror sample".into()),
        indicators: values
            .into_iter()
            .enumerate()
            .map(|(i, (value, cidr_range))| IndicatorSpec {
                id: format!("example:indicator-{i}"),
                timestamp: stamp.clone(),
                title: Some(format!("{} sample", value.value)),
                description: Some("sample indicator".into()),
                observable_id: format!("example:Observable-{i}"),
                object_id: format!("example:{}-{i}", object_word(value.kind)),
                observable_title: Some(format!("{} - {}", value.kind, value.value)),
                value,
                cidr_range,
                valid_until: (i % 2 == 0).then(|| stamp.clone()),
            })
            .collect(),
    }
}
