//! Conformance of the provider binary with the plugin protocol as the Terraform and OpenTofu CLIs
//! speak it: the go-plugin launch (magic cookie, protocol versions, handshake line), AutoMTLS
//! with a P-521 client certificate pinned in both directions, go-plugin's helper services
//! (health, GRPCController, GRPCStdio), and real answers to the tfplugin6 RPCs that Terraform
//! 1.0.3 (the only CLI on these machines) never calls.
//!
//! Every test starts its own provider process and kills it on drop, also when the test panics;
//! every wait has a deadline. Nothing here measures time.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ProtocolVersion};
use terraform_provider_efs::framework::{msgpack, DataSource, Type, Value};
use tfplugin_proto::plugin::grpc_controller_client::GrpcControllerClient;
use tfplugin_proto::plugin::grpc_stdio_client::GrpcStdioClient;
use tfplugin_proto::tfplugin6 as proto;
use tfplugin_proto::tfplugin6::provider_client::ProviderClient;
use tonic::transport::{Channel, Endpoint};

const DATA_SOURCE: &str = "efs_csi_driver_iam_policy";
const PROVIDER_ADDRESS: &str = "registry.terraform.io/seedlabs/efs";
/// The whole of one test.
const TEST_DEADLINE: Duration = Duration::from_secs(120);

mod plugin_client;

use plugin_client::*;

/// Runs a whole async test under one deadline (the provider is killed when it panics).
async fn with_deadline(test: impl Future<Output = ()>) {
    tokio::time::timeout(TEST_DEADLINE, test).await.unwrap_or_else(|_| panic!("test exceeded {TEST_DEADLINE:?}"));
}

fn provider_client(channel: &Channel) -> ProviderClient<Channel> {
    ProviderClient::new(channel.clone())
}

fn is_error(diag: &proto::Diagnostic) -> bool {
    diag.severity == proto::diagnostic::Severity::Error as i32
}

fn errors(diags: &[proto::Diagnostic]) -> Vec<&proto::Diagnostic> {
    diags.iter().filter(|d| is_error(d)).collect()
}

/// An attribute path as `a.b[0]["k"]`; empty when the diagnostic has none.
fn path_of(diag: &proto::Diagnostic) -> String {
    use proto::attribute_path::step::Selector;
    let mut text = String::new();
    for step in diag.attribute.iter().flat_map(|path| &path.steps) {
        match &step.selector {
            Some(Selector::AttributeName(name)) if text.is_empty() => text.push_str(name),
            Some(Selector::AttributeName(name)) => text.push_str(&format!(".{name}")),
            Some(Selector::ElementKeyString(key)) => text.push_str(&format!("[{key:?}]")),
            Some(Selector::ElementKeyInt(index)) => text.push_str(&format!("[{index}]")),
            None => text.push_str("<empty step>"),
        }
    }
    text
}

/// Asserts exactly one kind of answer: error diagnostics, no gRPC error.
fn assert_error_diagnostics(rpc: &str, diags: &[proto::Diagnostic]) {
    let errs = errors(diags);
    assert!(!errs.is_empty(), "{rpc} must answer with an error diagnostic, got {diags:?}");
    for diag in errs {
        assert!(!diag.summary.is_empty(), "{rpc}: error diagnostic without a summary: {diag:?}");
        assert!(!diag.detail.is_empty(), "{rpc}: error diagnostic without a detail: {diag:?}");
    }
}

fn dynamic_value(value: &Value, ty: &Type) -> proto::DynamicValue {
    proto::DynamicValue { msgpack: msgpack::encode(value, ty).expect("msgpack encoding"), json: Vec::new() }
}

fn provider_config(value: &Value) -> proto::DynamicValue {
    dynamic_value(value, &terraform_provider_efs::provider_config::schema().value_type())
}

fn data_source_type() -> Type {
    terraform_provider_efs::data_sources::csi_driver_iam_policy::CsiDriverIamPolicy.schema().value_type()
}

fn expected_resource_types() -> BTreeSet<String> {
    terraform_provider_efs::resources::all().iter().map(|r| r.type_name().to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Handshake
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_line_names_a_localhost_certificate_that_the_server_presents() {
    with_deadline(async {
        let identity = client_identity();
        let (provider, handshake) = launch(&identity);

        assert!(handshake.addr.ip().is_loopback(), "{}", handshake.line);
        assert_eq!(handshake.addr.ip().to_string(), "127.0.0.1", "{}", handshake.line);
        assert!(
            (MIN_PORT..=MAX_PORT).contains(&handshake.addr.port()),
            "port outside PLUGIN_MIN_PORT..=PLUGIN_MAX_PORT: {}",
            handshake.line
        );

        let (rest, cert) = x509_parser::parse_x509_certificate(&handshake.server_cert_der)
            .unwrap_or_else(|e| panic!("the handshake certificate is not X.509 DER: {e}"));
        assert!(rest.is_empty(), "{} bytes after the certificate", rest.len());
        let san = cert.subject_alternative_name().expect("valid SAN extension").expect("a SAN extension");
        assert!(
            san.value
                .general_names
                .iter()
                .any(|n| matches!(n, x509_parser::extensions::GeneralName::DNSName("localhost"))),
            "SAN must name localhost: {:?}",
            san.value.general_names
        );
        let common_names: Vec<&str> = cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).collect();
        assert_eq!(common_names, ["localhost"], "subject {}", cert.subject());
        assert!(cert.is_ca(), "go-plugin's client uses the server certificate as its root CA");
        assert!(cert.validity().is_valid(), "certificate not valid now: {:?}", cert.validity());
        assert_eq!(cert.subject(), cert.issuer(), "the server certificate is self-signed");

        // The certificate of the handshake line is the one the TLS server presents: the pinning
        // verifier accepts nothing else. TLS 1.3 is what Go negotiates by default.
        let config = tls_config(&handshake.server_cert_der, Some(&identity), rustls::DEFAULT_VERSIONS);
        let (channel, negotiated) = within("connect", connect_tls(handshake.addr, config))
            .await
            .expect("mutual TLS with the pinned certificate");
        let metadata = within("GetMetadata", provider_client(&channel).get_metadata(proto::get_metadata::Request {}))
            .await
            .expect("GetMetadata over mutual TLS");
        assert!(metadata.into_inner().diagnostics.is_empty());
        assert_eq!(negotiated.lock().unwrap().as_slice(), [ProtocolVersion::TLSv1_3]);
        drop(provider);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 2. RPCs Terraform 1.0.3 never calls, and go-plugin's services
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_schema_describe_the_provider() {
    with_deadline(async {
        let identity = client_identity();
        let (_provider, handshake) = launch(&identity);
        let channel = connect(&handshake, &identity).await;
        let mut client = provider_client(&channel);

        let metadata = within("GetMetadata", client.get_metadata(proto::get_metadata::Request {}))
            .await
            .expect("GetMetadata")
            .into_inner();
        assert!(metadata.diagnostics.is_empty(), "{:?}", metadata.diagnostics);
        let data_sources: BTreeSet<String> = metadata.data_sources.iter().map(|d| d.type_name.clone()).collect();
        assert!(data_sources.contains(DATA_SOURCE), "data sources: {data_sources:?}");
        let resources: BTreeSet<String> = metadata.resources.iter().map(|r| r.type_name.clone()).collect();
        assert_eq!(resources, expected_resource_types(), "GetMetadata lists every registered resource type");
        let capabilities = metadata.server_capabilities.expect("server capabilities in GetMetadata");
        assert!(capabilities.get_provider_schema_optional, "{capabilities:?}");
        assert!(metadata.functions.is_empty() && metadata.ephemeral_resources.is_empty());
        assert!(metadata.list_resources.is_empty() && metadata.actions.is_empty() && metadata.state_stores.is_empty());

        let schema = within("GetProviderSchema", client.get_provider_schema(proto::get_provider_schema::Request {}))
            .await
            .expect("GetProviderSchema")
            .into_inner();
        assert!(schema.diagnostics.is_empty(), "{:?}", schema.diagnostics);
        assert!(schema.server_capabilities.expect("capabilities").get_provider_schema_optional);
        let provider_block = schema.provider.expect("provider schema").block.expect("provider block");
        let attribute = |name: &str| {
            provider_block
                .attributes
                .iter()
                .find(|a| a.name == name)
                .unwrap_or_else(|| panic!("provider attribute {name} missing"))
        };
        let region = attribute("region");
        assert!(region.optional && !region.required && !region.computed, "{region:?}");
        assert_eq!(region.r#type, br#""string""#.to_vec());
        assert!(attribute("access_key").sensitive, "access_key must be sensitive");
        assert!(attribute("secret_key").sensitive, "secret_key must be sensitive");
        assert!(!region.sensitive);
        let endpoints = provider_block
            .block_types
            .iter()
            .find(|b| b.type_name == "endpoints")
            .expect("endpoints block in the provider schema");
        assert_eq!(endpoints.nesting, proto::schema::nested_block::NestingMode::Single as i32);
        let services: BTreeSet<&str> = endpoints
            .block
            .as_ref()
            .expect("endpoints block body")
            .attributes
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        for service in ["iam", "ec2", "efs", "sts"] {
            assert!(services.contains(service), "endpoints.{service} missing: {services:?}");
        }

        let data_source = schema.data_source_schemas.get(DATA_SOURCE).expect("data source schema");
        let json = data_source
            .block
            .as_ref()
            .and_then(|b| b.attributes.iter().find(|a| a.name == "json"))
            .expect("json attribute of the data source");
        assert!(json.computed && !json.optional, "{json:?}");
        let resource_schemas: BTreeSet<String> = schema.resource_schemas.keys().cloned().collect();
        assert_eq!(resource_schemas, expected_resource_types());
        assert!(schema.functions.is_empty() && schema.ephemeral_resource_schemas.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn features_the_provider_lacks_answer_with_diagnostics_not_grpc_errors() {
    with_deadline(async {
        let identity = client_identity();
        let (_provider, handshake) = launch(&identity);
        let channel = connect(&handshake, &identity).await;
        let mut client = provider_client(&channel);

        let identities = within(
            "GetResourceIdentitySchemas",
            client.get_resource_identity_schemas(proto::get_resource_identity_schemas::Request {}),
        )
        .await
        .expect("GetResourceIdentitySchemas")
        .into_inner();
        // Both resources name their object by one attribute, the same as their import id.
        let attributes: Vec<(&str, &str, bool)> = identities
            .identity_schemas
            .iter()
            .flat_map(|(type_name, schema)| {
                schema
                    .identity_attributes
                    .iter()
                    .map(move |a| (type_name.as_str(), a.name.as_str(), a.required_for_import))
            })
            .collect();
        let mut attributes = attributes;
        attributes.sort();
        assert_eq!(
            attributes,
            [("efs_csi_node_identity", "role_name", true), ("efs_prometheus_volume", "file_system_id", true)],
            "{:?}",
            identities.identity_schemas
        );
        assert!(identities.diagnostics.is_empty(), "{:?}", identities.diagnostics);

        let functions = within("GetFunctions", client.get_functions(proto::get_functions::Request {}))
            .await
            .expect("GetFunctions")
            .into_inner();
        assert!(functions.functions.is_empty() && functions.diagnostics.is_empty(), "{functions:?}");

        let call = within(
            "CallFunction",
            client.call_function(proto::call_function::Request { name: "anything".into(), arguments: Vec::new() }),
        )
        .await
        .expect("CallFunction")
        .into_inner();
        let error = call.error.expect("CallFunction answers with a function error");
        assert!(error.text.contains("no functions"), "function error text: {:?}", error.text);
        assert!(call.result.is_none());

        let validate_ephemeral = within(
            "ValidateEphemeralResourceConfig",
            client.validate_ephemeral_resource_config(proto::validate_ephemeral_resource_config::Request {
                type_name: "efs_secret".into(),
                config: None,
            }),
        )
        .await
        .expect("ValidateEphemeralResourceConfig is answered, not refused")
        .into_inner();
        assert_error_diagnostics("ValidateEphemeralResourceConfig", &validate_ephemeral.diagnostics);

        let open_ephemeral = within(
            "OpenEphemeralResource",
            client.open_ephemeral_resource(proto::open_ephemeral_resource::Request {
                type_name: "efs_secret".into(),
                ..Default::default()
            }),
        )
        .await
        .expect("OpenEphemeralResource is answered, not refused")
        .into_inner();
        assert_error_diagnostics("OpenEphemeralResource", &open_ephemeral.diagnostics);
        assert!(open_ephemeral.result.is_none());

        let mut list = within(
            "ListResource",
            client.list_resource(proto::list_resource::Request {
                type_name: "efs_file_system".into(),
                ..Default::default()
            }),
        )
        .await
        .expect("ListResource opens a stream")
        .into_inner();
        let event = within("ListResource event", list.message())
            .await
            .expect("ListResource stream error")
            .expect("ListResource yields one event");
        assert_error_diagnostics("ListResource", &event.diagnostic);
        let end = within("ListResource end", list.message()).await.expect("ListResource stream ends cleanly");
        assert!(end.is_none(), "ListResource yields exactly one event, then {end:?}");

        let mut invoke = within(
            "InvokeAction",
            client.invoke_action(proto::invoke_action::Request {
                action_type: "efs_reboot".into(),
                ..Default::default()
            }),
        )
        .await
        .expect("InvokeAction opens a stream")
        .into_inner();
        let mut completed = None;
        while let Some(event) = within("InvokeAction event", invoke.message()).await.expect("InvokeAction stream error")
        {
            match event.r#type {
                Some(proto::invoke_action::event::Type::Completed(done)) => completed = Some(done),
                Some(proto::invoke_action::event::Type::Progress(_)) => {}
                None => panic!("InvokeAction event without a type"),
            }
        }
        let completed = completed.expect("InvokeAction ends with a Completed event");
        assert_error_diagnostics("InvokeAction", &completed.diagnostics);

        let state_store = within(
            "ValidateStateStoreConfig",
            client.validate_state_store_config(proto::validate_state_store::Request {
                type_name: "efs_state".into(),
                config: None,
            }),
        )
        .await
        .expect("ValidateStateStoreConfig is answered, not refused")
        .into_inner();
        assert_error_diagnostics("ValidateStateStoreConfig", &state_store.diagnostics);

        let moved = within(
            "MoveResourceState",
            client.move_resource_state(proto::move_resource_state::Request {
                source_provider_address: "registry.terraform.io/hashicorp/aws".into(),
                source_type_name: "aws_efs_file_system".into(),
                target_type_name: "efs_file_system".into(),
                ..Default::default()
            }),
        )
        .await
        .expect("MoveResourceState is answered, not refused")
        .into_inner();
        assert_error_diagnostics("MoveResourceState", &moved.diagnostics);
        assert!(moved.target_state.is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_provider_config_points_at_the_bad_attributes() {
    with_deadline(async {
        let identity = client_identity();
        let (_provider, handshake) = launch(&identity);
        let channel = connect(&handshake, &identity).await;
        let mut client = provider_client(&channel);

        let bad = Value::object([
            ("region", Value::string("moon-1")),
            ("endpoints", Value::object([("ec2", Value::string("not a url"))])),
        ]);
        let answer = within(
            "ValidateProviderConfig",
            client.validate_provider_config(proto::validate_provider_config::Request {
                config: Some(provider_config(&bad)),
            }),
        )
        .await
        .expect("ValidateProviderConfig")
        .into_inner();
        let paths: BTreeSet<String> = errors(&answer.diagnostics).into_iter().map(path_of).collect();
        assert_eq!(
            paths,
            BTreeSet::from(["region".to_string(), "endpoints.ec2".to_string()]),
            "one error per bad attribute, each with its path: {:?}",
            answer.diagnostics
        );

        let good = Value::object([
            ("region", Value::string("eu-west-1")),
            ("endpoints", Value::object([("ec2", Value::string("http://127.0.0.1:5000"))])),
        ]);
        let answer = within(
            "ValidateProviderConfig",
            client.validate_provider_config(proto::validate_provider_config::Request {
                config: Some(provider_config(&good)),
            }),
        )
        .await
        .expect("ValidateProviderConfig")
        .into_inner();
        assert!(errors(&answer.diagnostics).is_empty(), "a valid configuration: {:?}", answer.diagnostics);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_data_source_works_before_configure_provider_and_stop_provider_answers() {
    with_deadline(async {
        let identity = client_identity();
        let (_provider, handshake) = launch(&identity);
        let channel = connect(&handshake, &identity).await;
        let mut client = provider_client(&channel);
        let ty = data_source_type();

        // The policy is computed locally, so the data source answers without ConfigureProvider
        // (which would need AWS credentials); Terraform would configure first anyway.
        let read = |config: Value| {
            let mut client = client.clone();
            let ty = ty.clone();
            async move {
                let response = within(
                    "ReadDataSource",
                    client.read_data_source(proto::read_data_source::Request {
                        type_name: DATA_SOURCE.into(),
                        config: Some(dynamic_value(&config, &ty)),
                        ..Default::default()
                    }),
                )
                .await
                .expect("ReadDataSource")
                .into_inner();
                assert!(response.diagnostics.is_empty(), "{:?}", response.diagnostics);
                let state = response.state.expect("ReadDataSource returns a state");
                assert!(!state.msgpack.is_empty(), "the state is msgpack, as Terraform expects");
                msgpack::decode(&state.msgpack, &ty).expect("state decodes with the data source's type")
            }
        };

        let state = read(Value::object::<&str>([])).await;
        let policy: serde_json::Value =
            serde_json::from_str(state.get("json").and_then(Value::as_str).expect("json is set"))
                .expect("json is JSON");
        assert_eq!(policy["Version"], "2012-10-17", "{policy}");
        assert!(policy["Statement"].as_array().is_some_and(|s| !s.is_empty()), "{policy}");
        let actions: Vec<&str> = state
            .get("actions")
            .and_then(Value::elements)
            .expect("actions is set")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            actions.contains(&"elasticfilesystem:CreateAccessPoint"),
            "dynamic provisioning by default: {actions:?}"
        );
        assert!(actions.windows(2).all(|w| w[0] < w[1]), "actions sorted and unique: {actions:?}");

        let state = read(Value::object([("dynamic_provisioning", Value::Bool(false))])).await;
        let actions: Vec<&str> =
            state.get("actions").and_then(Value::elements).expect("actions").iter().filter_map(Value::as_str).collect();
        assert!(!actions.contains(&"elasticfilesystem:CreateAccessPoint"), "static provisioning only: {actions:?}");

        let unknown = within(
            "ReadDataSource of an unknown type",
            client.read_data_source(proto::read_data_source::Request {
                type_name: "efs_nothing".into(),
                ..Default::default()
            }),
        )
        .await
        .expect("ReadDataSource of an unknown type is answered")
        .into_inner();
        assert_error_diagnostics("ReadDataSource(efs_nothing)", &unknown.diagnostics);

        let stop = within("StopProvider", client.stop_provider(proto::stop_provider::Request {}))
            .await
            .expect("StopProvider")
            .into_inner();
        assert_eq!(stop.error, "", "StopProvider reports success with an empty error");
        // Stopping cancels in-flight work only; the provider keeps answering.
        within("GetMetadata after StopProvider", client.get_metadata(proto::get_metadata::Request {}))
            .await
            .expect("GetMetadata after StopProvider");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_stdio_and_controller_shutdown_end_the_process_cleanly() {
    with_deadline(async {
        let identity = client_identity();
        let (mut provider, handshake) = launch(&identity);
        let channel = connect(&handshake, &identity).await;

        let health = within(
            "Health.Check(plugin)",
            tonic_health::pb::health_client::HealthClient::new(channel.clone())
                .check(tonic_health::pb::HealthCheckRequest { service: "plugin".into() }),
        )
        .await
        .expect("grpc.health.v1 Check for the plugin service")
        .into_inner();
        assert_eq!(health.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);

        let mut stdio = within("GRPCStdio.StreamStdio", GrpcStdioClient::new(channel.clone()).stream_stdio(()))
            .await
            .expect("StreamStdio opens")
            .into_inner();
        // The stream stays open while the provider runs (it carries nothing: logs go to stderr).
        let early = tokio::time::timeout(Duration::from_millis(300), stdio.message()).await;
        assert!(early.is_err(), "StreamStdio must stay open until shutdown, got {early:?}");

        within(
            "GRPCController.Shutdown",
            GrpcControllerClient::new(channel.clone()).shutdown(tfplugin_proto::plugin::Empty {}),
        )
        .await
        .expect("Shutdown is acknowledged");
        let end = within("StreamStdio end", stdio.message()).await;
        assert!(matches!(end, Ok(None)), "StreamStdio ends cleanly at shutdown, got {end:?}");

        let status = tokio::task::spawn_blocking(move || {
            let status = provider.wait_exit(Duration::from_secs(5));
            (status, provider.stderr())
        })
        .await
        .expect("waiting for the exit");
        assert_eq!(status.0.code(), Some(0), "exit after Shutdown; stderr:\n{}", status.1);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 3. Refusals
// ---------------------------------------------------------------------------------------------

/// Connects with `config` and makes one RPC; the error, if any step fails.
async fn try_get_metadata(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> Result<proto::get_metadata::Response, String> {
    let (channel, _) = connect_tls(addr, config).await?;
    let response = provider_client(&channel)
        .get_metadata(proto::get_metadata::Request {})
        .await
        .map_err(|status| format!("{status}"))?;
    Ok(response.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_the_launch_certificate_are_refused() {
    with_deadline(async {
        let identity = client_identity();
        let (provider, handshake) = launch(&identity);

        let anonymous = tls_config(&handshake.server_cert_der, None, rustls::DEFAULT_VERSIONS);
        let refused = within("anonymous client", try_get_metadata(handshake.addr, anonymous)).await;
        assert!(refused.is_err(), "a client without a certificate must be refused, got {refused:?}");

        let stranger = client_identity();
        assert_ne!(stranger.cert_der, identity.cert_der);
        let impostor = tls_config(&handshake.server_cert_der, Some(&stranger), rustls::DEFAULT_VERSIONS);
        let refused = within("client with another certificate", try_get_metadata(handshake.addr, impostor)).await;
        assert!(refused.is_err(), "a client with a different P-521 certificate must be refused, got {refused:?}");

        let impostor12 = tls_config(&handshake.server_cert_der, Some(&stranger), &[&rustls::version::TLS12]);
        let refused =
            within("TLS 1.2 client with another certificate", try_get_metadata(handshake.addr, impostor12)).await;
        assert!(refused.is_err(), "refused over TLS 1.2 too, got {refused:?}");

        // A client that skips TLS altogether (plaintext HTTP/2, as `--debug` mode serves) gets no
        // answer either: without the handshake there is no client certificate to check.
        let plaintext = async {
            let channel = Endpoint::from_shared(format!("http://{}", handshake.addr))
                .map_err(|e| e.to_string())?
                .connect_timeout(CALL_DEADLINE)
                .connect()
                .await
                .map_err(|e| e.to_string())?;
            provider_client(&channel).get_metadata(proto::get_metadata::Request {}).await.map_err(|s| s.to_string())
        };
        let refused = within("plaintext client", plaintext).await;
        assert!(refused.is_err(), "a client without TLS must be refused, got {refused:?}");

        // The refusals left the server serving the right client, over TLS 1.3 and TLS 1.2.
        let metadata = within(
            "the launch client",
            try_get_metadata(
                handshake.addr,
                tls_config(&handshake.server_cert_der, Some(&identity), rustls::DEFAULT_VERSIONS),
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("the right client must still be served: {e}; stderr:\n{}", provider.stderr()));
        assert!(metadata.data_sources.iter().any(|d| d.type_name == DATA_SOURCE));

        let config = tls_config(&handshake.server_cert_der, Some(&identity), &[&rustls::version::TLS12]);
        let (channel, negotiated) =
            within("TLS 1.2 connect", connect_tls(handshake.addr, config)).await.expect("TLS 1.2 with the P-521 key");
        within("GetMetadata over TLS 1.2", provider_client(&channel).get_metadata(proto::get_metadata::Request {}))
            .await
            .expect("GetMetadata over TLS 1.2");
        assert_eq!(negotiated.lock().unwrap().as_slice(), [ProtocolVersion::TLSv1_2]);

        // Each refused client is logged at least once (tonic's channel may retry the connection,
        // and the server may log after the client already saw the failure).
        let logged = || provider.stderr().matches("refused a connection that failed mutual TLS").count();
        let until = Instant::now() + CALL_DEADLINE;
        while logged() < 3 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(logged() >= 3, "refusals are logged; stderr:\n{}", provider.stderr());
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 4. Launch checks
// ---------------------------------------------------------------------------------------------

#[test]
fn without_the_magic_cookie_it_explains_it_is_a_plugin() {
    let (status, stdout, stderr) = Provider::spawn(Provider::command(&[])).finish(START_DEADLINE);
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    assert!(stdout.is_empty(), "no handshake without the cookie: {stdout:?}");
    assert!(stderr.contains("plugin for Terraform"), "stderr:\n{stderr}");

    let mut command = Provider::command(&[]);
    command.env(MAGIC_COOKIE_KEY, "not-the-cookie");
    let (status, stdout, stderr) = Provider::spawn(command).finish(START_DEADLINE);
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    assert!(stdout.is_empty(), "{stdout:?}");
    assert!(stderr.contains("plugin for Terraform"), "stderr:\n{stderr}");
}

#[test]
fn a_cli_offering_only_protocol_5_is_told_protocol_6() {
    let identity = client_identity();
    let mut command = Provider::managed_command(&identity.pem);
    command.env("PLUGIN_PROTOCOL_VERSIONS", "5");
    let (status, stdout, stderr) = Provider::spawn(command).finish(START_DEADLINE);
    assert!(!status.success(), "must refuse protocol 5 only; stdout {stdout:?}");
    assert!(status.code().is_some(), "exits rather than being killed: {status:?}");
    assert!(stdout.is_empty(), "no handshake line for an unsupported protocol: {stdout:?}");
    assert!(stderr.contains("protocol 6"), "stderr must name protocol 6:\n{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_mode_prints_reattach_instructions_and_serves_plaintext() {
    with_deadline(async {
        let provider = Provider::spawn(Provider::command(&["--debug"]));
        let reattach = loop {
            let line = provider.next_line(START_DEADLINE);
            if let Some(start) = line.find("TF_REATTACH_PROVIDERS='") {
                let json = &line[start + "TF_REATTACH_PROVIDERS='".len()..];
                let json = json.strip_suffix('\'').unwrap_or_else(|| panic!("unterminated quote in {line:?}"));
                break serde_json::from_str::<serde_json::Value>(json)
                    .unwrap_or_else(|e| panic!("TF_REATTACH_PROVIDERS is not JSON ({e}): {line:?}"));
            }
        };
        let entry = &reattach[PROVIDER_ADDRESS];
        assert!(entry.is_object(), "{PROVIDER_ADDRESS} missing: {reattach}");
        assert_eq!(entry["Protocol"], "grpc", "{reattach}");
        assert_eq!(entry["ProtocolVersion"], 6, "{reattach}");
        assert_eq!(entry["Pid"].as_u64(), Some(u64::from(provider.child.id())), "{reattach}");
        assert_eq!(entry["Addr"]["Network"], "tcp", "{reattach}");
        let addr: SocketAddr = entry["Addr"]["String"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("Addr.String is not an address: {reattach}"));
        assert_eq!(addr.ip().to_string(), "127.0.0.1", "{reattach}");

        // No TLS in debug mode: the CLI reattaches over plain gRPC.
        let channel = within(
            "plaintext connect",
            Endpoint::from_shared(format!("http://{addr}")).expect("endpoint").connect_timeout(CALL_DEADLINE).connect(),
        )
        .await
        .expect("plaintext HTTP/2 connection in debug mode");
        let metadata = within("GetMetadata", provider_client(&channel).get_metadata(proto::get_metadata::Request {}))
            .await
            .expect("plaintext GetMetadata")
            .into_inner();
        assert!(metadata.data_sources.iter().any(|d| d.type_name == DATA_SOURCE), "{metadata:?}");
        drop(provider);
    })
    .await;
}
