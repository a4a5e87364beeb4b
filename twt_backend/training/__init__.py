"""HaRD training: stage datasets, the Trainer entry script, its launcher and the job.

Modules: `settings` (job config and artifact paths), `datasets` (stage examples,
tokenisation, collator), `launch` (pure launcher argv and sharding configs), `engine`
(student + LoRA + Trainer), `callbacks` (store metrics, cancel), `entry` (the process the
launcher starts), `job` (the worker-side job function).
"""
