"""Reference kernels: Triton kernel, launcher, torch reference and accelsim mapping, one file each.

* :mod:`.matmul`: tiled matmul (BM x BN x BK blocks, optional serial split-K);
* :mod:`.flash_attention`: FlashAttention-2 style forward, causal or not;
* :mod:`.decode_splitkv`: Flash-Decoding (split-KV decode attention, log-sum-exp combine).

These modules import torch and triton at module level; nothing in the core imports them.
Importing this package on a machine without CUDA sets ``TRITON_INTERPRET=1`` (unless the
environment already says otherwise) before any kernel is decorated, so the kernels run in
Triton's CPU interpreter, where :mod:`accelsim.validate.traffic` counts their bytes.
"""

from __future__ import annotations

import os
import sys


def _choose_mode() -> None:
    if "TRITON_INTERPRET" in os.environ:
        return
    import torch

    if torch.cuda.is_available():
        return
    if "triton" in sys.modules:
        raise RuntimeError("triton was imported before accelsim.validate.kernels on a machine "
                           "without CUDA, so its interpreter can no longer be switched on: "
                           "import accelsim.validate.kernels first, or set TRITON_INTERPRET=1")
    os.environ["TRITON_INTERPRET"] = "1"


_choose_mode()


def interpreting() -> bool:
    """Whether the kernels run in Triton's CPU interpreter (and their traffic can be counted)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0", "false", "False")


def device() -> str:
    """Where the kernels' tensors live: 'cpu' under the interpreter, else 'cuda'."""
    return "cpu" if interpreting() else "cuda"
