"""One sub-package per task, every one the same shape. Importing a task registers its models and datasets."""
