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
//! What moto lacks of AWS's behaviour is emulated too, on every call:
//! * EFS answers a CreateAccessPoint whose `ClientToken` it has seen with the access point it made
//!   then (the SDK keeps the token across retries); moto makes a second one.
//! * EFS tags a file system created with `Backup: true` with the system tag
//!   [`BACKUP_SYSTEM_TAG`] (`aws:elasticfilesystem:default-backup`).
//! * EFS reports a file system's KMS key by its key ARN, also when the create named an alias ARN
//!   (moto echoes the alias).
//! * Tag calls naming an `aws:` key are refused (EFS `BadRequest`, IAM `InvalidInput`, EC2
//!   `InvalidParameterValue`): those keys are AWS's own.
//! * DescribeAccessPoints by file system answers in pages of [`ACCESS_POINTS_PER_PAGE`].
//! * Calls on a mount target that is not `available` are refused with `IncorrectMountTargetState`
//!   (DeleteMountTarget and ModifyMountTargetSecurityGroups while it is `creating` or `deleting`,
//!   DescribeMountTargetSecurityGroups while it is `creating`), and DeleteFileSystem with
//!   `FileSystemInUse` while a mount target of it is `creating` or `deleting` or it has access
//!   points; a mount target `deleting` is still listed by file system.
//! * DescribeBackupPolicy of a file system that does not exist answers `FileSystemNotFound`
//!   (moto fails it with HTTP 500).
//!
//! And when a rule asks for it (see [`Fault`]), per object: file systems, mount targets and access
//! points `creating`/`deleting`; IAM roles and instance profiles `NoSuchEntity` for a number of
//! reads after their create; access points not found right after theirs, and new security groups
//! `InvalidGroup.NotFound` to AuthorizeSecurityGroupIngress; associations missing
//! from the first describes after they were made, or still `disassociating` (and blocking a new
//! association) after a disassociation; metadata options `pending` after a change; instances
//! `stopping`, `pending` or `shutting-down` after StopInstances, StartInstances or
//! TerminateInstances, refusing association calls meanwhile (`IncorrectInstanceState`); IAM
//! deletes answering `DeleteConflict`; ReplaceIamInstanceProfileAssociation answering
//! `IncorrectInstanceState` (replacing only on a `running` instance, in one reading of EC2's docs).
//!
//! Each request is forwarded on a fresh connection to moto (`Connection: close`); connections from
//! the provider are kept alive as HTTP/1.1 allows.
//!
//! Parts: [`http`] (HTTP/1.1 plumbing), [`wire`] (the AWS wire format), [`faults`] (the fault
//! rules, holds and crash trigger), [`aws`] (the AWS behaviours above and the IAM/EC2 side of the
//! holds), [`trace`] (the calls of a run and their call graph, for the benchmark); here the proxy
//! itself and how it serves one request.

mod aws;
mod faults;
mod http;
pub mod trace;
mod wire;

use std::collections::BTreeMap;
use std::io::{self, BufReader};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use self::aws::{
    eventual_answer, page_access_points, refuse_missing_file_system, refuse_system_tag_keys, refuse_unsettled,
    resolve_kms_aliases, rewrite_answer, tag_backed_up_file_system,
};
pub use self::aws::{ACCESS_POINTS_PER_PAGE, BACKUP_SYSTEM_TAG};
use self::faults::{crash_due, decide, deleting_answer, rewrite_efs_answer, Crash, Plan, State};
pub use self::faults::{is_mutating, Fault, FaultRule};
use self::http::{forward, read_request, reset, write_response, Request, Response};
use self::trace::TracedCall;
use self::wire::{action_of, error_response};
pub use self::wire::{efs_operation, service_of};
use crate::Moto;

struct Shared {
    moto: SocketAddr,
    state: Mutex<State>,
    stop: AtomicBool,
    /// The calls answered since [`FaultProxy::start_trace`], and when that was.
    trace: Mutex<Option<(Instant, Vec<TracedCall>)>>,
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
            trace: Mutex::new(None),
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
        state.invisible.clear();
        state.disassociating.clear();
        state.metadata_pending.clear();
        state.instances_in_transition.clear();
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

    /// [`FaultProxy::crash_after_mutating_calls`] for the CLI: the process that started the
    /// provider (the `terraform` or `tofu` running the apply) is SIGKILLed first, then the provider,
    /// as when the machine running the apply goes down. No state is written for what the killed
    /// apply made after its last write, whichever resource made it.
    pub fn crash_cli_after_mutating_calls(&self, k: u32) {
        assert!(k >= 1, "crash after at least one call");
        self.shared.state().crash = Some(Crash { after: k, cli: true, ..Crash::default() });
    }

    /// Records every answered call from now on (when it started and ended, what it named), until
    /// [`FaultProxy::take_trace`].
    pub fn start_trace(&self) {
        *self.shared.trace.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), Vec::new()));
    }

    /// The calls recorded since [`FaultProxy::start_trace`], which stops recording.
    pub fn take_trace(&self) -> Vec<TracedCall> {
        self.shared.trace.lock().unwrap_or_else(|p| p.into_inner()).take().map(|(_, calls)| calls).unwrap_or_default()
    }

    /// After a crash was triggered: the action of the k-th mutating call, and the pid killed (the
    /// CLI's, for [`FaultProxy::crash_cli_after_mutating_calls`]).
    pub fn crashed(&self) -> Option<(String, Option<u32>)> {
        // The kill may still be under way (the CLI dies first, the provider after it).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (done, settled) = match self.shared.state().crash.as_ref() {
                Some(crash) => (crash.done.clone(), crash.settled),
                None => return None,
            };
            if done.is_none() || settled || Instant::now() > deadline {
                return done;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
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
// Serving
// ---------------------------------------------------------------------------------------------

/// How long a black-holed connection is held at most, should its caller never give up.
const BLACK_HOLE_LIMIT: Duration = Duration::from_secs(15 * 60);

/// Keeps a connection open without answering until the caller closes it (or the proxy stops).
fn hold_until_closed(shared: &Shared, stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let started = std::time::Instant::now();
    let mut buf = [0u8; 1024];
    while !shared.stop.load(Ordering::SeqCst) && started.elapsed() < BLACK_HOLE_LIMIT {
        match io::Read::read(stream, &mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
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
    let started = Instant::now();
    let answer = |stream: &mut TcpStream, response: &Response| {
        record(shared, started, request, response);
        write_response(stream, response)
    };
    let action = action_of(request);
    let service = action.split(':').next().unwrap_or_default().to_string();
    let (plan, latency) = decide(shared, &action, &service, request);
    if !latency.is_zero() {
        thread::sleep(latency);
    }
    let (delay, lose_answer, holds) = match plan {
        Plan::Answer(response) => return answer(stream, &response),
        Plan::Reset => {
            reset(stream.try_clone()?);
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "fault: reset"));
        }
        Plan::BlackHole => {
            hold_until_closed(shared, stream);
            return Err(io::Error::new(io::ErrorKind::TimedOut, "fault: never answered"));
        }
        Plan::Forward { delay, lose_answer, holds } => (delay, lose_answer, holds),
    };
    if let Some(refused) = refuse_system_tag_keys(&action, request)
        .or_else(|| refuse_unsettled(shared, &action, request))
        .or_else(|| refuse_missing_file_system(shared, &action, request))
    {
        return answer(stream, &refused);
    }
    let client_token = (action == "efs:CreateAccessPoint")
        .then(|| serde_json::from_slice::<Value>(&request.body).ok())
        .flatten()
        .and_then(|body| body["ClientToken"].as_str().map(str::to_string));
    let repeated = client_token.as_ref().and_then(|t| shared.state().access_points_by_token.get(t).cloned());
    let synthesized = repeated
        .or_else(|| deleting_answer(shared, &action, request))
        .or_else(|| eventual_answer(shared, &action, request));
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
    if action == "efs:CreateFileSystem" && (200..300).contains(&response.status) {
        tag_backed_up_file_system(shared, request, &mut response);
    }
    if action == "efs:DescribeAccessPoints" && response.status == 200 {
        page_access_points(request, &mut response);
    }
    if (200..300).contains(&response.status) {
        resolve_kms_aliases(&action, &mut response);
    }
    if service == "efs" && (200..300).contains(&response.status) {
        rewrite_efs_answer(shared, &action, request, &mut response, holds);
    } else {
        rewrite_answer(shared, &action, request, &mut response, holds);
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
    answer(stream, &response)
}

/// Adds the call to the trace, when one is being recorded.
fn record(shared: &Shared, started: Instant, request: &Request, response: &Response) {
    let mut trace = shared.trace.lock().unwrap_or_else(|p| p.into_inner());
    let Some((since, calls)) = trace.as_mut() else { return };
    let text = format!("{}\n{}", request.target, String::from_utf8_lossy(&request.body));
    calls.push(TracedCall::new(
        &action_of(request),
        started.saturating_duration_since(*since),
        since.elapsed(),
        &text,
        &String::from_utf8_lossy(&response.body),
    ));
}
