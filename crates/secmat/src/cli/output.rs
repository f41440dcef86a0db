//! How the CLI prints: aligned tables, escaped values, OData dates as UTC.

/// Left-aligned columns, two spaces apart, every line starting with `indent`.
pub fn table(headers: &[&str], rows: &[Vec<String>], indent: &str) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut s = indent.to_owned();
        for (i, (cell, w)) in cells.into_iter().zip(&widths).enumerate() {
            if i == last {
                s += cell;
            } else {
                let pad = w.saturating_sub(cell.chars().count());
                s += cell;
                s.extend(std::iter::repeat_n(' ', pad + 2));
            }
        }
        s + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}

/// A value for a table: `-` when unset; control characters escaped, so that a value cannot
/// break the layout or send escape sequences to the terminal.
pub fn text(v: &Option<String>) -> String {
    match v.as_deref() {
        Some(s) if !s.is_empty() => clean(s),
        _ => "-".to_owned(),
    }
}

pub fn clean(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// `/Date(1700000000000)/` (optionally with an offset, `/Date(…+0000)/`) as UTC
/// `YYYY-MM-DD HH:MM:SS`; anything else as it is.
pub fn odata_date(raw: &str) -> String {
    let ms = raw
        .strip_prefix("/Date(")
        .and_then(|r| r.strip_suffix(")/"))
        .map(|r| {
            let end = r
                .char_indices()
                .skip(1)
                .find(|(_, c)| !c.is_ascii_digit())
                .map_or(r.len(), |(i, _)| i);
            &r[..end]
        })
        .and_then(|n| n.parse::<i64>().ok());
    match ms {
        Some(ms) => utc(ms),
        None => clean(raw),
    }
}

/// Milliseconds since the Unix epoch as UTC `YYYY-MM-DD HH:MM:SS`.
pub fn utc(ms: i64) -> String {
    secmat_core::clock::rfc3339(ms)
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20");
        assert_eq!(utc(-1), "1969-12-31 23:59:59");
        assert_eq!(utc(4_107_542_399_000), "2100-02-28 23:59:59");
        assert_eq!(odata_date("/Date(1700000000000)/"), "2023-11-14 22:13:20");
        assert_eq!(
            odata_date("/Date(1700000000000+0000)/"),
            "2023-11-14 22:13:20"
        );
        assert_eq!(odata_date("yesterday"), "yesterday");
    }
}
