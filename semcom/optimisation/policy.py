"""The transmitter's prompt model: a caption LM that rewrites a caption into the prompt it sends.

:class:`PromptPolicy` is one of the GPT-2-architecture caption LMs trained here
(:mod:`semcom.inference.lm`), its vocabulary extended by a separator ``<sep>``; it reads
``<bos> caption <sep>`` and writes the prompt, then ``<eos>``. Its tokenizer is a word-level
``transformers.PreTrainedTokenizerFast`` over the same words, so ``trl`` and ``peft`` take it as they take
any causal LM.

* :func:`supervised_fine_tune` teaches it the prompt forms of :mod:`semcom.optimisation.prompts` (a form
  drawn at random per example: the reference policy, which sends prompts of every length);
* :meth:`PromptPolicy.prompts` samples or decodes greedily; an ``extractive`` policy may only write the
  caption's own words, in their order (each next word one that follows the last word written), so its
  prompts are the caption shortened, never a word the caption did not say;
* :func:`dpo_train` runs direct preference optimisation (``trl.DPOTrainer``, optionally on a LoRA adapter
  of ``peft``) on the preference pairs the edge built from the receivers' filtered feedback.

Captions must fit the model's 40 positions: :func:`usable_captions` keeps those of at most
``max_words`` words, all in the vocabulary.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
from dataclasses import dataclass
from typing import Sequence

import torch

from semcom.errors import ConfigError, InputError
from semcom.inference.lm import BOS, EOS, PAD, caption_words, load_caption_lm

SEP = "<sep>"


def word_tokenizer(words: Sequence[str]):
    """A ``PreTrainedTokenizerFast`` over ``words`` (specials first, as in the caption LMs) plus ``<sep>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(list(words) + [SEP])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##")  # joins words with single spaces
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                                   unk_token="<unk>", additional_special_tokens=[SEP])


@dataclass
class PromptPolicy:
    """The prompt model: ``model`` (GPT2LMHeadModel) and its word-level ``tokenizer`` (with ``<sep>``)."""

    model: object
    tokenizer: object
    source: str = ""
    extractive: bool = False

    @classmethod
    def from_caption_lm(cls, name: str = "small") -> "PromptPolicy":
        """Start from a shipped caption LM (``small``, ``large``) or a checkpoint folder; adds ``<sep>``."""
        lm = load_caption_lm(name)
        model = copy.deepcopy(lm.model)
        tokenizer = word_tokenizer(lm.tokenizer.words)
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        with torch.no_grad():  # <sep> starts as the mean word embedding
            emb = model.get_input_embeddings().weight
            emb[-1] = emb[4:-1].mean(0)
        model.config.pad_token_id, model.config.bos_token_id, model.config.eos_token_id = PAD, BOS, EOS
        model.generation_config.pad_token_id = PAD
        model.generation_config.eos_token_id = EOS
        model.generation_config.bos_token_id = BOS
        model.eval()
        return cls(model, tokenizer, f"caption LM {lm.name}")

    @property
    def words(self) -> list[str]:
        vocab = self.tokenizer.get_vocab()
        return [w for w, _ in sorted(vocab.items(), key=lambda kv: kv[1])]

    @property
    def sep_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(SEP)

    @property
    def max_positions(self) -> int:
        return int(self.model.config.n_positions)

    def in_vocabulary(self, text: str) -> bool:
        if getattr(self, "_vocab", None) is None:
            self._vocab = frozenset(self.tokenizer.get_vocab())
        return all(w in self._vocab for w in caption_words(text))

    def context(self, caption: str) -> str:
        """The text the model reads before the prompt: ``caption words <sep>`` (``<bos>`` is added as an id)."""
        return " ".join(caption_words(caption)) + f" {SEP}"

    def encode_context(self, caption: str) -> list[int]:
        return [BOS] + self.tokenizer(self.context(caption), add_special_tokens=False)["input_ids"]

    @torch.no_grad()
    def prompts(self, caption: str, n: int = 1, *, sample: bool = False, temperature: float = 1.0,
                generator: torch.Generator | None = None) -> list[str]:
        """``n`` prompts for ``caption``: greedy (the same every time) or sampled at ``temperature``."""
        ids = self.encode_context(caption)
        room = self.max_positions - len(ids)
        if room < 2:
            raise InputError(f"caption too long for the prompt model ({len(ids)} of {self.max_positions} positions)")
        words = ids[1:-1]  # the caption's token ids, without <bos> and <sep>
        self.model.eval()
        out = []
        for _ in range(n):
            seq, at = list(ids), 0
            for _ in range(room):
                logits = self.model(input_ids=torch.tensor([seq])).logits[0, -1]
                if self.extractive:  # only words that follow the last one written, or the end
                    allowed = torch.full_like(logits, -math.inf)
                    allowed[[EOS] + words[at:]] = 0.0
                    logits = logits + allowed
                logits[[PAD, BOS, self.sep_id]] = -math.inf
                if sample:
                    probs = torch.softmax(logits / temperature, -1)
                    tok = int(torch.multinomial(probs, 1, generator=generator))
                else:
                    tok = int(logits.argmax())
                if tok == EOS:
                    break
                seq.append(tok)
                if self.extractive:
                    at = words.index(tok, at) + 1
            out.append(self.tokenizer.decode(seq[len(ids):], skip_special_tokens=True).strip())
        return out

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def usable_captions(policy: PromptPolicy, captions: Sequence[str], max_words: int = 16) -> list[str]:
    """Captions of at most ``max_words`` words, every word in the policy's vocabulary (duplicates dropped)."""
    seen, out = set(), []
    for c in captions:
        words = caption_words(c)
        key = " ".join(words)
        if 3 <= len(words) <= max_words and key not in seen and policy.in_vocabulary(c):
            seen.add(key)
            out.append(key)
    return out


def supervised_fine_tune(policy: PromptPolicy, examples: Sequence[tuple[str, str]], *, steps: int, batch: int = 32,
                         lr: float = 2e-3, seed: int = 0) -> dict:
    """Teach ``policy`` (in place) to write ``prompt`` after ``caption <sep>`` for ``(caption, prompt)`` examples;
    the loss covers the prompt and its ``<eos>`` only. Returns the mean loss of the last 20 steps."""
    if steps < 1 or not examples:
        raise ConfigError("supervised fine-tuning needs steps >= 1 and examples")
    rows = []
    for caption, prompt in examples:
        ctx = policy.encode_context(caption)
        target = policy.tokenizer(" ".join(caption_words(prompt)), add_special_tokens=False)["input_ids"] + [EOS]
        seq = (ctx + target)[: policy.max_positions]
        rows.append((seq, len(ctx)))
    gen = torch.Generator().manual_seed(seed)
    model = policy.model
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    losses = []
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        pick = [rows[int(i)] for i in torch.randint(len(rows), (batch,), generator=gen)]
        width = max(len(s) for s, _ in pick)
        x = torch.full((len(pick), width), PAD, dtype=torch.long)
        labels = torch.full_like(x, -100)
        for k, (s, n_ctx) in enumerate(pick):
            x[k, : len(s)] = torch.tensor(s)
            labels[k, n_ctx: len(s)] = torch.tensor(s[n_ctx:])
        loss = model(input_ids=x, attention_mask=(x != PAD).long(), labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    return {"steps": steps, "final_loss": float(sum(losses[-20:]) / len(losses[-20:]))}


def dpo_train(policy: PromptPolicy, rows: Sequence[dict], *, beta: float = 0.1, lr: float = 5e-4, epochs: float = 2.0,
              batch: int = 16, lora_rank: int = 0, seed: int = 0) -> dict:
    """Direct preference optimisation of ``policy`` (in place) with ``trl.DPOTrainer``.

    rows:      ``{"caption", "chosen", "rejected"}`` (prompt texts).
    lora_rank: 0 trains every weight; > 0 trains a LoRA adapter of that rank on the attention and MLP
               layers (``peft``), merged into the weights afterwards.
    Returns the trainer's last logged figures (loss, reward accuracy and margin) and the run's facts.
    """
    try:
        from datasets import Dataset
        from trl import DPOConfig, DPOTrainer
    except ImportError as err:
        raise ConfigError("preference optimisation needs the optional packages trl and datasets: "
                          "pip install 'semcom[optimisation]'") from err
    if not rows:
        raise InputError("no preference pairs to train on")
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    data = Dataset.from_list([{"prompt": f"{policy.tokenizer.bos_token} {policy.context(r['caption'])}",
                               "chosen": " ".join(caption_words(r["chosen"])),
                               "rejected": " ".join(caption_words(r["rejected"]))} for r in rows])
    peft_config = None
    if lora_rank:
        try:
            from peft import LoraConfig
        except ImportError as err:
            raise ConfigError("a LoRA adapter needs the optional package peft: pip install 'semcom[optimisation]'") from err
        peft_config = LoraConfig(r=lora_rank, lora_alpha=2 * lora_rank, lora_dropout=0.0, bias="none",
                                 target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True, task_type="CAUSAL_LM")
    with tempfile.TemporaryDirectory(prefix="semcom-dpo-") as tmp:
        args = DPOConfig(output_dir=tmp, per_device_train_batch_size=batch, learning_rate=lr, num_train_epochs=epochs,
                         beta=beta, max_length=policy.max_positions, logging_steps=1, save_strategy="no",
                         report_to=[], seed=seed, use_cpu=True, dataloader_num_workers=0, disable_tqdm=True,
                         lr_scheduler_type="cosine", warmup_steps=2)
        os.environ.setdefault("WANDB_DISABLED", "true")
        reference = None if peft_config is not None else copy.deepcopy(policy.model).eval()
        trainer = DPOTrainer(model=policy.model, ref_model=reference, args=args, train_dataset=data,
                             processing_class=policy.tokenizer, peft_config=peft_config)
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        for callback in (PrinterCallback, ProgressCallback):  # figures go in the result, not on stdout
            trainer.remove_callback(callback)
        result = trainer.train()
        logs = [h for h in trainer.state.log_history if "loss" in h]
        model = trainer.model
        if peft_config is not None:
            model = model.merge_and_unload()
    policy.model = model.eval()
    last = logs[-1] if logs else {}
    return {"steps": int(result.global_step), "train_loss": float(result.training_loss), "pairs": len(rows),
            "reward_accuracy": float(last.get("rewards/accuracies", float("nan"))),
            "reward_margin": float(last.get("rewards/margins", float("nan"))), "beta": beta, "lora_rank": lora_rank}
