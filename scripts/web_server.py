"""Serve the sample web app (web/) on 127.0.0.1 and proxy its sign-in to the local Cognito stand-in.

Usage: python scripts/web_server.py --config FILE [--port 5173]

Prints the bound port on the first stdout line (--port 0 lets the kernel pick a free one).

FILE is JSON, read on every request (so it may be written after this server starts):
  {"api": "http://127.0.0.1:3000", "client_id": "...", "region": "us-east-1",
   "cognito_endpoint": "http://127.0.0.1:MOTO_PORT"}

- `GET /` and the files of web/ (a fixed list, never a path from the request), with the app's
  security headers: a CSP that allows only this origin's scripts and styles and `connect-src`
  only this origin and the API's.
- `GET /config.json`: what the app needs (API URL, app client id, region, the sign-in URL). Never
  a secret: the same values a deployed app ships in its own config.json.
- `POST /cognito`: forwards Cognito's `InitiateAuth` and `RevokeToken` (and nothing else: no admin call, no other
  X-Amz-Target, at most 16 KiB) to `cognito_endpoint`. The browser could call moto directly (it
  answers CORS for any origin), but moto's port is an unauthenticated admin endpoint for every
  AWS stand-in (DynamoDB included): the page never talks to it, and the app's CSP `connect-src`
  names only this origin and the API. The deployed app calls Cognito's real endpoint
  (`https://cognito-idp.<region>.amazonaws.com/`, which answers CORS) and needs no proxy.
  Tokens pass through and are never logged.
"""
import argparse
import json
import signal
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WEB = Path(__file__).resolve().parent.parent / "web"
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
# Sign-in, and the sign-out's refresh-token revocation (RevokeToken needs no credentials: the
# app client and the token itself); never an admin call.
ALLOWED_TARGETS = {
    "AWSCognitoIdentityProviderService.InitiateAuth",
    "AWSCognitoIdentityProviderService.RevokeToken",
}
MAX_SIGNIN_BODY = 16 * 1024


def load_config(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class Handler(BaseHTTPRequestHandler):
    server_version = "web"
    sys_version = ""
    config_path = ""

    def log_message(self, fmt, *args):  # one line per request, no headers or bodies
        sys.stderr.write(json.dumps({"method": self.command, "path": self.path.split("?")[0],
                                     "status": getattr(self, "_status", 0)}) + "\n")

    def send(self, status, body, ctype, extra=None):
        self._status = status
        cfg = load_config(self.config_path) or {}
        api = cfg.get("api", "")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            f"connect-src 'self' {api}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        )
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def problem(self, status, title, code):
        body = json.dumps({"type": "about:blank", "title": title, "status": status, "code": code}).encode()
        self.send(status, body, "application/problem+json")

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/config.json":
            cfg = load_config(self.config_path)
            if cfg is None:
                return self.problem(503, "Service Unavailable", "not_configured")
            out = {"api": cfg["api"], "client_id": cfg["client_id"],
                   "region": cfg.get("region", "us-east-1"), "signin_url": "/cognito"}
            return self.send(200, json.dumps(out).encode(), "application/json")
        if path not in FILES:
            return self.problem(404, "Not Found", "not_found")
        name, ctype = FILES[path]
        try:
            body = (WEB / name).read_bytes()
        except OSError:
            return self.problem(404, "Not Found", "not_found")
        self.send(200, body, ctype)

    def do_POST(self):
        if self.path.split("?")[0] != "/cognito":
            return self.problem(404, "Not Found", "not_found")
        target = self.headers.get("X-Amz-Target", "")
        if target not in ALLOWED_TARGETS:
            return self.problem(403, "Forbidden", "target_not_allowed")
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            n = -1
        if n < 0 or n > MAX_SIGNIN_BODY:
            return self.problem(413, "Content Too Large", "body_too_large")
        body = self.rfile.read(n)
        cfg = load_config(self.config_path)
        if cfg is None:
            return self.problem(503, "Service Unavailable", "not_configured")
        req = urllib.request.Request(
            cfg["cognito_endpoint"].rstrip("/") + "/", data=body, method="POST",
            headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, data = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, data = e.code, e.read()
        except (urllib.error.URLError, OSError):
            return self.problem(502, "Bad Gateway", "cognito_unreachable")
        self.send(status, data, "application/x-amz-json-1.1")

    def do_OPTIONS(self):  # same-origin app: no CORS here, ever
        self.problem(405, "Method Not Allowed", "method_not_allowed")

    do_PUT = do_PATCH = do_DELETE = do_OPTIONS


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=5173)
    p.add_argument("--config", required=True)
    args = p.parse_args()
    Handler.config_path = args.config
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(srv.server_port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
