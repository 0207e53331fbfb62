//! placeholder: see issue
