"""Suite ``size``: item-side parameters and memory, ID table vs MOTOR, computed and measured by building both."""

from __future__ import annotations

import json
from dataclasses import dataclass

from motor.bench.harness import BenchOptions, run_module
from motor.bench.report import Section, write_csv
from motor.config import doc


@dataclass
class SizeOptions(BenchOptions):
    max_items: int = doc(10 ** 7, "largest catalogue actually built (larger ones are computed only)")

    def __post_init__(self):
        super().__post_init__()
        if self.quick:
            self.max_items = min(self.max_items, 10 ** 4)


def run(opts: SizeOptions) -> Section:
    from motor.encoders import MotorEncoderConfig, item_side_parameters

    T, K, dim = 8, 64, 64  # the benchmark MOTOR setting: 2 modalities x M=4, K=64
    cfg = MotorEncoderConfig()
    motor_cfg = {"tcn": cfg.tcn, "token_dim": cfg.token_dim, "layers": cfg.layers, "heads": cfg.heads}
    rows = []
    for n in [10 ** e for e in range(3, 8)]:
        row = {"items": n, "id_params": n * dim, "motor_params": item_side_parameters(n, T, T * K, dim, cfg),
               "id_bytes": n * dim * 4}
        row["motor_bytes"] = row["motor_params"] * 4 + n * T * 4  # parameters + int32 token ids (frozen content)
        for kind in ("id", "motor"):
            if n > opts.max_items:
                continue
            m = run_module("motor.bench.size_probe", [kind, str(n), str(T), str(K), str(dim), json.dumps(motor_cfg)],
                           timeout=1800, threads=opts.threads)
            if "error" in m:
                row[f"{kind}_measured_mb"] = "failed: " + m["error"][:60]
            else:
                row.update({f"{kind}_measured_params": m["params"], f"{kind}_measured_mb": round(m["rss_delta"] / 1e6, 1),
                            f"{kind}_batch_ms": round(m["batch_ms"], 2)})
        rows.append(row)
        print(json.dumps(row), flush=True)
    if opts.write:
        write_csv("size_quick" if opts.quick else "size", rows)
    lines = ["## Item-side model size: ID table vs MOTOR", "",
             f"ID: one {dim}-d row per item. MOTOR: token table (V = {T} slots x {K} codewords = {T * K} tokens) "
             f"+ slot embeddings + TCN ({json.dumps(motor_cfg)}), plus the frozen token ids (int32, {T} per item, "
             "not trainable). Computed from the formulas; measured by building each encoder in a fresh process "
             "(resident memory growth) and timing the encoding of a batch of 2,048 items.", "",
             "| items | ID params | MOTOR params | ID MB | MOTOR MB (params + token ids) | measured ID MB | "
             "measured MOTOR MB | ID batch ms | MOTOR batch ms |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['items']:,} | {r['id_params']:,} | {r['motor_params']:,} | {r['id_bytes'] / 1e6:.1f} | "
                     f"{r['motor_bytes'] / 1e6:.1f} | {r.get('id_measured_mb', 'not built')} | "
                     f"{r.get('motor_measured_mb', 'not built')} | {r.get('id_batch_ms', '-')} | "
                     f"{r.get('motor_batch_ms', '-')} |")
    return Section("\n".join(lines))
