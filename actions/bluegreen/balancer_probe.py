"""The gate's probe in mode nginx: real completions sent through the load
balancer, as clients send them, each answer checked and put down to the
colour that served it:

- which colour: the upstream's `X-Dsconsole-Colour` header when it sets one
  (the demo's servers and the test upstreams do), else the balancer's
  `X-Upstream-Addr` (`add_header X-Upstream-Addr $upstream_addr always;` in
  the site's server block) mapped through the pool; `source` says which was
  used, for the preview. An answer with neither is counted with no colour:
  a gate that needs a colour's figures then halts for want of data;
- right or wrong: the completion's text against the reference colour's (the
  colour that served before the switch, deterministic for the probe prompt at
  temperature 0), so a green that answers /health and 200 but wrong text
  fails the gate. `expected` can be handed on to the next gate, for the
  last step where the reference colour gets no traffic.

Results are the drills' ProbeResult (pod = the colour), so the gate's
evaluation is the same for probes through the balancer and to pods."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from console import http1
from console.probes.paced import PacedThreads
from console.probes.window import ProbeResult

from .nginx_upstream import Pool

COLOUR_HEADER = "x-dsconsole-colour"
ADDR_HEADER = "x-upstream-addr"


@dataclass(frozen=True)
class Answer:
    t: float
    latency_s: float
    colour: str | None
    status: int              # 0: no HTTP answer
    text: str | None         # the completion's text (None: none)
    error: str = ""


class BalancerProber:
    def __init__(self, url: str, pool: Pool, *, prompt: dict, rate: float = 20.0, workers: int = 4,
                 timeout_s: float = 5.0, reference_colour: str = "blue", expected: str | None = None) -> None:
        u = urlsplit(url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.pool, self.prompt = pool, prompt
        self.timeout_s = timeout_s
        self.reference_colour, self.expected = reference_colour, expected
        self.source: str | None = None          # which header told the colours
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._pace = PacedThreads(rate=rate, workers=workers, join_s=timeout_s + 2, name="bg-probe")

    def start(self) -> BalancerProber:
        self._pace.start(self._send)
        return self

    def stop(self) -> None:
        self._pace.stop()

    def settle(self, before: float) -> None:
        """Wait until the requests sent before `before` (time.monotonic())
        have their answers in `answers`/`results` (at most one timeout)."""
        self._pace.wait_answered(before, self.timeout_s + 1)

    def _send(self) -> None:
        a = self.one()
        with self._lock:
            self.answers.append(a)
            if self.expected is None and a.colour == self.reference_colour and a.status == 200 and a.text:
                self.expected = a.text

    def one(self) -> Answer:
        """One completion through the balancer, on a new connection (a reload
        closes idle kept-alive ones: their reset is not the switch's fault)."""
        t0 = time.monotonic()
        conn = http1.Connection(self.host, self.port, timeout=self.timeout_s)
        try:
            conn.request("POST", "/v1/completions",
                         {"Content-Type": "application/json", "Connection": "close", "User-Agent": "dsconsole"},
                         json.dumps(self.prompt).encode())
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http1.ProtocolError) as e:
            return Answer(t0, time.monotonic() - t0, None, 0, None, type(e).__name__)
        finally:
            conn.close()
        colour = self._colour(resp.headers)
        text = None
        if resp.status == 200:
            try:
                text = json.loads(body)["choices"][0]["text"]
            except (ValueError, KeyError, IndexError, TypeError):
                text = None
        return Answer(t0, time.monotonic() - t0, colour, resp.status, text if isinstance(text, str) else None)

    def _colour(self, headers: http1.Headers) -> str | None:
        c = (headers.get(COLOUR_HEADER) or "").strip().lower()
        if c in ("blue", "green"):
            self.source = self.source or "the upstreams' X-Dsconsole-Colour header"
            return c
        addr = (headers.get(ADDR_HEADER) or "").split(",")[-1].strip()   # the last upstream tried served it
        if addr:
            self.source = self.source or "nginx's X-Upstream-Addr header mapped through the pool"
            return self.pool.colour_of(addr)
        return None

    @property
    def results(self) -> list[ProbeResult]:
        """Every answer as a ProbeResult (pod = colour): ok when it is a 200
        completion whose text is the reference's (unknown yet: any text)."""
        with self._lock:
            answers, expected = list(self.answers), self.expected
        out = []
        for a in answers:
            if a.status == 0:
                error = a.error or "no answer"
            elif a.status != 200:
                error = f"HTTP {a.status}"
            elif not a.text:
                error = "not a completion"
            elif expected is not None and a.text != expected:
                error = "wrong completion"
            else:
                error = ""
            out.append(ProbeResult(a.t, not error, a.latency_s, a.colour or "", error))
        return out
