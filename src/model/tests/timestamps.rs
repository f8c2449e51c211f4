//! Every timestamp form DESIGN §2 accepts, every one it rejects with the reason given, and
//! how a timestamp in a payload is kept and judged.

use chrono::{FixedOffset, NaiveDate, NaiveDateTime};

use super::*;

fn ts(text: &str) -> Timestamp {
    parse_timestamp(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn date_time(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, nanos: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_nano_opt(h, mi, s, nanos)
        .unwrap()
}

fn offset(secs: i32) -> Option<FixedOffset> {
    Some(FixedOffset::east_opt(secs).unwrap())
}

#[test]
fn a_timestamp_without_offset_is_a_naive_local_time() {
    let t = ts("2023-10-05T12:34:56");
    assert_eq!(t.local, date_time(2023, 10, 5, 12, 34, 56, 0));
    assert_eq!(t.offset, None);
}

#[test]
fn offsets_z_colon_and_compact_forms_are_accepted() {
    let cases = [
        ("2023-10-05T12:34:56Z", 0),
        ("2023-10-05T12:34:56z", 0),
        ("2023-10-05T12:34:56+02:00", 7200),
        ("2023-10-05T12:34:56+0200", 7200),
        ("2023-10-05T12:34:56-05:00", -5 * 3600),
        ("2023-10-05T12:34:56+05:30", 5 * 3600 + 1800),
        ("2023-10-05T12:34:56-00:00", 0),
    ];
    for (text, secs) in cases {
        let t = ts(text);
        assert_eq!(t.local, date_time(2023, 10, 5, 12, 34, 56, 0), "{text}");
        assert_eq!(t.offset, offset(secs), "{text}");
    }
}

#[test]
fn fractions_of_one_to_nine_digits_are_accepted() {
    assert_eq!(
        ts("2023-10-05T12:34:56.1").local,
        date_time(2023, 10, 5, 12, 34, 56, 100_000_000)
    );
    assert_eq!(
        ts("2023-10-05T12:34:56.123").local,
        date_time(2023, 10, 5, 12, 34, 56, 123_000_000)
    );
    let nine = ts("2023-10-05T12:34:56.123456789+02:00");
    assert_eq!(nine.local, date_time(2023, 10, 5, 12, 34, 56, 123_456_789));
    assert_eq!(nine.offset, offset(7200));
    assert_eq!(ts("2023-10-05T12:34:56.5Z").offset, offset(0));
}

#[test]
fn lower_case_t_a_space_and_no_seconds_are_accepted() {
    let expected = date_time(2023, 10, 5, 12, 34, 56, 0);
    assert_eq!(ts("2023-10-05t12:34:56").local, expected);
    assert_eq!(ts("2023-10-05 12:34:56").local, expected);
    assert_eq!(
        ts("2023-10-05T12:34").local,
        date_time(2023, 10, 5, 12, 34, 0, 0)
    );
    assert_eq!(ts("2023-10-05 12:34Z").offset, offset(0));
    assert_eq!(
        ts("2024-02-29T23:59:59").local,
        date_time(2024, 2, 29, 23, 59, 59, 0)
    );
}

#[test]
fn rejected_timestamps_say_which_form_is_expected_and_why() {
    let cases = [
        ("2023-10-05", "a date alone has no time"),
        ("1696509296", "a number is not a date-time"),
        ("1696509296.5", "a number is not a date-time"),
        ("2023-W40-4T12:00:00", "not in that form"),
        ("2023-278T12:00:00", "not in that form"),
        ("2023-10-05T24:00:00", "hour out of range"),
        ("2023-13-05T12:34:56", "the date is out of range"),
        ("2023-00-05T12:34:56", "the date is out of range"),
        ("2023-02-29T12:34:56", "the date is out of range"),
        ("2023-10-32T12:34:56", "the date is out of range"),
        ("2023-10-05T12:60:00", "the time is out of range"),
        ("2023-10-05T12:34:60", "the time is out of range"),
        ("2023-10-05T12:34:56.", "a fraction has 1 to 9 digits"),
        (
            "2023-10-05T12:34:56.1234567891",
            "a fraction has 1 to 9 digits",
        ),
        ("2023-10-05T12:34:56+24:00", "offset out of range"),
        ("2023-10-05T12:34:56+02", "not in that form"),
        ("2023-10-05T12:34:56 Z", "not in that form"),
        ("2023-10-05T12", "not in that form"),
        ("2023-10-05X12:34:56", "not in that form"),
        (" 2023-10-05T12:34:56", "not in that form"),
        ("2023-10-05T12:34:56Z ", "not in that form"),
        ("23-10-05T12:34:56", "not in that form"),
        ("Thu, 05 Oct 2023 12:34:56 GMT", "not in that form"),
    ];
    for (text, why) in cases {
        assert_eq!(
            parse_timestamp(text),
            Err(format!("{EXPECTED}, got \"{text}\" ({why})")),
            "{text}"
        );
    }
}

#[test]
fn the_empty_string_is_not_a_timestamp() {
    assert_eq!(
        parse_timestamp(""),
        Err(format!("{EXPECTED}, got an empty string"))
    );
}

#[test]
fn a_timestamp_is_kept_exactly_as_written() {
    let event =
        validate_event(with_timestamp(r#""2023-10-05t12:34:56.5+0200""#).as_bytes()).unwrap();
    assert_eq!(event.timestamp, "2023-10-05t12:34:56.5+0200");
}

#[test]
fn a_timestamp_that_is_not_a_string_says_which_form_is_expected() {
    for (raw, got) in [
        ("1696509296", "number 1696509296"),
        ("null", "null"),
        ("true", "boolean true"),
        (r#"{"iso": "2023-10-05T12:34:56"}"#, "object"),
    ] {
        assert_eq!(
            one_problem(&with_timestamp(raw)),
            ("timestamp".to_string(), format!("{EXPECTED}, got {got}")),
            "{raw}"
        );
    }
}

/// The fixed-place check of `2023-10-05T12:34:56[Z]` says yes exactly when the parser
/// accepts such a value: every day of leap and other years (and the days just past each
/// month's end), each field at and beyond its limits, wrong separators and non-digits.
#[test]
fn the_plain_form_is_accepted_exactly_as_the_parser_accepts_it() {
    use crate::model::timestamp::plain_is_valid;
    let mut values = Vec::new();
    for year in ["0000", "1900", "2000", "2023", "2024", "2100", "9999"] {
        for month in 0..=13 {
            for day in [0, 1, 28, 29, 30, 31, 32] {
                values.push(format!("{year}-{month:02}-{day:02}T12:34:56"));
            }
        }
    }
    for (hour, minute, second) in [
        (0, 0, 0),
        (23, 59, 59),
        (24, 0, 0),
        (0, 60, 0),
        (0, 0, 60),
        (99, 99, 99),
    ] {
        values.push(format!("2023-10-05T{hour:02}:{minute:02}:{second:02}"));
    }
    let good = "2023-10-05T12:34:56";
    for at in 0..good.len() {
        for c in ['0', '9', '-', ':', 'T', 't', ' ', 'x', '/', '\u{e9}'] {
            let mut v = good.to_string();
            v.replace_range(at..at + 1, &c.to_string());
            values.push(v);
        }
    }
    let with_ends: Vec<String> = values
        .iter()
        .flat_map(|v| {
            [
                v.clone(),
                format!("{v}Z"),
                format!("{v}z"),
                format!("{v}+02:00"),
                format!("{v}ZZ"),
                v.chars().skip(1).collect(),
            ]
        })
        .collect();
    let mut taken = 0;
    for value in &with_ends {
        let fast = plain_is_valid(value.as_bytes());
        if fast {
            taken += 1;
            assert!(
                parse_timestamp(value).is_ok(),
                "{value:?} taken but the parser refuses it"
            );
        } else if value.len() == 19 || (value.len() == 20 && value.ends_with('Z')) {
            assert!(
                parse_timestamp(value).is_err()
                    || !value.is_ascii()
                    || value.as_bytes()[10] != b'T',
                "{value:?} refused but the parser accepts it"
            );
        }
    }
    assert!(
        taken > 500,
        "only {taken} values took the fixed-place check"
    );
}
