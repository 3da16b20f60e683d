pub(crate) mod rebuilder;
