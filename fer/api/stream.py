"""WS /v1/stream: a camera's frames in (one binary message per frame, JPEG or PNG), tracked faces out
(one JSON message per frame analysed). Each connection is one live session (``fer.stream.live.LiveSession``:
the live page's tracking, smoothing and rescan schedule), so ids stay with the same person while they
stay in view and probabilities are smoothed over time.

As on the live page, the present wins over a backlog: frames that arrive while one is analysed wait
in a single slot, a newer one replacing an older one, and each answer counts the frames dropped so.
An answer names the frame it answers by its index among the connection's binary messages (0, 1, ...).
"""
from __future__ import annotations

import asyncio
import contextlib

from starlette.websockets import WebSocket, WebSocketDisconnect

from .. import cv_threads
from ..imageio import ImageError, decode_image
from ..offline.still import MAX_ANALYSIS_SIDE
from ..pipeline import FramePipeline
from ..stream.live import LIVE_READ_EVERY_S, LiveSession
from .errors import ApiError
from .options import STREAM_QUERY, parse_options
from .routes import ApiState

#: WebSocket close code for a stream the server ends for its client's behaviour (RFC 6455: policy violation).
POLICY_CLOSE = 1008


class _NewestFrame:
    """The one waiting frame of a connection: (index, bytes, or a text message's error)."""

    def __init__(self) -> None:
        self.item: tuple[int, bytes | str] | None = None
        self.dropped = 0
        self.closed = False
        self._ready = asyncio.Event()

    def put(self, index: int, data: bytes | str) -> None:
        if self.item is not None and isinstance(self.item[1], bytes):
            self.dropped += 1
        self.item = (index, data)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def take(self) -> tuple[int, bytes | str, int] | None:
        """The newest frame and the frames dropped since the last take; None once the client is gone."""
        await self._ready.wait()
        self._ready.clear()
        if self.item is None:
            return None
        (index, data), dropped = self.item, self.dropped
        self.item, self.dropped = None, 0
        return index, data, dropped


def analyse_frame(session: LiveSession, pipeline: FramePipeline, data: bytes, index: int, dropped: int) -> dict:
    """Decode one frame and run it through the connection's live session -> its answer."""
    cv_threads.live_frame()
    name = f"frame {index}"
    frame = decode_image(data, name)
    h, w = frame.shape[:2]
    if max(h, w) > MAX_ANALYSIS_SIDE:
        raise ImageError(f"{name}: {w}x{h} pixels; stream frames may be at most {MAX_ANALYSIS_SIDE} px on their "
                         "longer side (a camera's 640x480 is plenty)")
    session.process(frame, pipeline, dropped=dropped, draw=False)
    update = session.latest()
    return {"frame": index, "time_s": round(update.time_s, 4), "faces": [f.to_dict() for f in update.faces],
            "dropped": update.dropped, "fps": round(update.fps, 2), "latency_ms": round(update.latency_ms, 2)}


async def stream(ws: WebSocket) -> None:
    st: ApiState = ws.app.state.api
    await ws.accept()
    try:
        options = parse_options(ws.query_params, STREAM_QUERY, flip_default=False)
    except ApiError as e:
        await ws.send_json({"error": e.message})
        await ws.close(POLICY_CLOSE, "bad query options")
        return
    pipeline = await st.pipeline(options)
    session = LiveSession(half_life_s=options.half_life_s, read_every_s=LIVE_READ_EVERY_S, background_rescans=True)
    slot = _NewestFrame()
    receiver = asyncio.create_task(_receive(ws, slot, st.settings.ws_idle_s))
    try:
        while (item := await slot.take()) is not None:
            index, data, dropped = item
            if isinstance(data, str):
                await ws.send_json({"frame": None, "error": data})
                continue
            try:
                answer = await st.run(analyse_frame, session, pipeline, data, index, dropped)
            except ImageError as e:
                answer = {"frame": index, "error": str(e)}
            await ws.send_json(answer)
    except (WebSocketDisconnect, RuntimeError):  # the client left while an answer was being sent
        pass
    finally:
        receiver.cancel()
        reason = None
        with contextlib.suppress(asyncio.CancelledError, Exception):
            reason = await receiver
        for log in (*session.earlier, session.log):
            log.close()
        if reason:
            with contextlib.suppress(RuntimeError):
                await ws.close(POLICY_CLOSE, reason)


async def _receive(ws: WebSocket, slot: _NewestFrame, idle_s: float) -> str | None:
    """Read the client's messages into ``slot`` until it leaves (None) or sends nothing for ``idle_s``
    seconds (the reason to close with)."""
    index = 0
    try:
        while True:
            try:
                message = await asyncio.wait_for(ws.receive(), idle_s)
            except asyncio.TimeoutError:
                return f"no frame for {idle_s:g} s"
            if message["type"] == "websocket.disconnect":
                return None
            if message.get("bytes") is not None:
                slot.put(index, message["bytes"])
                index += 1
            else:
                slot.put(-1, "send each frame as a binary message holding JPEG or PNG bytes, not text")
    finally:
        slot.close()
