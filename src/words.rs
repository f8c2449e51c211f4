//! Byte tests a word (eight bytes) at a time, for the short texts of the hot paths: header
//! values, ids, JSON strings.

/// Whether `test` holds for any eight-byte word of `bytes` (read little-endian), the last
/// few bytes padded with `pad` (a byte for which `test` must not hold).
pub fn any_word(bytes: &[u8], pad: u8, test: impl Fn(u64) -> bool) -> bool {
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        if test(u64::from_le_bytes(word.try_into().unwrap_or([pad; 8]))) {
            return true;
        }
    }
    let rest = words.remainder();
    if rest.is_empty() {
        return false;
    }
    let mut last = [pad; 8];
    last[..rest.len()].copy_from_slice(rest);
    test(u64::from_le_bytes(last))
}
