"""One rank of the 2-rank gloo job the torchrun test launches: all-reduces for a while."""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist

import wattwise


def main() -> None:
    dist.init_process_group("gloo")
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    with wattwise.measure("allreduce") as region:
        x = torch.ones(384, 384)
        for _ in range(steps):
            y = x @ x
            dist.all_reduce(y)
        if os.environ.get("WATTWISE_TEST_DIE_RANK") == os.environ["RANK"]:
            os._exit(3)  # a rank that dies mid-run
    dist.destroy_process_group()
    print(f"rank {os.environ['RANK']} measured {region.result is not None}", flush=True)


if __name__ == "__main__":
    main()
