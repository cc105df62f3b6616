//! The JSON form of a document, as the `radl` package's
//! `radl_json.dump_radl` writes it: a list of `{class, id, ...}` objects
//! (ansible hosts, networks, systems, configures, deploys, then
//! contextualize and descriptions), numbers scaled by their units, ranges
//! as `NAME_min` / `NAME_max`.
//!
//! Two deliberate differences: when a number has both a lower and an
//! upper bound, both `_min` and `_max` are written (IM drops the upper
//! one); EC3's `include` aspects and `contains 'text'` lists (written as a
//! list of strings, in first-seen order) are included.

use super::ast::{ConfigureBody, Number, Value};
use super::document::{AspectDef, Document};
use super::features::{Entry, FeatureSet, number_of};
use serde_json::{Map, Value as Json, json};

/// The whole document as JSON.
pub fn to_json(doc: &Document) -> Json {
    let mut out = Vec::new();
    for a in doc
        .ansible_hosts
        .iter()
        .chain(&doc.networks)
        .chain(&doc.systems)
    {
        out.push(aspect(a));
    }
    for c in &doc.configures {
        out.push(match &c.body {
            ConfigureBody::Reference => {
                json!({"class": "configure", "id": c.name, "reference": true})
            }
            ConfigureBody::Empty => json!({"class": "configure", "id": c.name, "recipes": null}),
            ConfigureBody::Recipe { text, .. } => {
                json!({"class": "configure", "id": c.name, "recipes": text})
            }
        });
    }
    for d in &doc.deploys {
        let mut o =
            json!({"class": "deploy", "system": d.system.text, "vm_number": number(d.count.0)});
        if let Some(cloud) = &d.cloud {
            o["cloud"] = json!(cloud.text);
        }
        out.push(o);
    }
    if let Some(ctx) = &doc.contextualize {
        let mut o = json!({"class": "contextualize"});
        if let Some((n, _)) = ctx.max_time
            && n.as_f64() != 0.0
        {
            o["max_time"] = number(n);
        }
        if !ctx.items.is_empty() {
            let items: Vec<Json> = ctx
                .items
                .values()
                .map(|i| {
                    let mut r = json!({"system": i.system.text, "configure": i.configure.text});
                    if let Some((n, _)) = i.step
                        && n.as_f64() != 0.0
                    {
                        r["step"] = number(n);
                    }
                    if let Some(t) = &i.tool {
                        r["ctxt_tool"] = json!(t.text);
                    }
                    r
                })
                .collect();
            o["items"] = Json::Array(items);
        }
        if !ctx.options.entries.is_empty() {
            o["options"] = Json::Object(features(&ctx.options));
        }
        out.push(o);
    }
    for a in doc.includes.iter().chain(&doc.descriptions) {
        out.push(aspect(a));
    }
    Json::Array(out)
}

fn aspect(a: &AspectDef) -> Json {
    let mut o = Map::new();
    o.insert("class".into(), json!(a.kind.keyword()));
    o.insert("id".into(), json!(a.name));
    if a.reference {
        o.insert("reference".into(), json!(true));
    } else {
        o.extend(features(&a.features));
    }
    Json::Object(o)
}

/// A feature set as a JSON object (`name_min`/`name_max` for ranges).
pub fn features(set: &FeatureSet) -> Map<String, Json> {
    let mut o = Map::new();
    for (name, entry) in &set.entries {
        match entry {
            Entry::Interval(lo, hi) => {
                let lo = lo.as_ref().and_then(number_of);
                let hi = hi.as_ref().and_then(number_of);
                match (lo, hi) {
                    (Some(l), Some(h)) if l.as_f64() == h.as_f64() => {
                        o.insert(name.clone(), number(l));
                    }
                    (l, h) => {
                        if let Some(l) = l {
                            o.insert(format!("{name}_min"), number(l));
                        }
                        if let Some(h) = h {
                            o.insert(format!("{name}_max"), number(h));
                        }
                    }
                }
            }
            Entry::Single(f) => {
                o.insert(name.clone(), value(&f.value));
            }
            Entry::Groups(groups) => {
                let list = groups
                    .values()
                    .map(|g| Json::Object(features(&g.features)))
                    .collect();
                o.insert(name.clone(), Json::Array(list));
            }
            Entry::Texts(texts) => {
                o.insert(
                    name.clone(),
                    Json::Array(texts.iter().map(|(t, _)| json!(t)).collect()),
                );
            }
        }
    }
    if !set.softs.is_empty() {
        let softs = set
            .softs
            .iter()
            .map(|s| json!({"weight": number(s.weight), "items": Json::Object(features(&s.features))}))
            .collect();
        o.insert("softs".into(), Json::Array(softs));
    }
    o
}

fn value(v: &Value) -> Json {
    match v {
        Value::String(s) => json!(s),
        Value::List(items) => json!(items),
        Value::Random(n) => json!(random_string(*n as usize)),
        // EC3 writes a reference as the name it points to.
        Value::Reference(_, name) => json!(name.text),
        // Numbers and groups have their own entries; kept total for safety.
        Value::Number(n, _) => number(*n),
        Value::Features(_) => Json::Null,
    }
}

fn number(n: Number) -> Json {
    match n {
        Number::Int(i) => json!(i),
        Number::Float(f) => json!(f),
    }
}

/// `'random(N)'`: N letters and digits, drawn afresh each time as IM does.
fn random_string(n: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let state = std::collections::hash_map::RandomState::new();
    (0..n)
        .map(|i| {
            let mut h = state.build_hasher();
            h.write_usize(i);
            ALPHABET[(h.finish() % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}
