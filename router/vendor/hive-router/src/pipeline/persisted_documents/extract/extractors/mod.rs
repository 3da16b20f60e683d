pub(crate) mod apollo;
pub(crate) mod document_id;
pub(crate) mod json_path;
pub(crate) mod url_path_param;
pub(crate) mod url_query_param;
