"""Targets as data (configs/<target>/target.json), their aliases, `primus-migrate targets`, and
which release a Primus checkout is (`--target auto`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers_primus import write_tree
from migrate.diagnostics import MigrateError
from migrate.primus import get_profile
from migrate.primus import profiles
from migrate.primus.releases import RELEASES, release
from migrate.primus.releases.detect import detect_release

REPO = Path(__file__).resolve().parent.parent
FIXTURE_26 = REPO / "fixtures" / "primus" / "primus-26.5" / "llama3_8B-pretrain.yaml"


# ---- the catalog --------------------------------------------------------------------------------

def test_bundled_targets_come_from_target_json():
    catalog = profiles.catalog()
    assert {"primus-0.1", "primus-26.5"} <= set(catalog)
    for name, info in catalog.items():
        data = json.loads((REPO / "configs" / name / "target.json").read_text())
        assert (info.release, info.megatron_schema) == (data["release"], data["megatron_schema"])
        assert info.megatron_pin.startswith(info.rules.megatron_pin)  # the registry agrees with the data
        assert not any(str(v).startswith("/") for v in data.values())  # no machine paths in bundled data
    assert profiles.DEFAULT_TARGET == "primus-26.5"


def test_aliases_are_the_tags_and_full_versions():
    assert get_profile("v0.1.0-rc1").name == "primus-0.1"
    assert get_profile("primus-0.1.0-rc1").name == "primus-0.1"
    assert get_profile("primus-26.5.1").name == "primus-26.5" and get_profile("v26.5.1").rules.tag == "v26.5.1"


def test_unknown_target_lists_the_targets():
    with pytest.raises(MigrateError) as err:
        get_profile("primus-9")
    assert "unknown target 'primus-9'" in err.value.message and "primus-0.1" in err.value.hint


def _root_with(tmp_path: Path, extra: dict[str, dict]) -> Path:
    root = tmp_path / "configs"
    root.mkdir()
    for name in ("primus-0.1", "primus-26.5"):
        (root / name).symlink_to(REPO / "configs" / name, target_is_directory=True)
    for name, data in extra.items():
        write_tree(root / name, {"modules/megatron/pre_trainer.yaml": "extends:\n  - trainer_base.yaml\n",
                                 "modules/megatron/trainer_base.yaml": "lr: 1.0e-4\n",
                                 "models/megatron/m.yaml": "num_layers: 2\n"})
        (root / name / "target.json").write_text(json.dumps(data))
    return root


def test_any_folder_with_a_target_json_is_a_target(tmp_path, monkeypatch):
    data = {"target": "primus-0.7.0", "release": "v0.7.0", "primus_commit": "0" * 40,
            "megatron_pin": "84778176" + "0" * 32, "megatron_schema": "d3528a21", "generated_by": "test"}
    root = _root_with(tmp_path, {"primus-0.7.0": data})
    monkeypatch.setattr(profiles, "presets_root", lambda: root)
    assert profiles.targets() == ("primus-0.1", "primus-0.7.0", "primus-26.5")  # by release
    profile = get_profile("v0.7.0")
    assert profile.name == "primus-0.7.0" and profile.rules.family == "defaults-under-keys"
    assert profile.load_module_preset()["lr"] == 1.0e-4


def test_a_target_json_naming_an_unknown_release_is_refused(tmp_path, monkeypatch):
    data = {"target": "primus-9.9", "release": "v9.9", "megatron_schema": "d3528a21"}
    root = _root_with(tmp_path, {"primus-9.9": data})
    monkeypatch.setattr(profiles, "presets_root", lambda: root)
    with pytest.raises(MigrateError, match="no rules for Primus release 'v9.9'"):
        profiles.targets()


# ---- primus-migrate targets ---------------------------------------------------------------------

def test_targets_command_lists_release_pin_family(cli):
    res = cli("targets")
    assert res.code == 0
    line = next(row for row in res.out.splitlines() if row.startswith("primus-0.1 "))
    assert "v0.1.0-rc1" in line and "5a676b36" in line and "yaml-namespace" in line and "bases:" in line
    assert "primus-26.5 (default)" in res.out
    rows = json.loads(cli("targets", "--json").out)
    by_name = {r["target"]: r for r in rows}
    assert by_name["primus-26.5"]["dialect"] == "extends" and by_name["primus-26.5"]["family"] == "dests-only"
    assert "v26.5.1" in by_name["primus-26.5"]["aliases"]


def test_unknown_target_on_the_command_line_is_exit_2(cli, tmp_path):
    res = cli("resolve", str(FIXTURE_26), "--target", "primus-9")
    assert res.code == 2 and "unknown target 'primus-9'" in res.err and "primus-26.5" in res.err


def test_alias_on_the_command_line(cli):
    res = cli("resolve", str(FIXTURE_26), "--target", "v26.5.1", "--json")
    assert res.code == 0 and json.loads(res.out)["num_layers"] == 32


# ---- which release a checkout is ----------------------------------------------------------------

# The lines of Primus's own code each release's markers look for (migrate.primus.releases.detect),
# written into otherwise empty files of a fake checkout.
_CORE = {"primus/backends/megatron/argument_builder.py": "class MegatronArgBuilder:\n",
         "primus/cli/subcommands/train.py": 'return "core"\n'}
MARKERS = {
    "v0.3.0": {"primus/core/utils/yaml_utils.py": 'if "bases" in config:\n',
               "primus/modules/trainer/megatron/trainer.py": "args.moe_layer_freq = moe_freq_type(args.moe_layer_freq)\n"},
    "v0.4.0": {"primus/core/utils/yaml_utils.py": 'if "bases" in config:\nif replaced == config:\n',
               "primus/modules/trainer/megatron/trainer.py": "# args.moe_layer_freq = moe_freq_type(args.moe_layer_freq)\n"},
    "v0.5.0": {"primus/core/utils/yaml_utils.py": 'if "bases" in config:\nif replaced == config:\n',
               "primus/modules/trainer/megatron/trainer.py": "args.moe_layer_freq = eval(args.moe_layer_freq)\n"},
    "v0.6.0": {**_CORE, "primus/cli/subcommands/train.py": 'getenv("PRIMUS_TRAIN_RUNTIME", "legacy")\n',
               "primus/modules/trainer/megatron/trainer.py": "merged_args.update(primus_args)\n"},
    "v0.7.0": {**_CORE, "primus/cli/subcommands/train.py": 'runtime_entry = "legacy"\n',
               "primus/core/utils/yaml_utils.py": "# if not has_key_in_namespace(original_ns, key):\n"},
    "v26.2.1": {**_CORE, "primus/backends/megatron/patches/args/mock_data_patches.py": "args.data_path = None\n"},
    "v26.4.0": {**_CORE, "primus/backends/megatron/patches/args/mock_data_patches.py": '"NullTokenizer"\n'},
    "v26.5.0": {**_CORE, "primus/backends/megatron/patches/args/hsdp_args_patches.py": "\n"},
    "v26.5.1": {**_CORE, "primus/core/config/yaml_loader.py": "_BOOL_MAP = {}\n"},
}


def _checkout(root: Path, tag: str, files: dict[str, str] | None = None) -> Path:
    key = release(tag).inherit_key
    tree = {"primus/configs/modules/megatron/pre_trainer.yaml": f"{key}:\n  - trainer_base.yaml\nlr: 1.0e-04\n",
            "primus/configs/modules/megatron/trainer_base.yaml": "seed: 1\n",
            "primus/configs/models/megatron/m.yaml": "num_layers: 2\n"}
    return write_tree(root, {**tree, **(MARKERS.get(tag, {}) if files is None else files)})


@pytest.mark.parametrize("tag", sorted(MARKERS))
def test_markers_tell_the_release(tmp_path, tag):
    found = detect_release(_checkout(tmp_path, tag), release(tag).inherit_key)
    assert found is not None and found.tag == tag and found.how.startswith("markers")


def test_auto_uses_the_detected_release_and_its_bundled_target(tmp_path, cli):
    root = _checkout(tmp_path / "co", "v26.5.1")
    profile = get_profile("auto", str(root))
    assert (profile.name, profile.release, profile.rules.tag) == ("primus-26.5", "v26.5.1", "v26.5.1")
    assert profile.configs_dir == root / "primus" / "configs"
    older = get_profile("auto", str(_checkout(tmp_path / "old", "v0.6.0")))
    assert (older.name, older.rules.family) == ("primus-0.6.0", "defaults-under-keys")  # bundled or not


def test_auto_refuses_a_checkout_it_cannot_tell(tmp_path, cli):
    root = _checkout(tmp_path / "co", "v26.5.1", files={})
    with pytest.raises(MigrateError, match="cannot tell which Primus release"):
        get_profile("auto", str(root))
    exp = write_tree(tmp_path, {"e.yaml": "x: 1\n"}) / "e.yaml"
    res = cli("resolve", str(exp), "--target", "auto", "--primus-path", str(root))
    assert res.code == 2 and "cannot tell which Primus release" in res.err
    res = cli("resolve", str(exp), "--target", "auto")
    assert res.code == 2 and "--primus-path" in res.err


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                        "HOME": str(root)})


def test_a_release_tag_on_head_wins_over_markers(tmp_path):
    root = _checkout(tmp_path, "v26.5.1")  # markers say v26.5.1; the tag says v26.3
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "x")
    _git(root, "tag", "v26.3")
    found = detect_release(root, "extends")
    assert found is not None and found.tag == "v26.3" and found.how.startswith("git")
    assert get_profile("auto", str(root)).rules.tag == "v26.3"


def test_a_tag_of_an_enclosing_repository_is_not_the_checkouts(tmp_path):
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "commit", "-q", "--allow-empty", "-m", "x")
    _git(tmp_path, "tag", "v26.3")
    root = _checkout(tmp_path / "nested", "v26.5.1")  # a folder inside that repository, not its own checkout
    found = detect_release(root, "extends")
    assert found is not None and found.tag == "v26.5.1" and found.how.startswith("markers")


def test_resolve_with_auto_on_a_checkout(tmp_path, cli):
    root = tmp_path / "co"
    shutil.copytree(REPO / "configs" / "primus-26.5", root / "primus" / "configs")
    write_tree(root, MARKERS["v26.5.1"])
    res = cli("resolve", str(FIXTURE_26), "--target", "auto", "--primus-path", str(root), "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out) == json.loads(cli("resolve", str(FIXTURE_26), "--json").out)
    assert "v26.5.1" in res.err  # the note says which release it found and how


# ---- development time: the markers against every tag's own code ----------------------------------

def _export(repo: str, tag: str, dest: Path) -> Path:
    """The files the markers read, as they are at `tag` (absent files stay absent)."""
    paths = ["primus/configs/modules/megatron", "primus/configs/models/megatron/llama3_8B.yaml",
             "primus/core/utils/yaml_utils.py", "primus/core/config/yaml_loader.py", "primus/__init__.py",
             "primus/modules/trainer/megatron/trainer.py", "primus/cli/subcommands/train.py",
             "primus/backends/megatron/argument_builder.py", "primus/backends/megatron/patches/args"]
    present = subprocess.run(["git", f"--git-dir={repo}", "ls-tree", "-r", "--name-only", f"refs/tags/{tag}", "--",
                              *paths], check=True, capture_output=True, text=True).stdout.split()
    archive = subprocess.run(["git", f"--git-dir={repo}", "archive", f"refs/tags/{tag}", *present],
                             check=True, capture_output=True).stdout
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


@pytest.mark.slow
@pytest.mark.parametrize("tag", sorted(RELEASES))
def test_markers_at_every_tag_name_their_release(tmp_path, tag):
    """Each tag's own code (no git metadata) is detected as itself, or as a tag our registry gives
    the very same rules; its presets use the release's dialect; its Megatron gitlink is the pin."""
    repo = os.environ.get("PRIMUS_GIT")
    if not repo or not os.path.isdir(repo):
        pytest.skip("set PRIMUS_GIT to a Primus git dir to read every release's code")
    tree = _export(repo, tag, tmp_path / "tree")
    key = profiles._checkout_inherit_key(tree / "primus" / "configs")
    assert key == release(tag).inherit_key
    found = detect_release(tree, key)
    assert found is not None and (found.tag == tag or tag in found.same_rules), found
    mine, theirs = release(tag), release(found.tag)
    assert (mine.interpolation, mine.namespace, mine.presets, mine.trainer) == (
        theirs.interpolation, theirs.namespace, theirs.presets, theirs.trainer)
    pin = subprocess.run(["git", f"--git-dir={repo}", "ls-tree", f"refs/tags/{tag}", "third_party/Megatron-LM"],
                         check=True, capture_output=True, text=True).stdout.split()[2]
    assert pin.startswith(release(tag).megatron_pin)


def _show(repo: str, tag: str, path: str) -> str:
    out = subprocess.run(["git", f"--git-dir={repo}", "show", f"refs/tags/{tag}:{path}"], capture_output=True,
                         text=True)
    return out.stdout if out.returncode == 0 else ""


@pytest.mark.slow
@pytest.mark.parametrize("tag", sorted(RELEASES))
def test_release_facts_match_the_tags_code(tag):
    """Each rule our registry gives a tag, read again from that tag's own code (the lines cited in the
    family modules), independently of the detection markers."""
    repo = os.environ.get("PRIMUS_GIT")
    if not repo or not os.path.isdir(repo):
        pytest.skip("set PRIMUS_GIT to a Primus git dir to read every release's code")
    rel = release(tag)
    show = lambda path: _show(repo, tag, path)  # noqa: E731
    utils, loader, train = (show("primus/core/utils/yaml_utils.py"), show("primus/core/config/yaml_loader.py"),
                            show("primus/cli/subcommands/train.py"))
    legacy_default = 'getenv("PRIMUS_TRAIN_RUNTIME", "legacy")' in train or 'runtime_entry = "legacy"' in train
    trainer_py = show("primus/modules/trainer/megatron/trainer.py")
    if "args = self.module_config\n" in trainer_py.replace("# args = self.module_config", ""):
        assert rel.namespace == "yaml"
    elif legacy_default:
        assert rel.namespace == "defaults_under_keys" and "merged_args.update(primus_args)" in trainer_py
    else:
        assert rel.namespace == "dests_only" and "class MegatronArgBuilder" in show(
            "primus/backends/megatron/argument_builder.py")
    # interpolation: which strings are typed, and whether booleans are
    bases_loader = '"bases"' in utils and "def replace_env_variables" in utils
    assert rel.interpolation.every_string == (bases_loader and "if replaced == config:" not in utils)
    assert rel.interpolation.keys == bases_loader
    assert (rel.interpolation.typed("true") is True) == ("_BOOL_MAP" in loader)
    # preset merge and overrides (yaml_utils.merge_namespace / override_namespace)
    assert (rel.presets.shared_keys == "module_wins") == ("Skip duplicate keys" in utils)
    must_exist = "Override namespace failed" in utils and "# if not has_key_in_namespace" not in utils
    assert rel.presets.overrides_must_exist == must_exist
    parser = show("primus/core/launcher/parser.py")
    assert rel.presets.copies_module_keys == ("preserved_attrs" in parser)
    assert rel.presets.adds_yaml_suffix == ("PresetLoader.load(module.config" in parser)
    # the run script, its tuning gate, and the CLI with a `direct` mode
    run_script = show(rel.run.script)
    assert run_script and (rel.run.tuning_gate == ("PRIMUS_HIPBLASLT_TUNING:-0" in run_script))
    if rel.run.checked:  # what it reads is named in it; what it forces is exported with that value
        import re

        # (v0.1.0-rc1 builds MEGATRON_PATH / TORCHTITAN_PATH from its backend names: `${backend^^}_PATH`)
        built = {f"{b.upper()}_PATH" for b in re.findall(r'CUSTOM_BACKENDS=\(([^)]*)\)', run_script)
                 for b in re.findall(r'"(\w+)"', b)}
        assert not [name for name in rel.run.reads - built if not re.search(rf"\b{name}\b", run_script)]
        assert not [name for name, value in rel.run.forces.items()
                    if not re.search(rf"^\s*export {name}={re.escape(value)}\s*(#.*)?$", run_script, re.M)]
    if rel.run.cli:  # ./primus-cli (v26.2+) execs runner/primus-cli, whose usage shows `direct`
        assert show(rel.run.cli.removeprefix("./"))
        assert "primus-cli direct -- train pretrain" in show("runner/primus-cli")
    else:
        assert not show("runner/primus-cli") and not show("primus-cli")
    # the core runtime's build_args patches
    if rel.namespace == "dests_only":
        patches = "primus/backends/megatron/patches/args/"
        assert rel.trainer.mock_data_null_tokenizer == ("NullTokenizer" in show(patches + "mock_data_patches.py"))
        assert rel.trainer.hsdp_replicate_degree == bool(show(patches + "hsdp_args_patches.py"))
        assert rel.trainer.always_sets_save == ("opt-out" not in show(patches + "checkpoint_path_patches.py"))
        assert rel.trainer.data_paths_split_on_space == ("_normalize_data_path" not in show(
            patches + "data_path_split_patches.py"))
    else:
        upc = trainer_py[trainer_py.index("def update_primus_config"):]
        kind = ("eval" if "args.moe_layer_freq = eval(args.moe_layer_freq)" in upc else
                "kept" if "# args.moe_layer_freq = moe_freq_type" in upc else "moe_freq_type")
        assert rel.trainer.moe_layer_freq == kind
        assert rel.trainer.data_paths_split_on_space and 'args.data_path = args.data_path.split(" ")' in upc


def test_a_checkout_may_be_named_by_a_release_not_bundled_here(tmp_path):
    root = _checkout(tmp_path, "v0.4.0", files={})  # no markers: --target decides among `bases:` releases
    profile = get_profile("primus-0.4.0", str(root))
    assert (profile.name, profile.rules.tag) == ("primus-0.4.0", "v0.4.0")
    assert "chosen by --target primus-0.4.0" in profile.notes[0]
    with pytest.raises(MigrateError, match="unknown target 'primus-0.9'"):
        get_profile("primus-0.9", str(root))


def test_convert_for_the_release_of_a_checkout(tmp_path, cli):
    """--target auto on a `bases:` checkout whose code says v0.3.0 (v0.1.0-rc1's rules, Megatron 5a676b36):
    converted with those rules, named after its release, with parity."""
    root = tmp_path / "co"
    shutil.copytree(REPO / "configs" / "primus-0.1", root / "primus" / "configs")
    write_tree(root, MARKERS["v0.3.0"])
    script = REPO / "fixtures" / "scripts" / "rocm" / "train_llama3.sh"
    res = cli("convert", str(script), "-o", str(tmp_path / "out"), "--target", "auto", "--primus-path", str(root),
              "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert (report["target"], report["primus_release"], report["megatron_schema"]) == (
        "primus-0.3.0", "v0.3.0", "5a676b36")
    assert report["parity"]["ok"] and (tmp_path / "out" / report["experiment"]).is_file()


@pytest.mark.parametrize("target", profiles.targets())
def test_every_bundled_target_converts_a_fixture_with_parity(target, tmp_path, cli):
    """Each bundled release, with its own presets and rules, converts the ROCm Llama 3 launch (mock data,
    so the NullTokenizer difference is accepted where the release forces it)."""
    script = REPO / "fixtures" / "scripts" / "rocm" / "train_llama3.sh"
    res = cli("convert", str(script), "-o", str(tmp_path / "out"), "--target", target, "--json",
              "--accept-null-tokenizer")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["target"] == target and report["parity"]["ok"]


@pytest.mark.slow
@pytest.mark.parametrize("script", ["train_llama3.sh", "train_llama2.sh"])  # data paths; mock data
@pytest.mark.parametrize("tag", sorted(RELEASES))
def test_a_conversion_with_each_tags_checkout_is_what_its_own_code_builds(tag, script, tmp_path, cli):
    """End to end per release, before any bundled snapshot of it: convert a ROCm launch with the tag's
    own presets (`--primus-path`, its release detected from its code), then `verify` the result with
    the tag's own loader and trainer (migrate.verify): every Megatron dest agrees."""
    repo = os.environ.get("PRIMUS_GIT")
    if not repo or not os.path.isdir(repo):
        pytest.skip("set PRIMUS_GIT to a Primus git dir to run every release's code")
    tree = tmp_path / "primus-checkout"
    tree.mkdir()
    archive = subprocess.run(["git", f"--git-dir={repo}", "archive", f"refs/tags/{tag}", "primus", "examples"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    res = cli("convert", str(REPO / "fixtures" / "scripts" / "rocm" / script), "-o", str(tmp_path / "out"),
              "--primus-path", str(tree), "--json", "--accept-null-tokenizer")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["parity"]["ok"]
    found = release(report["primus_release"])  # the tag itself, or the newest tag with the very same rules
    assert (found.interpolation, found.namespace, found.presets, found.trainer) == (
        release(tag).interpolation, release(tag).namespace, release(tag).presets, release(tag).trainer)
    res = cli("verify", str(tmp_path / "out" / report["experiment"]), "--primus-path", str(tree))
    assert res.code == 0, res.out + res.err
    assert res.out.startswith("ok: ")


def test_a_target_with_its_own_schema_file_or_none(tmp_path, monkeypatch):
    # `primus-migrate target --megatron-path` writes megatron_schema.json into the target and names it
    own = {"target": "primus-0.7.0", "release": "v0.7.0", "megatron_schema": "megatron_schema.json"}
    none = {"target": "primus-26.2", "release": "v26.2", "megatron_schema": None}
    root = _root_with(tmp_path, {"primus-0.7.0": own, "primus-26.2": none})
    shutil.copy(REPO / "migrate" / "megatron" / "schemas" / "84778176.json", root / "primus-0.7.0" / "megatron_schema.json")
    monkeypatch.setattr(profiles, "presets_root", lambda: root)
    profile = get_profile("primus-0.7.0")
    assert profile.megatron_schema == str(root / "primus-0.7.0" / "megatron_schema.json")
    assert "lr" in profile.schema().defaults()
    with pytest.raises(MigrateError, match="no Megatron option table"):
        get_profile("primus-26.2")
    assert "primus-26.2" in profiles.targets()  # listed, refused only when used
