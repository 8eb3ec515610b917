#!/usr/bin/env python3
"""Parity fixtures for `attentionFromHF`: the attention layers of real model families,
computed by transformers 4.57.6's own classes, written as JSON that the TypeScript
tests read without Python.

How it works (see README.md beside this file):

* For each family a tiny text config is built with the family's real config class
  (hidden_size 64 or 48, 4 query heads, 2 kv heads, head_dim 16) and a small model of
  that family is instantiated with `_attn_implementation = "eager"`.
* The weights of the attention module under test are drawn from a seeded generator and
  rounded to multiples of 1/64, so they are exact in float32 and in JSON.
* Each scenario runs the *whole model's* forward (or `prepare_inputs_for_generation` +
  forward, exactly as `generate()` does per step), so masks, position ids, rotary
  tables, caches (DynamicCache with sliding-window layers) are all built by transformers
  itself. A forward pre-hook replaces the hidden states entering the attention module
  under test with our seeded input; a forward hook records the module's output (after
  o_proj). Everything else the model computes is irrelevant to the fixture.
* Expected outputs come from the model run in float64 (transformers keeps some islands
  in float32 even then: RoPE cos/sin, RMSNorm, eager softmax). The script checks them
  against (a) an independent float64 re-implementation written from the config dict
  alone (this file, `Reference`), (b) transformers run in float32, and (c) a set of
  deliberate mistakes ("ablations"), each of which must miss the fixture by far more
  than the tolerance. Any failed check aborts without writing.

Run:  python generate.py            (writes ../../src/testing/hf-parity/*.json)
      python generate.py --check    (regenerates in memory, fails if the files differ)
"""

from __future__ import annotations

import argparse
import copy
import functools
import importlib.metadata as _md
import json
import math
import os
import re
import sys
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

# --- transformers 4.57.6 pins huggingface-hub<1.0 at import time. The hub client is
# never used here (no download, no hub call), and some package mirrors only carry hub
# 1.x, so let that one version check pass. Nothing numerical depends on the hub.
_orig_version = _md.version


def _version_for_import(name: str) -> str:
    v = _orig_version(name)
    if name.replace("_", "-").lower() == "huggingface-hub" and int(v.split(".")[0]) >= 1:
        return "0.99.0"
    return v


_md.version = _version_for_import
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

_md.version = _orig_version

from transformers import (  # noqa: E402
    DynamicCache,
    GenerationMixin,
    Gemma2Config,
    Gemma2ForCausalLM,
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    GptOssConfig,
    GptOssForCausalLM,
    Olmo2Config,
    Olmo2ForCausalLM,
    Phi3Config,
    Phi3ForCausalLM,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen3Config,
    PretrainedConfig,
    Qwen3ForCausalLM,
)

REQUIRED_TRANSFORMERS = "4.57.6"
FORMAT = "ropekit-hf-parity/1"

# Tolerance, fixed before any fixture was generated (not fitted to the data):
#   max over compared elements |got - expected|  <=  TOL * max |expected|
# An f32 pipeline (projections of length 64, RMSNorm, RoPE from an f32 table, scores of
# length 16, softmax, weighted sum of <= 24 rows, o_proj of length 64) accumulates a few
# hundred unit roundoffs (u = 2^-24 ~ 6e-8) at worst: ~1e-5 of the output's scale. 1e-4
# leaves 10x for GPU exp/tanh and summation order, while every semantic mistake we can
# think of (scale, norm weight form, rope base or factor, window, sinks, GQA mapping,
# LongRoPE switch, M-RoPE sections) moves the output by >= 1e-3 of its scale: the
# script measures that for each family ("ablations") and refuses to write otherwise.
TOL = 1e-4
# transformers itself, run in float32, must sit well inside the tolerance.
HF_F32_MAX = TOL / 4
# The independent float64 reference must agree with transformers run in float64 far
# below the tolerance (the remaining gap is transformers' float32 cos/sin, norms and
# softmax, ~1e-7).
REF_MAX = TOL / 20
# Every ablation must miss by at least this much.
ABLATION_MIN = 10 * TOL

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "src", "testing", "hf-parity"))

W_STEP = 1.0 / 64  # weights, biases, norm weights, sinks: multiples of 1/64
X_STEP = 1.0 / 64  # hidden-state inputs: multiples of 1/64


# ----------------------------------------------------------------------------- utilities


def seed_of(*parts: Any) -> int:
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


def grid_uniform(shape, lo: float, hi: float, step: float, *seed_parts) -> torch.Tensor:
    """Uniform draw on the grid {lo, lo+step, ..., hi}; exact in float32."""
    g = torch.Generator().manual_seed(seed_of(*seed_parts))
    n_lo, n_hi = round(lo / step), round(hi / step)
    ints = torch.randint(n_lo, n_hi + 1, tuple(shape), generator=g, dtype=torch.int64)
    return ints.to(torch.float64) * step


def rel_err(got: torch.Tensor, exp: torch.Tensor, valid: Optional[torch.Tensor] = None) -> float:
    """max |got - exp| / max |exp| over the compared rows ([B, S, H] tensors; valid [B, S])."""
    got = got.to(torch.float64)
    exp = exp.to(torch.float64)
    if valid is not None:
        sel = valid.bool()
        got, exp = got[sel], exp[sel]
    return float((got - exp).abs().max() / exp.abs().max())


def fmt_exact(v: float) -> str:
    # inputs are dyadic rationals; repr is exact and shortest
    r = repr(float(v))
    return r[:-2] if r.endswith(".0") else r


def fmt_f32(v: float) -> str:
    # shortest decimal that reads back as the same float32
    s = np.format_float_positional(np.float32(v), unique=True, trim="-")
    e = np.format_float_scientific(np.float32(v), unique=True, trim="-")
    return s if len(s) <= len(e) else e


class Raw:
    """A flat list of numbers, already rendered as JSON number literals."""

    def __init__(self, items: list):
        self.items = items


def norm_num(text: str) -> str:
    # numbers as Biome's formatter writes them (1e-06 -> 1e-6), so that `biome format` leaves the files alone
    return re.sub(r"e\+?(-?)0*(\d)", r"e\1\2", text.lower())


def nums(values, fmt) -> Raw:
    return Raw([norm_num(fmt(v)) for v in values])


def tensor_json(t: torch.Tensor, kind: str) -> dict:
    t = t.detach().to(torch.float64).contiguous()
    flat = t.reshape(-1).tolist()
    if kind == "exact":
        data = nums(flat, fmt_exact)
    elif kind == "f32":
        data = nums(flat, fmt_f32)
    elif kind == "int":
        data = Raw([str(int(v)) for v in flat])
    else:
        raise ValueError(kind)
    return {"shape": list(t.shape), "data": data}


LINE_WIDTH = 110  # biome.json's formatter.lineWidth; the files are written exactly as `biome format` would


def scalar(v: Any) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("non-finite number in fixture")
        return norm_num(json.dumps(v))
    return json.dumps(v)


def dump(obj: Any, indent: int = 0, col: int = 0, tail: int = 0) -> str:
    """JSON in Biome's layout (2-space indent, width 110): objects one member per line; an array on one
    line when it fits (`col` = where it starts, `tail` = characters after it on the line), else numbers
    packed per line (Prettier's fill) and anything else one element per line."""
    pad = "  " * indent
    inner = "  " * (indent + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        lines = []
        n = len(obj)
        for i, (k, v) in enumerate(obj.items()):
            key = f"{json.dumps(str(k))}: "
            comma = "," if i < n - 1 else ""
            lines.append(inner + key + dump(v, indent + 1, len(inner) + len(key), len(comma)) + comma)
        return "{\n" + "\n".join(lines) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple, Raw)):
        if isinstance(obj, Raw):
            items, numeric = obj.items, True
        else:
            if not obj:
                return "[]"
            if any(isinstance(v, (dict, list, tuple, Raw)) for v in obj):
                items, numeric = None, False
            else:
                items = [scalar(v) for v in obj]
                numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in obj)
        if items is not None:
            flat = "[" + ", ".join(items) + "]"
            if col + len(flat) + tail <= LINE_WIDTH:
                return flat
            if numeric:  # fill
                out, line = [], inner
                for i, it in enumerate(items):
                    piece = it + ("," if i < len(items) - 1 else "")
                    if line == inner:
                        line += piece
                    elif len(line) + 1 + len(piece) <= LINE_WIDTH:
                        line += " " + piece
                    else:
                        out.append(line)
                        line = inner + piece
                out.append(line)
                return "[\n" + "\n".join(out) + "\n" + pad + "]"
            return "[\n" + ",\n".join(inner + it for it in items) + "\n" + pad + "]"
        parts = [inner + dump(v, indent + 1, len(inner), 1 if i < len(obj) - 1 else 0) for i, v in enumerate(obj)]
        return "[\n" + ",\n".join(parts) + "\n" + pad + "]"
    return scalar(obj)


# ------------------------------------------------------------------ independent reference


class Reference:
    """The attention layer in float64, written from the config dict and the weights alone:
    the facts a consumer must honour, in code. `ablate` names deliberate mistakes."""

    def __init__(self, config: dict, layer_idx: int, weights: dict[str, torch.Tensor], ablate: str = ""):
        self.ablate = ablate
        cfg = config["text_config"] if "text_config" in config else config
        self.cfg = cfg
        self.model_type = cfg["model_type"]
        self.w = {k: v.to(torch.float64) for k, v in weights.items()}
        H = cfg["hidden_size"]
        self.nH = cfg["num_attention_heads"]
        self.nKV = cfg.get("num_key_value_heads") or self.nH
        self.D = cfg.get("head_dim") or H // self.nH
        layer_types = cfg.get("layer_types")
        self.layer_type = layer_types[layer_idx] if layer_types else "full_attention"
        sliding = self.layer_type == "sliding_attention"
        # Phi-3 has no layer_types: its sliding_window (if any) applies to every layer
        if layer_types is None and cfg.get("sliding_window") is not None:
            sliding = True
        self.window = cfg.get("sliding_window") if sliding else None
        if ablate == "no_window":
            self.window = None
        qpas = cfg.get("query_pre_attn_scalar")
        self.scale = qpas ** -0.5 if qpas is not None else self.D ** -0.5
        if ablate == "scale_head_dim":
            self.scale = self.D ** -0.5
        self.softcap = cfg.get("attn_logit_softcapping")
        if ablate == "no_softcap":
            self.softcap = None
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.norm = {
            "qwen3": "per_head",
            "gemma3_text": "per_head_plus_one",
            "olmo2": "full_width",
        }.get(self.model_type)
        if ablate == "no_qk_norm":
            self.norm = None
        if ablate == "norm_w_not_1_plus_w" and self.norm == "per_head_plus_one":
            self.norm = "per_head"
        if ablate == "norm_per_head" and self.norm == "full_width":
            self.norm = "per_head"
        self.sinks = self.w.get("sinks")
        if ablate == "no_sinks":
            self.sinks = None
        # ---- RoPE
        self.rotary_dim = int(self.D * cfg.get("partial_rotary_factor", 1.0))
        if ablate == "full_rotary":
            self.rotary_dim = self.D
        scaling = dict(cfg.get("rope_scaling") or {})
        theta = cfg["rope_theta"]
        if self.model_type == "gemma3_text" and sliding:
            # Gemma-3 local layers: their own base, never scaled
            theta, scaling = cfg["rope_local_base_freq"], {}
            if ablate == "local_uses_global_rope":
                theta, scaling = cfg["rope_theta"], dict(cfg.get("rope_scaling") or {})
        self.theta = theta
        self.rope_type = scaling.get("rope_type", scaling.get("type", "default"))
        if self.rope_type == "mrope":
            self.rope_type = "default"
        self.scaling = scaling
        self.mrope_section = scaling.get("mrope_section")
        if ablate == "no_scaling":
            self.rope_type = "default"
        self.long_seen = False
        self.cache: list[dict] = []

    # inverse frequencies (f64) and the magnitude factor applied to cos and sin
    def inv_freq(self, long: bool) -> tuple[torch.Tensor, float]:
        r, base, sc = self.rotary_dim, self.theta, self.scaling
        i = torch.arange(0, r, 2, dtype=torch.float64)
        pos_freqs = base ** (i / r)
        inv = 1.0 / pos_freqs
        att = 1.0
        if self.rope_type == "linear":
            inv = inv / sc["factor"]
        elif self.rope_type == "yarn":
            factor = sc["factor"]
            orig = sc.get("original_max_position_embeddings") or self.cfg["max_position_embeddings"]
            bf, bs = sc.get("beta_fast") or 32, sc.get("beta_slow") or 1
            truncate = sc.get("truncate", True)
            if self.ablate == "yarn_truncate":
                truncate = True

            def corr_dim(rot):
                return (r * math.log(orig / (rot * 2 * math.pi))) / (2 * math.log(base))

            low, high = corr_dim(bf), corr_dim(bs)
            if truncate:
                low, high = math.floor(low), math.ceil(high)
            low, high = max(low, 0), min(high, r - 1)
            if low == high:
                high += 0.001
            ramp = ((torch.arange(r // 2, dtype=torch.float64) - low) / (high - low)).clamp(0, 1)
            extrap = 1 - ramp
            inv = (inv / factor) * (1 - extrap) + inv * extrap
            att = sc.get("attention_factor")
            if att is None:
                ms, msa = sc.get("mscale"), sc.get("mscale_all_dim")

                def get_mscale(s, m=1.0):
                    return 1.0 if s <= 1 else 0.1 * m * math.log(s) + 1.0

                att = get_mscale(factor, ms) / get_mscale(factor, msa) if (ms and msa) else get_mscale(factor)
            if self.ablate == "no_attention_factor":
                att = 1.0
        elif self.rope_type == "longrope":
            orig = self.cfg.get("original_max_position_embeddings")
            if orig:
                factor = self.cfg["max_position_embeddings"] / orig
            else:
                orig, factor = self.cfg["max_position_embeddings"], sc.get("factor")
            ext = torch.tensor(sc["long_factor"] if long else sc["short_factor"], dtype=torch.float64)
            if self.ablate == "full_rotary":  # the factors only cover the rotary part; pad with 1
                ext = torch.cat([ext, torch.ones(r // 2 - ext.numel(), dtype=torch.float64)])
            inv = 1.0 / (ext * pos_freqs)
            att = sc.get("attention_factor")
            if att is None:
                att = 1.0 if factor <= 1 else math.sqrt(1 + math.log(factor) / math.log(orig))
            if self.ablate == "no_attention_factor":
                att = 1.0
        return inv, att

    def rope(self, x: torch.Tensor, pos: torch.Tensor, long: bool) -> torch.Tensor:
        """x [B, h, S, D]; pos [B, S] or [3, B, S]."""
        inv, att = self.inv_freq(long)
        r = self.rotary_dim
        if pos.dim() == 3:
            if self.ablate == "mrope_text_row":
                ang = pos[0].to(torch.float64)[:, :, None] * inv
            else:
                sec = self.mrope_section
                rows = torch.cat([torch.full((n,), i % 3) for i, n in enumerate(sec)])
                if self.ablate == "mrope_interleaved":
                    rows = torch.arange(r // 2) % 3
                # angle[b, s, f] = pos[row(f), b, s] * inv[f]
                ang = pos.to(torch.float64)[rows].permute(1, 2, 0) * inv
        else:
            ang = pos.to(torch.float64)[:, :, None] * inv  # [B, S, r/2]
        cos = (torch.cos(ang) * att)[:, None]
        sin = (torch.sin(ang) * att)[:, None]
        xr, xp = x[..., :r], x[..., r:]
        a, b = xr[..., : r // 2], xr[..., r // 2 :]
        out = torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)
        return torch.cat([out, xp], dim=-1)

    def rms(self, x: torch.Tensor, w: torch.Tensor, plus_one: bool) -> torch.Tensor:
        y = x / torch.sqrt((x * x).mean(-1, keepdim=True) + self.eps)
        return y * ((1.0 + w) if plus_one else w)

    def lin(self, x, name):
        y = x @ self.w[name + ".weight"].T
        if name + ".bias" in self.w:
            y = y + self.w[name + ".bias"]
        return y

    def step(self, x: torch.Tensor, pos: torch.Tensor, mask2d: torch.Tensor, use_cache: bool) -> torch.Tensor:
        """x [B, S, hidden]; pos [B, S] or [3, B, S]; mask2d [B, T] covering cached + new tokens."""
        x = x.to(torch.float64)
        B, S, _ = x.shape
        nH, nKV, D = self.nH, self.nKV, self.D
        if "qkv_proj.weight" in self.w:
            qkv = self.lin(x, "qkv_proj")
            if self.ablate == "qkv_neox_layout":
                # read as a per-group interleave [q heads of group j | k_j | v_j] — wrong for Phi-3
                g = nH // nKV
                t = qkv.view(B, S, nKV, (g + 2) * D)
                q = t[..., : g * D].reshape(B, S, -1)
                k = t[..., g * D: (g + 1) * D].reshape(B, S, -1)
                v = t[..., (g + 1) * D:].reshape(B, S, -1)
            else:  # Phi-3: [all q | all k | all v]
                q, k, v = qkv.split([nH * D, nKV * D, nKV * D], dim=-1)
        else:
            q, k, v = self.lin(x, "q_proj"), self.lin(x, "k_proj"), self.lin(x, "v_proj")
        if self.norm == "full_width":
            q = self.rms(q, self.w["q_norm.weight"], False)
            k = self.rms(k, self.w["k_norm.weight"], False)
        q = q.view(B, S, nH, D).transpose(1, 2)
        k = k.view(B, S, nKV, D).transpose(1, 2)
        v = v.view(B, S, nKV, D).transpose(1, 2)
        if self.norm in ("per_head", "per_head_plus_one"):
            plus = self.norm == "per_head_plus_one"
            wq, wk = self.w["q_norm.weight"], self.w["k_norm.weight"]
            if self.model_type == "olmo2":  # only reached by the norm_per_head ablation
                wq, wk = wq.view(nH, 1, D), wk.view(nKV, 1, D)
            q, k = self.rms(q, wq, plus), self.rms(k, wk, plus)
        # LongRoPE: long factors once (max position id in this call) + 1 > original_max
        long = False
        if self.rope_type == "longrope":
            orig = self.cfg.get("original_max_position_embeddings") or self.cfg["max_position_embeddings"]
            long = int(pos.max()) + 1 > orig
            if self.ablate == "longrope_always_short":
                long = False
        q = self.rope(q, pos, long)
        k_rot = self.rope(k, pos, long)
        if not use_cache:
            self.cache = []
        self.cache.append({"k": k, "k_rot": k_rot, "v": v, "pos": pos})
        if self.ablate == "longrope_rerotate_cache":
            keys = torch.cat([self.rope(c["k"], c["pos"], long) for c in self.cache], dim=2)
        else:
            keys = torch.cat([c["k_rot"] for c in self.cache], dim=2)
        vals = torch.cat([c["v"] for c in self.cache], dim=2)
        T = keys.shape[2]
        assert mask2d.shape == (B, T), (mask2d.shape, B, T)
        # GQA: query head h reads kv head h // (nH / nKV)
        if self.ablate == "gqa_modulo":
            idx = torch.arange(nH) % nKV
        else:
            idx = torch.arange(nH) // (nH // nKV)
        keys, vals = keys[:, idx], vals[:, idx]
        s = (q @ keys.transpose(-1, -2)) * self.scale  # [B, nH, S, T]
        if self.softcap is not None:
            s = self.softcap * torch.tanh(s / self.softcap)
        # mask, in cache indices (not position ids): query at index i = T - S + s
        qi = torch.arange(T - S, T)[:, None]
        kj = torch.arange(T)[None, :]
        allowed = kj <= qi
        if self.window is not None:
            allowed = allowed & (kj > qi - self.window)
        allowed = allowed[None, None] & mask2d.bool()[:, None, None, :]
        s = s.masked_fill(~allowed, float("-inf"))
        if self.sinks is not None:
            sink = self.sinks.view(1, nH, 1, 1).expand(B, nH, S, 1)
            p = torch.softmax(torch.cat([s, sink], dim=-1), dim=-1)[..., :-1]
        else:
            p = torch.softmax(s, dim=-1)
        p = torch.nan_to_num(p, nan=0.0)  # fully masked rows (padding queries): don't care
        o = (p @ vals).transpose(1, 2).reshape(B, S, nH * D)
        return self.lin(o, "o_proj")


# --------------------------------------------------------------------------- the families


@dataclass
class Scenario:
    name: str
    description: str
    kind: str  # "prefill" (no cache, model's own positions), "offset" (no cache, explicit position_ids), "generate"
    input_ids: list  # [B, T] token ids (only used to drive the model; the attention input is replaced)
    attention_mask: list  # [B, T] 1 = token, 0 = padding
    prefill_len: int = 0  # generate: tokens in the first (prefill) step
    offset: int = 0  # offset: position of the first token
    extra: dict = field(default_factory=dict)  # e.g. image_grid_thw
    prepare: str = "model"  # generate: "model" = the model's prepare_inputs_for_generation, "generic" = GenerationMixin's


@dataclass
class Family:
    name: str
    title: str
    model_cls: type
    config: Any
    layers: list  # [(file_stem, layer_idx, note)]
    scenarios: list
    ablations: Any  # names understood by Reference: a list, or {file_stem: list}
    attn_path: Callable = lambda m, i: m.model.layers[i].self_attn
    rotary_paths: Callable = lambda m: {"rotary_emb": m.model.rotary_emb}
    init_weight: Optional[Callable] = None  # (param name, shape, seed parts) -> tensor
    notes: list = field(default_factory=list)


def default_weight(name: str, shape, *seed_parts) -> torch.Tensor:
    if name.endswith("norm.weight"):  # multiplicative RMSNorm weight around 1
        return 1.0 + grid_uniform(shape, -0.25, 0.25, W_STEP, *seed_parts)
    if name.endswith(".bias"):
        return grid_uniform(shape, -0.25, 0.25, W_STEP, *seed_parts)
    if name == "sinks":
        return grid_uniform(shape, -1.0, 2.0, W_STEP, *seed_parts)
    return grid_uniform(shape, -0.5, 0.5, W_STEP, *seed_parts)


def gemma_weight(name: str, shape, *seed_parts) -> torch.Tensor:
    if name.endswith("norm.weight"):  # Gemma RMSNorm scales by (1 + w): w around 0
        return grid_uniform(shape, -0.25, 0.25, W_STEP, *seed_parts)
    return default_weight(name, shape, *seed_parts)


def common_text(**kw) -> dict:
    base = dict(
        vocab_size=64,
        hidden_size=64,
        intermediate_size=32,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,
    )
    base.update(kw)
    return base


def ids_row(n: int, start: int = 3) -> list:
    return [(start + 7 * i) % 50 + 3 for i in range(n)]


def text_scenarios(prefill_n=7, offset_n=5, offset=40, gen_prefill=5, gen_steps=3, pad_rows=(4, 7), pad_steps=2):
    T = gen_prefill + gen_steps
    L = max(pad_rows)
    pad_ids, pad_mask = [], []
    for n in pad_rows:
        pad_ids.append([0] * (L - n) + ids_row(n, 11 + n))
        pad_mask.append([0] * (L - n) + [1] * n)
    for r in range(len(pad_rows)):  # generated tokens
        pad_ids[r] += ids_row(pad_steps, 29 + r)
        pad_mask[r] += [1] * pad_steps
    prefill = f"one prompt of {prefill_n} tokens from position 0, no cache"
    offset_d = (f"{offset_n} tokens at positions {offset}..{offset + offset_n - 1} (position_ids given), no cache: "
                "causal within the chunk, RoPE at the given positions")
    decode = (f"prefill of {gen_prefill} tokens into a DynamicCache, then {gen_steps} single-token steps, "
              "inputs prepared by prepare_inputs_for_generation as generate() does")
    padded = (f"batch of 2 left-padded prompts ({pad_rows[0]} and {pad_rows[1]} tokens, padded to {L}), "
              f"then {pad_steps} single-token steps; positions as generate() derives them from the 2-D mask")
    return [
        Scenario("prefill", prefill, "prefill", [ids_row(prefill_n)], [[1] * prefill_n]),
        Scenario("prefill_offset", offset_d, "offset", [ids_row(offset_n, 5)], [[1] * offset_n], offset=offset),
        Scenario("decode", decode, "generate", [ids_row(T, 9)], [[1] * T], prefill_len=gen_prefill),
        Scenario("left_padded_batch", padded, "generate", pad_ids, pad_mask, prefill_len=L),
    ]


def make_families() -> list[Family]:
    fams: list[Family] = []

    # ---- Qwen3: per-head q/k RMSNorm (weight w), before RoPE
    cfg = Qwen3Config(
        **common_text(), head_dim=16, num_hidden_layers=2, rope_theta=1_000_000.0, rms_norm_eps=1e-6,
        attention_bias=False, use_sliding_window=False, max_window_layers=2,
    )
    fams.append(Family(
        "qwen3", "Qwen3 (q/k RMSNorm per head)", Qwen3ForCausalLM, cfg,
        [("qwen3", 1, "full attention layer")],
        text_scenarios(),
        ["no_qk_norm", "gqa_modulo"],
    ))

    # ---- Gemma-3 (text): local sliding layers with rope_local_base_freq, global layers
    # with rope_theta + linear scaling; q/k norm (1 + w); query_pre_attn_scalar
    cfg = Gemma3TextConfig(
        **common_text(hidden_size=48), head_dim=16, num_hidden_layers=6, rope_theta=1_000_000.0,
        rope_local_base_freq=10_000.0, rope_scaling={"rope_type": "linear", "factor": 8.0},
        query_pre_attn_scalar=24, sliding_window=4, rms_norm_eps=1e-6, attention_bias=False,
        final_logit_softcapping=None, attn_logit_softcapping=None,
    )
    fams.append(Family(
        "gemma3", "Gemma-3 text (local + global layers)", Gemma3ForCausalLM, cfg,
        [
            ("gemma3_local", 4, "sliding (local) layer: rope_local_base_freq, no scaling, window 4"),
            ("gemma3_global", 5, "full (global) layer: rope_theta with linear scaling factor 8"),
        ],
        text_scenarios(),
        {
            "gemma3_local": ["norm_w_not_1_plus_w", "scale_head_dim", "no_qk_norm", "no_window",
                             "local_uses_global_rope"],
            "gemma3_global": ["norm_w_not_1_plus_w", "scale_head_dim", "no_qk_norm", "no_scaling"],
        },
        rotary_paths=lambda m: {"rotary_emb": m.model.rotary_emb, "rotary_emb_local": m.model.rotary_emb_local},
        init_weight=gemma_weight,
    ))

    # ---- Gemma-2: logit soft-capping, query_pre_attn_scalar, alternating sliding layers
    cfg = Gemma2Config(
        **common_text(hidden_size=48), head_dim=16, num_hidden_layers=2, rope_theta=10_000.0,
        query_pre_attn_scalar=32, sliding_window=4, attn_logit_softcapping=5.0,
        final_logit_softcapping=30.0, rms_norm_eps=1e-6, attention_bias=False,
    )
    fams.append(Family(
        "gemma2", "Gemma-2 (soft-capped scores, sliding layer)", Gemma2ForCausalLM, cfg,
        [("gemma2_local", 0, "sliding layer, window 4, attn_logit_softcapping 5 (small so the cap bites)")],
        text_scenarios(),
        ["no_softcap", "scale_head_dim", "no_window"],
        init_weight=gemma_weight,
    ))

    # ---- OLMo-2: q/k RMSNorm over the whole projection, before the head split
    cfg = Olmo2Config(
        **common_text(), num_hidden_layers=2, rope_theta=500_000.0, rms_norm_eps=1e-6, attention_bias=False,
    )
    fams.append(Family(
        "olmo2", "OLMo-2 (q/k RMSNorm over the full projection)", Olmo2ForCausalLM, cfg,
        [("olmo2", 1, "full attention layer")],
        text_scenarios(),
        ["norm_per_head", "no_qk_norm", "gqa_modulo"],
    ))

    # ---- GPT-OSS: sinks, YaRN truncate false, alternating sliding/full layers, biases
    cfg = GptOssConfig(
        **common_text(hidden_size=48, max_position_embeddings=131072), head_dim=16, num_hidden_layers=4,
        num_local_experts=2, num_experts_per_tok=1, sliding_window=4, rope_theta=150_000.0,
        rope_scaling={
            "rope_type": "yarn",
            "factor": 32.0,
            "beta_fast": 32.0,
            "beta_slow": 1.0,
            "truncate": False,
            "original_max_position_embeddings": 4096,
        },
        rms_norm_eps=1e-5,
    )
    fams.append(Family(
        "gpt_oss", "GPT-OSS (sinks, YaRN truncate=false, sliding + full layers)", GptOssForCausalLM, cfg,
        [
            ("gpt_oss_sliding", 2, "sliding layer, window 4"),
            ("gpt_oss_full", 3, "full attention layer"),
        ],
        text_scenarios(),
        {
            "gpt_oss_sliding": ["no_sinks", "yarn_truncate", "no_attention_factor", "no_window"],
            "gpt_oss_full": ["no_sinks", "yarn_truncate", "no_attention_factor", "gqa_modulo"],
        },
    ))

    # ---- Phi-3 with LongRoPE: fused qkv [all q | all k | all v], partial rotary,
    # original_max_position_embeddings 16 so that short sequences cross the switch
    rot = int(16 * 0.75)
    short = [round(1.0 + 0.125 * i, 6) for i in range(rot // 2)]
    long_ = [round(1.0 + 1.5 * i, 6) for i in range(rot // 2)]
    cfg = Phi3Config(
        **common_text(max_position_embeddings=64), num_hidden_layers=2, rope_theta=10_000.0,
        partial_rotary_factor=0.75, original_max_position_embeddings=16,
        rope_scaling={"type": "longrope", "short_factor": short, "long_factor": long_}, sliding_window=None,
        rms_norm_eps=1e-5, pad_token_id=0,
    )
    phi_sc = text_scenarios()
    phi_sc[0] = Scenario(
        "prefill",
        "one prompt of 20 tokens from position 0, no cache: 20 > original_max_position_embeddings (16), "
        "so every token uses the long factors",
        "prefill",
        [ids_row(20)],
        [[1] * 20],
    )
    phi_sc[1].description += " (max position 44 + 1 > 16: long factors)"
    phi_sc[2] = Scenario(
        "decode_across_switch",
        "prefill of 14 tokens (positions 0..13, short factors) into a DynamicCache, then 4 single-token steps at "
        "positions 14..17 with the cache carried through (model forward, inputs prepared by GenerationMixin's "
        "generic prepare_inputs_for_generation). Steps at 14 and 15 use short factors (max position + 1 <= 16); "
        "steps at 16 and 17 use long factors for their own query and key, while the keys cached before the "
        "switch keep the short-factor rotation they were stored with",
        "generate",
        [ids_row(18, 9)],
        [[1] * 18],
        prefill_len=14,
        prepare="generic",
    )
    gen_sc = Scenario(
        "decode_across_switch_generate",
        "the same prompt and steps, inputs prepared by Phi3ForCausalLM.prepare_inputs_for_generation as "
        "generate() does: at the first step whose total length exceeds original_max_position_embeddings "
        "(position 16) it drops the cache and runs the whole sequence again (17 tokens, new_cache true), so every "
        "key is re-rotated with the long factors; the next step continues from that cache. In the re-run only "
        "the last row is compared (transformers passes cache_position [16] with 17 tokens, so its 4-D mask is "
        "[B,1,1,1] and the earlier rows are not causal)",
        "generate",
        [ids_row(18, 9)],
        [[1] * 18],
        prefill_len=14,
        prepare="model",
    )
    pad_ids = [[0] * 3 + ids_row(12, 4) + ids_row(2, 30), ids_row(15, 6) + ids_row(2, 31)]
    pad_mask = [[0] * 3 + [1] * 14, [1] * 17]
    phi_sc[3] = Scenario(
        "left_padded_batch",
        "batch of 2 left-padded prompts (12 and 15 tokens, padded to 15), then 2 single-token steps with the "
        "cache carried through (generic prepare_inputs_for_generation). The LongRoPE choice is made once per "
        "call from the largest position id in the whole batch: the second step (row 1 at position 16) uses "
        "long factors for both rows although row 0 is only at position 13",
        "generate",
        pad_ids,
        pad_mask,
        prefill_len=15,
        prepare="generic",
    )
    phi_sc.insert(3, gen_sc)
    fams.append(Family(
        "phi3", "Phi-3 with LongRoPE (fused qkv_proj, partial rotary 0.75)", Phi3ForCausalLM, cfg,
        [("phi3_longrope", 1, "every Phi-3 layer is alike")],
        phi_sc,
        ["longrope_always_short", "longrope_rerotate_cache", "no_attention_factor", "full_rotary",
         "qkv_neox_layout", "gqa_modulo"],
    ))

    # ---- Qwen2-VL: M-RoPE with mrope_section, 3-D position ids from get_rope_index
    V_START, IMG, V_END, VID = 60, 61, 62, 63
    cfg = Qwen2VLConfig(
        text_config=dict(
            **common_text(),
            num_hidden_layers=2,
            rope_theta=1_000_000.0,
            rms_norm_eps=1e-6,
            rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},
            use_sliding_window=False,
            max_window_layers=2,
        ),
        vision_config=dict(
            depth=1, embed_dim=16, hidden_size=64, num_heads=2, mlp_ratio=1, patch_size=14,
            spatial_merge_size=2, temporal_patch_size=2, in_channels=3,
        ),
        image_token_id=IMG, video_token_id=VID, vision_start_token_id=V_START, vision_end_token_id=V_END,
    )
    img6 = [V_START] + [IMG] * 6 + [V_END]  # grid (t,h,w) = (1,4,6) -> 1 x 2 x 3 merged tokens
    img4 = [V_START] + [IMG] * 4 + [V_END]  # grid (1,4,4) -> 1 x 2 x 2
    seq_prefill = [5] + img6 + [6, 7]
    seq_gen = [5, 6, 7] + img6 + [8, 9]
    gen_T = len(seq_gen) + 3
    row0 = [0, 0, 0] + [5] + img4 + [9]
    row1 = [5, 6] + img6 + [9]
    qsc = [
        Scenario(
            "prefill",
            "text + image prompt (1 text token, vision_start, 6 image tokens of grid t,h,w = 1,4,6 merged 2x2 to "
            "1x2x3, vision_end, 2 text tokens) from position 0, no cache; 3-D position ids from get_rope_index",
            "prefill",
            [seq_prefill],
            [[1] * len(seq_prefill)],
            extra={"image_grid_thw": [[1, 4, 6]]},
        ),
        Scenario(
            "prefill_offset",
            "the decode prompt's 3-D position ids (from get_rope_index) plus 40 on all three rows, given "
            "explicitly; no cache",
            "offset",
            [seq_gen],
            [[1] * len(seq_gen)],
            offset=40,
            extra={"image_grid_thw": [[1, 4, 6]]},
        ),
        Scenario(
            "decode",
            "text + image prompt of 13 tokens into a DynamicCache, then 3 single-token steps; decode positions "
            "are cache_position + rope_deltas on all three rows (as prepare_inputs_for_generation does)",
            "generate",
            [seq_gen + [10, 11, 12]],
            [[1] * gen_T],
            prefill_len=len(seq_gen),
            extra={"image_grid_thw": [[1, 4, 6]]},
        ),
        Scenario(
            "left_padded_batch",
            "batch of 2 left-padded text + image prompts (row 0: 3 pads + 8 tokens with a 1,4,4 image; row 1: 11 "
            "tokens with a 1,4,6 image), then 2 single-token steps",
            "generate",
            [row0 + [10, 11], row1 + [12, 13]],
            [[0] * 3 + [1] * 10, [1] * 13],
            prefill_len=11,
            extra={"image_grid_thw": [[1, 4, 4], [1, 4, 6]]},
        ),
    ]
    fams.append(Family(
        "qwen2_vl", "Qwen2-VL text attention (M-RoPE, mrope_section [2, 3, 3])", Qwen2VLForConditionalGeneration, cfg,
        [("qwen2_vl", 1, "text decoder layer")],
        qsc,
        ["mrope_text_row", "mrope_interleaved", "gqa_modulo"],
        attn_path=lambda m, i: m.model.language_model.layers[i].self_attn,
        rotary_paths=lambda m: {"rotary_emb": m.model.language_model.rotary_emb},
    ))
    return fams


# --------------------------------------------------------------------------- HF driving


class Tap:
    """Replaces the hidden states entering one attention module and records its output."""

    def __init__(self, module: torch.nn.Module):
        self.module = module
        self.x: Optional[torch.Tensor] = None
        self.out: list[torch.Tensor] = []
        self.seen: list[dict] = []
        module.register_forward_pre_hook(self._pre, with_kwargs=True)
        module.register_forward_hook(self._post)

    def _pre(self, mod, args, kwargs):
        assert self.x is not None
        if "hidden_states" in kwargs:
            assert kwargs["hidden_states"].shape == self.x.shape, (kwargs["hidden_states"].shape, self.x.shape)
            kwargs["hidden_states"] = self.x.to(kwargs["hidden_states"].dtype)
        else:
            assert args[0].shape == self.x.shape
            args = (self.x.to(args[0].dtype),) + tuple(args[1:])
        cp = kwargs.get("cache_position")
        self.seen.append({"cache_position": None if cp is None else cp.tolist()})
        return args, kwargs

    def _post(self, mod, args, output):
        self.out.append(output[0].detach().clone())


class RotaryTap:
    def __init__(self, module: torch.nn.Module):
        self.module = module
        self.pos: list[torch.Tensor] = []
        self.long: list[Optional[bool]] = []
        module.register_forward_pre_hook(self._pre)
        module.register_forward_hook(self._post)

    def _pre(self, mod, args):
        self.pos.append(args[1].detach().clone())

    def _post(self, mod, args, output):
        if getattr(mod, "rope_type", None) == "longrope":
            self.long.append(mod.inv_freq is not mod.original_inv_freq)
        else:
            self.long.append(None)


def build_model(fam: Family, dtype: torch.dtype, weights: dict):
    torch.manual_seed(0)
    config = copy.deepcopy(fam.config)
    config._attn_implementation = "eager"
    model = fam.model_cls(config)
    model.eval()
    for stem, li, _ in fam.layers:
        attn = fam.attn_path(model, li)
        assert attn.config._attn_implementation == "eager", attn.config._attn_implementation
        params = dict(attn.named_parameters())
        assert set(params) == set(weights[stem]), (sorted(params), sorted(weights[stem]))
        with torch.no_grad():
            for n, p in params.items():
                p.copy_(weights[stem][n].to(p.dtype))
    model.to(dtype)
    return model


def draw_weights(fam: Family) -> dict:
    """{file_stem: {param name: float64 tensor (exact in f32)}} for each layer under test."""
    torch.manual_seed(0)
    config = copy.deepcopy(fam.config)
    config._attn_implementation = "eager"
    model = fam.model_cls(config)
    out = {}
    init = fam.init_weight or default_weight
    for stem, li, _ in fam.layers:
        attn = fam.attn_path(model, li)
        out[stem] = {n: init(n, tuple(p.shape), fam.name, stem, n) for n, p in sorted(attn.named_parameters())}
    return out


def token_inputs(fam: Family, sc: Scenario, hidden: int) -> torch.Tensor:
    """The hidden state fed to the attention module for every token of the scenario: [B, T, hidden].
    Each step feeds the rows of the tokens it runs (a re-prefill feeds them all again)."""
    B, T = len(sc.input_ids), len(sc.input_ids[0])
    return grid_uniform((B, T, hidden), -1.0, 1.0, X_STEP, fam.name, sc.name)


def run_hf(fam: Family, dtype: torch.dtype, weights: dict, sc: Scenario, X: torch.Tensor):
    model = build_model(fam, dtype, weights)
    taps = {stem: Tap(fam.attn_path(model, li)) for stem, li, _ in fam.layers}
    rtaps = {k: RotaryTap(m) for k, m in fam.rotary_paths(model).items()}
    ids = torch.tensor(sc.input_ids, dtype=torch.long)
    mask = torch.tensor(sc.attention_mask, dtype=torch.long)
    extra = {k: torch.tensor(v, dtype=torch.long) for k, v in sc.extra.items()}
    steps = []  # per step: inputs, mask, cache facts
    T = ids.shape[1]
    with torch.no_grad():
        if sc.kind in ("prefill", "offset"):
            for t in taps.values():
                t.x = X
            kwargs = dict(input_ids=ids, attention_mask=mask, use_cache=False)
            if sc.kind == "offset":
                if fam.name == "qwen2_vl":
                    pos, _ = model.model.get_rope_index(ids, extra["image_grid_thw"], None, mask)
                    kwargs["position_ids"] = pos + sc.offset
                else:
                    kwargs["position_ids"] = torch.arange(sc.offset, sc.offset + T)[None].expand(ids.shape[0], -1)
            else:
                kwargs.update(extra)
            model(**kwargs)
            steps.append({"x": X, "mask2d": mask, "new_cache": True, "cache": None})
        else:
            prepare = model.prepare_inputs_for_generation
            if sc.prepare == "generic":  # GenerationMixin's, without the model's override
                prepare = functools.partial(GenerationMixin.prepare_inputs_for_generation, model)
            cache = DynamicCache(config=model.config.get_text_config(decoder=True))
            cur, k = sc.prefill_len, 0
            while cur <= T:
                n_new = sc.prefill_len if k == 0 else 1
                # as generate(): cache_position covers the new tokens only
                cache_position = torch.arange(cur - n_new, cur)
                mi = prepare(
                    ids[:, :cur],
                    past_key_values=cache,
                    attention_mask=mask[:, :cur],
                    cache_position=cache_position,
                    use_cache=True,
                    **(extra if k == 0 else {}),
                )
                n_in = mi["input_ids"].shape[1]
                new_cache = mi.get("past_key_values") is None or mi["past_key_values"].get_seq_length() == 0
                x = X[:, cur - n_in: cur]
                for t in taps.values():
                    t.x = x
                outp = model(**mi)
                cache = outp.past_key_values
                shapes = {}
                for stem, li, _ in fam.layers:
                    lay = cache.layers[li]
                    shapes[stem] = {"keys": list(lay.keys.shape), "values": list(lay.values.shape),
                                    "sliding_window_layer": bool(getattr(lay, "is_sliding", False))}
                steps.append({"x": x, "mask2d": mask[:, :cur], "new_cache": new_cache, "cache": shapes})
                cur += 1
                k += 1
    # positions as seen by the rotary embedding(s)
    first = next(iter(rtaps.values()))
    for other in rtaps.values():
        for a, b in zip(first.pos, other.pos):
            assert torch.equal(a, b)
    assert len(first.pos) == len(steps)
    for i, st in enumerate(steps):
        st["position_ids"] = first.pos[i]
        st["long"] = first.long[i]
        for stem, t in taps.items():
            st.setdefault("out", {})[stem] = t.out[i]
            st.setdefault("cache_position", {})[stem] = t.seen[i]["cache_position"]
    assert all(len(t.out) == len(steps) for t in taps.values())
    return model, steps


# --------------------------------------------------------------------------- per family


def qwen2vl_expected_positions(tokens: list, grids: list, mask: list) -> torch.Tensor:
    """Hand-written M-RoPE position ids for one row (text, vision_start, image, vision_end, text):
    text tokens count up on all three rows; an image of merged grid (t, h, w) starting after
    text index p takes (p + ti, p + hi, p + wi); the next text token starts at max + 1.
    Padding positions are 1 (get_rope_index starts from ones)."""
    out = [[1] * len(tokens) for _ in range(3)]
    real = [i for i, m in enumerate(mask) if m]
    nxt, gi, j = 0, 0, 0
    while j < len(real):
        i = real[j]
        if tokens[i] == 61:
            t, h, w = grids[gi][0], grids[gi][1] // 2, grids[gi][2] // 2
            gi += 1
            base = nxt
            for ti in range(t):
                for hi in range(h):
                    for wi in range(w):
                        ii = real[j]
                        out[0][ii], out[1][ii], out[2][ii] = base + ti, base + hi, base + wi
                        j += 1
            nxt = base + max(t, h, w)
            continue
        out[0][i] = out[1][i] = out[2][i] = nxt
        nxt += 1
        j += 1
    return torch.tensor(out)


def check_positions(fam: Family, sc: Scenario, steps: list) -> None:
    """Positions transformers used must be what the README says."""
    mask = torch.tensor(sc.attention_mask)
    if fam.name == "qwen2_vl":
        if sc.kind == "generate":
            # one image per row in these scenarios: row b holds image b
            rows = [
                qwen2vl_expected_positions(sc.input_ids[b][: sc.prefill_len], [sc.extra["image_grid_thw"][b]],
                                           sc.attention_mask[b][: sc.prefill_len])
                for b in range(len(sc.input_ids))
            ]
            exp0 = torch.stack(rows, dim=1)  # [3, B, S]
            assert torch.equal(steps[0]["position_ids"], exp0), (steps[0]["position_ids"], exp0)
            # decode: every row continues at (its max position + 1) + steps taken, on all three rows
            for k, st in enumerate(steps[1:], start=1):
                nxt = exp0.amax(dim=(0, 2)) + k  # [B]
                exp = nxt.view(1, -1, 1).expand(3, -1, 1)
                assert torch.equal(st["position_ids"], exp), (st["position_ids"], exp)
        else:
            exp = qwen2vl_expected_positions(sc.input_ids[0], sc.extra["image_grid_thw"], sc.attention_mask[0])
            exp = exp[:, None, :] + sc.offset
            assert torch.equal(steps[0]["position_ids"], exp), (steps[0]["position_ids"], exp)
        return
    if sc.kind == "prefill":
        T = mask.shape[1]
        assert torch.equal(steps[0]["position_ids"].expand(mask.shape[0], -1), torch.arange(T)[None].expand_as(mask))
    elif sc.kind == "offset":
        T = mask.shape[1]
        assert torch.equal(steps[0]["position_ids"], torch.arange(sc.offset, sc.offset + T)[None])
    else:
        full = mask.cumsum(-1) - 1
        full = full.masked_fill(mask == 0, 1)
        for st in steps:
            cur = st["mask2d"].shape[1]
            S = st["x"].shape[1]
            assert torch.equal(st["position_ids"], full[:, cur - S: cur]), (st["position_ids"], full)


def config_json(fam: Family) -> dict:
    """The config as a config.json would hold it: every model-specific field (even when it equals the
    class default, so a reader needs no table of defaults) and the generic PretrainedConfig fields only
    where they differ from PretrainedConfig's defaults. It must read back as the same config."""
    config = copy.deepcopy(fam.config)
    config.architectures = [fam.model_cls.__name__]
    base = PretrainedConfig().to_dict()
    keep = {"model_type", "transformers_version"}

    def clean(d: dict) -> dict:
        out = {}
        for k, v in d.items():
            if isinstance(v, dict) and "model_type" in v:  # a sub-config (text_config, vision_config)
                out[k] = clean(v)
            elif k in keep or k not in base or v != base[k]:
                out[k] = v
        return out

    def drop_arch(d: dict) -> dict:
        return {k: drop_arch(v) if isinstance(v, dict) else v for k, v in d.items() if k != "architectures"}

    d = json.loads(json.dumps(clean(config.to_dict())))
    d = {k: (drop_arch(v) if isinstance(v, dict) and "model_type" in v else v) for k, v in d.items()}
    d["architectures"] = [fam.model_cls.__name__]
    if fam.name == "qwen2_vl":
        # transformers rewrites {"type": "mrope"} to "default" on load; published Qwen2-VL config.json
        # files say "mrope", so write that form (it loads to the same config)
        d["text_config"]["rope_scaling"] = {"type": "mrope", "mrope_section": fam.config.text_config.rope_scaling["mrope_section"]}
    full = drop_arch(json.loads(json.dumps(fam.config.to_dict())))
    again = drop_arch(json.loads(json.dumps(type(config).from_dict(copy.deepcopy(d)).to_dict())))
    assert again == full, "config does not round-trip"
    return d


def process_family(fam: Family, log: Callable[[str], None]) -> dict[str, str]:
    weights = draw_weights(fam)
    hidden = fam.config.get_text_config().hidden_size
    cfg_dict = config_json(fam)
    per_layer: dict[str, dict] = {stem: {"scenarios": []} for stem, _, _ in fam.layers}

    def ablations_of(stem: str) -> list:
        return fam.ablations[stem] if isinstance(fam.ablations, dict) else fam.ablations

    # worst error of each deliberate mistake against the expected outputs, over all scenarios
    ablation_worst = {stem: {a: 0.0 for a in ablations_of(stem)} for stem, _, _ in fam.layers}
    for sc in fam.scenarios:
        X = token_inputs(fam, sc, hidden)
        _, st64 = run_hf(fam, torch.float64, weights, sc, X)
        _, st32 = run_hf(fam, torch.float32, weights, sc, X)
        check_positions(fam, sc, st64)
        for stem, li, _ in fam.layers:
            ref = Reference(cfg_dict, li, weights[stem])
            abl = {a: Reference(cfg_dict, li, weights[stem], ablate=a) for a in ablations_of(stem)}
            steps_json = []
            worst_ref = worst_32 = 0.0
            for k, (s64, s32) in enumerate(zip(st64, st32)):
                x = s64["x"]
                exp = s64["out"][stem]
                B, S = x.shape[:2]
                compare = s64["mask2d"][:, -S:].clone()  # padding queries: HF's output there is meaningless
                if s64["new_cache"] and k > 0:
                    # a re-prefill inside generate() (Phi-3 at the LongRoPE switch): transformers passes the
                    # whole sequence with a one-token cache_position, so its 4-D mask is [B, 1, 1, 1] and the
                    # earlier rows attend to later tokens; only the last row (the token being generated) is
                    # meaningful and is compared.
                    compare[:, :-1] = 0
                    r_all = Reference(cfg_dict, li, weights[stem]).step(x, s64["position_ids"], s64["mask2d"], False)
                    quirk = rel_err(r_all[:, :-1], exp[:, :-1])
                    assert quirk > ABLATION_MIN, "expected the non-causal re-prefill rows to differ"
                    log(f"  {stem:16s} {sc.name}: re-prefill at step {k}; rows before the last differ from causal "
                        f"attention by {quirk:.1e} (transformers' one-token cache_position)")
                pos = s64["position_ids"]
                if pos.dim() == 2 and pos.shape[0] != B:
                    pos = pos.expand(B, -1)
                use_cache = not s64["new_cache"]
                r = ref.step(x, pos, s64["mask2d"], use_cache)
                e_ref = rel_err(r, exp, compare)
                e_32 = rel_err(s32["out"][stem], exp, compare)
                assert torch.equal(s32["position_ids"], s64["position_ids"])
                assert s32["long"] == s64["long"]
                worst_ref, worst_32 = max(worst_ref, e_ref), max(worst_32, e_32)
                for a, R in abl.items():
                    e = rel_err(R.step(x, pos, s64["mask2d"], use_cache), exp, compare)
                    ablation_worst[stem][a] = max(ablation_worst[stem][a], e)
                exp_out = exp.clone()
                exp_out[~compare.bool()] = 0.0
                step = {
                    "new_cache": bool(s64["new_cache"]),
                    "hidden_states": tensor_json(x, "exact"),
                    "position_ids": tensor_json(pos, "int"),
                    "attention_mask": tensor_json(s64["mask2d"], "int"),
                    "cache_position": s64["cache_position"][stem] if s64["cache_position"][stem] is not None
                    else list(range(S)),
                    "compare": tensor_json(compare, "int"),
                    "expected": tensor_json(exp_out, "f32"),
                }
                if s64["long"] is not None:
                    step["longrope_factors"] = "long" if s64["long"] else "short"
                if s64["cache"] is not None:
                    step["cache_after"] = s64["cache"][stem]
                steps_json.append(step)
            assert worst_ref <= REF_MAX, f"{stem}/{sc.name}: reference vs HF f64 {worst_ref:.3g} > {REF_MAX}"
            assert worst_32 <= HF_F32_MAX, f"{stem}/{sc.name}: HF f32 vs HF f64 {worst_32:.3g} > {HF_F32_MAX}"
            log(f"  {stem:16s} {sc.name:26s} steps={len(steps_json)} ref_err={worst_ref:.1e} hf_f32_err={worst_32:.1e}")
            per_layer[stem]["scenarios"].append(
                {
                    "name": sc.name,
                    "description": sc.description,
                    "tolerance": {"max_abs_err_over_max_abs_expected": TOL},
                    "measured": {
                        "hf_float32": float(f"{worst_32:.1e}"),
                        "float64_reference": float(f"{worst_ref:.1e}"),
                    },
                    "steps": steps_json,
                }
            )
    files = {}
    for stem, li, note in fam.layers:
        for a, e in ablation_worst[stem].items():
            assert e >= ABLATION_MIN, f"{stem}: ablation {a} misses by only {e:.3g} (< {ABLATION_MIN})"
        log(f"  {stem:16s} ablations: " + ", ".join(f"{a}={e:.1e}" for a, e in ablation_worst[stem].items()))
        model_probe = build_model(fam, torch.float32, weights)
        attn = fam.attn_path(model_probe, li)
        rot = fam.rotary_paths(model_probe)
        text_cfg = fam.config.get_text_config()
        ltypes = getattr(text_cfg, "layer_types", None)
        doc = {
            "format": FORMAT,
            "family": fam.name,
            "title": fam.title,
            "layer_note": note,
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__.split("+")[0],
            "classes": {
                "model": fam.model_cls.__name__,
                "attention": type(attn).__name__,
                "rotary": sorted({type(m).__name__ for m in rot.values()}),
                "config": type(fam.config).__name__,
            },
            "config": cfg_dict,
            "layer_idx": li,
            "layer_type": ltypes[li] if ltypes else "full_attention",
            "derived": derived_facts(fam, li, attn, model_probe),
            "tolerance": {
                "max_abs_err_over_max_abs_expected": TOL,
                "why": "fixed up front from float32 rounding: a float32 pipeline of this size accumulates a few "
                "hundred unit roundoffs (~1e-5 of the output scale); 1e-4 leaves 10x for GPU exp/tanh and "
                "summation order, and every listed semantic mistake misses by >= 1e-3 (see sanity.ablations)",
            },
            "sanity": {
                "ablations": {a: float(f"{e:.2g}") for a, e in ablation_worst[stem].items()},
                "ablations_note": "worst error (same metric as the tolerance) of a deliberately wrong variant "
                "of this layer against `expected`, over all scenarios; each must exceed 10x the tolerance",
            },
            "weights": {n: tensor_json(t, "exact") for n, t in weights[stem].items()},
            "scenarios": per_layer[stem]["scenarios"],
        }
        text = dump(doc) + "\n"
        worst = verify_fixture(text)
        assert worst <= REF_MAX, f"{stem}: the written file reads back {worst:.3g} away from the reference"
        log(f"  {stem:16s} file read back through the reference: worst {worst:.1e}")
        files[stem + ".json"] = text
    return files


def verify_fixture(text: str) -> float:
    """Read a fixture back exactly as a consumer would (JSON only) and run the float64 reference
    over every step; returns the worst error over compared rows."""
    doc = json.loads(text)

    def t(obj, dtype=torch.float64):
        return torch.tensor(obj["data"], dtype=dtype).view(obj["shape"])

    weights = {n: t(w) for n, w in doc["weights"].items()}
    worst = 0.0
    for sc in doc["scenarios"]:
        ref = Reference(doc["config"], doc["layer_idx"], weights)
        for st in sc["steps"]:
            x = t(st["hidden_states"])
            got = ref.step(x, t(st["position_ids"], torch.long), t(st["attention_mask"], torch.long),
                           not st["new_cache"])
            worst = max(worst, rel_err(got, t(st["expected"]), t(st["compare"], torch.long)))
    return worst


def derived_facts(fam: Family, li: int, attn, model) -> dict:
    """Values transformers derives from the config for this layer (for debugging a consumer;
    the consumer must derive them from `config` itself)."""
    head_dim = getattr(attn, "head_dim", None)
    rot_name = "rotary_emb"
    rotaries = fam.rotary_paths(model)
    if fam.name == "gemma3" and getattr(attn, "is_sliding", False):
        rot_name = "rotary_emb_local"
    rot = rotaries[rot_name]
    out = {
        "head_dim": head_dim,
        "num_heads": fam.config.get_text_config().num_attention_heads,
        "num_key_value_heads": fam.config.get_text_config().num_key_value_heads,
        "scaling": float(attn.scaling),
        "sliding_window": getattr(attn, "sliding_window", None) if fam.name != "phi3" else fam.config.sliding_window,
        "attn_logit_softcapping": getattr(attn, "attn_logit_softcapping", None),
        "rotary": {
            "module": rot_name,
            "rope_type": rot.rope_type,
            "rotary_dim": int(rot.inv_freq.numel() * 2),
            "attention_scaling": float(rot.attention_scaling),
            "inv_freq": nums(rot.original_inv_freq.tolist(), fmt_f32),
        },
    }
    if rot.rope_type == "longrope":
        cfg = fam.config
        long_inv, _ = rot.rope_init_fn(cfg, None, seq_len=cfg.original_max_position_embeddings + 1)
        out["rotary"]["inv_freq_long"] = nums(long_inv.tolist(), fmt_f32)
        out["rotary"]["inv_freq_note"] = "inv_freq holds the short factors; inv_freq_long the long ones"
    if fam.name == "qwen2_vl":
        out["rotary"]["mrope_section"] = fam.config.text_config.rope_scaling["mrope_section"]
    out["rotary"]["inv_freq_precision"] = "float32, as transformers computes it"
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="regenerate in memory and compare with the files on disk")
    ap.add_argument("--out", default=OUT_DIR)
    args = ap.parse_args()
    if transformers.__version__ != REQUIRED_TRANSFORMERS:
        print(f"need transformers {REQUIRED_TRANSFORMERS}, found {transformers.__version__}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_grad_enabled(False)
    transformers.logging.set_verbosity_error()
    all_files: dict[str, str] = {}
    index = []
    for fam in make_families():
        print(f"{fam.name}: {fam.title}", flush=True)
        files = process_family(fam, print)
        for stem, li, note in fam.layers:
            index.append({"file": stem + ".json", "family": fam.name, "layer_idx": li, "note": note,
                          "scenarios": [s.name for s in fam.scenarios]})
        all_files.update(files)
    all_files["index.json"] = dump({"format": FORMAT, "transformers_version": transformers.__version__,
                                    "tolerance": {"max_abs_err_over_max_abs_expected": TOL},
                                    "fixtures": index}) + "\n"
    if args.check:
        bad = []
        for name, text in all_files.items():
            p = os.path.join(args.out, name)
            if not os.path.exists(p) or open(p, encoding="utf-8").read() != text:
                bad.append(name)
        if bad:
            print("differs from disk: " + ", ".join(bad), file=sys.stderr)
            return 1
        print("fixtures on disk match a fresh generation")
        return 0
    os.makedirs(args.out, exist_ok=True)
    total = 0
    for name, text in sorted(all_files.items()):
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
            f.write(text)
        total += len(text.encode())
        print(f"wrote {name} ({len(text.encode()) / 1024:.0f} KiB)")
    print(f"total {total / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
