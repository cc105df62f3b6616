//! A small XML tree, enough for XML-RPC messages and OpenNebula's
//! documents: elements and their text, no attributes, no namespaces.
//! Built from quick-xml's events; nesting is limited so hostile input
//! cannot exhaust the stack.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::Event;

/// Deeper nesting than this is refused.
const MAX_DEPTH: usize = 128;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub children: Vec<Node>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    fn new(name: &str) -> Self {
        Element {
            name: name.to_string(),
            children: Vec::new(),
        }
    }

    /// The child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    /// Every child element named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.name == name)
    }

    /// The element's own text (its text nodes joined; CDATA included).
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(t.as_str()),
                Node::Element(_) => None,
            })
            .collect()
    }

    /// The trimmed text of the first child named `name`.
    pub fn child_text(&self, name: &str) -> Option<String> {
        self.child(name).map(|e| e.text().trim().to_string())
    }

    /// Whether the element has text other than whitespace.
    pub fn has_text(&self) -> bool {
        self.children
            .iter()
            .any(|n| matches!(n, Node::Text(t) if !t.trim().is_empty()))
    }
}

/// Parses a document and returns its root element.
pub fn parse(xml: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(s) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("elements nest deeper than {MAX_DEPTH}"));
                }
                if root.is_some() {
                    return Err("content after the root element".into());
                }
                stack.push(Element::new(s.name().into_inner()));
            }
            Event::Empty(s) => {
                let e = Element::new(s.name().into_inner());
                close(e, &mut stack, &mut root)?;
            }
            Event::End(_) => {
                let e = stack.pop().ok_or("an end tag without a start")?;
                close(e, &mut stack, &mut root)?;
            }
            Event::Text(t) => push_text(&mut stack, t.xml10_content())?,
            Event::CData(t) => push_text(&mut stack, t.xml10_content())?,
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => match &*r {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => return Err(format!("unknown entity `&{other};`")),
                    },
                    Err(e) => return Err(e.to_string()),
                };
                push_text(&mut stack, Cow::Owned(c.to_string()))?;
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(format!("`<{}>` is not closed", stack.last().unwrap().name));
    }
    root.ok_or_else(|| "no root element".to_string())
}

fn close(e: Element, stack: &mut [Element], root: &mut Option<Element>) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(e)),
        None if root.is_none() => *root = Some(e),
        None => return Err("content after the root element".into()),
    }
    Ok(())
}

fn push_text(stack: &mut [Element], text: Cow<'_, str>) -> Result<(), String> {
    match stack.last_mut() {
        Some(e) => {
            if let Some(Node::Text(t)) = e.children.last_mut() {
                t.push_str(&text);
            } else {
                e.children.push(Node::Text(text.into_owned()));
            }
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err("text outside the root element".into()),
    }
}

/// `s` with `&`, `<` and `>` escaped, for element content.
pub fn escape(s: &str) -> Cow<'_, str> {
    quick_xml::escape::escape(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_text_entities_and_cdata() {
        let e = parse(
            "<?xml version=\"1.0\"?>\n<VM><ID>7</ID><NAME>a &amp; b&#x21;</NAME><T><![CDATA[<x>]]></T><E/></VM>",
        )
        .unwrap();
        assert_eq!(e.name, "VM");
        assert_eq!(e.child_text("ID").as_deref(), Some("7"));
        assert_eq!(e.child_text("NAME").as_deref(), Some("a & b!"));
        assert_eq!(e.child_text("T").as_deref(), Some("<x>"));
        assert_eq!(e.child_text("E").as_deref(), Some(""));
        assert!(e.child("NOPE").is_none());
    }

    #[test]
    fn refuses_broken_documents() {
        for bad in ["", "<a>", "<a></b>", "<a/><b/>", "text", "<a>&bogus;</a>"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).unwrap_err().contains("deeper"));
    }

    #[test]
    fn escape_round_trips() {
        let s = "a<b>&c\"d'";
        let doc = format!("<v>{}</v>", escape(s));
        assert_eq!(parse(&doc).unwrap().text(), s);
    }
}
