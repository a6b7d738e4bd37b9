//! Terraform's `s3` backend with a DynamoDB lock table, on moto: how a team shares one state and
//! keeps two applies from running at once.
//!
//! * [`S3Backend::create`] makes the bucket and the lock table (plain HTTP calls: moto checks no
//!   signatures, and no S3 or DynamoDB SDK has to be built for two calls).
//! * [`S3Backend::backend_block`] renders the `terraform { backend "s3" }` block for Terraform
//!   1.0.3, aimed at moto.
//! * [`S3Backend::state`] reads the state object, [`S3Backend::lock`] the lock Terraform holds.
//!
//! ```no_run
//! use acceptance_tests::remote_state::S3Backend;
//! use acceptance_tests::{provider_block, Moto, Workdir};
//!
//! let moto = Moto::start();
//! let backend = S3Backend::create(&moto, "team-state", "prod/terraform.tfstate", "terraform-locks");
//! let wd = Workdir::new(&moto);
//! wd.write("backend.tf", &backend.backend_block());
//! ```

use serde_json::{json, Value};

use crate::{http_request, Moto, FAKE_ACCESS_KEY, REGION};

/// A state bucket and a lock table in a [`Moto`], and the state key a configuration uses.
pub struct S3Backend {
    port: u16,
    endpoint: String,
    /// The bucket holding the state.
    pub bucket: String,
    /// The state object's key in the bucket.
    pub key: String,
    /// The DynamoDB table Terraform locks in (partition key `LockID`, a string).
    pub table: String,
}

impl S3Backend {
    /// Creates `bucket` and the lock `table` (`LockID` string hash key, on-demand billing), as the
    /// s3 backend's documentation asks.
    pub fn create(moto: &Moto, bucket: &str, key: &str, table: &str) -> S3Backend {
        let backend = S3Backend {
            port: moto.port(),
            endpoint: moto.endpoint(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            table: table.to_string(),
        };
        let (status, body) = backend.s3("PUT", &format!("/{bucket}"));
        assert_eq!(status, 200, "CreateBucket {bucket}: {body}");
        backend.dynamodb(
            "CreateTable",
            json!({
                "TableName": table,
                "AttributeDefinitions": [{"AttributeName": "LockID", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "LockID", "KeyType": "HASH"}],
                "BillingMode": "PAY_PER_REQUEST",
            }),
        );
        backend
    }

    /// `terraform { backend "s3" { ... } }` for this bucket, key and table, with every endpoint of
    /// the backend (S3, DynamoDB, STS, IAM) on moto and the checks that would reach AWS (credential
    /// validation through STS, instance metadata, region names) turned off. Credentials come from
    /// the environment [`crate::Workdir`] sets.
    pub fn backend_block(&self) -> String {
        let e = &self.endpoint;
        format!(
            r#"terraform {{
  backend "s3" {{
    bucket         = "{bucket}"
    key            = "{key}"
    region         = "{REGION}"
    dynamodb_table = "{table}"
    encrypt        = true

    endpoint                    = "{e}"
    dynamodb_endpoint           = "{e}"
    sts_endpoint                = "{e}"
    iam_endpoint                = "{e}"
    force_path_style            = true
    skip_credentials_validation = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
  }}
}}
"#,
            bucket = self.bucket,
            key = self.key,
            table = self.table,
        )
    }

    /// The state object (Terraform's JSON state), or `None` when there is none yet.
    pub fn state(&self) -> Option<Value> {
        let (status, body) = self.s3("GET", &format!("/{}/{}", self.bucket, self.key));
        match status {
            200 => Some(serde_json::from_str(&body).unwrap_or_else(|e| panic!("state is not JSON ({e}): {body}"))),
            404 => None,
            _ => panic!("GetObject {}/{}: HTTP {status}: {body}", self.bucket, self.key),
        }
    }

    /// The lock Terraform holds on the state right now: the `Info` of the lock table's item
    /// `<bucket>/<key>` (`ID`, `Operation`, `Who`, `Version`, `Created`, `Path`), or `None`.
    pub fn lock(&self) -> Option<Value> {
        let path = format!("{}/{}", self.bucket, self.key);
        let item = self.dynamodb(
            "GetItem",
            json!({"TableName": self.table, "Key": {"LockID": {"S": path}}, "ConsistentRead": true}),
        );
        let info = item.pointer("/Item/Info/S")?.as_str()?;
        Some(serde_json::from_str(info).unwrap_or_else(|e| panic!("lock info is not JSON ({e}): {info}")))
    }

    /// The items of the lock table: the lock while one is held, and the `<bucket>/<key>-md5` item in
    /// which Terraform keeps the digest of the state it last wrote.
    pub fn lock_table_items(&self) -> Vec<Value> {
        let scan = self.dynamodb("Scan", json!({"TableName": self.table, "ConsistentRead": true}));
        scan["Items"].as_array().cloned().unwrap_or_default()
    }

    fn s3(&self, method: &str, path: &str) -> (u16, String) {
        let auth = fake_authorization("s3");
        http_request(self.port, method, path, &[("Authorization", &auth)], b"")
            .unwrap_or_else(|e| panic!("S3 {method} {path}: {e}"))
    }

    fn dynamodb(&self, action: &str, body: Value) -> Value {
        let auth = fake_authorization("dynamodb");
        let target = format!("DynamoDB_20120810.{action}");
        let headers = [
            ("Authorization", auth.as_str()),
            ("X-Amz-Target", target.as_str()),
            ("Content-Type", "application/x-amz-json-1.0"),
        ];
        let (status, text) = http_request(self.port, "POST", "/", &headers, body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("DynamoDB {action}: {e}"));
        assert_eq!(status, 200, "DynamoDB {action}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("DynamoDB {action} answered non-JSON ({e}): {text}"))
    }
}

/// A SigV4-shaped `Authorization` header: moto reads the region and service from it and checks no
/// signature, and without one S3 treats the request as anonymous (private objects answer 403).
fn fake_authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={FAKE_ACCESS_KEY}/20240101/{REGION}/{service}/aws4_request, \
         SignedHeaders=host, Signature=0"
    )
}
