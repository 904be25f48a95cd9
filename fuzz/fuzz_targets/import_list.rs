//! Whole list files as `taxii-mirror import` reads them (plain lists, CSV with or without a
//! header, any bytes): never a panic; a refused file is named in its error; every line
//! number points into the file; every accepted value is canonical, unexpired, and reads back
//! as itself when written out as a plain list.
#![no_main]
#![forbid(unsafe_code)]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use stix::detect::canonical;
use stix::list_file::{parse, read_bytes, Format};
use taxii::Timestamp;

/// The first byte picks the file name, so the extension rules and the sniffing both run.
const NAMES: [&str; 5] = ["list", "list.txt", "list.csv", "list.tsv", "values.lst"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(pick) % NAMES.len()];
    let now = Timestamp::from_micros(1_800_000_000_000_000);
    let file = match read_bytes(Path::new(name), body.to_vec(), now) {
        Ok(file) => file,
        Err(e) => {
            assert!(e.starts_with(&format!("{name}:")), "{e:?} does not name the file");
            return;
        }
    };
    let text = std::str::from_utf8(body).expect("an accepted file is UTF-8");
    let lines = text.split('\n').count();
    let in_file = |line: usize| (1..=lines).contains(&line);
    let mut previous = 0;
    for v in &file.values {
        assert!(in_file(v.line), "value on line {} of {lines}", v.line);
        assert!(v.line >= previous, "values out of file order");
        previous = v.line;
        let i = &v.indicator;
        assert_eq!(
            canonical(i.kind, &i.value).as_deref(),
            Some(i.value.as_str()),
            "{:?} {:?} is not canonical",
            i.kind,
            i.value
        );
        assert!(v.valid_until.is_none_or(|t| t > now), "an expired value was kept");
    }
    for e in &file.errors {
        assert!(in_file(e.line), "error on line {} of {lines}", e.line);
        assert!(!e.message.is_empty());
    }
    for line in &file.expired {
        assert!(in_file(*line), "expired line {line} of {lines}");
    }

    // What was accepted, written out one value a line, reads back as the same values.
    let written: String = file
        .values
        .iter()
        .map(|v| format!("{}\n", v.indicator.value))
        .collect();
    let again = parse(&written, Format::Plain, now);
    assert!(again.errors.is_empty(), "written back: {:?}", again.errors);
    let before: Vec<_> = file.values.iter().map(|v| &v.indicator).collect();
    let after: Vec<_> = again.values.iter().map(|v| &v.indicator).collect();
    assert_eq!(before, after, "values changed when written back as a plain list");
});
