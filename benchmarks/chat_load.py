"""Reply times of the web chat under load: N chat sessions at once against one real app while a run trains.

A real `tunechat ui` (guided mode, no LLM) runs in its own process on 127.0.0.1 over a fresh temporary
workspace. One chat uploads a generated file and starts a real training run (the bundled all-MiniLM-L6-v2 by
default), which trains in its own worker process on every core. While it trains, the sessions (gradio_client,
spread over a few client processes so the clients' own Python does not queue behind one GIL)

1. each upload their own file and get a training plan (reported, not part of the goal: that turn inspects
   the file and plans);
2. ONE session alone sends T short messages ("help", "list runs", "status"): the baseline;
3. ALL N sessions send T short messages at once: the load case.

It prints p50 / p95 / max of the reply time as the user sees it, the ratio of load to baseline, the errors,
the assistant's own share of each turn (user and answer timestamps in the session store; the rest is the
Gradio queue, streaming and the client) and the CPU per turn of the UI process and of the clients, then
checks that no session saw another's file or plan (in its replies, stored chat, upload folder or waiting
plan). The goal (p95 < 1 s under load, no error) is measured, not asserted.

    python benchmarks/chat_load.py                         # 20 sessions x 6 turns, 400 rows of training data
    python benchmarks/chat_load.py --sessions 8 --turns 3  # quicker
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHORT_MESSAGES = ("help", "list runs", "status")
GOAL_P95_S = 1.0
PHASE_TIMEOUT_S = 900.0
WORDS = {
    "pos": "great lovely superb fine delightful wonderful charming enjoyable".split(),
    "neg": "awful boring dull poor dreadful clumsy tedious weak".split(),
}
FILLER = "the film plot cast story scene music ending acting screen pace camera".split()


def write_reviews(path: Path, rows: int, seed: int) -> Path:
    """A labelled TSV of short reviews whose sentiment word gives the label away."""
    rng = random.Random(seed)
    lines = ["label\treview"]
    for _ in range(rows):
        label = rng.choice(("pos", "neg"))
        words = rng.choices(FILLER, k=rng.randint(5, 14)) + [rng.choice(WORDS[label])]
        rng.shuffle(words)
        lines.append(f"{label}\t{' '.join(words)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def chat_text(chatbot: list[dict[str, Any]]) -> str:
    """All text of a Chatbot value as gradio_client receives it."""
    parts = []
    for message in chatbot:
        content = message["content"]
        for part in content if isinstance(content, list) else [content]:
            parts.append(part.get("text", "") if isinstance(part, dict) else str(part))
    return "\n".join(parts)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Session:
    """One browser tab: its file and what it saw (its gradio_client lives in `client`, never pickled)."""

    index: int
    file_name: str = ""
    session_id: str = ""
    replies: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    client: Any = None

    def send(self, text: str, files: list[Any] | None = None) -> float:
        """Send one message and wait for the whole answer; return the seconds it took."""
        started = time.perf_counter()
        try:
            chatbot, _, dropdown = self.client.predict({"text": text, "files": files or []}, api_name="/chat")
        except Exception as error:  # a failed request is a result of the benchmark, not its end
            self.errors.append(f"{text!r}: {type(error).__name__}: {error}")
            return time.perf_counter() - started
        elapsed = time.perf_counter() - started
        self.session_id = dropdown.get("value") or self.session_id
        answer = chat_text([m for m in chatbot if m["role"] == "assistant"][-1:])
        self.replies.append(answer)
        if "Something went wrong" in answer:
            self.errors.append(f"{text!r}: {answer[:200]}")
        return elapsed

    def short_turns(self, case: str, turns: int) -> None:
        for turn in range(turns):
            message = SHORT_MESSAGES[(turn + self.index) % len(SHORT_MESSAGES)]
            self.latencies.setdefault(case, []).append(self.send(message))

    def record(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if key != "client"}


def make_client(url: str) -> Any:
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False, analytics_enabled=False)


def all_at_once(sessions: list[Session], work: Callable[[Session], None]) -> None:
    """Run `work` for every session in its own thread, started together."""
    barrier = threading.Barrier(len(sessions))

    def one(session: Session) -> None:
        barrier.wait()
        work(session)

    threads = [threading.Thread(target=one, args=(session,)) for session in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def client_process(url: str, files: dict[int, str], turns: int, barrier: Any, results: Any) -> None:
    """One client process: its sessions plan, one of them may be the baseline, then all send short turns.

    Every phase ends at `barrier`, shared with the other client processes and the conductor."""
    from gradio_client import handle_file

    sessions = [Session(index, Path(path).name, client=make_client(url)) for index, path in files.items()]
    barrier.wait(PHASE_TIMEOUT_S)  # ready

    def plan(session: Session) -> None:
        message = "fine-tune a classifier on this"
        session.latencies["plan"] = [session.send(message, [handle_file(files[session.index])])]

    all_at_once(sessions, plan)
    barrier.wait(PHASE_TIMEOUT_S)  # planned
    if 0 in files:
        sessions[0].short_turns("alone", turns)
    barrier.wait(PHASE_TIMEOUT_S)  # baseline done
    cpu = time.process_time()
    all_at_once(sessions, lambda session: session.short_turns("load", turns))
    cpu = time.process_time() - cpu
    barrier.wait(PHASE_TIMEOUT_S)  # load done
    results.put({"sessions": [session.record() for session in sessions], "load_cpu_s": cpu})


class UiProcess:
    """`tunechat ui` (guided mode) in its own process over a temporary workspace."""

    def __init__(self, home: Path, env: dict[str, str]):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = (home.parent / "ui.log").open("wb")
        command = [sys.executable, "-m", "ui.cli", "ui", "--port", str(self.port), "--llm", "guided"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout_s: float = 180) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the UI exited with {self.process.returncode}; see {self.log.name}")
            try:
                if httpx.get(self.url + "config", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"the UI did not answer within {timeout_s:.0f} s; see {self.log.name}")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def run_row(home: Path, run_id: int) -> tuple[str, int | None, dict[str, Any]]:
    """A run's status, worker pid and progress.json, read as any other process would."""
    from trainer.core.fileio import read_json_object

    with sqlite3.connect(home / "tunechat.db") as db:
        row = db.execute("SELECT status, pid FROM runs WHERE id = ?", (run_id,)).fetchone()
    progress = read_json_object(home / "runs" / f"run-{run_id}" / "progress.json")
    return (row[0], row[1], progress) if row else ("missing", None, progress)


def start_training(ui: UiProcess, data: Path, model: str | None, epochs: int) -> tuple[Session, int]:
    from gradio_client import handle_file

    trainer = Session(-1, data.name, client=make_client(ui.url))
    trainer.send("fine-tune a classifier on this", [handle_file(str(data))])
    trainer.send(f"use model {model} and {epochs} epochs" if model else f"use {epochs} epochs")
    trainer.send("go")
    if trainer.errors or "Started **run" not in trainer.replies[-1]:
        raise SystemExit(f"the training run did not start: {trainer.errors or trainer.replies[-1][:300]}")
    return trainer, int(trainer.replies[-1].split("Started **run ", 1)[1].split("**", 1)[0])


def wait_training(home: Path, run_id: int, timeout_s: float) -> int:
    """Wait for the run's first training step; return its worker's pid."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, pid, progress = run_row(home, run_id)
        if status == "running" and pid and progress.get("step"):
            return int(pid)
        if status in ("failed", "succeeded", "cancelled"):
            raise SystemExit(f"the training run ended ({status}) before the load started: {progress}")
        time.sleep(1)
    raise SystemExit(f"the training run did not reach its first step within {timeout_s:.0f} s")


def stop_workers(home: Path) -> None:
    """Never leave a training worker of this benchmark's workspace behind, whatever went wrong."""
    if not (home / "tunechat.db").is_file():
        return
    with sqlite3.connect(home / "tunechat.db") as db:
        pids = [row[0] for row in db.execute("SELECT pid FROM runs WHERE status IN ('queued', 'running') AND pid")]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(int(pid), signal.SIGTERM)  # a worker leads its own process group


def server_times(home: Path, session_ids: list[str], last: int) -> list[float]:
    """Seconds between each of the last `last` user messages and the answer stored after it, per session."""
    spans: list[float] = []
    with sqlite3.connect(home / "tunechat.db") as db:
        for session_id in session_ids:
            query = "SELECT role, created_at FROM messages WHERE session_id = ? ORDER BY id"
            rows = db.execute(query, (session_id,)).fetchall()
            pairs = [
                (a[1], b[1]) for a, b in zip(rows, rows[1:], strict=False) if (a[0], b[0]) == ("user", "assistant")
            ]
            spans += [answered - asked for asked, answered in pairs[-last:]]
    return spans


def p95(values: list[float]) -> float:
    return sorted(values)[round(0.95 * (len(values) - 1))] if values else float("nan")


def summary(values: list[float]) -> str:
    if not values:
        return "no samples"
    median, top = statistics.median(values), max(values)
    return f"p50 {median:6.3f} s   p95 {p95(values):6.3f} s   max {top:6.3f} s   (n={len(values)})"


def isolation_problems(home: Path, sessions: list[Session]) -> list[str]:
    """What any session could see of another: file names in replies or its stored chat, uploads, plans."""
    from tools.context import ToolContext
    from tools.pending import pending_action
    from trainer.core.workspace import Workspace
    from trainer.store.registry import Registry

    workspace = Workspace(home)
    registry = Registry(workspace.db_path)
    problems = []
    for session in sessions:
        others = [other.file_name for other in sessions if other.index != session.index]
        with sqlite3.connect(workspace.db_path) as db:
            query = "SELECT content FROM messages WHERE session_id = ?"
            stored = [row[0] for row in db.execute(query, (session.session_id,))]
        for where, texts in (("was shown", session.replies), ("has in its stored chat", stored)):
            seen = sorted({name for name in others for text in texts if name in text})
            if seen:
                problems.append(f"session {session.index} {where} {seen}")
        folder = workspace.uploads_for(session.session_id)
        uploads = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        if uploads != [session.file_name]:
            problems.append(f"session {session.index}'s upload folder holds {uploads}")
        plan = pending_action(ToolContext(workspace, registry, session.session_id))
        if plan is not None and session.file_name not in str(plan["arguments"]):
            problems.append(f"session {session.index}'s waiting plan is not about its file: {plan['arguments']}")
    return problems


def conduct(args: argparse.Namespace, scratch: Path, home: Path, ui: UiProcess) -> int:
    """Start the run, drive the client processes through their phases, then print the figures."""
    trainer, run_id = start_training(
        ui, write_reviews(scratch / "train-data.tsv", args.rows, 0), args.model, args.epochs
    )
    worker = wait_training(home, run_id, timeout_s=300)
    print(f"run {run_id} is training ({run_row(home, run_id)[2].get('total_steps')} steps)", flush=True)

    tag = f"{random.randrange(16**6):06x}"  # file names no reply could contain by chance
    files = {i: str(write_reviews(scratch / f"load-{i:02d}-{tag}.tsv", 40, i + 1)) for i in range(args.sessions)}
    processes = min(args.client_processes, args.sessions)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes + 1), context.Queue()
    shares = [{i: files[i] for i in range(args.sessions) if i % processes == p} for p in range(processes)]
    clients = [
        context.Process(target=client_process, args=(ui.url, share, args.turns, barrier, results)) for share in shares
    ]
    for process in clients:
        process.start()
    walls: dict[str, float] = {}
    ui_cpu: dict[str, float] = {}
    barrier.wait(PHASE_TIMEOUT_S)  # every client is connected
    for phase in ("plan", "alone", "load"):
        started, cpu = time.perf_counter(), cpu_seconds(ui.process.pid)
        worker_cpu = cpu_seconds(worker)
        barrier.wait(PHASE_TIMEOUT_S)
        walls[phase], ui_cpu[phase] = time.perf_counter() - started, cpu_seconds(ui.process.pid) - cpu
    worker_cores = (cpu_seconds(worker) - worker_cpu) / walls["load"]
    reports = [results.get(timeout=PHASE_TIMEOUT_S) for _ in clients]
    for process in clients:
        process.join(timeout=60)
    sessions = sorted((Session(**record) for report in reports for record in report["sessions"]), key=lambda s: s.index)
    client_cpu = sum(report["load_cpu_s"] for report in reports)
    status_after, _, progress_after = run_row(home, run_id)
    problems = isolation_problems(home, sessions)
    trainer.send("stop")

    latencies = {case: [x for s in sessions for x in s.latencies.get(case, [])] for case in ("plan", "alone", "load")}
    server = {
        "alone": server_times(home, [sessions[0].session_id], args.turns),
        "load": server_times(home, [s.session_id for s in sessions], args.turns),
    }
    n = args.sessions
    print()
    print(f"upload + plan, {n} at once:   {summary(latencies['plan'])}   wall {walls['plan']:.1f} s")
    for case, title in (("alone", "1 session alone, short:"), ("load", f"{n} sessions at once, short:")):
        turns = len(latencies[case])
        print(f"{title:30s} {summary(latencies[case])}   wall {walls[case]:.1f} s")
        print(f"   of which the assistant:     {summary(server[case])}")
        print(f"   UI process CPU per turn:    {ui_cpu[case] / max(turns, 1) * 1000:.0f} ms")
    print(f"   client CPU per turn:        {client_cpu / max(len(latencies['load']), 1) * 1000:.0f} ms (load case)")
    ratio = p95(latencies["load"]) / p95(latencies["alone"])
    met = "met" if p95(latencies["load"]) < GOAL_P95_S else "missed"
    print(f"p95 load / alone: {ratio:.1f}x; goal p95 < {GOAL_P95_S:.0f} s under load: {met}")
    print(
        f"training run {run_id}: {worker_cores:.1f} cores busy during the load; now {status_after}, "
        f"step {progress_after.get('step')}/{progress_after.get('total_steps')}"
    )
    errors = [f"session {s.index}: {error}" for s in sessions for error in s.errors]
    for title, found in (("errors", errors), ("isolation problems", problems)):
        print(f"{title}: {len(found)}")
        for line in found[:10]:
            print("  " + line)
    return 1 if errors or problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20, help="chat sessions at once in the load case")
    parser.add_argument("--turns", type=int, default=6, help="short messages each session sends per case")
    parser.add_argument("--client-processes", type=int, default=4, help="processes the sessions are spread over")
    parser.add_argument("--rows", type=int, default=400, help="rows of the training run's data")
    parser.add_argument("--epochs", type=int, default=40, help="epochs of the training run (it is stopped at the end)")
    parser.add_argument("--model", help="base model of the training run (default: the plan's, all-MiniLM-L6-v2)")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="tunechat-load-"))
    home = scratch / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TUNECHAT_"))}
    env |= {"TUNECHAT_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env |= {"GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}
    print(f"workspace {home}; {os.cpu_count()} cores; {args.sessions} sessions x {args.turns} turns", flush=True)
    ui = UiProcess(home, env)
    try:
        ui.wait_ready()
        return conduct(args, scratch, home, ui)
    finally:
        stop_workers(home)
        ui.close()


if __name__ == "__main__":
    sys.exit(main())
