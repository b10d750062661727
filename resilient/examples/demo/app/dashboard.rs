//! The dashboard: one page, its style and script inline, built into the binary. Every second it
//! asks `/api/now` for the table the terminal shows and `/timeline.svg` for the picture the run
//! ends with, so that the browser draws nothing the demo does not draw already.

use super::record::TICK;

/// `GET /`.
pub(crate) const PAGE: &str = include_str!("dashboard.html");

/// The samples the live picture shows: the last three minutes.
pub(crate) const WINDOW: usize = (180_000 / TICK.as_millis()) as usize;
