"""A real OpenAI-compatible HTTP server on 127.0.0.1 that replays a scripted queue of replies.

Tests point litellm at it (``model="openai/fake-model"``, ``api_base=server.base_url``) so the
whole client path — litellm, the OpenAI SDK, HTTP, status codes, headers — runs for real. Each
POST to ``/v1/chat/completions`` takes the next step of the script:

* `Reply` — a normal completion (content, optional ``reasoning_content``, token usage);
* `Fault` — an HTTP error status (429 with ``Retry-After``, 500, 503…);
* `Delay` — sleep before answering, longer than the client's timeout (a timeout fault);
* `Trickle` — announce a body, then send it one byte at a time, slowly, forever (each read
  arrives in time, so only a bound on the whole call stops it);
* `Raw` — any status, headers and body bytes (hostile JSON: deep nesting, huge numbers,
  absurd ``usage``, lone surrogates, keys echoed in headers and error bodies).

Every request (path, headers, JSON body, arrival time) is recorded for assertions. Standard
library only: ``http.server`` with one thread per connection, so a delayed answer never blocks
the client's retry.

Run it from the command line (see `main`) to demo an experiment without a provider:
``python -m tests.fakes --script benchmarks/fake_llm_exp2.json``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Reply:
    """A successful completion. ``usage`` is (prompt, completion) tokens, or None to omit it;
    any values may be given (a hostile provider's strings, negatives, floats)."""

    content: str
    reasoning: str | None = None
    usage: tuple[Any, Any] | None = (120, 40)


@dataclass(frozen=True)
class Fault:
    """An HTTP error answer; ``retry_after`` (seconds) is sent as the Retry-After header."""

    status: int
    retry_after: float | None = None
    message: str = "fake fault"


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` before answering with ``then`` (a timeout when longer than the client's)."""

    seconds: float
    then: Reply = field(default_factory=lambda: Reply("{}"))


@dataclass(frozen=True)
class Trickle:
    """Headers of a large body, then one byte every ``interval`` seconds until the client leaves."""

    interval: float = 0.2


@dataclass(frozen=True)
class Raw:
    """Exactly this answer: status, extra headers and body bytes."""

    body: bytes
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()


Step = Reply | Fault | Delay | Trickle | Raw


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any]
    received_at: float  # time.monotonic()


def policy_reply(policy: dict[str, Any], prose: str = "") -> Reply:
    """A reply carrying ``policy`` as a fenced JSON block, optionally after some prose."""
    text = f"```json\n{json.dumps(policy, indent=2)}\n```"
    return Reply(f"{prose}\n\n{text}" if prose else text)


class FakeOpenAIServer:
    """Scripted OpenAI-compatible chat-completions server on a random free local port.

    Example:
        >>> with FakeOpenAIServer([Reply('{"parameters": {}}')]) as server:  # doctest: +SKIP
        ...     litellm.completion(model="openai/fake-model", api_base=server.base_url, ...)
    """

    def __init__(self, script: Iterable[Step] = (), *, cycle: bool = False) -> None:
        self._script: deque[Step] = deque(script)
        self._all: list[Step] = list(self._script)
        self._cycle = cycle
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control
    def push(self, *steps: Step) -> None:
        """Append steps to the script."""
        with self._lock:
            self._script.extend(steps)
            self._all.extend(steps)

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The ``api_base`` to give litellm (``http://127.0.0.1:PORT/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._script)

    def start(self) -> FakeOpenAIServer:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes delayed handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ serving
    def _next_step(self) -> Step | None:
        with self._lock:
            if not self._script and self._cycle and self._all:
                self._script.extend(self._all)
            return self._script.popleft() if self._script else None

    def _record(self, request: RecordedRequest) -> int:
        with self._lock:
            self.requests.append(request)
            return len(self.requests)

    def wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(list(self.requests))


def completion_body(reply: Reply, model: str, number: int) -> dict[str, Any]:
    """The OpenAI chat-completion JSON for ``reply``."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.reasoning is not None:
        message["reasoning_content"] = reply.reasoning
    body: dict[str, Any] = {
        "id": f"chatcmpl-fake-{number}",
        "object": "chat.completion",
        "created": 1_700_000_000 + number,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }
    if reply.usage is not None:
        prompt, completion = reply.usage
        body["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return body


def _make_handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # An answer goes out as two writes (the headers, then the body). With Nagle's algorithm
        # the body waited for the client's delayed ACK of the headers: ~40 ms added to every
        # answer on Linux, which no provider's server adds (benchmarks/sweep.py, part a).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return  # keep test output clean

        def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout) before we answered

        def _trickle(self, step: Trickle) -> None:
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(10**9))
                self.end_headers()
                self.wfile.write(b"{")
                while not server._stopping.is_set():
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    server.wait(step.interval)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up: what a bound on the whole call must do

        def _raw(self, step: Raw) -> None:
            try:
                self.send_response(step.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(step.body)))
                for key, value in step.headers:
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(step.body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {"_raw": raw.decode(errors="replace")}
            number = server._record(
                RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
            )
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                return
            step = server._next_step()
            model = str(body.get("model", "fake-model"))
            if step is None:
                self._send(
                    400, {"error": {"message": "fake server: script exhausted", "type": "invalid_request_error"}}
                )
                return
            if isinstance(step, Delay):
                server.wait(step.seconds)
                step = step.then
            if isinstance(step, Trickle):
                self._trickle(step)
                return
            if isinstance(step, Raw):
                self._raw(step)
                return
            if isinstance(step, Fault):
                headers = {} if step.retry_after is None else {"Retry-After": f"{step.retry_after:g}"}
                self._send(
                    step.status,
                    {"error": {"message": step.message, "type": "fake_fault", "code": str(step.status)}},
                    headers,
                )
                return
            self._send(200, completion_body(step, model, number))

    return Handler


# ---------------------------------------------------------------------- command line


def step_from_json(item: dict[str, Any]) -> Step:
    """One script entry: {"content"}, {"policy"}, {"status", "retry_after"} or {"delay", …}."""
    if "delay" in item:
        rest = {k: v for k, v in item.items() if k != "delay"}
        then = step_from_json(rest) if rest else Reply("{}")
        if not isinstance(then, Reply):
            raise ValueError("a delay must be followed by a reply")
        return Delay(float(item["delay"]), then)
    if "status" in item:
        return Fault(int(item["status"]), item.get("retry_after"), str(item.get("message", "fake fault")))
    usage = item.get("usage")
    usage_pair = (int(usage[0]), int(usage[1])) if usage else (120, 40)
    if "policy" in item:
        reply = policy_reply(item["policy"], str(item.get("prose", "")))
        return Reply(reply.content, item.get("reasoning"), usage_pair)
    if "content" in item:
        return Reply(str(item["content"]), item.get("reasoning"), usage_pair)
    raise ValueError(f"unknown script entry {item!r}")


def load_script(path: Path) -> list[Step]:
    """Read a JSON list of script entries (see `step_from_json`)."""
    data = json.loads(path.read_text())
    entries = data["replies"] if isinstance(data, dict) else data
    return [step_from_json(item) for item in entries]


def main(argv: list[str] | None = None) -> None:
    """Serve a scripted reply file until interrupted; prints the port on the first line."""
    parser = argparse.ArgumentParser(description="Scripted fake OpenAI-compatible LLM server.")
    parser.add_argument("--script", type=Path, required=True, help="JSON file of replies")
    parser.add_argument("--cycle", action="store_true", help="restart the script when exhausted")
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(load_script(args.script), cycle=args.cycle).start()
    print(server.port, flush=True)
    print(f"# api_base {server.base_url} — Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
