//! A test subscriber that records the library's events: name, level and fields as text.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// One captured event: its name, level and fields (as text).
#[derive(Debug, Clone)]
pub struct Captured {
    pub name: &'static str,
    pub level: Level,
    pub fields: BTreeMap<String, String>,
}

#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<Captured>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let meta = event.metadata();
        assert_eq!(meta.target(), "resilient");
        self.0.lock().unwrap().push(Captured {
            name: meta.name(),
            level: *meta.level(),
            fields,
        });
    }
}

impl Capture {
    pub fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let capture = Capture::default();
        let guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
        (capture, guard)
    }

    pub fn take(&self) -> Vec<Captured> {
        std::mem::take(&mut self.0.lock().unwrap())
    }

    pub fn names(&self) -> Vec<(&'static str, Level)> {
        self.take().into_iter().map(|e| (e.name, e.level)).collect()
    }
}

pub fn field<'a>(event: &'a Captured, name: &str) -> &'a str {
    event
        .fields
        .get(name)
        .unwrap_or_else(|| panic!("{} has no field `{name}`: {:?}", event.name, event.fields))
}
