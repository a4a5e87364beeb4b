"""HaRD training: stage datasets, the Trainer entry script, its launcher and the job.

Modules: `settings` (job config and artifact paths of stages and baselines), `datasets`
(stage examples, tokenisation, collator), `baselines` (standard KD and distilling
step-by-step data, and each target's inference prompt), `validation` (the held-out
validation slice), `launch` (pure launcher argv and sharding configs), `engine` (student +
LoRA + Trainer), `callbacks` (store metrics, cancel), `live_eval` (generation-based accuracy
and output tokens during training), `entry` (the process the launcher starts), `job` (the
worker-side job function).
"""
