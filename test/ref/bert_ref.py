"""Independent PyTorch reference of Hugging Face's BertForMaskedLM
(modeling_bert.py semantics, absolute positions, written from scratch: the
test machine has no `transformers`), computed in float64 for the llmrec parity tests.

usage: bert_ref.py PARAMS.safetensors INPUTS.safetensors CONFIG.json OUT.safetensors

PARAMS: the model's state dict (HF names, torch layout).
INPUTS: input_ids [B,T], token_type_ids [B,T], attention_mask [B,T], labels [B,T] (-100 ignored).
OUT:    hidden [B,T,d], logits [B,T,V], loss [1], grad.<param> for every parameter (float32).
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


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACT = {
    "gelu": F.gelu,  # erf form
    "relu": F.relu,
    "gelu_new": gelu_new,
    "gelu_pytorch_tanh": gelu_new,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
}


def main():
    params_path, inputs_path, config_path, out_path = sys.argv[1:5]
    with open(config_path) as f:
        c = json.load(f)
    P = {k: v.to(DT).requires_grad_(True) for k, v in st_io.load(params_path).items()}
    inp = {k: v.to(torch.long) for k, v in st_io.load(inputs_path).items()}
    act = ACT[c["hidden_act"]]
    eps = c["layer_norm_eps"]
    d = c["hidden_size"]
    H = c["num_attention_heads"]
    D = d // H

    def lin(name, x):
        return x @ P[name + ".weight"].t() + P[name + ".bias"]

    def ln(name, x):
        return F.layer_norm(x, (d,), P[name + ".weight"], P[name + ".bias"], eps)

    ids, tt, mask = inp["input_ids"], inp["token_type_ids"], inp["attention_mask"]
    B, T = ids.shape
    pos = torch.arange(T)[None, :].expand(B, T)
    e = "bert.embeddings"
    h = (F.embedding(ids, P[e + ".word_embeddings.weight"]) + F.embedding(tt, P[e + ".token_type_embeddings.weight"])
         + F.embedding(pos, P[e + ".position_embeddings.weight"]))
    h = ln(e + ".LayerNorm", h)
    ext = (1.0 - mask.to(DT))[:, None, None, :] * torch.finfo(DT).min
    for i in range(c["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}"
        q = lin(p + ".attention.self.query", h).view(B, T, H, D).transpose(1, 2)
        k = lin(p + ".attention.self.key", h).view(B, T, H, D).transpose(1, 2)
        v = lin(p + ".attention.self.value", h).view(B, T, H, D).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(D) + ext
        ctx = (F.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, T, d)
        h = ln(p + ".attention.output.LayerNorm", lin(p + ".attention.output.dense", ctx) + h)
        ff = lin(p + ".output.dense", act(lin(p + ".intermediate.dense", h)))
        h = ln(p + ".output.LayerNorm", ff + h)
    t = ln("cls.predictions.transform.LayerNorm", act(lin("cls.predictions.transform.dense", h)))
    W = P["cls.predictions.decoder.weight"] if "cls.predictions.decoder.weight" in P else P[e + ".word_embeddings.weight"]
    logits = t @ W.t() + P["cls.predictions.bias"]
    V = logits.shape[-1]
    loss = F.cross_entropy(logits.reshape(-1, V), inp["labels"].reshape(-1), ignore_index=-100)
    loss.backward()
    out = {"hidden": h.detach().float(), "logits": logits.detach().float(), "loss": loss.detach().float().reshape(1)}
    for name, v in P.items():
        out["grad." + name] = (v.grad if v.grad is not None else torch.zeros_like(v)).float()
    st_io.save(out_path, out)


if __name__ == "__main__":
    main()
