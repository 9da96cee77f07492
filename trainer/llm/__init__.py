"""Fine-tuning causal language models locally with TRL + PEFT: SFT and DPO; full, freeze, LoRA and QLoRA."""
