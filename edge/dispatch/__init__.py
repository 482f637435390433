"""Dispatch: the task service of a property and its dispatcher (issue 5).

Pure core, no I/O: `model` (tasks, their lifecycle, staff), `catalogue` (task kinds and
checklists), `travel` (times and distances from the layout), `trips` (merging and route
order), `costs` (the cost matrix), `policy` (its weights), `dispatcher` (`plan_round`,
`apply_plan`). Around it: `persistence` (the tasks and staff tables), `faults` (twin
watchers), `roster` (the staff file) and `service` (`TaskService`, run by the gateway).
"""
