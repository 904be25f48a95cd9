//! Who is asking, and what they may do.
//!
//! Basic credentials are checked against argon2id hashes. A check costs tens of
//! milliseconds by design and pollers send credentials with every request, so a successful
//! check is remembered for a short while under a keyed SHA-256 of the credentials (never the
//! password itself). Unknown users are checked against a dummy hash so that a refusal takes
//! the same time whether or not the user exists. Failed logins are limited per address
//! ([`crate::throttle`]): an address over the limit is refused without a password check.
//!
//! Checks run on [`CHECK_THREADS`] threads of their own, one at a time on each: an argon2id
//! check allocates its memory cost (19 MiB), and run on whichever of the runtime's many
//! blocking threads served the request, a flood of logins from many addresses held that
//! much per thread at once, and the allocator kept it per thread afterwards (the soak's
//! upstream grew by a fifth in ten minutes). Queued checks wait their turn instead, and a
//! request waits for its answer without holding a thread ([`Authority::authenticate_async`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::config::{Collection, User};
use crate::throttle::{Failure, LoginThrottle};

/// How long a successful check is remembered.
const CACHE_TTL: Duration = Duration::from_secs(300);
/// Most remembered checks.
const CACHE_MAX: usize = 4096;
/// Failed logins allowed per address and minute unless the config says otherwise.
pub const DEFAULT_FAILED_LOGINS_PER_MINUTE: u32 = 10;

/// Threads that run password checks (see the module notes).
pub const CHECK_THREADS: usize = 2;
/// Checks waiting for a thread at most; further callers wait to queue.
const CHECK_QUEUE: usize = 256;

/// One password check handed to the check threads.
struct Check {
    hash: String,
    password: String,
    /// Whether the same credentials were verified while this check waited (many requests
    /// with the same credentials at once, as after a restart): then no hash is computed.
    verified_meanwhile: Option<Box<dyn FnOnce() -> bool + Send>>,
    answer: tokio::sync::oneshot::Sender<bool>,
}

/// Whether `password` matches the PHC string `hash`, checked on the check threads. A
/// malformed hash, or a check that could not run, is a mismatch. Blocks the calling thread:
/// not for the async threads (see [`verify_password_async`]).
pub fn verify_password(hash: &str, password: &str) -> bool {
    let (check, answered) = check_of(hash, password, None);
    if check_queue().send(check).is_err() {
        return false;
    }
    answered.blocking_recv().unwrap_or(false)
}

/// [`verify_password`] for the async threads: waits for the answer without holding a
/// thread. `None` when the queue of checks is full (the caller then waits in the blocking
/// pool, with [`verify_password`]).
async fn verify_password_async(
    hash: &str,
    password: &str,
    verified_meanwhile: Box<dyn FnOnce() -> bool + Send>,
) -> Option<bool> {
    let (check, answered) = check_of(hash, password, Some(verified_meanwhile));
    match check_queue().try_send(check) {
        Ok(()) => Some(answered.await.unwrap_or(false)),
        Err(TrySendError::Full(_)) => None,
        Err(TrySendError::Disconnected(_)) => Some(false),
    }
}

fn check_of(
    hash: &str,
    password: &str,
    verified_meanwhile: Option<Box<dyn FnOnce() -> bool + Send>>,
) -> (Check, tokio::sync::oneshot::Receiver<bool>) {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let check = Check {
        hash: hash.to_owned(),
        password: password.to_owned(),
        verified_meanwhile,
        answer,
    };
    (check, answered)
}

/// The queue of the check threads, started on first use.
fn check_queue() -> &'static SyncSender<Check> {
    static QUEUE: OnceLock<SyncSender<Check>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (queue, checks) = sync_channel::<Check>(CHECK_QUEUE);
        let checks = Arc::new(Mutex::new(checks));
        for n in 0..CHECK_THREADS {
            let checks = checks.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-check-{n}"))
                .spawn(move || run_checks(&checks));
            if let Err(e) = spawned {
                tracing::error!(cause = %e, "could not start a password check thread");
            }
        }
        queue
    })
}

fn run_checks(checks: &Mutex<Receiver<Check>>) {
    loop {
        let next = match checks.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(check) = next else {
            return;
        };
        if check.verified_meanwhile.is_some_and(|f| f()) {
            let _ = check.answer.send(true);
            continue;
        }
        let matched = PasswordHash::new(&check.hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(check.password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        // The caller may have gone; nothing to tell then.
        let _ = check.answer.send(matched);
    }
}

/// The argon2id parameters used for new hashes (OWASP's second recommended set).
pub fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hash a password for the config file.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash password: {e}"))
}

/// An authenticated caller, or nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    User(String),
}

impl Caller {
    /// Name for logs.
    pub fn name(&self) -> &str {
        match self {
            Caller::Anonymous => "-",
            Caller::User(u) => u,
        }
    }
}

/// Why a login was refused (logged at warn, never sent to the client).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("malformed Authorization header")]
    Malformed,
    #[error("unsupported authorization scheme")]
    Scheme,
    #[error("wrong user name or password")]
    BadCredentials,
    #[error("too many failed logins from this address; refused without a password check")]
    Throttled,
}

/// Users and collection rights, loaded from the config.
pub struct Authority {
    users: HashMap<String, String>,
    dummy_hash: String,
    collections: HashMap<String, Rights>,
    cache_key: [u8; 32],
    cache: Mutex<HashMap<[u8; 32], (String, Instant)>>,
    throttle: LoginThrottle,
    /// Password hashes computed by the check threads for this authority.
    hashes_computed: AtomicU64,
}

#[derive(Debug, Clone)]
struct Rights {
    read: Vec<String>,
    write: Vec<String>,
    anonymous_read: bool,
}

/// What a caller wants to do with a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl Authority {
    /// Build from config users and collections, with the default limit of failed logins.
    pub fn new(users: &[User], collections: &[Collection]) -> Authority {
        Authority::with_login_limit(users, collections, DEFAULT_FAILED_LOGINS_PER_MINUTE)
    }

    /// Build from config users and collections; `failed_logins_per_minute` per address
    /// (0: no limit).
    pub fn with_login_limit(
        users: &[User],
        collections: &[Collection],
        failed_logins_per_minute: u32,
    ) -> Authority {
        let dummy_hash =
            hash_password("not a real password, only for timing").unwrap_or_else(|_| String::new());
        Authority {
            users: users
                .iter()
                .map(|u| (u.name.clone(), u.password_hash.clone()))
                .collect(),
            dummy_hash,
            collections: collections
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        Rights {
                            read: c.read.clone(),
                            write: c.write.clone(),
                            anonymous_read: c.anonymous_read,
                        },
                    )
                })
                .collect(),
            cache_key: rand::random(),
            cache: Mutex::new(HashMap::new()),
            throttle: LoginThrottle::new(failed_logins_per_minute),
            hashes_computed: AtomicU64::new(0),
        }
    }

    /// [`Authority::authenticate`] for a request from `peer`, under the per-address limit
    /// of failed logins: an address over it gets [`AuthError::Throttled`] without a check,
    /// and the failure that puts it over is logged at `warn` (once per lockout).
    pub fn authenticate_from(
        &self,
        peer: Option<IpAddr>,
        header: Option<&str>,
    ) -> Result<Caller, AuthError> {
        let (Some(peer), Some(_)) = (peer, header) else {
            return self.authenticate(header);
        };
        if !self.throttle.allows(peer) {
            return Err(AuthError::Throttled);
        }
        let result = self.authenticate(header);
        self.count_failure(peer, &result);
        result
    }

    /// [`Authority::authenticate_from`] for the async threads: a password check is waited
    /// for without holding a thread (unless the check threads' queue is full; then in the
    /// blocking pool).
    pub async fn authenticate_async(
        self: &Arc<Self>,
        peer: Option<IpAddr>,
        header: Option<String>,
    ) -> Result<Caller, AuthError> {
        if let (Some(peer), Some(_)) = (peer, &header) {
            if !self.throttle.allows(peer) {
                return Err(AuthError::Throttled);
            }
        }
        let result = match self.prepare(header.as_deref()) {
            Step::Answered(result) => result,
            Step::Check(check) => {
                let verified_already = self.verified_meanwhile(check.key);
                let auth = Arc::clone(self);
                let meanwhile: Box<dyn FnOnce() -> bool + Send> = Box::new(move || {
                    let answered = verified_already();
                    if !answered {
                        auth.hashes_computed.fetch_add(1, Ordering::Relaxed);
                    }
                    answered
                });
                match verify_password_async(check.hash(self), &check.password, meanwhile).await {
                    Some(verified) => self.conclude(check, verified),
                    None => {
                        let auth = self.clone();
                        tokio::task::spawn_blocking(move || {
                            auth.hashes_computed.fetch_add(1, Ordering::Relaxed);
                            let verified = verify_password(check.hash(&auth), &check.password);
                            auth.conclude(check, verified)
                        })
                        .await
                        .unwrap_or(Err(AuthError::BadCredentials))
                    }
                }
            }
        };
        if let (Some(peer), Some(_)) = (peer, &header) {
            self.count_failure(peer, &result);
        }
        result
    }

    /// Count a failed login from `peer`; the failure that puts it over the limit is logged.
    fn count_failure(&self, peer: IpAddr, result: &Result<Caller, AuthError>) {
        if result.is_err() && self.throttle.failed(peer) == Failure::Throttled {
            tracing::warn!(
                peer = %peer,
                retry_after_secs = self.throttle.retry_after(peer).as_secs(),
                "too many failed logins from this address: its logins are refused for a while"
            );
        }
    }

    /// The caller when no password has to be checked: anonymous (no header), or
    /// credentials verified a moment ago (see the cache) from an address that is not
    /// throttled. Cheap enough for the async threads; `None` means
    /// [`Auth::authenticate_from`] must answer (off those threads: it may hash a password).
    pub fn known_caller(&self, peer: Option<IpAddr>, header: Option<&str>) -> Option<Caller> {
        let Some(header) = header else {
            return Some(Caller::Anonymous);
        };
        if peer.is_some_and(|p| !self.throttle.allows(p)) {
            return None;
        }
        let decoded = basic_credentials(header).ok()?;
        let (user, password) = decoded.split_once(':')?;
        self.cached(&self.cache_key_of(user, password))
            .map(Caller::User)
    }

    /// Check an `Authorization` header value (None: anonymous). Blocking: call it off the
    /// async threads.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Caller, AuthError> {
        match self.prepare(header) {
            Step::Answered(result) => result,
            Step::Check(check) => {
                let verified = verify_password(check.hash(self), &check.password);
                self.conclude(check, verified)
            }
        }
    }

    /// Everything of a check but the password hash: the answer when the header alone
    /// decides it (anonymous, malformed, remembered), else the check to run.
    fn prepare(&self, header: Option<&str>) -> Step {
        let Some(header) = header else {
            return Step::Answered(Ok(Caller::Anonymous));
        };
        let decoded = match basic_credentials(header) {
            Ok(d) => d,
            Err(e) => return Step::Answered(Err(e)),
        };
        let Some((user, password)) = decoded.split_once(':') else {
            return Step::Answered(Err(AuthError::Malformed));
        };
        let key = self.cache_key_of(user, password);
        if let Some(name) = self.cached(&key) {
            return Step::Answered(Ok(Caller::User(name)));
        }
        Step::Check(PendingCheck {
            user: user.to_string(),
            password: password.to_string(),
            key,
        })
    }

    /// Whether credentials with cache key `key` were verified since (a check queued behind
    /// another of the same credentials).
    fn verified_meanwhile(self: &Arc<Self>, key: [u8; 32]) -> Box<dyn FnOnce() -> bool + Send> {
        let auth = self.clone();
        Box::new(move || auth.cached(&key).is_some())
    }

    /// The answer once the password hash was checked (`verified`).
    fn conclude(&self, check: PendingCheck, verified: bool) -> Result<Caller, AuthError> {
        if verified && self.users.contains_key(&check.user) {
            self.remember(check.key, &check.user);
            Ok(Caller::User(check.user))
        } else {
            Err(AuthError::BadCredentials)
        }
    }

    /// The one place where collection access is decided.
    pub fn may(&self, caller: &Caller, collection: &str, access: Access) -> bool {
        let Some(rights) = self.collections.get(collection) else {
            return false;
        };
        match (caller, access) {
            (Caller::Anonymous, Access::Read) => rights.anonymous_read,
            (Caller::Anonymous, Access::Write) => false,
            (Caller::User(u), Access::Read) => {
                rights.anonymous_read || rights.read.iter().any(|r| r == u)
            }
            (Caller::User(u), Access::Write) => rights.write.iter().any(|w| w == u),
        }
    }

    fn cache_key_of(&self, user: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.cache_key);
        h.update((user.len() as u64).to_be_bytes());
        h.update(user.as_bytes());
        h.update(password.as_bytes());
        h.finalize().into()
    }

    fn cached(&self, key: &[u8; 32]) -> Option<String> {
        let cache = self.cache.lock().ok()?;
        let (name, at) = cache.get(key)?;
        (at.elapsed() < CACHE_TTL).then(|| name.clone())
    }

    fn remember(&self, key: [u8; 32], user: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_MAX {
                cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(key, (user.to_string(), Instant::now()));
        }
    }
}

/// What [`Authority::prepare`] found.
enum Step {
    Answered(Result<Caller, AuthError>),
    Check(PendingCheck),
}

/// A password to check against the user's hash.
struct PendingCheck {
    user: String,
    password: String,
    key: [u8; 32],
}

impl PendingCheck {
    /// The hash to check against: the user's, or the dummy one for an unknown user (so
    /// that a refusal takes as long either way).
    fn hash<'a>(&self, auth: &'a Authority) -> &'a str {
        auth.users
            .get(&self.user)
            .map_or(auth.dummy_hash.as_str(), String::as_str)
    }
}

/// The `user:password` text of a Basic `Authorization` header value.
fn basic_credentials(header: &str) -> Result<String, AuthError> {
    let (scheme, rest) = header.trim().split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthError::Scheme);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| AuthError::Malformed)?;
    String::from_utf8(decoded).map_err(|_| AuthError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_checks_from_many_threads_each_get_their_own_answer() {
        let hash = hash_password("right horse").unwrap();
        let callers: Vec<_> = (0..12)
            .map(|n| {
                let hash = hash.clone();
                std::thread::spawn(move || {
                    let guess = if n % 3 == 0 { "right horse" } else { "wrong" };
                    (n % 3 == 0, verify_password(&hash, guess))
                })
            })
            .collect();
        for c in callers {
            let (expected, got) = c.join().unwrap();
            assert_eq!(expected, got);
        }
        assert!(!verify_password("not a PHC string", "right horse"));
    }

    fn authority() -> Authority {
        let users = vec![User {
            name: "esa".into(),
            password_hash: hash_password("s3cret").unwrap(),
        }];
        let collections = vec![
            Collection {
                name: "otx".into(),
                description: None,
                read: vec!["esa".into()],
                write: vec![],
                anonymous_read: false,
                import_package_size: None,
                profile: None,
                kinds: None,
                max_age_days: None,
            },
            Collection {
                name: "public".into(),
                description: None,
                read: vec![],
                write: vec!["esa".into()],
                anonymous_read: true,
                import_package_size: None,
                profile: None,
                kinds: None,
                max_age_days: None,
            },
        ];
        Authority::new(&users, &collections)
    }

    fn basic(user: &str, pass: &str) -> String {
        let raw = format!("{user}:{pass}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn good_and_bad_credentials() {
        let a = authority();
        assert_eq!(
            a.authenticate(Some(&basic("esa", "s3cret"))),
            Ok(Caller::User("esa".into()))
        );
        // Second time from the cache.
        assert_eq!(
            a.authenticate(Some(&basic("esa", "s3cret"))),
            Ok(Caller::User("esa".into()))
        );
        assert_eq!(
            a.authenticate(Some(&basic("esa", "wrong"))),
            Err(AuthError::BadCredentials)
        );
        assert_eq!(
            a.authenticate(Some(&basic("nobody", "s3cret"))),
            Err(AuthError::BadCredentials)
        );
        assert_eq!(a.authenticate(Some("Basic !!!")), Err(AuthError::Malformed));
        assert_eq!(a.authenticate(Some("Bearer x")), Err(AuthError::Scheme));
        assert_eq!(a.authenticate(None), Ok(Caller::Anonymous));
    }

    #[test]
    fn only_anonymous_and_recently_checked_callers_skip_the_password_check() {
        let users = vec![User {
            name: "esa".into(),
            password_hash: hash_password("s3cret").unwrap(),
        }];
        let a = Authority::with_login_limit(&users, &[], 2);
        let peer = Some(IpAddr::from([192, 0, 2, 7]));
        let good = basic("esa", "s3cret");
        assert_eq!(a.known_caller(peer, None), Some(Caller::Anonymous));
        // Not checked yet, then checked once: known from then on.
        assert_eq!(a.known_caller(peer, Some(&good)), None);
        assert_eq!(
            a.authenticate_from(peer, Some(&good)),
            Ok(Caller::User("esa".into()))
        );
        assert_eq!(
            a.known_caller(peer, Some(&good)),
            Some(Caller::User("esa".into()))
        );
        // Another password, garbage and another scheme always go to the full check.
        assert_eq!(a.known_caller(peer, Some(&basic("esa", "s3cretX"))), None);
        assert_eq!(a.known_caller(peer, Some("Basic !!!")), None);
        assert_eq!(a.known_caller(peer, Some("Bearer x")), None);
        // An address over the limit of failed logins gets no answer here, even with the
        // right password: the full check refuses it.
        for _ in 0..3 {
            let _ = a.authenticate_from(peer, Some(&basic("esa", "wrong")));
        }
        assert_eq!(a.known_caller(peer, Some(&good)), None);
        assert_eq!(
            a.authenticate_from(peer, Some(&good)),
            Err(AuthError::Throttled)
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_async_check_answers_like_the_blocking_one_and_counts_failures() {
        let users = vec![User {
            name: "esa".into(),
            password_hash: hash_password("s3cret").unwrap(),
        }];
        let a = Arc::new(Authority::with_login_limit(&users, &[], 3));
        let peer = Some(IpAddr::from([192, 0, 2, 8]));
        let ask = |h: &str| a.authenticate_async(peer, Some(h.to_string()));
        assert_eq!(
            a.authenticate_async(peer, None).await,
            Ok(Caller::Anonymous)
        );
        assert_eq!(
            ask(&basic("esa", "s3cret")).await,
            Ok(Caller::User("esa".into()))
        );
        assert_eq!(ask("Bearer x").await, Err(AuthError::Scheme));
        assert_eq!(
            ask(&basic("nobody", "s3cret")).await,
            Err(AuthError::BadCredentials)
        );
        assert_eq!(
            ask(&basic("esa", "wrong")).await,
            Err(AuthError::BadCredentials)
        );
        // Three failures from this address: at the limit of 3, refused without a check.
        assert_eq!(
            ask(&basic("esa", "s3cret")).await,
            Err(AuthError::Throttled)
        );
        // Several checks at once are each answered on their own.
        let b = Arc::new(Authority::new(&users, &[]));
        let guesses = ["s3cret", "x", "s3cret", "y"];
        let answers = futures_util::future::join_all(
            guesses
                .iter()
                .map(|g| b.authenticate_async(None, Some(basic("esa", g)))),
        )
        .await;
        for (g, got) in guesses.iter().zip(answers) {
            assert_eq!(got.is_ok(), *g == "s3cret", "{g}");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn many_requests_with_the_same_credentials_at_once_share_one_check() {
        let users = vec![User {
            name: "esa".into(),
            password_hash: hash_password("s3cret").unwrap(),
        }];
        let good = basic("esa", "s3cret");
        // One check alone, for the time it takes here.
        let one = Arc::new(Authority::new(&users, &[]));
        let t = Instant::now();
        assert!(one
            .authenticate_async(None, Some(good.clone()))
            .await
            .is_ok());
        let single = t.elapsed();
        // 32 at once with nothing cached: the ones queued behind the first are answered
        // from the cache it fills, not hashed again.
        let herd = Arc::new(Authority::new(&users, &[]));
        let t = Instant::now();
        let answers = futures_util::future::join_all(
            (0..32).map(|_| herd.authenticate_async(None, Some(good.clone()))),
        )
        .await;
        let took = t.elapsed();
        assert!(answers.iter().all(|a| a == &Ok(Caller::User("esa".into()))));
        // Without sharing, 32 hashes. Both check threads may start on the herd, and go on
        // to another request or two before the answer of the first is cached.
        let computed = herd.hashes_computed.load(Ordering::Relaxed);
        assert!(
            (1..=8).contains(&computed),
            "{computed} hashes computed for 32 requests ({took:?}; {single:?} for one)"
        );
        // A wrong password in the same herd is still checked, and refused.
        let mixed = Arc::new(Authority::new(&users, &[]));
        let answers = futures_util::future::join_all((0..8).map(|n| {
            let h = if n == 5 {
                basic("esa", "nope")
            } else {
                good.clone()
            };
            mixed.authenticate_async(None, Some(h))
        }))
        .await;
        for (n, a) in answers.iter().enumerate() {
            assert_eq!(a.is_ok(), n != 5, "{n}: {a:?}");
        }
    }

    #[test]
    fn every_right_is_decided_here() {
        let a = authority();
        let esa = Caller::User("esa".into());
        let other = Caller::User("other".into());
        let anon = Caller::Anonymous;
        assert!(a.may(&esa, "otx", Access::Read));
        assert!(!a.may(&esa, "otx", Access::Write));
        assert!(!a.may(&other, "otx", Access::Read));
        assert!(!a.may(&anon, "otx", Access::Read));
        assert!(a.may(&anon, "public", Access::Read));
        assert!(!a.may(&anon, "public", Access::Write));
        assert!(a.may(&esa, "public", Access::Write));
        assert!(a.may(&other, "public", Access::Read));
        assert!(!a.may(&esa, "missing", Access::Read));
    }
}
