//! MSK IAM sign-in (`--features msk-iam`): our tokens against AWS's own
//! Python signer for the same credentials and time, and the clients'
//! `OAUTHBEARER` callback wiring. What needs AWS (IMDS, a real MSK
//! listener) is not tested here; docs/kafka.md says so.

#![cfg(feature = "msk-iam")]
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use gateway::kafka::msk_iam::{AwsCredentials, MskIamSigner, presigned_url};
use gateway::kafka::{KafkaAuth, KafkaConfig, MskIamConfig};
use rdkafka::consumer::Consumer as _;

const SIGNER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/msk_iam_signer.py");

fn python() -> std::path::PathBuf {
    common::tool(
        "ENGINE_TEST_PYTHON",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/test-tools/venv/bin/python"
        ),
    )
}

/// The query parameters of a URL, but the user agent, which names the
/// library that signed.
fn signed_params(url: &str) -> Vec<String> {
    let (base, query) = url.split_once('?').unwrap();
    let mut params: Vec<String> = query
        .split('&')
        .filter(|p| !p.starts_with("User-Agent="))
        .map(str::to_string)
        .collect();
    params.sort();
    params.insert(0, base.to_string());
    params
}

#[test]
fn our_tokens_match_aws_python_signer_for_the_same_credentials_and_time() {
    for (region, epoch, token) in [
        ("us-east-1", 1_700_000_000u64, Some("SESSION/TOKEN+1=")),
        ("ap-northeast-2", 1_795_000_123, None),
    ] {
        let credentials = AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: token.map(str::to_string),
        };
        let ours = presigned_url(
            region,
            &credentials,
            UNIX_EPOCH + Duration::from_secs(epoch),
        )
        .unwrap();
        let out = Command::new(python())
            .arg(SIGNER)
            .args([region, &epoch.to_string(), "AKIDEXAMPLE"])
            .arg(&credentials.secret_access_key)
            .arg(token.unwrap_or(""))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let theirs = text.lines().next().unwrap();
        assert_eq!(
            signed_params(&ours),
            signed_params(theirs),
            "{region}: ours {ours}\ntheirs {theirs}"
        );
        assert!(ours.contains("X-Amz-Signature="));
    }
}

#[test]
fn an_msk_iam_config_signs_the_clients_in_with_oauthbearer_tokens() {
    let credentials = AwsCredentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "secret".into(),
        session_token: None,
    };
    let config = KafkaConfig {
        msk_iam: Some(MskIamConfig {
            region: "us-east-1".into(),
        }),
        auth: KafkaAuth::msk_iam(MskIamSigner::with_credentials("us-east-1", credentials)),
        ..KafkaConfig::default()
    };
    config.validate().unwrap();
    // TLS needs the `ssl` feature; the callback does not. Nothing listens
    // on port 9: librdkafka asks for a token as soon as the client exists.
    let extra = [(
        "security.protocol".to_string(),
        "SASL_PLAINTEXT".to_string(),
    )];
    let client = config.watermark_client("127.0.0.1:9", &extra).unwrap();
    let auth = client.context().auth();
    assert!(auth.signs());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while auth.tokens_issued() == 0 && std::time::Instant::now() < deadline {
        // Token refreshes arrive as events that `poll` serves.
        let _ = client.poll(Duration::from_millis(100));
    }
    assert!(
        auth.tokens_issued() >= 1,
        "librdkafka asked our context for a token"
    );
}
