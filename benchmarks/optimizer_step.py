"""One optimiser step of PyTorch's fused kernels (what ocularis trains with on a CPU or GPU) relative to its default
per-tensor loop, on the parameters of real models of every task. The gradients are random: a step's cost does not
depend on their values. Both sides run in this process, alternately, on the same parameters.

    python benchmarks/optimizer_step.py                 # one thread, as a data-loading or busy machine leaves
    python benchmarks/optimizer_step.py --threads 2 --steps 50
"""

import argparse
import time

import torch

from ocularis.tasks.classify.model import build_network
from ocularis.tasks.segment.model import build_segmenter

MODELS = {
    "lenet5": lambda: build_network("lenet5", num_classes=10, in_channels=1),
    "resnet18": lambda: build_network("resnet18", num_classes=10, in_channels=3),
    "mobilenet_v3_small": lambda: build_network("mobilenet_v3_small", num_classes=10, in_channels=3),
    "yolo_seg": lambda: build_segmenter("yolo_seg", num_classes=6, in_channels=3, imgsz=64),
    "unet": lambda: build_segmenter("unet", num_classes=6, in_channels=3, imgsz=64),
}
OPTIMIZERS = {
    "adamw": lambda params, **kind: torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-4, **kind),
    "sgd": lambda params, **kind: torch.optim.SGD(params, lr=1e-4, momentum=0.9, nesterov=True, weight_decay=1e-4,
                                                  **kind),
}


def step_ms(optimizer: torch.optim.Optimizer, steps: int) -> float:
    for _ in range(3):  # warm-up: the state tensors are made on the first step
        optimizer.step()
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    return (time.perf_counter() - start) / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("| model | parameters | optimiser | default loop ms | fused ms | speed-up |\n|---|---|---|---|---|---|")
    for name, build in MODELS.items():
        params = [p for p in build().parameters() if p.requires_grad]
        for p in params:
            p.grad = torch.randn_like(p)
        count = sum(p.numel() for p in params)
        for optimizer, make in OPTIMIZERS.items():
            default, fused = step_ms(make(params, foreach=False), args.steps), step_ms(make(params, fused=True),
                                                                                         args.steps)
            print(f"| {name} | {count / 1e6:.2f} M | {optimizer} | {default:.2f} | {fused:.2f} | "
                  f"{default / fused:.1f}x |")


if __name__ == "__main__":
    main()
