"""Hugging Face ``Trainer`` with wattwise: energy per log line, per epoch, per phase.

A tiny BERT built from a config (nothing downloaded) learns scikit-learn's digits,
each image read as 64 tokens (pixel intensity 0-16). Runs on CPU in well under a
minute: ``python examples/hf_trainer.py``; then ``wattwise show <run id>``.
"""

from __future__ import annotations

import sys
import tempfile

import numpy as np
import torch

from wattwise.integrations.transformers import WattwiseCallback


class Digits(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __init__(self, train: bool) -> None:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        x, y = load_digits(return_X_y=True)
        x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.25, random_state=0)
        self.x = torch.from_numpy((x_tr if train else x_va).astype(np.int64))
        self.y = torch.from_numpy(y_tr if train else y_va).long()

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.x[i], "labels": self.y[i]}


def tiny_bert(width: int = 32, layers: int = 2) -> torch.nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=17,
        hidden_size=width,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * width,
        max_position_embeddings=64,
        num_labels=10,
    )
    return BertForSequenceClassification(config)


def trainer(
    out_dir: str, callbacks: list[object], *, max_steps: int = 60, **args: object
) -> object:
    from transformers import Trainer, TrainingArguments

    options = {
        "output_dir": out_dir,
        "max_steps": max_steps,
        "per_device_train_batch_size": 32,
        "per_device_eval_batch_size": 128,
        "learning_rate": 3e-3,
        "logging_steps": 10,
        "eval_strategy": "steps",
        "eval_steps": 30,
        "save_strategy": "steps",
        "save_steps": 30,
        "report_to": [],
        "use_cpu": True,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        **args,
    }
    return Trainer(
        model=tiny_bert(),
        args=TrainingArguments(**options),  # type: ignore[arg-type]
        train_dataset=Digits(train=True),
        eval_dataset=Digits(train=False),
        callbacks=callbacks,  # type: ignore[arg-type]
    )


def main() -> None:
    callback = WattwiseCallback("hf tiny-bert digits", every_n_steps=20)
    with tempfile.TemporaryDirectory() as out:
        t = trainer(out, [callback], report_to=sys.argv[1:] or [])
        t.train()  # type: ignore[attr-defined]
        for line in t.state.log_history:  # type: ignore[attr-defined]
            if "energy_j" in line:
                print({k: line[k] for k in ("step", "loss", "energy_j", "power_w") if k in line})
    r = callback.result
    if r is not None:
        print(f"run {r.meta.get('run_id')}: {r.energy_j:.1f} J, {r.co2e_g} gCO2e;")
        print(f"phases (J): {r.meta['phases_j']}")


if __name__ == "__main__":
    main()
