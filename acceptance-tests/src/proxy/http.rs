//! HTTP/1.1 plumbing of the proxy: reading requests and answers, forwarding to moto, writing
//! answers back, and dropping a connection with a TCP reset.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::wire::form_value;

pub(super) struct Request {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) headers: Headers,
    pub(super) body: Vec<u8>,
}

impl Request {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    pub(super) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// A query string parameter (EFS Describe calls take their ids there).
    pub(super) fn query(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        form_value(query, name)
    }
}

#[derive(Clone)]
pub(super) struct Response {
    pub(super) status: u16,
    pub(super) headers: Headers,
    pub(super) body: Vec<u8>,
}

/// HTTP header fields in the order received.
pub(super) type Headers = Vec<(String, String)>;

pub(super) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
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

pub(super) fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let Some((start, headers)) = read_head(reader)? else { return Ok(None) };
    let mut parts = start.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let body = read_body(reader, &headers, false)?;
    Ok(Some(Request { method, target, headers, body }))
}

const HOP_BY_HOP: &[&str] = &["connection", "keep-alive", "content-length", "transfer-encoding", "proxy-connection"];

/// Sends the request to moto on a new connection and reads the whole answer.
pub(super) fn forward(moto: SocketAddr, request: &Request) -> io::Result<Response> {
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

pub(super) fn write_response(stream: &mut TcpStream, response: &Response) -> io::Result<()> {
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
pub(super) fn reset(stream: TcpStream) {
    let _ = stream.set_nonblocking(true);
    crate::block_on(async move {
        if let Ok(stream) = tokio::net::TcpStream::from_std(stream) {
            let _ = stream.set_zero_linger();
        }
    });
}
