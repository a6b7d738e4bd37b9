//! The AWS wire format as the proxy needs it: which service and action a request is (SigV4
//! credential scope, form `Action=`, EFS's REST paths), the ids EFS calls name, and error answers
//! in each protocol's own format, so the SDK parses and classifies them as it would AWS's.

use super::http::{Request, Response};

/// The percent-decoded value of `name` in a form body or query string.
pub(super) fn form_value(form: &str, name: &str) -> Option<String> {
    form.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

pub(super) fn percent_decode(s: &str) -> String {
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

pub(super) fn action_of(request: &Request) -> String {
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

pub(super) fn error_response(service: &str, status: u16, code: &str, message: &str) -> Response {
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

pub(super) fn throttle_response(service: &str) -> Response {
    match service {
        "ec2" => error_response(service, 503, "RequestLimitExceeded", "Request limit exceeded."),
        "efs" => error_response(service, 429, "ThrottlingException", "Rate exceeded"),
        _ => error_response(service, 400, "Throttling", "Rate exceeded"),
    }
}

pub(super) fn dependency_violation_response(request: &Request) -> Response {
    let id = form_value(&String::from_utf8_lossy(&request.body), "GroupId").unwrap_or_default();
    error_response("ec2", 400, "DependencyViolation", &format!("resource {id} has a dependent object"))
}

pub(super) fn server_error_response(service: &str, status: u16) -> Response {
    let code = match (service, status) {
        ("efs", 500) => "InternalServerError",
        ("ec2", 500) => "InternalError",
        (_, 500) => "InternalFailure",
        ("ec2", _) => "Unavailable",
        _ => "ServiceUnavailable",
    };
    error_response(service, status, code, "We encountered an internal error. Please try again.")
}

pub(super) fn profile_not_propagated_response(request: &Request) -> Response {
    let arn = form_value(&String::from_utf8_lossy(&request.body), "IamInstanceProfile.Arn").unwrap_or_default();
    error_response(
        "ec2",
        400,
        "InvalidParameterValue",
        &format!("Value ({arn}) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN"),
    )
}

pub(super) fn file_system_in_use_response(request: &Request) -> Response {
    let id = request.path().rsplit('/').next().unwrap_or_default().to_string();
    error_response("efs", 409, "FileSystemInUse", &format!("File system '{id}' has mount targets created in it."))
}

/// The id a Describe call asks for, or that a Create/Delete made or removed.
pub(super) fn efs_object_id(action: &str, request: &Request) -> Option<String> {
    match action {
        "efs:DescribeFileSystems" => request.query("FileSystemId"),
        "efs:DescribeMountTargets" => request.query("MountTargetId"),
        "efs:DescribeAccessPoints" => request.query("AccessPointId"),
        "efs:DeleteFileSystem" | "efs:DeleteMountTarget" | "efs:DeleteAccessPoint" => {
            request.path().rsplit('/').next().map(str::to_string)
        }
        _ => None,
    }
}

pub(super) const DESCRIBE_LISTS: &[(&str, &str, &str)] = &[
    ("efs:DescribeFileSystems", "FileSystems", "FileSystemId"),
    ("efs:DescribeMountTargets", "MountTargets", "MountTargetId"),
    ("efs:DescribeAccessPoints", "AccessPoints", "AccessPointId"),
];

pub(super) fn replace_refused_response(request: &Request) -> Response {
    let id = form_value(&String::from_utf8_lossy(&request.body), "AssociationId").unwrap_or_default();
    error_response(
        "ec2",
        400,
        "IncorrectInstanceState",
        &format!("The instance of association '{id}' is not in a state from which its profile can be replaced."),
    )
}

pub(super) fn delete_conflict_response(action: &str) -> Response {
    let what = action.strip_prefix("iam:Delete").unwrap_or("entity");
    error_response(
        "iam",
        409,
        "DeleteConflict",
        &format!("Cannot delete entity, must remove dependencies first ({what} still in use)."),
    )
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
    fn decodes_form_values() {
        let body =
            "Action=AssociateIamInstanceProfile&IamInstanceProfile.Arn=arn%3Aaws%3Aiam%3A%3A1%3Ainstance-profile%2Fx";
        assert_eq!(form_value(body, "Action").as_deref(), Some("AssociateIamInstanceProfile"));
        assert_eq!(form_value(body, "IamInstanceProfile.Arn").as_deref(), Some("arn:aws:iam::1:instance-profile/x"));
        assert_eq!(form_value(body, "Missing"), None);
    }
}
