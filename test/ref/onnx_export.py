"""Exports an llmrec LLaMA-family checkpoint (config.json + weights.safetensors,
as written by llmrec's exportStateDict) to ONNX with torch.onnx.export, for
running it through onnxruntime (src/lm/interop/onnx.ts).

usage: onnx_export.py DIR [--out-dir OUT] [--opset 14] [--no-plain] [--with-past]

Writes, into OUT (default DIR):
  model.onnx            inputs  input_ids [B,T] int64, attention_mask [B,T] int64,
                                position_ids [B,T] int64
                        outputs logits [B,T,V] float32
  model_with_past.onnx  (--with-past) the same plus, per layer N,
                        inputs  past_key_values.N.key / .value [B,G,P,D] float32
                        outputs present.N.key / .value [B,G,P+T,D] float32
                        with attention_mask covering the past and new tokens
                        [B,P+T] (optimum / transformers.js naming; P may be 0).
Batch, sequence and past lengths are dynamic axes.

model.onnx traces test/ref/decoder_ref.py's `llama` function (imported, not
copied) in float32.  decoder_ref is a float64 numerics reference: it sets the
default dtype to float64, computes RoPE in float64 and builds a boolean
identity with torch.eye (ONNX EyeLike, which onnxruntime has no bool kernel
for) and repeats key/value heads with Tensor.repeat_interleave, which
torch 1.13 exports wrongly (the graph fails in onnxruntime with "left operand
cannot broadcast").  Three export-time shims keep decoder_ref unmodified: the
default dtype is reset to float32; while tracing, decoder_ref's module-global
`torch` is a proxy on which `float64` means float32 and
`eye(..., dtype=bool)` is a float identity cast to bool; and
Tensor.repeat_interleave with an int count is unsqueeze + expand + reshape
(`repeat_heads`).  Everything else is the real torch.

model_with_past.onnx needs a cache, which `llama` has no notion of, so it
traces `llama_with_past` below: the same equations (decoder_ref's `rms`,
rotate-half RoPE, GQA, Qwen2 biases, Mistral sliding window, tied heads),
extended by the past keys/values.  Its no-past logits are checked against
`llama` before writing.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decoder_ref  # noqa: E402
import st_io  # noqa: E402

torch.set_default_dtype(torch.float32)  # decoder_ref sets float64 on import

_REAL_TORCH = torch


class _Float32Torch:
    """`torch` as decoder_ref sees it while tracing (see the module comment)."""

    float64 = torch.float32

    @staticmethod
    def eye(n, dtype=None, **kw):
        e = _REAL_TORCH.eye(n, **kw)
        return e if dtype is None else e.to(dtype)

    def __getattr__(self, name):
        return getattr(_REAL_TORCH, name)


_REPEAT_INTERLEAVE = torch.Tensor.repeat_interleave


def repeat_heads(x, repeats, dim):
    """x.repeat_interleave(repeats, dim) for an int count, in ops that export
    with dynamic shapes (unsqueeze, expand, reshape)."""
    d = dim % x.dim()
    shape = list(x.shape)
    y = x.unsqueeze(d + 1).expand(*shape[: d + 1], repeats, *shape[d + 1:])
    shape[d] = shape[d] * repeats
    return y.reshape(*shape)


def _repeat_interleave(self, repeats, dim=None, **kw):
    if isinstance(repeats, int) and dim is not None and not kw:
        return repeat_heads(self, repeats, dim)
    return _REPEAT_INTERLEAVE(self, repeats, dim=dim, **kw)


class _Float32DecoderRef:
    """Context manager: decoder_ref's functions compute in float32 with
    exportable ops (see the module comment)."""

    def __enter__(self):
        decoder_ref.torch = _Float32Torch()
        torch.Tensor.repeat_interleave = _repeat_interleave
        torch.set_default_dtype(torch.float32)
        return self

    def __exit__(self, *exc):
        decoder_ref.torch = _REAL_TORCH
        torch.Tensor.repeat_interleave = _REPEAT_INTERLEAVE
        return False


def dims(cfg):
    """(d, H, G, D, eps, theta) of a LLaMA-family config."""
    d = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    G = cfg.get("num_key_value_heads") or H
    D = cfg.get("head_dim") or d // H
    return d, H, G, D, cfg.get("rms_norm_eps", 1e-6), cfg.get("rope_theta", 10000.0)


def sliding_window(cfg):
    if cfg.get("model_type") == "mistral" or cfg.get("use_sliding_window"):
        return cfg.get("sliding_window")
    return None


def llama_with_past(cfg, W, ids, attn, pos, past):
    """Logits [B,T,V] and present [(k, v)] per layer, [B,G,P+T,D] each.

    attn is [B, P+T] (1 = real token); past is a list of (k, v) [B,G,P,D].
    Query t (key index P+t) sees key j when j <= P+t, attn[b, j] == 1 and, with
    a sliding window w, P+t-j < w; a query with no visible key sees itself
    (decoder_ref's causal_mask rule), so every softmax row stays finite.
    """
    _, H, G, D, eps, theta = dims(cfg)
    B, T = ids.shape
    P = past[0][0].shape[2]
    inv = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
    fr = pos.to(torch.float32)[..., None] * inv
    emb = torch.cat([fr, fr], -1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]

    def rot(x):
        a, b = x[..., : D // 2], x[..., D // 2:]
        return x * cos + torch.cat([-b, a], -1) * sin

    i = torch.arange(T)[:, None] + P
    j = torch.arange(P + T)[None, :]
    ok = j <= i
    window = sliding_window(cfg)
    if window is not None:
        ok = ok & (i - j < window)
    ok = ok[None] & (attn[:, None, :] == 1)
    none = ~ok.any(-1)
    ok = ok | (none[:, :, None] & (j == i)[None])
    mask = torch.zeros(B, 1, T, P + T).masked_fill(~ok[:, None], float("-inf"))

    x = W["model.embed_tokens.weight"][ids]
    present = []
    for n in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{n}."

        def lin(name, h):
            y = h @ W[p + name + ".weight"].T
            b = W.get(p + name + ".bias")
            return y if b is None else y + b

        h = decoder_ref.rms(x, W[p + "input_layernorm.weight"], eps)
        q = rot(lin("self_attn.q_proj", h).view(B, T, H, D).transpose(1, 2))
        k = rot(lin("self_attn.k_proj", h).view(B, T, G, D).transpose(1, 2))
        v = lin("self_attn.v_proj", h).view(B, T, G, D).transpose(1, 2)
        k = torch.cat([past[n][0], k], 2)
        v = torch.cat([past[n][1], v], 2)
        present.append((k, v))
        k = repeat_heads(k, H // G, 1)
        v = repeat_heads(v, H // G, 1)
        s = q @ k.transpose(-1, -2) / math.sqrt(D) + mask
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H * D)
        x = x + lin("self_attn.o_proj", a)
        h = decoder_ref.rms(x, W[p + "post_attention_layernorm.weight"], eps)
        x = x + lin("mlp.down_proj", F.silu(lin("mlp.gate_proj", h)) * lin("mlp.up_proj", h))
    hidden = decoder_ref.rms(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return hidden @ head.T, present


class _Weights(torch.nn.Module):
    """Holds the checkpoint as buffers (dots in names are not allowed, so they
    are stored under '__' and handed out under their real names)."""

    def __init__(self, W):
        super().__init__()
        self._names = list(W)
        for name, t in W.items():
            self.register_buffer(name.replace(".", "__"), t.to(torch.float32).contiguous())

    def tensors(self):
        return {name: getattr(self, name.replace(".", "__")) for name in self._names}


class PlainLM(torch.nn.Module):
    """(input_ids, attention_mask, position_ids) -> logits via decoder_ref.llama."""

    def __init__(self, cfg, W):
        super().__init__()
        self.cfg = cfg
        self.w = _Weights(W)

    def forward(self, input_ids, attention_mask, position_ids):
        with _Float32DecoderRef():
            _, logits = decoder_ref.llama(self.cfg, self.w.tensors(), input_ids, attention_mask, position_ids)
        return logits


class PastLM(torch.nn.Module):
    """(input_ids, attention_mask, position_ids, *past) -> (logits, *present)."""

    def __init__(self, cfg, W):
        super().__init__()
        self.cfg = cfg
        self.w = _Weights(W)

    def forward(self, input_ids, attention_mask, position_ids, *past_flat):
        past = [(past_flat[2 * n], past_flat[2 * n + 1]) for n in range(len(past_flat) // 2)]
        logits, present = llama_with_past(self.cfg, self.w.tensors(), input_ids, attention_mask, position_ids, past)
        return (logits, *[t for kv in present for t in kv])


def example_inputs(cfg, B, T, P):
    V = cfg["vocab_size"]
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, V, (B, T), generator=g)
    attn = torch.ones(B, P + T, dtype=torch.long)
    attn[-1, -1] = 0  # some padding, so masks are traced as data, not constants
    pos = (torch.arange(T)[None, :] + P).expand(B, T).contiguous()
    return ids, attn, pos


def export_plain(cfg, W, path, opset):
    model = PlainLM(cfg, W).eval()
    ids, attn, pos = example_inputs(cfg, 2, 5, 0)
    axes = {"batch_size": 0, "sequence_length": 1}
    with torch.no_grad():
        torch.onnx.export(
            model, (ids, attn, pos), path, opset_version=opset, do_constant_folding=True,
            input_names=["input_ids", "attention_mask", "position_ids"], output_names=["logits"],
            dynamic_axes={
                "input_ids": dict((v, k) for k, v in axes.items()),
                "attention_mask": dict((v, k) for k, v in axes.items()),
                "position_ids": dict((v, k) for k, v in axes.items()),
                "logits": {0: "batch_size", 1: "sequence_length"},
            })


def export_with_past(cfg, W, path, opset):
    _, _, G, D, _, _ = dims(cfg)
    L = cfg["num_hidden_layers"]
    model = PastLM(cfg, W).eval()
    B, T, P = 2, 4, 3
    ids, attn, pos = example_inputs(cfg, B, T, P)
    g = torch.Generator().manual_seed(1)
    past = [torch.randn(B, G, P, D, generator=g) for _ in range(2 * L)]

    # The cache path must agree with decoder_ref.llama when there is no past.
    with torch.no_grad():
        ids0, attn0, pos0 = example_inputs(cfg, B, T, 0)
        empty = [torch.zeros(B, G, 0, D) for _ in range(2 * L)]
        got = model(ids0, attn0, pos0, *empty)[0]
        want = PlainLM(cfg, W)(ids0, attn0, pos0)
        real = attn0.bool()
        err = (got - want)[real].abs().max().item()
        if err > 1e-4:
            raise SystemExit(f"llama_with_past disagrees with decoder_ref.llama: max |diff| {err}")

    past_names = [f"past_key_values.{n}.{kv}" for n in range(L) for kv in ("key", "value")]
    present_names = [f"present.{n}.{kv}" for n in range(L) for kv in ("key", "value")]
    axes = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"},
        "logits": {0: "batch_size", 1: "sequence_length"},
    }
    for name in past_names:
        axes[name] = {0: "batch_size", 2: "past_sequence_length"}
    for name in present_names:
        axes[name] = {0: "batch_size", 2: "total_sequence_length"}
    with torch.no_grad():
        torch.onnx.export(
            model, (ids, attn, pos, *past), path, opset_version=opset, do_constant_folding=True,
            input_names=["input_ids", "attention_mask", "position_ids", *past_names],
            output_names=["logits", *present_names], dynamic_axes=axes)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", help="directory with config.json and weights.safetensors")
    ap.add_argument("--out-dir", help="where to write the .onnx files (default: DIR)")
    ap.add_argument("--opset", type=int, default=14, choices=[14, 15, 16, 17])
    ap.add_argument("--with-past", action="store_true", help="also write model_with_past.onnx")
    ap.add_argument("--no-plain", action="store_true", help="do not write model.onnx")
    args = ap.parse_args(argv)
    cfg = json.load(open(os.path.join(args.dir, "config.json")))
    if cfg.get("model_type", "llama") not in ("llama", "mistral", "qwen2"):
        raise SystemExit(f"onnx_export.py: model_type {cfg.get('model_type')!r} is not a LLaMA-family model")
    W = st_io.load(os.path.join(args.dir, "weights.safetensors"))
    out = args.out_dir or args.dir
    os.makedirs(out, exist_ok=True)
    written = []
    if not args.no_plain:
        export_plain(cfg, W, os.path.join(out, "model.onnx"), args.opset)
        written.append("model.onnx")
    if args.with_past:
        export_with_past(cfg, W, os.path.join(out, "model_with_past.onnx"), args.opset)
        written.append("model_with_past.onnx")
    print(json.dumps({"written": written, "opset": args.opset, "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
