//! Reading a team's list files for `taxii-mirror import`: plain lists (one value per line,
//! `#` comments) and CSV (a value column, optional type, description and expiry columns,
//! with or without a header line).
//!
//! Every value is typed and put in canonical form by `stix::detect`; what does not parse is
//! reported with its line. Nothing here touches the store: the command line reads and checks
//! the files, then sends the values to the running server.

use std::path::Path;

use crate::detect::{self, Rejection};
use crate::Indicator;
use taxii::Timestamp;

/// One accepted value and the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListValue {
    pub line: usize,
    pub indicator: Indicator,
    pub description: Option<String>,
    pub valid_until: Option<Timestamp>,
}

/// A line that was not accepted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

/// What one file held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFile {
    /// Values to import, in file order.
    pub values: Vec<ListValue>,
    /// Lines that are not valid.
    pub errors: Vec<LineError>,
    /// Lines whose expiry is already past: valid, but not imported.
    pub expired: Vec<usize>,
    /// Whether the file was read as CSV.
    pub csv: bool,
}

/// Format of a list file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Csv(u8),
}

/// Read and check one list file. `now` decides which expiry dates are past.
pub fn read_file(path: &Path, now: Timestamp) -> Result<ListFile, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    read_bytes(path, bytes, now)
}

/// [`read_file`] on the bytes of a file already read (`path` names it in errors and decides
/// the format by its extension).
pub fn read_bytes(path: &Path, bytes: Vec<u8>, now: Timestamp) -> Result<ListFile, String> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(format!(
            "{}:1: UTF-16 text; save the list as UTF-8",
            path.display()
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = upto.iter().filter(|b| **b == b'\n').count() + 1;
        format!("{}:{line}: not UTF-8 text", path.display())
    })?;
    let format = format_of(path, &text);
    Ok(parse(&text, format, now))
}

/// The format of a file: by extension (`.csv`, `.tsv`; `.txt`, `.list`, `.lst` are plain),
/// else by its first line that is not blank or a comment: CSV when it has a comma (or a
/// semicolon and no comma) and its first field is a value or a column name.
pub fn format_of(path: &Path, text: &str) -> Format {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") => return Format::Csv(sniff_delimiter(text)),
        Some("tsv") => return Format::Csv(b'\t'),
        Some("txt" | "list" | "lst") => return Format::Plain,
        _ => {}
    }
    let Some(first) = text
        .lines()
        .map(|l| l.trim_start_matches('\u{feff}').trim())
        .find(|l| !l.is_empty() && !l.starts_with('#'))
    else {
        return Format::Plain;
    };
    let delimiter = sniff_delimiter(first);
    match first.split_once(delimiter as char) {
        Some((head, _)) => {
            let head = head.trim().trim_matches('"');
            if detect::detect(head).is_ok() || column_of(head).is_some() {
                Format::Csv(delimiter)
            } else {
                Format::Plain
            }
        }
        None => Format::Plain,
    }
}

fn sniff_delimiter(text: &str) -> u8 {
    let first = text.lines().next().unwrap_or("");
    if !first.contains(',') && first.contains(';') {
        b';'
    } else if !first.contains(',') && first.contains('\t') {
        b'\t'
    } else {
        b','
    }
}

/// Parse list text in the given format.
pub fn parse(text: &str, format: Format, now: Timestamp) -> ListFile {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        Format::Plain => parse_plain(text),
        Format::Csv(delimiter) => parse_csv(text, delimiter, now),
    }
}

fn parse_plain(text: &str) -> ListFile {
    let mut out = ListFile::default();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let value = strip_comment(raw).trim();
        if value.is_empty() {
            continue;
        }
        match detect::detect(value) {
            Ok(indicator) => out.values.push(ListValue {
                line,
                indicator,
                description: None,
                valid_until: None,
            }),
            Err(why) => out.errors.push(rejected(line, value, &why)),
        }
    }
    out
}

/// A line without its comment: `#` at the start, or after white space (a `#` inside a
/// URL is a fragment, not a comment).
fn strip_comment(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') {
        return "";
    }
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && i > 0 && bytes[i - 1].is_ascii_whitespace() {
            return &line[..i];
        }
    }
    line
}

fn rejected(line: usize, value: &str, why: &Rejection) -> LineError {
    LineError {
        line,
        message: format!("{}: {why}", shown(value)),
    }
}

/// A value as shown in a message: quoted, cut to 80 characters.
fn shown(value: &str) -> String {
    match value.char_indices().nth(80) {
        Some((cut, _)) => format!("{:?}...", &value[..cut]),
        None => format!("{value:?}"),
    }
}

/// Columns a CSV file may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Value,
    Type,
    Description,
    Expiry,
    /// A column we do not read, or a repeated one.
    Unused,
}

/// The column a header name stands for.
fn column_of(name: &str) -> Option<Column> {
    let norm: String = name
        .trim()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    Some(match norm.as_str() {
        "value" | "indicator" | "ioc" | "iocvalue" | "indicatorvalue" | "observable" => {
            Column::Value
        }
        "type" | "kind" | "indicatortype" | "ioctype" | "valuetype" => Column::Type,
        "description" | "comment" | "comments" | "note" | "notes" | "title" => Column::Description,
        "expiry" | "expires" | "expiration" | "expirationdate" | "expiresat" | "validuntil" => {
            Column::Expiry
        }
        _ => return None,
    })
}

fn parse_csv(text: &str, delimiter: u8, now: Timestamp) -> ListFile {
    let mut out = ListFile {
        csv: true,
        ..ListFile::default()
    };
    let (records, unterminated) = records(text, delimiter);
    let mut records = records.into_iter().peekable();

    // A first record none of whose fields is a value, with at least one column name, is a
    // header; without one the columns are value, type, description, expiry.
    let mut columns = vec![
        Column::Value,
        Column::Type,
        Column::Description,
        Column::Expiry,
    ];
    if let Some((line, first)) = records.peek() {
        let named: Vec<Option<Column>> = first.iter().map(|f| column_of(f)).collect();
        let any_value = first.iter().any(|f| detect::detect(f).is_ok());
        if !any_value && named.iter().any(Option::is_some) {
            let line = *line;
            if !named.contains(&Some(Column::Value)) {
                out.errors.push(LineError {
                    line,
                    message: "header has no value column (value, indicator or ioc)".into(),
                });
                return out;
            }
            // Unknown columns are ignored; the first of each kind counts.
            let mut seen = Vec::new();
            columns = named
                .into_iter()
                .map(|c| match c {
                    Some(c) if !seen.contains(&c) => {
                        seen.push(c);
                        c
                    }
                    _ => Column::Unused,
                })
                .collect();
            records.next();
        }
    }

    for (line, fields) in records {
        let get = |want: Column| {
            columns
                .iter()
                .position(|c| *c == want)
                .and_then(|i| fields.get(i))
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
        };
        let Some(value) = get(Column::Value) else {
            if fields.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            out.errors.push(LineError {
                line,
                message: "no value in the value column".into(),
            });
            continue;
        };
        let typed = match get(Column::Type) {
            Some(kind) => detect::detect_as(kind, value),
            None => detect::detect(value),
        };
        let indicator = match typed {
            Ok(i) => i,
            Err(why) => {
                out.errors.push(rejected(line, value, &why));
                continue;
            }
        };
        let valid_until = match get(Column::Expiry).map(parse_expiry) {
            None => None,
            Some(Ok(t)) => Some(t),
            Some(Err(())) => {
                out.errors.push(LineError {
                    line,
                    message: format!(
                        "expiry {}: not a date (YYYY-MM-DD) or RFC 3339 time",
                        shown(get(Column::Expiry).unwrap_or_default())
                    ),
                });
                continue;
            }
        };
        if valid_until.is_some_and(|t| t <= now) {
            out.expired.push(line);
            continue;
        }
        out.values.push(ListValue {
            line,
            indicator,
            description: get(Column::Description).map(str::to_owned),
            valid_until,
        });
    }
    if let Some(line) = unterminated {
        out.errors.push(LineError {
            line,
            message: "quoted field is not closed before the end of the file".into(),
        });
    }
    out
}

/// An expiry: `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time (UTC when it has no zone).
fn parse_expiry(text: &str) -> Result<Timestamp, ()> {
    let is_date = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let full = if is_date {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    Timestamp::parse_assume_utc(&full).map_err(|_| ())
}

/// Split CSV text into records with the line each starts on. Quoted fields may hold the
/// delimiter, doubled quotes and line breaks; lines starting with `#` are comments. Also
/// returns the line of a quote left open at the end, if any.
fn records(text: &str, delimiter: u8) -> (Vec<(usize, Vec<String>)>, Option<usize>) {
    let delimiter = delimiter as char;
    let mut out = Vec::new();
    let mut line = 1usize;
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let start = line;
        // A comment line (outside quotes, at the start of a record).
        if chars.peek() == Some(&'#') {
            for c in chars.by_ref() {
                if c == '\n' {
                    line += 1;
                    break;
                }
            }
            continue;
        }
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut at_field_start = true;
        loop {
            let Some(c) = chars.next() else {
                if quoted {
                    return (out, Some(start));
                }
                break;
            };
            if quoted {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        field.push('"');
                    } else {
                        quoted = false;
                    }
                } else {
                    if c == '\n' {
                        line += 1;
                    }
                    field.push(c);
                }
                continue;
            }
            match c {
                '"' if at_field_start => {
                    field.clear();
                    quoted = true;
                    at_field_start = false;
                }
                c if c == delimiter => {
                    fields.push(std::mem::take(&mut field));
                    at_field_start = true;
                }
                '\n' => {
                    line += 1;
                    break;
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                ' ' | '\t' if at_field_start => field.push(c),
                _ => {
                    field.push(c);
                    at_field_start = false;
                }
            }
        }
        fields.push(field);
        if fields.len() == 1 && fields[0].trim().is_empty() {
            continue;
        }
        out.push((start, fields));
    }
    (out, None)
}

#[cfg(test)]
#[path = "list_file_tests.rs"]
mod tests;
