"""Causal language models with TRL + PEFT: SFT and DPO; full, freeze, LoRA and QLoRA."""
