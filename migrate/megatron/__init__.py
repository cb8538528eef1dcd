"""Launch plan → Megatron effective arguments."""
