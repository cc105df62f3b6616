//! Units on numbers, computed as IM computes them: `K M G T` are powers of
//! 1000, `Ki Mi Gi Ti` powers of 1024, a trailing `B` is ignored, case is
//! ignored, and an unknown unit (`ECU`, `GCEU`) counts as 1.

use super::ast::Number;

/// The multiplier of a unit (IM's `UnitToValue`).
pub fn factor(unit: &str) -> u64 {
    let u = unit.to_ascii_uppercase();
    let u = u.strip_suffix('B').unwrap_or(&u);
    match u {
        "K" => 1_000,
        "KI" => 1 << 10,
        "M" => 1_000_000,
        "MI" => 1 << 20,
        "G" => 1_000_000_000,
        "GI" => 1 << 30,
        "T" => 1_000_000_000_000,
        "TI" => 1 << 40,
        _ => 1,
    }
}

/// `n` times its unit's factor. Integers stay integers (falling back to a
/// float on overflow), as Python's `int * int` would.
pub fn scaled(n: Number, unit: Option<&str>) -> Number {
    let f = unit.map_or(1, factor);
    match n {
        Number::Int(i) => match i.checked_mul(f as i64) {
            Some(v) => Number::Int(v),
            None => Number::Float(i as f64 * f as f64),
        },
        Number::Float(x) => Number::Float(x * f as f64),
    }
}

/// Units that IM accepts on sizes (`memory.size`, `disk.N.size`).
pub const SIZE_UNITS: &[&str] = &[
    "", "B", "K", "M", "G", "T", "KB", "MB", "GB", "TB", "KI", "MI", "GI", "TI", "KIB", "MIB",
    "GIB", "TIB",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_and_binary_units() {
        assert_eq!(
            scaled(Number::Int(512), Some("m")),
            Number::Int(512_000_000)
        );
        assert_eq!(
            scaled(Number::Int(1), Some("GB")),
            Number::Int(1_000_000_000)
        );
        assert_eq!(scaled(Number::Int(1024), Some("Mi")), Number::Int(1 << 30));
        assert_eq!(scaled(Number::Int(2), Some("GiB")), Number::Int(2 << 30));
        assert_eq!(scaled(Number::Float(1.5), Some("g")), Number::Float(1.5e9));
        assert_eq!(scaled(Number::Int(3), Some("ECU")), Number::Int(3));
    }
}
