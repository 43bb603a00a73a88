#!/usr/bin/env python3
"""PyTorch side of `npm run bench -- --vs-torch`: a reference tool, never a dependency of medit.

The node side (scripts/bench/vs-torch-child.js) starts this worker once per thread count and
sends it one JSON job per line on stdin; each answer is one JSON line on stdout. Inputs
(matrices, weights, token ids, the covariance) come as files the node side wrote, so both
sides compute on identical numbers. Jobs:

  {"job": "init", "threads": n}                   torch.set_num_threads(n)
  {"job": "sgemm", "file": f, "n": n, "minSeconds": s}    seconds per torch.mm of two n x n f32
  {"job": "gpt2-load", "dir": d}                  a GPT-2 from an HF directory (model.safetensors)
  {"job": "gpt2", "ids": f, "backward": b}        one forward (+ backward of the next-token loss)
  {"job": "rome", "file": f, "cov": f, "returnUpdates": b}   ROME edits, one at a time

The GPT-2 is written out here in plain PyTorch as HF's GPT2LMHeadModel computes it (eval mode):
pre-norm blocks, fused QKV Conv1D, gelu_new, tied head. ROME follows the paper (Meng et al.
2022, Eqs. 2-4) and the original code's compute_u / compute_v (spec locate-then-edit.md §1):
the whole model runs at every step of the v* optimisation, as the original does.
"""
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_safetensors(path):
    """name -> float32 tensor, from a safetensors file (F32 only: the models medit writes)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {info['dtype']}, expected F32")
        start, end = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[start:end], dtype=np.float32).reshape(info["shape"]).copy())
    return out


class GPT2:
    """GPT2LMHeadModel's forward in eval mode; `hook(layer, name, x)` may replace the MLP key
    (`mlp_key`, the input of c_proj) or output (`mlp_out`)."""

    def __init__(self, directory):
        with open(f"{directory}/config.json") as f:
            cfg = json.load(f)
        self.L = cfg["n_layer"]
        self.NH = cfg["n_head"]
        self.C = cfg["n_embd"]
        self.eps = cfg.get("layer_norm_epsilon", 1e-5)
        tensors = read_safetensors(f"{directory}/model.safetensors")
        self.w = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in tensors.items()}

    def params(self):
        return list(self.w.values())

    def forward(self, ids, mask=None, hook=None):
        B, T = ids.shape
        C, NH = self.C, self.NH
        HS = C // NH
        w = self.w
        x = w["wte.weight"][ids] + w["wpe.weight"][torch.arange(T)]
        neg = torch.finfo(x.dtype).min
        keep = torch.ones(T, T, dtype=torch.bool).tril()[None, None]
        if mask is not None:
            keep = keep & mask.bool()[:, None, None, :]
        for l in range(self.L):
            p = f"h.{l}."
            h = F.layer_norm(x, (C,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], self.eps)
            qkv = torch.addmm(w[p + "attn.c_attn.bias"], h.reshape(-1, C), w[p + "attn.c_attn.weight"]).reshape(B, T, 3 * C)
            q, k, v = (t.reshape(B, T, NH, HS).transpose(1, 2) for t in qkv.split(C, dim=2))
            att = (q @ k.transpose(-1, -2)) / math.sqrt(HS)
            att = torch.softmax(att.masked_fill(~keep, neg), dim=-1)
            merged = (att @ v).transpose(1, 2).reshape(B * T, C)
            x = x + torch.addmm(w[p + "attn.c_proj.bias"], merged, w[p + "attn.c_proj.weight"]).reshape(B, T, C)
            m = F.layer_norm(x, (C,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], self.eps)
            key = F.gelu(torch.addmm(w[p + "mlp.c_fc.bias"], m.reshape(B * T, C), w[p + "mlp.c_fc.weight"]), approximate="tanh")
            key = key.reshape(B, T, -1)
            if hook:
                key = hook(l, "mlp_key", key)
            out = torch.addmm(w[p + "mlp.c_proj.bias"], key.reshape(B * T, -1), w[p + "mlp.c_proj.weight"]).reshape(B, T, C)
            if hook:
                out = hook(l, "mlp_out", out)
            x = x + out
        x = F.layer_norm(x, (C,), w["ln_f.weight"], w["ln_f.bias"], self.eps)
        return x @ w["wte.weight"].t()


def right_pad(rows, pad):
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=torch.long)
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long)
    return ids, mask


def at_tokens(x, lookups):
    """x[b, lookups[b]] for every row b."""
    return x[torch.arange(len(lookups)), torch.tensor(lookups)]


def read_at(model, layer, rows, lookups, pad):
    """The MLP key and output of `layer` at each row's subject token (no grad)."""
    ids, mask = right_pad(rows, pad)
    seen = {}

    def hook(l, name, x):
        if l == layer:
            seen[name] = at_tokens(x, lookups)
        return x

    with torch.no_grad():
        model.forward(ids, mask, hook)
    return seen["mlp_key"], seen["mlp_out"]


def compute_v(model, req, hp, pad):
    """ROME's v* (compute_v.py): δ added to the MLP output of the layer at every row's subject
    token, Adam on the NLL of the target after each template, the KL term of the "{} is a"
    row and the weight decay; the whole model runs at every step."""
    layer = hp["layer"]
    rows, lookups, labels = req["rows"], req["lookups"], req["labels"]
    R = len(rows) - 1  # the last row is the KL prompt
    T = req["targetLength"]
    ids, mask = right_pad(rows, pad)
    label_rows = [b for b in range(R) for t, y in enumerate(labels[b]) if y >= 0]
    label_cols = [t for b in range(R) for t, y in enumerate(labels[b]) if y >= 0]
    label_ids = torch.tensor([y for b in range(R) for y in labels[b] if y >= 0])
    delta = torch.zeros(model.C, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=hp["v_lr"])
    state = {"target_init": None}
    kl_init = None
    steps = 0
    for it in range(hp["v_num_grad_steps"]):
        steps += 1
        opt.zero_grad()

        def hook(l, name, out):
            if l != layer or name != "mlp_out":
                return out
            if state["target_init"] is None:
                state["target_init"] = out[0, lookups[0]].detach().clone()
            add = torch.zeros_like(out)
            add[torch.arange(len(lookups)), torch.tensor(lookups)] = delta
            return out + add

        logits = model.forward(ids, mask, hook)
        log_probs = torch.log_softmax(logits, dim=2)
        nll = -log_probs[label_rows, label_cols, label_ids].sum() / (T * R)
        kl_log_probs = log_probs[R, lookups[R]][None]
        if kl_init is None:
            kl_init = kl_log_probs.detach().clone()
        kl = hp["kl_factor"] * F.kl_div(kl_init, kl_log_probs, log_target=True, reduction="batchmean")
        target_init = state["target_init"]
        wd = hp["v_weight_decay"] * (torch.norm(delta) / torch.norm(target_init) ** 2)
        loss = nll + kl + wd
        if loss.item() < 5e-2 or it == hp["v_num_grad_steps"] - 1:
            break
        loss.backward()
        opt.step()
        max_norm = hp["clamp_norm_factor"] * target_init.norm()
        if delta.norm() > max_norm:
            with torch.no_grad():
                delta[...] = delta * max_norm / delta.norm()
    return (state["target_init"] + delta).detach(), steps


def rome_edit(model, inv_cov, req, hp, pad):
    """One ROME edit: u = C^-1 k̄ / |C^-1 k̄| (compute_u.py), v* (compute_v.py), and the update
    ΔW = u (v* - o*)ᵀ / (uᵀ k*) at the raw prompt, in GPT-2's Conv1D layout [F, C]."""
    layer = hp["layer"]
    keys, _ = read_at(model, layer, req["keyRows"], req["keyLookups"], pad)
    kbar = keys.mean(0)
    u = (inv_cov @ kbar.double()).float()
    u = u / u.norm()
    v_star, steps = compute_v(model, req, hp, pad)
    k_star, o_star = read_at(model, layer, [req["rawRow"]], [req["rawLookup"]], pad)
    right = (v_star - o_star[0]) / torch.dot(k_star[0], u)
    return u, right, steps


class Worker:
    def __init__(self):
        self.sgemm = None
        self.gpt2 = None
        self.gpt2_ids = None
        self.rome = None

    def init(self, job):
        torch.set_num_threads(job["threads"])
        return {"torch": torch.__version__, "threads": torch.get_num_threads()}

    def sgemm_job(self, job):
        n = job["n"]
        if self.sgemm is None or self.sgemm[0] != job["file"]:
            data = np.fromfile(job["file"], dtype=np.float32)
            a = torch.from_numpy(data[: n * n].reshape(n, n).copy())
            b = torch.from_numpy(data[n * n : 2 * n * n].reshape(n, n).copy())
            self.sgemm = (job["file"], a, b)
        _, a, b = self.sgemm
        torch.mm(a, b)  # warm-up
        calls, t0 = 0, time.perf_counter()
        while True:
            torch.mm(a, b)
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= job["minSeconds"]:
                break
        out = {"secondsPerCall": elapsed / calls, "calls": calls}
        if job.get("returnCorner"):
            out["corner"] = torch.mm(a, b)[:4, :4].reshape(-1).tolist()
        return out

    def gpt2_load(self, job):
        self.gpt2 = GPT2(job["dir"])
        return {"params": sum(p.numel() for p in self.gpt2.params())}

    def gpt2_job(self, job):
        model = self.gpt2
        with open(job["ids"]) as f:
            ids = torch.tensor(json.load(f), dtype=torch.long)
        backward = job["backward"]
        for p in model.params():
            p.requires_grad_(backward)
            p.grad = None
        t0 = time.perf_counter()
        if backward:
            logits = model.forward(ids)
            V = logits.shape[-1]
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
            loss.backward()
        else:
            with torch.no_grad():
                logits = model.forward(ids)
        seconds = time.perf_counter() - t0
        out = {"seconds": seconds, "tokens": ids.numel()}
        if job.get("returnSample"):
            out["sample"] = logits[0, :4, :8].detach().reshape(-1).tolist()
        for p in model.params():
            p.grad = None
            p.requires_grad_(False)
        return out

    def rome_job(self, job):
        with open(job["file"]) as f:
            spec = json.load(f)
        if self.rome is None or self.rome[0] != job["file"]:
            model = GPT2(spec["model"])
            F_ = spec["keyDim"]
            cov = torch.from_numpy(np.fromfile(job["cov"], dtype=np.float64).reshape(F_, F_).copy())
            # ROME caches C⁻¹ once per layer (compute_u.get_inv_cov)
            self.rome = (job["file"], model, torch.linalg.inv(cov))
        _, model, inv_cov = self.rome
        hp, pad = spec["hparams"], spec["pad"]
        per_edit, updates, steps = [], [], []
        for req in spec["requests"][: job.get("limit", len(spec["requests"]))]:
            t0 = time.perf_counter()
            u, right, n = rome_edit(model, inv_cov, req, hp, pad)
            per_edit.append(time.perf_counter() - t0)
            steps.append(n)
            if job.get("returnUpdates"):
                updates.append({"left": u.tolist(), "right": right.tolist()})
        return {"secondsPerEdit": per_edit, "steps": steps, "updates": updates}


def main():
    worker = Worker()
    jobs = {
        "init": worker.init,
        "sgemm": worker.sgemm_job,
        "gpt2-load": worker.gpt2_load,
        "gpt2": worker.gpt2_job,
        "rome": worker.rome_job,
    }
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        try:
            answer = {"ok": True, **jobs[job["job"]](job)}
        except Exception as err:  # the node side reports it with the job
            answer = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
