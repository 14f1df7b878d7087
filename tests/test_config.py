"""vidlm.config: every bad setting refused when the config is made (or a field set), with a message naming it."""

import dataclasses
import json
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from vidlm.config import (CaptionConfig, CaptioningSettings, ConfigError, EvaluateConfig, FinetuneConfig,
                          ModelSettings, parse_text)
from vidlm.models import Quantization

FILES = dict(input_csv="videos.csv", output_csv="captions.csv")

# (config class, settings, the whole message)
BAD = [
    (FinetuneConfig, dict(learning_rate=-1), "learning_rate must be > 0, got -1.0"),
    (FinetuneConfig, dict(learning_rate=0), "learning_rate must be > 0, got 0.0"),
    (FinetuneConfig, dict(learning_rate=float("nan")), "learning_rate must be a finite number, got nan (float)"),
    (FinetuneConfig, dict(learning_rate="fast"), "learning_rate must be a finite number, got 'fast' (str)"),
    (FinetuneConfig, dict(projector_learning_rate=-1e-3),
     "projector_learning_rate must be > 0, got -0.001"),
    (FinetuneConfig, dict(max_steps=0, num_epochs=0),
     "Nothing to train: max_steps=0 and num_epochs=0; set max_steps > 0 or num_epochs > 0"),
    (FinetuneConfig, dict(num_epochs=0),
     "Nothing to train: max_steps=-1 and num_epochs=0; set max_steps > 0 or num_epochs > 0"),
    (FinetuneConfig, dict(max_steps=0), "max_steps must be -1 (run num_epochs) or >= 1, got 0"),
    (FinetuneConfig, dict(max_steps=-5), "max_steps must be >= -1, got -5"),
    (FinetuneConfig, dict(max_steps=2.5), "max_steps must be an integer, got 2.5 (float)"),
    (FinetuneConfig, dict(num_epochs=-1), "num_epochs must be >= 0, got -1.0"),
    (FinetuneConfig, dict(num_frames=0), "num_frames must be >= 1, got 0"),
    (FinetuneConfig, dict(num_frames="8"), "num_frames must be an integer or None, got '8' (str)"),
    (FinetuneConfig, dict(num_frames=True), "num_frames must be an integer or None, got True (bool)"),
    (FinetuneConfig, dict(lora_r=0), "lora_r must be >= 1, got 0"),
    (FinetuneConfig, dict(lora_alpha=0), "lora_alpha must be >= 1, got 0"),
    (FinetuneConfig, dict(batch_size=0), "batch_size must be >= 1, got 0"),
    (FinetuneConfig, dict(gradient_accumulation_steps=0), "gradient_accumulation_steps must be >= 1, got 0"),
    (FinetuneConfig, dict(lora_dropout=1.5), "lora_dropout must be >= 0 and < 1, got 1.5"),
    (FinetuneConfig, dict(lora_dropout=1), "lora_dropout must be >= 0 and < 1, got 1.0"),
    (FinetuneConfig, dict(lora_dropout=-0.1), "lora_dropout must be >= 0 and < 1, got -0.1"),
    (FinetuneConfig, dict(lora_target_modules="(q_proj"),
     "lora_target_modules must be a regular expression, got '(q_proj' (missing ), unterminated subpattern at "
     "position 0)"),
    (FinetuneConfig, dict(warmup_steps=-1), "warmup_steps must be >= 0, got -1"),
    (FinetuneConfig, dict(lr_scheduler="cosin"),
     "lr_scheduler must be one of ['linear', 'cosine', 'cosine_with_restarts', 'polynomial', 'constant', "
     "'constant_with_warmup', 'inverse_sqrt', 'cosine_with_min_lr', 'warmup_stable_decay'], got 'cosin' (str)"),
    (FinetuneConfig, dict(min_lr_ratio=1.5), "min_lr_ratio must be >= 0 and <= 1, got 1.5"),
    (FinetuneConfig, dict(weight_decay=-0.1), "weight_decay must be >= 0, got -0.1"),
    (FinetuneConfig, dict(max_grad_norm=-1), "max_grad_norm must be >= 0, got -1.0"),
    (FinetuneConfig, dict(max_length=0), "max_length must be >= 1, got 0"),
    (FinetuneConfig, dict(eval_every_steps=-1), "eval_every_steps must be >= 0, got -1"),
    (FinetuneConfig, dict(eval_max_new_tokens=0), "eval_max_new_tokens must be >= 1, got 0"),
    (FinetuneConfig, dict(eval_batch_size=0), "eval_batch_size must be >= 1, got 0"),
    (FinetuneConfig, dict(logging_steps=0), "logging_steps must be >= 1, got 0"),
    (FinetuneConfig, dict(save_every_steps=-1), "save_every_steps must be >= 0, got -1"),
    (FinetuneConfig, dict(feature_cache_dir=""), "feature_cache_dir must not be empty"),
    (FinetuneConfig, dict(gradient_checkpointing=1), "gradient_checkpointing must be true or false, got 1 (int)"),
    (FinetuneConfig, dict(cache_features="no"), "cache_features must be true or false, got 'no' (str)"),
    (FinetuneConfig, dict(resume=""), "resume must not be empty"),
    (FinetuneConfig, dict(resume=1), "resume must be true or false or text, got 1 (int)"),
    (FinetuneConfig, dict(seed=-1), "seed must be >= 0, got -1"),
    (FinetuneConfig, dict(output_dir=""), "output_dir must not be empty"),
    (FinetuneConfig, dict(extra_training_args="report_to=none"),
     "extra_training_args must be a mapping, got 'report_to=none' (str)"),
    (FinetuneConfig, dict(train_projector="yes"), "train_projector must be true or false, got 'yes' (str)"),
    (FinetuneConfig, dict(overwrite="true"), "overwrite must be true or false, got 'true' (str)"),
    (FinetuneConfig, dict(quantization="16bit"),
     "quantization must be one of ['4bit', '8bit', 'none'], got '16bit' (str)"),
    (FinetuneConfig, dict(model=" "), "model must not be empty"),
    (FinetuneConfig, dict(model=None), "model must be text, got None (NoneType)"),
    (CaptionConfig, dict(batch_size=0), "batch_size must be >= 1, got 0"),
    (CaptionConfig, dict(max_new_tokens=0), "max_new_tokens must be >= 1, got 0"),
    (CaptionConfig, dict(num_frames=-2), "num_frames must be >= 1, got -2"),
    (CaptionConfig, dict(num_workers=-1), "num_workers must be >= 0, got -1"),
    (CaptionConfig, dict(torch_threads=0), "torch_threads must be >= 1, got 0"),
    (CaptionConfig, dict(fsync_every_s=-1), "fsync_every_s must be >= 0, got -1.0"),
    (CaptionConfig, dict(wait_timeout_s=0), "wait_timeout_s must be > 0, got 0.0"),
    (CaptionConfig, dict(progress=None), "progress must be true or false, got None (NoneType)"),
    (CaptionConfig, dict(adapter=""), "adapter must not be empty"),
    (CaptionConfig, dict(prompt="  "), "prompt must not be empty"),
    (CaptionConfig, dict(prompt_name="poem"),
     "prompt_name must be one of ['default', 'detailed', 'detailed_examples', 'motion', 'objects', 'short', "
     "'summary'], got 'poem'"),
    (CaptionConfig, dict(prompt="Hi.", prompt_name="short"),
     "Give prompt or prompt_name, not both (prompt='Hi.', prompt_name='short')"),
    (CaptionConfig, dict(output_csv=""), "output_csv must not be empty"),
    (CaptionConfig, dict(input_csv=None), "input_csv must be text, got None (NoneType)"),
    (CaptionConfig, dict(group_by_length="true"), "group_by_length must be true or false, got 'true' (str)"),
    (CaptionConfig, dict(retry_failed=0), "retry_failed must be true or false, got 0 (int)"),
    (CaptionConfig, dict(backend="remote"), "backend must be one of ['local', 'openai'], got 'remote' (str)"),
    (CaptionConfig, dict(base_url=""), "base_url must not be empty"),
    (CaptionConfig, dict(api_key_env="sk-123"), "api_key_env must be the name of an environment variable (letters, "
     "digits and _), such as OPENAI_API_KEY, not the key itself; the value given is not shown"),
    (CaptionConfig, dict(frame_positions=""), "frame_positions must not be empty"),
    (CaptionConfig, dict(image_size=8), "image_size must be >= 16, got 8"),
    (CaptionConfig, dict(jpeg_quality=100), "jpeg_quality must be >= 1 and <= 95, got 100"),
    (CaptionConfig, dict(image_detail="hd"), "image_detail must be one of ['auto', 'low', 'high'], got 'hd' (str)"),
    (CaptionConfig, dict(temperature=3), "temperature must be >= 0 and <= 2, got 3.0"),
    (CaptionConfig, dict(concurrency=0), "concurrency must be >= 1, got 0"),
    (CaptionConfig, dict(max_retries=-1), "max_retries must be >= 0, got -1"),
    (CaptionConfig, dict(retry_base_s=0), "retry_base_s must be > 0, got 0.0"),
    (CaptionConfig, dict(retry_max_s=0), "retry_max_s must be > 0, got 0.0"),
    (CaptionConfig, dict(request_timeout_s=0), "request_timeout_s must be > 0, got 0.0"),
    (CaptionConfig, dict(price_input_per_1m=-1), "price_input_per_1m must be >= 0, got -1.0"),
    (CaptionConfig, dict(price_output_per_1m=-1), "price_output_per_1m must be >= 0, got -1.0"),
    (EvaluateConfig, dict(meteor="maybe"), "meteor must be true or false or one of ['auto'], got 'maybe' (str)"),
    (EvaluateConfig, dict(quantization="4-bit"),
     "quantization must be one of ['4bit', '8bit', 'none'], got '4-bit' (str)"),
    (EvaluateConfig, dict(batch_size=-1), "batch_size must be >= 1, got -1"),
    (EvaluateConfig, dict(output_dir=""), "output_dir must not be empty"),
    (CaptionConfig, dict(gpus_per_process=0), "gpus_per_process must be >= 1, got 0"),
    (EvaluateConfig, dict(max_memory_gib=0), "max_memory_gib must be > 0, got 0.0"),
    (CaptionConfig, dict(attn_implementation="flash"),
     "attn_implementation must be one of ['sdpa', 'eager', 'flash_attention_2'] or None, got 'flash' (str)"),
]


def make(cls, **settings):
    base = {"model": "llava-hf/LLaVA-NeXT-Video-7B-hf", **(FILES if cls is CaptionConfig else {})}
    return cls(**{**base, **settings})


@pytest.mark.parametrize("cls, settings, message", BAD, ids=[f"{c.__name__}-{next(iter(s))}" for c, s, _ in BAD])
def test_a_bad_setting_is_refused_when_the_config_is_made(cls, settings, message):
    with pytest.raises(ConfigError) as error:
        make(cls, **settings)
    assert str(error.value) == message


ONE_FIELD = [b for b in BAD if len(b[1]) == 1 and not b[2].startswith(("Nothing", "max_steps must be -1"))]


@pytest.mark.parametrize("cls, settings, message", ONE_FIELD, ids=[f"{c.__name__}-{next(iter(s))}"
                                                                   for c, s, _ in ONE_FIELD])
def test_a_bad_value_set_later_is_refused_and_the_old_one_kept(cls, settings, message):
    config = make(cls)
    (name, value), = settings.items()
    before = getattr(config, name)
    with pytest.raises(ConfigError) as error:
        setattr(config, name, value)
    assert str(error.value) == message and getattr(config, name) == before


@pytest.mark.parametrize("cls, start, change, message", [
    (FinetuneConfig, {}, {"num_epochs": 0}, "Nothing to train: max_steps=-1 and num_epochs=0"),
    (FinetuneConfig, {"max_steps": 10}, {"max_steps": 0}, "max_steps must be -1 (run num_epochs) or >= 1, got 0"),
    (CaptionConfig, {"prompt": "Hi."}, {"prompt_name": "short"}, "not both"),
    (EvaluateConfig, {"prompt_name": "short"}, {"prompt": "Hi."}, "not both"),
])
def test_a_change_that_breaks_a_rule_between_fields_is_refused_and_undone(cls, start, change, message):
    config = make(cls, **start)
    before = dataclasses.asdict(config)
    (name, value), = change.items()
    with pytest.raises(ConfigError) as error:
        setattr(config, name, value)
    assert message in str(error.value) and dataclasses.asdict(config) == before
    if cls is FinetuneConfig:  # in the other order the same end state is fine
        config.max_steps = 10
        config.num_epochs = 0
        assert (config.max_steps, config.num_epochs) == (10, 0.0)


def test_every_field_has_a_row_in_the_table():
    """A field added without a rule (or without a row here) shows up."""
    named = {name for _, settings, _ in BAD for name in settings}
    every = {f.name for cls in (FinetuneConfig, CaptionConfig, EvaluateConfig) for f in dataclasses.fields(cls)}
    assert every - named == {"dataset"}  # any text, even none: it only describes the data in the run record


def test_good_values_are_kept_and_numbers_take_the_field_type():
    config = FinetuneConfig(model="m", num_epochs=2, learning_rate=1, resume="auto", max_length=None,
                            lora_target_modules=r".*\.(q|v)_proj")
    assert (config.num_epochs, config.learning_rate) == (2.0, 1.0) and type(config.num_epochs) is float
    assert config.resume == "auto" and config.max_length is None
    assert FinetuneConfig(model=Path("ckpt"), output_dir=Path("runs") / "a").output_dir == str(Path("runs") / "a")
    evaluate = EvaluateConfig(model="m", meteor=False)
    assert evaluate.meteor is False and evaluate.instruction() == "Describe the video."
    assert EvaluateConfig(model="m", prompt_name="short").instruction() == "Describe the video in one short sentence."


def test_a_config_from_a_namespace_takes_its_fields_and_checks_them():
    # A notebook's globals(): its parameters next to names that are not settings (imports, data paths, …).
    namespace = {"model": "m", "num_frames": 8, "eval_dataset": "test.csv", "torch": object(), "max_steps": 2}
    config = FinetuneConfig.from_namespace(namespace)
    assert config == FinetuneConfig(model="m", num_frames=8, max_steps=2)
    assert EvaluateConfig.from_namespace(namespace) == EvaluateConfig(model="m", num_frames=8)
    with pytest.raises(ConfigError, match="num_frames must be >= 1, got 0"):
        FinetuneConfig.from_namespace({**namespace, "num_frames": 0})
    with pytest.raises(TypeError, match="model"):
        FinetuneConfig.from_namespace({"num_frames": 8})


def test_a_model_is_required():
    with pytest.raises(TypeError, match="model"):
        FinetuneConfig()


def test_shared_groups_are_written_once_and_quantization_has_one_spelling():
    model_fields = [f.name for f in dataclasses.fields(ModelSettings)]
    captioning = [f.name for f in dataclasses.fields(CaptioningSettings)]
    for cls in (FinetuneConfig, CaptionConfig, EvaluateConfig):
        names = [f.name for f in dataclasses.fields(cls)]
        assert set(model_fields) <= set(names)
        assert all("quantization" not in vars(c).get("__annotations__", {}) for c in cls.__mro__
                   if c is not ModelSettings)
    for cls in (CaptionConfig, EvaluateConfig):
        assert set(captioning) <= {f.name for f in dataclasses.fields(cls)}
        assert not set(vars(cls)["__annotations__"]) & set(captioning)  # not redeclared
    assert typing.get_type_hints(FinetuneConfig)["quantization"] == Quantization
    # the positional order notebooks and tests use: CaptionConfig(input_csv, output_csv, model, ...)
    assert CaptionConfig("a.csv", "b.csv", "m").model == "m"


def test_every_field_has_help_text():
    for cls in (FinetuneConfig, CaptionConfig, EvaluateConfig):
        assert all(f.metadata.get("help") for f in dataclasses.fields(cls)), cls


def test_the_scheduler_names_are_transformers_names():
    from transformers import SchedulerType

    choices = typing.get_args(typing.get_type_hints(FinetuneConfig)["lr_scheduler"])
    assert set(choices) <= {s.value for s in SchedulerType}


@pytest.mark.parametrize("kind, text, value", [
    (int, "8", 8), (float, "2e-5", 2e-5), (bool, "false", False), (bool | str, "auto", "auto"),
    (bool | str, "true", True), (int | None, "none", None), (str | None, "none", None), (str | None, "x", "x"),
    (dict, '{"a": 1}', {"a": 1}),
    (Quantization, "8bit", "8bit")])
def test_text_is_read_as_the_field_type(kind, text, value):
    assert parse_text(kind, text) == value and type(parse_text(kind, text)) is type(value)


@pytest.mark.parametrize("kind, text", [(int, "8.5"), (bool, "maybe"), (dict, "[1]"), (Quantization, "16bit")])
def test_text_of_another_type_is_refused(kind, text):
    with pytest.raises(ValueError):
        parse_text(kind, text)


def test_import_vidlm_config_is_cheap():
    code = "import sys, vidlm.config; print(json.dumps([m for m in ('torch', 'transformers') if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_num_frames_left_out_is_the_familys_own_count_as_the_help_says():
    from vidlm.families import get_family

    config = FinetuneConfig(model="m")
    assert config.num_frames is None and CaptionConfig("a.csv", "b.csv", model="m").num_frames is None
    help_text = " ".join({f.name: f for f in dataclasses.fields(FinetuneConfig)}["num_frames"].metadata["help"].split())
    for family, shown in (("video-llava", "Video-LLaVA"), ("llava-next-video", "LLaVA-NeXT-Video")):
        assert f"{get_family(family).sampling.frames(config.num_frames)} for {shown}" in help_text


def test_the_openai_backend_with_uniform_frames_needs_a_frame_count():
    with pytest.raises(ConfigError, match="frame_positions='uniform' needs num_frames"):
        CaptionConfig("a.csv", "b.csv", model="gpt-4o", backend="openai", frame_positions="uniform")
    assert CaptionConfig("a.csv", "b.csv", model="gpt-4o", backend="openai", frame_positions="uniform",
                         num_frames=4).positions() is None
