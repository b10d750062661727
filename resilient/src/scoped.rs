//! The one mechanism behind atomic scopes and correlation ids: a thread-local that holds a value
//! only while the work that owns it runs.

use std::cell::Cell;
use std::thread::LocalKey;

/// Sets `key` to `value` while `f` runs, then puts back what it held before, also when `f` panics.
pub(crate) fn with<T: Copy + 'static, R>(
    key: &'static LocalKey<Cell<T>>,
    value: T,
    f: impl FnOnce() -> R,
) -> R {
    struct Restore<T: Copy + 'static> {
        key: &'static LocalKey<Cell<T>>,
        previous: T,
    }
    impl<T: Copy + 'static> Drop for Restore<T> {
        fn drop(&mut self) {
            self.key.set(self.previous);
        }
    }
    let _restore = Restore {
        key,
        previous: key.replace(value),
    };
    f()
}
