//! Who the Kafka clients sign in as when `sasl.mechanism` is `OAUTHBEARER`:
//! the MSK IAM signer (`[kafka.msk_iam]`, with the `msk-iam` feature), or
//! nobody. Every client context holds one and hands librdkafka's token
//! callback to it.

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::client::OAuthToken;

/// Signs in to MSK with IAM, or refuses to make tokens.
#[derive(Clone, Debug, Default)]
pub struct KafkaAuth {
    #[cfg(feature = "msk-iam")]
    signer: Option<Arc<super::msk_iam::MskIamSigner>>,
    #[cfg(not(feature = "msk-iam"))]
    signer: Option<Arc<()>>,
    issued: Arc<AtomicU64>,
}

impl KafkaAuth {
    /// Signs with `signer`.
    #[cfg(feature = "msk-iam")]
    pub fn msk_iam(signer: super::msk_iam::MskIamSigner) -> KafkaAuth {
        KafkaAuth {
            signer: Some(Arc::new(signer)),
            issued: Arc::default(),
        }
    }

    /// Whether tokens can be made.
    pub fn signs(&self) -> bool {
        self.signer.is_some()
    }

    /// Tokens handed to librdkafka so far.
    pub fn tokens_issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    /// A token for librdkafka's `OAUTHBEARER` refresh callback.
    pub fn token(&self) -> Result<OAuthToken, Box<dyn Error>> {
        #[cfg(feature = "msk-iam")]
        if let Some(signer) = &self.signer {
            let token = signer.oauth_token()?;
            self.issued.fetch_add(1, Ordering::Relaxed);
            return Ok(token);
        }
        Err(
            "sasl.mechanism is OAUTHBEARER but no token source is configured: add \
             [kafka.msk_iam] region = \"...\" (an engine built with --features gateway/msk-iam)"
                .into(),
        )
    }
}
