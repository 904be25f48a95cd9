//! A scriptable fake upstream speaking raw HTTP/1.1 (optionally over TLS) on 127.0.0.1:0.
//!
//! Each request is recorded and answered by a handler closure, so a test controls every byte:
//! Content-Length lies, truncation, stalls, HTML pages, status codes. TAXII POSTs missing
//! any header of the HTTP binding are answered 406, as some upstreams do.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the fake answered 406 for a missing binding header.
    pub rejected_headers: bool,
}

impl Recorded {
    /// First header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The TAXII message in the body.
    pub fn message(&self) -> Option<taxii::Message> {
        taxii::read::read_message(&self.body, &Default::default())
            .ok()
            .map(|e| e.message)
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Announce this Content-Length instead of the real one.
    pub content_length: Option<u64>,
    /// Close the connection after this many body bytes.
    pub cut_after: Option<usize>,
    /// Wait this long before answering.
    pub stall: Option<Duration>,
}

impl Reply {
    /// A TAXII 1.1 answer with the binding's response headers.
    pub fn taxii(xml: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "application/xml".into()),
                (
                    "X-TAXII-Content-Type".into(),
                    "urn:taxii.mitre.org:message:xml:1.1".into(),
                ),
                (
                    "X-TAXII-Services".into(),
                    "urn:taxii.mitre.org:services:1.1".into(),
                ),
                (
                    "X-TAXII-Protocol".into(),
                    "urn:taxii.mitre.org:protocol:http:1.0".into(),
                ),
            ],
            body: xml.into(),
            content_length: None,
            cut_after: None,
            stall: None,
        }
    }

    /// Any status with a body and a content type.
    pub fn status(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            content_length: None,
            cut_after: None,
            stall: None,
        }
    }

    /// A JSON 200.
    pub fn json(body: impl Into<Vec<u8>>) -> Reply {
        Reply::status(200, "application/json", body)
    }

    /// Replace or add a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Handler: the request and its 0-based index among all requests.
pub type Handler = Arc<dyn Fn(&Recorded, usize) -> Reply + Send + Sync>;

/// A running fake upstream. Stops accepting when dropped.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    pub scheme: &'static str,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
}

const BINDING_HEADERS: [&str; 6] = [
    "Accept",
    "Content-Type",
    "X-TAXII-Content-Type",
    "X-TAXII-Accept",
    "X-TAXII-Services",
    "X-TAXII-Protocol",
];

impl FakeUpstream {
    /// Plain HTTP.
    pub fn start(handler: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_inner(Arc::new(handler), None)
    }

    /// HTTPS with the given server configuration.
    pub fn start_tls(
        handler: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
        tls: Arc<rustls::ServerConfig>,
    ) -> Self {
        Self::start_inner(Arc::new(handler), Some(tls))
    }

    fn start_inner(handler: Handler, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let (reqs, stop2) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                let (handler, reqs, tls) = (handler.clone(), reqs.clone(), tls.clone());
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    match tls {
                        None => serve(stream, &handler, &reqs, false),
                        Some(cfg) => {
                            let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                                return;
                            };
                            let tls_stream = rustls::StreamOwned::new(conn, stream);
                            serve(tls_stream, &handler, &reqs, true);
                        }
                    }
                });
            }
        });
        FakeUpstream {
            addr,
            scheme,
            requests,
            stop,
        }
    }

    /// URL of a path on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Number of requests so far.
    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve<S: Read + Write>(mut s: S, handler: &Handler, reqs: &Mutex<Vec<Recorded>>, tls: bool) {
    let Some(mut req) = read_request(&mut s) else {
        return;
    };
    let missing = req.method == "POST"
        && (BINDING_HEADERS.iter().any(|h| req.header(h).is_none())
            || req.header("X-TAXII-Protocol")
                != Some(if tls {
                    "urn:taxii.mitre.org:protocol:https:1.0"
                } else {
                    "urn:taxii.mitre.org:protocol:http:1.0"
                }));
    req.rejected_headers = missing;
    let index = {
        let mut r = reqs.lock().unwrap();
        r.push(req.clone());
        r.len() - 1
    };
    let reply = if missing {
        Reply::status(406, "text/plain", "Not Acceptable")
    } else {
        handler(&req, index)
    };
    if let Some(d) = reply.stall {
        std::thread::sleep(d);
    }
    let len = reply.content_length.unwrap_or(reply.body.len() as u64);
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {len}\r\nConnection: close\r\n",
        reply.status
    );
    for (n, v) in &reply.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let body = match reply.cut_after {
        Some(n) => &reply.body[..n.min(reply.body.len())],
        None => &reply.body[..],
    };
    if s.write_all(head.as_bytes()).is_err() {
        return;
    }
    for chunk in body.chunks(64 * 1024) {
        if s.write_all(chunk).is_err() {
            return;
        }
    }
    let _ = s.flush();
}

fn read_request<S: Read>(s: &mut S) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        if buf.len() > 256 * 1024 {
            return None;
        }
        let n = s.read(&mut tmp).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut tmp).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Some(Recorded {
        method,
        target,
        headers,
        body,
        rejected_headers: false,
    })
}
