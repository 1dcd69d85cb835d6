//! Code run while a thread exits, after its other thread-locals are gone.

use std::cell::RefCell;
use std::sync::mpsc;

/// Runs `late` in a thread-local's destructor on a new thread, after the
/// thread-locals that `first` used there were destroyed (a thread's
/// thread-locals that need dropping go in the reverse order of their
/// first use; one that needs no drop is never destroyed), and returns
/// what `late` gave. For code that keeps state in a thread-local and may
/// be called from another thread-local's destructor: `late` finds that
/// state gone (`LocalKey::try_with` fails) and must still work.
///
/// ```
/// use std::cell::RefCell;
/// thread_local!(static STATE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) });
/// let first = || STATE.with(|s| s.borrow_mut().push(1));
/// let gone = httpswap_test::at_thread_exit(first, || STATE.try_with(|_| ()).is_err());
/// assert_eq!(gone, Some(true));
/// ```
///
/// `None` when `late` did not run to its end (it panicked).
pub fn at_thread_exit<T: Send + 'static>(
    first: impl FnOnce() + Send + 'static,
    late: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    struct AtExit(Option<Box<dyn FnOnce()>>);
    impl Drop for AtExit {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    thread_local! {
        static GUARD: RefCell<AtExit> = const { RefCell::new(AtExit(None)) };
    }
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        // the guard's first use comes before `first`'s: it is destroyed
        // after what `first` used
        GUARD.with(|g| {
            g.borrow_mut().0 = Some(Box::new(move || {
                let _ = tx.send(late());
            }));
        });
        first();
    });
    let _ = thread.join();
    rx.recv().ok()
}
