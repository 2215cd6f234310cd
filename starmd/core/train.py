"""Training: block-causal windows, context noise, Δt conditioning; one process or torchrun DDP.

Determinism: every random draw of step ``s`` comes from generators seeded by ``(seed, s)`` (which
windows form the global batch) and ``(seed, s, j)`` (the diffusion time, context noise and noise of
global sample ``j``). The learning rate is a function of the step. Hence

* ``--resume`` continues exactly as an uninterrupted run would (no RNG state to restore), and
* K DDP processes with batch B each see the same samples and noise as one process with batch K·B
  (rank r takes global samples r·B … (r+1)·B − 1), so they end with the same weights up to
  floating-point summation order.

Rank 0 alone writes checkpoints, the metrics log (``metrics.jsonl``) and the loss curve PNG.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from starmd.core.checkpoint import check_same_model, read_checkpoint, save_checkpoint
from starmd.core.specs import TrainingSpec, save_spec
from starmd.errors import StarMDError, TrainingError

# --------------------------------------------------------------------------- seeding


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (stable across processes and Python runs)."""
    digest = hashlib.blake2b(",".join(str(int(p)) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def make_generator(*parts: int, device: str | torch.device = "cpu") -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(*parts))
    return gen


# --------------------------------------------------------------------------- schedule and EMA


def learning_rate(spec: TrainingSpec, step: int) -> float:
    """Linear warm-up to ``spec.lr`` over ``warmup_steps``, then cosine decay to ``lr·min_lr_ratio``."""
    if spec.warmup_steps and step < spec.warmup_steps:
        return spec.lr * (step + 1) / spec.warmup_steps
    span = max(spec.steps - spec.warmup_steps, 1)
    progress = min(max(step - spec.warmup_steps, 0) / span, 1.0)
    floor = spec.lr * spec.min_lr_ratio
    return floor + 0.5 * (spec.lr - floor) * (1.0 + math.cos(math.pi * progress))


class EMA:
    """Exponential moving average of a module's floating-point parameters and buffers (float32 copies)."""

    def __init__(self, module: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.state = {k: v.detach().clone().float() if v.is_floating_point() else v.detach().clone()
                      for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        for k, v in module.state_dict().items():
            if v.is_floating_point():
                self.state[k].mul_(self.decay).add_(v.detach().float(), alpha=1.0 - self.decay)
            else:
                self.state[k].copy_(v)

    def load(self, state: dict[str, torch.Tensor]) -> None:
        for k, v in state.items():
            if k in self.state:
                self.state[k].copy_(v)


# --------------------------------------------------------------------------- distributed


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: torch.device) -> DistInfo:
    """Initialise torch.distributed when launched by torchrun (WORLD_SIZE > 1): nccl on GPU, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def resolve_device(choice: str, local_rank: int = 0) -> torch.device:
    """``auto`` → CUDA when available (one GPU per local rank), else CPU."""
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise StarMDError("device 'cuda' requested but no CUDA device is available")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


# --------------------------------------------------------------------------- results


@dataclass
class TrainResult:
    """What a training run leaves behind."""

    out_dir: Path
    last_checkpoint: Path | None
    step: int
    history: list[dict] = field(default_factory=list)
    skipped_steps: int = 0


# --------------------------------------------------------------------------- main loop


class Trainer:
    """Holds model, optimizer, EMA and data for one run; ``run()`` trains to ``spec.steps``."""

    def __init__(self, spec: TrainingSpec, resume: str | os.PathLike | None = None, progress: bool = True,
                 dataset=None, val_dataset=None) -> None:
        from starmd.core.data import WindowDataset
        from starmd.core.diffusion import SE3Diffuser
        from starmd.core.model import build_model

        self.spec = spec
        self.device = resolve_device(spec.device, int(os.environ.get("LOCAL_RANK", "0")))
        self.dist = setup_distributed(self.device)
        self.progress = progress and self.dist.is_main
        torch.manual_seed(derive_seed(spec.seed, 0))
        self.dataset = dataset if dataset is not None else WindowDataset(spec.data, split="train")
        if len(self.dataset) == 0:
            raise StarMDError("training data: no windows (check data.manifest / data.window / data.strides)")
        self.val_dataset = val_dataset
        if self.val_dataset is None:
            try:
                self.val_dataset = WindowDataset(spec.data, split="val")
            except StarMDError:
                self.val_dataset = None
        self.model = build_model(spec.model).to(self.device)
        self.diffuser = SE3Diffuser(spec.diffusion)
        self.ema = EMA(self.model, spec.ema_decay)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
        self.step = 0
        self.out_dir = Path(spec.out_dir)
        self.history: list[dict] = []
        self.skipped = 0
        if resume is not None:
            self._resume(resume)
        from starmd.core.objective import DenoiseWrapper

        self.ddp_model = DenoiseWrapper(self.model)
        if self.dist.world > 1:
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(
                self.ddp_model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    # ------------------------------------------------------------------ checkpoints
    def _resume(self, path) -> None:
        data = read_checkpoint(path, map_location="cpu")
        check_same_model(data, self.spec.model, path)
        self.model.load_state_dict(data.model_state)
        if data.ema_state:
            self.ema.load(data.ema_state)
        if data.optimizer_state is not None:
            self.optimizer.load_state_dict(data.optimizer_state)
        self.step = data.step
        log = self.out_dir / "metrics.jsonl"
        if log.exists():
            self.history = [r for r in map(json.loads, log.read_text().splitlines()) if r.get("step", 0) <= self.step]

    def save(self, name: str = "last.ckpt") -> Path | None:
        if not self.dist.is_main:
            return None
        path = save_checkpoint(self.out_dir / "checkpoints" / name, self.model, self.spec, step=self.step,
                               ema_state=self.ema.state, optimizer=self.optimizer,
                               info={"skipped_steps": self.skipped})
        return path

    # ------------------------------------------------------------------ batches
    def global_batch_indices(self, step: int, micro: int) -> list[int]:
        """Indices of this rank's windows for (step, micro-batch): a slice of one global draw."""
        per_rank = self.spec.batch_size
        gen = make_generator(self.spec.seed, 1, step, micro)
        draw = [self._draw(self.dataset, gen) for _ in range(per_rank * self.dist.world)]
        return draw[self.dist.rank * per_rank:(self.dist.rank + 1) * per_rank]

    @staticmethod
    def _draw(dataset, gen: torch.Generator) -> int:
        """One window index: Δt log-uniform over the strides available (dataset.sample_index) when offered."""
        if hasattr(dataset, "sample_index"):
            return int(dataset.sample_index(gen))
        return int(torch.randint(len(dataset), (1,), generator=gen))

    def load_batch(self, dataset, indices: list[int]) -> dict:
        from starmd.core.data import collate_windows

        batch = collate_windows([dataset[i] for i in indices])
        return {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in batch.items()}

    # ------------------------------------------------------------------ one step
    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step(self) -> dict:
        from starmd.core.objective import compute_loss

        step = self.step
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.spec, step)
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, float] = {}
        accum = self.spec.grad_accum
        for micro in range(accum):
            indices = self.global_batch_indices(step, micro)
            batch = self.load_batch(self.dataset, indices)
            first = self.dist.rank * self.spec.batch_size
            sample_ids = [derive_seed(self.spec.seed, 2, step, micro, first + j) for j in range(len(indices))]
            sync = contextlib.nullcontext()
            if self.dist.world > 1 and micro < accum - 1:
                sync = self.ddp_model.no_sync()
            with sync:
                with self._autocast():
                    loss, terms = compute_loss(self.ddp_model, self.diffuser, batch, self.spec, sample_ids, train=True)
                (loss / accum).backward()
            for k, v in terms.items():
                totals[k] = totals.get(k, 0.0) + float(v) / accum
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.spec.grad_clip)
        finite = torch.tensor([float(torch.isfinite(grad_norm)) * float(math.isfinite(totals.get("loss", 0.0)))],
                              device=self.device)
        if self.dist.world > 1:
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        ok = bool(finite.item() > 0)
        if ok:
            self.optimizer.step()
            self.ema.update(self.model)
        self.optimizer.zero_grad(set_to_none=True)
        totals.update(grad_norm=float(grad_norm), lr=learning_rate(self.spec, step), finite=ok)
        return totals

    @torch.no_grad()
    def validation_loss(self, n_batches: int = 4) -> float | None:
        from starmd.core.objective import compute_loss

        if self.val_dataset is None or len(self.val_dataset) == 0:
            return None
        self.model.eval()
        losses = []
        for b in range(n_batches):
            gen = make_generator(self.spec.seed, 3, b)
            idx = [self._draw(self.val_dataset, gen) for _ in range(self.spec.batch_size)]
            batch = self.load_batch(self.val_dataset, idx)
            ids = [derive_seed(self.spec.seed, 4, b, j) for j in range(len(idx))]
            loss, _ = compute_loss(self.model, self.diffuser, batch, self.spec, ids, train=False)
            losses.append(float(loss))
        self.model.train()
        return sum(losses) / len(losses)

    # ------------------------------------------------------------------ loop
    def _log(self, record: dict) -> None:
        self.history.append(record)
        if not self.dist.is_main:
            return
        with open(self.out_dir / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def run(self) -> TrainResult:
        from starmd.core.progress import progress_bar

        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            save_spec(self.spec, self.out_dir / "spec.yaml")
            log = self.out_dir / "metrics.jsonl"
            if log.exists():  # drop records past the resumed step (an interrupted run may have logged further)
                kept = [r for r in log.read_text().splitlines() if json.loads(r).get("step", 0) <= self.step]
                log.write_text("".join(line + "\n" for line in kept))
        self.model.train()
        bad_in_a_row = 0
        last_ckpt = None
        start = time.perf_counter()
        start_step = self.step
        with progress_bar("train", total=self.spec.steps, completed=self.step, enabled=self.progress, unit="step") as bar:
            while self.step < self.spec.steps:
                terms = self.train_step()
                if not terms["finite"]:
                    self.skipped += 1
                    bad_in_a_row += 1
                    if bad_in_a_row >= self.spec.max_bad_steps:
                        raise TrainingError(
                            f"training stopped at step {self.step}: {bad_in_a_row} non-finite losses/gradients in a row "
                            f"(last good checkpoint: {self.out_dir / 'checkpoints' / 'last.ckpt'})")
                else:
                    bad_in_a_row = 0
                self.step += 1
                elapsed = time.perf_counter() - start
                rate = (self.step - start_step) / max(elapsed, 1e-9)
                bar.update(self.step, loss=terms.get("loss", float("nan")), rate=rate)
                is_val = self.step % self.spec.val_every == 0 or self.step == self.spec.steps
                if self.step % self.spec.log_every == 0 or is_val:
                    record = {"step": self.step, "time_s": round(elapsed, 3), "steps_per_s": rate, "skipped": self.skipped,
                              **{k: v for k, v in terms.items() if k != "finite"}}
                    if is_val:
                        record["val_loss"] = self.validation_loss()
                    self._log(record)
                if self.step % self.spec.checkpoint_every == 0 or self.step == self.spec.steps:
                    last_ckpt = self.save()
        if self.dist.is_main:
            plot_loss_curves(self.history, self.out_dir / "loss_curve.png")
        if self.dist.world > 1:
            dist.barrier()
        return TrainResult(out_dir=self.out_dir, last_checkpoint=last_ckpt or (self.out_dir / "checkpoints" / "last.ckpt"),
                           step=self.step, history=self.history, skipped_steps=self.skipped)


def plot_loss_curves(history: list[dict], path: Path) -> None:
    """Training (and validation) loss against step as a PNG, written atomically."""
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(steps, [r.get("loss", float("nan")) for r in history], label="train")
    val = [(r["step"], r["val_loss"]) for r in history if r.get("val_loss") is not None]
    if val:
        ax.plot(*zip(*val), "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title("starmd training loss")
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


def train(spec: TrainingSpec, resume: str | os.PathLike | None = None, progress: bool = True) -> TrainResult:
    """Train a model described by ``spec``; resume from a checkpoint if given. Returns a TrainResult."""
    return Trainer(spec, resume=resume, progress=progress).run()


__all__ = ["train", "Trainer", "TrainResult", "EMA", "learning_rate", "derive_seed", "make_generator"]
