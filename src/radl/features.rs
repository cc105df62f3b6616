//! A set of features merged as IM's `Features.addFeature` merges them:
//! numbers narrow an interval, strings and lists must agree, `contains
//! (...)` groups are keyed by their inner `name`, EC3's `contains 'text'`
//! collects a list, and `soft` blocks accumulate.

use super::ast::{self, FeatureItem, Number, Op, Value};
use super::units;
use crate::diagnostic::Diagnostic;
use crate::source::Span;
use indexmap::IndexMap;

#[derive(Clone, Debug, PartialEq, Default)]
pub struct FeatureSet {
    pub entries: IndexMap<String, Entry>,
    pub softs: Vec<SoftSet>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SoftSet {
    pub weight: Number,
    pub span: Span,
    pub features: FeatureSet,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// A number constraint: lower and upper bound (`=` sets both).
    Interval(Option<ast::Feature>, Option<ast::Feature>),
    /// A string, list or `'random(N)'` value.
    Single(ast::Feature),
    /// `contains (...)` groups, keyed by their `name` feature.
    Groups(IndexMap<Option<String>, Group>),
    /// EC3's `contains 'text'`: every text, in order, without repeats.
    Texts(Vec<(String, Span)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub span: Span,
    pub features: FeatureSet,
}

impl FeatureSet {
    /// Merges a written feature list; conflicts become diagnostics and the
    /// first value is kept.
    pub fn from_list(list: &ast::FeatureList, diags: &mut Vec<Diagnostic>) -> FeatureSet {
        let mut set = FeatureSet {
            entries: IndexMap::with_capacity(list.items.len()),
            softs: Vec::new(),
        };
        set.add_list(list, diags);
        set
    }

    pub fn add_list(&mut self, list: &ast::FeatureList, diags: &mut Vec<Diagnostic>) {
        for item in &list.items {
            match item {
                FeatureItem::Feature(f) => self.add(f, diags),
                FeatureItem::Soft(s) => self.softs.push(SoftSet {
                    weight: s.weight,
                    span: s.keyword.to(s.features.span),
                    features: FeatureSet::from_list(&s.features, diags),
                }),
            }
        }
    }

    /// Adds one feature (IM's `addFeature` with `conflict="error"`).
    pub fn add(&mut self, f: &ast::Feature, diags: &mut Vec<Diagnostic>) {
        let name = &f.name.text;
        match (&f.value, f.op) {
            (Value::Features(inner), _) => {
                let mut group = FeatureSet::from_list(inner, diags);
                let key = group.name_key();
                let entry = self
                    .entries
                    .entry(name.clone())
                    .or_insert_with(|| Entry::Groups(IndexMap::new()));
                let Entry::Groups(groups) = entry else {
                    diags.push(mixed_kinds(f, entry));
                    return;
                };
                match groups.get_mut(&key) {
                    Some(existing) => {
                        for item in &inner.items {
                            if let FeatureItem::Feature(g) = item {
                                existing.features.add(g, diags);
                            }
                        }
                        existing.features.softs.append(&mut group.softs);
                    }
                    None => {
                        groups.insert(
                            key,
                            Group {
                                span: f.span(),
                                features: group,
                            },
                        );
                    }
                }
            }
            (Value::String(s), Op::Contains) => {
                let entry = self
                    .entries
                    .entry(name.clone())
                    .or_insert_with(|| Entry::Texts(Vec::new()));
                let Entry::Texts(texts) = entry else {
                    diags.push(mixed_kinds(f, entry));
                    return;
                };
                if !texts.iter().any(|(t, _)| t == s) {
                    texts.push((s.clone(), f.value_span));
                }
            }
            (Value::Number(..), _) => {
                // Which bounds this feature sets.
                let (sets_lo, sets_hi) = match f.op {
                    Op::Eq => (true, true),
                    Op::Lt | Op::Le => (false, true),
                    _ => (true, false),
                };
                let entry = self
                    .entries
                    .entry(name.clone())
                    .or_insert(Entry::Interval(None, None));
                let Entry::Interval(lo, hi) = entry else {
                    diags.push(mixed_kinds(f, entry));
                    return;
                };
                let new = (sets_lo.then_some(f), sets_hi.then_some(f));
                match intersect((lo.as_ref(), hi.as_ref()), new) {
                    Some((take_lo, take_hi)) => {
                        // Only the bounds that change are copied.
                        if take_lo {
                            *lo = new.0.cloned();
                        }
                        if take_hi {
                            *hi = new.1.cloned();
                        }
                    }
                    None => {
                        let mut d = Diagnostic::error(
                            f.span(),
                            format!(
                                "`{name}` cannot satisfy this and an earlier constraint at once"
                            ),
                        );
                        for b in [lo.as_ref(), hi.as_ref()].into_iter().flatten() {
                            if d.related.iter().all(|(s, _)| *s != b.span()) {
                                d = d.with_related(b.span(), "the earlier constraint");
                            }
                        }
                        diags.push(d);
                    }
                }
            }
            _ => match self.entries.get(name) {
                None => {
                    self.entries.insert(name.clone(), Entry::Single(f.clone()));
                }
                Some(Entry::Single(old)) if old.value == f.value => {}
                Some(Entry::Single(old)) => diags.push(
                    Diagnostic::error(
                        f.span(),
                        format!(
                            "`{name}` is already set to {}; a feature takes one value",
                            describe_value(&old.value)
                        ),
                    )
                    .with_related(old.span(), "first set")
                    .with_note("help: remove one of the two values"),
                ),
                Some(other) => diags.push(mixed_kinds(f, other)),
            },
        }
    }

    /// The value of this group's `name` feature, the key IM groups
    /// `contains (...)` blocks by.
    fn name_key(&self) -> Option<String> {
        match self.entries.get("name")? {
            Entry::Single(f) => Some(describe_value(&f.value)),
            Entry::Interval(Some(f), _) | Entry::Interval(None, Some(f)) => {
                Some(describe_value(&f.value))
            }
            _ => None,
        }
    }

    /// The string value of a feature, if it has one.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        match self.entries.get(name)? {
            Entry::Single(ast::Feature {
                value: Value::String(s),
                ..
            }) => Some(s),
            _ => None,
        }
    }

    /// The written feature behind an entry (its first bound for intervals).
    pub fn feature(&self, name: &str) -> Option<&ast::Feature> {
        match self.entries.get(name)? {
            Entry::Single(f) => Some(f),
            Entry::Interval(lo, hi) => lo.as_ref().or(hi.as_ref()),
            _ => None,
        }
    }

    /// Numeric value (scaled by its unit) of a feature: the lower bound if
    /// any, else the upper bound.
    pub fn get_number(&self, name: &str) -> Option<Number> {
        match self.entries.get(name)? {
            Entry::Interval(lo, hi) => lo.as_ref().or(hi.as_ref()).and_then(number_of),
            _ => None,
        }
    }
}

/// A number feature's value times its unit (IM's `getValue()`).
pub fn number_of(f: &ast::Feature) -> Option<Number> {
    match &f.value {
        Value::Number(n, unit) => Some(units::scaled(*n, unit.as_ref().map(|u| u.text.as_str()))),
        _ => None,
    }
}

fn mixed_kinds(f: &ast::Feature, existing: &Entry) -> Diagnostic {
    let was = match existing {
        Entry::Interval(..) => "a number",
        Entry::Single(_) => "a single value",
        Entry::Groups(_) => "a `contains (...)` group",
        Entry::Texts(_) => "a `contains 'text'` list",
    };
    Diagnostic::error(
        f.span(),
        format!(
            "`{}` was given earlier as {was}; it cannot also be {}",
            f.name.text,
            match (&f.value, f.op) {
                (Value::Number(..), _) => "a number",
                (Value::Features(_), _) => "a `contains (...)` group",
                (Value::String(_), Op::Contains) => "a `contains 'text'` list",
                _ => "a single value",
            }
        ),
    )
}

/// A value as it would be written, for messages.
pub fn describe_value(v: &Value) -> String {
    match v {
        Value::Number(n, unit) => format!(
            "{}{}",
            super::printer::number(*n),
            unit.as_ref().map_or("", |u| u.text.as_str())
        ),
        Value::String(s) => super::printer::quote(s),
        Value::List(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|s| super::printer::quote(s))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Features(_) => "(...)".to_string(),
        Value::Random(n) => format!("'random({n})'"),
        Value::Reference(kind, name) => format!("{} {}", kind.keyword(), name.text),
    }
}

type Bounds<'f> = (Option<&'f ast::Feature>, Option<&'f ast::Feature>);

/// IM's `_applyInter` with `conflict="error"`: the constraint of the first
/// interval narrowed by the second, or `None` when they are disjoint. The
/// answer says, for the lower and the upper bound, whether the second
/// interval's bound replaces the first's.
fn intersect(old: Bounds, new: Bounds) -> Option<(bool, bool)> {
    // IM writes an absent bound as -2^63 on both ends and tests for it.
    const NONE: f64 = -9.223_372_036_854_776e18;
    let v = |f: Option<&ast::Feature>| f.and_then(number_of).map_or(NONE, |n| n.as_f64());
    let (a0, a1, b0, b1) = (v(old.0), v(old.1), v(new.0), v(new.1));
    let le00 = a0 <= b0;
    let le01 = b1 == NONE || a0 <= b1;
    let le11 = b1 == NONE || (a1 != NONE && a1 <= b1);
    let ge00 = !le00 || a0 == b0;
    let ge10 = a1 == NONE || a1 >= b0;
    if le00 && ge10 && le11 {
        Some((true, false))
    } else if le00 && ge10 {
        Some((true, true))
    } else if ge00 && le01 && le11 {
        Some((false, false))
    } else if ge00 && le01 {
        Some((false, true))
    } else {
        None
    }
}
