//! Property test: for generated RADL trees, printing then parsing gives
//! back the same tree (spans aside).

use nubo::radl::{self, ast::*, parser, printer};
use nubo::source::{FileId, Span};
use proptest::prelude::*;

/// Every word with a meaning somewhere in RADL (the parser's own lists).
fn is_keyword(s: &str) -> bool {
    parser::KEYWORDS.contains(&s) || parser::SENTENCE_KEYWORDS.contains(&s)
}

fn ident() -> impl Strategy<Value = Ident> {
    "[a-zA-Z_.][a-zA-Z0-9_.-]{0,10}"
        .prop_filter("not a keyword", |s| !is_keyword(s))
        .prop_map(|text| Ident {
            text,
            span: Span::default(),
        })
}

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        (0i64..=i64::MAX).prop_map(Number::Int),
        (0u32..1_000_000, 0u32..10_000)
            .prop_map(|(a, b)| Number::Float(format!("{a}.{b}").parse().unwrap())),
    ]
}

fn string() -> impl Strategy<Value = String> {
    // Quotes, backslashes, hashes, newlines and non-ASCII on purpose.
    "[a-z0-9 '\"\\\\#()@\n\tñ€/:=.-]{0,20}"
}

fn value(depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        (number(), proptest::option::of(ident())).prop_map(|(n, u)| Value::Number(n, u)),
        string().prop_map(Value::String),
        proptest::collection::vec(string(), 0..4).prop_map(Value::List),
        (0u32..64).prop_map(Value::Random),
    ];
    if depth == 0 {
        leaf.boxed()
    } else {
        prop_oneof![4 => leaf, 1 => feature_list(depth - 1).prop_map(Value::Features)].boxed()
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Eq),
        Just(Op::Lt),
        Just(Op::Gt),
        Just(Op::Le),
        Just(Op::Ge)
    ]
}

fn feature(depth: u32) -> impl Strategy<Value = Feature> {
    (ident(), op(), value(depth), any::<bool>(), string()).prop_map(
        |(name, op, value, text_contains, text)| {
            let (op, value) = match value {
                Value::Features(_) => (Op::Contains, value),
                _ if text_contains => (Op::Contains, Value::String(text)),
                v => (op, v),
            };
            Feature {
                name,
                op,
                op_span: Span::default(),
                value,
                value_span: Span::default(),
            }
        },
    )
}

fn feature_list(depth: u32) -> BoxedStrategy<FeatureList> {
    let item = prop_oneof![
        4 => feature(depth).prop_map(FeatureItem::Feature),
        1 => (number(), if depth == 0 { Just(FeatureList::default()).boxed() } else { feature_list(depth - 1) })
            .prop_map(|(weight, features)| FeatureItem::Soft(Soft { keyword: Span::default(), weight, features })),
    ];
    proptest::collection::vec(item, 0..5)
        .prop_map(|items| FeatureList {
            items,
            span: Span::default(),
        })
        .boxed()
}

fn recipe() -> impl Strategy<Value = String> {
    // Lines of text; none may start with `@end` (that would end the body).
    proptest::collection::vec("[ a-z:'\"#@{}()-]{0,20}", 0..5).prop_map(|lines| {
        let lines: Vec<_> = lines
            .into_iter()
            .filter(|l| !l.starts_with("@end"))
            .collect();
        if lines.is_empty() {
            String::new()
        } else {
            format!("\n{}\n", lines.join("\n"))
        }
    })
}

fn sentence() -> impl Strategy<Value = Sentence> {
    let aspect_kind = prop_oneof![
        Just(AspectKind::Network),
        Just(AspectKind::System),
        Just(AspectKind::Ansible),
        Just(AspectKind::Description),
        Just(AspectKind::Include),
    ];
    let item = (
        ident(),
        ident(),
        proptest::option::of(number()),
        proptest::option::of(ident()),
    )
        .prop_map(|(system, configure, step, tool)| ContextItem {
            system,
            configure,
            step: step.map(|n| (n, Span::default())),
            tool,
        });
    let option = (
        ident(),
        op(),
        prop_oneof![
            number().prop_map(|n| Value::Number(n, None)),
            string().prop_map(Value::String)
        ],
    )
        .prop_map(|(name, op, value)| Feature {
            name,
            op,
            op_span: Span::default(),
            value,
            value_span: Span::default(),
        });
    prop_oneof![
        (aspect_kind, ident(), proptest::option::of(feature_list(2))).prop_map(
            |(kind, name, body)| {
                // `ansible` always has a body in RADL.
                let body = if kind == AspectKind::Ansible {
                    Some(body.unwrap_or_default())
                } else {
                    body
                };
                Sentence::Aspect(Aspect {
                    kind,
                    keyword: Span::default(),
                    name,
                    body,
                })
            }
        ),
        (
            ident(),
            prop_oneof![
                Just(ConfigureBody::Reference),
                Just(ConfigureBody::Empty),
                recipe().prop_map(|text| ConfigureBody::Recipe {
                    text,
                    span: Span::default()
                })
            ]
        )
            .prop_map(|(name, body)| Sentence::Configure(Configure {
                keyword: Span::default(),
                name,
                body
            })),
        (
            proptest::option::of(number()),
            proptest::collection::vec(option, 0..3),
            proptest::collection::vec(item, 0..3)
        )
            .prop_map(|(max_time, options, items)| Sentence::Contextualize(
                Contextualize {
                    keyword: Span::default(),
                    max_time: max_time.map(|n| (n, Span::default())),
                    options,
                    items,
                    span: Span::default(),
                }
            )),
        (ident(), number(), proptest::option::of(ident())).prop_map(|(system, count, cloud)| {
            Sentence::Deploy(Deploy {
                keyword: Span::default(),
                system,
                count: (count, Span::default()),
                cloud,
            })
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn print_then_parse_gives_back_the_tree(sentences in proptest::collection::vec(sentence(), 0..6)) {
        let tree = Radl { sentences };
        let text = printer::print(&tree);
        let (mut again, diags) = radl::parse(FileId(0), &text);
        prop_assert!(diags.is_empty(), "{:?}\n{}", diags, text);
        again.clear_spans();
        prop_assert_eq!(tree, again, "printed:\n{}", text);
    }
}
