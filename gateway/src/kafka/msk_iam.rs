//! MSK IAM sign-in: SASL `OAUTHBEARER` tokens that are SigV4-presigned
//! `kafka-cluster:Connect` URLs, as AWS's own signer libraries make them.
//!
//! A token is `https://kafka.REGION.amazonaws.com/?Action=kafka-cluster%3AConnect`
//! presigned for the `kafka-cluster` service (15 minutes, the credentials'
//! session token included), with a `User-Agent` parameter, in unpadded
//! URL-safe base64. Signing uses `aws-sigv4`, the AWS SDK's signer.
//!
//! Credentials come from the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) or else the instance
//! profile, through IMDSv2. librdkafka asks for a token on the thread that
//! polls the client (ingress, egress) about every 12 minutes, so the
//! instance profile is read by a background thread, never there: the
//! callback only signs, which takes microseconds. This module does no
//! Kafka I/O.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine as _;
use rdkafka::client::OAuthToken;
use serde::Deserialize;

/// How long a token is good for: AWS's signers use 15 minutes.
pub(crate) const TOKEN_LIFETIME: Duration = Duration::from_secs(900);
/// What the token says signed it.
pub(crate) const USER_AGENT: &str = concat!("matching-engine/", env!("CARGO_PKG_VERSION"));
/// How often the background thread re-reads the instance profile.
const REFRESH_EVERY: Duration = Duration::from_secs(300);
const IMDS: &str = "http://169.254.169.254";

/// Keys to sign with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsCredentials {
    /// `AKIA...` or `ASIA...`.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// Present for temporary credentials (roles, instance profiles).
    pub session_token: Option<String>,
}

impl AwsCredentials {
    /// From the standard environment variables, if both keys are set.
    pub(crate) fn from_env() -> Option<AwsCredentials> {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Some(AwsCredentials {
            access_key_id: var("AWS_ACCESS_KEY_ID")?,
            secret_access_key: var("AWS_SECRET_ACCESS_KEY")?,
            session_token: var("AWS_SESSION_TOKEN"),
        })
    }

    /// From the JSON IMDS serves at
    /// `/latest/meta-data/iam/security-credentials/ROLE`.
    pub(crate) fn from_imds_document(json: &str) -> Result<AwsCredentials, String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Document {
            code: Option<String>,
            access_key_id: String,
            secret_access_key: String,
            token: Option<String>,
        }
        let doc: Document = serde_json::from_str(json).map_err(|e| {
            format!("the instance profile's credentials are not JSON IMDS writes: {e}")
        })?;
        if let Some(code) = doc.code.filter(|c| c != "Success") {
            return Err(format!(
                "IMDS says the instance profile's credentials are {code:?}"
            ));
        }
        Ok(AwsCredentials {
            access_key_id: doc.access_key_id,
            secret_access_key: doc.secret_access_key,
            session_token: doc.token,
        })
    }

    /// From the instance profile, through IMDSv2.
    pub(crate) fn from_instance_profile() -> Result<AwsCredentials, String> {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(2)))
                .build(),
        );
        let fail = |what: &str, e: ureq::Error| {
            format!("cannot {what} from IMDS (is this an EC2 instance with a profile?): {e}")
        };
        let token = agent
            .put(format!("{IMDS}/latest/api/token"))
            .header("X-aws-ec2-metadata-token-ttl-seconds", "21600")
            .send_empty()
            .and_then(|mut r| r.body_mut().read_to_string())
            .map_err(|e| fail("get a session token", e))?;
        let get = |path: &str| {
            agent
                .get(format!(
                    "{IMDS}/latest/meta-data/iam/security-credentials/{path}"
                ))
                .header("X-aws-ec2-metadata-token", &token)
                .call()
                .and_then(|mut r| r.body_mut().read_to_string())
        };
        let role = get("").map_err(|e| fail("read the instance profile's role", e))?;
        let role = role.lines().next().unwrap_or_default().trim().to_string();
        let document = get(&role).map_err(|e| fail("read the role's credentials", e))?;
        AwsCredentials::from_imds_document(&document)
    }
}

/// A signed token and when it expires, in ms since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AuthToken {
    /// Unpadded URL-safe base64 of the presigned URL.
    pub token: String,
    /// Signing time plus [`TOKEN_LIFETIME`].
    pub expires_ms: i64,
}

/// The presigned URL a token encodes, for `credentials` in `region` at
/// `now`.
pub fn presigned_url(
    region: &str,
    credentials: &AwsCredentials,
    now: SystemTime,
) -> Result<String, String> {
    let identity: Identity = Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        credentials.session_token.clone(),
        None,
        "matching-engine",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("kafka-cluster")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| format!("MSK IAM signing parameters: {e}"))?
        .into();
    let host = format!("kafka.{region}.amazonaws.com");
    let url = format!("https://{host}/?Action=kafka-cluster%3AConnect");
    let request = SignableRequest::new(
        "GET",
        &url,
        std::iter::once(("host", host.as_str())),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| format!("MSK IAM request to sign: {e}"))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| format!("signing the MSK IAM token: {e}"))?
        .into_parts();
    let mut signed = url;
    for (name, value) in instructions.params() {
        signed.push('&');
        signed.push_str(name);
        signed.push('=');
        signed.push_str(&encode(value));
    }
    signed.push_str("&User-Agent=");
    signed.push_str(&encode(USER_AGENT));
    Ok(signed)
}

/// SigV4's URI encoding: everything but `A-Z a-z 0-9 - _ . ~`.
fn encode(value: &str) -> String {
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, UNRESERVED).to_string()
}

/// A token for `credentials` in `region` at `now`.
pub(crate) fn auth_token(
    region: &str,
    credentials: &AwsCredentials,
    now: SystemTime,
) -> Result<AuthToken, String> {
    let url = presigned_url(region, credentials, now)?;
    let signed_at = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "the clock is before 1970".to_string())?;
    // SigV4 dates have whole seconds.
    let expires = Duration::from_secs(signed_at.as_secs()) + TOKEN_LIFETIME;
    Ok(AuthToken {
        token: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url),
        expires_ms: expires.as_millis() as i64,
    })
}

/// Where the signer gets its credentials.
enum Source {
    /// Given once (tests, or the environment at start-up).
    Fixed(AwsCredentials),
    /// The instance profile, re-read by a background thread.
    Refreshed(Arc<Mutex<Result<AwsCredentials, String>>>),
}

/// Makes tokens for the Kafka clients' `OAUTHBEARER` callbacks.
pub struct MskIamSigner {
    region: String,
    source: Source,
}

impl std::fmt::Debug for MskIamSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MskIamSigner")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl MskIamSigner {
    /// Signs with `credentials`.
    pub fn with_credentials(region: &str, credentials: AwsCredentials) -> MskIamSigner {
        MskIamSigner {
            region: region.to_string(),
            source: Source::Fixed(credentials),
        }
    }

    /// Signs with the environment's credentials if set, else the instance
    /// profile's, which a background thread keeps fresh.
    pub(crate) fn from_environment(region: &str) -> Result<MskIamSigner, String> {
        if let Some(credentials) = AwsCredentials::from_env() {
            return Ok(MskIamSigner::with_credentials(region, credentials));
        }
        let current = Arc::new(Mutex::new(AwsCredentials::from_instance_profile()));
        if let Ok(Err(err)) = current.lock().as_deref() {
            return Err(format!(
                "MSK IAM needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
                 run on EC2 with an instance profile ({err})"
            ));
        }
        let shared = Arc::clone(&current);
        std::thread::Builder::new()
            .name("msk-iam".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(REFRESH_EVERY);
                    let fresh = AwsCredentials::from_instance_profile();
                    if let Err(err) = &fresh {
                        tracing::warn!(%err, "kafka: could not refresh the MSK IAM credentials; keeping the last ones");
                    }
                    if let (Ok(mut slot), Ok(fresh)) = (shared.lock(), fresh) {
                        *slot = Ok(fresh);
                    }
                }
            })
            .map_err(|e| format!("cannot start the MSK IAM credentials thread: {e}"))?;
        Ok(MskIamSigner {
            region: region.to_string(),
            source: Source::Refreshed(current),
        })
    }

    /// A token for librdkafka, signed now.
    pub(crate) fn oauth_token(&self) -> Result<OAuthToken, String> {
        let credentials = match &self.source {
            Source::Fixed(credentials) => credentials.clone(),
            Source::Refreshed(current) => current
                .lock()
                .map_err(|_| "the MSK IAM credentials lock is poisoned".to_string())?
                .clone()?,
        };
        let token = auth_token(&self.region, &credentials, SystemTime::now())?;
        Ok(OAuthToken {
            token: token.token,
            principal_name: credentials.access_key_id,
            lifetime_ms: token.expires_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed() -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: Some("SESSION/TOKEN+1=".into()),
        }
    }

    #[test]
    fn a_token_is_the_presigned_connect_url_in_unpadded_url_safe_base64() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let token = auth_token("us-east-1", &fixed(), at).unwrap();
        assert!(!token.token.contains('=') && !token.token.contains('+'));
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&token.token)
                .unwrap(),
        )
        .unwrap();
        assert!(
            url.starts_with(
                "https://kafka.us-east-1.amazonaws.com/?Action=kafka-cluster%3AConnect&"
            )
        );
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Fus-east-1%2Fkafka-cluster%2Faws4_request",
            "X-Amz-Date=20231114T221320Z",
            "X-Amz-Expires=900",
            "X-Amz-SignedHeaders=host",
            "X-Amz-Security-Token=SESSION%2FTOKEN%2B1%3D",
            "User-Agent=matching-engine%2F",
        ] {
            assert!(url.contains(part), "{part} in {url}");
        }
        // The same inputs sign the same; another second signs differently.
        assert_eq!(auth_token("us-east-1", &fixed(), at).unwrap(), token);
        let later = auth_token("us-east-1", &fixed(), at + Duration::from_secs(1)).unwrap();
        assert_ne!(later.token, token.token);
        assert_eq!(token.expires_ms, (1_700_000_000 + 900) * 1000);
    }

    #[test]
    fn imds_documents_give_credentials_or_say_why_not() {
        let doc = r#"{"Code":"Success","LastUpdated":"2026-11-29T10:00:00Z","Type":"AWS-HMAC",
            "AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"secret","Token":"token",
            "Expiration":"2026-11-29T16:00:00Z"}"#;
        let credentials = AwsCredentials::from_imds_document(doc).unwrap();
        assert_eq!(credentials.access_key_id, "ASIAEXAMPLE");
        assert_eq!(credentials.session_token.as_deref(), Some("token"));
        let expired = doc.replace("Success", "Expired");
        assert!(
            AwsCredentials::from_imds_document(&expired)
                .unwrap_err()
                .contains("Expired")
        );
        assert!(AwsCredentials::from_imds_document("<html>").is_err());
    }

    #[test]
    fn the_signer_names_the_principal_and_the_expiry() {
        let signer = MskIamSigner::with_credentials("eu-west-1", fixed());
        let token = signer.oauth_token().unwrap();
        assert_eq!(token.principal_name, "AKIDEXAMPLE");
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!((token.lifetime_ms - now_ms - 900_000).abs() < 2_000);
    }
}
