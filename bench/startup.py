"""Start-up time: from starting ``python app.py --no-browser`` to the page answering HTTP 200.

Measured side by side in one run, interleaved (A B C, A B C, ...), each a fresh process:

- ``chunky``: ``python app.py --no-browser --port P`` with a local model installed (the trained digits
  model, so the background warm-up has a model to load, as on a user's PC);
- ``gradio_minimal``: a minimal Gradio page (import gradio, one Blocks with one button, launch);
- ``nemo_import``: ``python -c "import nemo.collections.asr"`` (to its exit).

Target: Chunky's page answers within 1.3x of the minimal Gradio page. Chunky's page must not wait for
NeMo: it is imported (and the default model loaded) in the background after the page is up.

    .venv/bin/python bench/startup.py --repeats 5 --write-results
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

from common import (
    REPO_ROOT,
    concurrent_load,
    describe_load,
    machine_info,
    markdown_table,
    write_results_section,
)

MINIMAL_GRADIO = textwrap.dedent("""
    import sys
    import gradio as gr

    with gr.Blocks() as page:
        gr.Button("Go")
    page.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]), prevent_thread_lock=False)
""")

TARGET = 1.3


def gradio_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("gradio")
    except metadata.PackageNotFoundError:
        return "not installed"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 180.0) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the process exited with {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter()
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def run_server(cmd: list[str], env: dict[str, str], log: Path) -> float:
    port = free_port()
    cmd = [c.replace("{port}", str(port)) for c in cmd]
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=str(REPO_ROOT), stdout=fh, stderr=subprocess.STDOUT)
        try:
            t1 = wait_http(f"http://127.0.0.1:{port}/", proc)
        finally:
            stop(proc)
    return t1 - t0


def run_import(env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import nemo.collections.asr"], env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="chunky-startup-"))
    home = work / "home"
    (home / "local_models").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "tests" / "assets" / "digits-ctc.nemo", home / "local_models" / "digits.nemo")
    minimal = work / "minimal_gradio.py"
    minimal.write_text(MINIMAL_GRADIO, "utf-8")
    log = work / "startup.log"
    env = dict(os.environ, CHUNKY_HOME=str(home), CHUNKY_DEVICE="cpu", GRADIO_ANALYTICS_ENABLED="False",
               PYTHONUNBUFFERED="1")
    methods = {
        "chunky": lambda: run_server([sys.executable, str(REPO_ROOT / "app.py"), "--no-browser", "--port",
                                      "{port}"], env, log),
        "gradio_minimal": lambda: run_server([sys.executable, str(minimal), "{port}"], env, log),
        "nemo_import": lambda: run_import(env),
    }
    machine = machine_info()
    print(f"machine: {machine['cpu']}, {machine['cores']} cores; {machine['gpu']}")
    # One unmeasured round: the first start after an install compiles .pyc files and warms the page cache.
    for name, fn in methods.items():
        print(f"warm-up {name}: {fn():.2f} s", flush=True)
    load = concurrent_load()
    times: dict[str, list[float]] = {name: [] for name in methods}
    for rep in range(args.repeats):
        for name, fn in methods.items():
            seconds = fn()
            times[name].append(seconds)
            print(f"[{rep + 1}/{args.repeats}] {name:15s} {seconds:6.2f} s", flush=True)
    med = {name: statistics.median(v) for name, v in times.items()}
    ratio = med["chunky"] / med["gradio_minimal"]
    met = "met" if ratio <= TARGET else "NOT met"
    print(f"chunky / gradio_minimal: {ratio:.2f}x (target <= {TARGET}x: {met})")
    print(f"chunky / nemo_import: {med['chunky'] / med['nemo_import']:.2f}x")

    if args.write_results:
        rows = [[name, f"{med[name]:.2f} s", f"{min(v):.2f} s", f"{max(v):.2f} s"]
                for name, v in times.items()]
        versions = machine["versions"]
        body = "\n".join([
            f"Run {dt.datetime.now():%Y-%m-%d %H:%M} with `python bench/startup.py --repeats {args.repeats} "
            "--write-results`.",
            "",
            f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GB RAM, Python "
            f"{machine['python']}, gradio {gradio_version()}, torch {versions['torch']}, nemo_toolkit "
            f"{versions['nemo_toolkit']}; {machine['gpu']}.",
            f"- Concurrent load: {describe_load(load)}",
            "- Each start is a fresh process, interleaved, after one unmeasured warm-up round; `chunky` and "
            "`gradio_minimal` are timed to the first HTTP 200 of `/`, `nemo_import` to the process's exit. "
            "Chunky runs with one local model (the trained digits model) and `CHUNKY_DEVICE=cpu`.",
            "",
            markdown_table(["method", "median", "min", "max"], rows),
            "",
            f"- `chunky` / `gradio_minimal`: **{ratio:.2f}x** (medians) - target <= {TARGET}x: {met}",
            f"- `chunky` / `nemo_import`: {med['chunky'] / med['nemo_import']:.2f}x: the page does not wait "
            "for NeMo, which is imported in a background thread after the server is up.",
        ])
        write_results_section("Startup", body)
        print("wrote the Startup section of bench/RESULTS.md")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
