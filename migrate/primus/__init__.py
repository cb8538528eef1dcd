"""Megatron arguments ↔ Primus configs: target profiles, loaders, emitter."""
