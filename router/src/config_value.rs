//! Numbers in our plugins' configuration that an environment variable may set: hive-router's
//! `{ from_env: VAR, default: ... }` always yields a string when the variable is set, so these
//! fields take `30` and `"30"` alike.

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(u64),
    Text(String),
}

/// A whole number, written as a number or as a string of one.
pub fn number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let value = match NumberOrText::deserialize(deserializer)? {
        NumberOrText::Number(n) => n,
        NumberOrText::Text(text) => text
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a whole number")))?,
    };
    T::try_from(value).map_err(|_| serde::de::Error::custom(format!("{value} is too large")))
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct Limit {
        #[serde(deserialize_with = "super::number")]
        n: u32,
    }

    fn parse(value: serde_json::Value) -> Result<u32, serde_json::Error> {
        serde_json::from_value::<Limit>(serde_json::json!({ "n": value })).map(|l| l.n)
    }

    #[test]
    fn numbers_come_as_numbers_or_strings() {
        assert_eq!(parse(serde_json::json!(30)).unwrap(), 30);
        assert_eq!(parse(serde_json::json!(" 30 ")).unwrap(), 30);
        assert!(parse(serde_json::json!("thirty")).is_err());
        assert!(parse(serde_json::json!(-1)).is_err());
        assert!(parse(serde_json::json!(u64::MAX)).is_err());
    }
}
