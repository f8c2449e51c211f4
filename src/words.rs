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

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that a JSON string escapes: `"`, `\` or a control
/// character below U+0020. The lowest set bit is exact (the borrow of "some byte is
/// zero" and "some byte is below n" only marks bytes above a marked one), which is what
/// [`string_stop`] needs; any bit set says "some byte", which is what a yes/no test needs.
pub fn escaped_bits(word: u64) -> u64 {
    let zero_in = |w: u64| w.wrapping_sub(ONES) & !w;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    (zero_in(quote) | zero_in(backslash) | control) & HIGH
}

/// The index of the first byte of `bytes` that ends a plain run of a JSON string (`"`, `\`
/// or a control character), eight bytes at a time: where a string without escapes ends.
pub fn string_stop(bytes: &[u8]) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let bits = escaped_bits(u64::from_le_bytes(word.try_into().unwrap_or_default()));
        if bits != 0 {
            return Some(at + (bits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|p| at + p)
}

#[cfg(test)]
mod tests {
    use super::string_stop;

    #[test]
    fn string_stop_finds_the_first_quote_backslash_or_control_byte() {
        let slow = |bytes: &[u8]| {
            bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        };
        let mut texts: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"abc".to_vec(),
            b"opened\"".to_vec(),
            b"0123456789abcdef\"".to_vec(),
            b"01234567\\n".to_vec(),
            "é✓ and more text\"".as_bytes().to_vec(),
            b"tab\there".to_vec(),
            b"\x7f\x80\xff\x1f".to_vec(),
        ];
        // Every stop byte at every position of a 20-byte run, after bytes just above and
        // below each stop byte (the borrows the word test must not mistake).
        for stop in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
            for at in 0..20 {
                let mut text = vec![b'#'; 20];
                for (i, b) in text.iter_mut().enumerate().take(at) {
                    *b = [b'!', b'#', b'[', b']', 0x20, 0x21, 0x80, 0xff][i % 8];
                }
                text[at] = stop;
                texts.push(text);
            }
        }
        for text in &texts {
            assert_eq!(string_stop(text), slow(text), "{text:?}");
        }
    }
}
