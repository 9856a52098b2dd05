//! End-to-end tests of domain verification against a real DNS server on loopback:
//! `python3 -m dnslib.zoneresolver` serving `tests/dns/verify.test.zone` (Debian package
//! python3-dnslib). Without python3-dnslib the tests are skipped with a message, unless
//! `MAILCORE_REQUIRE_PEERS` is set (as `.ci/run` does): then they fail. The silent-nameserver
//! and invalid-request tests need no DNS server and always run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{DnsServer, dns_peer_available};

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use mailcore_policy::domain_verify::{
    CheckStatus, DEFAULT_LOOKUP_TIMEOUT, DomainVerifier, ExpectedMx, MxRecord, Resolver,
    VerificationReport, VerifyRequest, WrongPriority,
};

const ZONE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dns/verify.test.zone");

/// The DKIM public key the service expects (the `p=` value published at good.test).
const KEY: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDGz2verifytestkey0123456789\
                   abcdefghijABCDEFGHIJklmnopqrstuvwxyz+/0123456789QIDAQAB";
const SPF_INCLUDE: &str = "spf.mail.example.net";

/// What these tests do with the zone's DNS server.
trait DnsVerify {
    fn verifier(&self) -> DomainVerifier;
    async fn verify(&self, request: &VerifyRequest) -> VerificationReport;
}

impl DnsVerify for DnsServer {
    fn verifier(&self) -> DomainVerifier {
        DomainVerifier::new(Resolver::Nameserver(self.addr)).unwrap()
    }

    async fn verify(&self, request: &VerifyRequest) -> VerificationReport {
        let report = self.verifier().verify(request).await;
        // What the admin API returns survives JSON.
        let json = serde_json::to_string(&report).unwrap();
        let back: VerificationReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
        report
    }
}

/// The service's expectations for `domain`, with ownership token `token`.
fn request(domain: &str, token: &str) -> VerifyRequest {
    let mut request = VerifyRequest::new(domain, token, SPF_INCLUDE);
    request.expected_mx = vec![
        ExpectedMx::new("mx1.mail.example.net", 10),
        ExpectedMx::new("mx2.mail.example.net.", 20),
    ];
    request.dkim_selector = Some("mc2024".to_owned());
    request.dkim_public_key = Some(KEY.to_owned());
    request.validate().unwrap();
    request
}

fn mx(host: &str, priority: u16) -> MxRecord {
    serde_json::from_value(serde_json::json!({ "host": host, "priority": priority })).unwrap()
}

fn spf_record() -> Vec<String> {
    vec![format!("v=spf1 include:{SPF_INCLUDE} -all")]
}

fn dkim_record() -> Vec<String> {
    vec![format!("v=DKIM1; p={KEY}")]
}

#[tokio::test]
async fn all_good_domain_is_verified() {
    if !dns_peer_available() {
        return;
    }
    let dns = start_dns("good");
    let report = dns.verify(&request("GOOD.test.", "tok-good")).await;

    assert_eq!(report.domain, "good.test");
    assert!(report.verified, "{report:#?}");
    assert_eq!(report.mx.status, CheckStatus::Ok);
    assert_eq!(
        report.mx.found,
        [
            mx("mx1.mail.example.net", 10),
            mx("mx2.mail.example.net", 20)
        ]
    );
    assert!(report.mx.missing.is_empty());
    assert!(report.mx.extra.is_empty());
    assert!(report.mx.wrong_priority.is_empty());

    assert_eq!(report.ownership.status, CheckStatus::Ok);
    assert_eq!(
        report.ownership.found,
        ["mailcore-verify.good.test CNAME tok-good.verify.mail.example.net"]
    );
    assert!(
        report.ownership.detail.contains("CNAME"),
        "{}",
        report.ownership.detail
    );

    assert_eq!(report.spf.status, CheckStatus::Ok);
    assert_eq!(
        report.spf.found,
        [format!(
            "v=spf1 ip4:192.0.2.0/24 include:{SPF_INCLUDE} -all"
        )]
    );

    assert_eq!(report.dkim.status, CheckStatus::Ok);
    // The two character-strings of the record, joined.
    assert_eq!(report.dkim.found, [format!("v=DKIM1; k=rsa; p={KEY}")]);

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["verified"], true);
    assert_eq!(json["mx"]["status"], "ok");
    assert_eq!(json["mx"]["found"][0]["host"], "mx1.mail.example.net");
}

#[tokio::test]
async fn u_label_domain_is_looked_up_as_a_label() {
    if !dns_peer_available() {
        return;
    }
    let dns = start_dns("idn");
    let report = dns.verify(&request("Bücher.test", "tok-idn")).await;
    assert_eq!(report.domain, "xn--bcher-kva.test");
    assert!(report.verified, "{report:#?}");
    assert_eq!(
        report.ownership.found,
        ["xn--bcher-kva.test TXT mailcore-verification=tok-idn"]
    );
}

#[tokio::test]
async fn missing_mx_host_is_reported() {
    if !dns_peer_available() {
        return;
    }
    let dns = start_dns("mx-missing");
    let report = dns.verify(&request("mx-missing.test", "tok-mxm")).await;

    assert!(!report.verified);
    assert_eq!(report.mx.status, CheckStatus::Mismatch);
    assert_eq!(report.mx.found, [mx("mx1.mail.example.net", 10)]);
    assert_eq!(
        report.mx.missing,
        [ExpectedMx::new("mx2.mail.example.net", 20)]
    );
    assert!(report.mx.extra.is_empty());
    assert!(report.mx.wrong_priority.is_empty());
    assert!(
        report
            .mx
            .detail
            .contains("missing MX 20 mx2.mail.example.net"),
        "{}",
        report.mx.detail
    );
    // Everything else is fine; ownership by a TXT record at the domain.
    assert_eq!(report.ownership.status, CheckStatus::Ok);
    assert_eq!(
        report.ownership.found,
        ["mx-missing.test TXT mailcore-verification=tok-mxm"]
    );
    assert_eq!(report.spf.status, CheckStatus::Ok);
    assert_eq!(
        report.spf.found,
        [format!("v=spf1 include:{SPF_INCLUDE} ~all")]
    );
    assert_eq!(report.dkim.status, CheckStatus::Ok);
    assert_eq!(report.dkim.found, dkim_record());
}

#[tokio::test]
async fn extra_mx_host_is_reported() {
    if !dns_peer_available() {
        return;
    }
    let dns = start_dns("mx-extra");
    let report = dns.verify(&request("mx-extra.test", "tok-mxe")).await;

    assert_eq!(report.mx.status, CheckStatus::Mismatch);
    assert_eq!(report.mx.found.len(), 3);
    assert!(report.mx.missing.is_empty());
    assert_eq!(report.mx.extra, [mx("mx.old-provider.example", 30)]);
    assert!(report.mx.wrong_priority.is_empty());
    assert!(
        report
            .mx
            .detail
            .contains("unexpected MX 30 mx.old-provider.example"),
        "{}",
        report.mx.detail
    );
    assert_eq!(report.ownership.status, CheckStatus::Ok);
    assert_eq!(report.spf.status, CheckStatus::Ok);
    assert_eq!(report.spf.found, spf_record());
    // No key under the selector.
    assert_eq!(report.dkim.status, CheckStatus::Missing);
    assert!(!report.verified);
}

#[tokio::test]
async fn mx_at_wrong_priority_is_reported() {
    if !dns_peer_available() {
        return;
    }
    let dns = start_dns("mx-prio");
    let report = dns.verify(&request("mx-prio.test", "tok-prio")).await;

    assert_eq!(report.mx.status, CheckStatus::Mismatch);
    assert_eq!(
        report.mx.found,
        [
            mx("mx1.mail.example.net", 10),
            mx("mx2.mail.example.net", 10)
        ]
    );
    assert!(report.mx.missing.is_empty());
    assert!(report.mx.extra.is_empty());
    let expected: WrongPriority = serde_json::from_value(serde_json::json!({
        "host": "mx2.mail.example.net", "expected": 20, "found": 10
    }))
    .unwrap();
    assert_eq!(report.mx.wrong_priority, [expected]);
    assert!(
        report
            .mx
            .detail
            .contains("mx2.mail.example.net (expected 20, found 10)"),
        "{}",
        report.mx.detail
    );
    // Nothing else is published: each check is Missing, with no records seen.
    for check in [&report.ownership, &report.spf, &report.dkim] {
        assert_eq!(check.status, CheckStatus::Missing, "{check:?}");
        assert!(check.found.is_empty(), "{check:?}");
    }
    assert!(
        report
            .ownership
            .detail
            .contains("mailcore-verify.mx-prio.test"),
        "{}",
        report.ownership.detail
    );
}

#[tokio::test]
async fn domain_without_mx_is_missing() {
    if !dns_peer_available() {
        return;
    }
    let dns = start_dns("no-mx");
    let report = dns.verify(&request("no-mx.test", "tok-nomx")).await;

    assert_eq!(report.mx.status, CheckStatus::Missing);
    assert!(report.mx.found.is_empty());
    assert!(report.mx.extra.is_empty());
    assert!(report.mx.wrong_priority.is_empty());
    assert_eq!(report.mx.detail, "no MX record at no-mx.test");
    assert_eq!(report.spf.status, CheckStatus::Ok);
    assert!(!report.verified);
}

#[tokio::test]
async fn null_mx_is_an_extra_record() {
    if !dns_peer_available() {
        return;
    }
    let dns = start_dns("null-mx");
    let report = dns.verify(&request("null-mx.test", "tok-null")).await;

    assert_eq!(report.mx.status, CheckStatus::Mismatch);
    assert_eq!(report.mx.found, [mx(".", 0)]);
    assert_eq!(report.mx.extra, [mx(".", 0)]);
    assert_eq!(report.mx.missing.len(), 2);
}

#[tokio::test]
async fn ownership_by_txt_below_a_custom_label() {
    if !dns_peer_available() {
        return;
    }
    let dns = start_dns("own-label");
    let mut request = request("own-label.test", "tok-label");
    request.ownership_label = "_mc-owner".to_owned();
    let report = dns.verify(&request).await;

    assert_eq!(report.ownership.status, CheckStatus::Ok, "{report:#?}");
    assert_eq!(
        report.ownership.found,
        ["_mc-owner.own-label.test TXT mailcore-verification=tok-label"]
    );
    assert!(
        report.ownership.detail.contains("_mc-owner.own-label.test"),
        "{}",
        report.ownership.detail
    );
    assert_eq!(
        report.mx.missing,
        [ExpectedMx::new("mx2.mail.example.net", 20)]
    );
}

#[tokio::test]
async fn wrong_token_is_a_mismatch() {
    if !dns_peer_available() {
        return;
    }
    let dns = start_dns("wrong-token");
    let report = dns.verify(&request("wrong-token.test", "tok-mine")).await;

    assert_eq!(report.ownership.status, CheckStatus::Mismatch);
    assert_eq!(
        report.ownership.found,
        [
            "mailcore-verify.wrong-token.test CNAME tok-other.verify.mail.example.net",
            "wrong-token.test TXT mailcore-verification=tok-other",
        ]
    );
    assert!(
        report.ownership.detail.contains("tok-mine"),
        "{}",
        report.ownership.detail
    );
    // The SPF record at the same name is no ownership record, and is fine.
    assert_eq!(report.spf.status, CheckStatus::Ok);
    assert!(!report.verified);

    // The same zone with the right token proves ownership by the CNAME.
    let report = dns.verify(&request("wrong-token.test", "TOK-OTHER")).await;
    assert_eq!(report.ownership.status, CheckStatus::Ok);
    assert!(report.ownership.detail.contains("CNAME"));
}

#[tokio::test]
async fn spf_without_the_include_is_a_mismatch() {
    if !dns_peer_available() {
        return;
    }
    let dns = start_dns("spf-noinc");
    let report = dns.verify(&request("spf-noinc.test", "tok-spf")).await;

    assert_eq!(report.spf.status, CheckStatus::Mismatch);
    assert_eq!(
        report.spf.found,
        ["v=spf1 mx include:spf.other.example -all"]
    );
    assert!(
        report
            .spf
            .detail
            .contains("does not contain include:spf.mail.example.net"),
        "{}",
        report.spf.detail
    );
    assert_eq!(report.ownership.status, CheckStatus::Ok);
    assert_eq!(report.mx.status, CheckStatus::Missing);
}

#[tokio::test]
async fn two_spf_records_are_a_mismatch() {
    if !dns_peer_available() {
        return;
    }
    let dns = start_dns("spf-two");
    let report = dns.verify(&request("spf-two.test", "tok-two")).await;

    assert_eq!(report.spf.status, CheckStatus::Mismatch);
    assert_eq!(report.spf.found.len(), 2);
    assert!(report.spf.found.contains(&"v=spf1 mx -all".to_owned()));
    assert!(
        report.spf.detail.contains("2 SPF records") && report.spf.detail.contains("permerror"),
        "{}",
        report.spf.detail
    );
}

#[tokio::test]
async fn missing_dkim_key_is_missing() {
    if !dns_peer_available() {
        return;
    }
    let dns = start_dns("no-dkim");
    let report = dns.verify(&request("no-dkim.test", "tok-nodkim")).await;

    assert_eq!(report.dkim.status, CheckStatus::Missing);
    assert!(report.dkim.found.is_empty());
    assert!(
        report
            .dkim
            .detail
            .contains("mc2024._domainkey.no-dkim.test"),
        "{}",
        report.dkim.detail
    );
    assert_eq!(report.spf.status, CheckStatus::Ok);

    // Without a selector there is nothing to look up.
    let mut request = request("no-dkim.test", "tok-nodkim");
    request.dkim_selector = None;
    let report = dns.verify(&request).await;
    assert_eq!(report.dkim.status, CheckStatus::Missing);
    assert!(report.dkim.detail.contains("no DKIM selector"));
}

#[tokio::test]
async fn other_dkim_key_is_a_mismatch() {
    if !dns_peer_available() {
        return;
    }
    let dns = start_dns("dkim-other");
    let other = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDanotherkey";
    let report = dns.verify(&request("dkim-other.test", "tok-dk")).await;
    assert_eq!(report.dkim.status, CheckStatus::Mismatch);
    assert_eq!(report.dkim.found, [other]);
    assert!(
        report.dkim.detail.contains("not the expected one"),
        "{}",
        report.dkim.detail
    );

    // Without an expected key, any published key will do.
    let mut request = request("dkim-other.test", "tok-dk");
    request.dkim_public_key = None;
    let report = dns.verify(&request).await;
    assert_eq!(report.dkim.status, CheckStatus::Ok);
    assert_eq!(report.dkim.found, [other]);

    // … but not a revoked one.
    let mut request = self::request("dkim-revoked.test", "tok-dk");
    request.dkim_public_key = None;
    let report = dns.verify(&request).await;
    assert_eq!(report.dkim.status, CheckStatus::Mismatch);
    assert_eq!(report.dkim.found, ["v=DKIM1; p="]);
    assert!(
        report.dkim.detail.contains("revoked"),
        "{}",
        report.dkim.detail
    );
}

#[tokio::test]
async fn silent_nameserver_is_a_dns_error_within_the_timeout() {
    // A bound UDP socket that never answers (and no TCP listener on the port).
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let verifier = DomainVerifier::new(Resolver::Nameserver(addr)).unwrap();
    assert_eq!(verifier.timeout(), DEFAULT_LOOKUP_TIMEOUT);
    let timeout = Duration::from_millis(300);
    let verifier = verifier.with_timeout(timeout);
    assert_eq!(verifier.timeout(), timeout);

    let started = Instant::now();
    let report = verifier.verify(&request("good.test", "tok-good")).await;
    let elapsed = started.elapsed();

    assert!(
        elapsed < Duration::from_secs(2),
        "verification took {elapsed:?} with a {timeout:?} look-up timeout"
    );
    assert!(!report.verified);
    assert_eq!(report.mx.status, CheckStatus::DnsError);
    assert!(report.mx.found.is_empty());
    assert!(report.mx.missing.is_empty());
    for check in [&report.ownership, &report.spf, &report.dkim] {
        assert_eq!(check.status, CheckStatus::DnsError, "{check:?}");
        assert!(check.found.is_empty(), "{check:?}");
    }
    assert!(
        report.mx.detail.contains("no answer within 300ms"),
        "{}",
        report.mx.detail
    );
    assert!(
        report.dkim.detail.contains("mc2024._domainkey.good.test"),
        "{}",
        report.dkim.detail
    );
    drop(silent);
}

#[tokio::test]
async fn invalid_request_is_refused_and_not_looked_up() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let verifier = DomainVerifier::new(Resolver::Nameserver(silent.local_addr().unwrap()))
        .unwrap()
        .with_timeout(Duration::from_secs(30));
    let mut request = VerifyRequest::new("not a domain", "tok", SPF_INCLUDE);
    assert!(request.validate().is_err());

    let started = Instant::now();
    let report = verifier.verify(&request).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(report.domain, "not a domain");
    assert_eq!(report.mx.status, CheckStatus::DnsError);
    for check in [&report.ownership, &report.spf, &report.dkim] {
        assert_eq!(check.status, CheckStatus::DnsError, "{check:?}");
        assert!(check.detail.starts_with("not looked up"), "{check:?}");
    }

    // A token that cannot be a DNS label: only the ownership check is not done.
    request.domain = "good.test".to_owned();
    request.ownership_token = "two words".to_owned();
    assert!(request.validate().is_err());
    let report = verifier
        .with_timeout(Duration::from_millis(200))
        .verify(&request)
        .await;
    assert_eq!(report.ownership.status, CheckStatus::DnsError);
    assert!(
        report.ownership.detail.contains("invalid ownership token"),
        "{}",
        report.ownership.detail
    );
}

#[test]
fn requests_deserialise_with_defaults() {
    let request: VerifyRequest = serde_json::from_value(serde_json::json!({
        "domain": "example.com",
        "ownership_token": "abc",
        "spf_include": SPF_INCLUDE,
    }))
    .unwrap();
    assert_eq!(request.ownership_label, "mailcore-verify");
    assert!(request.expected_mx.is_empty());
    assert_eq!(request.dkim_selector, None);
    assert_eq!(
        request,
        VerifyRequest::new("example.com", "abc", SPF_INCLUDE)
    );
}

/// The zone's DNS server, named `name` in its log file.
fn start_dns(name: &str) -> DnsServer {
    DnsServer::start(
        std::path::Path::new(ZONE),
        "good.test",
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")),
        name,
    )
}
