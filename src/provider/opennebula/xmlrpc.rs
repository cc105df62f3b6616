//! An XML-RPC codec, written against the XML-RPC specification: method
//! calls and responses with string, int (`i4`, `int`, and the common `i8`
//! extension), boolean, double, dateTime.iso8601, base64 (kept as text),
//! array and struct values, `<nil/>` (an extension some servers send), and
//! faults.
//!
//! Both directions are here, calls and responses, so the test emulator can
//! serve what the client sends. A `<value>` without a type element is a
//! string, as the specification says.
//!
//! `Debug` of a [`Value`] shows everything: the session string is a value
//! too, so calls are never logged with their parameters.

use std::fmt::Write as _;

use super::error::OneError;
use super::xml::{self, Element};

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Bool(bool),
    String(String),
    Double(f64),
    DateTime(String),
    Base64(String),
    Array(Vec<Value>),
    Struct(Vec<(String, Value)>),
    Nil,
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// A struct member by name.
    pub fn member(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(m) => m.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// What a response carries: a value, or a fault.
#[derive(Clone, Debug, PartialEq)]
pub enum Response {
    Value(Value),
    Fault { code: i64, message: String },
}

fn write_value(out: &mut String, v: &Value) {
    out.push_str("<value>");
    match v {
        Value::Int(i) if i32::try_from(*i).is_ok() => {
            let _ = write!(out, "<int>{i}</int>");
        }
        Value::Int(i) => {
            let _ = write!(out, "<i8>{i}</i8>");
        }
        Value::Bool(b) => {
            let _ = write!(out, "<boolean>{}</boolean>", u8::from(*b));
        }
        Value::String(s) => {
            let _ = write!(out, "<string>{}</string>", xml::escape(s));
        }
        Value::Double(d) => {
            let _ = write!(out, "<double>{d:?}</double>");
        }
        Value::DateTime(s) => {
            let _ = write!(
                out,
                "<dateTime.iso8601>{}</dateTime.iso8601>",
                xml::escape(s)
            );
        }
        Value::Base64(s) => {
            let _ = write!(out, "<base64>{}</base64>", xml::escape(s));
        }
        Value::Array(items) => {
            out.push_str("<array><data>");
            for item in items {
                write_value(out, item);
            }
            out.push_str("</data></array>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>");
            for (name, value) in members {
                let _ = write!(out, "<member><name>{}</name>", xml::escape(name));
                write_value(out, value);
                out.push_str("</member>");
            }
            out.push_str("</struct>");
        }
        Value::Nil => out.push_str("<nil/>"),
    }
    out.push_str("</value>");
}

/// A `<methodCall>` document.
pub fn encode_call(method: &str, params: &[Value]) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodCall><methodName>");
    out.push_str(&xml::escape(method));
    out.push_str("</methodName><params>");
    for p in params {
        out.push_str("<param>");
        write_value(&mut out, p);
        out.push_str("</param>");
    }
    out.push_str("</params></methodCall>\n");
    out
}

/// A `<methodResponse>` with one value.
pub fn encode_response(value: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodResponse><params><param>");
    write_value(&mut out, value);
    out.push_str("</param></params></methodResponse>\n");
    out
}

/// A `<methodResponse>` with a fault.
pub fn encode_fault(code: i64, message: &str) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodResponse><fault>");
    write_value(
        &mut out,
        &Value::Struct(vec![
            ("faultCode".into(), Value::Int(code)),
            ("faultString".into(), Value::String(message.into())),
        ]),
    );
    out.push_str("</fault></methodResponse>\n");
    out
}

fn bad(message: impl Into<String>) -> OneError {
    OneError::Malformed {
        method: None,
        message: message.into(),
    }
}

/// Reads a `<value>` element.
fn read_value(e: &Element) -> Result<Value, OneError> {
    if e.name != "value" {
        return Err(bad(format!("expected <value>, found <{}>", e.name)));
    }
    let mut typed = e.elements();
    let Some(t) = typed.next() else {
        // No type element: a string.
        return Ok(Value::String(e.text()));
    };
    if typed.next().is_some() || e.has_text() {
        return Err(bad("a <value> holds one typed element"));
    }
    let text = t.text();
    let int = |s: &str| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| bad(format!("<{}> holds `{}`, not an integer", t.name, s.trim())))
    };
    Ok(match t.name.as_str() {
        "i4" | "int" => {
            let i = int(&text)?;
            i32::try_from(i).map_err(|_| bad(format!("<{}> {i} does not fit 32 bits", t.name)))?;
            Value::Int(i)
        }
        "i8" => Value::Int(int(&text)?),
        "boolean" => match text.trim() {
            "0" => Value::Bool(false),
            "1" => Value::Bool(true),
            other => return Err(bad(format!("<boolean> holds `{other}`, not 0 or 1"))),
        },
        "string" => Value::String(text),
        "double" => Value::Double(
            text.trim()
                .parse()
                .map_err(|_| bad(format!("<double> holds `{}`", text.trim())))?,
        ),
        "dateTime.iso8601" => Value::DateTime(text.trim().to_string()),
        "base64" => Value::Base64(text.split_whitespace().collect()),
        "nil" => Value::Nil,
        "array" => {
            let data = t
                .child("data")
                .ok_or_else(|| bad("<array> without <data>"))?;
            Value::Array(data.elements().map(read_value).collect::<Result<_, _>>()?)
        }
        "struct" => {
            let mut members = Vec::new();
            for m in t.elements() {
                if m.name != "member" {
                    return Err(bad(format!("<struct> holds <{}>", m.name)));
                }
                let name = m
                    .child("name")
                    .ok_or_else(|| bad("<member> without <name>"))?
                    .text();
                let value = m
                    .child("value")
                    .ok_or_else(|| bad("<member> without <value>"))?;
                members.push((name, read_value(value)?));
            }
            Value::Struct(members)
        }
        other => return Err(bad(format!("unknown value type <{other}>"))),
    })
}

/// Reads the `<params>` of a call or response.
fn read_params(params: &Element) -> Result<Vec<Value>, OneError> {
    params
        .elements()
        .map(|p| {
            if p.name != "param" {
                return Err(bad(format!("<params> holds <{}>", p.name)));
            }
            read_value(
                p.child("value")
                    .ok_or_else(|| bad("<param> without <value>"))?,
            )
        })
        .collect()
}

fn parse(doc: &str) -> Result<Element, OneError> {
    xml::parse(doc).map_err(|e| bad(format!("not XML: {e}")))
}

/// Reads a `<methodCall>`: the method name and its parameters.
pub fn decode_call(doc: &str) -> Result<(String, Vec<Value>), OneError> {
    let root = parse(doc)?;
    if root.name != "methodCall" {
        return Err(bad(format!("expected <methodCall>, found <{}>", root.name)));
    }
    let name = root
        .child_text("methodName")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("<methodCall> without <methodName>"))?;
    let params = match root.child("params") {
        Some(p) => read_params(p)?,
        None => Vec::new(),
    };
    Ok((name, params))
}

/// Reads a `<methodResponse>`: one value, or a fault.
pub fn decode_response(doc: &str) -> Result<Response, OneError> {
    let root = parse(doc)?;
    if root.name != "methodResponse" {
        return Err(bad(format!(
            "expected <methodResponse>, found <{}>",
            root.name
        )));
    }
    if let Some(fault) = root.child("fault") {
        let v = read_value(
            fault
                .child("value")
                .ok_or_else(|| bad("<fault> without <value>"))?,
        )?;
        let code = v
            .member("faultCode")
            .and_then(Value::as_i64)
            .ok_or_else(|| bad("fault without an integer faultCode"))?;
        let message = v
            .member("faultString")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        return Ok(Response::Fault { code, message });
    }
    let params = root
        .child("params")
        .ok_or_else(|| bad("<methodResponse> without <params> or <fault>"))?;
    let mut values = read_params(params)?;
    if values.len() != 1 {
        return Err(bad(format!(
            "a response holds one value, found {}",
            values.len()
        )));
    }
    Ok(Response::Value(values.remove(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_call() {
        let doc = encode_call(
            "one.vm.action",
            &[
                "alice:pw<&>".into(),
                "terminate-hard".into(),
                Value::Int(42),
                Value::Bool(true),
            ],
        );
        assert_eq!(
            doc,
            "<?xml version=\"1.0\"?>\n<methodCall><methodName>one.vm.action</methodName><params>\
             <param><value><string>alice:pw&lt;&amp;&gt;</string></value></param>\
             <param><value><string>terminate-hard</string></value></param>\
             <param><value><int>42</int></value></param>\
             <param><value><boolean>1</boolean></value></param>\
             </params></methodCall>\n"
        );
    }

    #[test]
    fn every_type_round_trips() {
        let params = vec![
            Value::String("  spaced\nout  ".into()),
            Value::String(String::new()),
            Value::Int(-7),
            Value::Int(1 << 40),
            Value::Bool(false),
            Value::Double(1.5),
            Value::DateTime("19980717T14:08:55".into()),
            Value::Base64("eW91IGNhbid0IHJlYWQgdGhpcyE=".into()),
            Value::Array(vec![Value::Int(1), Value::Array(vec![]), "x".into()]),
            Value::Struct(vec![
                ("a".into(), Value::Int(1)),
                ("b<".into(), Value::Struct(vec![])),
            ]),
            Value::Nil,
        ];
        let (method, back) = decode_call(&encode_call("m.x", &params)).unwrap();
        assert_eq!(method, "m.x");
        assert_eq!(back, params);
        for p in &params {
            assert_eq!(
                decode_response(&encode_response(p)).unwrap(),
                Response::Value(p.clone())
            );
        }
    }

    #[test]
    fn decodes_the_specifications_examples() {
        // A response as the XML-RPC specification shows it, with
        // whitespace between elements and an untyped value.
        let doc = r#"<?xml version="1.0"?>
<methodResponse>
   <params>
      <param>
         <value><array><data>
            <value><boolean>1</boolean></value>
            <value>South Dakota</value>
            <value><i4>0</i4></value>
         </data></array></value>
      </param>
   </params>
</methodResponse>"#;
        assert_eq!(
            decode_response(doc).unwrap(),
            Response::Value(Value::Array(vec![
                Value::Bool(true),
                Value::String("South Dakota".into()),
                Value::Int(0),
            ]))
        );
        let fault = r#"<?xml version="1.0"?>
<methodResponse>
   <fault>
      <value>
         <struct>
            <member>
               <name>faultCode</name>
               <value><int>4</int></value>
            </member>
            <member>
               <name>faultString</name>
               <value><string>Too many parameters.</string></value>
            </member>
         </struct>
      </value>
   </fault>
</methodResponse>"#;
        assert_eq!(
            decode_response(fault).unwrap(),
            Response::Fault {
                code: 4,
                message: "Too many parameters.".into()
            }
        );
        assert_eq!(
            decode_response(&encode_fault(-501, "type <mismatch>")).unwrap(),
            Response::Fault {
                code: -501,
                message: "type <mismatch>".into()
            }
        );
    }

    #[test]
    fn an_xml_document_inside_a_string() {
        // OpenNebula's info methods answer an escaped XML document.
        let inner = "<VM><ID>3</ID><NAME>a&b</NAME></VM>";
        let doc = encode_response(&Value::Array(vec![
            Value::Bool(true),
            inner.into(),
            Value::Int(0),
        ]));
        let Response::Value(v) = decode_response(&doc).unwrap() else {
            panic!()
        };
        assert_eq!(v.as_array().unwrap()[1].as_str(), Some(inner));
    }

    #[test]
    fn refuses_malformed_messages() {
        for bad in [
            "<methodResponse/>",
            "<methodResponse><params></params></methodResponse>",
            "<methodResponse><params><param><value><int>x</int></value></param></params></methodResponse>",
            "<methodResponse><params><param><value><int>9999999999</int></value></param></params></methodResponse>",
            "<methodResponse><params><param><value><boolean>2</boolean></value></param></params></methodResponse>",
            "<methodResponse><params><param><value><blob/></value></param></params></methodResponse>",
            "<methodResponse><params><param><value><array/></value></param></params></methodResponse>",
            "<methodResponse><fault><value><struct/></value></fault></methodResponse>",
            "<html>502 Bad Gateway</html>",
            "not xml at all",
        ] {
            assert!(decode_response(bad).is_err(), "{bad}");
        }
        assert!(decode_call("<methodCall><params/></methodCall>").is_err());
    }
}
