//! Wire-format checks for the generated bindings.
//!
//! The field numbers and RPC paths asserted here are facts of the Terraform
//! plugin protocol 6.11 and of go-plugin; if any of these tests fail the
//! `.proto` files no longer match what Terraform puts on the wire.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use prost::Message;
use tfplugin_proto::plugin::{self, conn_info, stdio_data};
use tfplugin_proto::tfplugin6::{
    self, apply_resource_change, call_function, configure_provider, deferred, diagnostic, get_metadata,
    get_provider_schema, get_resource_identity_schemas, import_resource_state, invoke_action, list_resource,
    move_resource_state, open_ephemeral_resource, plan_resource_change, read_resource, schema, stop_provider,
    write_state_bytes,
};
use tfplugin_proto::{FILE_DESCRIPTOR_SET, TFPLUGIN6_VERSION};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

// ---------------------------------------------------------------------------
// A tiny independent protobuf reader, so assertions do not rely on prost to
// interpret its own output.

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Varint(u64),
    Len(Vec<u8>),
    I64(u64),
    I32(u32),
}

fn read_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut out = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return out;
        }
        shift += 7;
    }
}

/// Top-level fields of an encoded message, in order, as (number, value).
fn fields(buf: &[u8]) -> Vec<(u64, Val)> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let key = read_varint(buf, &mut pos);
        let number = key >> 3;
        let val = match key & 7 {
            0 => Val::Varint(read_varint(buf, &mut pos)),
            1 => {
                let v = u64::from_le_bytes(buf[pos..pos + 8].try_into().unwrap());
                pos += 8;
                Val::I64(v)
            }
            2 => {
                let len = usize::try_from(read_varint(buf, &mut pos)).unwrap();
                let v = buf[pos..pos + len].to_vec();
                pos += len;
                Val::Len(v)
            }
            5 => {
                let v = u32::from_le_bytes(buf[pos..pos + 4].try_into().unwrap());
                pos += 4;
                Val::I32(v)
            }
            other => panic!("unexpected wire type {other}"),
        };
        out.push((number, val));
    }
    out
}

fn numbers(buf: &[u8]) -> BTreeSet<u64> {
    fields(buf).into_iter().map(|(n, _)| n).collect()
}

/// The single value of field `n`; panics if absent or repeated.
fn one(buf: &[u8], n: u64) -> Val {
    let mut hits: Vec<Val> = fields(buf).into_iter().filter(|(k, _)| *k == n).map(|(_, v)| v).collect();
    assert_eq!(hits.len(), 1, "field {n} should occur exactly once");
    hits.remove(0)
}

fn len(buf: &[u8], n: u64) -> Vec<u8> {
    match one(buf, n) {
        Val::Len(v) => v,
        other => panic!("field {n} is not length-delimited: {other:?}"),
    }
}

fn varint(buf: &[u8], n: u64) -> u64 {
    match one(buf, n) {
        Val::Varint(v) => v,
        other => panic!("field {n} is not a varint: {other:?}"),
    }
}

fn dv(msgpack: &[u8]) -> Option<tfplugin6::DynamicValue> {
    Some(tfplugin6::DynamicValue { msgpack: msgpack.to_vec(), json: Vec::new() })
}

fn identity(msgpack: &[u8]) -> Option<tfplugin6::ResourceIdentityData> {
    Some(tfplugin6::ResourceIdentityData { identity_data: dv(msgpack) })
}

fn set(ns: &[u64]) -> BTreeSet<u64> {
    ns.iter().copied().collect()
}

// ---------------------------------------------------------------------------
// Byte-level encoding checks.

#[test]
fn dynamic_value_msgpack_is_1_and_json_is_2() {
    let v = tfplugin6::DynamicValue { msgpack: vec![0x81, 0xa1, b'a', 0x01], json: b"{\"a\":1}".to_vec() };
    let bytes = v.encode_to_vec();
    assert_eq!(&bytes[..6], &[0x0a, 4, 0x81, 0xa1, b'a', 0x01]);
    assert_eq!(
        fields(&bytes),
        vec![(1, Val::Len(vec![0x81, 0xa1, b'a', 0x01])), (2, Val::Len(b"{\"a\":1}".to_vec())),]
    );

    // What Terraform sends for a JSON-only value.
    let decoded = tfplugin6::DynamicValue::decode(&[0x12, 2, b'{', b'}'][..]).unwrap();
    assert!(decoded.msgpack.is_empty());
    assert_eq!(decoded.json, b"{}");
}

#[test]
fn get_provider_schema_response_field_numbers() {
    let s = tfplugin6::Schema {
        version: 3,
        block: Some(schema::Block {
            version: 3,
            attributes: vec![schema::Attribute {
                name: "id".into(),
                r#type: b"\"string\"".to_vec(),
                computed: true,
                ..Default::default()
            }],
            ..Default::default()
        }),
    };
    let resp = get_provider_schema::Response {
        provider: Some(s.clone()),
        resource_schemas: HashMap::from([("efs_file_system".to_string(), s.clone())]),
        data_source_schemas: HashMap::from([("efs_file_system".to_string(), s.clone())]),
        functions: HashMap::from([("f".to_string(), tfplugin6::Function::default())]),
        ephemeral_resource_schemas: HashMap::from([("e".to_string(), s.clone())]),
        list_resource_schemas: HashMap::from([("l".to_string(), s.clone())]),
        state_store_schemas: HashMap::from([("ss".to_string(), s.clone())]),
        action_schemas: HashMap::from([("a".to_string(), tfplugin6::ActionSchema { schema: Some(s.clone()) })]),
        diagnostics: vec![tfplugin6::Diagnostic {
            severity: diagnostic::Severity::Warning as i32,
            summary: "w".into(),
            ..Default::default()
        }],
        provider_meta: Some(s.clone()),
        server_capabilities: Some(tfplugin6::ServerCapabilities {
            plan_destroy: true,
            get_provider_schema_optional: true,
            move_resource_state: true,
            generate_resource_config: true,
        }),
    };
    let bytes = resp.encode_to_vec();
    assert_eq!(numbers(&bytes), (1..=11).collect());

    // Map entries are messages with key = 1 and value = 2.
    let entry = len(&bytes, 2);
    assert_eq!(len(&entry, 1), b"efs_file_system");
    let schema_bytes = len(&entry, 2);
    assert_eq!(varint(&schema_bytes, 1), 3);
    let block = len(&schema_bytes, 2);
    let attr = len(&block, 2);
    assert_eq!(len(&attr, 1), b"id");
    assert_eq!(len(&attr, 2), b"\"string\"");
    assert_eq!(varint(&attr, 6), 1, "computed is field 6");

    // action_schemas (11) wraps a Schema in ActionSchema.schema (1).
    let action_entry = len(&bytes, 11);
    let action_schema = len(&action_entry, 2);
    assert_eq!(numbers(&action_schema), set(&[1]));

    let diag = len(&bytes, 4);
    assert_eq!(varint(&diag, 1), 2, "WARNING = 2");

    let caps = len(&bytes, 6);
    assert_eq!(
        fields(&caps),
        vec![(1, Val::Varint(1)), (2, Val::Varint(1)), (3, Val::Varint(1)), (4, Val::Varint(1)),]
    );
}

#[test]
fn schema_block_and_attribute_field_numbers() {
    let attr = schema::Attribute {
        name: "tags".into(),
        nested_type: Some(schema::Object {
            attributes: vec![],
            nesting: schema::object::NestingMode::Map as i32,
            ..Default::default()
        }),
        description: "d".into(),
        required: true,
        optional: true,
        computed: true,
        sensitive: true,
        description_kind: tfplugin6::StringKind::Markdown as i32,
        deprecated: true,
        write_only: true,
        deprecation_message: "use other".into(),
        ..Default::default()
    };
    let a = attr.encode_to_vec();
    assert_eq!(numbers(&a), set(&[1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
    assert_eq!(len(&a, 12), b"use other");
    assert_eq!(varint(&a, 11), 1);
    assert_eq!(varint(&a, 8), 1, "MARKDOWN = 1");
    assert_eq!(varint(&len(&a, 10), 3), 4, "Object.nesting is field 3, MAP = 4");

    let block = schema::Block {
        version: 1,
        attributes: vec![attr],
        block_types: vec![schema::NestedBlock {
            type_name: "rule".into(),
            block: Some(schema::Block::default()),
            nesting: schema::nested_block::NestingMode::Group as i32,
            min_items: 1,
            max_items: 2,
        }],
        description: "b".into(),
        description_kind: tfplugin6::StringKind::Plain as i32,
        deprecated: true,
        deprecation_message: "gone".into(),
        computed: true,
    };
    let b = block.encode_to_vec();
    assert_eq!(numbers(&b), set(&[1, 2, 3, 4, 6, 7, 8]));
    assert_eq!(len(&b, 7), b"gone");
    assert_eq!(varint(&b, 8), 1);
    let nested = len(&b, 3);
    assert_eq!(
        fields(&nested),
        vec![
            (1, Val::Len(b"rule".to_vec())),
            (2, Val::Len(vec![])),
            (3, Val::Varint(5)),
            (4, Val::Varint(1)),
            (5, Val::Varint(2)),
        ]
    );
}

#[test]
fn managed_resource_lifecycle_field_numbers() {
    let caps = tfplugin6::ClientCapabilities {
        deferral_allowed: true,
        write_only_attributes_allowed: true,
        store_planned_private: true,
        computed_blocks_allowed: true,
    };
    assert_eq!(
        fields(&caps.encode_to_vec()),
        vec![(1, Val::Varint(1)), (2, Val::Varint(1)), (3, Val::Varint(1)), (4, Val::Varint(1)),]
    );

    let plan_req = plan_resource_change::Request {
        type_name: "efs_file_system".into(),
        prior_state: dv(&[0xc0]),
        proposed_new_state: dv(&[0x80]),
        config: dv(&[0x80]),
        prior_private: b"prior".to_vec(),
        provider_meta: dv(&[0xc0]),
        client_capabilities: Some(caps),
        prior_identity: identity(&[0x81]),
        planned_private: b"first-plan".to_vec(),
    };
    let b = plan_req.encode_to_vec();
    assert_eq!(numbers(&b), (1..=9).collect());
    assert_eq!(len(&b, 5), b"prior");
    assert_eq!(len(&b, 9), b"first-plan");
    assert_eq!(len(&len(&b, 8), 1), vec![0x0a, 1, 0x81]);
    // Tag byte of planned_private: (9 << 3) | 2.
    assert!(b.windows(2).any(|w| w == [0x4a, 10]));

    let plan_resp = plan_resource_change::Response {
        planned_state: dv(&[0x80]),
        requires_replace: vec![tfplugin6::AttributePath {
            steps: vec![tfplugin6::attribute_path::Step {
                selector: Some(tfplugin6::attribute_path::step::Selector::AttributeName("creation_token".into())),
            }],
        }],
        planned_private: b"pp".to_vec(),
        diagnostics: vec![],
        legacy_type_system: true,
        deferred: Some(tfplugin6::Deferred { reason: deferred::Reason::ProviderConfigUnknown as i32 }),
        planned_identity: identity(&[0x81]),
    };
    let b = plan_resp.encode_to_vec();
    assert_eq!(numbers(&b), set(&[1, 2, 3, 5, 6, 7]));
    assert_eq!(varint(&b, 5), 1);
    assert_eq!(varint(&len(&b, 6), 1), 2, "PROVIDER_CONFIG_UNKNOWN = 2");
    let path = len(&b, 2);
    let step = len(&path, 1);
    assert_eq!(len(&step, 1), b"creation_token");

    let apply_req = apply_resource_change::Request {
        type_name: "t".into(),
        prior_state: dv(&[0xc0]),
        planned_state: dv(&[0x80]),
        config: dv(&[0x80]),
        planned_private: b"pp".to_vec(),
        provider_meta: dv(&[0xc0]),
        planned_identity: identity(&[0x81]),
    };
    let b = apply_req.encode_to_vec();
    assert_eq!(numbers(&b), (1..=7).collect());
    assert_eq!(len(&b, 5), b"pp", "planned_private is field 5");

    let apply_resp = apply_resource_change::Response {
        new_state: dv(&[0x80]),
        private: b"p".to_vec(),
        diagnostics: vec![tfplugin6::Diagnostic::default()],
        legacy_type_system: true,
        new_identity: identity(&[0x81]),
    };
    assert_eq!(numbers(&apply_resp.encode_to_vec()), (1..=5).collect());

    let read_req = read_resource::Request {
        type_name: "t".into(),
        current_state: dv(&[0x80]),
        private: b"p".to_vec(),
        provider_meta: dv(&[0xc0]),
        client_capabilities: Some(tfplugin6::ClientCapabilities::default()),
        current_identity: identity(&[0x81]),
    };
    assert_eq!(numbers(&read_req.encode_to_vec()), (1..=6).collect());
    let read_resp = read_resource::Response {
        new_state: dv(&[0x80]),
        diagnostics: vec![tfplugin6::Diagnostic::default()],
        private: b"p".to_vec(),
        deferred: Some(tfplugin6::Deferred::default()),
        new_identity: identity(&[0x81]),
    };
    assert_eq!(numbers(&read_resp.encode_to_vec()), (1..=5).collect());

    let import_req = import_resource_state::Request {
        type_name: "t".into(),
        id: "fs-123".into(),
        client_capabilities: Some(tfplugin6::ClientCapabilities::default()),
        identity: identity(&[0x81]),
    };
    let b = import_req.encode_to_vec();
    assert_eq!(numbers(&b), (1..=4).collect());
    assert_eq!(len(&b, 2), b"fs-123");

    let move_req = move_resource_state::Request {
        source_provider_address: "registry.terraform.io/hashicorp/aws".into(),
        source_type_name: "aws_efs_file_system".into(),
        source_schema_version: 1,
        source_state: Some(tfplugin6::RawState { json: b"{}".to_vec(), flatmap: HashMap::new() }),
        target_type_name: "efs_file_system".into(),
        source_private: b"p".to_vec(),
        source_identity: Some(tfplugin6::RawState::default()),
        source_identity_schema_version: 2,
    };
    let b = move_req.encode_to_vec();
    assert_eq!(numbers(&b), (1..=8).collect());
    assert_eq!(varint(&b, 8), 2);
    assert_eq!(len(&len(&b, 4), 1), b"{}", "RawState.json is field 1");
}

#[test]
fn decodes_a_request_encoded_by_hand() {
    // ConfigureProvider.Request as Terraform would send it:
    // terraform_version = "1.14.0", config = {msgpack: 0x80},
    // client_capabilities = {deferral_allowed, write_only_attributes_allowed}.
    let mut bytes = vec![0x0a, 6];
    bytes.extend_from_slice(b"1.14.0");
    bytes.extend_from_slice(&[0x12, 3, 0x0a, 1, 0x80]);
    bytes.extend_from_slice(&[0x1a, 4, 0x08, 1, 0x10, 1]);
    let req = configure_provider::Request::decode(bytes.as_slice()).unwrap();
    assert_eq!(req.terraform_version, "1.14.0");
    assert_eq!(req.config.unwrap().msgpack, vec![0x80]);
    let caps = req.client_capabilities.unwrap();
    assert!(caps.deferral_allowed);
    assert!(caps.write_only_attributes_allowed);
    assert!(!caps.store_planned_private);

    // ValidateProviderConfig.Response keeps diagnostics at field 2.
    let resp = tfplugin6::validate_provider_config::Response {
        diagnostics: vec![tfplugin6::Diagnostic { severity: diagnostic::Severity::Error as i32, ..Default::default() }],
    };
    assert_eq!(resp.encode_to_vec(), vec![0x12, 2, 0x08, 1]);

    // StopProvider.Response.Error is field 1.
    let stop = stop_provider::Response { error: "boom".into() };
    assert_eq!(stop.encode_to_vec(), [&[0x0a, 4][..], b"boom"].concat());
}

#[test]
fn proto3_optional_fields_track_presence() {
    let with = open_ephemeral_resource::Response {
        diagnostics: vec![],
        renew_at: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
        result: dv(&[0x80]),
        private: Some(Vec::new()),
        deferred: None,
    };
    let b = with.encode_to_vec();
    assert_eq!(numbers(&b), set(&[2, 3, 4]));
    assert_eq!(len(&b, 4), Vec::<u8>::new(), "empty but present private");
    assert_eq!(varint(&len(&b, 2), 1), 1_700_000_000);

    let without = open_ephemeral_resource::Response { private: None, renew_at: None, ..with };
    assert_eq!(numbers(&without.encode_to_vec()), set(&[3]));

    let err = call_function::Response {
        result: None,
        error: Some(tfplugin6::FunctionError { text: "bad".into(), function_argument: Some(0) }),
    };
    let b = err.encode_to_vec();
    let fe = len(&b, 2);
    assert_eq!(fields(&fe)[1], (2, Val::Varint(0)), "argument 0 is still sent");
}

#[test]
fn list_and_action_messages() {
    let event = list_resource::Event {
        identity: identity(&[0x81]),
        display_name: "fs-123".into(),
        resource_object: dv(&[0x80]),
        diagnostic: vec![tfplugin6::Diagnostic::default()],
    };
    assert_eq!(numbers(&event.encode_to_vec()), (1..=4).collect());

    let req = list_resource::Request {
        type_name: "efs_file_system".into(),
        config: dv(&[0x80]),
        include_resource_object: true,
        limit: 100,
    };
    let b = req.encode_to_vec();
    assert_eq!(varint(&b, 3), 1);
    assert_eq!(varint(&b, 4), 100);

    let progress = invoke_action::Event {
        r#type: Some(invoke_action::event::Type::Progress(invoke_action::event::Progress { message: "50%".into() })),
    };
    let b = progress.encode_to_vec();
    assert_eq!(len(&len(&b, 1), 1), b"50%");
    let completed = invoke_action::Event {
        r#type: Some(invoke_action::event::Type::Completed(invoke_action::event::Completed {
            diagnostics: vec![tfplugin6::Diagnostic::default()],
        })),
    };
    assert_eq!(numbers(&completed.encode_to_vec()), set(&[2]));

    let plan = tfplugin6::plan_action::Request {
        action_type: "efs_backup".into(),
        config: dv(&[0x80]),
        client_capabilities: Some(tfplugin6::ClientCapabilities::default()),
    };
    assert_eq!(numbers(&plan.encode_to_vec()), (1..=3).collect());

    let meta = get_metadata::Response {
        server_capabilities: Some(tfplugin6::ServerCapabilities::default()),
        diagnostics: vec![tfplugin6::Diagnostic::default()],
        data_sources: vec![get_metadata::DataSourceMetadata { type_name: "d".into() }],
        resources: vec![get_metadata::ResourceMetadata { type_name: "r".into() }],
        functions: vec![get_metadata::FunctionMetadata { name: "f".into() }],
        ephemeral_resources: vec![get_metadata::EphemeralMetadata { type_name: "e".into() }],
        list_resources: vec![get_metadata::ListResourceMetadata { type_name: "l".into() }],
        state_stores: vec![get_metadata::StateStoreMetadata { type_name: "s".into() }],
        actions: vec![get_metadata::ActionMetadata { type_name: "a".into() }],
    };
    let b = meta.encode_to_vec();
    assert_eq!(numbers(&b), (1..=9).collect());
    assert_eq!(len(&len(&b, 9), 1), b"a");

    let chunk = write_state_bytes::RequestChunk {
        meta: Some(tfplugin6::RequestChunkMeta { type_name: "efs".into(), state_id: "default".into() }),
        bytes: b"{}".to_vec(),
        total_length: 2,
        range: Some(tfplugin6::StateRange { start: 0, end: 1 }),
    };
    let b = chunk.encode_to_vec();
    assert_eq!(numbers(&b), (1..=4).collect());
    assert_eq!(len(&len(&b, 1), 2), b"default");
}

#[test]
fn go_plugin_messages() {
    assert_eq!(stdio_data::Channel::Invalid as i32, 0);
    assert_eq!(stdio_data::Channel::Stdout as i32, 1);
    assert_eq!(stdio_data::Channel::Stderr as i32, 2);
    let data = plugin::StdioData { channel: stdio_data::Channel::Stderr as i32, data: b"hello\n".to_vec() };
    assert_eq!(fields(&data.encode_to_vec()), vec![(1, Val::Varint(2)), (2, Val::Len(b"hello\n".to_vec()))]);

    let conn = plugin::ConnInfo {
        service_id: 7,
        network: "unix".into(),
        address: "/tmp/plugin123".into(),
        knock: Some(conn_info::Knock { knock: true, ack: false, error: String::new() }),
    };
    let b = conn.encode_to_vec();
    assert_eq!(varint(&b, 1), 7);
    assert_eq!(len(&b, 2), b"unix");
    assert_eq!(len(&b, 3), b"/tmp/plugin123");
    assert_eq!(fields(&len(&b, 4)), vec![(1, Val::Varint(1))]);
    let ack = conn_info::Knock { knock: false, ack: true, error: "no".into() };
    assert_eq!(fields(&ack.encode_to_vec()), vec![(2, Val::Varint(1)), (3, Val::Len(b"no".to_vec()))]);

    assert!(plugin::Empty {}.encode_to_vec().is_empty());
}

// ---------------------------------------------------------------------------
// Descriptor checks: field numbers and RPC shapes straight from the compiled
// descriptor set.

struct Descriptors {
    /// "tfplugin6.PlanResourceChange.Request" -> field name -> number.
    fields: HashMap<String, HashMap<String, i32>>,
    /// "tfplugin6.Provider" -> methods in declaration order.
    services: HashMap<String, Vec<prost_types::MethodDescriptorProto>>,
    files: Vec<prost_types::FileDescriptorProto>,
}

fn descriptors() -> Descriptors {
    fn walk(prefix: &str, msgs: &[prost_types::DescriptorProto], out: &mut HashMap<String, HashMap<String, i32>>) {
        for m in msgs {
            let name = format!("{prefix}.{}", m.name());
            out.insert(name.clone(), m.field.iter().map(|f| (f.name().to_string(), f.number())).collect());
            walk(&name, &m.nested_type, out);
        }
    }
    let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
    let mut fields = HashMap::new();
    let mut services = HashMap::new();
    for f in &set.file {
        walk(f.package(), &f.message_type, &mut fields);
        for s in &f.service {
            services.insert(format!("{}.{}", f.package(), s.name()), s.method.clone());
        }
    }
    Descriptors { fields, services, files: set.file }
}

#[test]
fn descriptor_field_numbers_match_protocol_6_11() {
    assert_eq!(TFPLUGIN6_VERSION, (6, 11));
    let d = descriptors();
    let tf = d.files.iter().find(|f| f.name() == "tfplugin6.proto").unwrap();
    assert_eq!(tf.package(), "tfplugin6");
    assert_eq!(tf.syntax(), "proto3");
    assert_eq!(tf.dependency, vec!["google/protobuf/timestamp.proto"]);

    let expected: &[(&str, &str, i32)] = &[
        ("DynamicValue", "msgpack", 1),
        ("DynamicValue", "json", 2),
        ("Diagnostic", "attribute", 4),
        ("FunctionError", "function_argument", 2),
        ("AttributePath.Step", "element_key_int", 3),
        ("StopProvider.Response", "Error", 1),
        ("RawState", "flatmap", 2),
        ("ResourceIdentitySchema", "identity_attributes", 2),
        ("ResourceIdentitySchema.IdentityAttribute", "optional_for_import", 4),
        ("ResourceIdentityData", "identity_data", 1),
        ("ActionSchema", "schema", 1),
        ("Schema.Block", "deprecated", 6),
        ("Schema.Block", "deprecation_message", 7),
        ("Schema.Block", "computed", 8),
        ("Schema.Attribute", "nested_type", 10),
        ("Schema.Attribute", "write_only", 11),
        ("Schema.Attribute", "deprecation_message", 12),
        ("Schema.Object", "nesting", 3),
        ("Schema.Object", "max_items", 5),
        ("Function", "deprecation_message", 7),
        ("Function.Parameter", "allow_unknown_values", 4),
        ("ServerCapabilities", "generate_resource_config", 4),
        ("ClientCapabilities", "write_only_attributes_allowed", 2),
        ("ClientCapabilities", "store_planned_private", 3),
        ("ClientCapabilities", "computed_blocks_allowed", 4),
        ("GetMetadata.Response", "ephemeral_resources", 6),
        ("GetMetadata.Response", "list_resources", 7),
        ("GetMetadata.Response", "state_stores", 8),
        ("GetMetadata.Response", "actions", 9),
        ("GetProviderSchema.Response", "diagnostics", 4),
        ("GetProviderSchema.Response", "server_capabilities", 6),
        ("GetProviderSchema.Response", "functions", 7),
        ("GetProviderSchema.Response", "list_resource_schemas", 9),
        ("GetProviderSchema.Response", "state_store_schemas", 10),
        ("GetProviderSchema.Response", "action_schemas", 11),
        ("ValidateProviderConfig.Response", "diagnostics", 2),
        ("GetResourceIdentitySchemas.Response", "identity_schemas", 1),
        ("UpgradeResourceIdentity.Request", "raw_identity", 3),
        ("UpgradeResourceIdentity.Response", "upgraded_identity", 1),
        ("ReadResource.Request", "current_identity", 6),
        ("ReadResource.Response", "new_identity", 5),
        ("PlanResourceChange.Request", "prior_identity", 8),
        ("PlanResourceChange.Request", "planned_private", 9),
        ("PlanResourceChange.Response", "legacy_type_system", 5),
        ("PlanResourceChange.Response", "planned_identity", 7),
        ("ApplyResourceChange.Request", "planned_private", 5),
        ("ApplyResourceChange.Request", "planned_identity", 7),
        ("ApplyResourceChange.Response", "legacy_type_system", 4),
        ("ApplyResourceChange.Response", "new_identity", 5),
        ("ImportResourceState.Request", "identity", 4),
        ("ImportResourceState.ImportedResource", "identity", 4),
        ("ImportResourceState.Response", "deferred", 3),
        ("GenerateResourceConfig.Request", "state", 2),
        ("GenerateResourceConfig.Response", "config", 1),
        ("MoveResourceState.Request", "source_private", 6),
        ("MoveResourceState.Request", "source_identity_schema_version", 8),
        ("MoveResourceState.Response", "target_identity", 4),
        ("ReadDataSource.Request", "client_capabilities", 4),
        ("OpenEphemeralResource.Response", "renew_at", 2),
        ("OpenEphemeralResource.Response", "deferred", 5),
        ("RenewEphemeralResource.Response", "private", 3),
        ("CloseEphemeralResource.Request", "private", 2),
        ("CallFunction.Response", "error", 2),
        ("ListResource.Request", "limit", 4),
        ("ListResource.Event", "resource_object", 3),
        ("ListResource.Event", "diagnostic", 4),
        ("ValidateListResourceConfig.Request", "include_resource_object", 3),
        ("ConfigureStateStore.Response", "capabilities", 2),
        ("ReadStateBytes.Response", "range", 3),
        ("WriteStateBytes.RequestChunk", "meta", 1),
        ("LockState.Request", "operation", 3),
        ("GetStates.Response", "state_id", 1),
        ("PlanAction.Response", "deferred", 2),
        ("InvokeAction.Request", "action_type", 1),
        ("InvokeAction.Event", "progress", 1),
        ("InvokeAction.Event", "completed", 2),
        ("ValidateActionConfig.Request", "config", 2),
    ];
    for (msg, field, number) in expected {
        let fields = d.fields.get(&format!("tfplugin6.{msg}")).unwrap_or_else(|| panic!("missing message {msg}"));
        assert_eq!(fields.get(*field), Some(number), "tfplugin6.{msg}.{field} should be field {number}");
    }

    let plugin_expected: &[(&str, &str, i32)] = &[
        ("StdioData", "channel", 1),
        ("StdioData", "data", 2),
        ("ConnInfo", "service_id", 1),
        ("ConnInfo", "address", 3),
        ("ConnInfo", "knock", 4),
        ("ConnInfo.Knock", "ack", 2),
        ("ConnInfo.Knock", "error", 3),
    ];
    for (msg, field, number) in plugin_expected {
        assert_eq!(d.fields[&format!("plugin.{msg}")].get(*field), Some(number), "plugin.{msg}.{field}");
    }
}

/// Renders a method as "Name(stream In) -> stream Out", with the package
/// prefix removed from the message names.
fn render(m: &prost_types::MethodDescriptorProto, package: &str) -> String {
    let strip = |t: &str| t.trim_start_matches(&format!(".{package}.")).to_string();
    format!(
        "{}({}{}) -> {}{}",
        m.name(),
        if m.client_streaming() { "stream " } else { "" },
        strip(m.input_type()),
        if m.server_streaming() { "stream " } else { "" },
        strip(m.output_type()),
    )
}

#[test]
fn provider_service_has_every_rpc_of_6_11() {
    let d = descriptors();
    // In declaration order. A bare name X means "X(X.Request) -> X.Response".
    let expected = [
        "GetMetadata",
        "GetProviderSchema",
        "ValidateProviderConfig",
        "ValidateResourceConfig",
        "ValidateDataResourceConfig",
        "UpgradeResourceState",
        "GetResourceIdentitySchemas",
        "UpgradeResourceIdentity",
        "ConfigureProvider",
        "ReadResource",
        "PlanResourceChange",
        "ApplyResourceChange",
        "ImportResourceState",
        "MoveResourceState",
        "ReadDataSource",
        "GenerateResourceConfig",
        "ValidateEphemeralResourceConfig",
        "OpenEphemeralResource",
        "RenewEphemeralResource",
        "CloseEphemeralResource",
        "ListResource(ListResource.Request) -> stream ListResource.Event",
        "ValidateListResourceConfig",
        "GetFunctions",
        "CallFunction",
        "ValidateStateStoreConfig(ValidateStateStore.Request) -> ValidateStateStore.Response",
        "ConfigureStateStore",
        "ReadStateBytes(ReadStateBytes.Request) -> stream ReadStateBytes.Response",
        "WriteStateBytes(stream WriteStateBytes.RequestChunk) -> WriteStateBytes.Response",
        "LockState",
        "UnlockState",
        "GetStates",
        "DeleteState",
        "PlanAction",
        "InvokeAction(InvokeAction.Request) -> stream InvokeAction.Event",
        "ValidateActionConfig",
        "StopProvider",
    ]
    .map(|e| if e.contains('(') { e.to_string() } else { format!("{e}({e}.Request) -> {e}.Response") });
    let actual: Vec<String> = d.services["tfplugin6.Provider"].iter().map(|m| render(m, "tfplugin6")).collect();
    assert_eq!(actual, expected);

    let plugin_rpcs = |svc: &str| -> Vec<String> { d.services[svc].iter().map(|m| render(m, "plugin")).collect() };
    assert_eq!(plugin_rpcs("plugin.GRPCController"), ["Shutdown(Empty) -> Empty"]);
    assert_eq!(plugin_rpcs("plugin.GRPCStdio"), ["StreamStdio(.google.protobuf.Empty) -> stream StdioData"]);
    assert_eq!(plugin_rpcs("plugin.GRPCBroker"), ["StartStream(stream ConnInfo) -> stream ConnInfo"]);

    // The gRPC paths are "/<SERVICE_NAME>/<Method>".
    assert_eq!(tfplugin6::provider_server::SERVICE_NAME, "tfplugin6.Provider");
    assert_eq!(plugin::grpc_controller_server::SERVICE_NAME, "plugin.GRPCController");
    assert_eq!(plugin::grpc_stdio_server::SERVICE_NAME, "plugin.GRPCStdio");
    assert_eq!(plugin::grpc_broker_server::SERVICE_NAME, "plugin.GRPCBroker");
}

// ---------------------------------------------------------------------------
// Compile-time surface checks for the generated clients.

/// Never called: it only has to compile, proving the client exposes the
/// 6.9, 6.10 and 6.11 RPCs with the expected request and stream types.
#[allow(dead_code)]
async fn client_surface(
    mut c: tfplugin6::provider_client::ProviderClient<tonic::transport::Channel>,
) -> Result<(), Status> {
    let _ = c.get_resource_identity_schemas(get_resource_identity_schemas::Request {}).await?;
    let _ = c.upgrade_resource_identity(tfplugin6::upgrade_resource_identity::Request::default()).await?;
    let mut events = c.list_resource(list_resource::Request::default()).await?.into_inner();
    while let Some(_event) = events.message().await? {}
    let _ = c.validate_list_resource_config(tfplugin6::validate_list_resource_config::Request::default()).await?;
    let _ = c.plan_action(tfplugin6::plan_action::Request::default()).await?;
    let mut progress = c.invoke_action(invoke_action::Request::default()).await?.into_inner();
    while let Some(_event) = progress.message().await? {}
    let _ = c.validate_action_config(tfplugin6::validate_action_config::Request::default()).await?;
    let _ = c.generate_resource_config(tfplugin6::generate_resource_config::Request::default()).await?;
    let _ = c.move_resource_state(move_resource_state::Request::default()).await?;
    let _ = c.open_ephemeral_resource(open_ephemeral_resource::Request::default()).await?;
    let _ = c.write_state_bytes(tokio_stream::iter(vec![write_state_bytes::RequestChunk::default()])).await?;
    let mut chunks = c.read_state_bytes(tfplugin6::read_state_bytes::Request::default()).await?.into_inner();
    while let Some(_chunk) = chunks.message().await? {}
    Ok(())
}

/// Never called: the go-plugin clients and servers exist with these names.
#[allow(dead_code)]
async fn go_plugin_surface(channel: tonic::transport::Channel) -> Result<(), Status> {
    let mut ctl = plugin::grpc_controller_client::GrpcControllerClient::new(channel.clone());
    let _ = ctl.shutdown(plugin::Empty {}).await?;
    let mut stdio = plugin::grpc_stdio_client::GrpcStdioClient::new(channel.clone());
    let _ = stdio.stream_stdio(()).await?;
    let mut broker = plugin::grpc_broker_client::GrpcBrokerClient::new(channel);
    let _ = broker.start_stream(tokio_stream::iter(vec![plugin::ConnInfo::default()])).await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// End-to-end: serve every service over TCP and call it with the generated
// clients. `TestProvider` implements the whole `Provider` trait, which also
// proves the trait's exact method set and signatures.

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[derive(Default)]
struct TestProvider {
    written: Arc<Mutex<Vec<u8>>>,
}

fn unimplemented<T>(rpc: &str) -> Result<Response<T>, Status> {
    Err(Status::unimplemented(format!("{rpc} is not implemented")))
}

#[tonic::async_trait]
impl tfplugin6::provider_server::Provider for TestProvider {
    async fn get_metadata(
        &self,
        _: Request<get_metadata::Request>,
    ) -> Result<Response<get_metadata::Response>, Status> {
        unimplemented("GetMetadata")
    }

    async fn get_provider_schema(
        &self,
        _: Request<get_provider_schema::Request>,
    ) -> Result<Response<get_provider_schema::Response>, Status> {
        Ok(Response::new(get_provider_schema::Response {
            provider: Some(tfplugin6::Schema::default()),
            resource_schemas: HashMap::from([(
                "efs_file_system".to_string(),
                tfplugin6::Schema { version: 1, block: Some(schema::Block::default()) },
            )]),
            server_capabilities: Some(tfplugin6::ServerCapabilities {
                plan_destroy: true,
                get_provider_schema_optional: true,
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn validate_provider_config(
        &self,
        _: Request<tfplugin6::validate_provider_config::Request>,
    ) -> Result<Response<tfplugin6::validate_provider_config::Response>, Status> {
        unimplemented("ValidateProviderConfig")
    }

    async fn validate_resource_config(
        &self,
        _: Request<tfplugin6::validate_resource_config::Request>,
    ) -> Result<Response<tfplugin6::validate_resource_config::Response>, Status> {
        unimplemented("ValidateResourceConfig")
    }

    async fn validate_data_resource_config(
        &self,
        _: Request<tfplugin6::validate_data_resource_config::Request>,
    ) -> Result<Response<tfplugin6::validate_data_resource_config::Response>, Status> {
        unimplemented("ValidateDataResourceConfig")
    }

    async fn upgrade_resource_state(
        &self,
        _: Request<tfplugin6::upgrade_resource_state::Request>,
    ) -> Result<Response<tfplugin6::upgrade_resource_state::Response>, Status> {
        unimplemented("UpgradeResourceState")
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<get_resource_identity_schemas::Request>,
    ) -> Result<Response<get_resource_identity_schemas::Response>, Status> {
        unimplemented("GetResourceIdentitySchemas")
    }

    async fn upgrade_resource_identity(
        &self,
        _: Request<tfplugin6::upgrade_resource_identity::Request>,
    ) -> Result<Response<tfplugin6::upgrade_resource_identity::Response>, Status> {
        unimplemented("UpgradeResourceIdentity")
    }

    async fn configure_provider(
        &self,
        _: Request<configure_provider::Request>,
    ) -> Result<Response<configure_provider::Response>, Status> {
        unimplemented("ConfigureProvider")
    }

    async fn read_resource(
        &self,
        _: Request<read_resource::Request>,
    ) -> Result<Response<read_resource::Response>, Status> {
        unimplemented("ReadResource")
    }

    async fn plan_resource_change(
        &self,
        request: Request<plan_resource_change::Request>,
    ) -> Result<Response<plan_resource_change::Response>, Status> {
        // Echo the pre-planned private data back, as a 6.11 provider would.
        let req = request.into_inner();
        Ok(Response::new(plan_resource_change::Response {
            planned_state: req.proposed_new_state,
            planned_private: req.planned_private,
            ..Default::default()
        }))
    }

    async fn apply_resource_change(
        &self,
        _: Request<apply_resource_change::Request>,
    ) -> Result<Response<apply_resource_change::Response>, Status> {
        unimplemented("ApplyResourceChange")
    }

    async fn import_resource_state(
        &self,
        _: Request<import_resource_state::Request>,
    ) -> Result<Response<import_resource_state::Response>, Status> {
        unimplemented("ImportResourceState")
    }

    async fn move_resource_state(
        &self,
        _: Request<move_resource_state::Request>,
    ) -> Result<Response<move_resource_state::Response>, Status> {
        unimplemented("MoveResourceState")
    }

    async fn read_data_source(
        &self,
        _: Request<tfplugin6::read_data_source::Request>,
    ) -> Result<Response<tfplugin6::read_data_source::Response>, Status> {
        unimplemented("ReadDataSource")
    }

    async fn generate_resource_config(
        &self,
        _: Request<tfplugin6::generate_resource_config::Request>,
    ) -> Result<Response<tfplugin6::generate_resource_config::Response>, Status> {
        unimplemented("GenerateResourceConfig")
    }

    async fn validate_ephemeral_resource_config(
        &self,
        _: Request<tfplugin6::validate_ephemeral_resource_config::Request>,
    ) -> Result<Response<tfplugin6::validate_ephemeral_resource_config::Response>, Status> {
        unimplemented("ValidateEphemeralResourceConfig")
    }

    async fn open_ephemeral_resource(
        &self,
        _: Request<open_ephemeral_resource::Request>,
    ) -> Result<Response<open_ephemeral_resource::Response>, Status> {
        unimplemented("OpenEphemeralResource")
    }

    async fn renew_ephemeral_resource(
        &self,
        _: Request<tfplugin6::renew_ephemeral_resource::Request>,
    ) -> Result<Response<tfplugin6::renew_ephemeral_resource::Response>, Status> {
        unimplemented("RenewEphemeralResource")
    }

    async fn close_ephemeral_resource(
        &self,
        _: Request<tfplugin6::close_ephemeral_resource::Request>,
    ) -> Result<Response<tfplugin6::close_ephemeral_resource::Response>, Status> {
        unimplemented("CloseEphemeralResource")
    }

    type ListResourceStream = BoxStream<list_resource::Event>;

    async fn list_resource(
        &self,
        request: Request<list_resource::Request>,
    ) -> Result<Response<Self::ListResourceStream>, Status> {
        let limit = usize::try_from(request.into_inner().limit).unwrap_or(0);
        let events = ["fs-1", "fs-2", "fs-3"]
            .into_iter()
            .take(limit)
            .map(|id| {
                Ok(list_resource::Event {
                    identity: identity(id.as_bytes()),
                    display_name: id.to_string(),
                    ..Default::default()
                })
            })
            .collect::<Vec<_>>();
        Ok(Response::new(Box::pin(tokio_stream::iter(events))))
    }

    async fn validate_list_resource_config(
        &self,
        _: Request<tfplugin6::validate_list_resource_config::Request>,
    ) -> Result<Response<tfplugin6::validate_list_resource_config::Response>, Status> {
        unimplemented("ValidateListResourceConfig")
    }

    async fn get_functions(
        &self,
        _: Request<tfplugin6::get_functions::Request>,
    ) -> Result<Response<tfplugin6::get_functions::Response>, Status> {
        unimplemented("GetFunctions")
    }

    async fn call_function(
        &self,
        _: Request<call_function::Request>,
    ) -> Result<Response<call_function::Response>, Status> {
        unimplemented("CallFunction")
    }

    async fn validate_state_store_config(
        &self,
        _: Request<tfplugin6::validate_state_store::Request>,
    ) -> Result<Response<tfplugin6::validate_state_store::Response>, Status> {
        unimplemented("ValidateStateStoreConfig")
    }

    async fn configure_state_store(
        &self,
        _: Request<tfplugin6::configure_state_store::Request>,
    ) -> Result<Response<tfplugin6::configure_state_store::Response>, Status> {
        unimplemented("ConfigureStateStore")
    }

    type ReadStateBytesStream = BoxStream<tfplugin6::read_state_bytes::Response>;

    async fn read_state_bytes(
        &self,
        _: Request<tfplugin6::read_state_bytes::Request>,
    ) -> Result<Response<Self::ReadStateBytesStream>, Status> {
        unimplemented("ReadStateBytes")
    }

    async fn write_state_bytes(
        &self,
        request: Request<tonic::Streaming<write_state_bytes::RequestChunk>>,
    ) -> Result<Response<write_state_bytes::Response>, Status> {
        let mut stream = request.into_inner();
        while let Some(chunk) = stream.message().await? {
            self.written.lock().unwrap().extend_from_slice(&chunk.bytes);
        }
        Ok(Response::new(write_state_bytes::Response::default()))
    }

    async fn lock_state(
        &self,
        _: Request<tfplugin6::lock_state::Request>,
    ) -> Result<Response<tfplugin6::lock_state::Response>, Status> {
        unimplemented("LockState")
    }

    async fn unlock_state(
        &self,
        _: Request<tfplugin6::unlock_state::Request>,
    ) -> Result<Response<tfplugin6::unlock_state::Response>, Status> {
        unimplemented("UnlockState")
    }

    async fn get_states(
        &self,
        _: Request<tfplugin6::get_states::Request>,
    ) -> Result<Response<tfplugin6::get_states::Response>, Status> {
        unimplemented("GetStates")
    }

    async fn delete_state(
        &self,
        _: Request<tfplugin6::delete_state::Request>,
    ) -> Result<Response<tfplugin6::delete_state::Response>, Status> {
        unimplemented("DeleteState")
    }

    async fn plan_action(
        &self,
        _: Request<tfplugin6::plan_action::Request>,
    ) -> Result<Response<tfplugin6::plan_action::Response>, Status> {
        unimplemented("PlanAction")
    }

    type InvokeActionStream = BoxStream<invoke_action::Event>;

    async fn invoke_action(
        &self,
        request: Request<invoke_action::Request>,
    ) -> Result<Response<Self::InvokeActionStream>, Status> {
        let action = request.into_inner().action_type;
        let events = vec![
            Ok(invoke_action::Event {
                r#type: Some(invoke_action::event::Type::Progress(invoke_action::event::Progress {
                    message: format!("running {action}"),
                })),
            }),
            Ok(invoke_action::Event {
                r#type: Some(invoke_action::event::Type::Completed(invoke_action::event::Completed::default())),
            }),
        ];
        Ok(Response::new(Box::pin(tokio_stream::iter(events))))
    }

    async fn validate_action_config(
        &self,
        _: Request<tfplugin6::validate_action_config::Request>,
    ) -> Result<Response<tfplugin6::validate_action_config::Response>, Status> {
        unimplemented("ValidateActionConfig")
    }

    async fn stop_provider(
        &self,
        _: Request<stop_provider::Request>,
    ) -> Result<Response<stop_provider::Response>, Status> {
        Ok(Response::new(stop_provider::Response::default()))
    }
}

struct Controller {
    shutdown: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

#[tonic::async_trait]
impl plugin::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _: Request<plugin::Empty>) -> Result<Response<plugin::Empty>, Status> {
        if let Some(tx) = self.shutdown.lock().unwrap().take() {
            let _ = tx.send(());
        }
        Ok(Response::new(plugin::Empty {}))
    }
}

struct Stdio;

#[tonic::async_trait]
impl plugin::grpc_stdio_server::GrpcStdio for Stdio {
    type StreamStdioStream = BoxStream<plugin::StdioData>;

    async fn stream_stdio(&self, _: Request<()>) -> Result<Response<Self::StreamStdioStream>, Status> {
        let chunks = vec![
            Ok(plugin::StdioData { channel: stdio_data::Channel::Stdout as i32, data: b"out".to_vec() }),
            Ok(plugin::StdioData { channel: stdio_data::Channel::Stderr as i32, data: b"err".to_vec() }),
        ];
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }
}

struct Broker;

#[tonic::async_trait]
impl plugin::grpc_broker_server::GrpcBroker for Broker {
    type StartStreamStream = BoxStream<plugin::ConnInfo>;

    async fn start_stream(
        &self,
        request: Request<tonic::Streaming<plugin::ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        // Acknowledge every knock, echoing the service ID.
        let stream = request.into_inner().map(|item| {
            item.map(|info| plugin::ConnInfo {
                service_id: info.service_id,
                knock: Some(conn_info::Knock { knock: false, ack: true, error: String::new() }),
                ..Default::default()
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

#[tokio::test]
async fn serves_provider_and_go_plugin_services_over_grpc() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let provider = TestProvider::default();
    let written = provider.written.clone();

    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(tfplugin6::provider_server::ProviderServer::new(provider))
            .add_service(plugin::grpc_controller_server::GrpcControllerServer::new(Controller {
                shutdown: Mutex::new(Some(tx)),
            }))
            .add_service(plugin::grpc_stdio_server::GrpcStdioServer::new(Stdio))
            .add_service(plugin::grpc_broker_server::GrpcBrokerServer::new(Broker))
            .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), async {
                let _ = rx.await;
            }),
    );

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    let mut client = tfplugin6::provider_client::ProviderClient::new(channel.clone());

    let schema = client.get_provider_schema(get_provider_schema::Request {}).await.unwrap().into_inner();
    assert_eq!(schema.resource_schemas["efs_file_system"].version, 1);
    assert!(schema.server_capabilities.unwrap().get_provider_schema_optional);

    let err = client.get_metadata(get_metadata::Request {}).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);

    let plan = client
        .plan_resource_change(plan_resource_change::Request {
            proposed_new_state: dv(&[0x80]),
            planned_private: b"seed".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plan.planned_private, b"seed");
    assert_eq!(plan.planned_state.unwrap().msgpack, vec![0x80]);

    let mut events = client
        .list_resource(list_resource::Request { type_name: "efs_file_system".into(), limit: 2, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let mut names = Vec::new();
    while let Some(event) = events.message().await.unwrap() {
        names.push(event.display_name);
    }
    assert_eq!(names, ["fs-1", "fs-2"]);

    let mut progress = client
        .invoke_action(invoke_action::Request { action_type: "efs_backup".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let mut kinds = Vec::new();
    while let Some(event) = progress.message().await.unwrap() {
        kinds.push(match event.r#type.unwrap() {
            invoke_action::event::Type::Progress(p) => p.message,
            invoke_action::event::Type::Completed(_) => "completed".to_string(),
        });
    }
    assert_eq!(kinds, ["running efs_backup", "completed"]);

    let chunks = vec![
        write_state_bytes::RequestChunk {
            meta: Some(tfplugin6::RequestChunkMeta { type_name: "efs".into(), state_id: "default".into() }),
            bytes: b"{\"ver".to_vec(),
            total_length: 11,
            range: Some(tfplugin6::StateRange { start: 0, end: 4 }),
        },
        write_state_bytes::RequestChunk {
            meta: None,
            bytes: b"sion\":4}".to_vec(),
            total_length: 11,
            range: Some(tfplugin6::StateRange { start: 5, end: 10 }),
        },
    ];
    client.write_state_bytes(tokio_stream::iter(chunks)).await.unwrap();
    assert_eq!(written.lock().unwrap().as_slice(), b"{\"version\":4}");

    let mut stdio = plugin::grpc_stdio_client::GrpcStdioClient::new(channel.clone());
    let mut out = stdio.stream_stdio(()).await.unwrap().into_inner();
    let mut got = Vec::new();
    while let Some(chunk) = out.message().await.unwrap() {
        got.push((chunk.channel(), chunk.data));
    }
    assert_eq!(
        got,
        vec![(stdio_data::Channel::Stdout, b"out".to_vec()), (stdio_data::Channel::Stderr, b"err".to_vec()),]
    );

    let mut broker = plugin::grpc_broker_client::GrpcBrokerClient::new(channel.clone());
    let mut acks = broker
        .start_stream(tokio_stream::iter(vec![plugin::ConnInfo {
            service_id: 42,
            knock: Some(conn_info::Knock { knock: true, ..Default::default() }),
            ..Default::default()
        }]))
        .await
        .unwrap()
        .into_inner();
    let ack = acks.message().await.unwrap().unwrap();
    assert_eq!(ack.service_id, 42);
    assert!(ack.knock.unwrap().ack);

    client.stop_provider(stop_provider::Request {}).await.unwrap();

    // GRPCController.Shutdown stops the server.
    let mut controller = plugin::grpc_controller_client::GrpcControllerClient::new(channel);
    controller.shutdown(plugin::Empty {}).await.unwrap();
    // Graceful shutdown waits for open connections, so close ours.
    drop((acks, out, progress, events));
    drop((client, stdio, broker, controller));
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("server did not shut down")
        .unwrap()
        .unwrap();
}
