//! Unit tests of signing: the specification's and GitHub's test vectors, their
//! one-character-off negatives, tolerance and multi-signature headers.

use super::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS: i64 = 1614265330;
const BODY: &[u8] = br#"{"test": 2432232314}"#;
const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const GITHUB_BODY: &[u8] = b"Hello, World!";
const GITHUB_SIGNATURE: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

fn secret() -> Secret {
    Secret::parse(SECRET).unwrap()
}

fn verify_at(signatures: &str, body: &[u8], timestamp: &str, now: i64) -> Result<(), VerifyError> {
    let tolerance = Tolerance::default();
    verify_standard_parts(&[secret()], ID, timestamp, signatures, body, tolerance, now)
}

/// Changes the character at `at` to another one of the same alphabet.
fn one_off(text: &str, at: usize) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    chars[at] = if chars[at] == 'a' { 'b' } else { 'a' };
    chars.into_iter().collect()
}

#[test]
fn standard_vector_signs_as_the_specification_says() {
    assert_eq!(sign(&[secret()], ID, TS, BODY), SIGNATURE);
}

#[test]
fn the_prefix_is_optional() {
    let bare = Secret::parse(SECRET.trim_start_matches("whsec_")).unwrap();
    assert_eq!(sign(&[bare], ID, TS, BODY), SIGNATURE);
}

#[test]
fn standard_vector_verifies_and_one_character_off_does_not() {
    let ts = TS.to_string();
    assert_eq!(verify_at(SIGNATURE, BODY, &ts, TS), Ok(()));
    let bad_signature = one_off(SIGNATURE, 10);
    assert_eq!(
        verify_at(&bad_signature, BODY, &ts, TS),
        Err(VerifyError::NoMatchingSignature)
    );
    let bad_body = br#"{"test": 2432232315}"#;
    assert_eq!(
        verify_at(SIGNATURE, bad_body, &ts, TS),
        Err(VerifyError::NoMatchingSignature)
    );
    let other_ts = (TS + 1).to_string();
    assert_eq!(
        verify_at(SIGNATURE, BODY, &other_ts, TS),
        Err(VerifyError::NoMatchingSignature)
    );
    let other_id = one_off(ID, 5);
    let result = verify_standard_parts(
        &[secret()],
        &other_id,
        &ts,
        SIGNATURE,
        BODY,
        Tolerance::Off,
        TS,
    );
    assert_eq!(result, Err(VerifyError::NoMatchingSignature));
    let other_secret = Secret::parse(&one_off(SECRET, 8)).unwrap();
    assert_ne!(sign(&[other_secret], ID, TS, BODY), SIGNATURE);
}

#[test]
fn any_v1_entry_may_match_and_other_versions_are_ignored() {
    let ts = TS.to_string();
    let second_valid = format!("v1,{} {SIGNATURE}", &one_off(SIGNATURE, 10)[3..]);
    assert_eq!(verify_at(&second_valid, BODY, &ts, TS), Ok(()));
    let wrong_version = SIGNATURE.replace("v1,", "v2,");
    assert_eq!(
        verify_at(&wrong_version, BODY, &ts, TS),
        Err(VerifyError::NoMatchingSignature)
    );
    let garbage_first = format!("v1,@@@ v1a,xyz {SIGNATURE}");
    assert_eq!(verify_at(&garbage_first, BODY, &ts, TS), Ok(()));
}

#[test]
fn several_secrets_give_several_signatures_any_of_which_verifies() {
    let other = Secret::generate().unwrap();
    let both = sign(&[other.clone(), secret()], ID, TS, BODY);
    let entries: Vec<&str> = both.split(' ').collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1], SIGNATURE);
    let ts = TS.to_string();
    let verified = verify_standard_parts(&[other], ID, &ts, &both, BODY, Tolerance::Off, TS);
    assert_eq!(verified, Ok(()));
}

#[test]
fn timestamps_outside_the_tolerance_are_refused_either_way() {
    let ts = TS.to_string();
    assert_eq!(verify_at(SIGNATURE, BODY, &ts, TS + 300), Ok(()));
    assert_eq!(
        verify_at(SIGNATURE, BODY, &ts, TS + 301),
        Err(VerifyError::TimestampTooOld {
            header: HEADER_TIMESTAMP,
            age: 301,
            tolerance: 300
        })
    );
    assert_eq!(
        verify_at(SIGNATURE, BODY, &ts, TS - 301)
            .unwrap_err()
            .reason(),
        "timestamp_too_new"
    );
    let off = verify_standard_parts(
        &[secret()],
        ID,
        &ts,
        SIGNATURE,
        BODY,
        Tolerance::Off,
        TS + 86_400,
    );
    assert_eq!(off, Ok(()));
}

#[test]
fn timestamps_must_be_unix_seconds() {
    for bad in [
        "",
        "soon",
        "1614265330.5",
        "-5",
        "+1614265330",
        "99999999999999999999",
    ] {
        let err = verify_at(SIGNATURE, BODY, bad, TS).unwrap_err();
        assert_eq!(err.reason(), "bad_timestamp", "{bad:?}");
    }
}

#[test]
fn missing_headers_are_named() {
    let signer = Signer::new(vec![secret()]).unwrap();
    let id = MessageId::new(ID).unwrap();
    let full = signer.headers_at(&id, now_unix(), BODY);
    assert_eq!(
        verify_standard(&[secret()], &full, BODY, Tolerance::default()),
        Ok(())
    );
    for name in [HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE] {
        let mut headers = full.clone();
        headers.remove(name);
        let err = verify_standard(&[secret()], &headers, BODY, Tolerance::default()).unwrap_err();
        assert_eq!(err, VerifyError::MissingHeader(name));
        assert_eq!(err.reason(), "missing_header");
    }
}

#[test]
fn signer_headers_carry_id_timestamp_and_the_vector_signature() {
    let signer = Signer::new(vec![secret()]).unwrap();
    let headers = signer.headers_at(&MessageId::new(ID).unwrap(), TS, BODY);
    assert_eq!(headers[HEADER_ID], ID);
    assert_eq!(headers[HEADER_TIMESTAMP], "1614265330");
    assert_eq!(headers[HEADER_SIGNATURE], SIGNATURE);
    assert!(Signer::new(Vec::new()).is_none());
}

#[test]
fn github_vector_verifies_and_one_character_off_does_not() {
    let secret = Secret::raw(GITHUB_SECRET).unwrap();
    assert_eq!(github_signature(&secret, GITHUB_BODY), GITHUB_SIGNATURE);
    let mut headers = HeaderMap::new();
    headers.insert(HEADER_GITHUB, HeaderValue::from_static(GITHUB_SIGNATURE));
    let secrets = [secret];
    assert_eq!(verify_github(&secrets, &headers, GITHUB_BODY), Ok(()));
    assert_eq!(
        verify_github(&secrets, &headers, b"Hello, World?"),
        Err(VerifyError::NoMatchingSignature)
    );
    let off = one_off(GITHUB_SIGNATURE, 20);
    headers.insert(HEADER_GITHUB, HeaderValue::from_str(&off).unwrap());
    assert_eq!(
        verify_github(&secrets, &headers, GITHUB_BODY),
        Err(VerifyError::NoMatchingSignature)
    );
    let other = [Secret::raw("It's a Secret to Everybodz").unwrap()];
    headers.insert(HEADER_GITHUB, HeaderValue::from_static(GITHUB_SIGNATURE));
    assert_eq!(
        verify_github(&other, &headers, GITHUB_BODY),
        Err(VerifyError::NoMatchingSignature)
    );
    headers.remove(HEADER_GITHUB);
    assert_eq!(
        verify_github(&secrets, &headers, GITHUB_BODY),
        Err(VerifyError::MissingHeader(HEADER_GITHUB))
    );
}

#[test]
fn secrets_never_show_their_bytes() {
    let secret = secret();
    assert_eq!(secret.to_string(), "whsec_***");
    assert_eq!(format!("{secret:?}"), "Secret(whsec_***)");
    let signer = Signer::new(vec![secret.clone()]).unwrap();
    assert!(!format!("{signer:?}").contains("MfKQ"));
    assert_eq!(secret.to_whsec(), SECRET);
}

#[test]
fn bad_secrets_are_refused_without_echoing_them() {
    let refused = |text: &str| Secret::parse(text).unwrap_err();
    assert_eq!(refused("whsec_"), SecretError::Empty);
    assert_eq!(refused("whsec_not base64!"), SecretError::NotBase64);
    assert_eq!(refused("whsec_YWJj"), SecretError::BadLength(3));
    let message = Secret::parse("whsec_sekrit!!").unwrap_err().to_string();
    assert!(!message.contains("sekrit"), "{message}");
}

#[test]
fn generated_secrets_are_32_fresh_bytes() {
    let a = Secret::generate().unwrap().to_whsec();
    let b = Secret::generate().unwrap().to_whsec();
    assert_ne!(a, b);
    assert!(a.starts_with("whsec_"));
    let reparsed = Secret::parse(&a).unwrap();
    assert_eq!(reparsed.to_whsec(), a);
    assert_eq!(BASE64.decode(&a[6..]).unwrap().len(), 32);
}

#[test]
fn message_ids_refuse_dots_and_blanks() {
    assert_eq!(MessageId::for_event(123).as_str(), "evt_123");
    assert!(MessageId::new("msg_1").is_ok());
    for bad in ["", "a.b", "has space", "é"] {
        assert!(MessageId::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn stripe_signs_t_dot_body_and_checks_t_within_the_tolerance() {
    let secret = Secret::raw("whsec_test_secret").unwrap();
    let header = stripe_signature(std::slice::from_ref(&secret), TS, BODY);
    assert!(header.starts_with(&format!("t={TS},v1=")), "{header}");
    let verify = |header: &str, now| {
        verify_stripe_at(
            std::slice::from_ref(&secret),
            header,
            BODY,
            Tolerance::default(),
            now,
        )
    };
    assert_eq!(verify(&header, TS), Ok(()));
    // A second v1 (a rolled secret) and a v0 entry are allowed beside the matching one.
    assert_eq!(verify(&format!("{header},v1=00,v0=ab"), TS), Ok(()));
    assert_eq!(
        verify(&header, TS + 301).unwrap_err().reason(),
        "timestamp_too_old"
    );
    assert_eq!(
        verify(&one_off(&header, header.len() - 1), TS),
        Err(VerifyError::NoMatchingSignature)
    );
    assert_eq!(verify("v1=abc", TS).unwrap_err().reason(), "missing_header");
}

#[test]
fn slack_signs_v0_timestamp_body() {
    let secret = Secret::raw("8f742231b10e8888abcd99yyyzzz85a5").unwrap();
    let signature = slack_signature(&secret, TS, BODY);
    assert!(
        signature.starts_with("v0=") && signature.len() == 67,
        "{signature}"
    );
    let ts = TS.to_string();
    let verify = |sig: &str, now| {
        verify_slack_at(
            std::slice::from_ref(&secret),
            &ts,
            sig,
            BODY,
            Tolerance::default(),
            now,
        )
    };
    assert_eq!(verify(&signature, TS), Ok(()));
    assert_eq!(
        verify(&signature.to_uppercase().replace("V0=", "v0="), TS),
        Ok(())
    );
    assert_eq!(
        verify(&signature, TS - 301).unwrap_err().reason(),
        "timestamp_too_new"
    );
    let message = verify(&signature, TS + 301).unwrap_err().to_string();
    assert!(
        message.starts_with("x-slack-request-timestamp is 301s"),
        "{message}"
    );
}

#[test]
fn shopify_signs_the_body_in_base64() {
    let secret = Secret::raw("hush").unwrap();
    let mut headers = HeaderMap::new();
    let signature = shopify_signature(&secret, BODY);
    headers.insert(HEADER_SHOPIFY, HeaderValue::from_str(&signature).unwrap());
    assert_eq!(
        verify_shopify(std::slice::from_ref(&secret), &headers, BODY),
        Ok(())
    );
    assert_eq!(
        verify_shopify(&[secret], &headers, b"{}"),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn github_signatures_in_either_case_verify_and_any_other_byte_in_them_does_not() {
    let secret = Secret::raw(GITHUB_SECRET).unwrap();
    let secrets = [secret];
    let verify_with = |value: &[u8]| {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_GITHUB, HeaderValue::from_bytes(value).unwrap());
        verify_github(&secrets, &headers, GITHUB_BODY)
    };
    assert_eq!(
        verify_with(GITHUB_SIGNATURE.to_uppercase().as_bytes()),
        Ok(())
    );
    // Every visible character that is no hex digit, at the first and the last digit:
    // refused, never read as some digit. (A value with a byte beyond ASCII is no text at
    // all: the header counts as missing, as before.)
    assert_eq!(
        verify_with(&[GITHUB_SIGNATURE.as_bytes(), &[0x80]].concat()),
        Err(VerifyError::MissingHeader(HEADER_GITHUB))
    );
    for byte in (0x20..=0x7eu8).filter(|b| !b.is_ascii_hexdigit()) {
        for at in [7, GITHUB_SIGNATURE.len() - 1] {
            let mut value = GITHUB_SIGNATURE.as_bytes().to_vec();
            value[at] = byte;
            assert_eq!(
                verify_with(&value),
                Err(VerifyError::NoMatchingSignature),
                "{byte:#x} at {at}"
            );
        }
    }
}

#[test]
fn header_text_is_visible_ascii_exactly() {
    for len in 1..20 {
        for at in 0..len {
            for byte in 0..=255u8 {
                let mut value = vec![b'x'; len];
                value[at] = byte;
                let visible = (0x20..=0x7e).contains(&byte);
                assert_eq!(
                    visible_ascii(&value).is_some(),
                    visible,
                    "{byte:#x} at {at} of {len}"
                );
            }
        }
    }
    assert_eq!(visible_ascii(b""), Some(""));
    assert_eq!(visible_ascii(b" sha256=ab~ "), Some(" sha256=ab~ "));
}
