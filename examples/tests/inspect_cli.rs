//! The `mailcore-server inspect` command, run as a real process.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn server() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mailcore-server"))
}

fn inspect(bytes: &[u8]) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!("mailcore-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("{n}.eml"));
    std::fs::write(&path, bytes).unwrap();
    let out = server().arg("inspect").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn prints_the_documented_json() {
    let raw = "From: =?GBK?B?1cXI/Q==?= <zhangsan@example.cn>\r\n\
        To: Bob <bob@example.com>, Team: c@example.com;\r\n\
        Cc: d@example.com\r\n\
        Subject: =?utf-8?B?5rWL6K+V?=\r\n\
        Date: Fri, 01 Mar 2024 10:20:30 +0800\r\n\
        Message-ID: <abc@example.cn>\r\n\
        Content-Type: multipart/mixed; boundary=b\r\n\r\n\
        --b\r\nContent-Type: text/plain; charset=GBK\r\nContent-Transfer-Encoding: base64\r\n\r\n1tDOxA==\r\n\
        --b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=UTF-8''%E6%8A%A5.bin\r\n\r\nxyz\r\n\
        --b--\r\n";
    let v = inspect(raw.as_bytes());
    let expected = serde_json::json!({
        "subject": "测试",
        "from": [{"name": "张三", "address": "zhangsan@example.cn"}],
        "to": [{"name": "Bob", "address": "bob@example.com"}, {"name": null, "address": "c@example.com"}],
        "cc": [{"name": null, "address": "d@example.com"}],
        "date": "2024-03-01T10:20:30+08:00",
        "message_id": "abc@example.cn",
        "parts": [
            {"path": "1", "content_type": "text/plain", "charset": "gbk", "filename": null, "size": 4},
            {"path": "2", "content_type": "application/octet-stream", "charset": null, "filename": "报.bin", "size": 3}
        ],
        "text": "中文",
        "html": null,
        "warnings": []
    });
    assert_eq!(v, expected);
}

#[test]
fn malformed_input_still_yields_json_with_warnings() {
    let v = inspect(b"no colon here\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nunterminated");
    assert!(!v["warnings"].as_array().unwrap().is_empty());
    assert_eq!(v["parts"][0]["path"], "1");
    let v = inspect(&[0xff, 0xfe, 0, 1, 2, b'\n', b':', 0x80]);
    assert!(v.is_object());
}

#[test]
fn unreadable_file_fails_with_a_clear_message() {
    let out = server()
        .args(["inspect", "/nonexistent/mail.eml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot open /nonexistent/mail.eml"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn the_readme_example_decodes_cleanly() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/messages/welcome.eml");
    let out = server().args(["inspect", path]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["subject"], "欢迎使用 mailcore");
    assert_eq!(v["to"][0]["name"], "张三");
    assert_eq!(v["text"], "欢迎张三加入公司。");
    assert_eq!(v["html"], "<p>欢迎 张三</p>");
    assert_eq!(v["parts"][2]["filename"], "入职指南.txt");
    assert_eq!(v["parts"][2]["path"], "2");
    assert_eq!(v["parts"][0]["path"], "1.1");
    assert_eq!(v["warnings"], serde_json::json!([]));
}
