"""Bundled runtime: trains a resolved Megatron/Primus argument namespace on megatron-core.

Imports torch and megatron; the converter (package `migrate`) never imports this package
except inside the `train` and `parity` commands.
"""
