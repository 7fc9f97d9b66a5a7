"""GCP collection through Cloud Asset Inventory: asset types declared as data (`assets.py`),
live listing (`live.py`) and export import (`export.py`) feeding one assembler
(`assembler.py`), and the IAM permissions derived from the declarations (`permissions.py`)."""
