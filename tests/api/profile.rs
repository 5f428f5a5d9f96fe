//! Dataset profiling in the upload pass: seed 2's summary and the structured
//! profile on CSV/TSV uploads; 422 `invalid_dataset` for files pandas refuses.

use reqwest::StatusCode;
use reqwest::multipart::Form;
use serde_json::Value;

use crate::helpers::{TestApp, error_code, file_part, new_session};

const SALES: &str = include_str!("../data/csv/sales_small.csv");

#[tokio::test]
async fn a_csv_upload_gets_seed_twos_summary_and_a_profile() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let session = new_session();
    let form = Form::new()
        .text("file_name", "sales_data")
        .text("session_id", session.clone())
        .part("file", file_part(SALES.as_bytes().to_vec(), "sales.csv"));
    let response = app.post_form(&ann, form).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let summary = body["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(
            "The dataset has **3 rows** and **5 columns**.\n\nIt contains the following features:\n\n\
             - **date**: `datetime64[ns]`\n- **product**: `object`\n- **sales**: `float64`\n\
             - **region**: `object`\n- **quantity**: `int64`"
        ),
        "{summary}"
    );
    let profile = &body["profile"];
    assert_eq!(profile["rows"], 3);
    assert_eq!(profile["columns"][2]["name"], "sales");
    assert_eq!(profile["columns"][2]["missing"], 1);
    assert_eq!(profile["columns"][4]["max"], 4);
    assert_eq!(profile["columns"][0]["min"], "2024-01-01T00:00:00");

    // The same everywhere the file is shown, the active file (cache) included.
    let meta = app.metadata(&ann, "sales_data").await;
    assert_eq!(meta["summary"], body["summary"]);
    assert_eq!(meta["profile"], body["profile"]);
    for _ in 0..2 {
        let active: Value = app.active_file(&ann, &session).await.unwrap();
        assert_eq!(active["profile"], body["profile"]);
    }
}

#[tokio::test]
async fn a_tsv_upload_is_profiled_too() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let response = app
        .put_file(&ann, "scores.tsv", &b"name\tscore\nann\t1.5\nbob\t2\n"[..])
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["summary"]
            .as_str()
            .unwrap()
            .contains("- **score**: `float64`")
    );
}

#[tokio::test]
async fn a_dataset_pandas_refuses_is_422_naming_the_line_and_leaves_only_a_failed_record() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let session = new_session();
    for (name, bytes) in [
        ("wide.csv", &b"a,b\n1,2\n3,4,5\n"[..]),
        ("empty.csv", &b""[..]),
        ("latin1.csv", &b"name\ncaf\xe9\n"[..]),
        ("open-quote.csv", &b"name\n\"never closed\n"[..]),
    ] {
        let response = app.put_file_in(&ann, &session, name, bytes).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_dataset", "{name}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("line "),
            "{body}"
        );
        app.assert_nothing_stored(&ann, name).await;
    }
    let history = app.history(&ann, &session, "").await;
    let codes: Vec<&str> = history["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["error_code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["invalid_dataset"; 4]);
    let wide = app.put_file(&ann, "wide.csv", &b"a,b\n1,2\n3,4,5\n"[..]).await;
    assert!(error_code(wide).await == "invalid_dataset");
}

#[tokio::test]
async fn other_files_get_an_empty_summary_and_no_profile() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let response = app.put_file(&ann, "notes.txt", &b"a,b\n1,2,3\n"[..]).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["summary"], "");
    assert_eq!(body["profile"], Value::Null);
    // An image named like a dataset is still an image.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0".to_vec();
    let response = app.put_file(&ann, "looks.csv", png).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["summary"].as_str(), &body["profile"]),
        (Some(""), &Value::Null)
    );
}

#[tokio::test]
async fn json_lines_and_json_arrays_are_profiled_and_other_json_is_just_stored() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let lines = app
        .put_file(
            &ann,
            "events.jsonl",
            &b"{\"id\":1,\"at\":\"2024-01-01\"}\n{\"id\":2,\"at\":\"2024-01-02\"}\n"[..],
        )
        .await;
    assert_eq!(lines.status(), StatusCode::CREATED);
    let body: Value = lines.json().await.unwrap();
    assert!(body["summary"].as_str().unwrap().starts_with(
        "The dataset has **2 rows** and **2 columns**.\n\nIt contains the following features:\n\n\
         - **id**: `int64`\n- **at**: `datetime64[ns]`"
    ));
    let array = app
        .put_file(&ann, "rows.json", &b"[{\"x\": 1.5}, {\"x\": null}]"[..])
        .await;
    let body: Value = array.json().await.unwrap();
    assert_eq!(body["profile"]["columns"][0]["dtype"], "float64");
    let config = app.put_file(&ann, "config.json", &b"{\"debug\": true}"[..]).await;
    assert_eq!(config.status(), StatusCode::CREATED);
    let body: Value = config.json().await.unwrap();
    assert_eq!(body["summary"], "");
    let broken = app
        .put_file(&ann, "broken.jsonl", &b"{\"id\":1}\n{\"id\":\n"[..])
        .await;
    assert_eq!(error_code(broken).await, "invalid_dataset");
}

/// A workbook is profiled from the staged copy (its ZIP directory is at its
/// end), before the upload's transaction: the summary arrives with the 201.
#[cfg(feature = "excel")]
#[tokio::test]
async fn an_excel_upload_is_profiled_from_its_first_sheet() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let broken = app
        .put_file(&ann, "broken.xlsx", &b"PK\x03\x04 not really a workbook"[..])
        .await;
    assert_eq!(error_code(broken).await, "invalid_dataset");
    app.assert_nothing_stored(&ann, "broken.xlsx").await;

    let workbook = include_bytes!("../data/typed/two_sheets.xlsx").to_vec();
    let form = Form::new()
        .text("file_name", "book")
        .part("file", file_part(workbook, "book.xlsx"));
    let response = app.post_form(&ann, form).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["summary"]
            .as_str()
            .unwrap()
            .starts_with("The dataset has **1 rows** and **1 columns**.\n\nIt contains the following features:\n\n- **first**: `int64`"),
        "{body}"
    );
}

#[cfg(feature = "parquet")]
#[tokio::test]
async fn a_parquet_upload_is_profiled_from_its_footer() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let parquet = include_bytes!("../data/typed/pandas_index.parquet");
    let cut = app
        .put_file(&ann, "cut.parquet", &parquet[..parquet.len() / 2])
        .await;
    assert_eq!(error_code(cut).await, "invalid_dataset");
    app.assert_nothing_stored(&ann, "cut.parquet").await;

    let response = app.put_file(&ann, "cities.parquet", &parquet[..]).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["profile"]["rows"], 2);
    assert_eq!(body["profile"]["columns"][1]["dtype"], "int64");
    assert_eq!(body["profile"]["columns"][1]["max"], 10_000_000);
}
