"""Task round trip (send -> worker runs it -> result back) on the embedded broker vs Redis.

The embedded default polls a folder of message files; Redis pushes. This shows what the
zero-setup default costs per task, so nobody mistakes it for a production broker.

    .venv/bin/python benchmarks/broker_roundtrip.py --tasks 100
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BROKERS = {"embedded": "filesystem://", "redis": "redis://127.0.0.1:6379/15"}


def measure(tasks: int) -> dict[str, float]:
    """Runs inside a child process whose environment names the broker."""
    sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from config.celery import ping
    from config.processes import celery_worker_command

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    worker = subprocess.Popen(
        celery_worker_command(
            queues=[queue],
            hostname=f"{queue}@%h",
            solo=True,
            loglevel="ERROR",
            quiet_cluster=True,
        ),
        cwd=REPO_ROOT,
    )
    try:
        ping.apply_async(queue=queue).get(timeout=120)  # warm: the worker is up
        latencies = []
        for _ in range(tasks):
            started = time.perf_counter()
            # A short poll interval, so the client side adds little to either broker.
            ping.apply_async(queue=queue).get(timeout=60, interval=0.005)
            latencies.append(time.perf_counter() - started)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    latencies.sort()
    return {
        "median_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--measure", choices=list(BROKERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.tasks)))
        return

    results = {}
    with tempfile.TemporaryDirectory() as data_dir:
        for name, url in BROKERS.items():
            env = {**os.environ, "CELERY_BROKER_URL": url, "DATA_DIR": data_dir}
            env.pop("DATABASE_URL", None)
            env.pop("CELERY_RESULT_BACKEND", None)
            out = subprocess.run(
                [sys.executable, __file__, "--measure", name, "--tasks", str(args.tasks)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            results[name] = json.loads(out.strip().splitlines()[-1])
    for name, r in results.items():
        print(f"{name:<9} median {r['median_ms']:8.1f} ms   p95 {r['p95_ms']:8.1f} ms")
    ratio = results["embedded"]["median_ms"] / results["redis"]["median_ms"]
    print(f"embedded/redis median round-trip ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
