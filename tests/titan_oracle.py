"""Run torchtitan's own ConfigManager (at a pinned commit) on argv, as a test oracle.

Used by tests only. torchtitan's config code needs tyro (a test dependency) and imports torch only
for names it does not use while parsing; a stub stands in for torch, and torchtitan's package
`__init__` (which imports its quantization modules) is replaced by an empty one. Prints the
resulting JobConfig as JSON, or `{"error": ...}` when torchtitan rejects the input.

usage: python titan_oracle.py TREE ARGV...   (TREE: an exported torchtitan tree at the pin)
"""

import json
import os
import sys
import types


def main() -> None:
    tree = sys.argv[1]
    argv = sys.argv[2:]
    torch = types.ModuleType("torch")
    torch.float16, torch.float32, torch.bfloat16 = "float16", "float32", "bfloat16"
    torch.distributed = types.SimpleNamespace(is_initialized=lambda: False)
    for name in ("device", "dtype", "Tensor", "Size"):  # tyro looks for these when torch is loaded
        setattr(torch, name, type(name, (), {}))
    sys.modules["torch"] = torch
    pkg = types.ModuleType("torchtitan")
    pkg.__path__ = [os.path.join(tree, "torchtitan")]
    sys.modules["torchtitan"] = pkg
    import logging

    logging.disable(logging.CRITICAL)
    try:
        from torchtitan.config.manager import ConfigManager
    except ImportError:
        from torchtitan.config_manager import ConfigManager
    from dataclasses import asdict

    try:
        config = ConfigManager().parse_args(argv)
    except SystemExit as exc:
        print(json.dumps({"error": f"exit {exc.code}"}))
        return
    except Exception as exc:  # noqa: BLE001 - any rejection is an answer here
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return
    print(json.dumps(asdict(config), default=str))


if __name__ == "__main__":
    main()
