//! The analyzer's errors: each names what was wrong, once.

use std::path::PathBuf;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzerError {
    /// The directory is not a Mekong output tree.
    #[error("{0} is not a Mekong output tree (no Parquet under flows/ or alerts/)")]
    NotATree(PathBuf),
    /// A table could not be registered.
    #[error("cannot read the {0} table: {1}")]
    Table(&'static str, String),
    /// The query failed: DataFusion's message.
    #[error("{0}")]
    Query(String),
    /// A request (extract, verification) that cannot be run as given.
    #[error("{0}")]
    Request(String),
    /// Writing the result failed.
    #[error("cannot write the result: {0}")]
    Write(String),
}

impl From<datafusion::error::DataFusionError> for AnalyzerError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        AnalyzerError::Query(e.to_string())
    }
}

impl AnalyzerError {
    /// The message in `lang`. DataFusion's messages (a query's errors)
    /// and requests' details stay as written; the analyzer's own words
    /// are translated.
    pub fn localized(&self, lang: crate::i18n::Lang) -> String {
        use crate::i18n::Lang;
        match (lang, self) {
            (Lang::Vi, AnalyzerError::NotATree(p)) => format!(
                "{} không phải là cây dữ liệu của Mekong (không có tệp Parquet trong flows/ hay alerts/)",
                p.display()
            ),
            (Lang::Vi, AnalyzerError::Table(t, e)) => format!("không đọc được bảng {t}: {e}"),
            (Lang::Vi, AnalyzerError::Write(e)) => format!("không ghi được kết quả: {e}"),
            _ => self.to_string(),
        }
    }
}
