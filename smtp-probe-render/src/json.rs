//! JSON: each item as the core serializes it (the shape `smtp-probe-proto` documents in its `JSON-SCHEMA.md` and
//! validates with `schema/report.schema.json`). Nothing is mapped here, so every program writes the same JSON.

use serde::Serialize;

use crate::item::Item;

/// How JSON is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JsonOptions {
    /// Indented, one field a line (for people and diffs), instead of one compact line.
    pub pretty: bool,
    /// Always an array, even of one item (for programs that read any number of results the same way). Without
    /// it, one item is written as an object and several as an array.
    pub array: bool,
}

impl Serialize for Item<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Item::Target(report) => report.serialize(serializer),
            Item::Mx(mx) => mx.serialize(serializer),
            Item::RoundTrip(roundtrip) => roundtrip.serialize(serializer),
            Item::Domain(domain) => domain.serialize(serializer),
        }
    }
}

pub(crate) fn render(items: &[Item<'_>], options: &JsonOptions) -> String {
    let result = match (items, options.array, options.pretty) {
        ([one], false, true) => serde_json::to_string_pretty(one),
        ([one], false, false) => serde_json::to_string(one),
        (many, _, true) => serde_json::to_string_pretty(many),
        (many, _, false) => serde_json::to_string(many),
    };
    let mut out = result.expect("the core's serialization has string keys and finite numbers only: it cannot fail");
    out.push('\n');
    out
}
