"""A small OpenAI-compatible HTTP server (stdlib only) with fault injection, for tests.

Serves what the openai and mistralai SDKs call: `POST /v1/chat/completions` (with
`usage` and optional `logprobs`), `GET /v1/models`, and enough of the Batch API
(`POST /v1/files`, `GET /v1/files/{id}/content`, `POST /v1/batches`,
`GET /v1/batches/{id}`, `POST /v1/batches/{id}/cancel`). `GET /_stats` returns the
request counters as JSON and `POST /_reset` clears them (for a server in another process).

    with FakeOpenAIServer(latency_s=0.01, faults={"429": 0.1, "500": 0.05}) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="x")

Faults are either probabilities per kind or a callable `(prompt_key, attempt) -> kind|None`
(attempt counts from 1 per prompt). Kinds: "429" (with Retry-After), "500", "malformed"
(a 200 with a broken JSON body), "hang" (no answer until the client gives up, or a 504
after `hang_s`), "400", "401".

Holding makes "mid-run" deterministic on a machine of any speed: with `hold_after=N` the
server answers N chat requests, then keeps every further one waiting (`held` counts them,
`wait_held(n)` waits for n) until `release()` (or `stop()`); with `hold_batches=True`
batches stay in progress until then. `wait_idle()` waits until no request is being handled.
Run it standalone for benchmarks: `python tests/fake_openai.py --port 0 --latency 1`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import select
import socket
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[list[dict[str, Any]], str], str]
FaultPicker = Callable[[str, int], "str | None"]
FAULT_KINDS = ("429", "500", "malformed", "hang", "400", "401")


def default_responder(messages: list[dict[str, Any]], model: str) -> str:
    """A well-formed teacher triplet, different for every prompt."""
    last = str(messages[-1].get("content", "")) if messages else ""
    digest = int(hashlib.sha256(last.encode()).hexdigest()[:6], 16) % 100
    return (
        f"Reasoning: {model} works through the question step by step ({digest}).\n"
        f"Answer: {digest}\n"
        "score: 0.9"
    )


def prompt_key(model: str, messages: list[dict[str, Any]]) -> str:
    """The identity of a request, for duplicate counting."""
    text = json.dumps([model, messages], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout) closes its socket: not an error here


class FakeOpenAIServer:
    """A threaded fake OpenAI server; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        responder: Responder = default_responder,
        latency_s: float = 0.0,
        faults: Mapping[str, float] | FaultPicker | None = None,
        retry_after_s: float = 0.2,
        hang_s: float = 30.0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        batch_delay_s: float = 0.1,
        hold_after: int | None = None,
        hold_batches: bool = False,
        honour_max_tokens: bool = False,
    ):
        self.responder = responder
        self.honour_max_tokens = honour_max_tokens  # cut at max_tokens words, "length"
        self.latency_s = latency_s
        self.faults = faults or {}
        self.retry_after_s = retry_after_s
        self.hang_s = hang_s
        self.batch_delay_s = batch_delay_s
        self.hold_after = hold_after
        self.hold_batches = hold_batches
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # held / in_flight changed
        self._released = threading.Event()
        self._admitted = 0  # chat requests received, for hold_after
        self.held = 0  # chat requests waiting for release()
        self.in_flight = 0  # chat requests being handled
        self.requests: Counter[str] = Counter()  # prompt key -> requests received
        self.served_ok: Counter[str] = Counter()  # prompt key -> well-formed answers sent
        self.faults_sent: Counter[str] = Counter()  # fault kind -> count
        self.times: defaultdict[str, list[float]] = defaultdict(list)  # key -> arrival times
        self.authorization: Counter[str] = Counter()  # Authorization headers seen
        self.sampling: list[dict[str, Any]] = []  # temperature/top_p/max_tokens per request
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._httpd = _Server((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeOpenAIServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- holding -----------------------------------------------------------------------------
    def release(self) -> None:
        """Answer the held requests and batches, and hold nothing from now on."""
        self._released.set()

    def wait_held(self, n: int, timeout_s: float = 600.0) -> bool:
        """Wait until `n` chat requests are held (a generous bound: they will arrive)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.held >= n, timeout_s)

    def wait_idle(self, timeout_s: float = 600.0) -> bool:
        """Wait until no chat request is being handled (answers of released requests sent)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.in_flight == 0, timeout_s)

    def _enter(self) -> None:
        """Count a chat request in; hold it while the server holds (see `hold_after`)."""
        with self._changed:
            self.in_flight += 1
            self._admitted += 1
            hold = self.hold_after is not None and self._admitted > self.hold_after
            if hold:
                self.held += 1
                self._changed.notify_all()
        if hold:
            self._released.wait()
            with self._changed:
                self.held -= 1
                self._changed.notify_all()

    def _leave(self) -> None:
        with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    # ---- counters ----------------------------------------------------------------------------
    def duplicates(self) -> dict[str, int]:
        """Prompts that got more than one well-formed answer."""
        with self._lock:
            return {key: n for key, n in self.served_ok.items() if n > 1}

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": sum(self.requests.values()),
                "prompts": len(self.requests),
                "served_ok": sum(self.served_ok.values()),
                "duplicates": sum(1 for n in self.served_ok.values() if n > 1),
                "faults": dict(self.faults_sent),
            }

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.served_ok.clear()
            self.faults_sent.clear()
            self.times.clear()

    # ---- behaviour ---------------------------------------------------------------------------
    def _register(self, key: str, authorization: str) -> int:
        with self._lock:
            self.requests[key] += 1
            self.times[key].append(time.monotonic())
            self.authorization[authorization] += 1
            return self.requests[key]

    def pick_fault(self, key: str, attempt: int) -> str | None:
        if callable(self.faults):
            return self.faults(key, attempt)
        with self._lock:
            draw = self._random.random()
        edge = 0.0
        for kind, probability in self.faults.items():
            edge += probability
            if draw < edge:
                return kind
        return None

    def completion_body(self, request: dict[str, Any]) -> dict[str, Any]:
        model = str(request.get("model", ""))
        messages = request.get("messages") or []
        text = self.responder(messages, model)
        words = text.split()
        finish = "stop"
        limit = request.get("max_tokens")
        if self.honour_max_tokens and isinstance(limit, int) and len(words) > limit:
            words, finish = words[:limit], "length"  # one word = one token here
            text = " ".join(words)
        prompt_words = sum(len(str(m.get("content", "")).split()) for m in messages)
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish,
            "logprobs": None,
        }
        if request.get("logprobs"):
            choice["logprobs"] = {
                "content": [
                    {
                        "token": w,
                        "logprob": -0.1 * (i % 5),
                        "bytes": list(w.encode()),
                        "token_id": i,
                        "top_logprobs": [],
                    }
                    for i, w in enumerate(words)
                ]
            }
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [choice],
            "usage": {
                "prompt_tokens": prompt_words,
                "completion_tokens": len(words),
                "total_tokens": prompt_words + len(words),
            },
        }

    def _run_batch(self, batch_id: str) -> None:
        batch = self.batches[batch_id]
        time.sleep(self.batch_delay_s)
        batch["status"] = "in_progress"
        if self.hold_batches:
            self._released.wait()
        lines = self.files[batch["input_file_id"]].decode().splitlines()
        out, errors = [], []
        for line in filter(None, lines):
            item = json.loads(line)
            body = item["body"]
            key = prompt_key(str(body.get("model", "")), body.get("messages") or [])
            attempt = self._register(key, "batch")
            fault = self.pick_fault(key, attempt)
            if fault is None:
                with self._lock:
                    self.served_ok[key] += 1
                response = {
                    "status_code": 200,
                    "request_id": uuid.uuid4().hex,
                    "body": self.completion_body(body),
                }
                out.append(
                    {
                        "id": uuid.uuid4().hex,
                        "custom_id": item["custom_id"],
                        "response": response,
                        "error": None,
                    }
                )
            else:
                error = {"code": "server_error", "message": f"injected {fault}"}
                errors.append(
                    {
                        "id": uuid.uuid4().hex,
                        "custom_id": item["custom_id"],
                        "response": None,
                        "error": error,
                    }
                )
        time.sleep(self.batch_delay_s)
        batch["output_file_id"] = self._add_file(
            "\n".join(map(json.dumps, out)).encode(), "output.jsonl"
        )
        if errors:
            batch["error_file_id"] = self._add_file(
                "\n".join(map(json.dumps, errors)).encode(), "errors.jsonl"
            )
        batch["request_counts"] = {
            "total": len(out) + len(errors),
            "completed": len(out),
            "failed": len(errors),
        }
        if batch["status"] != "cancelled":
            batch["status"] = "completed"
        batch["completed_at"] = int(time.time())

    def _add_file(self, data: bytes, filename: str) -> str:
        file_id = f"file-{uuid.uuid4().hex[:12]}"
        self.files[file_id] = data
        self.files[f"{file_id}:name"] = filename.encode()
        return file_id

    def _file_object(self, file_id: str) -> dict[str, Any]:
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(self.files[file_id]),
            "created_at": int(time.time()),
            "filename": self.files[f"{file_id}:name"].decode(),
            "purpose": "batch",
            "status": "processed",
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _send(self, status: int, body: bytes, headers: Mapping[str, str] = {}) -> None:  # noqa: B006
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, obj: Any, headers: Mapping[str, str] = {}) -> None:  # noqa: B006
                self._send(status, json.dumps(obj).encode(), headers)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                if path == "/v1/models":
                    self._json(
                        200,
                        {
                            "object": "list",
                            "data": [
                                {
                                    "id": "fake-model",
                                    "object": "model",
                                    "created": 0,
                                    "owned_by": "tests",
                                }
                            ],
                        },
                    )
                elif path == "/_stats":
                    self._json(200, server.stats())
                elif path.startswith("/v1/batches/") and path.split("/")[3] in server.batches:
                    self._json(200, server.batches[path.split("/")[3]])
                elif path.startswith("/v1/files/") and path.endswith("/content"):
                    self._send(200, server.files.get(path.split("/")[3], b""))
                elif path.startswith("/v1/files/") and path.split("/")[3] in server.files:
                    self._json(200, server._file_object(path.split("/")[3]))
                else:
                    self._json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})

            def do_POST(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                raw = self._body()
                if path == "/v1/chat/completions":
                    self._chat(raw)
                elif path == "/_reset":
                    server.reset_counters()
                    self._json(200, server.stats())
                elif path == "/v1/files":
                    self._upload(raw)
                elif path == "/v1/batches":
                    self._create_batch(json.loads(raw))
                elif path.startswith("/v1/batches/") and path.endswith("/cancel"):
                    batch = server.batches[path.split("/")[3]]
                    batch["status"] = "cancelled"
                    self._json(200, batch)
                else:
                    self._json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})

            def _chat(self, raw: bytes) -> None:
                try:
                    request = json.loads(raw)
                except json.JSONDecodeError:
                    self._json(
                        400,
                        {"error": {"message": "body is not JSON", "type": "invalid_request_error"}},
                    )
                    return
                server._enter()
                try:
                    self._answer(request)
                finally:
                    server._leave()

            def _hang(self) -> None:
                """Wait until the client closes the connection (gave up), at most `hang_s`."""
                deadline = time.monotonic() + server.hang_s
                while (left := deadline - time.monotonic()) > 0:
                    readable, _, _ = select.select([self.connection], [], [], min(left, 0.5))
                    if not readable:
                        continue
                    try:
                        if not self.connection.recv(1, socket.MSG_PEEK):
                            return  # EOF: the client is gone
                    except OSError:
                        return
                    time.sleep(min(left, 0.1))  # bytes of a next request: keep waiting

            def _answer(self, request: dict[str, Any]) -> None:
                key = prompt_key(str(request.get("model", "")), request.get("messages") or [])
                attempt = server._register(key, self.headers.get("Authorization", ""))
                with server._lock:
                    server.sampling.append(
                        {k: request.get(k) for k in ("temperature", "top_p", "max_tokens")}
                    )
                fault = server.pick_fault(key, attempt)
                if fault:
                    with server._lock:
                        server.faults_sent[fault] += 1
                if server.latency_s:
                    time.sleep(server.latency_s)
                if fault == "hang":
                    self._hang()
                if fault == "hang":  # the client has given up by now: never a valid answer
                    self._json(
                        504, {"error": {"message": "gateway timeout", "type": "server_error"}}
                    )
                elif fault == "429":
                    headers = {"Retry-After": f"{server.retry_after_s:g}"}
                    self._json(
                        429,
                        {"error": {"message": "rate limited", "type": "rate_limit_error"}},
                        headers,
                    )
                elif fault == "500":
                    self._json(
                        500, {"error": {"message": "internal error", "type": "server_error"}}
                    )
                elif fault in ("400", "401"):
                    auth = self.headers.get("Authorization", "")
                    message = (
                        f"invalid request; you sent {auth}"  # echoes the key, like some gateways
                    )
                    self._json(
                        int(fault), {"error": {"message": message, "type": "invalid_request_error"}}
                    )
                elif fault == "malformed":
                    self._send(200, b'{"id": "chatcmpl-broken", "choices": [{"message": ')
                else:
                    body = server.completion_body(request)
                    with server._lock:
                        server.served_ok[key] += 1
                    self._json(200, body)

            def _upload(self, raw: bytes) -> None:
                head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
                message = BytesParser(policy=email_policy).parsebytes(head + raw)
                data, name = b"", "input.jsonl"
                for part in message.iter_parts():
                    if part.get_param("name", header="content-disposition") == "file":
                        data = part.get_payload(decode=True) or b""
                        name = part.get_filename() or name
                file_id = server._add_file(data, name)
                self._json(200, server._file_object(file_id))

            def _create_batch(self, request: dict[str, Any]) -> None:
                batch_id = f"batch_{uuid.uuid4().hex[:12]}"
                server.batches[batch_id] = {
                    "id": batch_id,
                    "object": "batch",
                    "endpoint": request["endpoint"],
                    "input_file_id": request["input_file_id"],
                    "completion_window": request.get("completion_window", "24h"),
                    "status": "validating",
                    "created_at": int(time.time()),
                    "output_file_id": None,
                    "error_file_id": None,
                    "request_counts": {"total": 0, "completed": 0, "failed": 0},
                }
                threading.Thread(target=server._run_batch, args=(batch_id,), daemon=True).start()
                self._json(200, server.batches[batch_id])

        return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--faults", default="{}", help='JSON, e.g. {"429": 0.1, "500": 0.05}')
    parser.add_argument("--retry-after", type=float, default=0.2)
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(
        latency_s=args.latency,
        faults=json.loads(args.faults),
        retry_after_s=args.retry_after,
        port=args.port,
    )
    print(json.dumps({"base_url": server.base_url}), flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ---- project helpers for tests that label through the fake server ------------------------------
def seed_queries(project: Any, n: int, split: str = "train", start: int = 0) -> list[int]:
    """Insert n math queries ("What is i + i?") straight into a project; returns their ids."""
    from twt_backend.store import utcnow

    ids = []
    with project.transaction() as conn:
        for i in range(start, start + n):
            payload = json.dumps({"question": f"What is {i} + {i}? (item {i})"})
            cursor = conn.execute(
                "INSERT INTO queries(source_id, split, payload, reference, content_hash, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    f"q{i}",
                    split,
                    payload,
                    str(2 * i),
                    hashlib.sha256(payload.encode()).hexdigest(),
                    utcnow(),
                ),
            )
            ids.append(int(cursor.lastrowid or 0))
    return ids


def add_teacher(project: Any, name: str, **fields: Any) -> int:
    """Store a teacher config (as `twt teacher add` does); returns its id."""
    from twt_backend.config import TeacherConfig, to_json
    from twt_backend.store import utcnow

    config = TeacherConfig(name=name, **{"provider": "openai", "model": name, **fields})
    config.validate()
    with project.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO teachers(name, provider, model, config, created_at) VALUES (?, ?, ?, ?, ?)",
            (name, config.provider, config.model, to_json(config), utcnow()),
        )
    return int(cursor.lastrowid or 0)


def setup_pipeline_project(
    project: Any, server: FakeOpenAIServer, student: Any, embedder: Any, teachers: Any
) -> None:
    """A small pipeline project on the fake server: 4 train and 2 test queries (ids from
    100), one openai teacher a name, the embedder and the student saved, no live
    validation, no intermediate checkpoint."""
    from twt_backend.config import SelectionConfig, TrainingConfig
    from twt_backend.settings import save_config

    seed_queries(project, 4)
    seed_queries(project, 2, split="test", start=100)
    for name in teachers:
        add_teacher(project, name, base_url=server.base_url, concurrency=2)
    save_config(project, SelectionConfig(embedder=str(embedder)))
    save_config(project, TrainingConfig(student=str(student), eval_size=0, save_steps=100))
