"""The conversion's parts below `migrate.pipeline`: static parity (the converter checking its own
output with the release's loading rules), the tokenizer policy, the experiment's name, --keep-knobs,
hints for argv that cannot be parsed, and the flag table of the report.

Imports go one way: `pipeline` -> `conversion` -> `primus.emit` / `megatron` / `primus`;
`parity` (the dynamic check, both runs trained) uses `pipeline`."""
