//! Constraint clauses (`equal`, `greater_than`, `in_range`, `valid_values`,
//! `length`, `pattern`, ...) checked on a value of a known type: property
//! values, data type fields and input values.
//!
//! Numbers compare as numbers, scalar-units in their base unit, anything
//! else as text; a clause nubo cannot evaluate (a function call, a value of
//! an unknown shape) is not reported, the type check reports bad values.

use super::check::scalar_unit;
use super::yaml::{Node, Value};
use crate::diagnostic::Diagnostic;
use std::cmp::Ordering;

/// The clause names TOSCA defines.
pub const NAMES: &[&str] = &[
    "equal",
    "greater_than",
    "greater_or_equal",
    "less_than",
    "less_or_equal",
    "in_range",
    "valid_values",
    "length",
    "min_length",
    "max_length",
    "pattern",
    "schema",
];

/// Checks `v` (of type `ty`) against each clause of `constraints`; `what`
/// names the value in messages, and each error points at the value with
/// the clause as related place.
pub fn check(v: &Node, ty: &str, constraints: &[Node], what: &str, diags: &mut Vec<Diagnostic>) {
    if super::functions::call(v).is_some() {
        return;
    }
    for c in constraints {
        let Some([(k, arg)]) = c.as_map() else {
            continue;
        };
        let Some(name) = k.as_str() else { continue };
        if let Some(problem) = clause(v, ty, name, arg) {
            diags.push(
                Diagnostic::error(v.span, format!("{what} {problem}"))
                    .with_related(c.span, format!("the constraint `{name}`")),
            );
        }
    }
}

/// What is wrong with `v` under one clause, if anything.
fn clause(v: &Node, ty: &str, name: &str, arg: &Node) -> Option<String> {
    let show = |n: &Node| super::functions::text(n).unwrap_or_else(|| n.kind().to_string());
    let cmp_to = |bound: &Node| compare(v, bound, ty);
    match name {
        "equal" => (cmp_to(arg)? != Ordering::Equal)
            .then(|| format!("must equal {}, found {}", show(arg), show(v))),
        "greater_than" => (cmp_to(arg)? != Ordering::Greater)
            .then(|| format!("must be greater than {}, found {}", show(arg), show(v))),
        "greater_or_equal" => (cmp_to(arg)? == Ordering::Less)
            .then(|| format!("must be at least {}, found {}", show(arg), show(v))),
        "less_than" => (cmp_to(arg)? != Ordering::Less)
            .then(|| format!("must be less than {}, found {}", show(arg), show(v))),
        "less_or_equal" => (cmp_to(arg)? == Ordering::Greater)
            .then(|| format!("must be at most {}, found {}", show(arg), show(v))),
        "in_range" => {
            let [lo, hi] = arg.as_seq()? else {
                return None;
            };
            let below = lo.as_str() != Some("UNBOUNDED") && cmp_to(lo)? == Ordering::Less;
            let above = hi.as_str() != Some("UNBOUNDED") && cmp_to(hi)? == Ordering::Greater;
            (below || above).then(|| {
                format!(
                    "must be in the range [{}, {}], found {}",
                    show(lo),
                    show(hi),
                    show(v)
                )
            })
        }
        "valid_values" => {
            let values = arg.as_seq()?;
            let found = values
                .iter()
                .any(|a| compare(v, a, ty) == Some(Ordering::Equal));
            (!found).then(|| {
                format!(
                    "must be one of {}, found {}",
                    values.iter().map(show).collect::<Vec<_>>().join(", "),
                    show(v)
                )
            })
        }
        "length" | "min_length" | "max_length" => {
            let want = usize::try_from(match arg.value {
                Value::Int(i) => i,
                _ => return None,
            })
            .ok()?;
            let len = length(v)?;
            let bad = match name {
                "length" => len != want,
                "min_length" => len < want,
                _ => len > want,
            };
            bad.then(|| {
                let rule = match name {
                    "length" => "exactly",
                    "min_length" => "at least",
                    _ => "at most",
                };
                format!("must have a length of {rule} {want}, found {len}")
            })
        }
        "pattern" => {
            let pattern = arg.as_str()?;
            let text = v.as_str()?;
            let re = regex::Regex::new(&format!("^(?:{pattern})$")).ok()?;
            (!re.is_match(text))
                .then(|| format!("must match the pattern `{pattern}`, found {text:?}"))
        }
        _ => None,
    }
}

fn length(v: &Node) -> Option<usize> {
    match &v.value {
        Value::Str(s) => Some(s.chars().count()),
        Value::Seq(items) => Some(items.len()),
        Value::Map(entries) => Some(entries.len()),
        _ => None,
    }
}

/// Orders a value against a clause's argument: numerically for numbers and
/// scalar-units, else as text; `None` when they cannot be compared.
fn compare(v: &Node, bound: &Node, ty: &str) -> Option<Ordering> {
    if ty.starts_with("scalar-unit.") {
        let a = scalar_unit(v, ty)?;
        let b = scalar_unit(bound, ty)?;
        return a.partial_cmp(&b);
    }
    let num = |n: &Node| match &n.value {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Str(s) if matches!(ty, "integer" | "float") => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    if let (Some(a), Some(b)) = (num(v), num(bound)) {
        return a.partial_cmp(&b);
    }
    match (&v.value, &bound.value) {
        (Value::Seq(_) | Value::Map(_), _) | (_, Value::Seq(_) | Value::Map(_)) => None,
        _ => Some(v.scalar_text()?.cmp(&bound.scalar_text()?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    fn node(text: &str) -> Node {
        yaml::parse(FileId(0), text).0.expect("a value")
    }

    fn problems(value: &str, ty: &str, constraints: &str) -> Vec<String> {
        let mut diags = Vec::new();
        let cs = node(constraints);
        check(&node(value), ty, cs.as_seq().unwrap(), "`x`", &mut diags);
        diags.into_iter().map(|d| d.message).collect()
    }

    use super::super::yaml;

    #[test]
    fn ranges_and_comparisons_hold_or_name_the_bound() {
        assert!(problems("5", "integer", "[ {in_range: [1, 10]} ]").is_empty());
        assert_eq!(
            problems("0", "integer", "[ {in_range: [1, 10]} ]"),
            ["`x` must be in the range [1, 10], found 0"]
        );
        assert!(problems("70000", "integer", "[ {in_range: [1, UNBOUNDED]} ]").is_empty());
        assert_eq!(
            problems("3", "integer", "[ {greater_than: 3} ]"),
            ["`x` must be greater than 3, found 3"]
        );
        assert!(problems("3", "integer", "[ {less_or_equal: 3} ]").is_empty());
        assert_eq!(problems("4", "integer", "[ {less_or_equal: 3} ]").len(), 1);
    }

    #[test]
    fn scalar_units_compare_in_their_base_unit() {
        assert!(
            problems(
                "2 GB",
                "scalar-unit.size",
                "[ {greater_or_equal: 1024 MB} ]"
            )
            .is_empty()
        );
        assert_eq!(
            problems("512 MB", "scalar-unit.size", "[ {greater_or_equal: 1 GB} ]"),
            ["`x` must be at least 1 GB, found 512 MB"]
        );
    }

    #[test]
    fn valid_values_lengths_and_patterns() {
        assert!(problems("b", "string", "[ {valid_values: [a, b]} ]").is_empty());
        assert_eq!(
            problems("c", "string", "[ {valid_values: [a, b]} ]"),
            ["`x` must be one of a, b, found c"]
        );
        assert!(problems("abc", "string", "[ {length: 3} ]").is_empty());
        assert_eq!(problems("abcd", "string", "[ {max_length: 3} ]").len(), 1);
        assert_eq!(problems("[1]", "list", "[ {min_length: 2} ]").len(), 1);
        assert!(problems("web-1", "string", "[ {pattern: '[a-z]+-[0-9]'} ]").is_empty());
        assert_eq!(
            problems("web-1x", "string", "[ {pattern: '[a-z]+-[0-9]'} ]"),
            ["`x` must match the pattern `[a-z]+-[0-9]`, found \"web-1x\""]
        );
    }

    #[test]
    fn a_function_is_not_checked() {
        assert!(problems("{get_input: n}", "integer", "[ {in_range: [1, 2]} ]").is_empty());
    }
}
