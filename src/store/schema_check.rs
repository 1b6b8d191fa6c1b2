//! The schema check (docs/DESIGN.md, "Schema check"): a store is trusted
//! only if its schema is exactly one that chatvault's own statements
//! produce for its format version. A planted trigger could copy every
//! deleted row into a hidden table, a view or extra table could hold
//! anything, an altered index could keep deleted values: each is refused
//! at open and reported by `verify`.
//!
//! The expected schemas are made by running the format's statements
//! (`format::schema::histories`) on an in-memory database, once per
//! process, and reading back what SQLite stored: SQLite keeps each
//! `CREATE` as written and rewrites it on `ALTER TABLE`, so this is exact.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::format::{FORMAT_VERSION, OLDEST_FORMAT_VERSION, schema};

/// One `sqlite_schema` row: (type, name) to (table name, SQL text).
type Schema = BTreeMap<(String, String), (String, Option<String>)>;

/// Reads the schema of `conn`'s main database, and checks that every
/// table and index has a root page of its own.
fn read(conn: &Connection) -> Result<(Schema, Vec<String>)> {
    let mut stmt = conn.prepare("SELECT type, name, tbl_name, rootpage, sql FROM main.sqlite_schema")?;
    let mut rows = stmt.query([])?;
    let mut out = Schema::new();
    let mut roots: BTreeMap<i64, String> = BTreeMap::new();
    let mut problems = Vec::new();
    while let Some(r) = rows.next()? {
        // Text read leniently: a planted object may have odd types.
        let text = |i| -> rusqlite::Result<Option<String>> {
            Ok(match r.get_ref(i)? {
                rusqlite::types::ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                _ => None,
            })
        };
        let kind = text(0)?.unwrap_or_default();
        let name = text(1)?.unwrap_or_default();
        let table = text(2)?.unwrap_or_default();
        let sql = text(4)?;
        if kind == "table" || kind == "index" {
            let root = r.get_ref(3)?.as_i64().unwrap_or(0);
            if root <= 0 {
                problems.push(format!("{kind} {} has no root page", printable(&name)));
            } else if let Some(other) = roots.insert(root, name.clone()) {
                problems.push(format!(
                    "{kind} {} shares its root page with {}",
                    printable(&name),
                    printable(&other)
                ));
            }
        }
        out.insert((kind, name), (table, sql));
    }
    Ok((out, problems))
}

/// The schemas a store of each format version may have, computed once.
fn expected() -> &'static Result<BTreeMap<u32, Vec<Schema>>, String> {
    static EXPECTED: OnceLock<Result<BTreeMap<u32, Vec<Schema>>, String>> = OnceLock::new();
    EXPECTED.get_or_init(|| {
        let mut out = BTreeMap::new();
        for version in OLDEST_FORMAT_VERSION..=FORMAT_VERSION {
            let mut schemas = Vec::new();
            for history in schema::histories(version) {
                let build = || -> rusqlite::Result<Schema> {
                    let conn = Connection::open_in_memory()?;
                    for sql in *history {
                        conn.execute_batch(sql)?;
                    }
                    Ok(read(&conn).map_err(|_| rusqlite::Error::InvalidQuery)?.0)
                };
                schemas.push(build().map_err(|e| format!("format {version}'s schema does not build: {e}"))?);
            }
            out.insert(version, schemas);
        }
        Ok(out)
    })
}

/// How `found` differs from `want`, by object.
fn diff(want: &Schema, found: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for ((kind, name), value) in found {
        match want.get(&(kind.clone(), name.clone())) {
            None => out.push(format!("unexpected {} {}", printable(kind), printable(name))),
            Some(w) if w != value => out.push(format!("{kind} {name} was altered")),
            Some(_) => {}
        }
    }
    for (kind, name) in want.keys() {
        if !found.contains_key(&(kind.clone(), name.clone())) {
            out.push(format!("{kind} {name} is missing"));
        }
    }
    out
}

/// What is wrong with the schema of the store on `conn`, format `version`:
/// empty if it is exactly one chatvault makes.
fn differences_at(conn: &Connection, version: u32) -> Result<Vec<String>> {
    let expected = expected().as_ref().map_err(|e| Error::invalid(e.clone()))?;
    let (found, mut problems) = read(conn)?;
    let Some(candidates) = expected.get(&version) else {
        return Ok(vec![format!("format {version} has no known schema")]);
    };
    // The closest candidate explains the differences best.
    let best = candidates.iter().map(|want| diff(want, &found)).min_by_key(Vec::len).unwrap_or_default();
    problems.extend(best);
    Ok(problems)
}

/// Most differences an error names; the rest are counted.
const MAX_NAMED: usize = 8;

/// Refuses a store whose schema is not exactly chatvault's for `version`.
pub(crate) fn refuse_unless_exact(conn: &Connection, version: u32) -> Result<()> {
    let problems = differences_at(conn, version)?;
    if problems.is_empty() {
        return Ok(());
    }
    let mut detail = problems.iter().take(MAX_NAMED).cloned().collect::<Vec<_>>().join("; ");
    if problems.len() > MAX_NAMED {
        detail.push_str(&format!("; and {} more", problems.len() - MAX_NAMED));
    }
    Err(Error::SchemaModified { detail })
}

/// A name read from the file, fit for an error message: control characters
/// replaced, at most 64 characters (the attacker chose it).
fn printable(name: &str) -> String {
    let mut out: String =
        name.chars().take(64).map(|c| if c.is_control() { '\u{FFFD}' } else { c }).collect();
    if name.chars().count() > 64 {
        out.push('…');
    }
    out
}

/// What is wrong with the schema of an open store (of the current format),
/// for `verify`.
pub(crate) fn differences(conn: &Connection) -> Result<Vec<String>> {
    differences_at(conn, FORMAT_VERSION)
}
