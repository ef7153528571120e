"""The engine in a worker process: the web process keeps the job queue, the event bus and the
HTTP/UI; a child process (multiprocessing, spawn context) holds the engine and runs the jobs.

`ProcessWorker` (process_worker.py) is a `studio.jobs.Worker` whose jobs run in the child;
child.py is the child's side; messages.py what the two send each other over two pipes.
See docs/studio-core.md ("The worker process").
"""
