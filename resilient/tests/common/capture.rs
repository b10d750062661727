//! A test subscriber that records the library's events: name, level and fields as text.
//!
//! One global subscriber hands each event to the capture active on the thread that emitted it.
//! (A subscriber per test, set with `set_default`, loses events: a callsite first reached by a
//! test without one caches "not interested" while another test is starting its capture.)

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, Once};
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

thread_local! {
    static ACTIVE: RefCell<Option<Capture>> = const { RefCell::new(None) };
}

/// The global subscriber's one layer: passes each event to the thread's capture, if any.
struct ToActiveCapture;

impl<S: Subscriber> Layer<S> for ToActiveCapture {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let Some(capture) = ACTIVE.with(|active| active.borrow().clone()) else {
            return;
        };
        let meta = event.metadata();
        // Other crates' events (sqlx logs its statements) are theirs; ours all name one target.
        if !meta.target().starts_with("resilient") {
            return;
        }
        assert_eq!(meta.target(), "resilient");
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        capture.0.lock().unwrap().push(Captured {
            name: meta.name(),
            level: *meta.level(),
            fields,
        });
    }
}

/// Ends the capture of this thread when dropped.
pub struct Stop;

impl Drop for Stop {
    fn drop(&mut self) {
        ACTIVE.with(|active| active.borrow_mut().take());
    }
}

impl Capture {
    /// Captures the events this thread emits until the [`Stop`] is dropped. Work on other
    /// threads (a multi-thread runtime's workers) is not captured.
    pub fn start() -> (Self, Stop) {
        static GLOBAL: Once = Once::new();
        GLOBAL.call_once(|| {
            let subscriber = tracing_subscriber::registry().with(ToActiveCapture);
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber");
        });
        let capture = Capture::default();
        ACTIVE.with(|active| *active.borrow_mut() = Some(capture.clone()));
        (capture, Stop)
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
