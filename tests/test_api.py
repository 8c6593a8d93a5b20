"""``python -m fer serve`` as a real server process on loopback: every endpoint on real faces (RAF-DB
test crops, a real scene frame, a real clip through the WebSocket), every bad input's status and
message, the bearer token, and the server still answering after each refusal."""
from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import pytest
import requests

from fer.config import REPO_ROOT, data_root
from fer.faces.detectors.base import Box, iou
from fer.stream.tracking import DEFAULT_CONFIRM_HITS

sys.path.insert(0, str(REPO_ROOT / "bench"))
from api_server import ApiServer  # noqa: E402

#: A stalled head or body is cut off after this long on the test server.
STALL_S = 1.0
#: The test server's body limit.
MAX_BODY_MB = 2
#: A stream sending no frame for this long is closed on the test server.
STREAM_IDLE_S = 2.0
TOKEN = "test-token-5d1c"


def _rafdb_faces(n: int = 3) -> list[Path]:
    root = data_root() / "rafdb" / "test"
    found = [sorted((root / c).glob("*.jpg"))[:1] for c in ("happy", "surprise", "sad")]
    paths = [p for ps in found for p in ps][:n]
    if len(paths) < n:
        pytest.skip(f"RAF-DB test crops not found under {root} (set FER_DATA_DIR)")
    return paths


@pytest.fixture(scope="module")
def server():
    with ApiServer("--stall-timeout", str(STALL_S), "--max-body-mb", str(MAX_BODY_MB), "--threads", "2",
                   "--stream-idle", str(STREAM_IDLE_S)) as s:
        yield s


@pytest.fixture(scope="module")
def scene_jpeg(walking, tmp_path_factory) -> Path:
    """A real 640x360 scene with three people (the walking clip's 30th frame) as a JPEG file."""
    path = tmp_path_factory.mktemp("scene") / "walking_30.jpg"
    cv2.imwrite(str(path), walking.frames[30])
    return path


def _cli_predict(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fer", "predict", "--json", *args], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def _faces_only(entries: list[dict]) -> list[list[dict]]:
    return [e["faces"] for e in entries]


# --- the endpoints on real faces ----------------------------------------------------------------


def test_health_and_models_name_the_served_model(server):
    from fer.classify.model import resolve_model
    served = resolve_model(None)
    h = requests.get(server.url + "/v1/health").json()
    assert h["status"] == "ok" and h["model"] == served.name and h["classes"] == served.classes
    m = requests.get(server.url + "/v1/models").json()
    assert m["served"] == served.name
    entry, = [e for e in m["models"] if e["served"]]
    assert entry["name"] == served.name and entry["classes"] == served.classes
    assert entry["licence"] == served.licence and entry["figures"] == served.headline_figures()
    assert all("path" not in e for e in m["models"])  # names only: no server path leaks


def test_openapi_schema_describes_every_route(server):
    schema = requests.get(server.url + "/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {"/v1/predict", "/v1/predict/batch", "/v1/stream", "/v1/health", "/v1/models",
                                    "/v1/openapi.json"}


def test_predict_equals_the_cli_on_real_faces(server, scene_jpeg):
    """The raw-body, multipart and batch answers each equal `python -m fer predict --json`'s entries:
    RAF-DB test crops classified whole (--no-detect) and a real scene's detected faces."""
    crops = _rafdb_faces()
    cli_crops, cli_scene = _cli_predict("--no-detect", *map(str, crops)), _cli_predict(str(scene_jpeg))
    raw = [requests.post(server.url + "/v1/predict", params={"detect": "false", "name": p.name}, data=p.read_bytes(),
                         headers={"Content-Type": "image/jpeg"}).json() for p in crops]
    multi = [requests.post(server.url + "/v1/predict?detect=false", files={"image": (p.name, p.read_bytes())}).json()
             for p in crops]
    batch = requests.post(server.url + "/v1/predict/batch?detect=false",
                          files=[("image", (p.name, p.read_bytes())) for p in crops]).json()
    scene = requests.post(server.url + "/v1/predict", data=scene_jpeg.read_bytes(),
                          headers={"Content-Type": "image/jpeg"}).json()
    expected_crops = json.loads(cli_crops.communicate(timeout=120)[0])
    expected_scene = json.loads(cli_scene.communicate(timeout=120)[0])
    names = [p.name for p in crops]
    assert [e["path"] for e in raw] == [e["path"] for e in multi] == [e["path"] for e in batch] == names
    assert _faces_only(raw) == _faces_only(multi) == _faces_only(batch) == _faces_only(expected_crops)
    assert all(len(e["faces"]) == 1 and abs(sum(e["faces"][0]["probabilities"].values()) - 1) < 1e-3 for e in raw)
    assert scene["faces"] == expected_scene[0]["faces"] and len(scene["faces"]) >= 2


def test_query_options_reach_the_pipeline(server):
    face = _rafdb_faces(1)[0]
    post = lambda q: requests.post(server.url + "/v1/predict?" + q, data=face.read_bytes(),  # noqa: E731
                                   headers={"Content-Type": "image/jpeg"})
    five = post("detect=false&classes=five").json()["faces"][0]
    assert set(five["probabilities"]) == {"angry", "happy", "neutral", "sad", "surprise"}
    assert abs(sum(five["probabilities"].values()) - 1) < 1e-3
    one_pass, both = post("detect=false&flip=false").json(), post("detect=false&flip=true").json()
    assert one_pass["faces"][0]["probabilities"] != both["faces"][0]["probabilities"]
    assert post("detect=false&detector=blazeface").status_code == 200


def test_concurrent_requests_share_the_classifier_safely(server):
    crops = _rafdb_faces()
    body = {p: p.read_bytes() for p in crops}
    alone = {p: requests.post(server.url + "/v1/predict?detect=false", data=body[p],
                              headers={"Content-Type": "image/jpeg"}).json()["faces"] for p in crops}

    def ask(i: int):
        p = crops[i % len(crops)]
        r = requests.post(server.url + "/v1/predict?detect=false", data=body[p], headers={"Content-Type": "image/jpeg"})
        return p, r.status_code, r.json()["faces"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(ask, range(24)))
    assert all(code == 200 and faces == alone[p] for p, code, faces in results)


# --- the stream ----------------------------------------------------------------------------------


def _stream_clip(url: str, frames, fps: float) -> list[dict]:
    """Each frame sent as a camera would, at ``fps`` (the session's schedule runs on the wall clock),
    and its answer awaited before the next."""
    from websockets.sync.client import connect
    answers = []
    with connect(url + "/v1/stream", max_size=None) as ws:
        start = time.monotonic()
        for i, frame in enumerate(frames):
            time.sleep(max(0.0, start + i / fps - time.monotonic()))
            ws.send(cv2.imencode(".jpg", frame)[1].tobytes())
            answers.append(json.loads(ws.recv(timeout=30)))
    return answers


def test_stream_keeps_each_persons_id_over_a_real_clip(server, walking):
    """Three people walking towards the camera, every frame sent and answered in turn: a face whose box
    overlaps one of the previous frame's keeps that face's id, and a new connection is a new session."""
    answers = _stream_clip(server.ws_url, walking.frames, walking.fps)
    assert [a["frame"] for a in answers] == list(range(len(walking.frames)))
    assert all(a["dropped"] == 0 for a in answers)
    found = sum(any(iou(t, Box(*f["box"])) >= 0.3 for f in a["faces"]) for a, ts in zip(answers, walking.truth)
                for t in ts)
    assert found >= 0.7 * sum(map(len, walking.truth)), f"{found} faces found"
    kept = changed = 0
    for before, now in zip(answers, answers[1:]):
        for f in now["faces"]:
            same = [g for g in before["faces"] if iou(Box(*f["box"]), Box(*g["box"])) >= 0.5]
            if same:
                kept += same[0]["track_id"] == f["track_id"]
                changed += same[0]["track_id"] != f["track_id"]
    assert kept > 50 and changed == 0, f"{kept} faces kept their id, {changed} changed it"
    ids = {f["track_id"] for a in answers for f in a["faces"]}
    assert len(ids) <= 6, f"ids {sorted(ids)} for three people"
    again = _stream_clip(server.ws_url, walking.frames[:1], walking.fps)
    assert sorted(f["track_id"] for f in again[0]["faces"]) == list(range(1, len(again[0]["faces"]) + 1))


def _confirmed_answer(ws, jpg: bytes) -> dict:
    """The answer to ``jpg`` sent as often as a new face takes to be confirmed as a track (the
    stream shows a face once it was found in DEFAULT_CONFIRM_HITS frames in a row), each answer
    awaited: the last answer."""
    for _ in range(DEFAULT_CONFIRM_HITS):
        ws.send(jpg)
        answer = json.loads(ws.recv(timeout=30))
    return answer


def test_stream_answers_bad_frames_and_carries_on(server, walking):
    from websockets.sync.client import connect
    with connect(server.ws_url + "/v1/stream") as ws:
        ws.send("a text message")
        assert "binary message" in json.loads(ws.recv(timeout=10))["error"]
        ws.send(b"not a picture")
        bad = json.loads(ws.recv(timeout=10))
        assert bad["frame"] == 0 and "not an image file" in bad["error"]
        good = _confirmed_answer(ws, cv2.imencode(".jpg", walking.frames[0])[1].tobytes())
        assert good["frame"] == DEFAULT_CONFIRM_HITS and good["faces"]
    with connect(server.ws_url + "/v1/stream?detector=nope") as ws:
        assert "unknown detector 'nope'" in json.loads(ws.recv(timeout=10))["error"]


def test_a_silent_stream_is_closed(server):
    from websockets.exceptions import ConnectionClosedError
    from websockets.sync.client import connect
    with connect(server.ws_url + "/v1/stream") as ws:
        t0 = time.monotonic()
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=STREAM_IDLE_S + 10)
        assert ws.close_code == 1008 and ws.close_reason == f"no frame for {STREAM_IDLE_S:g} s"
        # (the server's clock starts when it accepts, a little before the client's handshake returns)
        assert STREAM_IDLE_S - 1 <= time.monotonic() - t0 < STREAM_IDLE_S + 5


# --- bad input -----------------------------------------------------------------------------------


def _png_bomb(side: int = 30_000) -> bytes:
    """A valid-looking PNG header claiming side x side gray pixels (900 MP), with a few compressed rows."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (side + 1) * 8))
            + chunk(b"IEND", b""))


def _cut_multipart(image: bytes) -> bytes:
    """A multipart body holding ``image`` whose second half never came."""
    whole = (b"--zz\r\nContent-Disposition: form-data; name=image; filename=a.jpg\r\n\r\n" + image
             + b"\r\n--zz--\r\n")
    return whole[: len(whole) // 2]


def _bad_requests() -> list:
    face = _rafdb_faces(1)[0].read_bytes()
    jpeg = {"Content-Type": "image/jpeg"}
    return [
        ("text body", "/v1/predict", dict(data=b"hello", headers={"Content-Type": "text/plain"}), 415,
         "Content-Type text/plain is not an image"),
        ("no content type", "/v1/predict", dict(data=face, headers={"Content-Type": ""}), 415,
         "(none) is not an image"),
        ("garbage as jpeg", "/v1/predict", dict(data=b"\xff\xd8garbage" * 50, headers=jpeg), 400,
         "not an image file in a format we read"),
        ("truncated jpeg", "/v1/predict", dict(data=face[: len(face) // 2], headers=jpeg), 400,
         "ends before the picture"),
        ("empty body", "/v1/predict", dict(data=b"", headers=jpeg), 400, "the file is empty"),
        ("decompression bomb", "/v1/predict", dict(data=_png_bomb(), headers={"Content-Type": "image/png"}), 400,
         "50,000,000 pixels"),
        ("tiny image", "/v1/predict", dict(data=cv2.imencode(".png", cv2.imread(str(_rafdb_faces(1)[0]))[:8, :8])[1]
                                           .tobytes(), headers={"Content-Type": "image/png"}), 400, "too small"),
        ("two files to predict", "/v1/predict", dict(files=[("a", ("a.jpg", face)), ("b", ("b.jpg", face))]), 400,
         "use /v1/predict/batch"),
        ("form without file", "/v1/predict", dict(data={"x": "1"}, files={"y": (None, "2")}), 400, "holds no file"),
        ("broken multipart", "/v1/predict", dict(data=b"--zz\r\nnonsense",
                                                 headers={"Content-Type": "multipart/form-data; boundary=zz"}), 400,
         "ends before its closing boundary"),
        ("multipart cut short", "/v1/predict/batch", dict(data=_cut_multipart(face), headers={
            "Content-Type": "multipart/form-data; boundary=zz"}), 400, "ends before its closing boundary"),
        ("multipart without boundary", "/v1/predict/batch",
         dict(data=b"x", headers={"Content-Type": "multipart/form-data"}), 400, "broken multipart body"),
        ("raw body to batch", "/v1/predict/batch", dict(data=face, headers=jpeg), 415,
         "a batch is a multipart/form-data"),
        ("over the size limit", "/v1/predict", dict(data=b"\0" * (MAX_BODY_MB * 2**20 + 1), headers=jpeg), 413,
         f"over the limit of {MAX_BODY_MB} MB"),
        ("unknown option", "/v1/predict?colour=red", dict(data=face, headers=jpeg), 400,
         "unknown query option(s) colour"),
        ("a server file as model", "/v1/predict?model=/etc/passwd", dict(data=face, headers=jpeg), 400,
         "unknown query option(s) model"),
        ("bad flag", "/v1/predict?flip=maybe", dict(data=face, headers=jpeg), 400, "flip must be true or false"),
        ("bad detector", "/v1/predict?detector=x", dict(data=face, headers=jpeg), 400, "unknown detector 'x'"),
        ("no such route", "/v1/nothing", dict(data=face, headers=jpeg), 404, "no endpoint /v1/nothing"),
        ("wrong method", "/v1/health", dict(data=b"x"), 405, "POST is not allowed on /v1/health"),
    ]


def test_each_bad_input_gets_its_status_and_a_json_message(server):
    failures = []
    for what, path, kwargs, status, message in _bad_requests():
        r = requests.post(server.url + path, timeout=30, **kwargs)
        body = r.json() if r.headers.get("content-type") == "application/json" else {}
        if r.status_code != status or message not in body.get("error", "") or body.get("status") != status:
            failures.append(f"{what}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)
    assert requests.get(server.url + "/v1/health").status_code == 200


def _raw_exchange(port: int, data: bytes, wait_s: float) -> tuple[bytes, float]:
    """Send ``data`` on a fresh connection and read until the server closes it (or ``wait_s`` passes)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(wait_s)
        t0 = time.monotonic()
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except socket.timeout:
            out += b"<still open>"
        return out, time.monotonic() - t0


def test_oversized_body_is_refused_from_its_length_before_it_is_sent(server):
    head = (b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: 1000000000\r\n\r\n")
    out, took = _raw_exchange(server.port, head, 10)  # not a byte of the gigabyte is sent
    assert out.startswith(b"HTTP/1.1 413") and b"connection: close" in out and not out.endswith(b"<still open>")
    assert took < 5


def test_stalled_clients_are_cut_off(server):
    body_start = (b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 5000\r\n\r\n"
                  b"\xff\xd8")
    out, took = _raw_exchange(server.port, body_start, 20)
    assert out.startswith(b"HTTP/1.1 408") and b"stalled" in out and STALL_S <= took < STALL_S + 5
    out, took = _raw_exchange(server.port, b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Ty", 20)
    assert out == b"" and STALL_S <= took < STALL_S + 5  # a head never finished: closed, not kept
    assert requests.get(server.url + "/v1/health").status_code == 200


# --- safety defaults -----------------------------------------------------------------------------


def test_bearer_token_guards_everything_but_health_and_cors_follows_its_origins(walking):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect
    face = _rafdb_faces(1)[0].read_bytes()
    app_origin = "https://app.example"
    with ApiServer("--cors-origin", app_origin, env={"FER_API_TOKEN": TOKEN}) as s:
        post = lambda **h: requests.post(s.url + "/v1/predict?detect=false", data=face,  # noqa: E731
                                         headers={"Content-Type": "image/jpeg", **h})
        missing, wrong, right = post(), post(Authorization="Bearer nope"), post(Authorization=f"Bearer {TOKEN}")
        assert missing.status_code == wrong.status_code == 401
        assert "bearer token" in missing.json()["error"] and missing.headers["WWW-Authenticate"] == "Bearer"
        assert right.status_code == 200 and len(right.json()["faces"]) == 1
        assert requests.get(s.url + "/v1/models").status_code == 401
        assert requests.get(s.url + "/v1/health").status_code == 200
        with pytest.raises(InvalidStatus):
            connect(s.ws_url + "/v1/stream")
        with connect(s.ws_url + "/v1/stream", additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            assert _confirmed_answer(ws, cv2.imencode(".jpg", walking.frames[0])[1].tobytes())["faces"]
        preflight = requests.options(s.url + "/v1/predict", headers={  # a browser's, without the token
            "Origin": app_origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
        assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == app_origin
        other = requests.get(s.url + "/v1/health", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers


def test_cors_is_off_unless_an_origin_is_configured(server):
    r = requests.get(server.url + "/v1/health", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in r.headers


def test_serving_beyond_loopback_warns():
    from fer.api.server import host_warning
    from fer.api.settings import ApiSettings
    assert host_warning(ApiSettings()) is None
    assert "anyone who can reach this machine" in host_warning(ApiSettings(host="0.0.0.0"))


def test_workers_answer_and_stop_with_the_server():
    """--workers 2: two processes answer the same (each loaded the model), and stopping the server's
    process group leaves none behind."""
    face = _rafdb_faces(1)[0].read_bytes()
    with ApiServer("--workers", "2") as s:
        answers = [requests.post(s.url + "/v1/predict?detect=false", data=face, headers={"Content-Type": "image/jpeg"})
                   for _ in range(6)]
        group = subprocess.run(["pgrep", "-g", str(s.pid)], capture_output=True, text=True).stdout.split()
    assert len(group) >= 3, f"server processes {group}: expected the supervisor and two workers"
    assert all(a.status_code == 200 and a.json() == answers[0].json() for a in answers)
    deadline = time.monotonic() + 10  # a stopped worker may stay a zombie for a moment before it is reaped
    while subprocess.run(["pgrep", "-g", str(s.pid)], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "server processes left behind"
        time.sleep(0.2)
