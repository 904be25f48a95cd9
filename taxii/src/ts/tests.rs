use super::*;

fn ts(s: &str) -> Timestamp {
    match Timestamp::parse(s) {
        Ok(t) => t,
        Err(e) => panic!("{s}: {e}"),
    }
}

#[test]
fn accepted_forms_and_equal_instants() {
    let midnight = ts("2024-01-01T00:00:00Z");
    assert_eq!(ts("2024-01-01T08:00:00+08:00"), midnight);
    assert_eq!(ts("2024-01-01T00:00:00-00:00"), midnight);
    assert_eq!(ts("2024-01-01t00:00:00z"), midnight);
    assert_eq!(ts("2024-01-01 00:00:00+00:00"), midnight);
    assert_eq!(ts("2023-12-31T19:30:00-04:30"), midnight);
    assert_eq!(
        ts("2024-01-01T00:00:00.5Z").as_micros(),
        midnight.as_micros() + 500_000
    );
    assert_eq!(midnight.as_micros(), 1_704_067_200_000_000);
}

#[test]
fn fraction_past_six_digits_truncates_toward_the_past() {
    let t = ts("2024-01-01T00:00:00.123456789Z");
    assert_eq!(t, ts("2024-01-01T00:00:00.123456Z"));
    assert_eq!(t.to_string(), "2024-01-01T00:00:00.123456Z");
    assert_eq!(
        ts("1969-12-31T23:59:59.9999999Z"),
        Timestamp::from_micros(-1)
    );
    assert_eq!(
        ts("2024-01-01T00:00:00.1Z").as_micros() % 1_000_000,
        100_000
    );
    assert!(Timestamp::parse("2024-01-01T00:00:00.1234567890Z").is_err());
}

#[test]
fn rejected_forms() {
    for bad in [
        "2024-01-01T00:00:00",
        "2024-01-01",
        "2024-13-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:60:00Z",
        "2024-01-01T00:00:61Z",
        "2024-01-01T00:00:00.Z",
        "2024-01-01T00:00:00+0800",
        "2024-01-01T00:00:00+24:00",
        "2024-01-01T00:00:00Zjunk",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+00:01",
        "9999-12-31T23:59:59-00:01",
        "24-01-01T00:00:00Z",
        "",
        "２０２４-01-01T00:00:00Z",
    ] {
        assert!(Timestamp::parse(bad).is_err(), "{bad} accepted");
    }
}

#[test]
fn error_names_value_and_reason() {
    let e = Timestamp::parse("2024-01-01T00:00:00").unwrap_err();
    let text = e.to_string();
    assert!(text.contains("2024-01-01T00:00:00"), "{text}");
    assert!(text.contains("zone"), "{text}");
    let long = "9".repeat(10_000);
    assert!(Timestamp::parse(&long).unwrap_err().to_string().len() < 200);
}

#[test]
fn assume_utc_only_fills_a_missing_zone() {
    let midnight = ts("2024-01-01T00:00:00Z");
    assert_eq!(
        Timestamp::parse_assume_utc("2024-01-01T00:00:00").unwrap(),
        midnight
    );
    assert_eq!(
        Timestamp::parse_assume_utc("2024-01-01T08:00:00+08:00").unwrap(),
        midnight
    );
    assert!(Timestamp::parse_assume_utc("2024-01-01").is_err());
}

#[test]
fn leap_second_is_clamped_into_its_minute() {
    let t = ts("2016-12-31T23:59:60Z");
    assert_eq!(t.to_string(), "2016-12-31T23:59:59.999999Z");
    assert!(t < ts("2017-01-01T00:00:00Z"));
}

#[test]
fn display_is_utc_six_digits_z() {
    assert_eq!(
        ts("2024-01-01T08:00:00+08:00").to_string(),
        "2024-01-01T00:00:00.000000Z"
    );
    assert_eq!(
        Timestamp::from_micros(0).to_string(),
        "1970-01-01T00:00:00.000000Z"
    );
    assert_eq!(
        ts("0001-01-01T00:00:00Z").to_string(),
        "0001-01-01T00:00:00.000000Z"
    );
    assert_eq!(
        ts("9999-12-31T23:59:59.999999Z").to_string(),
        "9999-12-31T23:59:59.999999Z"
    );
    // Extreme values format without panicking.
    let _ = Timestamp::from_micros(i64::MIN).to_string();
    let _ = Timestamp::from_micros(i64::MAX).to_string();
}

#[test]
fn display_parse_round_trip_over_many_days() {
    // Every 7919th day-ish step across the whole range, with odd microseconds.
    let first = ts("0001-01-01T00:00:00Z").as_micros();
    let last = ts("9999-12-31T23:59:59.999999Z").as_micros();
    let step = 7_919 * 86_400_000_000 + 1_234_567;
    let mut us = first;
    while us <= last {
        let t = Timestamp::from_micros(us);
        assert_eq!(ts(&t.to_string()), t, "{t}");
        us += step;
    }
}

#[test]
fn calendar_matches_known_days() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    for days in -800_000..800_000i64 {
        if days % 97 != 0 {
            continue;
        }
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days);
    }
}

#[test]
fn now_is_after_2024() {
    assert!(Timestamp::now() > ts("2024-01-01T00:00:00Z"));
}

#[test]
fn from_str_requires_zone() {
    assert!("2024-01-01T00:00:00".parse::<Timestamp>().is_err());
    assert!("2024-01-01T00:00:00Z".parse::<Timestamp>().is_ok());
}
