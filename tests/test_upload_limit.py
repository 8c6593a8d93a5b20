"""Uploads over ``server.maxUploadSize`` (.streamlit/config.toml) are refused by the real server.

A real ``streamlit run app.py`` (tests/browser/support.py's helper) on 127.0.0.1; the test acts as
the browser does: takes the XSRF cookie, opens the session websocket and asks for a script run (the
server's ``new_session`` message names the session id), then PUTs multipart files to
``/_stcore/upload_file/<session_id>/<file_id>``, the route ``st.file_uploader`` posts to. Streamlit
1.67 answers 204 for an accepted file and 413 for one over the limit: at once from a
``Content-Length`` over the limit, before reading the body, and while streaming a body that has no
``Content-Length`` (chunked) as soon as it passes the limit.

Needs only the loopback interface (no WebRTC), so it runs on the host network.
"""
from __future__ import annotations

import contextlib
import socket
import threading
import tomllib
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

import pytest
from websockets.sync.client import connect

from browser.support import streamlit_server
from fer.config import REPO_ROOT
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

MB = 1024 * 1024
XSRF_COOKIE = "_streamlit_xsrf"


def configured_limit_bytes() -> int:
    cfg = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert "maxUploadSize" in cfg.get("server", {}), "server.maxUploadSize must be set explicitly"
    return int(cfg["server"]["maxUploadSize"]) * MB


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with streamlit_server("app.py", timeout=300) as url:
        yield url


@pytest.fixture(scope="module")
def session(server) -> Iterator[dict]:
    """An open browser-like session: its id, the XSRF token, and the websocket kept open."""
    with urllib.request.urlopen(server + "/_stcore/health", timeout=60) as r:
        cookies = [c for c in r.headers.get_all("Set-Cookie") or [] if c.startswith(XSRF_COOKIE + "=")]
    assert cookies, "the server sets no XSRF cookie"
    xsrf = cookies[0].split(";", 1)[0].split("=", 1)[1].strip('"')
    ws_url = server.replace("http://", "ws://") + "/_stcore/stream"
    # No keepalive pings from our side: on a loaded machine a late pong must not end the session.
    with connect(ws_url, subprotocols=["streamlit"], open_timeout=120, max_size=None, ping_interval=None) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        ws.send(msg.SerializeToString())
        session_id = None
        for _ in range(1000):
            fwd = ForwardMsg()
            fwd.ParseFromString(ws.recv(timeout=300))
            if fwd.HasField("new_session"):
                session_id = fwd.new_session.initialize.session_id
                break
        assert session_id, "the server never sent new_session"
        yield {"id": session_id, "xsrf": xsrf, "url": server}


def _multipart(size: int, boundary: str) -> tuple[bytes, bytes, int]:
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"photo.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head, tail, len(head) + size + len(tail)


def _file_body(size: int, boundary: str) -> Iterator[bytes]:
    head, tail, _ = _multipart(size, boundary)
    yield head
    block = bytes(range(256)) * 4096  # 1 MB
    left = size
    while left > 0:
        yield block[: min(left, len(block))]
        left -= len(block)
    yield tail


def put(session: dict, body: Iterable[bytes], length: int | None, boundary: str, session_id: str | None = None,
        xsrf: bool = True, timeout: float = 300) -> tuple[int, bytes, int]:
    """PUT a multipart body on a raw socket while reading the answer in parallel (the server may answer
    before the body is sent, and then stop reading). Returns (status, response body, bytes sent)."""
    u = urlsplit(session["url"])
    path = f"/_stcore/upload_file/{session_id or session['id']}/{uuid.uuid4()}"
    headers = [f"PUT {path} HTTP/1.1", f"Host: {u.netloc}", f"Content-Type: multipart/form-data; boundary={boundary}",
               "Connection: close"]
    if xsrf:
        headers += [f"X-Xsrftoken: {session['xsrf']}", f"Cookie: {XSRF_COOKIE}={session['xsrf']}"]
    headers.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
    sent = [0]

    def send() -> None:
        try:
            sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
            for chunk in body:
                sock.sendall(chunk if length is not None else b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent[0] += len(chunk)
            if length is None:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: the answer is what counts

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        f = sock.makefile("rb")
        status = int(f.readline().split()[1])
        resp_headers = {}
        while (line := f.readline().strip()):
            k, v = line.decode().split(":", 1)
            resp_headers[k.strip().lower()] = v.strip()
        n = int(resp_headers.get("content-length", "0"))
        data = f.read(n) if n else b""
    finally:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        sender.join(timeout=60)
    return status, data, sent[0]


def test_the_configured_limit_is_50_mb():
    assert configured_limit_bytes() == 50 * MB


def test_a_small_upload_is_accepted(session):
    status, body, _ = put(session, _file_body(MB, "b1"), _multipart(MB, "b1")[2], "b1")
    assert status == 204, (status, body)


def test_an_upload_just_under_the_limit_is_accepted(session):
    size = configured_limit_bytes() - 64 * 1024
    status, body, _ = put(session, _file_body(size, "b2"), _multipart(size, "b2")[2], "b2")
    assert status == 204, (status, body)


def test_an_upload_over_the_limit_is_refused_from_its_content_length_before_the_body_is_read(session):
    """The body is never sent: the 413 can only come from the declared length."""
    size = configured_limit_bytes() + MB
    head, _, length = _multipart(size, "b3")
    try:
        status, body, sent = put(session, [head], length, "b3", timeout=60)
    except TimeoutError:
        pytest.fail("no answer in 60 s: the server waited for a body over the limit instead of refusing it")
    assert status == 413, (status, body)
    assert b"too large" in body.lower()
    assert sent < MB


def test_an_upload_over_the_limit_without_a_content_length_is_refused_while_streaming(session):
    """Chunked, no length declared: the server counts the bytes and refuses once past the limit."""
    size = configured_limit_bytes() + 10 * MB
    status, body, sent = put(session, _file_body(size, "b4"), None, "b4")
    assert status == 413, (status, body)
    assert b"too large" in body.lower()


def test_uploads_need_a_live_session_and_the_xsrf_token(session):
    """The route's other guards, so the 204s above are known to come from the real session."""
    status, _, _ = put(session, _file_body(1000, "b5"), _multipart(1000, "b5")[2], "b5", session_id="not-a-session")
    assert status == 400
    status, _, _ = put(session, _file_body(1000, "b6"), _multipart(1000, "b6")[2], "b6", xsrf=False)
    assert status == 403


def test_the_server_is_still_healthy_after_the_refusals(session):
    with urllib.request.urlopen(session["url"] + "/_stcore/health", timeout=60) as r:
        assert r.status == 200
