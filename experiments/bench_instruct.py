"""Instruction optimisation benchmark: prompt bits and caption similarity of the prompt model before and after
preference optimisation (DPO with trl) on held-out Flickr8k captions, next to the whole caption and the edge's
structured templates, and what the edge's feedback filter kept out and why.

Runs ``experiments/instruct_dpo.toml`` (or ``--config``); bits are the prompt codec's (header included),
similarity is MiniLM's between the prompt and the held-out caption.

    PYTHONPATH=. python experiments/bench_instruct.py [--config FILE] [--examples 8] [--json]
"""

from __future__ import annotations

import argparse

import torch

from semcom.benchmark import Report, set_threads
from semcom.optimisation.config import load, run_instruct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="experiments/instruct_dpo.toml")
    parser.add_argument("--examples", type=int, default=8, help="held-out prompts shown before and after")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    set_threads(args.threads)
    cfg = load(args.config, "instruct config")
    report = Report("instruction optimisation benchmark", {"config": args.config}, args.json)
    report.start()
    out = run_instruct(cfg)
    rep = out["report"]
    m = rep["metrics"]
    filt = next(d for d in rep["details"] if d["kind"] == "filter")
    dpo = next(d for d in rep["details"] if d["kind"] == "dpo")
    report.line(f"\nprompt model: {out['policy']}, {out['parameters']} parameters; supervised prompt forms: "
                f"{out['sft']['steps']} steps, loss {out['sft']['final_loss']:.3f}")
    report.add({"section": "feedback", **filt},
               f"\nfeedback at the edge: {int(m['candidates'])} candidate prompts, {filt['total']} judgements "
               f"({int(m['feedback_bytes'])} bytes over the uplinks), {100 * filt['filtered_share']:.1f} % kept out")
    for reason, n in filt["dropped"].items():
        report.line(f"{reason:>16}: {n:5d} judgements ({100 * n / max(filt['total'], 1):.1f} %)")
    report.line(f"raters dropped: {filt['raters_dropped']}; correlations with the others: "
                + ", ".join(f"{r} {c:.2f}" for r, c in sorted(filt["rater_correlations"].items())))
    report.line(f"preference pairs {int(m['pairs'])}; left out: gap below the margin {filt['pairs_left_out']['small_gap']}, "
                f"raters disagree {filt['pairs_left_out']['pair_disagreement']}")
    report.add({"section": "dpo", **dpo},
               f"DPO: {dpo.get('steps', 0)} steps on {dpo.get('pairs', 0)} pairs, beta {dpo.get('beta')}, final reward "
               f"accuracy {dpo.get('reward_accuracy', float('nan')):.2f}, margin {dpo.get('reward_margin', float('nan')):.2f}")
    report.line(f"\n{'held-out prompts (' + str(int(len([d for d in rep['details'] if d['kind'] == 'held_out']))) + ')':>30} "
                f"{'bits':>7} {'similarity':>10} {'words':>6}")
    rows = [("whole caption", m["caption_bits"], 1.0, None),
            ("edge templates (best)", m["templates_bits"], m["templates_similarity"], None),
            ("prompt model before DPO", m["prompt_bits_before"], m["similarity_before"], m["words_before"]),
            ("prompt model after DPO", m["prompt_bits_after"], m["similarity_after"], m["words_after"])]
    for name, bits, sim, words in rows:
        report.add({"section": "held_out", "prompts": name, "bits": bits, "similarity": sim, "words": words},
                   f"{name:>30} {bits:7.1f} {sim:10.3f} " + (f"{words:6.1f}" if words is not None else ""))
    report.line("\nexamples (caption | before | after):")
    for d in [d for d in rep["details"] if d["kind"] == "held_out"][: args.examples]:
        report.line(f"  {d['caption']}\n    before ({d['before_bits']} bits, {d['before_similarity']:.2f}): {d['before']}"
                    f"\n    after  ({d['after_bits']} bits, {d['after_similarity']:.2f}): {d['after']}")
    report.finish()


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
