"""num_query_groups without --group-query-attention: Megatron does not use it, so neither do we.

Reading of Megatron-LM at both pins (5a676b36 for primus-0.1, d3528a21 for primus-26.5):
- megatron/training/arguments.py, core_transformer_config_from_args: `if args.group_query_attention:
  kw_args['num_query_groups'] = args.num_query_groups` else `kw_args['num_query_groups'] = None`;
- megatron/core/transformer/transformer_config.py, __post_init__: `if self.num_query_groups is None:
  self.num_query_groups = self.num_attention_heads`;
- the FLOPs and memory reports (training.py, theoretical_memory_usage.py) first set
  `args.num_query_groups = args.num_attention_heads` when group_query_attention is off.
So the parsed value (Megatron's default 1, or the script's) does not reach the model without GQA; the
Primus presets' `num_query_groups: null` trains the same model. Decision: compare num_query_groups
only with GQA on (derive's num_query_groups_only_with_gqa), and write no override for it otherwise.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
LLAMA2 = REPO / "fixtures" / "scripts" / "rocm" / "train_llama2.sh"


@pytest.mark.parametrize("target", ["primus-0.1", "primus-26.5"])
def test_non_gqa_run_writes_no_num_query_groups_and_parity_agrees(target, tmp_path):
    from migrate.conversion.static_parity import check_static_parity
    from migrate.pipeline import ConvertOptions, convert_script
    from migrate.primus.loader import resolve_experiment_text

    conversion = convert_script(LLAMA2, {"MODEL_SIZE": "7"}, [], ConvertOptions(target=target,
                                                                                 accept_null_tokenizer=True))
    assert conversion.translated.args["group_query_attention"] is False
    assert conversion.translated.args["num_query_groups"] == 1  # Megatron's argparse default
    assert conversion.parity.ok, conversion.parity.format()
    overrides = yaml.safe_load(conversion.files[conversion.experiment_path])["modules"]["pre_trainer"]["overrides"]
    assert "num_query_groups" not in overrides
    resolved = resolve_experiment_text(conversion.files, conversion.experiment_path, conversion.profile)
    assert resolved.values["num_query_groups"] is None  # language_model.yaml: num_query_groups: null
    # with GQA on, num_query_groups counts: a config turning GQA on with 8 groups is a different model
    files = dict(conversion.files)
    text = files[conversion.experiment_path]
    files[conversion.experiment_path] = text.replace(
        "    overrides:\n", "    overrides:\n      group_query_attention: true\n      num_query_groups: 8\n", 1)
    gqa = resolve_experiment_text(files, conversion.experiment_path, conversion.profile)
    parity = check_static_parity(conversion.expected, gqa, conversion.profile)
    assert {"group_query_attention", "num_query_groups"} <= {d for d, _, _ in parity.differences}


@pytest.mark.parametrize("rev", ["5a676b36", "d3528a21"])
def test_megatron_sources_build_the_model_without_query_groups_when_gqa_is_off(rev):
    repo = os.environ.get("MEGATRON_NVIDIA_GIT")
    if not repo or not Path(repo).exists():
        pytest.skip("set MEGATRON_NVIDIA_GIT to a Megatron-LM git dir to read the sources")

    def show(path: str) -> str:
        return subprocess.run(["git", f"--git-dir={repo}", "show", f"{rev}:{path}"], check=True,
                              capture_output=True, text=True).stdout

    args = show("megatron/training/arguments.py")
    assert re.search(r"if args\.group_query_attention:\s*\n\s*kw_args\['num_query_groups'\] = args\.num_query_groups"
                     r"\s*\n\s*else:\s*\n\s*kw_args\['num_query_groups'\] = None", args)
    config = show("megatron/core/transformer/transformer_config.py")
    # the parser's default is 1 (written in arguments.py at 5a676b36, in the dataclass's argparse_meta at d3528a21)
    assert re.search(r"'--num-query-groups', type=int, default=1", args) or re.search(
        r"num_query_groups: Optional\[int\] = field\(\s*default=None, metadata=\{\"argparse_meta\": \{\"default\": 1\}\}",
        config)
    assert re.search(r"if self\.num_query_groups is None:\s*\n\s*self\.num_query_groups = self\.num_attention_heads",
                     config)
    memory = show("megatron/training/theoretical_memory_usage.py")
    assert re.search(r"if not args\.group_query_attention:\s*\n\s*args\.num_query_groups = args\.num_attention_heads",
                     memory)
