//! The binary's global allocator: mimalloc (per-thread free lists, so worker threads do not
//! queue for glibc's arena locks, and a fraction of glibc's cost per allocation).
//!
//! It asks mimalloc for a plain block whenever a plain block is aligned enough, and for an
//! aligned one only otherwise. The `mimalloc` crate asks for aligned blocks every time, and
//! mimalloc's aligned path above 1 KiB (hyper's and axum's boxed futures, on every request)
//! over-allocates and takes its slow path: about 300 instructions per such block.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// mimalloc as a [`GlobalAlloc`].
pub struct MiMalloc;

/// The alignment of every block `mi_malloc` returns that is at least this large
/// (`MI_MAX_ALIGN_SIZE`: its size classes above one word are multiples of two words).
const PLAIN_ALIGN: usize = 16;

/// Whether a plain block of `layout.size()` bytes is aligned enough for `layout`: the rule
/// Rust's own `System` allocator applies to `malloc`.
fn plain(layout: &Layout) -> bool {
    layout.align() <= PLAIN_ALIGN && layout.align() <= layout.size()
}

// SAFETY: each method returns what mimalloc returns for the layout's size, aligned as the
// layout asks (by `plain`, or by mimalloc's aligned calls), and null on failure; blocks from
// any of these calls are freed and resized by `mi_free` and `mi_realloc*`.
unsafe impl GlobalAlloc for MiMalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain C calls with a size and a power-of-two alignment.
        unsafe {
            if plain(&layout) {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if plain(&layout) {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc.
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align(new_size, layout.align());
        // SAFETY: `ptr` came from this allocator; the alignment kept is the layout's.
        unsafe {
            if new.is_ok_and(|new| plain(&new)) {
                mi::mi_realloc(ptr.cast(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
    }
}

/// Turns transparent huge pages off for this process, before it allocates much.
///
/// mimalloc marks its arenas `MADV_HUGEPAGE`. Where the kernel defragments on such faults
/// (`/sys/kernel/mm/transparent_hugepage/defrag` set to `madvise`, a common default), the
/// first write to each fresh 2 MiB of a filling store waited for the kernel to compact
/// memory and zero a huge page: milliseconds at a time, on the request that touched it,
/// with every request behind it waiting on the store's lock (`benches/README.md`, "The
/// tail at every store size"). With 4 KiB pages each first touch costs about a
/// microsecond, spread evenly. Elsewhere than Linux, nothing to do.
pub fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    {
        /// `PR_SET_THP_DISABLE` from `<linux/prctl.h>`.
        const PR_SET_THP_DISABLE: i32 = 41;
        unsafe extern "C" {
            fn prctl(option: i32, ...) -> i32;
        }
        // SAFETY: prctl with this option only sets a flag of the process; a kernel without
        // it answers an error, which leaves things as they were.
        unsafe {
            prctl(PR_SET_THP_DISABLE, 1u64, 0u64, 0u64, 0u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size from 1 byte to 2 KiB (past mimalloc's 1 KiB small-block limit) and some
    /// larger ones, at every alignment up to 4 KiB:
    /// the block is aligned as asked, writable over its whole size, zeroed when asked, and
    /// keeps its bytes through a resize.
    #[test]
    fn blocks_are_aligned_writable_and_keep_their_bytes() {
        let sizes = (1..=2048).chain([4095, 4096, 4097, 8192, 65_536, 1 << 20, 5 << 20]);
        for size in sizes {
            for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero size; every block is freed with the allocator it came from.
                unsafe {
                    let zeroed = MiMalloc.alloc_zeroed(layout);
                    assert!(!zeroed.is_null());
                    assert_eq!(zeroed as usize % align, 0, "zeroed {size} @ {align}");
                    assert!(
                        std::slice::from_raw_parts(zeroed, size)
                            .iter()
                            .all(|b| *b == 0)
                    );
                    MiMalloc.dealloc(zeroed, layout);

                    let block = MiMalloc.alloc(layout);
                    assert!(!block.is_null());
                    assert_eq!(block as usize % align, 0, "{size} @ {align}");
                    for i in 0..size {
                        *block.add(i) = i as u8;
                    }
                    let grown = MiMalloc.realloc(block, layout, size * 2 + 7);
                    assert_eq!(grown as usize % align, 0, "grown {size} @ {align}");
                    for i in 0..size {
                        assert_eq!(*grown.add(i), i as u8, "byte {i} of {size} @ {align}");
                    }
                    let grown_layout = Layout::from_size_align(size * 2 + 7, align).unwrap();
                    let shrunk = MiMalloc.realloc(grown, grown_layout, size.div_ceil(2));
                    assert_eq!(shrunk as usize % align, 0, "shrunk {size} @ {align}");
                    for i in 0..size.div_ceil(2) {
                        assert_eq!(*shrunk.add(i), i as u8, "byte {i} of {size} @ {align}");
                    }
                    let shrunk_layout = Layout::from_size_align(size.div_ceil(2), align).unwrap();
                    MiMalloc.dealloc(shrunk, shrunk_layout);
                }
            }
        }
    }
}
