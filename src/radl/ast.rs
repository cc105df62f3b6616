//! The RADL syntax tree: what was written, in order, with a span on every
//! node. Merging of repeated features (IM's `Features` semantics) happens
//! later, in [`super::document`]; the tree keeps the text's shape so the
//! printer can give it back.

use crate::source::Span;

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Radl {
    pub sentences: Vec<Sentence>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Sentence {
    /// `network`, `system`, `ansible`, `description` and EC3's `include`:
    /// a keyword, a name and a feature list (or none: a reference).
    Aspect(Aspect),
    Configure(Configure),
    Contextualize(Contextualize),
    Deploy(Deploy),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AspectKind {
    Network,
    System,
    Ansible,
    Description,
    Include,
}

impl AspectKind {
    pub fn keyword(self) -> &'static str {
        match self {
            AspectKind::Network => "network",
            AspectKind::System => "system",
            AspectKind::Ansible => "ansible",
            AspectKind::Description => "description",
            AspectKind::Include => "include",
        }
    }

    pub fn from_keyword(word: &str) -> Option<AspectKind> {
        Some(match word {
            "network" => AspectKind::Network,
            "system" => AspectKind::System,
            "ansible" => AspectKind::Ansible,
            "description" => AspectKind::Description,
            "include" => AspectKind::Include,
            _ => return None,
        })
    }
}

/// A name as written, with its span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Aspect {
    pub kind: AspectKind,
    pub keyword: Span,
    pub name: Ident,
    /// `None` for a reference (`system front` with no parentheses).
    pub body: Option<FeatureList>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct FeatureList {
    pub items: Vec<FeatureItem>,
    /// From `(` to `)` inclusive.
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FeatureItem {
    Feature(Feature),
    /// `soft WEIGHT ( features )`
    Soft(Soft),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Soft {
    pub keyword: Span,
    pub weight: Number,
    pub features: FeatureList,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
    Contains,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Lt => "<",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Ge => ">=",
            Op::Contains => "contains",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Feature {
    pub name: Ident,
    pub op: Op,
    pub op_span: Span,
    pub value: Value,
    pub value_span: Span,
}

impl Feature {
    pub fn span(&self) -> Span {
        self.name.span.to(self.value_span)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Number(Number, Option<Ident>),
    String(String),
    /// `['a', 'b']`
    List(Vec<String>),
    /// `contains ( features )`
    Features(FeatureList),
    /// `'random(N)'`: a string of N random letters and digits, drawn when
    /// the document is lowered.
    Random(u32),
    /// EC3's reference to another aspect, `system wn` (as in
    /// `ec3_inherit_from = system wn`): its keyword and its name.
    Reference(AspectKind, Ident),
}

/// A number as IM reads it: an integer, or a float when written with a dot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Configure {
    pub keyword: Span,
    pub name: Ident,
    pub body: ConfigureBody,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ConfigureBody {
    /// `configure NAME`
    Reference,
    /// `configure NAME ()`
    Empty,
    /// `configure NAME (@begin ... @end)`: the text between the markers,
    /// verbatim, and where it starts in the file.
    Recipe { text: String, span: Span },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Contextualize {
    pub keyword: Span,
    pub max_time: Option<(Number, Span)>,
    pub options: Vec<Feature>,
    pub items: Vec<ContextItem>,
    pub span: Span,
}

/// `system S configure C [step N] [with TOOL]`
#[derive(Clone, Debug, PartialEq)]
pub struct ContextItem {
    pub system: Ident,
    pub configure: Ident,
    pub step: Option<(Number, Span)>,
    pub tool: Option<Ident>,
}

/// `deploy SYSTEM COUNT [CLOUD]`
#[derive(Clone, Debug, PartialEq)]
pub struct Deploy {
    pub keyword: Span,
    pub system: Ident,
    pub count: (Number, Span),
    pub cloud: Option<Ident>,
}

/// Resets every span, so two trees can be compared by content alone
/// (the printer round-trip test uses this).
pub trait ClearSpans {
    fn clear_spans(&mut self);
}

impl ClearSpans for Span {
    fn clear_spans(&mut self) {
        *self = Span::default();
    }
}

impl ClearSpans for Ident {
    fn clear_spans(&mut self) {
        self.span.clear_spans();
    }
}

impl<T: ClearSpans> ClearSpans for Option<T> {
    fn clear_spans(&mut self) {
        if let Some(t) = self {
            t.clear_spans();
        }
    }
}

impl<T: ClearSpans> ClearSpans for Vec<T> {
    fn clear_spans(&mut self) {
        self.iter_mut().for_each(T::clear_spans);
    }
}

impl ClearSpans for (Number, Span) {
    fn clear_spans(&mut self) {
        self.1.clear_spans();
    }
}

impl ClearSpans for Radl {
    fn clear_spans(&mut self) {
        self.sentences.clear_spans();
    }
}

impl ClearSpans for Sentence {
    fn clear_spans(&mut self) {
        match self {
            Sentence::Aspect(a) => {
                a.keyword.clear_spans();
                a.name.clear_spans();
                a.body.clear_spans();
            }
            Sentence::Configure(c) => {
                c.keyword.clear_spans();
                c.name.clear_spans();
                if let ConfigureBody::Recipe { span, .. } = &mut c.body {
                    span.clear_spans();
                }
            }
            Sentence::Contextualize(c) => {
                c.keyword.clear_spans();
                c.max_time.clear_spans();
                c.options.clear_spans();
                c.items.clear_spans();
                c.span.clear_spans();
            }
            Sentence::Deploy(d) => {
                d.keyword.clear_spans();
                d.system.clear_spans();
                d.count.clear_spans();
                d.cloud.clear_spans();
            }
        }
    }
}

impl ClearSpans for ContextItem {
    fn clear_spans(&mut self) {
        self.system.clear_spans();
        self.configure.clear_spans();
        self.step.clear_spans();
        self.tool.clear_spans();
    }
}

impl ClearSpans for FeatureList {
    fn clear_spans(&mut self) {
        self.span.clear_spans();
        self.items.clear_spans();
    }
}

impl ClearSpans for FeatureItem {
    fn clear_spans(&mut self) {
        match self {
            FeatureItem::Feature(f) => f.clear_spans(),
            FeatureItem::Soft(s) => {
                s.keyword.clear_spans();
                s.features.clear_spans();
            }
        }
    }
}

impl ClearSpans for Feature {
    fn clear_spans(&mut self) {
        self.name.clear_spans();
        self.op_span.clear_spans();
        self.value_span.clear_spans();
        match &mut self.value {
            Value::Number(_, unit) => unit.clear_spans(),
            Value::Features(f) => f.clear_spans(),
            Value::Reference(_, name) => name.clear_spans(),
            Value::String(_) | Value::List(_) | Value::Random(_) => {}
        }
    }
}
