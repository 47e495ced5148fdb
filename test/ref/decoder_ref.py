"""Independent PyTorch implementations of the LLaMA (incl. Qwen2 biases, GQA,
Mistral sliding window) and GPT-2 forward passes, as Hugging Face defines
them, for llmrec's numerics-parity tests.

usage: decoder_ref.py DIR   (DIR holds config.json, weights.safetensors,
inputs.safetensors; writes out.safetensors)
inputs: input_ids [B,T] I32, attention_mask [B,T] I32, position_ids [B,T] I32,
labels [B,T] I32 (-100 ignored); optional grad_names in config.json "_grad".
outputs: logits, hidden, loss, and grad.<name> for each requested parameter.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import st_io  # noqa: E402

torch.set_default_dtype(torch.float64)


def causal_mask(attn, window=None):
    B, T = attn.shape
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    ok = (j <= i)
    if window is not None:
        ok = ok & (i - j < window)
    ok = ok[None, :, :] & (attn[:, None, :] == 1)
    # a query with no visible key sees itself
    none = ~ok.any(-1)
    eye = torch.eye(T, dtype=torch.bool)[None]
    ok = ok | (none[:, :, None] & eye)
    m = torch.zeros(B, 1, T, T)
    m.masked_fill_(~ok[:, None], float("-inf"))
    return m


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def llama(cfg, W, ids, attn, pos):
    d = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    G = cfg.get("num_key_value_heads") or H
    D = cfg.get("head_dim") or d // H
    eps = cfg.get("rms_norm_eps", 1e-6)
    theta = cfg.get("rope_theta", 10000.0)
    B, T = ids.shape
    inv = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
    fr = (pos.to(torch.float32)[..., None] * inv).to(torch.float64)
    emb = torch.cat([fr, fr], -1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]

    def rot(x):
        a, b = x[..., : D // 2], x[..., D // 2:]
        return x * cos + torch.cat([-b, a], -1) * sin

    window = cfg.get("sliding_window") if (cfg.get("model_type") == "mistral" or cfg.get("use_sliding_window")) else None
    mask = causal_mask(attn, window)
    x = W["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."

        def lin(name, h):
            y = h @ W[p + name + ".weight"].T
            b = W.get(p + name + ".bias")
            return y if b is None else y + b

        h = rms(x, W[p + "input_layernorm.weight"], eps)
        q = lin("self_attn.q_proj", h).view(B, T, H, D).transpose(1, 2)
        k = lin("self_attn.k_proj", h).view(B, T, G, D).transpose(1, 2)
        v = lin("self_attn.v_proj", h).view(B, T, G, D).transpose(1, 2)
        q, k = rot(q), rot(k)
        k = k.repeat_interleave(H // G, dim=1)
        v = v.repeat_interleave(H // G, dim=1)
        s = q @ k.transpose(-1, -2) / math.sqrt(D) + mask
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H * D)
        x = x + lin("self_attn.o_proj", a)
        h = rms(x, W[p + "post_attention_layernorm.weight"], eps)
        x = x + lin("mlp.down_proj", F.silu(lin("mlp.gate_proj", h)) * lin("mlp.up_proj", h))
    hidden = rms(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return hidden, hidden @ head.T


def gpt2(cfg, W, ids, attn, pos):
    d = cfg["n_embd"]
    H = cfg["n_head"]
    D = d // H
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    B, T = ids.shape
    act = cfg.get("activation_function", "gelu_new")
    mask = causal_mask(attn)
    x = W["transformer.wte.weight"][ids] + W["transformer.wpe.weight"][pos]
    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}."

        def conv(name, h):  # Conv1D: weight [in, out]
            return h @ W[p + name + ".weight"] + W[p + name + ".bias"]

        h = F.layer_norm(x, (d,), W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps)
        q, k, v = conv("attn.c_attn", h).split(d, dim=-1)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        s = q @ k.transpose(-1, -2) / math.sqrt(D) + mask
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, d)
        x = x + conv("attn.c_proj", a)
        h = F.layer_norm(x, (d,), W[p + "ln_2.weight"], W[p + "ln_2.bias"], eps)
        f = conv("mlp.c_fc", h)
        if act in ("gelu_new", "gelu_pytorch_tanh"):
            f = 0.5 * f * (1 + torch.tanh(math.sqrt(2 / math.pi) * (f + 0.044715 * f.pow(3))))
        elif act == "gelu":
            f = F.gelu(f)
        else:
            f = F.relu(f)
        x = x + conv("mlp.c_proj", f)
    hidden = F.layer_norm(x, (d,), W["transformer.ln_f.weight"], W["transformer.ln_f.bias"], eps)
    return hidden, hidden @ W["transformer.wte.weight"].T


def main():
    d = sys.argv[1]
    cfg = json.load(open(os.path.join(d, "config.json")))
    W = {k: v.to(torch.float64) for k, v in st_io.load(os.path.join(d, "weights.safetensors")).items()}
    grad_names = cfg.get("_grad", [])
    for n in grad_names:
        W[n].requires_grad_(True)
    I = st_io.load(os.path.join(d, "inputs.safetensors"))
    ids = I["input_ids"].long()
    attn = I["attention_mask"].long()
    pos = I["position_ids"].long()
    labels = I["labels"].long()
    fn = gpt2 if cfg["model_type"] == "gpt2" else llama
    hidden, logits = fn(cfg, W, ids, attn, pos)
    V = logits.shape[-1]
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)
    out = {"logits": logits.float(), "hidden": hidden.float(), "loss": loss.reshape(1).float()}
    if grad_names:
        gs = torch.autograd.grad(loss, [W[n] for n in grad_names])
        for n, g in zip(grad_names, gs):
            out["grad." + n] = g.float()
    st_io.save(os.path.join(d, "out.safetensors"), {k: v.detach() for k, v in out.items()})


if __name__ == "__main__":
    main()
