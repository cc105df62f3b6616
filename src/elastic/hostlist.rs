//! SLURM host lists: `wn-[1-3,5],front` is wn-1, wn-2, wn-3, wn-5, front.
//! Zero padding is kept (`n[01-02]` is n01, n02); several bracket groups
//! multiply.

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("bad host list {list:?}: {why}")]
pub struct HostlistError {
    pub list: String,
    pub why: String,
}

/// Expands a host list (several may be given, separated by commas or
/// whitespace).
pub fn expand(list: &str) -> Result<Vec<String>, HostlistError> {
    let err = |why: &str| HostlistError {
        list: list.to_string(),
        why: why.to_string(),
    };
    let mut out = Vec::new();
    let mut depth = 0;
    let mut item = String::new();
    let mut items = Vec::new();
    for c in list.chars() {
        match c {
            '[' => depth += 1,
            ']' if depth == 0 => return Err(err("`]` without `[`")),
            ']' => depth -= 1,
            _ => {}
        }
        if depth == 0 && (c == ',' || c.is_whitespace()) {
            if !item.is_empty() {
                items.push(std::mem::take(&mut item));
            }
        } else {
            item.push(c);
        }
    }
    if depth != 0 {
        return Err(err("`[` without `]`"));
    }
    if !item.is_empty() {
        items.push(item);
    }
    for item in items {
        out.extend(expand_one(&item).map_err(|w| err(&w))?);
    }
    if out.is_empty() {
        return Err(err("no host"));
    }
    Ok(out)
}

fn expand_one(item: &str) -> Result<Vec<String>, String> {
    let Some(open) = item.find('[') else {
        return Ok(vec![item.to_string()]);
    };
    let close = item[open..]
        .find(']')
        .map(|i| i + open)
        .ok_or("`[` without `]`")?;
    let prefix = &item[..open];
    let rest = expand_one(&item[close + 1..])?;
    let mut out = Vec::new();
    for range in item[open + 1..close].split(',') {
        let (lo, hi) = range.split_once('-').unwrap_or((range, range));
        let width = lo.len();
        let (a, b): (u64, u64) = match (lo.parse(), hi.parse()) {
            (Ok(a), Ok(b)) if a <= b && b - a < 100_000 => (a, b),
            _ => return Err(format!("`{range}` is not a number or a range of numbers")),
        };
        for n in a..=b {
            for r in &rest {
                out.push(format!("{prefix}{n:0width$}{r}"));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_expand() {
        assert_eq!(
            expand("wn-[1-3,5],front").unwrap(),
            ["wn-1", "wn-2", "wn-3", "wn-5", "front"]
        );
        assert_eq!(expand("n[01-02] x").unwrap(), ["n01", "n02", "x"]);
        assert_eq!(
            expand("r[1-2]c[1-2]").unwrap(),
            ["r1c1", "r1c2", "r2c1", "r2c2"]
        );
        assert!(expand("wn-[3-1]").is_err());
        assert!(expand("wn-[1").is_err());
        assert!(expand("").is_err());
    }
}
