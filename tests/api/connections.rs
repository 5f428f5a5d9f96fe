//! Connections that never finish: slow and silent heads, idle kept-alive
//! connections, trickling bodies, unread responses, and floods from one
//! address, against a server with a low open-file limit.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::multipart::Form;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::helpers::{TestApp, error_code, file_part, new_session, sample_bytes};
use crate::process::{ServerProcess, depot_with_open_files};

/// How a hostile connection ended.
#[derive(Debug)]
struct Ended {
    /// What the server sent before closing it.
    answer: String,
    /// How long after connecting.
    after: Duration,
}

/// Connects and, if `slow`, sends a request head a byte a second; otherwise
/// sends nothing. Returns once the server closes the connection.
async fn hold(address: String, slow: bool) -> Ended {
    let started = Instant::now();
    let stream = TcpStream::connect(&address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let drip = async move {
        if slow {
            for byte in b"GET /healthz HTTP/1.1\r\nHost: depot\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n" {
                if writer.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        std::future::pending::<()>().await;
    };
    let mut answer = Vec::new();
    tokio::select! {
        _ = reader.read_to_end(&mut answer) => {}
        () = drip => {}
    }
    Ended {
        answer: String::from_utf8_lossy(&answer).into_owned(),
        after: started.elapsed(),
    }
}

#[tokio::test]
async fn slow_and_silent_connections_under_a_low_fd_limit_leave_room_and_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let header_timeout = Duration::from_secs(3);
    // Half of 256 open files for connections, a quarter of those per address.
    let server = ServerProcess::launch(
        depot_with_open_files(dir.path(), 256),
        dir.path(),
        &["--addr", "127.0.0.1:0"],
        &[("DEPOT_HEADER_TIMEOUT", "3s"), ("DEPOT_LOG", "info")],
    );
    let address = server.address.trim_start_matches("http://").to_owned();

    // 200 heads a byte a second and 100 silent connections, all from 127.0.0.1:
    // more than the process could hold open.
    let mut hostile = JoinSet::new();
    for n in 0..300 {
        hostile.spawn(hold(address.clone(), n < 200));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Someone else, from another address, is answered at once.
    let client = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let asked = Instant::now();
    let response = client
        .get(format!("{}/readyz", server.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        asked.elapsed() < header_timeout,
        "the answer waited {:?}, as if for the hostile connections to time out",
        asked.elapsed()
    );

    // Every hostile connection is closed: refused at once (with an answer, when
    // the server could give one), or cut at its deadline — long before a
    // dripping head would have ended by itself (~90 s). The bound leaves room
    // for a loaded machine: CI runs the whole suite beside it, and once took
    // longer than four header timeouts to see all 300 go.
    let ended = tokio::time::timeout(header_timeout * 10, hostile.join_all())
        .await
        .expect("hostile connections were still open long after the header timeout");
    let (refused, cut): (Vec<_>, Vec<_>) = ended
        .iter()
        .partition(|ended| ended.after < Duration::from_secs(2));
    assert!(!cut.is_empty(), "no connection was admitted");
    for ended in &cut {
        assert!(ended.answer.is_empty(), "{}", ended.answer);
        assert!(
            ended.after >= header_timeout - Duration::from_millis(100),
            "cut after {:?}",
            ended.after
        );
    }
    let answered: Vec<_> = refused.iter().filter(|ended| !ended.answer.is_empty()).collect();
    assert!(!answered.is_empty(), "no refusal was answered");
    for ended in answered {
        assert!(ended.answer.starts_with("HTTP/1.1 429"), "{}", ended.answer);
        assert!(ended.answer.contains("too_many_connections"), "{}", ended.answer);
    }
    let metrics = server.metrics(&client).await;
    assert!(
        metrics.contains(r#"depot_connections_refused_total{reason="client_full"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"depot_connections_timed_out_total{phase="header"}"#),
        "{metrics}"
    );
    let log = server.stop();
    assert!(
        !log.contains("cannot accept connections"),
        "the process ran out of file descriptors:\n{log}"
    );
}

/// Reads one whole response (with a `content-length`) off `stream`.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let read = stream.read(&mut buf).await.unwrap();
        assert!(read > 0, "the connection closed mid-response");
        bytes.extend_from_slice(&buf[..read]);
        let text = String::from_utf8_lossy(&bytes);
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .map_or(0, |length| length.trim().parse().unwrap());
            if bytes.len() >= end + 4 + length {
                return text.into_owned();
            }
        }
    }
}

/// How long until the server closes `stream`.
async fn time_to_close(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut rest))
        .await
        .expect("the connection was never closed")
        .unwrap();
    started.elapsed()
}

#[tokio::test]
async fn a_silent_connection_ends_at_the_header_timeout_and_an_idle_one_at_the_keep_alive_timeout() {
    let app = TestApp::spawn_with(|config| {
        config.header_timeout = depot::config::HumanDuration::from_secs(1);
        config.keep_alive_timeout = depot::config::HumanDuration::from_secs(3);
    })
    .await;
    let address = app.address.trim_start_matches("http://");

    let mut silent = TcpStream::connect(address).await.unwrap();
    let closed = time_to_close(&mut silent).await;
    assert!(
        closed >= Duration::from_millis(900) && closed < Duration::from_secs(3),
        "{closed:?}"
    );

    let mut kept = TcpStream::connect(address).await.unwrap();
    for _ in 0..2 {
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: depot\r\n\r\n")
            .await
            .unwrap();
        assert!(read_response(&mut kept).await.starts_with("HTTP/1.1 200"));
    }
    let closed = time_to_close(&mut kept).await;
    assert!(
        closed >= Duration::from_millis(2900) && closed < Duration::from_secs(6),
        "{closed:?}"
    );

    // A head begun on a kept-alive connection gets the header timeout, not more.
    let mut slow = TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: depot\r\n\r\n")
        .await
        .unwrap();
    read_response(&mut slow).await;
    slow.write_all(b"GET /heal").await.unwrap();
    let closed = time_to_close(&mut slow).await;
    assert!(closed < Duration::from_millis(2500), "{closed:?}");
}

/// Sends `head` and then `body` in pieces of `piece` bytes every `every`,
/// until the server answers; returns the answer.
async fn trickle(app: &TestApp, head: String, body: Vec<u8>, piece: usize, every: Duration) -> String {
    let stream = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let sending = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await.unwrap();
        for piece in body.chunks(piece) {
            if writer.write_all(piece).await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
        std::future::pending::<()>().await;
    });
    let mut answer = Vec::new();
    // The server closes with the rest of the body unread, which may end in a reset.
    let _ = tokio::time::timeout(Duration::from_secs(20), reader.read_to_end(&mut answer))
        .await
        .expect("the trickling body was never cut");
    sending.abort();
    String::from_utf8_lossy(&answer).into_owned()
}

fn slow_bodies(config: &mut depot::config::Config) {
    config.body_timeout = depot::config::HumanDuration::from_secs(1);
    config.min_body_rate = 10_000;
}

#[tokio::test]
async fn a_body_that_trickles_is_cut_with_408_and_nothing_is_kept() {
    let app = TestApp::spawn_with(slow_bodies).await;
    let ann = app.user("ann").await;
    let session = new_session();
    let content = sample_bytes(200_000);

    // A raw upload at 2,000 bytes/s, a fifth of the minimum.
    let head = format!(
        "PUT /api/v1/files/slow.bin/content HTTP/1.1\r\nHost: depot\r\nAuthorization: Bearer {}\r\n\
         X-Session-Id: {session}\r\nContent-Length: {}\r\n\r\n",
        ann.token,
        content.len()
    );
    let started = Instant::now();
    let answer = trickle(&app, head, content.clone(), 200, Duration::from_millis(100)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":"body_timeout""#), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut after {:?}",
        started.elapsed()
    );
    app.assert_nothing_stored(&ann, "slow.bin").await;

    // A form whose file part trickles.
    let form_head = |length: usize| {
        format!(
            "POST /api/v1/files/ HTTP/1.1\r\nHost: depot\r\nAuthorization: Bearer {}\r\n\
             X-Session-Id: {session}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n\
             Content-Length: {length}\r\n\r\n",
            ann.token
        )
    };
    let mut form = b"--XyZ\r\nContent-Disposition: form-data; name=\"file_name\"\r\n\r\nslow-form.bin\r\n\
        --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\n\r\n"
        .to_vec();
    form.extend_from_slice(&content);
    form.extend_from_slice(b"\r\n--XyZ--\r\n");
    let answer = trickle(&app, form_head(form.len()), form, 200, Duration::from_millis(100)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    app.assert_nothing_stored(&ann, "slow-form.bin").await;

    let failed = app.history(&ann, &session, "status=failed").await;
    let codes: Vec<&str> = failed["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["error_code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["body_timeout", "body_timeout"]);

    // A body at the rate is stored.
    let form = Form::new()
        .text("file_name", "fast.bin")
        .part("file", file_part(content.clone(), "fast.bin"));
    assert_eq!(app.post_form(&ann, form).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_response_the_client_stops_reading_is_cut_at_the_send_timeout() {
    let app = TestApp::spawn_with(|config| {
        config.send_timeout = depot::config::HumanDuration::from_secs(1);
    })
    .await;
    let ann = app.user("ann").await;
    let size = 64 * 1024 * 1024;
    let response = app.put_file(&ann, "big.bin", sample_bytes(size)).await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{}",
        error_code(response).await
    );

    let mut stream = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let request = format!(
        "GET /api/v1/files/big.bin/content HTTP/1.1\r\nHost: depot\r\nAuthorization: Bearer {}\r\n\r\n",
        ann.token
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // Read nothing for a while: the server's writes wait on a full window.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut received))
        .await
        .expect("the stalled download was never cut");
    assert!(
        read.is_err() || received.len() < size,
        "the whole file arrived after all"
    );
}
