//! Column builders for a record schema (flows or alerts), and the row
//! writer that appends one record to them in schema order. Every append
//! names its column, and a debug assertion checks the name against the
//! schema, so the writers cannot silently drift from `mekong-schema`.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int16Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder, UInt16Builder, UInt32Builder, UInt8Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, SchemaRef};
use mekong_schema::{FieldSpec, Ty};

pub(crate) enum Col {
    Bool(BooleanBuilder),
    U8(UInt8Builder),
    U16(UInt16Builder),
    U32(UInt32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Str(StringBuilder),
    Ts(TimestampMicrosecondBuilder),
    LI16(ListBuilder<Int16Builder>),
    LI64(ListBuilder<Int64Builder>),
    LU8(ListBuilder<UInt8Builder>),
    LU16(ListBuilder<UInt16Builder>),
    LStr(ListBuilder<StringBuilder>),
}

fn item(t: DataType) -> Arc<Field> {
    Arc::new(Field::new("item", t, false))
}

/// Builders for a batch of records of one schema.
pub struct Columns {
    cols: Vec<Col>,
    names: Vec<&'static str>,
    rows: usize,
    scratch: String,
    schema: SchemaRef,
}

impl Columns {
    /// Empty builders, one per column of `fields`, for `schema`.
    pub fn new(fields: impl Iterator<Item = &'static FieldSpec>, schema: SchemaRef) -> Columns {
        let mut names = Vec::new();
        let cols = fields
            .map(|f| {
                names.push(f.name.as_str());
                match f.ty {
                    Ty::Bool => Col::Bool(BooleanBuilder::new()),
                    Ty::U8 => Col::U8(UInt8Builder::new()),
                    Ty::U16 => Col::U16(UInt16Builder::new()),
                    Ty::U32 => Col::U32(UInt32Builder::new()),
                    Ty::I64 => Col::I64(Int64Builder::new()),
                    Ty::F64 => Col::F64(Float64Builder::new()),
                    Ty::Str => Col::Str(StringBuilder::new()),
                    Ty::TsUs => Col::Ts(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
                    Ty::ListI16 => Col::LI16(
                        ListBuilder::new(Int16Builder::new()).with_field(item(DataType::Int16)),
                    ),
                    Ty::ListI64 => Col::LI64(
                        ListBuilder::new(Int64Builder::new()).with_field(item(DataType::Int64)),
                    ),
                    Ty::ListU8 => Col::LU8(
                        ListBuilder::new(UInt8Builder::new()).with_field(item(DataType::UInt8)),
                    ),
                    Ty::ListU16 => Col::LU16(
                        ListBuilder::new(UInt16Builder::new()).with_field(item(DataType::UInt16)),
                    ),
                    Ty::ListStr => Col::LStr(
                        ListBuilder::new(StringBuilder::new()).with_field(item(DataType::Utf8)),
                    ),
                }
            })
            .collect();
        Columns {
            cols,
            names,
            rows: 0,
            scratch: String::with_capacity(64),
            schema,
        }
    }

    /// Builders for flow records.
    pub fn flows() -> Columns {
        Columns::new(mekong_schema::fields(), mekong_schema::flow_schema())
    }

    /// Builders for alert records.
    pub fn alerts() -> Columns {
        Columns::new(
            mekong_schema::alert::fields(),
            mekong_schema::alert::alert_schema(),
        )
    }

    /// Rows appended since the last batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends one row written by `write`.
    pub(crate) fn append_with(&mut self, write: impl FnOnce(&mut Row<'_>)) {
        let mut w = Row { c: self, i: 0 };
        write(&mut w);
        debug_assert_eq!(w.i, w.c.cols.len(), "record writer missed columns");
        self.rows += 1;
    }

    /// Takes the rows appended so far as a record batch.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let arrays: Vec<ArrayRef> = self
            .cols
            .iter_mut()
            .map(|c| -> ArrayRef {
                match c {
                    Col::Bool(b) => Arc::new(b.finish()),
                    Col::U8(b) => Arc::new(b.finish()),
                    Col::U16(b) => Arc::new(b.finish()),
                    Col::U32(b) => Arc::new(b.finish()),
                    Col::I64(b) => Arc::new(b.finish()),
                    Col::F64(b) => Arc::new(b.finish()),
                    Col::Str(b) => Arc::new(b.finish()),
                    Col::Ts(b) => Arc::new(b.finish()),
                    Col::LI16(b) => Arc::new(b.finish()),
                    Col::LI64(b) => Arc::new(b.finish()),
                    Col::LU8(b) => Arc::new(b.finish()),
                    Col::LU16(b) => Arc::new(b.finish()),
                    Col::LStr(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
    }
}

/// One row being appended.
pub(crate) struct Row<'a> {
    c: &'a mut Columns,
    i: usize,
}

macro_rules! setter {
    ($name:ident, $variant:ident, $t:ty) => {
        pub(crate) fn $name(&mut self, name: &str, v: Option<$t>) {
            debug_assert_eq!(
                self.c.names[self.i], name,
                "column order differs from the schema"
            );
            match &mut self.c.cols[self.i] {
                Col::$variant(b) => b.append_option(v),
                _ => panic!("column {name} has another type in the schema"),
            }
            self.i += 1;
        }
    };
}

impl Row<'_> {
    setter!(bool, Bool, bool);
    setter!(u8, U8, u8);
    setter!(u16, U16, u16);
    setter!(u32, U32, u32);
    setter!(i64, I64, i64);
    setter!(f64, F64, f64);
    setter!(ts, Ts, i64);

    /// Appends a string built by `f` in the reusable scratch buffer.
    pub(crate) fn built(&mut self, name: &str, f: impl FnOnce(&mut String)) {
        let mut buf = std::mem::take(&mut self.c.scratch);
        buf.clear();
        f(&mut buf);
        self.str(name, Some(&buf));
        self.c.scratch = buf;
    }

    pub(crate) fn str(&mut self, name: &str, v: Option<&str>) {
        debug_assert_eq!(
            self.c.names[self.i], name,
            "column order differs from the schema"
        );
        match &mut self.c.cols[self.i] {
            Col::Str(b) => b.append_option(v),
            _ => panic!("column {name} has another type in the schema"),
        }
        self.i += 1;
    }

    pub(crate) fn list_u16(&mut self, name: &str, v: Option<&[u16]>) {
        self.check(name);
        if let Col::LU16(b) = &mut self.c.cols[self.i] {
            match v {
                Some(v) => {
                    b.values().append_slice(v);
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        self.i += 1;
    }

    pub(crate) fn list_str(&mut self, name: &str, v: Option<&[String]>) {
        self.check(name);
        if let Col::LStr(b) = &mut self.c.cols[self.i] {
            match v {
                Some(v) => {
                    for s in v {
                        b.values().append_value(s);
                    }
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        self.i += 1;
    }

    pub(crate) fn list_strs(&mut self, name: &str, v: Option<&[&str]>) {
        self.check(name);
        if let Col::LStr(b) = &mut self.c.cols[self.i] {
            match v {
                Some(v) => {
                    for s in v {
                        b.values().append_value(s);
                    }
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        self.i += 1;
    }

    /// Appends null to every column from `first` up to `until` (not
    /// included), except `zero`, which gets 0 (a non-null counter).
    pub(crate) fn nulls_until(&mut self, first: &str, zero: &str, until: &str) {
        self.check(first);
        while self.i < self.c.cols.len() && self.c.names[self.i] != until {
            let is_zero = self.c.names[self.i] == zero;
            match &mut self.c.cols[self.i] {
                Col::Bool(b) => b.append_null(),
                Col::U8(b) => b.append_null(),
                Col::U16(b) => b.append_null(),
                Col::U32(b) if is_zero => b.append_value(0),
                Col::U32(b) => b.append_null(),
                Col::I64(b) => b.append_null(),
                Col::F64(b) => b.append_null(),
                Col::Str(b) => b.append_null(),
                Col::Ts(b) => b.append_null(),
                Col::LI16(b) => b.append(false),
                Col::LI64(b) => b.append(false),
                Col::LU8(b) => b.append(false),
                Col::LU16(b) => b.append(false),
                Col::LStr(b) => b.append(false),
            }
            self.i += 1;
        }
    }

    fn check(&self, name: &str) {
        debug_assert_eq!(
            self.c.names[self.i], name,
            "column order differs from the schema"
        );
    }

    pub(crate) fn list<T: Copy>(&mut self, name: &str, v: &[T], push: impl Fn(&mut Col, &[T])) {
        debug_assert_eq!(
            self.c.names[self.i], name,
            "column order differs from the schema"
        );
        push(&mut self.c.cols[self.i], v);
        self.i += 1;
    }
}
