"""Independent PyTorch reference of Hugging Face's T5ForConditionalGeneration
(modeling_t5.py semantics, written from scratch: the test machine has no
`transformers`), computed in float64 for the llmrec parity tests.

usage: t5_ref.py PARAMS.safetensors INPUTS.safetensors CONFIG.json OUT.safetensors

PARAMS: the model's state dict (HF names, torch layout).
INPUTS: input_ids [B,S], attention_mask [B,S], decoder_input_ids [B,T],
        labels [B,T] (-100 ignored), optionally decoder_attention_mask [B,T].
OUT:    encoder_hidden [B,S,d], logits [B,T,V], loss [1], grad.<param> for every
        parameter (d loss / d param), bucket_bidirectional / bucket_causal
        (buckets of relative positions -300..300), all float32 except buckets (I32).
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

DT = torch.float64


def relative_position_bucket(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
    """HF T5Attention._relative_position_bucket, verbatim semantics (float32 logs)."""
    relative_buckets = 0
    if bidirectional:
        num_buckets //= 2
        relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    relative_position_if_large = max_exact + (
        torch.log(relative_position.float() / max_exact)
        / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).to(torch.long)
    relative_position_if_large = torch.min(
        relative_position_if_large, torch.full_like(relative_position_if_large, num_buckets - 1)
    )
    relative_buckets += torch.where(is_small, relative_position, relative_position_if_large)
    return relative_buckets


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACT = {
    "relu": F.relu,
    "gelu": F.gelu,  # erf form
    "gelu_new": gelu_new,
    "gelu_pytorch_tanh": gelu_new,
    "silu": F.silu,
    "swish": F.silu,
}


class T5Ref:
    def __init__(self, cfg, params):
        self.c = cfg
        self.p = params
        self.H = cfg["num_heads"]
        self.D = cfg["d_kv"]
        ffp = cfg["feed_forward_proj"]
        self.gated = ffp.startswith("gated-")
        act = ffp.split("-")[-1]
        self.act = ACT["gelu_new" if ffp == "gated-gelu" else act]
        self.eps = cfg["layer_norm_epsilon"]

    def norm(self, name, x):
        # T5LayerNorm: RMS only, no mean subtraction, no bias.
        var = x.pow(2).mean(-1, keepdim=True)
        return self.p[name + ".weight"] * (x * torch.rsqrt(var + self.eps))

    def lin(self, name, x):
        return x @ self.p[name + ".weight"].t()

    def compute_bias(self, prefix, q_len, k_len, bidirectional):
        ctx = torch.arange(q_len, dtype=torch.long)[:, None]
        mem = torch.arange(k_len, dtype=torch.long)[None, :]
        buckets = relative_position_bucket(
            mem - ctx, bidirectional, self.c["relative_attention_num_buckets"], self.c["relative_attention_max_distance"])
        values = F.embedding(buckets, self.p[prefix + ".relative_attention_bias.weight"])  # [q, k, H]
        return values.permute(2, 0, 1).unsqueeze(0)  # [1, H, q, k]

    def attention(self, prefix, x, kv, bias):
        B, T, _ = x.shape
        S = kv.shape[1]
        H, D = self.H, self.D
        q = self.lin(prefix + ".q", x).view(B, T, H, D).transpose(1, 2)
        k = self.lin(prefix + ".k", kv).view(B, S, H, D).transpose(1, 2)
        v = self.lin(prefix + ".v", kv).view(B, S, H, D).transpose(1, 2)
        scores = q @ k.transpose(3, 2) + bias  # no 1/sqrt(D) in T5
        w = F.softmax(scores, dim=-1)
        ctx = (w @ v).transpose(1, 2).reshape(B, T, H * D)
        return self.lin(prefix + ".o", ctx)

    def ff(self, prefix, x):
        if self.gated:
            h = self.act(self.lin(prefix + ".wi_0", x)) * self.lin(prefix + ".wi_1", x)
        else:
            h = self.act(self.lin(prefix + ".wi", x))
        return self.lin(prefix + ".wo", h)

    def extended(self, mask):
        # HF get_extended_attention_mask: (1 - mask) * finfo.min
        return (1.0 - mask.to(DT)) * torch.finfo(DT).min

    def encode(self, ids, mask):
        B, S = ids.shape
        h = F.embedding(ids, self.p["shared.weight"])
        bias = self.compute_bias("encoder.block.0.layer.0.SelfAttention", S, S, True)
        bias = bias + self.extended(mask)[:, None, None, :]
        for i in range(self.c["num_layers"]):
            p = f"encoder.block.{i}.layer"
            h = h + self.attention(f"{p}.0.SelfAttention", self.norm(f"{p}.0.layer_norm", h),
                                   self.norm(f"{p}.0.layer_norm", h), bias)
            h = h + self.ff(f"{p}.1.DenseReluDense", self.norm(f"{p}.1.layer_norm", h))
        return self.norm("encoder.final_layer_norm", h)

    def decode(self, dec_ids, dec_mask, enc, enc_mask):
        B, T = dec_ids.shape
        h = F.embedding(dec_ids, self.p["shared.weight"])
        seq = torch.arange(T)
        causal = (seq[None, None, :].repeat(B, T, 1) <= seq[None, :, None]).to(DT)
        ext = causal[:, None, :, :] * dec_mask.to(DT)[:, None, None, :]
        self_bias = self.compute_bias("decoder.block.0.layer.0.SelfAttention", T, T, False) + (1.0 - ext) * torch.finfo(DT).min
        cross_bias = self.extended(enc_mask)[:, None, None, :]
        for i in range(self.c["num_decoder_layers"]):
            p = f"decoder.block.{i}.layer"
            n = self.norm(f"{p}.0.layer_norm", h)
            h = h + self.attention(f"{p}.0.SelfAttention", n, n, self_bias)
            h = h + self.attention(f"{p}.1.EncDecAttention", self.norm(f"{p}.1.layer_norm", h), enc, cross_bias)
            h = h + self.ff(f"{p}.2.DenseReluDense", self.norm(f"{p}.2.layer_norm", h))
        h = self.norm("decoder.final_layer_norm", h)
        if self.c["tie_word_embeddings"]:
            return (h * self.c["d_model"] ** -0.5) @ self.p["shared.weight"].t()
        return h @ self.p["lm_head.weight"].t()


def main():
    params_path, inputs_path, config_path, out_path = sys.argv[1:5]
    with open(config_path) as f:
        cfg = json.load(f)
    params = {k: v.to(DT).requires_grad_(True) for k, v in st_io.load(params_path).items()}
    inp = {k: v.to(torch.long) for k, v in st_io.load(inputs_path).items()}
    ref = T5Ref(cfg, params)
    enc = ref.encode(inp["input_ids"], inp["attention_mask"])
    dec_mask = inp.get("decoder_attention_mask", torch.ones_like(inp["decoder_input_ids"]))
    logits = ref.decode(inp["decoder_input_ids"], dec_mask, enc, inp["attention_mask"])
    V = logits.shape[-1]
    loss = F.cross_entropy(logits.reshape(-1, V), inp["labels"].reshape(-1), ignore_index=-100)
    loss.backward()
    out = {
        "encoder_hidden": enc.detach().float(),
        "logits": logits.detach().float(),
        "loss": loss.detach().float().reshape(1),
    }
    for k, v in params.items():
        out["grad." + k] = (v.grad if v.grad is not None else torch.zeros_like(v)).float()
    rp = torch.arange(-300, 301)
    nb, md = cfg["relative_attention_num_buckets"], cfg["relative_attention_max_distance"]
    out["bucket_bidirectional"] = relative_position_bucket(rp, True, nb, md).to(torch.int32)
    out["bucket_causal"] = relative_position_bucket(rp, False, nb, md).to(torch.int32)
    st_io.save(out_path, out)


if __name__ == "__main__":
    main()
