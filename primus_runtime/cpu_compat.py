"""The few places where megatron-core 0.16.1 assumes CUDA, made to run on CPU.

Everything CPU-specific in the runtime lives here, so the rest of the package is
plain megatron-core. `install()` is a no-op when CUDA is in use. What it changes:

1. Dozens of allocations use `device=torch.cuda.current_device()` (rotary
   embeddings, tensor-parallel gathers, p2p buffers, MoE routers). On a CPU-only
   process that call can only raise, so `torch.cuda.current_device()` is made to
   answer "cpu" and `torch.cuda.synchronize()` to do nothing. (Only when CUDA is
   unavailable; a CUDA process is never patched.)
   A few modules hard-code `device="cuda"` (the pipeline schedules' token counter,
   the default causal mask, the MoE metrics tracker) or CUDA streams (the MoE
   all-to-all dispatcher, overlapped shared experts); they get a `torch` stand-in
   that sends "cuda" allocations to the CPU and whose streams are no-ops. No other
   module sees it.
2. The model-parallel RNG tracker (`get_cuda_rng_tracker()`, used for dropout
   inside tensor-parallel regions) stores CUDA generator states. We install a
   tracker with the same names, seeds and fork semantics over the CPU generator.
   Activation recomputation (`--recompute-activations`, `--recompute-granularity`)
   saves and restores the CPU generator, the CUDA generator and the tracker around
   the recomputed forward; without CUDA there is no CUDA generator, so that part is
   a no-op (the CPU generator and the tracker, which now holds the CPU states,
   are still restored: dropout in the recomputed pass draws the same masks).
3. Fused kernels (`gradient_accumulation_fusion`, bias/activation/dropout/softmax/
   rope fusions, persistent layer norm, fused cross entropy, grouped GEMM, ...)
   exist only as CUDA extensions. `CPU_UNFUSED` lists the TransformerConfig fields
   switched off; each is numerically the unfused computation of the same math.

4. The MoE all-to-all dispatcher turns its split sizes into numpy arrays with
   `maybe_move_tensor_to_cpu(..., as_numpy=True)`, which only converts tensors that
   are on a GPU; CPU tensors reach `all_to_all_single` as tensors and are refused.
   The dispatcher gets a version that also converts CPU tensors.
5. Without Transformer Engine, `moe_utils` never defines `te_general_gemm` but its
   router GEMM tests it against None (NameError). `fill_missing_te_names()` defines
   it as None (megatron-core's intended fallback, plain torch.mm). Likewise
   `multi_latent_attention` believes TE is present when its `TELinear` is only a
   stand-in object (isinstance(x, <mock>) fails); its HAVE_TE is set False then. Applied on CUDA too,
   since TE is optional there as well. (MLA's core attention on the local spec is
   `primus_runtime.mla_attention`: not a CPU matter, the local MLA spec is incomplete.)

6. megatron-core decorates small fused functions (MoE routing, activations) with
   `torch.compile`; on a CPU that compiles C++ kernels on first use, tens of seconds
   per shape for a run meant to take seconds. On CPU those functions run eagerly
   (`torch._dynamo.config.disable`), the same math torch.compile would fuse.

megatron-core's DistributedDataParallel and its optimizer wrappers allocate CUDA
buffers, so the runtime does not use them at all (see `primus_runtime.optim`).
"""

from __future__ import annotations

import contextlib
import importlib.util
from typing import Any, Iterator

import torch

# TransformerConfig fields that select a CUDA-only kernel, and their unfused value.
CPU_UNFUSED: dict[str, Any] = {
    "gradient_accumulation_fusion": False,
    "bias_activation_fusion": False,
    "bias_dropout_fusion": False,
    "masked_softmax_fusion": False,
    "apply_rope_fusion": False,
    "persist_layer_norm": False,
    "cross_entropy_loss_fusion": False,
    "moe_grouped_gemm": False,
    "moe_permute_fusion": False,
    "moe_router_fusion": False,
    "tp_comm_overlap": False,
    "use_te_rng_tracker": False,
    "deallocate_pipeline_outputs": False,
}

_installed = False


def _cpu(device: Any) -> Any:
    if device is None:
        return None
    text = str(device)
    return "cpu" if text.startswith("cuda") or text.isdigit() else device


class _CpuStream:
    """A CUDA stream stand-in: on the CPU every operation is already ordered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def wait_stream(self, other: Any) -> None:
        return None

    def synchronize(self) -> None:
        return None

    def record_event(self, *args: Any, **kwargs: Any) -> "_CpuStream":
        return self  # an event whose synchronize() returns at once


_ONE_STREAM = _CpuStream()  # there is one CPU "stream": side streams are the main stream


class _CpuCuda:
    """`torch.cuda` as seen by the patched modules: the current device is the CPU."""

    @staticmethod
    def Stream(*args: Any, **kwargs: Any) -> _CpuStream:  # noqa: N802 - mirrors torch.cuda.Stream
        return _ONE_STREAM

    def current_device(self) -> str:
        return "cpu"

    def synchronize(self, *args: Any, **kwargs: Any) -> None:
        return None

    def current_stream(self, *args: Any, **kwargs: Any) -> _CpuStream:
        return _ONE_STREAM

    def stream(self, stream: Any) -> Any:
        return contextlib.nullcontext()

    def __getattr__(self, name: str) -> Any:
        return getattr(torch.cuda, name)


class _CpuTorch:
    """`torch` for modules that hard-code CUDA allocations; everything else passes through."""

    cuda = _CpuCuda()

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)

    @staticmethod
    def zeros(*args: Any, device: Any = None, **kwargs: Any) -> torch.Tensor:
        return torch.zeros(*args, device=_cpu(device), **kwargs)

    @staticmethod
    def empty(*args: Any, device: Any = None, **kwargs: Any) -> torch.Tensor:
        return torch.empty(*args, device=_cpu(device), **kwargs)

    @staticmethod
    def ones(*args: Any, device: Any = None, **kwargs: Any) -> torch.Tensor:
        return torch.ones(*args, device=_cpu(device), **kwargs)

    @staticmethod
    def tensor(*args: Any, device: Any = None, **kwargs: Any) -> torch.Tensor:
        return torch.tensor(*args, device=_cpu(device), **kwargs)  # type: ignore[misc]


def _make_cpu_tracker() -> Any:
    from megatron.core.tensor_parallel import random as mp_random

    class CpuRNGStatesTracker(mp_random.CudaRNGStatesTracker):
        """megatron-core's tracker with the CPU generator in place of the CUDA one."""

        def add(self, name: str, seed: int) -> None:
            self._is_initialized = True
            if seed in self.seeds_:
                raise Exception(f"seed {seed} already exists")
            self.seeds_.add(seed)
            if name in self.states_:
                raise Exception(f"rng state {name} already exists")
            saved = torch.get_rng_state()
            torch.manual_seed(seed)
            self.states_[name] = torch.get_rng_state()
            torch.set_rng_state(saved)

        @contextlib.contextmanager
        def fork(self, name: str = mp_random._MODEL_PARALLEL_RNG_TRACKER_NAME) -> Iterator[None]:
            if name not in self.states_:
                raise Exception(f"rng state {name} is not added")
            saved = torch.get_rng_state()
            torch.set_rng_state(self.states_[name])
            try:
                yield
            finally:
                self.states_[name] = torch.get_rng_state()
                torch.set_rng_state(saved)

    return CpuRNGStatesTracker()


def _move_to_cpu(tensor: Any, as_numpy: bool = False, record_stream: bool = False) -> Any:
    if torch.is_tensor(tensor) and as_numpy:
        return tensor.detach().cpu().numpy()
    return tensor


def _no_cuda_rng_state(*args: Any, **kwargs: Any) -> None:
    return None  # no CUDA generator to save


def _set_no_cuda_rng_state(*args: Any, **kwargs: Any) -> None:
    return None  # nor to restore


def fill_missing_te_names() -> None:
    from megatron.core.transformer import multi_latent_attention
    from megatron.core.transformer.moe import moe_utils

    if not hasattr(moe_utils, "te_general_gemm"):
        moe_utils.te_general_gemm = None  # type: ignore[attr-defined]
    if importlib.util.find_spec("transformer_engine") is None:
        multi_latent_attention.HAVE_TE = False  # its probe passed on a stand-in (a mock) class


def install() -> None:
    """Make megatron-core usable without CUDA (idempotent)."""
    global _installed
    if _installed:
        return
    from megatron.core.pipeline_parallel import p2p_communication, schedules
    from megatron.core.tensor_parallel import random as mp_random
    from megatron.core.transformer import utils as transformer_utils
    from megatron.core.transformer.moe import moe_utils, shared_experts, token_dispatcher

    fill_missing_te_names()
    if torch.cuda.is_available():
        return
    from torch._dynamo import config as dynamo_config

    dynamo_config.disable = True
    torch.cuda.current_device = _CpuCuda.current_device.__get__(_CpuCuda())  # type: ignore[method-assign]
    torch.cuda.synchronize = _CpuCuda.synchronize.__get__(_CpuCuda())  # type: ignore[method-assign]
    for module in (schedules, p2p_communication, transformer_utils, moe_utils, token_dispatcher, shared_experts):
        module.torch = _CpuTorch()  # type: ignore[attr-defined]
    token_dispatcher.maybe_move_tensor_to_cpu = _move_to_cpu  # type: ignore[attr-defined]
    mp_random._get_cuda_rng_state = _no_cuda_rng_state  # type: ignore[assignment]
    mp_random._set_cuda_rng_state = _set_no_cuda_rng_state  # type: ignore[assignment]
    mp_random._CUDA_RNG_STATE_TRACKER = _make_cpu_tracker()
    mp_random._CUDA_RNG_STATE_TRACKER_INITIALIZED = True
    _installed = True


def seed_model_parallel_rng(seed: int) -> None:
    """Megatron's model-parallel seeds (see `model_parallel_cuda_manual_seed`) on the CPU tracker."""
    from megatron.core import parallel_state as ps
    from megatron.core.tensor_parallel import random as mp_random

    tracker = mp_random.get_cuda_rng_tracker()
    tracker.reset()
    offset = seed + 2718
    tracker.add(mp_random._DATA_PARALLEL_RNG_TRACKER_NAME, seed)
    tracker.add(mp_random._MODEL_PARALLEL_RNG_TRACKER_NAME, offset + ps.get_tensor_model_parallel_rank())
    tracker.add(
        mp_random._EXPERT_PARALLEL_RNG_TRACKER_NAME,
        seed + 1024 + 100 * ps.get_expert_model_parallel_rank() + ps.get_expert_tensor_parallel_rank(),
    )
