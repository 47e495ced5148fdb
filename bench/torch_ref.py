#!/usr/bin/python3
"""PyTorch reference timings for the TypeScript benchmark (`npm run bench`).

Each case re-creates, in PyTorch, exactly the workload that the TypeScript
side times, so the two sets of numbers can be compared directly.  Run it with
Debian's interpreter and Debian's python3-torch (torch 1.13.x):

    /usr/bin/python3 bench/torch_ref.py --case sasrec [--steps 10] [--warmup 3] [--threads auto]
    /usr/bin/python3 bench/torch_ref.py --case gemm --size 1024 --variant plain
    /usr/bin/python3 bench/torch_ref.py --case gemm --size 50 --variant attn_scores --batch 256 --dim 64
    /usr/bin/python3 bench/torch_ref.py --case sasrec_top10

It prints exactly one JSON line on stdout:

    {"case": ..., "ms_median": ..., "ms_min": ..., "ms_all": [...],
     "threads": "1" | "2", "torch": "<version>", ...}

Training cases ("sasrec", "gru4rec", "llama", "llama_lora") time one full
optimisation step per measurement: zero_grad, forward, loss, backward,
optimizer.step.  The inference case "sasrec_top10" times one no-grad call
(encode, score every item, top 10).  The "gemm" case times a single float32 matmul per measurement
and additionally reports "gflops" (from the median time).

Threads: the VM has 2 cores.  OpenBLAS always runs with OPENBLAS_NUM_THREADS=1
and torch's intra-op pool is set with torch.set_num_threads(1 or 2).
`--threads auto` (the default) runs the case once per setting, each in a fresh
subprocess (the OpenBLAS variable has to be in the environment before torch is
loaded), and reports the faster run; "threads" names the winner and
"auto_ms_median" lists both medians.  OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are
passed through untouched.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

# OpenBLAS reads its thread count when the library is loaded, i.e. when torch
# is imported, so pin it first.  An explicit value from the caller (e.g. the
# `auto` parent process) is respected.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402  (must come after the environment set-up)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

SEED = 0
GEMM_MIN_SECONDS = 0.5  # gemm: keep repeating until this much time is measured


# ---------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------


def causal_mask(length):
    """Additive causal mask: 0 on/below the diagonal, -1e9 above it."""
    return torch.triu(torch.full((length, length), -1e9), diagonal=1)


def bce_next_item_loss(h, item_emb, pos, neg):
    """SASRec-style BCE with one sampled negative per position.

    pos_logit = <h_t, E[pos_t]>, neg_logit = <h_t, E[neg_t]>;
    loss = mean over positions with pos_t != 0 of
           softplus(-pos_logit) + softplus(neg_logit).
    """
    pos_logit = (h * item_emb(pos)).sum(-1)
    neg_logit = (h * item_emb(neg)).sum(-1)
    valid = (pos != 0).to(h.dtype)
    per_pos = F.softplus(-pos_logit) + F.softplus(neg_logit)
    return (per_pos * valid).sum() / valid.sum()


# ---------------------------------------------------------------------------
# SASRec
# ---------------------------------------------------------------------------


class SASRecBlock(nn.Module):
    """Pre-LN transformer block: single-head causal attention + FFN."""

    def __init__(self, d, dropout):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.out = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, d)
        self.fc2 = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)
        self.scale = 1.0 / math.sqrt(d)

    def forward(self, x, attn_mask, keep):
        # Attention sub-layer (hand-written, one head).
        h = self.ln1(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        scores = torch.matmul(q, k.transpose(1, 2)) * self.scale + attn_mask
        probs = self.drop(torch.softmax(scores, dim=-1))
        x = x + self.drop(self.out(torch.matmul(probs, v)))
        # Feed-forward sub-layer.
        h = self.ln2(x)
        x = x + self.drop(self.fc2(self.drop(torch.relu(self.fc1(h)))))
        # Zero out padded positions again.
        return x * keep


class SASRec(nn.Module):
    """Item + learned positional embeddings, 2 pre-LN blocks, final LayerNorm.

    Padding id 0 is masked out (multiplicatively) after the embedding and
    after every block; attention itself only uses the causal mask.
    """

    def __init__(self, n_items, max_len, d, n_blocks, dropout):
        super().__init__()
        self.d = d
        self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.pos_emb = nn.Parameter(torch.empty(max_len, d))
        nn.init.normal_(self.pos_emb)  # same as nn.Embedding's default
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(SASRecBlock(d, dropout) for _ in range(n_blocks))
        self.final_ln = nn.LayerNorm(d)
        self.register_buffer("attn_mask", causal_mask(max_len))

    def forward(self, ids):
        keep = (ids != 0).unsqueeze(-1).to(self.pos_emb.dtype)  # (B, L, 1)
        x = self.item_emb(ids) * math.sqrt(self.d) + self.pos_emb
        x = self.drop(x) * keep
        for block in self.blocks:
            x = block(x, self.attn_mask, keep)
        return self.final_ln(x)


# ---------------------------------------------------------------------------
# GRU4Rec
# ---------------------------------------------------------------------------


class GRU4Rec(nn.Module):
    """Embedding -> dropout -> single-layer GRU; outputs every hidden state."""

    def __init__(self, n_items, d, dropout):
        super().__init__()
        self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.drop = nn.Dropout(dropout)
        self.gru = nn.GRU(d, d, batch_first=True)

    def forward(self, ids):
        out, _ = self.gru(self.drop(self.item_emb(ids)))
        return out


# ---------------------------------------------------------------------------
# Tiny LLaMA (+ LoRA)
# ---------------------------------------------------------------------------


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight."""

    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        inv_rms = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return x * inv_rms * self.weight


class LoRALinear(nn.Module):
    """y = W x + (alpha / r) * B(A(x)); dropout 0, no biases."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.lora_a = nn.Linear(base.in_features, r, bias=False)
        self.lora_b = nn.Linear(r, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_a.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_b.weight)
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + self.scaling * self.lora_b(self.lora_a(x))


def rotate_half(x):
    """HF LLaMA convention: (x1, x2) -> (-x2, x1) on the two halves."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class LlamaBlock(nn.Module):
    """h = x + Wo(attn(RMSNorm(x)));  out = h + W_down(silu(W_gate(n)) * W_up(n)),
    n = RMSNorm(h).  RoPE on q/k, hand-written causal softmax attention.
    `lora` is None or (r, alpha) to wrap Wq and Wv."""

    def __init__(self, d, n_heads, ffn_hidden, lora):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d // n_heads
        self.attn_norm = RMSNorm(d)
        self.wq = nn.Linear(d, d, bias=False)
        self.wk = nn.Linear(d, d, bias=False)
        self.wv = nn.Linear(d, d, bias=False)
        self.wo = nn.Linear(d, d, bias=False)
        if lora is not None:
            self.wq = LoRALinear(self.wq, *lora)
            self.wv = LoRALinear(self.wv, *lora)
        self.ffn_norm = RMSNorm(d)
        self.w_gate = nn.Linear(d, ffn_hidden, bias=False)
        self.w_up = nn.Linear(d, ffn_hidden, bias=False)
        self.w_down = nn.Linear(ffn_hidden, d, bias=False)

    def forward(self, x, cos, sin, attn_mask):
        b, t, d = x.shape
        h = self.attn_norm(x)

        def heads(y):  # (B, T, d) -> (B, H, T, hd)
            return y.view(b, t, self.n_heads, self.head_dim).transpose(1, 2)

        q, k, v = heads(self.wq(h)), heads(self.wk(h)), heads(self.wv(h))
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        probs = torch.softmax(scores + attn_mask, dim=-1)
        attn = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, d)
        x = x + self.wo(attn)

        h = self.ffn_norm(x)
        return x + self.w_down(F.silu(self.w_gate(h)) * self.w_up(h))


class Llama(nn.Module):
    """Token embedding, decoder blocks, final RMSNorm, untied LM head."""

    def __init__(self, vocab, d, n_layers, n_heads, ffn_hidden, max_len,
                 lora=None, rope_theta=10000.0):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(
            LlamaBlock(d, n_heads, ffn_hidden, lora) for _ in range(n_layers))
        self.norm = RMSNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        # RoPE tables (HF LLaMA rotate_half layout): (T, head_dim).
        hd = d // n_heads
        inv_freq = 1.0 / (rope_theta ** (torch.arange(0, hd, 2).float() / hd))
        freqs = torch.outer(torch.arange(max_len).float(), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos", emb.cos())
        self.register_buffer("sin", emb.sin())
        self.register_buffer("attn_mask", causal_mask(max_len))

    def forward(self, ids):
        t = ids.shape[1]
        cos, sin = self.cos[:t], self.sin[:t]
        mask = self.attn_mask[:t, :t]
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.head(self.norm(x))


# ---------------------------------------------------------------------------
# Case builders: each returns a zero-argument `step()` closure that performs
# one full training step on data generated (once, seeded) up front.
# ---------------------------------------------------------------------------


def _training_step(model, optimizer, loss_fn):
    model.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        optimizer.step()

    return step


def build_sasrec():
    B, L, d, n_items = 256, 50, 64, 10_000
    model = SASRec(n_items, L, d, n_blocks=2, dropout=0.2)
    ids = torch.randint(1, n_items + 1, (B, L))
    ids[:, :10] = 0  # left padding, exercises the masks
    pos = torch.randint(1, n_items + 1, (B, L))
    neg = torch.randint(1, n_items + 1, (B, L))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return _training_step(
        model, opt, lambda: bce_next_item_loss(model(ids), model.item_emb, pos, neg))


def build_gru4rec():
    B, L, d, n_items = 256, 50, 64, 10_000
    model = GRU4Rec(n_items, d, dropout=0.2)
    ids = torch.randint(1, n_items + 1, (B, L))
    pos = torch.randint(1, n_items + 1, (B, L))
    neg = torch.randint(1, n_items + 1, (B, L))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return _training_step(
        model, opt, lambda: bce_next_item_loss(model(ids), model.item_emb, pos, neg))


LLAMA_CFG = dict(vocab=2048, d=128, n_layers=2, n_heads=4, ffn_hidden=344, max_len=128)
LLAMA_BATCH = 8


def _llama_data():
    shape = (LLAMA_BATCH, LLAMA_CFG["max_len"])
    ids = torch.randint(0, LLAMA_CFG["vocab"], shape)
    labels = torch.randint(0, LLAMA_CFG["vocab"], shape)
    return ids, labels


def _llama_loss(model, ids, labels):
    logits = model(ids)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


def build_llama():
    model = Llama(**LLAMA_CFG)
    ids, labels = _llama_data()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    return _training_step(model, opt, lambda: _llama_loss(model, ids, labels))


def build_llama_lora():
    model = Llama(**LLAMA_CFG, lora=(8, 16))  # r=8, alpha=16
    lora_params = []
    for name, p in model.named_parameters():
        is_lora = ".lora_a." in name or ".lora_b." in name
        p.requires_grad_(is_lora)
        if is_lora:
            lora_params.append(p)
    ids, labels = _llama_data()
    opt = torch.optim.AdamW(lora_params, lr=1e-3, weight_decay=0.01)
    return _training_step(model, opt, lambda: _llama_loss(model, ids, labels))


def build_sasrec_top10():
    """Inference twin of src/bench/workloads.ts sasrecTopKWorkload: 256 users,
    50-item histories (10 padded), 12,000 items, top 10 of the last position's
    scores over every item except the padding id 0."""
    B, L, d, n_items, k = 256, 50, 64, 12_000, 10
    model = SASRec(n_items, L, d, n_blocks=2, dropout=0.2)
    model.eval()
    ids = torch.randint(1, n_items + 1, (B, L))
    ids[:, :10] = 0

    def step():
        with torch.no_grad():
            h = model(ids)[:, -1, :]
            scores = h @ model.item_emb.weight[1:].t()  # item ids 1..n_items
            return torch.topk(scores, k, dim=-1).indices + 1

    return step


INFERENCE_CASES = {
    "sasrec_top10": build_sasrec_top10,
}


TRAINING_CASES = {
    "sasrec": build_sasrec,
    "gru4rec": build_gru4rec,
    "llama": build_llama,
    "llama_lora": build_llama_lora,
}


def build_gemm(size, variant, batch=256, dim=64):
    """Return (step, flops_per_step) for one float32 matmul.

    attn_scores / attn_context: the attention products of `batch` heads of
    length `size` and head dim `dim`: Q K^T ([b, L, d] x [b, d, L]) and P V
    ([b, L, L] x [b, L, d]).
    """
    if variant in ("attn_scores", "attn_context"):
        L = size
        q = torch.randn(batch, L, dim)
        if variant == "attn_scores":
            k = torch.randn(batch, L, dim)
            return (lambda: torch.matmul(q, k.transpose(1, 2))), 2.0 * batch * L * L * dim
        p = torch.randn(batch, L, L)
        return (lambda: torch.matmul(p, q)), 2.0 * batch * L * L * dim
    if variant == "batched":
        if size == 0:
            # Attention-score shape: 256 x [50x64 @ 64x50] (q @ k^T).
            q = torch.randn(256, 50, 64)
            k = torch.randn(256, 50, 64)
            return (lambda: torch.matmul(q, k.transpose(1, 2))), 2.0 * 256 * 50 * 50 * 64
        a = torch.randn(8, size, size)
        b = torch.randn(8, size, size)
        return (lambda: torch.matmul(a, b)), 2.0 * 8 * size ** 3

    if size <= 0:
        raise SystemExit("--size must be > 0 for variant " + variant)
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    flops = 2.0 * size ** 3
    if variant == "plain":
        return (lambda: torch.matmul(a, b)), flops
    if variant == "transA":
        return (lambda: torch.matmul(a.t(), b)), flops
    if variant == "transB":
        return (lambda: torch.matmul(a, b.t())), flops
    raise SystemExit("unknown --variant " + variant)


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


def time_steps(step, warmup, steps, min_seconds=0.0):
    """Run `warmup` untimed steps, then time at least `steps` steps (and keep
    going until `min_seconds` of measured time has accumulated)."""
    for _ in range(warmup):
        step()
    times_ms = []
    total = 0.0
    while len(times_ms) < steps or total < min_seconds:
        t0 = time.perf_counter()
        step()
        dt = time.perf_counter() - t0
        total += dt
        times_ms.append(dt * 1000.0)
    return times_ms


def run_single(args):
    """Measure the case in this process with a fixed thread count."""
    torch.set_num_threads(int(args.threads))
    torch.manual_seed(SEED)

    result = {"case": args.case}
    if args.case == "gemm":
        with torch.no_grad():
            step, flops = build_gemm(args.size, args.variant, args.batch, args.dim)
            times = time_steps(step, args.warmup, args.steps, GEMM_MIN_SECONDS)
    elif args.case in INFERENCE_CASES:
        step = INFERENCE_CASES[args.case]()
        times = time_steps(step, args.warmup, args.steps)
    else:
        step = TRAINING_CASES[args.case]()
        times = time_steps(step, args.warmup, args.steps)

    median = statistics.median(times)
    result.update({
        "ms_median": median,
        "ms_min": min(times),
        "ms_all": [round(t, 4) for t in times],
        "threads": str(args.threads),
        "torch": torch.__version__,
    })
    if args.case == "gemm":
        result.update({"size": args.size, "variant": args.variant,
                       "gflops": flops / (median / 1000.0) / 1e9})
    return result


def run_auto(args):
    """Run the case with 1 and with 2 torch threads (each in a fresh process
    with OPENBLAS_NUM_THREADS=1) and return the faster result."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    results = {}
    for n in ("1", "2"):
        cmd = [sys.executable, os.path.abspath(__file__),
               "--case", args.case, "--threads", n,
               "--warmup", str(args.warmup), "--steps", str(args.steps),
               "--size", str(args.size), "--variant", args.variant,
               "--batch", str(args.batch), "--dim", str(args.dim)]
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=True,
                              universal_newlines=True)
        results[n] = json.loads(proc.stdout.strip().splitlines()[-1])
    best = min(results.values(), key=lambda r: r["ms_median"])
    best["auto_ms_median"] = {n: r["ms_median"] for n, r in results.items()}
    return best


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", required=True, choices=sorted(TRAINING_CASES) + sorted(INFERENCE_CASES) + ["gemm"])
    p.add_argument("--steps", type=int, default=10, help="timed steps (gemm: minimum)")
    p.add_argument("--warmup", type=int, default=3, help="untimed warm-up steps")
    p.add_argument("--threads", default="auto", choices=["auto", "1", "2"])
    p.add_argument("--size", type=int, default=1024,
                   help="gemm matrix size N (batched: 0 = attention-score shape)")
    p.add_argument("--variant", default="plain",
                   choices=["plain", "transA", "transB", "batched", "attn_scores", "attn_context"])
    p.add_argument("--batch", type=int, default=256, help="gemm attn_*: number of heads x batch")
    p.add_argument("--dim", type=int, default=64, help="gemm attn_*: head dim")
    return p.parse_args(argv)


def main():
    args = parse_args()
    result = run_auto(args) if args.threads == "auto" else run_single(args)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
