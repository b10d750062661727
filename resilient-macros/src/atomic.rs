//! `#[atomic]`: a rollback scope around the function. Its only key is `crate = "..."`.

use crate::parse::{Builder, Key, ValueKind};

pub(crate) const KEYS: &[Key] = &[Key::new("crate", ValueKind::CratePath, Builder::Expansion)];
