"""The operations layer: one function per user operation (create/open a project, import,
save/test/enable a teacher, start or resume a job, select, edit samples, review
refinements, train, evaluate, report, export). The CLI commands, the app's controllers,
the pipeline and the demo are thin adapters over these functions; SQL lives in
`twt_backend.store`, not here and not in the front ends."""
