"""Dispatch: the task service of a property and its dispatcher (issue 5).

Pure core: `model` (tasks, staff, lifecycle), `travel` (times from the layout),
`trips` (merging), `costs` (the cost matrix), `dispatcher` (`plan_round`); I/O around
it: `persistence` (the tasks table), `faults` (twin watchers), `service` (TaskService).
"""
