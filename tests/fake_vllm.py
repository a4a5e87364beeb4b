"""A small stand-in for a vLLM OpenAI-compatible server (stdlib HTTP + a real transformers
model), for the vLLM engine's tests where vLLM is not installed (CI).

It serves what the engine uses, the way vLLM answers it: `GET /health`, `GET /v1/models`
(the base model, and each LoRA module with `parent` set), `POST /v1/completions` with token
ids in `prompt`, greedy decoding, `stop_token_ids`, `return_token_ids` (the generated ids
including the stop token, which `usage.completion_tokens` also counts, as vLLM does), and
`POST /v1/load_lora_adapter`. `faults(prompt_key, attempt)` may answer "500" or "429".

    with FakeVllmServer(model_dir, adapters={"a": path}) as server: ...   # server.base_url
    python tests/fake_vllm.py --model DIR --port 8000 [--lora-modules NAME=PATH ...]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Faults = Callable[[str, int], "str | None"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class FakeVllmServer:
    def __init__(
        self,
        model_dir: str,
        adapters: dict[str, str] | None = None,
        faults: Faults | None = None,
        port: int = 0,
        name: str = "base",
    ):
        import torch
        from transformers import AutoModelForCausalLM

        torch.manual_seed(0)
        self.name = name
        self.model_dir = model_dir
        self.base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.models: dict[str, Any] = {name: self.base}
        for lora, path in (adapters or {}).items():
            self.load_adapter(lora, path)
        self.faults = faults
        self.attempts: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", port), self._handler())

    def load_adapter(self, lora: str, path: str) -> None:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=torch.float32)
        self.models[lora] = PeftModel.from_pretrained(base, path).eval()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FakeVllmServer:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeVllmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        import torch

        model = self.models[request["model"]]
        prompt = [int(i) for i in request["prompt"]]
        stops = [int(i) for i in request.get("stop_token_ids") or []]
        with self._lock, torch.inference_mode():
            output = model.generate(
                input_ids=torch.tensor([prompt]),
                attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                max_new_tokens=int(request.get("max_tokens") or 16),
                do_sample=False,
                eos_token_id=stops or None,
                pad_token_id=stops[0] if stops else 0,
            )
        ids = output[0, len(prompt) :].tolist()
        stopped = bool(ids) and ids[-1] in stops
        choice: dict[str, Any] = {
            "index": 0,
            "text": f"<{len(ids)} tokens>",  # the engine decodes the ids itself
            "finish_reason": "stop" if stopped else "length",
            "logprobs": None,
        }
        if request.get("return_token_ids"):
            choice["token_ids"] = ids
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:12]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": request["model"],
            "choices": [choice],
            "usage": {
                "prompt_tokens": len(prompt),
                "completion_tokens": len(ids),
                "total_tokens": len(prompt) + len(ids),
            },
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/health":
                    self._json(200, {})
                elif self.path == "/v1/models":
                    data = [
                        {
                            "id": name,
                            "object": "model",
                            "root": name,
                            "parent": None if name == server.name else server.name,
                        }
                        for name in server.models
                    ]
                    self._json(200, {"object": "list", "data": data})
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:  # noqa: N802
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/v1/load_lora_adapter":
                    server.load_adapter(request["lora_name"], request["lora_path"])
                    self._json(200, {})
                    return
                if self.path != "/v1/completions":
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                if request.get("model") not in server.models:
                    self._json(404, {"error": {"message": f"model {request.get('model')}"}})
                    return
                key = json.dumps([request["model"], request["prompt"]])
                with server._lock:
                    server.attempts[key] += 1
                    server.requests.append(request)
                    attempt = server.attempts[key]
                fault = server.faults(key, attempt) if server.faults else None
                if fault == "500":
                    self._json(500, {"error": {"message": "injected", "type": "server_error"}})
                elif fault == "429":
                    self._json(429, {"error": {"message": "busy"}}, {"Retry-After": "0.05"})
                else:
                    self._json(200, server.complete(request))

        return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--served-model-name", default="base")
    parser.add_argument("--lora-modules", nargs="*", default=[])
    args, _ = parser.parse_known_args(argv)
    adapters = dict(item.split("=", 1) for item in args.lora_modules)
    server = FakeVllmServer(args.model, adapters, port=args.port, name=args.served_model_name)
    print(f"serving on {server.base_url}", flush=True)
    server._httpd.serve_forever()


if __name__ == "__main__":
    main()
