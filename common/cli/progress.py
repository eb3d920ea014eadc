"""Progress of long bar downloads: codes and pages done, a live pacing countdown and an ETA, all from the
broker's own pacing state (its `status`: TR windows, current wait, queue, clock).

The broker paces TRs on its clock (virtual on the simulator), so waits are converted to wall seconds
with the clock's speed, measured from two `status` samples. Between samples the countdown runs down
by itself; a `sys.throttle` notice starts it at once. The ETA replays the broker's pacing windows over
the requests still needed (`paced_eta_s`, the same replay `koabus sync` uses), or follows the pace the
last pages came at when that is slower.
"""
from __future__ import annotations

import math
import threading
import time
from datetime import date
from typing import Any, Callable, Dict, List, Optional, Sequence

from rich.progress import ProgressColumn
from rich.text import Text

#: seconds between two `status` requests while a download runs
POLL_INTERVAL_S = 1.0
#: pages whose arrival times give the pace of the download (for the ETA)
PACE_SAMPLE_PAGES = 10
#: rows a page of opt10081/82/83 and of opt10080 carries (the control's page sizes)
DATED_ROWS_PER_PAGE = 600
MINUTE_ROWS_PER_PAGE = 900
SESSION_MINUTES = 390


def _duration(seconds: float) -> str:
    seconds = int(math.ceil(max(0.0, seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def pages_estimate(kind: str, oldest: Optional[date], newest: date, interval: int = 1,
                   max_pages: Optional[int] = None) -> Optional[int]:
    """TR pages a bar download needs (None: no honest guess, e.g. ticks over a range)."""
    if oldest is None:
        return max_pages or 1
    weekdays = sum(1 for n in range((newest - oldest).days + 1) if date.fromordinal(oldest.toordinal() + n).weekday() < 5)
    if kind == "daily":
        rows = weekdays
    elif kind == "weekly":
        rows = weekdays // 5 + 1
    elif kind == "monthly":
        rows = weekdays // 21 + 1
    elif kind == "minute":
        return max(1, math.ceil(weekdays * SESSION_MINUTES / max(1, interval) / MINUTE_ROWS_PER_PAGE))
    else:
        return max_pages
    return max(1, math.ceil(rows / DATED_ROWS_PER_PAGE))


class PacingModel:
    """The broker's TR pacing as this client sees it: a live countdown of the current wait and an ETA.

    Feed it `status` maps (`update`), `sys.throttle` bodies (`throttle`) and our own sent pages
    (`sent`); ask `wait_left_s()` and `eta_s(n)` at any time (wall seconds). Thread-safe.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic):
        self._now = monotonic
        self._lock = threading.Lock()
        self.windows: List[Sequence[float]] = []
        self.queued = 0
        self.speed = 1.0
        #: the speed was measured (two status samples); until then no wait or ETA is shown, since a
        #: simulator's broker seconds may be far shorter than wall seconds
        self.speed_known = False
        self._first: Optional[tuple] = None  # (wall, broker clock) of the first status
        self._clock: Optional[tuple] = None  # the latest
        self._wait: tuple = (0.0, 0.0)  # (wall when heard, broker seconds still to wait then)
        self._sent: List[float] = []  # broker-clock times our requests went out
        self._answered: List[float] = []  # wall times our last pages arrived (the pace without pacing)

    def update(self, status: Dict[str, Any]) -> None:
        pacing = status.get("pacing") if isinstance(status, dict) else None
        tr = pacing.get("tr") if isinstance(pacing, dict) else None
        tr = tr if isinstance(tr, dict) else {}
        clock = status.get("clock_s") if isinstance(status, dict) else None
        now = self._now()
        with self._lock:
            if isinstance(tr.get("windows"), list):
                self.windows = [w for w in tr["windows"] if isinstance(w, (list, tuple)) and len(w) == 2]
            self.queued = int(tr.get("queued") or 0)
            if isinstance(clock, (int, float)):
                sample = (now, float(clock))
                if self._first is None:
                    self._first = sample
                elif sample[0] - self._first[0] >= 0.5:
                    self.speed = max(0.01, (sample[1] - self._first[1]) / (sample[0] - self._first[0]))
                    self.speed_known = True
                self._clock = sample
            self._wait = (now, float(tr.get("wait_s") or 0.0))

    def throttle(self, body: Dict[str, Any]) -> None:
        """A `sys.throttle` notice: a wait starts (or ends) now."""
        if (body.get("kind") or "tr") != "tr":
            return
        wait = float(body.get("wait_s") or 0.0) if body.get("state") == "start" else 0.0
        with self._lock:
            self._wait = (self._now(), wait)

    def broker_now(self) -> float:
        with self._lock:
            return self._broker_now()

    def _broker_now(self) -> float:
        if self._clock is None:
            return time.time()
        wall, clock = self._clock
        return clock + (self._now() - wall) * self.speed

    def sent(self) -> None:
        """One of our requests was answered (so it went out): the ETA replay counts it."""
        with self._lock:
            self._sent.append(self._broker_now())
            del self._sent[:-2000]
            self._answered.append(self._now())
            del self._answered[:-PACE_SAMPLE_PAGES]

    def wait_left_s(self) -> float:
        """Wall seconds the broker still holds the next TR back (runs down between status samples)."""
        with self._lock:
            heard, wait = self._wait
            return max(0.0, wait / self.speed - (self._now() - heard))

    def eta_s(self, remaining: int) -> float:
        """Wall seconds until `remaining` more pages arrive: the broker's windows replayed over them, or
        the pace our last pages came at (a TR takes time beyond its pacing), whichever is longer."""
        from koabus.common.lake.history_sync import DEFAULT_TR_WINDOWS, paced_eta_s

        with self._lock:
            heard, wait = self._wait
            wait_left = max(0.0, wait - (self._now() - heard) * self.speed)
            broker_s = paced_eta_s(remaining, self.windows or DEFAULT_TR_WINDOWS, self._sent, self._broker_now(),
                                   wait_s=wait_left, queued_ahead=self.queued)
            answered = self._answered
            per_page = (answered[-1] - answered[0]) / (len(answered) - 1) if len(answered) > 1 else 0.0
            return max(broker_s / self.speed, remaining * per_page)

    def describe(self, remaining: Optional[int]) -> str:
        """`paced: next request in 12s  ETA 3m10s` (the parts that apply; nothing before the speed is known)."""
        if not self.speed_known:
            return ""
        parts = []
        wait = self.wait_left_s()
        if wait >= 0.5:
            parts.append(f"paced: next request in {_duration(wait)}")
        if remaining:
            parts.append(f"ETA {_duration(self.eta_s(remaining))}")
        return "  ".join(parts)


class BarsProgress:
    """A rich progress bar over codes and pages with the live pacing countdown and ETA (on stderr).

    `estimate` is the pages each code should take (None: unknown); a poller thread asks the broker's
    `status` every POLL_INTERVAL_S while the bar is shown.
    """

    def __init__(self, client: Any, codes: Sequence[str], estimate: Optional[int], console: Any,
                 transient: bool, enabled: bool, model: Optional[PacingModel] = None):
        self.client = client
        self.codes = list(codes)
        self.estimate = estimate
        self.enabled = enabled
        self.model = model or PacingModel()
        self.current_pages = 0
        self.codes_done = 0
        self._stop = threading.Event()
        self._poller: Optional[threading.Thread] = None
        self.progress: Any = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[pages]}"), LiveTextColumn(self.detail),
                                     TimeElapsedColumn(), console=console, transient=transient)
            self.task = self.progress.add_task("codes", total=len(self.codes), pages="")

    # ---- what is left
    def remaining_pages(self) -> Optional[int]:
        if self.estimate is None:
            return None
        left_codes = max(0, len(self.codes) - self.codes_done - 1)
        current = max(1, self.estimate - self.current_pages) if self.codes_done < len(self.codes) else 0
        return left_codes * self.estimate + current

    def detail(self) -> str:
        return self.model.describe(self.remaining_pages())

    # ---- lifecycle
    def __enter__(self) -> BarsProgress:
        self.client.on_throttle(self.model.throttle)
        if self.enabled:
            self._poll_once()
            self.progress.__enter__()
            self._poller = threading.Thread(target=self._poll, name="koabus-progress", daemon=True)
            self._poller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(POLL_INTERVAL_S + 5)
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def _poll_once(self) -> None:
        try:
            self.model.update(self.client.status())
        except Exception:  # the bar is a nicety: the download itself reports real failures
            pass

    def _poll(self) -> None:
        while not self._stop.wait(POLL_INTERVAL_S):
            self._poll_once()

    # ---- events from the download
    def code(self, code: str, done: int) -> None:
        self.codes_done = done
        self.current_pages = 0
        if self.progress is not None:
            self.progress.update(self.task, completed=done, description=code, pages="")

    def page(self, page: Any) -> None:
        self.current_pages += 1
        self.model.sent()
        if self.progress is not None:
            of = f"/~{self.estimate}" if self.estimate and self.current_pages <= self.estimate else ""
            # refresh: the page shows even when pages come faster than the display's own refresh
            self.progress.update(self.task, pages=f"page {self.current_pages}{of}", refresh=True)


class LiveTextColumn(ProgressColumn):
    """A column whose text is computed at every refresh (so a countdown counts down by itself)."""

    def __init__(self, text: Callable[[], str]):
        super().__init__()
        self._text = text

    def render(self, task: Any) -> Text:
        text = self._text()
        return Text(text, style="yellow" if text.startswith("paced") else "")
