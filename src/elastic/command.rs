//! The generic `command` queue: a user's program prints one JSON object,
//!
//! ```json
//! {"pending": [{"id": "7", "cpus": 1, "memory_mb": 0, "nodes": 1}],
//!  "running": 2,
//!  "nodes": [{"name": "wn-1", "state": "used"}]}
//! ```
//!
//! with node states `idle`, `used`, `off` or `failed` (missing fields take
//! the defaults: one node, one CPU, any memory).

use super::queue::Snapshot;

#[derive(Debug, thiserror::Error)]
#[error(
    "the queue command's output is not the expected JSON (line {line}, column {column}): {why}"
)]
pub struct CommandParseError {
    pub line: usize,
    pub column: usize,
    pub why: String,
}

pub fn parse(text: &str) -> Result<Snapshot, CommandParseError> {
    serde_json::from_str(text).map_err(|e| CommandParseError {
        line: e.line(),
        column: e.column(),
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elastic::QueueState;

    #[test]
    fn json_with_defaults() {
        let s =
            parse(r#"{"pending":[{"id":"7"}],"nodes":[{"name":"wn-1","state":"used"}]}"#).unwrap();
        assert_eq!(s.pending[0].nodes, 1);
        assert_eq!(s.node("wn-1"), Some(QueueState::Used));
        let e = parse(r#"{"nodes":[{"name":"wn-1","state":"busy"}]}"#).unwrap_err();
        assert!(e.to_string().contains("unknown variant"), "{e}");
    }
}
