//! The locked embedded broker's door: the `mqtt5` broker's `AuthProvider`
//! over the pure policy in `access.rs`. It checks passwords (argon2, off
//! the async threads), slows down guessing, and answers the broker's
//! "may this user publish / subscribe here" with the policy's verdict.
//!
//! Guessing is limited per source address (5 failures a minute, then 5
//! minutes refused), never per user name: a limit per name would let
//! anyone on the gallery WiFi lock the daemon's own login out by trying
//! five wrong passwords for it. Loopback clients (the daemon itself, a
//! technician on the board) are never limited.

use super::access::Access;
use mqtt5::broker::auth::{AuthProvider, AuthRateLimiter, AuthResult, PasswordAuthProvider};
use mqtt5::packet::connect::ConnectPacket;
use mqtt5::protocol::v5::reason_codes::ReasonCode;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The `AuthProvider` of a locked embedded broker.
pub struct Gate {
    access: Arc<Access>,
    limiter: AuthRateLimiter,
}

impl Gate {
    pub fn new(access: Access) -> Gate {
        Gate {
            access: Arc::new(access),
            limiter: AuthRateLimiter::new(5, 60, 300),
        }
    }

    async fn check(&self, connect: &ConnectPacket) -> AuthResult {
        let (Some(user), Some(password)) = (&connect.username, &connect.password) else {
            tracing::info!(client_id = %connect.client_id, "MQTT login refused: anonymous");
            return AuthResult::fail(ReasonCode::NotAuthorized);
        };
        let Some(hash) = self.access.user(user).map(|u| u.hash.clone()) else {
            tracing::info!(%user, "MQTT login refused: unknown user");
            return AuthResult::fail(ReasonCode::BadUsernameOrPassword);
        };
        let password = String::from_utf8_lossy(password).into_owned();
        // Argon2 takes tens of milliseconds of one core on purpose.
        let verified = tokio::task::spawn_blocking(move || {
            PasswordAuthProvider::verify_password(&password, &hash)
        })
        .await
        .unwrap_or(false);
        if !verified {
            tracing::info!(%user, "MQTT login refused: wrong password");
            return AuthResult::fail(ReasonCode::BadUsernameOrPassword);
        }
        if !self.access.may_use_client_id(user, &connect.client_id) {
            tracing::warn!(%user, client_id = %connect.client_id, "MQTT login refused: client id reserved for the daemon");
            return AuthResult::fail(ReasonCode::ClientIdentifierNotValid);
        }
        AuthResult::success_with_user(user.clone())
    }
}

impl AuthProvider for Gate {
    fn authenticate<'a>(
        &'a self,
        connect: &'a ConnectPacket,
        client_addr: SocketAddr,
    ) -> Boxed<'a, mqtt5::Result<AuthResult>> {
        Box::pin(async move {
            let ip = client_addr.ip();
            let limited = !ip.is_loopback();
            if limited && !self.limiter.check_rate_limit(ip) {
                tracing::warn!(%ip, "MQTT login refused: too many failed attempts from there");
                return Ok(AuthResult::fail(ReasonCode::NotAuthorized));
            }
            let result = self.check(connect).await;
            if limited {
                self.limiter.record_attempt(ip, result.authenticated);
            }
            Ok(result)
        })
    }

    fn authorize_publish<'a>(
        &'a self,
        client_id: &str,
        user_id: Option<&'a str>,
        topic: &'a str,
    ) -> Boxed<'a, bool> {
        let allowed = self.access.may_publish(user_id, topic);
        if !allowed {
            tracing::info!(%client_id, user = user_id.unwrap_or(""), %topic, "MQTT publish refused");
        }
        Box::pin(async move { allowed })
    }

    fn authorize_subscribe<'a>(
        &'a self,
        client_id: &str,
        user_id: Option<&'a str>,
        topic_filter: &'a str,
    ) -> Boxed<'a, bool> {
        let allowed = self.access.may_subscribe(user_id, topic_filter);
        if !allowed {
            tracing::info!(%client_id, user = user_id.unwrap_or(""), filter = %topic_filter, "MQTT subscription refused");
        }
        Box::pin(async move { allowed })
    }
}

/// The PHC string (`$argon2id$…`) of `password`, as the password file
/// holds it.
pub fn hash_password(password: &str) -> Result<String, String> {
    PasswordAuthProvider::hash_password(password).map_err(|e| e.to_string())
}
