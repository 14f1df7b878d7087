"""Captions scored during training: a Trainer callback that captions held-out clips with the model being trained
every N steps and logs BLEU/ROUGE-L/CIDEr beside the loss (`FinetuneConfig.eval_every_steps`)."""

from __future__ import annotations

from contextlib import contextmanager

from transformers import TrainerCallback

from vidlm.data.samples import Sample


class CaptionEvalCallback(TrainerCallback):
    """Every `every_steps` optimizer steps, caption `samples` with the model being trained and log caption metrics.

    Logged as `eval_BLEU-4`, `eval_ROUGE-L`, `eval_CIDEr`… through `trainer.log`, so they land in `log_history`
    next to the loss and in whatever `report_to` names. METEOR is left out: it would start Java at every evaluation.
    """

    def __init__(self, processor, samples: list[Sample], every_steps: int, num_frames: int,
                 max_new_tokens: int = 32, batch_size: int = 8, family=None):
        if every_steps <= 0:
            raise ValueError(f"every_steps must be positive, got {every_steps}")
        self.processor, self.samples, self.every_steps = processor, samples, every_steps
        self.num_frames, self.max_new_tokens, self.batch_size = num_frames, max_new_tokens, batch_size
        self.family = family  # None: read from the model's config at the first evaluation
        self.trainer = None
        self._frames = None  # decoded at the first evaluation, reused at every later one

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every_steps or self.trainer is None:
            return
        from vidlm.captioning import caption_videos
        from vidlm.families import family_of
        from vidlm.metrics.scores import score_captions

        self.family = self.family or family_of(model.config)
        if self._frames is None:
            self._frames = [self.family.sampling.load(s.video, self.num_frames, window=getattr(s, "window", None))
                            for s in self.samples]
        with _no_cpu_inference_repacking(model):
            captions = caption_videos(model, self.processor, self._frames, batch_size=self.batch_size,
                                      max_new_tokens=self.max_new_tokens, progress=False, family=self.family)
        model.train()  # caption_videos switched it to eval mode
        scores = score_captions(captions, [[s.answer] for s in self.samples], meteor=False)
        should_log = control.should_log  # logging clears it: the Trainer must still log this step's loss
        self.trainer.log({f"eval_{name}": value for name, value in scores.items() if value is not None})
        control.should_log = should_log


@contextmanager
def _no_cpu_inference_repacking(model):
    """Keep bitsandbytes from repacking 4-bit weights for its CPU inference kernel while we caption mid-training.

    In eval mode on CPUs with AVX512-BF16, bitsandbytes converts each 4-bit weight to a layout whose matmul has no
    autograd; training after that silently stops propagating gradients through the frozen layers.
    """
    layers = [m for m in model.modules() if getattr(m, "support_avx512bf16_for_cpu", False)]
    for layer in layers:
        layer.support_avx512bf16_for_cpu = False
    try:
        yield
    finally:
        for layer in layers:
            layer.support_avx512bf16_for_cpu = True
