//! A WHERE clause built from optional filters, with numbered placeholders
//! (`$1`, `$2`, …) that both SQLite and PostgreSQL accept.

use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::{QueryAs, QueryScalar};

#[derive(Debug)]
pub struct Conditions {
    sql: String,
    args: Vec<Arg>,
}

#[derive(Debug)]
enum Arg {
    Int(i64),
    Text(String),
}

impl Conditions {
    /// Starts with `template` (for example `user_id = {}`) bound to `value`.
    pub fn new(template: &str, value: i64) -> Self {
        let mut conditions = Self::empty();
        conditions.push_int(template, value);
        conditions
    }

    fn empty() -> Self {
        Self {
            sql: String::new(),
            args: Vec::new(),
        }
    }

    /// The clause, without the `WHERE` keyword.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Adds `AND template`, where `{}` in the template stands for the value.
    pub fn push_int(&mut self, template: &str, value: i64) {
        self.push(template, Arg::Int(value));
    }

    pub fn push_text(&mut self, template: &str, value: String) {
        self.push(template, Arg::Text(value));
    }

    /// Adds `AND template`, where each `{}` in turn stands for the next value.
    pub fn push_texts(&mut self, template: &str, values: impl IntoIterator<Item = String>) {
        let mut test = String::new();
        let mut rest = template;
        for value in values {
            let Some((before, after)) = rest.split_once("{}") else {
                break;
            };
            self.args.push(Arg::Text(value));
            test.push_str(before);
            test.push_str(&format!("${}", self.args.len()));
            rest = after;
        }
        test.push_str(rest);
        self.and(&test);
    }

    /// Adds `AND column IN (…)` over text values.
    pub fn push_text_in(&mut self, column: &str, values: impl IntoIterator<Item = String>) {
        let mut placeholders = Vec::new();
        for value in values {
            self.args.push(Arg::Text(value));
            placeholders.push(format!("${}", self.args.len()));
        }
        self.and(&format!("{column} IN ({})", placeholders.join(", ")));
    }

    fn push(&mut self, template: &str, arg: Arg) {
        self.args.push(arg);
        let placeholder = format!("${}", self.args.len());
        self.and(&template.replace("{}", &placeholder));
    }

    fn and(&mut self, test: &str) {
        if !self.sql.is_empty() {
            self.sql.push_str(" AND ");
        }
        self.sql.push_str(test);
    }

    pub fn bind_rows<'q, O>(
        &'q self,
        mut query: QueryAs<'q, Any, O, AnyArguments<'q>>,
    ) -> QueryAs<'q, Any, O, AnyArguments<'q>> {
        for arg in &self.args {
            query = match arg {
                Arg::Int(value) => query.bind(*value),
                Arg::Text(value) => query.bind(value.as_str()),
            };
        }
        query
    }

    pub fn bind_scalar<'q, O>(
        &'q self,
        mut query: QueryScalar<'q, Any, O, AnyArguments<'q>>,
    ) -> QueryScalar<'q, Any, O, AnyArguments<'q>> {
        for arg in &self.args {
            query = match arg {
                Arg::Int(value) => query.bind(*value),
                Arg::Text(value) => query.bind(value.as_str()),
            };
        }
        query
    }
}

/// A `LIKE … ESCAPE '\'` pattern matching `needle` anywhere, case-folded, with its
/// wildcards escaped.
pub fn contains_pattern(needle: &str) -> String {
    format!("%{}%", escape_like(needle))
}

/// A `LIKE … ESCAPE '\'` pattern matching text that starts with `prefix`,
/// case-folded, with its wildcards escaped.
pub fn prefix_pattern(prefix: &str) -> String {
    format!("{}%", escape_like(prefix))
}

fn escape_like(text: &str) -> String {
    text.to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_pattern_escapes_wildcards() {
        assert_eq!(contains_pattern("50%_Off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(prefix_pattern("Image/"), "image/%");
    }

    #[test]
    fn conditions_number_their_placeholders() {
        let mut conditions = Conditions::new("user_id = {}", 7);
        conditions.push_text("a = {}", "x".to_owned());
        conditions.push_int("b >= {}", 3);
        conditions.push_text_in("status", ["p".to_owned(), "q".to_owned()]);
        conditions.push_texts("(k = {} AND v = {})", ["k".to_owned(), "v".to_owned()]);
        assert_eq!(
            conditions.sql(),
            "user_id = $1 AND a = $2 AND b >= $3 AND status IN ($4, $5) AND (k = $6 AND v = $7)"
        );
        assert_eq!(conditions.args.len(), 7);
    }
}
