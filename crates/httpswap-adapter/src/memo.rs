//! The last answer of a function of its input, kept per thread: for a
//! parse done for every request whose input is mostly the same as the
//! request before (a URL).

use std::cell::RefCell;
use std::thread::LocalKey;

/// `make`'s answer, or the one `last` (a thread-local) keeps when `hit`
/// says its key is this input's. `make` gives the key with the answer; a
/// new answer replaces the kept one, an error is not kept. The answer must
/// depend on the key alone, so that a kept one is the one `make` would
/// give. While the thread exits and `last` is gone, every call makes its
/// answer (`at_thread_exit` tests of the callers).
///
/// ```
/// use std::cell::RefCell;
/// thread_local!(static LAST: RefCell<Option<(String, usize)>> = const { RefCell::new(None) });
/// let len = |text: &str| {
///     httpswap_adapter::remembered(&LAST, |k: &String| k == text, || {
///         Ok::<_, ()>((text.to_owned(), text.len()))
///     })
/// };
/// assert_eq!((len("abc"), len("abc"), len("de")), (Ok(3), Ok(3), Ok(2)));
/// ```
///
/// # Errors
///
/// `make`'s.
pub fn remembered<K: 'static, V: Clone + 'static, E>(
    last: &'static LocalKey<RefCell<Option<(K, V)>>>,
    hit: impl FnOnce(&K) -> bool,
    make: impl FnOnce() -> Result<(K, V), E>,
) -> Result<V, E> {
    let kept = last
        .try_with(|last| {
            let last = last.borrow();
            let (key, value) = last.as_ref()?;
            hit(key).then(|| value.clone())
        })
        .ok()
        .flatten();
    if let Some(value) = kept {
        return Ok(value);
    }
    let (key, value) = make()?;
    let _ = last.try_with(|last| *last.borrow_mut() = Some((key, value.clone())));
    Ok(value)
}
