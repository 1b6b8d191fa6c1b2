//! Reading columns from rows that came from disk, where any value may have
//! been tampered with: every conversion failure is `Error::Corrupt`.

use rusqlite::Row;

use crate::error::{Error, RecordRef, Result};
use crate::ids::KeyEpoch;

pub(crate) fn int(row: &Row<'_>, i: usize, rec: RecordRef) -> Result<i64> {
    row.get_ref(i)?.as_i64().map_err(|_| Error::corrupt(rec, format!("column {i} is not an integer")))
}

pub(crate) fn uint(row: &Row<'_>, i: usize, rec: RecordRef) -> Result<u64> {
    u64::try_from(int(row, i, rec)?).map_err(|_| Error::corrupt(rec, format!("column {i} is negative")))
}

pub(crate) fn opt_int(row: &Row<'_>, i: usize, rec: RecordRef) -> Result<Option<i64>> {
    match row.get_ref(i)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        rusqlite::types::ValueRef::Integer(v) => Ok(Some(v)),
        _ => Err(Error::corrupt(rec, format!("column {i} is not an integer"))),
    }
}

pub(crate) fn epoch(row: &Row<'_>, i: usize, rec: RecordRef) -> Result<KeyEpoch> {
    KeyEpoch::from_column(int(row, i, rec)?).ok_or_else(|| Error::corrupt(rec, "key epoch out of range"))
}

pub(crate) fn blob(row: &Row<'_>, i: usize, rec: RecordRef) -> Result<Vec<u8>> {
    row.get_ref(i)?
        .as_blob()
        .map(<[u8]>::to_vec)
        .map_err(|_| Error::corrupt(rec, format!("column {i} is not a blob")))
}

/// A count or sequence number as an SQLite integer.
pub(crate) fn sql_int(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::invalid(format!("{v} is out of range")))
}
