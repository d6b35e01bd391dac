"""Acting on alerts: who the job is (target), stopping it safely (stop), telling the person (notify,
webhook, exec), writing down what was done (audit), and the dispatcher that maps rule action names
to these. Nothing here imports a face; the core calls `ActionDispatcher.handle(alert)`.
"""
