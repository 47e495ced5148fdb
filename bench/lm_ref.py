#!/usr/bin/python3
"""PyTorch reference for the LM benchmark (src/bench/lm.ts): training steps
and prefix-shared candidate scoring of a LLaMA-style model whose weights and
inputs llmrec wrote, so both sides compute with the same numbers.

    /usr/bin/python3 bench/lm_ref.py DIR [--task train|score|both]
                                         [--steps 10] [--warmup 3] [--threads auto|1|2]

DIR holds config.json (Hugging Face LLaMA config), weights.safetensors
(Hugging Face parameter names, F32) and inputs.safetensors with
  train_ids   [B, T] I32   training batch; labels are the ids themselves
                           (position t predicts token t+1, as causalLmLoss)
  prompt      [P] I32      the shared prompt
  candidates  [N, L] I32   candidate continuations, right-padded
  cand_len    [N] I32      their lengths (>= 1)

It prints exactly one JSON line on stdout:

    {"torch": ..., "threads": "1" | "2",
     "train": {"ms_median", "ms_min", "ms_all", "loss_first", "loss_last"},
     "score": {"ms_median", "ms_min", "ms_all", "scores": [...]}}

train: one step = zero_grad, forward, mean cross-entropy, backward,
AdamW(lr 1e-3, weight decay 0.01) step.
score: one call = the prompt's forward pass with its keys/values kept, the
cache expanded to the N candidates, one forward pass over the candidates
(all but their last token) and the sum of log-probabilities per candidate:
the same prefix sharing as llmrec's scoreContinuations.  Scores come from
the untrained weights (scoring runs before training).

Threads: as bench/torch_ref.py, OPENBLAS_NUM_THREADS=1 and
torch.set_num_threads(1 or 2); `auto` runs both in fresh subprocesses and
reports, per task, the faster one ("threads" then names the training winner,
"score_threads" the scoring one).
"""
import argparse
import json
import math
import os
import statistics
import struct
import subprocess
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

_NP = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


def load_safetensors(path):
    """name -> tensor (F32/F64/I32/I64 only; Debian's torch has no safetensors)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        arr = np.frombuffer(raw[8 + n + b: 8 + n + end], dtype=_NP[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


class Llama(nn.Module):
    """Hugging Face LLaMA (GQA, optional q/k/v biases, tied or untied head)
    with a key/value cache; parameters under Hugging Face's names."""

    def __init__(self, cfg, W):
        super().__init__()
        self.cfg = cfg
        self.d = cfg["hidden_size"]
        self.H = cfg["num_attention_heads"]
        self.G = cfg.get("num_key_value_heads") or self.H
        self.D = cfg.get("head_dim") or self.d // self.H
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.L = cfg["num_hidden_layers"]
        self.tied = bool(cfg.get("tie_word_embeddings"))
        theta = cfg.get("rope_theta", 10000.0)
        self.register_buffer("inv_freq", 1.0 / (theta ** (torch.arange(0, self.D, 2, dtype=torch.float32) / self.D)))
        self.params = nn.ParameterDict({k.replace(".", "__"): nn.Parameter(v.float().clone()) for k, v in W.items()})

    def w(self, name):
        return self.params[name.replace(".", "__")]

    def lin(self, name, h):
        y = h @ self.w(name + ".weight").T
        key = (name + ".bias").replace(".", "__")
        return y + self.params[key] if key in self.params else y

    def rms(self, x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w(name)

    def forward(self, ids, pos, key_mask=None, past=None):
        """ids, pos [B, T]; key_mask [B, P+T] (1 real) or None; past: list of
        (k, v) [B, G, P, D] or None.  Returns logits [B, T, V] and the cache."""
        B, T = ids.shape
        P = past[0][0].shape[2] if past is not None else 0
        fr = pos.float()[..., None] * self.inv_freq
        emb = torch.cat([fr, fr], -1)
        cos, sin = emb.cos()[:, None], emb.sin()[:, None]
        half = self.D // 2

        def rot(x):
            return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin

        i = torch.arange(T)[:, None] + P
        j = torch.arange(P + T)[None, :]
        ok = (j <= i)[None, None]
        if key_mask is not None:
            ok = ok & (key_mask[:, None, None, :] == 1)
        mask = torch.zeros(ok.shape).masked_fill(~ok, float("-inf"))

        x = self.w("model.embed_tokens.weight")[ids]
        present = []
        for n in range(self.L):
            p = f"model.layers.{n}."
            h = self.rms(x, p + "input_layernorm.weight")
            q = rot(self.lin(p + "self_attn.q_proj", h).view(B, T, self.H, self.D).transpose(1, 2))
            k = rot(self.lin(p + "self_attn.k_proj", h).view(B, T, self.G, self.D).transpose(1, 2))
            v = self.lin(p + "self_attn.v_proj", h).view(B, T, self.G, self.D).transpose(1, 2)
            if past is not None:
                k = torch.cat([past[n][0], k], 2)
                v = torch.cat([past[n][1], v], 2)
            present.append((k, v))
            if self.G != self.H:
                k = k.repeat_interleave(self.H // self.G, dim=1)
                v = v.repeat_interleave(self.H // self.G, dim=1)
            s = q @ k.transpose(-1, -2) / math.sqrt(self.D) + mask
            a = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, self.H * self.D)
            x = x + self.lin(p + "self_attn.o_proj", a)
            h = self.rms(x, p + "post_attention_layernorm.weight")
            x = x + self.lin(p + "mlp.down_proj", F.silu(self.lin(p + "mlp.gate_proj", h)) * self.lin(p + "mlp.up_proj", h))
        hidden = self.rms(x, "model.norm.weight")
        head = self.w("model.embed_tokens.weight") if self.tied else self.w("lm_head.weight")
        return hidden @ head.T, present


def score(model, prompt, cands, lens):
    """Sum of log P(candidate tokens | prompt) per candidate, prompt run once."""
    P = prompt.shape[0]
    N, Lmax = cands.shape
    logits, past = model(prompt[None], torch.arange(P)[None])
    first = torch.log_softmax(logits[0, -1], -1)
    out = first[cands[:, 0]].double()
    L = Lmax - 1
    if L > 0:
        ids = cands[:, :-1]
        valid = (torch.arange(L)[None, :] + 1) < lens[:, None]
        key_mask = torch.cat([torch.ones(N, P, dtype=torch.long), valid.long()], 1)
        pos = (torch.arange(L)[None, :] + P).expand(N, L)
        rep = [(k.expand(N, -1, -1, -1), v.expand(N, -1, -1, -1)) for k, v in past]
        logits, _ = model(ids, pos, key_mask, rep)
        lp = torch.log_softmax(logits, -1).gather(-1, cands[:, 1:, None])[..., 0]
        out = out + (lp * valid).sum(1).double()
    return out


def time_calls(fn, warmup, steps):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def summary(times):
    return {"ms_median": statistics.median(times), "ms_min": min(times), "ms_all": [round(t, 4) for t in times]}


def run_single(args):
    torch.set_num_threads(int(args.threads))
    torch.manual_seed(0)
    cfg = json.load(open(os.path.join(args.dir, "config.json")))
    W = load_safetensors(os.path.join(args.dir, "weights.safetensors"))
    I = load_safetensors(os.path.join(args.dir, "inputs.safetensors"))
    result = {"torch": torch.__version__, "threads": str(args.threads)}
    if args.task in ("score", "both"):
        model = Llama(cfg, W).eval()
        prompt, cands, lens = I["prompt"].long(), I["candidates"].long(), I["cand_len"].long()
        with torch.inference_mode():
            scores = score(model, prompt, cands, lens)
            times = time_calls(lambda: score(model, prompt, cands, lens), args.warmup, args.steps)
        result["score"] = dict(summary(times), scores=[float(s) for s in scores])
    if args.task in ("train", "both"):
        model = Llama(cfg, W).train()
        ids = I["train_ids"].long()
        B, T = ids.shape
        pos = torch.arange(T)[None].expand(B, T)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        losses = []

        def step():
            opt.zero_grad(set_to_none=True)
            logits, _ = model(ids, pos)
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
            loss.backward()
            opt.step()
            losses.append(loss.item())

        times = time_calls(step, args.warmup, args.steps)
        result["train"] = dict(summary(times), loss_first=losses[0], loss_last=losses[-1])
    return result


def run_auto(args):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    runs = {}
    for n in ("1", "2"):
        cmd = [sys.executable, os.path.abspath(__file__), args.dir, "--task", args.task, "--threads", n,
               "--warmup", str(args.warmup), "--steps", str(args.steps)]
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=True, universal_newlines=True)
        runs[n] = json.loads(proc.stdout.strip().splitlines()[-1])
    out = {"torch": torch.__version__}
    for task in ("train", "score"):
        if task in runs["1"]:
            best = min(runs, key=lambda n: runs[n][task]["ms_median"])
            out[task] = dict(runs[best][task], auto_ms_median={n: r[task]["ms_median"] for n, r in runs.items()})
            out["threads" if task == "train" else "score_threads"] = best
    if "threads" not in out:
        out["threads"] = out.get("score_threads")
    out.setdefault("score_threads", out["threads"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--task", default="both", choices=["train", "score", "both"])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", default="auto", choices=["auto", "1", "2"])
    args = ap.parse_args()
    result = run_auto(args) if args.threads == "auto" else run_single(args)
    if args.threads != "auto":
        result["score_threads"] = result["threads"]
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
