//! The profiler against `tests/data/csv` (the shared test data, with pandas'
//! answers in `expected.jsonl`) and against its own chunking.

use proptest::prelude::*;

use super::*;

fn profile_chunked(bytes: &[u8], cuts: &[usize]) -> Result<Option<Profile>, DatasetError> {
    profile_format(Format::Csv, bytes, cuts)
}

fn profile_format(format: Format, bytes: &[u8], cuts: &[usize]) -> Result<Option<Profile>, DatasetError> {
    let mut profiler = Profiler::new(format).expect("a format that streams");
    let mut start = 0;
    for &cut in cuts {
        let cut = cut.clamp(start, bytes.len());
        profiler.push(&bytes[start..cut])?;
        start = cut;
    }
    profiler.push(&bytes[start..])?;
    profiler.finish()
}

fn profile(bytes: &[u8]) -> Result<Option<Profile>, DatasetError> {
    profile_chunked(bytes, &[])
}

fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/csv")
}

#[test]
fn every_shared_test_file_matches_pandas() {
    let expected = std::fs::read_to_string(data_dir().join("expected.jsonl")).unwrap();
    let mut checked = 0;
    for line in expected.lines().filter(|line| !line.trim().is_empty()) {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let file = case["file"].as_str().unwrap();
        let bytes = std::fs::read(data_dir().join(file)).unwrap();
        let result = profile(&bytes);
        if case.get("error").is_some() {
            assert!(
                result.is_err(),
                "{file}: pandas refuses it, depot read {result:?}"
            );
            continue;
        }
        let profile = result.unwrap().unwrap();
        assert_eq!(profile.rows, case["rows"].as_u64().unwrap(), "{file}: rows");
        assert_eq!(
            profile.columns.len() as u64,
            case["columns"].as_u64().unwrap(),
            "{file}"
        );
        let dtypes: Vec<(String, String)> = profile
            .columns
            .iter()
            .map(|column| (column.name.clone(), column.dtype.as_str().to_owned()))
            .collect();
        let wanted: Vec<(String, String)> = serde_json::from_value(case["dtypes"].clone()).unwrap();
        assert_eq!(dtypes, wanted, "{file}");
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} files checked");
}

/// Cases read by pandas 3.1 `read_csv` (its `str` is depot's `object`).
#[test]
fn dtypes_follow_pandas_inference() {
    let cases: &[(&str, u64, &[&str])] = &[
        ("a,b\n,1\n,2\n", 2, &["float64", "int64"]),
        ("a\ntRuE\nfalse\n", 2, &["bool"]),
        ("a\nyes\nno\n", 2, &["object"]),
        ("a\nTrue\n\nFalse\n", 2, &["bool"]),
        ("a,b\nTrue,1\n,2\n", 2, &["object", "int64"]),
        ("a\n 1\n2 \n", 2, &["int64"]),
        ("a\n.5\n5.\n1e3\n", 3, &["float64"]),
        ("a\ninf\n-Inf\n1\n", 3, &["float64"]),
        ("a\n18446744073709551615\n-1\n", 2, &["object"]),
        ("a\n18446744073709551616\n1\n", 2, &["object"]),
        ("a\n18446744073709551616\n1.5\n", 2, &["object"]),
        ("a\n18446744073709551615\n1.5\n", 2, &["float64"]),
        ("a\n18446744073709551615\n-1\n1.5\n", 3, &["float64"]),
        ("a,b\n18446744073709551615,1\n,2\n", 2, &["object", "int64"]),
        (
            "big,small\n18446744073709551615,1\n1,2\n",
            2,
            &["uint64", "int64"],
        ),
        ("a\n1\n2.5\n", 2, &["float64"]),
        ("a\n\"1\"\n\"2\"\n", 2, &["int64"]),
        ("a,b,c\n1,2\n3,4,5\n", 2, &["int64", "int64", "float64"]),
        ("a\nNULL\nnull\nNone\n<NA>\n1\n", 5, &["float64"]),
        ("a,b\r\n1,2\r\n3,4\r\n", 2, &["int64", "int64"]),
        ("\u{feff}a,b\n1,2\n", 1, &["int64", "int64"]),
        ("a\n0x10\n1\n", 2, &["object"]),
        ("a\nTrue\n1\n", 2, &["object"]),
        ("a\n \n1\n", 1, &["int64"]),
        ("a,b\n1,2,\n", 1, &["int64", "float64"]),
        ("a,b\n1,2,3\n4,5\n", 2, &["int64", "float64"]),
        ("a\n True\nFalse\n", 2, &["object"]),
        ("a\n\"NA\"\n1\n", 2, &["float64"]),
        ("a\n\"1,000\"\n2\n", 2, &["object"]),
        ("\n\na,b\n1,2\n", 1, &["int64", "int64"]),
        ("a\n NA\n1\n", 2, &["object"]),
        ("a\nnAn\n1.5\n", 2, &["object"]),
        ("a\n1d5\n", 1, &["object"]),
        ("a,b\n1,True\n2,true\n3,TRUE\n", 3, &["int64", "bool"]),
        ("a,b\nTrue,1\nFalse,\n", 2, &["bool", "float64"]),
        ("a,b", 0, &["object", "object"]),
        // The order of the tokens matters: what stops pandas' int64 read first
        // decides what it tries next (found by bench/pandas_compare.py).
        ("a\n1.5\n18446744073709551616\n", 2, &["float64"]),
        ("a\n-9223372036854775809\n1.0\n", 2, &["float64"]),
        ("a\n9223372036854775808\n-Infinity\n", 2, &["object"]),
        ("a\n-9223372036854775809\n1\n", 2, &["object"]),
        ("\"\"\n True\n", 1, &["object"]),
        // The tokenizer's own edges, as pandas' C tokenizer reads them.
        ("a\n\" \"\n1\n", 2, &["object"]),
        ("a\n\u{c}\n1\n", 2, &["object"]),
        ("a\n  \"x\"\n1\n", 2, &["object"]),
        ("a,b\n1,2\n \t \n3,4\n", 2, &["int64", "int64"]),
        ("a,b\n\"1\"x,2\n", 1, &["object", "int64"]),
        ("a,b\r1,2\r,4\r", 2, &["float64", "int64"]),
        // A blank `\r` line swallows the delimiter after it.
        ("a,b\n1,2\n\r,3\n", 2, &["int64", "float64"]),
    ];
    for (text, rows, dtypes) in cases {
        let profile = profile(text.as_bytes()).unwrap().unwrap();
        let got: Vec<&str> = profile
            .columns
            .iter()
            .map(|column| column.dtype.as_str())
            .collect();
        assert_eq!((profile.rows, got.as_slice()), (*rows, *dtypes), "{text:?}");
    }
}

#[test]
fn files_pandas_refuses_are_refused_with_their_line() {
    for (text, line) in [
        (&b"a,b\n1,2\n3,4,5\n"[..], 3),
        (b"a,b\n1,2,3\n4,5,6,7\n", 3),
        (b"a,b\n1,2\n\"x\ny\",\xff\n", 4),
        (b"", 1),
        (b"\n\n", 1),
        (b"a,b\n1,2\n\"open\n", 3),
    ] {
        let err = profile(text).unwrap_err();
        assert_eq!(err.line, Some(line), "{:?}: {err}", String::from_utf8_lossy(text));
    }
}

#[test]
fn statistics_describe_each_column() {
    let csv = "n,x,when,name\n1,1.5,2024-01-02,a\n3,,2024-01-01T12:00:00,b\n2,4.5,,a\n";
    let profile = profile(csv.as_bytes()).unwrap().unwrap();
    let [n, x, when, name] = profile.columns.as_slice() else {
        panic!("four columns")
    };
    assert_eq!(
        (&n.dtype, n.missing, n.distinct),
        (&Dtype::Int64, Some(0), Some(3))
    );
    assert_eq!((n.min.clone(), n.max.clone()), (Some(1.into()), Some(3.into())));
    assert_eq!(n.mean, Some(2.0));
    assert_eq!(n.std, Some(1.0));
    assert_eq!((&x.dtype, x.missing), (&Dtype::Float64, Some(1)));
    assert_eq!(x.max, Some(serde_json::json!(4.5)));
    assert_eq!((&when.dtype, when.missing), (&Dtype::Datetime, Some(1)));
    assert_eq!(when.min, Some("2024-01-01T12:00:00".into()));
    assert_eq!(when.max, Some("2024-01-02T00:00:00".into()));
    assert_eq!(
        (&name.dtype, name.distinct, name.min.clone()),
        (&Dtype::Object, Some(2), None)
    );
}

#[test]
fn a_distinct_count_says_when_it_is_an_estimate() {
    let rows = |count: u32| {
        let mut csv = String::from("id\n");
        for id in 0..count {
            csv.push_str(&format!("{id}\n"));
        }
        profile(csv.as_bytes()).unwrap().unwrap().columns.remove(0)
    };
    let few = rows(128);
    assert_eq!((few.distinct, few.distinct_estimated), (Some(128), false));
    let many = rows(5000);
    assert!(many.distinct_estimated);
    let json = serde_json::to_value(&few).unwrap();
    assert!(
        json.get("distinct_estimated").is_none(),
        "only said when true: {json}"
    );
}

#[test]
fn the_summary_is_seed_twos_markdown_then_a_table() {
    let csv = "date,product,sales\n2024-01-01,widget,12.5\n2024-01-02,gadget,\n";
    let summary = profile(csv.as_bytes()).unwrap().unwrap().summary();
    assert!(
        summary.starts_with(
            "The dataset has **2 rows** and **3 columns**.\n\nIt contains the following features:\n\n\
             - **date**: `datetime64[ns]`\n- **product**: `object`\n- **sales**: `float64`\n\n"
        ),
        "{summary}"
    );
    assert!(
        summary.contains("| sales | float64 | 1 | 1 | 12.5 | 12.5 | 12.5000 |"),
        "{summary}"
    );
}

#[test]
fn a_nul_in_a_name_or_value_is_shown_as_a_replacement_character() {
    let csv = "na\0me,n\nx\0y,1\n";
    let summary = profile(csv.as_bytes()).unwrap().unwrap().summary();
    assert!(!summary.contains('\0'), "{summary:?}");
    assert!(summary.contains("- **na\u{FFFD}me**: `object`"), "{summary}");
}

#[test]
fn records_too_long_or_too_wide_give_no_profile_rather_than_an_error() {
    let wide = format!("{}\n", ",".repeat(delimited::MAX_FIELDS + 10));
    assert_eq!(profile(wide.as_bytes()).unwrap(), None);
    let long = format!("a\n\"{}\"\n", "x".repeat(delimited::MAX_RECORD_BYTES + 1));
    assert_eq!(profile(long.as_bytes()).unwrap(), None);
}

#[test]
fn other_formats_are_not_profiled() {
    assert_eq!(
        Format::detect("sales.csv", "application/octet-stream"),
        Some(Format::Csv)
    );
    assert_eq!(
        Format::detect("sales", "text/csv; charset=utf-8"),
        Some(Format::Csv)
    );
    assert_eq!(Format::detect("data.TSV", ""), Some(Format::Tsv));
    assert_eq!(Format::detect("photo.png", "image/png"), None);
    assert_eq!(Format::detect("events.ndjson", ""), Some(Format::JsonLines));
    assert_eq!(Format::detect("rows.json", ""), Some(Format::JsonArray));
}

const JSON_LINES: &str = "{\"a\":1,\"b\":1.5,\"c\":true,\"d\":\"x\",\"e\":\"2024-01-01\"}\n\
                          {\"a\":2,\"b\":2,\"c\":false,\"d\":\"y\",\"e\":\"2024-01-02\",\"f\":\"7\"}\n";

const JSON_ARRAY: &str = "[\n  {\"a\": 1, \"b\": 1.5, \"c\": true, \"d\": \"x\", \"e\": \"2024-01-01\"},\n  \
                          {\"a\": 2, \"b\": 2, \"c\": false, \"d\": \"y\", \"e\": \"2024-01-02\", \"f\": \"7\"}\n]\n";

fn dtypes_of(profile: &Profile) -> Vec<(String, &str)> {
    profile
        .columns
        .iter()
        .map(|column| (column.name.clone(), column.dtype.as_str()))
        .collect()
}

#[test]
fn json_lines_and_arrays_of_objects_are_profiled_alike() {
    let expected = [
        ("a", "int64"),
        ("b", "float64"),
        ("c", "bool"),
        ("d", "object"),
        ("e", "datetime64[ns]"),
        // A key first seen in the second record was missing in the first.
        ("f", "float64"),
    ]
    .map(|(name, dtype)| (name.to_owned(), dtype));
    for (format, text) in [(Format::JsonLines, JSON_LINES), (Format::JsonArray, JSON_ARRAY)] {
        let profile = profile_format(format, text.as_bytes(), &[]).unwrap().unwrap();
        assert_eq!(profile.rows, 2, "{format:?}");
        assert_eq!(dtypes_of(&profile), expected, "{format:?}");
        assert_eq!(profile.columns[5].missing, Some(1));
    }
}

#[test]
fn json_values_are_typed_as_their_tokens() {
    let text = "{\"n\":null,\"nested\":{\"x\":1},\"flag\":true,\"na\":\"NA\",\"big\":18446744073709551615}\n\
                {\"n\":1,\"nested\":[1,2],\"flag\":null,\"na\":\"NA\",\"big\":1}\n";
    let profile = profile_format(Format::JsonLines, text.as_bytes(), &[])
        .unwrap()
        .unwrap();
    let got: Vec<&str> = profile
        .columns
        .iter()
        .map(|column| column.dtype.as_str())
        .collect();
    // null is missing; a JSON string "NA" is a value, not a missing one.
    assert_eq!(got, ["float64", "object", "object", "object", "uint64"]);
    assert_eq!(profile.columns[3].missing, Some(0));
}

#[test]
fn broken_json_lines_are_refused_and_other_json_is_no_dataset() {
    let err = profile_format(Format::JsonLines, b"{\"a\":1}\n{\"a\":\n", &[]).unwrap_err();
    assert_eq!(err.line, Some(2), "{err}");
    assert!(profile_format(Format::JsonLines, b"", &[]).is_err());
    for not_a_dataset in [
        "{\"config\": true}",
        "[1, 2, 3]",
        "[{\"a\": 1}",
        "not json",
        "[{\"a\": 1}] x",
    ] {
        assert_eq!(
            profile_format(Format::JsonArray, not_a_dataset.as_bytes(), &[]).unwrap(),
            None,
            "{not_a_dataset}"
        );
    }
    let braces_in_strings = "[{\"s\": \"}]\\\"{[\"}, {\"s\": \"ok\"}]";
    let profile = profile_format(Format::JsonArray, braces_in_strings.as_bytes(), &[])
        .unwrap()
        .unwrap();
    assert_eq!(profile.rows, 2);
}

fn shared_files() -> Vec<Vec<u8>> {
    let mut files: Vec<Vec<u8>> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "csv"))
        .map(|path| std::fs::read(path).unwrap())
        .collect();
    files.push(
        "\u{feff}a,\"b\r\nc\",c\r\n1,\"x,\"\"y\"\"\",2024-01-01\r\n"
            .as_bytes()
            .to_vec(),
    );
    files
}

proptest! {
    #[test]
    fn chunking_never_changes_a_json_profile(mut cuts in proptest::collection::vec(0usize..400, 0..12)) {
        cuts.sort_unstable();
        for (format, text) in [(Format::JsonLines, JSON_LINES), (Format::JsonArray, JSON_ARRAY)] {
            let whole = profile_format(format, text.as_bytes(), &[]);
            prop_assert_eq!(profile_format(format, text.as_bytes(), &cuts), whole);
        }
    }

    #[test]
    fn chunking_never_changes_the_profile(
        file in 0usize..11,
        mut cuts in proptest::collection::vec(0usize..200, 0..12),
    ) {
        let files = shared_files();
        let bytes = &files[file % files.len()];
        cuts.sort_unstable();
        let whole = profile(bytes);
        prop_assert_eq!(profile_chunked(bytes, &cuts), whole.clone());
        let byte_by_byte: Vec<usize> = (1..bytes.len()).collect();
        prop_assert_eq!(profile_chunked(bytes, &byte_by_byte), whole);
    }

    /// Text made of the tokenizer's special bytes (quotes, both line ends,
    /// blanks, a two-byte character) reads the same — profile, or error and
    /// its line — however it is cut, even one byte at a time.
    #[test]
    fn chunking_never_changes_how_messy_text_reads(
        pieces in proptest::collection::vec(
            prop_oneof![
                Just("a"), Just("1"), Just("2.5"), Just("True"), Just("é"), Just("\""),
                Just(","), Just("\n"), Just("\r"), Just("\r\n"), Just(" "), Just("\t"), Just("NA"),
            ],
            0..60,
        ),
        mut cuts in proptest::collection::vec(0usize..200, 0..12),
    ) {
        let text = pieces.concat();
        let bytes = text.as_bytes();
        cuts.sort_unstable();
        let whole = profile(bytes);
        prop_assert_eq!(profile_chunked(bytes, &cuts), whole.clone());
        let byte_by_byte: Vec<usize> = (1..bytes.len()).collect();
        prop_assert_eq!(profile_chunked(bytes, &byte_by_byte), whole);
    }
}

/// `tests/data/typed`: Parquet and Excel files written by `make.py`, with
/// `pandas.read_parquet` / `read_excel`'s answers in `expected.jsonl`.
#[cfg(any(feature = "parquet", feature = "excel"))]
mod typed {
    use super::*;

    fn typed_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/typed")
    }

    /// A column as pandas read it: name, dtype, missing values.
    type Column = (String, String, u64);

    /// Each expected case whose file has extension `ext`: (file, rows, columns).
    fn cases(ext: &str) -> Vec<(String, u64, Vec<Column>)> {
        let expected = std::fs::read_to_string(typed_dir().join("expected.jsonl")).unwrap();
        let cases: Vec<_> = expected
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .filter(|case| case["file"].as_str().unwrap().ends_with(ext))
            .map(|case| {
                (
                    case["file"].as_str().unwrap().to_owned(),
                    case["rows"].as_u64().unwrap(),
                    serde_json::from_value(case["columns"].clone()).unwrap(),
                )
            })
            .collect();
        assert!(cases.len() >= 4, "too few .{ext} cases");
        cases
    }

    fn assert_matches(file: &str, rows: u64, columns: &[Column], profile: &Profile) {
        assert_eq!(profile.rows, rows, "{file}: rows");
        let got: Vec<Column> = profile
            .columns
            .iter()
            .map(|column| {
                let missing = column
                    .missing
                    .unwrap_or_else(|| panic!("{file}: {} has no missing count", column.name));
                (column.name.clone(), column.dtype.as_str().to_owned(), missing)
            })
            .collect();
        assert_eq!(got, columns, "{file}");
    }

    #[cfg(feature = "parquet")]
    #[test]
    fn parquet_files_match_pandas_however_they_are_chunked() {
        for (file, rows, columns) in cases(".parquet") {
            let bytes = std::fs::read(typed_dir().join(&file)).unwrap();
            let whole = profile_format(Format::Parquet, &bytes, &[]).unwrap().unwrap();
            assert_matches(&file, rows, &columns, &whole);
            let cuts: Vec<usize> = (0..bytes.len()).step_by(97).collect();
            assert_eq!(
                profile_format(Format::Parquet, &bytes, &cuts).unwrap().unwrap(),
                whole,
                "{file}"
            );
        }
    }

    #[cfg(feature = "parquet")]
    #[test]
    fn parquet_statistics_give_extremes_across_row_groups() {
        let bytes = std::fs::read(typed_dir().join("row_groups.parquet")).unwrap();
        let profile = profile_format(Format::Parquet, &bytes, &[]).unwrap().unwrap();
        let [id, score, name] = profile.columns.as_slice() else {
            panic!("three columns")
        };
        assert_eq!(
            (id.min.clone(), id.max.clone()),
            (Some(0.into()), Some(9_999.into()))
        );
        assert_eq!(score.max, Some(serde_json::json!(9_999.0 / 4.0)));
        assert_eq!(
            (id.mean, name.min.clone()),
            (None, None),
            "a footer holds no means; text has no extremes"
        );
        let types = std::fs::read(typed_dir().join("types.parquet")).unwrap();
        let profile = profile_format(Format::Parquet, &types, &[]).unwrap().unwrap();
        let column = |name: &str| profile.columns.iter().find(|column| column.name == name).unwrap();
        assert_eq!(
            column("u64").max,
            Some(u64::MAX.into()),
            "unsigned statistics read unsigned"
        );
        assert_eq!(column("ts_us").max, Some("2020-09-13T12:26:40".into()));
        assert_eq!(column("ts_utc").min, Some("1970-01-01T00:00:00.000001Z".into()));
    }

    #[cfg(feature = "parquet")]
    #[test]
    fn files_that_are_not_parquet_are_refused() {
        for bytes in [&b"a,b\n1,2\n"[..], b"PAR1", b"PAR1 truncated before its footer"] {
            let err = profile_format(Format::Parquet, bytes, &[]).unwrap_err();
            assert_eq!(err.line, None, "{err}");
        }
    }

    #[cfg(feature = "excel")]
    #[test]
    fn excel_workbooks_match_pandas() {
        for (file, rows, columns) in cases(".xlsx") {
            let bytes = std::fs::read(typed_dir().join(&file)).unwrap();
            let profile = profile_file(Format::Excel, std::io::Cursor::new(bytes))
                .unwrap()
                .unwrap()
                .unwrap();
            assert_matches(&file, rows, &columns, &profile);
        }
    }

    #[cfg(feature = "excel")]
    #[test]
    fn excel_dates_and_numbers_have_their_extremes() {
        let bytes = std::fs::read(typed_dir().join("types.xlsx")).unwrap();
        let profile = profile_file(Format::Excel, std::io::Cursor::new(bytes))
            .unwrap()
            .unwrap()
            .unwrap();
        let column = |name: &str| profile.columns.iter().find(|column| column.name == name).unwrap();
        assert_eq!(column("moment").min, Some("2020-01-01T12:30:00".into()));
        assert_eq!(column("int.1").min, Some((-9).into()));
        assert_eq!(column("float").mean, Some(6.5 / 3.0));
        assert!(Format::Excel.needs_random_access());
        assert!(
            profile_file(Format::Excel, std::io::Cursor::new(b"not a zip".to_vec()))
                .unwrap()
                .is_err()
        );
    }
}
