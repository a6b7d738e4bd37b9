//! Benchmarks of the provider as the Terraform CLI uses it. They print figures; nothing here
//! asserts a time. Results and how to read them are in docs/performance.md.
//!
//!     cargo bench --workspace --locked --bench provider            # everything
//!     cargo bench --workspace --locked --bench provider -- scale   # only sections whose name contains "scale"
//!
//! Needs what the acceptance tests need (scripts/setup.sh: Terraform 1.0.3 and moto in .venv).
//! Sections:
//! * `startup`: provider start to its handshake line, as Terraform launches it (AutoMTLS).
//! * `schema`: GetProviderSchema round trips over one AutoMTLS channel.
//! * `plan`: `terraform plan` of the example module, before and after it is applied.
//! * `rss`: peak resident memory of the provider processes during an apply of the example module.
//! * `latency`: apply and destroy of the example module through a proxy that delays every AWS call
//!   by L, against the lower bound L x (longest chain of dependent calls, from the call graph the
//!   proxy recorded: `acceptance_tests::proxy::trace`); calls per action.
//! * `scale`: efs_csi_node_identity with 1, 10, 100 and 300 instances: apply and refresh time and
//!   AWS calls.
//!
//! Run by `cargo test --benches` (no `--bench` argument), every section does one short round, so
//! the benchmark itself stays working.
//!
//! With `EFS_BENCH_REPORT=FILE` it also writes what it printed to FILE as Markdown, headed by the
//! date, the machine and the CLI: docs/performance-latest.md is such a file.

#[path = "../tests/plugin_client/mod.rs"]
mod plugin_client;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use acceptance_tests::cluster::Cluster;
use acceptance_tests::example_module;
use acceptance_tests::proxy::trace::{longest_dependent_chain, longest_run_in_a_row, TracedCall};
use acceptance_tests::proxy::FaultProxy;
use acceptance_tests::{provider_block, provider_block_with_endpoint, Moto, Workdir};
use plugin_client::{client_identity, connect, launch};
use tfplugin_proto::tfplugin6 as proto;
use tfplugin_proto::tfplugin6::provider_client::ProviderClient;

/// Everything the benchmark printed, for the report `EFS_BENCH_REPORT` asks for.
static PRINTED: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// `println!`, and the line kept for the report.
macro_rules! say {
    ($($arg:tt)*) => {{
        let line = format!($($arg)*);
        println!("{line}");
        let mut printed = PRINTED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        printed.push_str(&line);
        printed.push('\n');
    }};
}

/// Delay the proxy adds to every AWS call in the `latency` section.
const INJECTED_LATENCY: Duration = Duration::from_millis(50);

struct Settings {
    /// Full rounds (`cargo bench`) or one short round (`cargo test --benches`).
    full: bool,
    filter: Option<String>,
}

impl Settings {
    fn from_args() -> Settings {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let full = args.iter().any(|a| a == "--bench");
        let filter = args.into_iter().find(|a| !a.starts_with('-'));
        Settings { full, filter }
    }

    fn wants(&self, section: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| section.contains(f))
    }

    fn rounds(&self, full: usize) -> usize {
        if self.full {
            full
        } else {
            1
        }
    }
}

fn main() {
    let settings = Settings::from_args();
    say!("terraform-provider-efs benchmarks ({} rounds)", if settings.full { "full" } else { "short" });
    say!("provider binary: {}", plugin_client::binary());
    if settings.wants("startup") {
        startup(&settings);
    }
    if settings.wants("schema") {
        schema(&settings);
    }
    if settings.wants("plan") {
        plan(&settings);
    }
    if settings.wants("rss") {
        rss();
    }
    if settings.wants("latency") {
        latency(&settings);
    }
    if settings.wants("scale") {
        scale(&settings);
    }
    if let Ok(path) = std::env::var("EFS_BENCH_REPORT") {
        let printed = PRINTED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        std::fs::write(&path, report_markdown(&settings, &printed)).expect("write EFS_BENCH_REPORT");
        println!("report written to {path}");
    }
}

/// The report: when, on what, with which CLI and build, then what the benchmark printed.
fn report_markdown(settings: &Settings, printed: &str) -> String {
    let command = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|text| !text.is_empty())
            .unwrap_or_else(|| "unknown".to_string())
    };
    let proc_field = |file: &str, key: &str| {
        std::fs::read_to_string(file)
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with(key))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".to_string())
    };
    let cli = acceptance_tests::cli::Cli::current();
    let cores = std::thread::available_parallelism().map(|n| n.get().to_string()).unwrap_or_else(|_| "?".into());
    let sections =
        settings.filter.as_deref().map(|f| format!("sections matching `{f}`")).unwrap_or("every section".into());
    let rounds = if settings.full { "full rounds" } else { "one short round each" };
    format!(
        "# Benchmark report\n\n\
         Written by `provider/benches/provider.rs` (see docs/performance.md for how to read it); nothing in it \
         was edited by hand.\n\n\
         - date: {date}\n\
         - machine: {cores} cores ({cpu}), {memory} memory, Linux {kernel}; load average at the end: {load}\n\
         - CLI: {cli} {cli_version}\n\
         - provider binary: `{binary}`\n\
         - what ran: {sections}, {rounds}\n\n\
         ```text\n{printed}```\n",
        date = command("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        cpu = proc_field("/proc/cpuinfo", "model name"),
        memory = proc_field("/proc/meminfo", "MemTotal")
            .trim_end_matches(" kB")
            .parse::<f64>()
            .map(|kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0))
            .unwrap_or_else(|_| "unknown".into()),
        kernel = command("uname", &["-r"]),
        load = std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default(),
        cli = cli.product_name(),
        cli_version = cli.version(),
        binary = plugin_client::binary(),
    )
}

// ---------------------------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------------------------

fn startup(settings: &Settings) {
    let identity = client_identity();
    let under_test = std::env::var_os("EFS_PROVIDER_BIN");
    for (label, binary) in startup_binaries() {
        // The launcher starts whatever EFS_PROVIDER_BIN names; this process has no other threads
        // that read the environment.
        std::env::set_var("EFS_PROVIDER_BIN", &binary);
        let mut times = Vec::new();
        for _ in 0..settings.rounds(40) {
            let started = Instant::now();
            let (provider, _) = launch(&identity);
            times.push(started.elapsed());
            drop(provider);
        }
        report(&format!("startup: {label}: provider start to handshake line"), &times);
    }
    match under_test {
        Some(binary) => std::env::set_var("EFS_PROVIDER_BIN", binary),
        None => std::env::remove_var("EFS_PROVIDER_BIN"),
    }
}

/// The binary under test, and the other builds of the workspace that exist (the debug build the
/// tests use, a release build, the release GoReleaser made), each once.
fn startup_binaries() -> Vec<(String, std::path::PathBuf)> {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let mut found: Vec<(String, std::path::PathBuf)> = Vec::new();
    let candidates = [
        ("under test".to_string(), std::path::PathBuf::from(plugin_client::binary())),
        ("debug".to_string(), target.join("debug/terraform-provider-efs")),
        ("release".to_string(), target.join("release/terraform-provider-efs")),
        (
            "release (GoReleaser)".to_string(),
            target.join("goreleaser/x86_64-unknown-linux-gnu/release/terraform-provider-efs"),
        ),
    ];
    for (label, path) in candidates {
        let Ok(canonical) = std::fs::canonicalize(&path) else { continue };
        if found.iter().all(|(_, known)| *known != canonical) {
            found.push((label, canonical));
        }
    }
    found
}

fn schema(settings: &Settings) {
    let runtime = runtime();
    let identity = client_identity();
    let (_provider, handshake) = launch(&identity);
    let times = runtime.block_on(async {
        let mut client = ProviderClient::new(connect(&handshake, &identity).await);
        let mut times = Vec::new();
        for _ in 0..settings.rounds(200) {
            let started = Instant::now();
            let response = client.get_provider_schema(proto::get_provider_schema::Request {}).await;
            times.push(started.elapsed());
            let schema = response.expect("GetProviderSchema").into_inner();
            assert!(schema.resource_schemas.contains_key("efs_prometheus_volume"));
        }
        times
    });
    report("schema: GetProviderSchema round trip", &times);
}

fn plan(settings: &Settings) {
    let setup = ExampleModule::new(None);
    let mut fresh = Vec::new();
    for _ in 0..settings.rounds(10) {
        let started = Instant::now();
        setup.workdir.run_ok(&["plan", "-no-color", "-input=false"]);
        fresh.push(started.elapsed());
    }
    report("plan: example module, nothing applied yet", &fresh);
    setup.workdir.apply();
    let mut applied = Vec::new();
    for _ in 0..settings.rounds(10) {
        let started = Instant::now();
        setup.workdir.run_ok(&["plan", "-no-color", "-input=false"]);
        applied.push(started.elapsed());
    }
    report("plan: example module, applied (refresh of every part + readiness checks)", &applied);
    setup.workdir.destroy();
}

fn rss() {
    let setup = ExampleModule::new(None);
    let sampler = RssSampler::start();
    setup.workdir.apply();
    let (peak_kib, processes) = sampler.stop();
    say!(
        "rss: peak resident memory of a provider process during apply: {:.1} MiB ({processes} provider processes seen)",
        peak_kib as f64 / 1024.0
    );
    setup.workdir.destroy();
}

fn latency(settings: &Settings) {
    // The same flow without added latency too: what Terraform, the provider's own waits and moto
    // cost on their own. Medians over the rounds, each round both ways.
    let mut walls: BTreeMap<&str, [Vec<Duration>; 2]> = BTreeMap::new();
    let mut last_traces: Vec<(&str, Vec<TracedCall>)> = Vec::new();
    let mut known = std::collections::BTreeSet::new();
    let rounds = settings.rounds(3);
    for (run, latency) in
        (0..rounds).flat_map(|_| [Duration::ZERO, INJECTED_LATENCY]).enumerate().map(|(i, l)| (i % 2, l))
    {
        let setup = ExampleModule::new(Some(latency));
        let proxy = setup.proxy.as_ref().expect("latency runs through the proxy");
        for phase in ["apply", "destroy"] {
            proxy.start_trace();
            let started = Instant::now();
            if phase == "apply" {
                setup.workdir.apply();
            } else {
                setup.workdir.destroy();
            }
            walls.entry(phase).or_default()[run].push(started.elapsed());
            let trace = proxy.take_trace();
            if run == 1 {
                known = setup.configured_ids.clone();
                // The calls of the last delayed round.
                if phase == "apply" {
                    last_traces.clear();
                }
                last_traces.push((phase, trace));
            }
        }
    }
    if let Ok(path) = std::env::var("EFS_BENCH_TRACE") {
        // Every call of the last delayed round, for reading the call graph by hand.
        let lines: Vec<String> = last_traces
            .iter()
            .flat_map(|(phase, trace)| trace.iter().map(move |call| format!("{phase} {call:?}")))
            .collect();
        std::fs::write(&path, lines.join("\n")).expect("write the trace");
    }
    for (phase, trace) in &last_traces {
        let [base, delayed] = [median(&walls[phase][0]), median(&walls[phase][1])];
        let added = delayed.saturating_sub(base);
        let chain = longest_dependent_chain(trace, &known);
        let run = longest_run_in_a_row(trace);
        let bound = INJECTED_LATENCY * chain.len() as u32;
        say!(
            "latency: {phase}: {:.2} s with {} ms per AWS call, {:.2} s without; the latency added {:.2} s = {:.1} calls \
             in a row ({} in a row in the trace); lower bound {} dependent calls x {} ms = {:.2} s; ratio {:.1} \
             (medians of {rounds})",
            delayed.as_secs_f64(),
            INJECTED_LATENCY.as_millis(),
            base.as_secs_f64(),
            added.as_secs_f64(),
            added.as_secs_f64() / INJECTED_LATENCY.as_secs_f64(),
            run.len(),
            chain.len(),
            INJECTED_LATENCY.as_millis(),
            bound.as_secs_f64(),
            added.as_secs_f64() / bound.as_secs_f64(),
        );
        let links: Vec<&str> = chain.iter().map(|call| call.action.as_str()).collect();
        say!("latency: {phase}: the longest chain of dependent calls: {}", links.join(" -> "));
        let links: Vec<&str> = run.iter().map(|call| call.action.as_str()).collect();
        say!("latency: {phase}: the longest run of calls in a row: {}", links.join(" -> "));
    }
    for (phase, trace) in &last_traces {
        let mut calls: BTreeMap<String, u32> = BTreeMap::new();
        for call in trace {
            *calls.entry(call.action.clone()).or_default() += 1;
        }
        say!("latency: AWS calls per action during {phase} ({} in all):", trace.len());
        print_calls(&calls);
    }
}

fn scale(settings: &Settings) {
    let sizes: &[usize] = if settings.full { &[1, 10, 100, 300] } else { &[1, 10] };
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto);
    say!("scale: efs_csi_node_identity, per instance count: apply, refresh (plan), destroy; AWS calls");
    let mut by_action = Vec::new();
    for &count in sizes {
        moto.reset();
        // Three zones: a /24 subnet holds fewer than 300 instances.
        let cluster = Cluster::create(&moto, 3, count.saturating_sub(1));
        assert_eq!(cluster.instance_ids.len(), count);
        let workdir = Workdir::new(&moto);
        workdir.write(
            "main.tf",
            &format!(
                "{}\nresource \"efs_csi_node_identity\" \"nodes\" {{\n  name         = \"bench-{count}\"\n  instance_ids = {}\n}}\n",
                provider_block_with_endpoint(&proxy.endpoint()),
                cluster.instance_ids_hcl()
            ),
        );
        let mut row = Vec::new();
        for args in [&["apply", "-auto-approve"][..], &["plan"], &["destroy", "-auto-approve"]] {
            proxy.reset_counts();
            let started = Instant::now();
            let mut full_args = args.to_vec();
            full_args.extend(["-no-color", "-input=false"]);
            workdir.run_ok(&full_args);
            let calls = proxy.calls();
            let total: u32 = calls.values().sum();
            row.push(format!("{} {:.2} s / {total} calls", args[0], started.elapsed().as_secs_f64()));
            if count == sizes[sizes.len() - 1] {
                by_action.push((args[0], calls));
            }
        }
        say!("  {count:>3} instances: {}", row.join(", "));
    }
    for (command, calls) in by_action {
        say!("scale: AWS calls per action during {command} with {} instances:", sizes[sizes.len() - 1]);
        print_calls(&calls);
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures and figures
// ---------------------------------------------------------------------------------------------

/// The example module over a stand-in cluster (3 AZs, a master and two workers), applied directly
/// against moto, or through the proxy that delays every AWS call by `latency`.
struct ExampleModule {
    workdir: Workdir,
    proxy: Option<FaultProxy>,
    /// The ids the configuration names (instances, subnets, the nodes' group).
    configured_ids: std::collections::BTreeSet<String>,
    _moto: Option<Moto>,
}

impl ExampleModule {
    fn new(latency: Option<Duration>) -> ExampleModule {
        let module = match latency {
            Some(latency) => {
                let bench = example_module::Bench::start();
                let (cluster, workdir) = bench.fresh_workdir("bench-prometheus");
                // After fresh(): it resets the proxy, latency included.
                bench.proxy.set_latency(latency);
                let configured_ids = configured_ids(&cluster);
                ExampleModule { workdir, proxy: Some(bench.proxy), configured_ids, _moto: Some(bench.moto) }
            }
            None => {
                let moto = Moto::start();
                let cluster = Cluster::create(&moto, 3, 2);
                let workdir = Workdir::new(&moto);
                workdir.write("main.tf", &example_module::config(&provider_block(&moto), "bench-prometheus", &cluster));
                let configured_ids = configured_ids(&cluster);
                ExampleModule { workdir, proxy: None, configured_ids, _moto: Some(moto) }
            }
        };
        module.workdir.run_ok(&["get", "-no-color"]);
        module
    }
}

fn configured_ids(cluster: &Cluster) -> std::collections::BTreeSet<String> {
    let mut ids: std::collections::BTreeSet<String> = cluster.instance_ids.iter().cloned().collect();
    ids.extend(cluster.subnet_ids.iter().cloned());
    ids.insert(cluster.node_security_group_id.clone());
    ids
}

/// Samples the resident memory of every process running the provider binary, by its high-water
/// mark (VmHWM), so short-lived launches are not missed between samples.
struct RssSampler {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<(u64, usize)>,
}

impl RssSampler {
    fn start() -> RssSampler {
        let binary = std::fs::canonicalize(plugin_client::binary()).expect("provider binary");
        let (stop, stopped) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut peaks: BTreeMap<u32, u64> = BTreeMap::new();
            while stopped.recv_timeout(Duration::from_millis(10)).is_err() {
                for (pid, hwm) in provider_processes(&binary) {
                    let peak = peaks.entry(pid).or_default();
                    *peak = (*peak).max(hwm);
                }
            }
            (peaks.values().copied().max().unwrap_or(0), peaks.len())
        });
        RssSampler { stop, thread }
    }

    /// The largest peak of any provider process, in KiB, and how many processes were seen.
    fn stop(self) -> (u64, usize) {
        let _ = self.stop.send(());
        self.thread.join().expect("sampler thread")
    }
}

/// (pid, VmHWM in KiB) of each live process whose executable is `binary`.
fn provider_processes(binary: &std::path::Path) -> Vec<(u32, u64)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let exe = std::fs::read_link(entry.path().join("exe")).ok()?;
            if exe != binary {
                return None;
            }
            let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
            let hwm = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
            Some((pid, hwm.trim().trim_end_matches("kB").trim().parse().ok()?))
        })
        .collect()
}

fn report(what: &str, times: &[Duration]) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    say!(
        "{what}: median {:.1} ms, p95 {:.1} ms, min {:.1} ms, max {:.1} ms ({} runs)",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(sorted[0]),
        ms(sorted[sorted.len() - 1]),
        sorted.len()
    );
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn print_calls(calls: &BTreeMap<String, u32>) {
    for (action, count) in calls {
        say!("    {action:<45} {count:>4}");
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}
