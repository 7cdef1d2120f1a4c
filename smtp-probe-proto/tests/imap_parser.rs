//! Properties of the IMAP response parser: however the bytes are cut into reads, the same responses come out,
//! and every limit holds as the bytes arrive.

use proptest::prelude::*;
use smtp_probe_proto::imap::{ResponseError, ResponseLimits, ResponseParser};

/// One response of a kind real servers send, literal contents included (CRLF and braces in literals too).
fn response() -> impl Strategy<Value = Vec<u8>> {
    let text = "[ -~&&[^{}\\[\\]]]{0,40}";
    let literal = proptest::collection::vec(any::<u8>(), 0..300);
    prop_oneof![
        (1u32..100, text).prop_map(|(n, t)| format!("a{n} OK {t}\r\n").into_bytes()),
        Just(b"a3 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n".to_vec()),
        Just(b"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ AUTH=PLAIN] ready\r\n".to_vec()),
        (0u32..1000).prop_map(|n| format!("* {n} EXISTS\r\n").into_bytes()),
        (1u32..1000).prop_map(|n| format!("* {n} EXPUNGE\r\n").into_bytes()),
        proptest::collection::vec(1u32..100_000, 0..20).prop_map(|uids| {
            let list: String = uids.iter().map(|u| format!(" {u}")).collect();
            format!("* SEARCH{list}\r\n").into_bytes()
        }),
        (1u32..100, literal.clone(), any::<bool>()).prop_map(|(uid, data, plus)| {
            let mut r = format!(
                "* 1 FETCH (UID {uid} INTERNALDATE \"03-Mar-2025 10:00:02 +0000\" BODY[HEADER] {{{}{}}}\r\n",
                data.len(),
                if plus { "+" } else { "" }
            )
            .into_bytes();
            r.extend_from_slice(&data);
            r.extend_from_slice(b")\r\n");
            r
        }),
        Just(b"+ \r\n".to_vec()),
        Just(b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n".to_vec()),
        Just(b"* LIST (\\HasNoChildren) \"/\" \"Junk\"\r\n".to_vec()),
        Just(b"* BYE Logging out\r\n".to_vec()),
    ]
}

fn parse(stream: &[u8], cuts: &[usize], limits: ResponseLimits) -> (Vec<String>, Option<ResponseError>) {
    let mut parser = ResponseParser::new(limits);
    let mut out = Vec::new();
    let mut at = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.push(stream.len());
    points.sort_unstable();
    for point in points {
        if let Err(err) = parser.feed(&stream[at..point]) {
            return (out, Some(err));
        }
        at = point;
        assert!(parser.buffered().len() <= limits.max_buffered);
        loop {
            match parser.next_response() {
                Ok(Some(response)) => out.push(format!("{response:?}")),
                Ok(None) => break,
                Err(err) => return (out, Some(err)),
            }
        }
    }
    (out, None)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any split of a valid stream gives exactly the responses of the whole, and nothing else.
    #[test]
    fn any_split_gives_the_same_responses(
        responses in proptest::collection::vec(response(), 1..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..24),
    ) {
        let mut stream = b"* OK ready\r\n".to_vec();
        for r in &responses {
            stream.extend_from_slice(r);
        }
        let limits = ResponseLimits::default();
        let (whole, error) = parse(&stream, &[], limits);
        prop_assert_eq!(error, None);
        prop_assert_eq!(whole.len(), responses.len() + 1);
        let (split, error) = parse(&stream, &cuts, limits);
        prop_assert_eq!(error, None);
        prop_assert_eq!(split, whole);
    }

    /// Under small limits the same error comes out however the bytes are cut (or the buffer limit, first).
    #[test]
    fn limits_hold_however_the_bytes_arrive(
        responses in proptest::collection::vec(response(), 1..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..24),
        line in 16usize..200,
        literal in 0usize..200,
        untagged in 1usize..6,
    ) {
        let mut stream = b"* OK ready\r\n".to_vec();
        for r in &responses {
            stream.extend_from_slice(r);
        }
        let limits = ResponseLimits { max_line_len: line, max_literal: literal, max_buffered: 4096, max_untagged: untagged };
        let (whole, whole_error) = parse(&stream, &[], ResponseLimits { max_buffered: usize::MAX, ..limits });
        let (split, split_error) = parse(&stream, &cuts, limits);
        match split_error {
            Some(ResponseError::BufferFull { .. }) => prop_assert!(whole.starts_with(&split)),
            other => {
                prop_assert_eq!(&split, &whole);
                prop_assert_eq!(other.map(|e| std::mem::discriminant(&e)), whole_error.map(|e| std::mem::discriminant(&e)));
            }
        }
    }
}
