"""Load test of `ocularis serve` on loopback: concurrent clients send real images, with and without micro-batching.

    python benchmarks/serve_load.py --model runs/classify/lenet5/best.ckpt --requests 1000 --concurrency 32

Starts the server in a separate process for each setting (--max-batch 1, then --max-batch N), sends the same requests,
and prints errors, latency p50/p95 and throughput for both, and the batching speed-up. With no --model it first trains
LeNet-5 on the built-in digits. Images come from --images (a folder) or, by default, the digits.
"""

import argparse
import asyncio
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image


def digit_pngs(count: int = 64) -> list[tuple[str, bytes]]:
    from sklearn.datasets import load_digits

    images = []
    for index, pixels in enumerate(load_digits().images[:count]):
        buffer = io.BytesIO()
        Image.fromarray((pixels * 255 / 16).astype(np.uint8)).save(buffer, format="PNG")
        images.append((f"digit{index}.png", buffer.getvalue()))
    return images


def folder_images(folder: Path, count: int = 64) -> list[tuple[str, bytes]]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:count]
    return [(p.name, p.read_bytes()) for p in files]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def wait_until_up(url: str, server: subprocess.Popen) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            if server.poll() is not None:
                raise RuntimeError(f"the server exited: {server.stderr.read().decode()}")
            try:
                if (await client.get(url + "/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not come up")


async def load(url: str, name: str, images: list[tuple[str, bytes]], requests: int, concurrency: int) -> dict:
    """`requests` single-image predictions from `concurrency` clients; per-request latency and errors."""
    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(requests))

    async def client_loop(client: httpx.AsyncClient) -> None:
        for index in counter:
            filename, data = images[index % len(images)]
            started = time.perf_counter()
            try:
                response = await client.post(f"/v1/models/{name}/predict", files=[("image", (filename, data))])
                if response.status_code != 200:
                    errors.append(f"{response.status_code}: {response.text[:100]}")
            except httpx.HTTPError as error:
                errors.append(type(error).__name__)
            latencies.append(time.perf_counter() - started)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*[client_loop(client) for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
    p50, p95 = np.percentile(latencies, [50, 95]) * 1000
    return {"requests": requests, "errors": len(errors), "first_errors": errors[:3], "p50_ms": p50, "p95_ms": p95,
            "requests_per_s": requests / elapsed}


def run_setting(model: str, max_batch: int, args, images) -> dict:
    port = free_port()
    command = [sys.executable, "-m", "ocularis", "serve", "--model", f"bench={model}", "--port", str(port),
               "--max-batch", str(max_batch), "--max-wait-ms", str(args.max_wait_ms)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(wait_until_up(url, server))
        asyncio.run(load(url, "bench", images, min(50, args.requests), args.concurrency))  # warm-up
        return asyncio.run(load(url, "bench", images, args.requests, args.concurrency))
    finally:
        server.terminate()
        server.wait(timeout=30)


def trained_digits_model(folder: str) -> str:
    import ocularis

    run = ocularis.Classifier(model="lenet5", lr=0.003, progress=False, project=folder).fit("digits", epochs=5)
    return str(run.best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="checkpoint or exported file (default: LeNet-5 trained on digits now)")
    parser.add_argument("--images", type=Path, help="folder of images to send (default: the digits)")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    args = parser.parse_args()
    images = folder_images(args.images) if args.images else digit_pngs()
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model or trained_digits_model(scratch)
        results = {batch: run_setting(model, batch, args, images) for batch in (1, args.max_batch)}
    print(f"\n{Path(model)} · {args.requests} requests · {args.concurrency} concurrent clients · "
          f"{os.cpu_count()} CPUs · max wait {args.max_wait_ms:g} ms")
    print(f"{'max batch':>10} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8}")
    for batch, result in results.items():
        print(f"{batch:>10} {result['errors']:>7} {result['p50_ms']:>8.1f} {result['p95_ms']:>8.1f} "
              f"{result['requests_per_s']:>8.1f}")
        for error in result["first_errors"]:
            print(f"           {error}")
    speedup = results[args.max_batch]["requests_per_s"] / results[1]["requests_per_s"]
    print(f"micro-batching throughput: {speedup:.2f}x the unbatched server")


if __name__ == "__main__":
    main()
