//! The ABI evolution rule, in one place: every struct that crosses the
//! boundary begins with `uint32_t struct_size`, and fields are only ever
//! appended, each new one at or after the previous version's `sizeof`
//! (never into its trailing padding), so `struct_size` tells every version
//! apart. `types`' tests freeze every published struct's size.
//!
//! * A struct the caller fills in (an input) or that the library writes
//!   into caller memory (a report) carries the size the caller's header
//!   gave it. 0, or less than the smallest layout the library accepts
//!   ([`Versioned::MIN_SIZE`]), is refused with
//!   `CHATVAULT_STATUS_INVALID_ARGUMENT`, which also catches a caller built
//!   against the header before `struct_size` existed (its zeroed structs
//!   begin with 0 or a pointer). More than the library's own size is
//!   refused as well: the caller was built against a newer header than the
//!   library, and the library never reads or writes past what it knows.
//!   So is a size that ends inside a field ([`Versioned::FIELDS`]): no
//!   version of the struct has that size, and half a pointer copied over a
//!   default would be a garbage pointer; a size that includes the padding
//!   after a field, or not, is fine. Between the two, the library reads
//!   only the first `struct_size` bytes (the fields past them take their
//!   defaults) and writes only those. No `&T` is ever made over a caller's
//!   struct (it may be shorter than a `T`): pointers are checked with
//!   [`check_ptr`] and copied bytewise.
//! * A struct the library allocates carries the library's own size, so a
//!   caller can tell whether a field exists (`offsetof(field) +
//!   sizeof(field) <= struct_size`). Arrays of them are laid out at a
//!   stride of that size.
//! * Arrays of caller structs (`chatvault_message_append_batch`'s entries)
//!   use the first element's `struct_size` as their stride; every element
//!   must give the same one.
//!
//! Each check is an `unsafe fn` stating what the caller promised; `raw`
//! calls them, and nothing else reads or writes a versioned struct.

use crate::status::Failure;

/// A `#[repr(C)]` struct that begins with `struct_size: u32`.
///
/// # Safety
/// Implementors are `#[repr(C)]`, their first field is `struct_size: u32`,
/// and every field is an integer or a raw pointer (or a struct of those):
/// any bytes are a valid value, so a prefix copied from C leaves a valid
/// value behind.
pub(crate) unsafe trait Versioned: Copy {
    /// The C name, for messages.
    const NAME: &'static str;
    /// The smallest `struct_size` accepted: the end of the fields every
    /// caller must have (the rest have defaults).
    const MIN_SIZE: usize;
    /// Every field, in order, as `(offset, size)`: a `struct_size` that
    /// ends inside one of them is no layout of the struct (see [`check_size`]).
    const FIELDS: &'static [(usize, usize)];
    /// The value whose fields a caller's smaller struct leaves out take;
    /// its `struct_size` is the library's size.
    fn defaults() -> Self;
}

/// Checks a `struct_size` the caller gave `what` (a `T`).
pub(crate) fn check_size<T: Versioned>(size: u32, what: &str) -> Result<usize, Failure> {
    let size = size as usize;
    let ours = size_of::<T>();
    let name = T::NAME;
    if size == 0 {
        return Err(Failure::invalid(format!(
            "{what}->struct_size is 0: set it to sizeof({name}) (CHATVAULT_INIT({name}) does); a program \
             built against a chatvault.h without struct_size must be rebuilt against this one"
        )));
    }
    if size < T::MIN_SIZE {
        return Err(Failure::invalid(format!(
            "{what}->struct_size is {size}, less than the smallest {name} this library knows ({} bytes): \
             set it to sizeof({name}), and rebuild against this library's chatvault.h",
            T::MIN_SIZE
        )));
    }
    if size > ours {
        return Err(Failure::invalid(format!(
            "{what}->struct_size is {size}, more than this library's {name} ({ours} bytes): the program \
             was built against a newer chatvault.h than the library; use a library at least as new as \
             its header"
        )));
    }
    // A size between two layouts' would cut a field: half a pointer copied
    // over a default is a garbage pointer. Padding between fields is fine.
    if let Some(&(at, len)) = T::FIELDS.iter().find(|&&(at, len)| at < size && size < at.saturating_add(len))
    {
        return Err(Failure::invalid(format!(
            "{what}->struct_size is {size}, which is not the size of any layout of {name}: it ends \
             inside the field at bytes {at}..{}; set it to sizeof({name})",
            at.saturating_add(len)
        )));
    }
    Ok(size)
}

/// Checks that `ptr`, about to be read or written as a `T`, is not NULL
/// and is aligned, without making a reference to it (a caller's versioned
/// struct may be shorter than a `T`, so a `&T` over it would be unsound).
pub(crate) fn check_ptr<T>(ptr: *const T, what: &str) -> Result<(), Failure> {
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    if !ptr.is_aligned() {
        return Err(Failure::invalid(format!("{what} is not aligned")));
    }
    Ok(())
}

/// Copies the caller's `T` at `ptr`: its first `struct_size` bytes over
/// [`Versioned::defaults`].
///
/// # Safety
/// `ptr` is non-NULL and aligned, and valid for reads of its first four
/// bytes and then of `struct_size` bytes (the caller's promise: a struct
/// of its header's size, with `struct_size` set to that size).
pub(crate) unsafe fn read<T: Versioned>(ptr: *const T, what: &str) -> Result<T, Failure> {
    // SAFETY: the first field is a u32 (Versioned's contract), readable by
    // this function's contract.
    let size = unsafe { ptr.cast::<u32>().read() };
    let size = check_size::<T>(size, what)?;
    let mut value = T::defaults();
    // SAFETY: `size` <= size_of::<T>() (checked), so the copy stays inside
    // `value`; the caller's struct is valid for `size` bytes (this
    // function's contract); any bytes make a valid T (Versioned's contract).
    unsafe {
        std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), (&raw mut value).cast::<u8>(), size);
    }
    Ok(value)
}

/// A caller's struct the library writes a report into: checked before the
/// work starts, written after it succeeded, never past its `struct_size`.
pub(crate) struct OutStruct<T> {
    ptr: *mut T,
    size: u32,
}

/// Checks an out-struct and its `struct_size`.
///
/// # Safety
/// If `ptr` is not NULL and is aligned, its first four bytes are readable
/// (the caller set `struct_size`), and it is valid for writes of
/// `struct_size` bytes until the returned [`OutStruct`] is written or dropped.
pub(crate) unsafe fn out_struct<T: Versioned>(ptr: *mut T, what: &str) -> Result<OutStruct<T>, Failure> {
    check_ptr(ptr, what)?;
    // SAFETY: non-NULL, aligned, its first u32 readable (the contract).
    let size = unsafe { ptr.cast::<u32>().read() };
    check_size::<T>(size, what)?;
    Ok(OutStruct { ptr, size })
}

impl<T: Versioned> OutStruct<T> {
    /// Writes the first `struct_size` bytes of `value`, whose own
    /// `struct_size` is replaced by the caller's (so it reads back unchanged).
    pub(crate) fn write(self, value: T) {
        let len = (self.size as usize).min(size_of::<T>());
        let mut value = value;
        // SAFETY: the first field of a Versioned is a u32.
        unsafe { (&raw mut value).cast::<u32>().write(self.size) };
        // SAFETY: `len` bytes fit in `value` and, by the promise made to
        // `out_struct`, in the caller's struct; the two do not overlap.
        unsafe { std::ptr::copy_nonoverlapping((&raw const value).cast::<u8>(), self.ptr.cast::<u8>(), len) }
    }
}

/// The `len` elements of a caller's array of `T` at `ptr`, laid out at a
/// stride of the first element's `struct_size`, each copied as [`read`]
/// copies one. Every element must give the same `struct_size`.
///
/// # Safety
/// If `len` > 0, `ptr` is non-NULL and aligned, and valid for reads of
/// `len` elements of the first element's `struct_size` bytes each.
pub(crate) unsafe fn read_array<T: Versioned>(
    ptr: *const T,
    len: usize,
    what: &str,
) -> Result<Vec<T>, Failure> {
    if len == 0 {
        return Ok(Vec::new());
    }
    if ptr.is_null() {
        return Err(Failure::new(
            crate::status::chatvault_status::NullArgument,
            format!("{what} is NULL but its length is {len}"),
        ));
    }
    if !ptr.is_aligned() {
        return Err(Failure::invalid(format!("{what} is not aligned")));
    }
    // SAFETY: non-NULL and aligned; the first element is readable (the contract).
    let stride = check_size::<T>(unsafe { ptr.cast::<u32>().read() }, &format!("{what}[0]"))?;
    if stride % align_of::<T>() != 0 || stride.checked_mul(len).is_none_or(|n| n > isize::MAX as usize) {
        return Err(Failure::invalid(format!(
            "{what}[0].struct_size is {stride}: as the array's stride it must be a multiple of {} \
             (set it to sizeof({}))",
            align_of::<T>(),
            T::NAME
        )));
    }
    (0..len)
        .map(|i| {
            let at = ptr.cast::<u8>().wrapping_add(i * stride).cast::<T>();
            // SAFETY: element i starts at i * stride, inside the array and
            // aligned (stride is a multiple of T's alignment), readable by
            // the contract.
            let size = unsafe { at.cast::<u32>().read() };
            if size as usize != stride {
                return Err(Failure::invalid(format!(
                    "{what}[{i}].struct_size is {size} but {what}[0].struct_size is {stride}: every \
                     element of the array must give the same size"
                )));
            }
            // SAFETY: as above, valid for `stride` = its struct_size bytes.
            unsafe { read(at, &format!("{what}[{i}]")) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::chatvault_status;

    #[repr(C)]
    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Probe {
        struct_size: u32,
        a: u64,
        b: u64,
    }

    // SAFETY: repr(C), u32 first, integers only.
    unsafe impl Versioned for Probe {
        const NAME: &'static str = "probe";
        const MIN_SIZE: usize = std::mem::offset_of!(Probe, b);
        const FIELDS: &'static [(usize, usize)] = &[(0, 4), (8, 8), (16, 8)];
        fn defaults() -> Self {
            Probe { struct_size: size_of::<Probe>() as u32, a: 0, b: 77 }
        }
    }

    #[test]
    fn sizes_outside_the_known_layouts_are_refused() {
        for bad in [0u32, 4, 15, 25, 1000] {
            let e = check_size::<Probe>(bad, "p").unwrap_err();
            assert_eq!(e.status, chatvault_status::InvalidArgument, "{bad}");
            assert!(e.message.contains("struct_size"), "{}", e.message);
        }
        assert!(check_size::<Probe>(0, "p").unwrap_err().message.contains("rebuilt"));
        assert!(check_size::<Probe>(1000, "p").unwrap_err().message.contains("newer"));
        assert_eq!(check_size::<Probe>(16, "p").unwrap(), 16);
        assert_eq!(check_size::<Probe>(24, "p").unwrap(), 24);
    }

    /// A struct with a pointer after padding, like `chatvault_html_options`.
    #[repr(C)]
    #[derive(Debug, Clone, Copy)]
    struct Cut {
        struct_size: u32,
        flag: u8,
        ptr: *const u8,
        last: u32,
    }

    // SAFETY: repr(C), u32 first, integers and a raw pointer only.
    unsafe impl Versioned for Cut {
        const NAME: &'static str = "cut";
        const MIN_SIZE: usize = std::mem::offset_of!(Cut, flag);
        const FIELDS: &'static [(usize, usize)] = &[(0, 4), (4, 1), (8, 8), (16, 4)];
        fn defaults() -> Self {
            Cut { struct_size: size_of::<Cut>() as u32, flag: 0, ptr: std::ptr::null(), last: 0 }
        }
    }

    #[test]
    fn a_size_that_cuts_a_field_is_refused_and_padding_is_not_a_field() {
        // Inside Probe's `b` (16..24).
        for bad in [17u32, 20, 23] {
            let e = check_size::<Probe>(bad, "p").unwrap_err();
            assert_eq!(e.status, chatvault_status::InvalidArgument, "{bad}");
            assert!(e.message.contains("not the size of any layout of probe"), "{}", e.message);
        }
        // Half of Cut's pointer (8..16) is refused ...
        for bad in [9u32, 12, 15, 17] {
            assert!(check_size::<Cut>(bad, "c").is_err(), "{bad}");
        }
        // ... while a size in the padding after `flag` or `last` is a layout.
        for good in [4u32, 5, 6, 8, 16, 20, 24] {
            assert_eq!(check_size::<Cut>(good, "c").unwrap(), good as usize, "{good}");
        }
        // And half a pointer never reaches the copy.
        let value = Cut { struct_size: 12, flag: 1, ptr: 0x1234_5678_9abc_def0 as *const u8, last: 3 };
        // SAFETY: a valid, full Cut.
        assert!(unsafe { read(&value, "c") }.is_err());
    }

    #[test]
    fn check_ptr_refuses_null_and_misaligned_pointers() {
        let e = check_ptr(std::ptr::null::<Probe>(), "p").unwrap_err();
        assert_eq!(e.status, chatvault_status::NullArgument);
        let words = [0u64; 4];
        let odd = words.as_ptr().cast::<u8>().wrapping_add(1).cast::<Probe>();
        assert_eq!(check_ptr(odd, "p").unwrap_err().status, chatvault_status::InvalidArgument);
        assert!(check_ptr(words.as_ptr().cast::<Probe>(), "p").is_ok());
    }

    #[test]
    fn a_smaller_input_takes_the_defaults_past_its_size() {
        let full = Probe { struct_size: 24, a: 5, b: 6 };
        // SAFETY: a valid Probe.
        assert_eq!(unsafe { read(&full, "p") }.unwrap(), full);
        let short = Probe { struct_size: 16, a: 5, b: 6 };
        // SAFETY: a valid Probe (only 16 bytes are read).
        let got = unsafe { read(&short, "p") }.unwrap();
        assert_eq!((got.a, got.b), (5, 77), "b lies past struct_size: its default");
    }

    #[test]
    fn a_smaller_output_is_written_only_inside_its_size() {
        let mut out = Probe { struct_size: 16, a: 1, b: 0xCAFE };
        // SAFETY: a valid Probe, written at most 16 bytes.
        let o = unsafe { out_struct(&raw mut out, "out") }.unwrap();
        o.write(Probe { struct_size: 24, a: 9, b: 9 });
        assert_eq!(out, Probe { struct_size: 16, a: 9, b: 0xCAFE }, "b untouched, struct_size kept");
        let mut zero = Probe { struct_size: 0, a: 1, b: 2 };
        // SAFETY: a valid Probe.
        let e = unsafe { out_struct(&raw mut zero, "out") }.err().unwrap();
        assert_eq!(e.status, chatvault_status::InvalidArgument);
        assert_eq!(zero, Probe { struct_size: 0, a: 1, b: 2 }, "a refused struct is left alone");
    }

    #[test]
    fn arrays_step_by_the_first_struct_size_and_refuse_mixed_sizes() {
        let arr = [Probe { struct_size: 24, a: 1, b: 2 }, Probe { struct_size: 24, a: 3, b: 4 }];
        // SAFETY: two valid Probes.
        let got = unsafe { read_array(arr.as_ptr(), 2, "e") }.unwrap();
        assert_eq!(got, arr);
        let mixed = [Probe { struct_size: 24, a: 1, b: 2 }, Probe { struct_size: 16, a: 3, b: 4 }];
        // SAFETY: two valid Probes.
        let e = unsafe { read_array(mixed.as_ptr(), 2, "e") }.unwrap_err();
        assert!(e.message.contains("e[1].struct_size"), "{}", e.message);
        // A 16-byte stride: elements packed at 16 bytes, b left out.
        let packed: [u64; 4] = [16, 5, 16, 6];
        // SAFETY: 32 readable, aligned bytes: two 16-byte elements.
        let got = unsafe { read_array(packed.as_ptr().cast::<Probe>(), 2, "e") }.unwrap();
        assert_eq!((got[0].a, got[0].b, got[1].a, got[1].b), (5, 77, 6, 77));
    }
}
