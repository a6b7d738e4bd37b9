//! A fault-injecting HTTP/1.1 reverse proxy on 127.0.0.1, between the provider and a [`Moto`].
//!
//! moto answers every call at once and correctly: nothing is ever `creating`, throttled or not yet
//! visible. The proxy makes those conditions happen, per AWS action, so the provider's retries,
//! waiters and cleanup paths are exercised: point the provider block's `endpoints` at
//! [`FaultProxy::endpoint`] with [`crate::provider_block_with_endpoint`].
//!
//! * Actions are named `svc:Action` (`iam:CreateRole`, `ec2:AssociateIamInstanceProfile`,
//!   `efs:CreateFileSystem`, `sts:GetCallerIdentity`). The service comes from the SigV4 credential
//!   scope of the `Authorization` header (`elasticfilesystem` is called `efs`); the action from the
//!   form body's `Action=` (IAM, EC2, STS) or from the method and path (EFS is REST).
//! * [`FaultRule`]s inject throttling, 5xx answers, dropped connections, delays and the eventual
//!   consistency AWS documents (see [`Fault`]); errors are in each protocol's own format, so the SDK
//!   parses and classifies them as it would AWS's.
//! * Every request is counted ([`FaultProxy::calls`]), and so is every injected fault
//!   ([`FaultProxy::injected`]), so a test can assert that a retry or waiter really ran.
//! * [`FaultProxy::crash_after_mutating_calls`] SIGKILLs the provider right after its k-th mutating
//!   call has been carried out by moto, before the provider sees the answer: the worst moment for a
//!   crash. The provider process is found from the TCP connection it made (`/proc/net/tcp` and
//!   `/proc/<pid>/fd`), so tests sharing one provider binary do not disturb each other.
//!
//! One thing moto lacks is emulated too: EFS answers a CreateAccessPoint whose `ClientToken` it has
//! seen with the access point it made then (the SDK keeps the token across retries); moto makes a
//! second one.
//!
//! Each request is forwarded on a fresh connection to moto (`Connection: close`); connections from
//! the provider are kept alive as HTTP/1.1 allows.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::Moto;

/// What the proxy does to a matching call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Throttled, without reaching moto: `Throttling` (HTTP 400) for IAM, STS and EFS,
    /// `RequestLimitExceeded` (HTTP 503) for EC2.
    Throttle,
    /// An HTTP 500 or 503 answer in the service's error format, without reaching moto.
    ServerError(u16),
    /// The connection is reset before the request reaches moto.
    Reset,
    /// The request reaches moto and is carried out, then the connection is reset: the answer is
    /// lost, and the SDK's retry meets what the first attempt did.
    ResetAfterForward,
    /// The answer is held back this long (the call is carried out).
    Delay(Duration),
    /// `ec2:AssociateIamInstanceProfile` (or `ec2:ReplaceIamInstanceProfileAssociation`) answers
    /// `InvalidParameterValue` "Invalid IAM Instance Profile ARN", as EC2 does until a new instance
    /// profile has propagated from IAM.
    ProfileNotPropagated,
    /// `efs:DeleteFileSystem` answers `FileSystemInUse` (HTTP 409), as EFS does while mount
    /// targets are still being deleted.
    FileSystemInUse,
    /// On a create (`efs:CreateFileSystem`, `efs:CreateMountTarget`): the new object shows
    /// `LifeCycleState: creating` in its create answer and in its first `times` appearances in
    /// Describe answers. Not counted down per call but per object.
    StayCreating,
    /// On a delete (`efs:DeleteFileSystem`, `efs:DeleteMountTarget`): the deleted object is still
    /// described, `deleting`, to the next `times` Describe calls that ask for it by id. Not counted
    /// down per call but per object.
    StayDeleting,
}

/// A fault for the next `times` calls of `action` (`svc:Action`; `*` for every call, `svc:*` for
/// every call of a service). For [`Fault::StayCreating`] and [`Fault::StayDeleting`], `times` is
/// the number of polls each object created or deleted by `action` stays in that state, for every
/// such call; these holds apply alongside the other faults.
#[derive(Clone, Debug)]
pub struct FaultRule {
    pub action: String,
    pub fault: Fault,
    pub times: u32,
}

impl FaultRule {
    pub fn new(action: &str, fault: Fault, times: u32) -> FaultRule {
        FaultRule { action: action.to_string(), fault, times }
    }

    fn matches(&self, action: &str) -> bool {
        self.action == "*"
            || self.action == action
            || self.action.strip_suffix(":*").is_some_and(|svc| action.split(':').next() == Some(svc))
    }
}

/// True for calls that change something: every action but `Describe*`, `Get*` and `List*`.
pub fn is_mutating(action: &str) -> bool {
    let name = action.split_once(':').map_or(action, |(_, name)| name);
    !["Describe", "Get", "List"].iter().any(|prefix| name.starts_with(prefix))
}

#[derive(Default)]
struct State {
    rules: Vec<FaultRule>,
    latency: Duration,
    calls: BTreeMap<String, u32>,
    injected: BTreeMap<String, u32>,
    /// EFS objects (file system or mount target id) still to show `creating`, and for how many polls.
    creating: BTreeMap<String, u32>,
    /// EFS objects deleted but still to be described as `deleting`, with their last description.
    deleting: BTreeMap<String, (u32, Value)>,
    /// The last description seen of each EFS file system and mount target, by id.
    described: BTreeMap<String, Value>,
    /// CreateAccessPoint's answers by ClientToken: EFS answers a repeated token with the access
    /// point it made (the SDK repeats the token on retries), moto makes another one.
    access_points_by_token: BTreeMap<String, Response>,
    crash: Option<Crash>,
}

#[derive(Clone, Debug, Default)]
struct Crash {
    after: u32,
    forwarded: u32,
    /// Set once the k-th call went through: `(action, pid killed)`.
    done: Option<(String, Option<u32>)>,
}

struct Shared {
    moto: SocketAddr,
    state: Mutex<State>,
    stop: AtomicBool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The proxy; it stops accepting connections when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy in front of `moto` on a free port of 127.0.0.1.
    pub fn start(moto: &Moto) -> FaultProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the fault proxy on 127.0.0.1");
        let addr = listener.local_addr().expect("fault proxy address");
        let shared = Arc::new(Shared {
            moto: SocketAddr::from((Ipv4Addr::LOCALHOST, moto.port())),
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
        });
        let accept_shared = shared.clone();
        let accept = thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = accept_shared.clone();
                    let _ =
                        thread::Builder::new().name("fault-proxy-conn".into()).spawn(move || serve(&shared, stream));
                }
            })
            .expect("spawn the fault proxy thread");
        FaultProxy { addr, shared, accept: Some(accept) }
    }

    /// Base URL for the provider's `endpoints`, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a rule; rules are tried in the order added, and the first one matching a call (with
    /// calls left) applies, together with any `creating`/`deleting` hold matching it.
    pub fn add_fault(&self, rule: FaultRule) {
        self.shared.state().rules.push(rule);
    }

    /// Removes every rule and the crash trigger; objects already held in `creating` or `deleting`
    /// are released.
    pub fn clear_faults(&self) {
        let mut state = self.shared.state();
        state.rules.clear();
        state.crash = None;
        state.creating.clear();
        state.deleting.clear();
    }

    /// A fixed delay before every call is forwarded (for benchmarks); zero turns it off.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.state().latency = latency;
    }

    /// Requests received per `svc:Action`, faulted ones included (each SDK attempt counts).
    pub fn calls(&self) -> BTreeMap<String, u32> {
        self.shared.state().calls.clone()
    }

    /// Requests received for one action.
    pub fn count(&self, action: &str) -> u32 {
        self.shared.state().calls.get(action).copied().unwrap_or(0)
    }

    /// [`FaultProxy::calls`] without `Describe*`, `Get*` and `List*`.
    pub fn mutating_calls(&self) -> BTreeMap<String, u32> {
        self.calls().into_iter().filter(|(action, _)| is_mutating(action)).collect()
    }

    /// Faults injected per `svc:Action` (a `creating`/`deleting` answer counts under the Describe
    /// action that showed it).
    pub fn injected(&self) -> BTreeMap<String, u32> {
        self.shared.state().injected.clone()
    }

    /// Forgets the counts (calls and injected faults).
    pub fn reset_counts(&self) {
        let mut state = self.shared.state();
        state.calls.clear();
        state.injected.clear();
    }

    /// Back to a fresh proxy: no rules, no latency, no counts, nothing remembered (use with
    /// [`Moto::reset`]).
    pub fn reset(&self) {
        *self.shared.state() = State::default();
    }

    /// Arms the crash trigger: once moto has carried out the `k`-th mutating call from now on (k ≥ 1),
    /// the process that sent it (the provider) is SIGKILLed before the answer reaches it, and any
    /// later request is dropped unanswered.
    pub fn crash_after_mutating_calls(&self, k: u32) {
        assert!(k >= 1, "crash after at least one call");
        self.shared.state().crash = Some(Crash { after: k, ..Crash::default() });
    }

    /// After a crash was triggered: the action of the k-th mutating call, and the pid killed.
    pub fn crashed(&self) -> Option<(String, Option<u32>)> {
        self.shared.state().crash.as_ref().and_then(|c| c.done.clone())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

struct Request {
    method: String,
    target: String,
    headers: Headers,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// A query string parameter (EFS Describe calls take their ids there).
    fn query(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        form_value(query, name)
    }
}

#[derive(Clone)]
struct Response {
    status: u16,
    headers: Headers,
    body: Vec<u8>,
}

/// HTTP header fields in the order received.
type Headers = Vec<(String, String)>;

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Reads the header lines up to the blank line; `None` at a clean end of stream.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<(String, Headers)>> {
    let mut start = String::new();
    if reader.read_line(&mut start)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "end of stream inside the HTTP head"));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok(Some((start.trim_end().to_string(), headers)))
}

/// Reads a body framed by `Content-Length` or chunked encoding; without either, up to the end of
/// the stream when `to_eof` (a response on a closing connection), else empty.
fn read_body(reader: &mut impl BufRead, headers: &[(String, String)], to_eof: bool) -> io::Result<Vec<u8>> {
    if header(headers, "transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked")) {
        let mut body = Vec::new();
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if size == 0 {
                // Trailers, up to the blank line.
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = String::new();
            reader.read_line(&mut crlf)?;
        }
    }
    if let Some(length) = header(headers, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        return Ok(body);
    }
    let mut body = Vec::new();
    if to_eof {
        reader.read_to_end(&mut body)?;
    }
    Ok(body)
}

fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let Some((start, headers)) = read_head(reader)? else { return Ok(None) };
    let mut parts = start.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let body = read_body(reader, &headers, false)?;
    Ok(Some(Request { method, target, headers, body }))
}

const HOP_BY_HOP: &[&str] = &["connection", "keep-alive", "content-length", "transfer-encoding", "proxy-connection"];

/// Sends the request to moto on a new connection and reads the whole answer.
fn forward(moto: SocketAddr, request: &Request) -> io::Result<Response> {
    let mut upstream = TcpStream::connect_timeout(&moto, Duration::from_secs(5))?;
    upstream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.target);
    for (k, v) in &request.headers {
        if !HOP_BY_HOP.contains(&k.to_ascii_lowercase().as_str()) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", request.body.len()));
    upstream.write_all(head.as_bytes())?;
    upstream.write_all(&request.body)?;
    let mut reader = BufReader::new(upstream);
    let (start, headers) = read_head(&mut reader)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "moto closed the connection without answering"))?;
    let status = start
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("bad status line from moto: {start}")))?;
    let body = read_body(&mut reader, &headers, true)?;
    let headers = headers.into_iter().filter(|(k, _)| !HOP_BY_HOP.contains(&k.to_ascii_lowercase().as_str())).collect();
    Ok(Response { status, headers, body })
}

fn write_response(stream: &mut TcpStream, response: &Response) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", response.status, reason(response.status));
    for (k, v) in &response.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", response.body.len()));
    stream.write_all(head.as_bytes())?;
    stream.write_all(&response.body)?;
    stream.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Closes the connection with a TCP RST (SO_LINGER 0), as a dropped connection looks to a client.
fn reset(stream: TcpStream) {
    let _ = stream.set_nonblocking(true);
    crate::block_on(async move {
        if let Ok(stream) = tokio::net::TcpStream::from_std(stream) {
            let _ = stream.set_zero_linger();
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------------

/// The percent-decoded value of `name` in a form body or query string.
fn form_value(form: &str, name: &str) -> Option<String> {
    form.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped =
            (bytes[i] == b'%').then(|| s.get(i + 1..i + 3)).flatten().and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The service of a SigV4-signed request, from the credential scope
/// `Credential=AKID/20240101/us-east-1/iam/aws4_request`; `elasticfilesystem` is `efs`.
pub fn service_of(authorization: &str) -> Option<String> {
    let credential = authorization.split("Credential=").nth(1)?;
    let service = credential.split([',', ' ']).next()?.split('/').nth(3)?;
    Some(if service == "elasticfilesystem" { "efs".to_string() } else { service.to_string() })
}

/// The EFS operation of a REST request (API version 2015-02-01).
pub fn efs_operation(method: &str, path: &str) -> String {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').skip(1).collect();
    let op = match (method, segments.as_slice()) {
        ("POST", ["file-systems"]) => "CreateFileSystem",
        ("GET", ["file-systems"]) => "DescribeFileSystems",
        ("PUT", ["file-systems", _]) => "UpdateFileSystem",
        ("DELETE", ["file-systems", _]) => "DeleteFileSystem",
        ("PUT", ["file-systems", _, "lifecycle-configuration"]) => "PutLifecycleConfiguration",
        ("GET", ["file-systems", _, "lifecycle-configuration"]) => "DescribeLifecycleConfiguration",
        ("PUT", ["file-systems", _, "policy"]) => "PutFileSystemPolicy",
        ("GET", ["file-systems", _, "policy"]) => "DescribeFileSystemPolicy",
        ("DELETE", ["file-systems", _, "policy"]) => "DeleteFileSystemPolicy",
        ("PUT", ["file-systems", _, "backup-policy"]) => "PutBackupPolicy",
        ("GET", ["file-systems", _, "backup-policy"]) => "DescribeBackupPolicy",
        ("POST", ["mount-targets"]) => "CreateMountTarget",
        ("GET", ["mount-targets"]) => "DescribeMountTargets",
        ("DELETE", ["mount-targets", _]) => "DeleteMountTarget",
        ("GET", ["mount-targets", _, "security-groups"]) => "DescribeMountTargetSecurityGroups",
        ("PUT", ["mount-targets", _, "security-groups"]) => "ModifyMountTargetSecurityGroups",
        ("POST", ["access-points"]) => "CreateAccessPoint",
        ("GET", ["access-points"]) => "DescribeAccessPoints",
        ("DELETE", ["access-points", _]) => "DeleteAccessPoint",
        ("POST", ["resource-tags", _]) => "TagResource",
        ("DELETE", ["resource-tags", _]) => "UntagResource",
        ("GET", ["resource-tags", _]) => "ListTagsForResource",
        ("GET", ["account-preferences"]) => "DescribeAccountPreferences",
        _ => return format!("{method}{}", path.replace('/', "_")),
    };
    op.to_string()
}

fn action_of(request: &Request) -> String {
    let service = request.header("authorization").and_then(service_of).unwrap_or_else(|| "unsigned".to_string());
    let name = if service == "efs" {
        efs_operation(&request.method, request.path())
    } else {
        form_value(&String::from_utf8_lossy(&request.body), "Action").unwrap_or_else(|| "Unknown".to_string())
    };
    format!("{service}:{name}")
}

// ---------------------------------------------------------------------------------------------
// Error answers, in each protocol's format
// ---------------------------------------------------------------------------------------------

const REQUEST_ID: &str = "00000000-fa17-4000-8000-000000000000";

fn error_response(service: &str, status: u16, code: &str, message: &str) -> Response {
    let (content_type, body, mut headers) = match service {
        "efs" => (
            "application/json",
            serde_json::json!({ "ErrorCode": code, "Message": message }).to_string(),
            vec![("x-amzn-ErrorType".to_string(), code.to_string())],
        ),
        "ec2" => (
            "text/xml;charset=UTF-8",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
                 <Message>{message}</Message></Error></Errors><RequestID>{REQUEST_ID}</RequestID></Response>"
            ),
            Vec::new(),
        ),
        _ => {
            let namespace = match service {
                "sts" => "https://sts.amazonaws.com/doc/2011-06-15/",
                _ => "https://iam.amazonaws.com/doc/2010-05-08/",
            };
            let kind = if status >= 500 { "Receiver" } else { "Sender" };
            (
                "text/xml",
                format!(
                    "<ErrorResponse xmlns=\"{namespace}\"><Error><Type>{kind}</Type><Code>{code}</Code>\
                     <Message>{message}</Message></Error><RequestId>{REQUEST_ID}</RequestId></ErrorResponse>"
                ),
                Vec::new(),
            )
        }
    };
    headers.push(("Content-Type".to_string(), content_type.to_string()));
    headers.push(("x-amzn-RequestId".to_string(), REQUEST_ID.to_string()));
    Response { status, headers, body: body.into_bytes() }
}

fn throttle_response(service: &str) -> Response {
    if service == "ec2" {
        error_response(service, 503, "RequestLimitExceeded", "Request limit exceeded.")
    } else {
        error_response(service, 400, "Throttling", "Rate exceeded")
    }
}

fn server_error_response(service: &str, status: u16) -> Response {
    let code = match (service, status) {
        ("efs", 500) => "InternalServerError",
        ("ec2", 500) => "InternalError",
        (_, 500) => "InternalFailure",
        ("ec2", _) => "Unavailable",
        _ => "ServiceUnavailable",
    };
    error_response(service, status, code, "We encountered an internal error. Please try again.")
}

fn profile_not_propagated_response(request: &Request) -> Response {
    let arn = form_value(&String::from_utf8_lossy(&request.body), "IamInstanceProfile.Arn").unwrap_or_default();
    error_response(
        "ec2",
        400,
        "InvalidParameterValue",
        &format!("Value ({arn}) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN"),
    )
}

fn file_system_in_use_response(request: &Request) -> Response {
    let id = request.path().rsplit('/').next().unwrap_or_default().to_string();
    error_response("efs", 409, "FileSystemInUse", &format!("File system '{id}' has mount targets created in it."))
}

// ---------------------------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------------------------

/// What to do with one request, decided under the lock.
enum Plan {
    Answer(Response),
    Reset,
    Forward { delay: Duration, lose_answer: bool, after_creating: Option<u32>, after_deleting: Option<u32> },
}

fn serve(shared: &Shared, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut stream = stream;
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            _ => return,
        };
        let close = request.header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
        if handle(shared, &request, &mut stream).is_err() || close {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Serves one request; `Err` when the connection must end (reset, crash, broken pipe).
fn handle(shared: &Shared, request: &Request, stream: &mut TcpStream) -> io::Result<()> {
    let action = action_of(request);
    let service = action.split(':').next().unwrap_or_default().to_string();
    let (plan, latency) = decide(shared, &action, &service, request);
    if !latency.is_zero() {
        thread::sleep(latency);
    }
    let (delay, lose_answer, after_creating, after_deleting) = match plan {
        Plan::Answer(response) => return write_response(stream, &response),
        Plan::Reset => {
            reset(stream.try_clone()?);
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "fault: reset"));
        }
        Plan::Forward { delay, lose_answer, after_creating, after_deleting } => {
            (delay, lose_answer, after_creating, after_deleting)
        }
    };
    let client_token = (action == "efs:CreateAccessPoint")
        .then(|| serde_json::from_slice::<Value>(&request.body).ok())
        .flatten()
        .and_then(|body| body["ClientToken"].as_str().map(str::to_string));
    let repeated = client_token.as_ref().and_then(|t| shared.state().access_points_by_token.get(t).cloned());
    let synthesized = repeated.or_else(|| deleting_answer(shared, &action, request));
    let mut response = match synthesized {
        Some(response) => response,
        None => match forward(shared.moto, request) {
            Ok(response) => response,
            Err(e) => error_response(&service, 502, "ProxyError", &format!("fault proxy could not reach moto: {e}")),
        },
    };
    if let Some(token) = client_token.filter(|_| (200..300).contains(&response.status)) {
        shared.state().access_points_by_token.entry(token).or_insert_with(|| response.clone());
    }
    if service == "efs" && (200..300).contains(&response.status) {
        rewrite_efs_answer(shared, &action, request, &mut response, after_creating, after_deleting);
    }
    if is_mutating(&action) && crash_due(shared, &action, stream) {
        reset(stream.try_clone()?);
        return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "fault: provider killed"));
    }
    if !delay.is_zero() {
        thread::sleep(delay);
    }
    if lose_answer {
        reset(stream.try_clone()?);
        return Err(io::Error::new(io::ErrorKind::ConnectionReset, "fault: answer lost"));
    }
    write_response(stream, &response)
}

/// Counts the call and picks what happens to it under the lock: the first rule with calls left of
/// those that act on the call itself, plus any `creating`/`deleting` hold on what it makes or removes.
fn decide(shared: &Shared, action: &str, service: &str, request: &Request) -> (Plan, Duration) {
    let mut state = shared.state();
    *state.calls.entry(action.to_string()).or_default() += 1;
    let latency = state.latency;
    if state.crash.as_ref().is_some_and(|c| c.done.is_some()) {
        // The provider is being killed: nothing more reaches moto.
        return (Plan::Reset, Duration::ZERO);
    }
    let hold = |fault: Fault| {
        state.rules.iter().find(|r| r.fault == fault && r.matches(action)).map(|r| r.times).filter(|t| *t > 0)
    };
    let (after_creating, after_deleting) = (hold(Fault::StayCreating), hold(Fault::StayDeleting));
    let forward = |delay, lose_answer| Plan::Forward { delay, lose_answer, after_creating, after_deleting };
    let per_object = |f: &Fault| matches!(f, Fault::StayCreating | Fault::StayDeleting);
    let Some(index) = state.rules.iter().position(|r| r.times > 0 && !per_object(&r.fault) && r.matches(action)) else {
        return (forward(Duration::ZERO, false), latency);
    };
    state.rules[index].times -= 1;
    *state.injected.entry(action.to_string()).or_default() += 1;
    let plan = match state.rules[index].fault.clone() {
        Fault::Throttle => Plan::Answer(throttle_response(service)),
        Fault::ServerError(status) => Plan::Answer(server_error_response(service, status)),
        Fault::Reset => Plan::Reset,
        Fault::ResetAfterForward => forward(Duration::ZERO, true),
        Fault::Delay(delay) => forward(delay, false),
        Fault::ProfileNotPropagated => Plan::Answer(profile_not_propagated_response(request)),
        Fault::FileSystemInUse => Plan::Answer(file_system_in_use_response(request)),
        Fault::StayCreating | Fault::StayDeleting => unreachable!("per-object holds are not call faults"),
    };
    (plan, latency)
}

/// The id a Describe call asks for, or that a Create/Delete made or removed.
fn efs_object_id(action: &str, request: &Request) -> Option<String> {
    match action {
        "efs:DescribeFileSystems" => request.query("FileSystemId"),
        "efs:DescribeMountTargets" => request.query("MountTargetId"),
        "efs:DeleteFileSystem" | "efs:DeleteMountTarget" => request.path().rsplit('/').next().map(str::to_string),
        _ => None,
    }
}

const DESCRIBE_LISTS: &[(&str, &str, &str)] = &[
    ("efs:DescribeFileSystems", "FileSystems", "FileSystemId"),
    ("efs:DescribeMountTargets", "MountTargets", "MountTargetId"),
];

/// For a Describe by id of an object held in `deleting`: the answer showing it so.
fn deleting_answer(shared: &Shared, action: &str, request: &Request) -> Option<Response> {
    let (_, list, _) = DESCRIBE_LISTS.iter().find(|(a, _, _)| *a == action)?;
    let id = efs_object_id(action, request)?;
    let mut state = shared.state();
    let (remaining, description) = state.deleting.get_mut(&id)?;
    if *remaining == 0 {
        return None;
    }
    *remaining -= 1;
    let mut object = description.clone();
    object["LifeCycleState"] = Value::from("deleting");
    *state.injected.entry(action.to_string()).or_default() += 1;
    let body = serde_json::json!({ *list: [object] }).to_string();
    Some(Response {
        status: 200,
        headers: vec![("Content-Type".to_string(), "application/json".to_string())],
        body: body.into_bytes(),
    })
}

/// Remembers EFS descriptions, starts `creating`/`deleting` holds, and shows `creating` where due.
fn rewrite_efs_answer(
    shared: &Shared,
    action: &str,
    request: &Request,
    response: &mut Response,
    after_creating: Option<u32>,
    after_deleting: Option<u32>,
) {
    let mut state = shared.state();
    if let Some(polls) = after_deleting {
        if let Some(id) = efs_object_id(action, request) {
            let description = state.described.get(&id).cloned().unwrap_or_else(|| {
                let key = if action == "efs:DeleteFileSystem" { "FileSystemId" } else { "MountTargetId" };
                serde_json::json!({ key: id })
            });
            state.deleting.insert(id, (polls, description));
        }
    }
    let Ok(mut body) = serde_json::from_slice::<Value>(&response.body) else { return };
    let mut changed = false;
    match action {
        "efs:CreateFileSystem" | "efs:CreateMountTarget" => {
            let key = if action == "efs:CreateFileSystem" { "FileSystemId" } else { "MountTargetId" };
            if let Some(id) = body[key].as_str().map(str::to_string) {
                state.described.insert(id.clone(), body.clone());
                if let Some(polls) = after_creating {
                    state.creating.insert(id, polls);
                    body["LifeCycleState"] = Value::from("creating");
                    changed = true;
                }
            }
        }
        _ => {
            if let Some((_, list, key)) = DESCRIBE_LISTS.iter().find(|(a, _, _)| *a == action) {
                let mut shown = 0;
                for object in body[*list].as_array_mut().into_iter().flatten() {
                    let Some(id) = object[*key].as_str().map(str::to_string) else { continue };
                    state.described.insert(id.clone(), object.clone());
                    if let Some(remaining) = state.creating.get_mut(&id).filter(|r| **r > 0) {
                        *remaining -= 1;
                        object["LifeCycleState"] = Value::from("creating");
                        shown += 1;
                        changed = true;
                    }
                }
                if shown > 0 {
                    *state.injected.entry(action.to_string()).or_default() += shown;
                }
            }
        }
    }
    if changed {
        response.body = body.to_string().into_bytes();
    }
}

/// Counts a forwarded mutating call for the crash trigger; on the k-th, kills the caller and
/// returns true.
fn crash_due(shared: &Shared, action: &str, stream: &TcpStream) -> bool {
    {
        let mut state = shared.state();
        let Some(crash) = state.crash.as_mut() else { return false };
        if crash.done.is_some() {
            return true;
        }
        crash.forwarded += 1;
        if crash.forwarded < crash.after {
            return false;
        }
        crash.done = Some((action.to_string(), None));
    }
    let pid = stream.peer_addr().ok().zip(stream.local_addr().ok()).and_then(|(peer, local)| peer_pid(peer, local));
    if let Some(pid) = pid {
        let _ =
            Command::new("kill").args(["-KILL", &pid.to_string()]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
    if let Some(crash) = shared.state().crash.as_mut() {
        crash.done = Some((action.to_string(), pid));
    }
    true
}

/// `127.0.0.1:port` as `/proc/net/tcp` writes it: `0100007F:1F90`.
fn proc_net_address(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) => u32::from_le_bytes(v4.octets()),
        std::net::IpAddr::V6(_) => 0,
    };
    format!("{ip:08X}:{:04X}", addr.port())
}

/// The provider process at the other end of a connection to the proxy: the socket's inode from
/// `/proc/net/tcp`, then the process holding it among `/proc/<pid>/fd`. Only a process whose
/// executable is a `terraform-provider-efs*` is returned.
fn peer_pid(peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    let table = fs::read_to_string("/proc/net/tcp").ok()?;
    let (want_local, want_remote) = (proc_net_address(peer), proc_net_address(local));
    let inode = table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.len() > 9 && fields[1] == want_local && fields[2] == want_remote).then(|| fields[9].to_string())
    })?;
    let target = format!("socket:[{inode}]");
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else { continue };
        let holds = fds.flatten().any(|fd| fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == target));
        if holds {
            let exe = fs::read_link(entry.path().join("exe")).ok()?;
            let is_provider =
                exe.file_name().is_some_and(|n| n.to_string_lossy().starts_with("terraform-provider-efs"));
            return is_provider.then_some(pid);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_service_from_the_credential_scope() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/elasticfilesystem/aws4_request, \
                    SignedHeaders=host, Signature=abc";
        assert_eq!(service_of(auth).as_deref(), Some("efs"));
        let auth = "AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/iam/aws4_request,SignedHeaders=host";
        assert_eq!(service_of(auth).as_deref(), Some("iam"));
        assert_eq!(service_of("Basic xyz"), None);
    }

    #[test]
    fn names_efs_rest_operations() {
        assert_eq!(efs_operation("POST", "/2015-02-01/file-systems"), "CreateFileSystem");
        assert_eq!(efs_operation("DELETE", "/2015-02-01/file-systems/fs-1"), "DeleteFileSystem");
        assert_eq!(efs_operation("GET", "/2015-02-01/mount-targets"), "DescribeMountTargets");
        assert_eq!(
            efs_operation("PUT", "/2015-02-01/mount-targets/fsmt-1/security-groups"),
            "ModifyMountTargetSecurityGroups"
        );
        assert_eq!(efs_operation("PUT", "/2015-02-01/file-systems/fs-1/policy"), "PutFileSystemPolicy");
        assert_eq!(efs_operation("DELETE", "/2015-02-01/access-points/fsap-1"), "DeleteAccessPoint");
    }

    #[test]
    fn tells_mutating_calls_from_reads() {
        assert!(is_mutating("ec2:AssociateIamInstanceProfile"));
        assert!(is_mutating("efs:CreateFileSystem"));
        assert!(!is_mutating("sts:GetCallerIdentity"));
        assert!(!is_mutating("iam:ListAttachedRolePolicies"));
        assert!(!is_mutating("efs:DescribeMountTargets"));
    }

    #[test]
    fn matches_rules_by_action_service_or_everything() {
        let rule = |action: &str| FaultRule::new(action, Fault::Throttle, 1);
        assert!(rule("iam:CreateRole").matches("iam:CreateRole"));
        assert!(!rule("iam:CreateRole").matches("iam:CreateRoleX"));
        assert!(rule("efs:*").matches("efs:CreateFileSystem"));
        assert!(!rule("efs:*").matches("ec2:CreateSecurityGroup"));
        assert!(rule("*").matches("sts:GetCallerIdentity"));
    }

    #[test]
    fn decodes_form_values() {
        let body =
            "Action=AssociateIamInstanceProfile&IamInstanceProfile.Arn=arn%3Aaws%3Aiam%3A%3A1%3Ainstance-profile%2Fx";
        assert_eq!(form_value(body, "Action").as_deref(), Some("AssociateIamInstanceProfile"));
        assert_eq!(form_value(body, "IamInstanceProfile.Arn").as_deref(), Some("arn:aws:iam::1:instance-profile/x"));
        assert_eq!(form_value(body, "Missing"), None);
    }

    #[test]
    fn writes_loopback_addresses_as_proc_net_tcp_does() {
        assert_eq!(proc_net_address(SocketAddr::from((Ipv4Addr::LOCALHOST, 8080))), "0100007F:1F90");
    }
}
